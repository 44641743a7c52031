// A C++ program that uses an installed libsignalr through SignalR::signalr_cpp (signalr.hpp).
#include <signalr/signalr.hpp>

#include <iostream>

int main() {
  try {
    signalr::context ctx;
    auto conn = signalr::hub_connection_builder().with_url("http://127.0.0.1:1/hub").with_messagepack().build(ctx);
    if (conn.state() != signalr::connection_state::disconnected) return 1;
    signalr::value v = signalr::value::from_string("hi \"you\"");
    if (v.as_string() != "hi \"you\"") return 1;
    try {
      (void)signalr::hub_connection_builder().with_option("no_such_option", "x").build(ctx);
      return 1;
    } catch (const signalr::error &e) {
      if (e.code() != SIGNALR_EINVAL) return 1;
    }
    std::cout << "libsignalr " << signalr_version() << ": signalr.hpp " << v.json() << " ok\n";
  } catch (const std::exception &e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
