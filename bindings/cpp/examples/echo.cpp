// signalr_cpp_echo HUB_URL MESSAGE: connects, calls Echo(MESSAGE), prints the result unquoted.
#include <signalr/signalr.hpp>

#include <cstdio>
#include <iostream>

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s HUB_URL MESSAGE\n", argv[0]);
    return 2;
  }
  try {
    signalr::context ctx;
    signalr::runner run(ctx);
    auto conn = signalr::hub_connection_builder().with_url(argv[1]).build(ctx);
    conn.start().get();
    std::string args = "[" + signalr::value::from_string(argv[2]).json() + "]";
    std::cout << conn.invoke("Echo", args).get().as_string() << std::endl;
    conn.stop().get();
  } catch (const signalr::error &e) {
    std::fprintf(stderr, "error: %s (%s)\n", e.what(), e.name());
    if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
    return 1;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
