// The C++17 API (signalr.hpp) against the real ASP.NET Core test server.
#include <signalr/signalr.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "support/test_server.h"

using namespace std::chrono_literals;

namespace {

std::string hub_url() { return srtest::test_server().http + "/hubs/test"; }

template <class T>
T wait(std::future<T> f, std::chrono::seconds t = 20s) {
  if (f.wait_for(t) != std::future_status::ready) throw std::runtime_error("timed out");
  return f.get();
}

struct Fixture {
  signalr::context ctx;
  signalr::runner run{ctx};
  signalr::connection conn;
  explicit Fixture(const std::string &transport = "websockets", bool msgpack = false)
      : conn(make(ctx, transport, msgpack)) {
    wait(conn.start());
  }
  static signalr::connection make(signalr::context &ctx, const std::string &transport, bool msgpack) {
    signalr::hub_connection_builder b;
    b.with_url(hub_url()).with_transports(transport);
    if (msgpack) b.with_messagepack();
    return b.build(ctx);
  }
};

struct Transport {
  const char *transport;
  bool msgpack;
};

class Invoke : public ::testing::TestWithParam<Transport> {};

TEST_P(Invoke, FutureLambdaAndBlocking) {
  SIGNALR_NEED_SERVER();
  Fixture f(GetParam().transport, GetParam().msgpack);
  EXPECT_EQ(f.conn.state(), signalr::connection_state::connected);

  signalr::value r = wait(f.conn.invoke("Echo", R"(["héllo \"x\""])"));
  EXPECT_EQ(r.get_encoding(), GetParam().msgpack ? signalr::encoding::messagepack : signalr::encoding::json);
  EXPECT_EQ(r.as_string(), "héllo \"x\"");
  EXPECT_EQ(wait(f.conn.invoke("Add", "[2, 40]")).json(), "42");
  EXPECT_TRUE(wait(f.conn.invoke("NoReturn")).is_null());

  std::promise<std::string> p;
  f.conn.invoke("Concat", R"(["a", "b"])", [&](const signalr::value &v, std::exception_ptr e) {
    if (e) p.set_exception(e);
    else p.set_value(v.as_string());
  });
  EXPECT_EQ(wait(p.get_future()), "ab");

  EXPECT_EQ(f.conn.invoke_blocking("Add", "[1, 2]", 10s).json(), "3");
  std::string transport = f.conn.invoke_blocking("GetTransport").as_string();
  std::string want = GetParam().transport;
  std::string got;
  for (char c : transport) got.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  EXPECT_EQ(got, want) << transport;
  std::string proto = f.conn.invoke_blocking("GetProtocol").as_string();
  EXPECT_EQ(proto, GetParam().msgpack ? "messagepack" : "json");

  wait(f.conn.stop());
  EXPECT_EQ(f.conn.state(), signalr::connection_state::disconnected);
}

// Every transport × protocol cell there is (Server-Sent Events carries text only: no MessagePack).
const auto kCells = ::testing::Values(Transport{"websockets", false}, Transport{"websockets", true},
                                      Transport{"serversentevents", false}, Transport{"longpolling", false},
                                      Transport{"longpolling", true});
std::string cell_name(const ::testing::TestParamInfo<Transport> &info) {
  return std::string(info.param.transport) + (info.param.msgpack ? "_msgpack" : "_json");
}
INSTANTIATE_TEST_SUITE_P(Transports, Invoke, kCells, cell_name);

// Handlers (and their unregistering), a stream and a client result on every cell.
class Cells : public ::testing::TestWithParam<Transport> {};

TEST_P(Cells, HandlerStreamAndClientResult) {
  SIGNALR_NEED_SERVER();
  Fixture f(GetParam().transport, GetParam().msgpack);
  std::atomic<int> calls{0};
  std::promise<std::string> got;
  auto sub = f.conn.on("Callback", [&](const signalr::value &args) {
    if (calls++ == 0) got.set_value(args.json());
  });
  f.conn.send("Callback", R"(["one"])");
  EXPECT_EQ(wait(got.get_future()), R"(["one"])");
  sub.reset();
  wait(f.conn.invoke("Callback", R"(["two"])"));  // the server's call reached the client before this
  EXPECT_EQ(calls.load(), 1) << "an unregistered handler ran";

  std::vector<std::string> items;
  std::promise<void> done;
  auto h = f.conn.stream("Counter", "[3, 0]", [&](const signalr::value &v) { items.push_back(v.json()); },
                         [&](std::exception_ptr e) {
                           if (e) done.set_exception(e);
                           else done.set_value();
                         });
  wait(done.get_future());
  EXPECT_EQ(items, (std::vector<std::string>{"0", "1", "2"}));

  auto dbl = f.conn.on("Double", [](const signalr::value &args) -> std::optional<signalr::value> {
    std::string j = args.json();  // [21]
    return signalr::value::from_json(std::to_string(2 * std::stol(j.substr(1, j.size() - 2))));
  });
  EXPECT_EQ(wait(f.conn.invoke("GetClientResult", R"(["Double", 21])")).json(), "42");
  wait(f.conn.stop());
}
INSTANTIATE_TEST_SUITE_P(Transports, Cells, kCells, cell_name);

TEST(CppApi, HubErrorIsSignalrError) {
  SIGNALR_NEED_SERVER();
  Fixture f;
  try {
    wait(f.conn.invoke("ThrowHubException", R"(["bad thing"])"));
    FAIL() << "no exception";
  } catch (const signalr::error &e) {
    EXPECT_EQ(e.code(), SIGNALR_EHUB);
    EXPECT_NE(std::string(e.what()).find("bad thing"), std::string::npos) << e.what();
  }
  std::promise<int> p;
  f.conn.invoke("ThrowHubException", R"(["lambda"])", [&](const signalr::value &v, std::exception_ptr e) {
    EXPECT_TRUE(v.is_null());
    try {
      if (e) std::rethrow_exception(e);
      p.set_value(0);
    } catch (const signalr::error &err) {
      p.set_value(err.code());
    }
  });
  EXPECT_EQ(wait(p.get_future()), SIGNALR_EHUB);
  try {
    (void)f.conn.invoke_blocking("ThrowHubException", R"(["blocking"])");
    FAIL() << "no exception";
  } catch (const signalr::error &e) {
    EXPECT_EQ(e.code(), SIGNALR_EHUB);
    EXPECT_NE(std::string(e.what()).find("blocking"), std::string::npos) << e.what();
  }
}

TEST(CppApi, BadOptionAndStateErrors) {
  signalr::context ctx;
  try {
    (void)signalr::hub_connection_builder().with_url("http://127.0.0.1:1/x").with_option("no_such_option", "1").build(ctx);
    FAIL() << "no exception";
  } catch (const signalr::error &e) {
    EXPECT_EQ(e.code(), SIGNALR_EINVAL);
  }
  auto conn = signalr::hub_connection_builder().with_url("http://127.0.0.1:1/x").build(ctx);
  try {
    conn.send("Echo", R"(["x"])");
    FAIL() << "no exception";
  } catch (const signalr::error &e) {
    EXPECT_EQ(e.code(), SIGNALR_ESTATE);
  }
}

TEST(CppApi, SendHandlerAndUnsubscribe) {
  SIGNALR_NEED_SERVER();
  Fixture f;
  std::atomic<int> calls{0};
  std::promise<std::string> got;
  auto sub = f.conn.on("Callback", [&](const signalr::value &args) {
    if (calls++ == 0) got.set_value(args.json());
  });
  f.conn.send("Callback", R"(["one"])");
  std::string args = wait(got.get_future());
  EXPECT_EQ(args, R"(["one"])");
  wait(f.conn.send_async("Callback", R"(["two"])"));
  wait(f.conn.invoke("Callback", R"(["three"])"));  // the handler ran before this completes
  EXPECT_EQ(calls.load(), 3);

  sub.reset();
  wait(f.conn.invoke("Callback", R"(["four"])"));
  EXPECT_EQ(calls.load(), 3);
  {
    auto sub2 = f.conn.on("Callback", [&](const signalr::value &) { calls += 10; });
    wait(f.conn.invoke("Callback", R"(["five"])"));
    EXPECT_EQ(calls.load(), 13);
  }
  wait(f.conn.invoke("Callback", R"(["six"])"));
  EXPECT_EQ(calls.load(), 13);
}

TEST(CppApi, ClientResults) {
  SIGNALR_NEED_SERVER();
  for (bool msgpack : {false, true}) {
    Fixture f("websockets", msgpack);
    auto sub = f.conn.on("Double", [](const signalr::value &args) -> std::optional<signalr::value> {
      std::string j = args.json();  // [21]
      long n = std::stol(j.substr(1, j.size() - 2));
      return signalr::value::from_json(std::to_string(n * 2));
    });
    auto fail = f.conn.on("Fail", [](const signalr::value &) -> std::optional<signalr::value> {
      throw std::runtime_error("client said no");
    });
    EXPECT_EQ(wait(f.conn.invoke("GetClientResult", R"(["Double", 21])")).json(), "42");
    std::string err = wait(f.conn.invoke("GetClientResult", R"(["Fail", 1])")).as_string();
    EXPECT_NE(err.find("client said no"), std::string::npos) << err;
  }
}

TEST(CppApi, StreamCompletesAndCancels) {
  SIGNALR_NEED_SERVER();
  Fixture f;
  std::vector<std::string> items;
  std::promise<void> done;
  auto h = f.conn.stream("Counter", "[4, 5]", [&](const signalr::value &v) { items.push_back(v.json()); },
                         [&](std::exception_ptr e) {
                           if (e) done.set_exception(e);
                           else done.set_value();
                         });
  wait(done.get_future());
  EXPECT_EQ(items, (std::vector<std::string>{"0", "1", "2", "3"}));

  std::string key = "cpp-cancel-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  std::atomic<int> n{0};
  std::promise<void> three;
  std::promise<int> ended;
  signalr::stream_handle inf;
  inf = f.conn.stream("InfiniteStream", "[\"" + key + "\", 10]",
                      [&](const signalr::value &) {
                        if (++n == 3) three.set_value();
                      },
                      [&](std::exception_ptr e) {
                        try {
                          if (e) std::rethrow_exception(e);
                          ended.set_value(0);
                        } catch (const signalr::error &err) {
                          ended.set_value(err.code());
                        }
                      });
  wait(three.get_future());
  inf.cancel();
  EXPECT_EQ(wait(ended.get_future()), SIGNALR_ECANCELED);
  bool canceled = false;
  for (int i = 0; i < 100 && !canceled; ++i) {
    canceled = wait(f.conn.invoke("WasStreamCanceled", "[\"" + key + "\"]")).json() == "true";
    if (!canceled) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(canceled);
}

TEST(CppApi, UploadStreams) {
  SIGNALR_NEED_SERVER();
  Fixture f;
  {  // invoke with one upload: the hub sums what it receives
    auto up = f.conn.upload();
    auto sum = f.conn.invoke_with_uploads("UploadSum", signalr::value::from_json("[]"), {&up});
    for (int i = 1; i <= 10; ++i) up.write_json(std::to_string(i));
    up.complete();
    EXPECT_EQ(wait(std::move(sum)).json(), "55");
    EXPECT_THROW(up.write_json("1"), signalr::error) << "a completed upload takes no more items";
  }
  {  // two uploads in one call, in order
    auto a = f.conn.upload(), b = f.conn.upload();
    auto joined = f.conn.invoke_with_uploads("UploadTwo", signalr::value::from_json("[]"), {&a, &b});
    a.write_json("\"x\"");
    b.write_json("\"y\"");
    a.complete();
    b.complete();
    EXPECT_EQ(wait(std::move(joined)).json(), "\"x|y\"");
  }
  {  // a stream that takes an upload echoes it back
    auto up = f.conn.upload();
    std::vector<std::string> items;
    std::promise<void> done;
    auto h = f.conn.stream_with_uploads("UploadEcho", signalr::value::from_json("[]"), {&up},
                                        [&](const signalr::value &v) { items.push_back(v.json()); },
                                        [&](std::exception_ptr e) {
                                          if (e) done.set_exception(e);
                                          else done.set_value();
                                        });
    for (int i : {7, 8, 9}) up.write_json(std::to_string(i));
    up.complete();
    wait(done.get_future());
    EXPECT_EQ(items, (std::vector<std::string>{"7", "8", "9"}));
  }
  {  // an upload failed by the client fails the hub method; one dropped unfinished, too
    auto up = f.conn.upload();
    auto sum = f.conn.invoke_with_uploads("UploadSum", signalr::value::from_json("[]"), {&up});
    up.write_json("1");
    up.fail("client gave up");
    EXPECT_THROW(wait(std::move(sum)), signalr::error);
    std::future<signalr::value> dropped;
    {
      auto gone = f.conn.upload();
      dropped = f.conn.invoke_with_uploads("UploadSum", signalr::value::from_json("[]"), {&gone});
    }  // destroyed without complete(): the hub method must not wait forever
    EXPECT_THROW(wait(std::move(dropped)), signalr::error);
  }
  {  // an upload attaches to one call only
    auto up = f.conn.upload();
    auto first = f.conn.invoke_with_uploads("UploadSum", signalr::value::from_json("[]"), {&up});
    try {
      (void)f.conn.invoke_with_uploads("UploadSum", signalr::value::from_json("[]"), {&up});
      ADD_FAILURE() << "a second attach was accepted";
    } catch (const signalr::error &e) {
      EXPECT_EQ(e.code(), SIGNALR_ESTATE);
    }
    up.complete();
    EXPECT_EQ(wait(std::move(first)).json(), "0");
  }
}

TEST(CppApi, BuilderOptionsReachTheServer) {
  SIGNALR_NEED_SERVER();
  signalr::context ctx;
  signalr::runner run(ctx);
  auto conn = signalr::hub_connection_builder()
                  .with_url(hub_url())
                  .with_header("X-Cpp-Test", "yes")
                  .with_automatic_reconnect({0ms, 100ms})
                  .with_handshake_timeout(5s)
                  .with_server_timeout(20s)
                  .with_keepalive_interval(5s)
                  .build(ctx);
  std::atomic<bool> connected{false};
  conn.on_connected([&] { connected = true; });
  wait(conn.start());
  EXPECT_EQ(wait(conn.invoke("GetHeader", R"(["X-Cpp-Test"])")).as_string(), "yes");
  EXPECT_FALSE(conn.connection_id().empty());
  wait(conn.invoke("NoReturn"));
  EXPECT_TRUE(connected.load());
}

TEST(CppApi, MessagePackArguments) {
  SIGNALR_NEED_SERVER();
  for (bool msgpack : {false, true}) {
    Fixture f("websockets", msgpack);
    // ["mp", "x"] in MessagePack: fixarray(2), fixstr(2) "mp", fixstr(1) "x"
    signalr::value args = signalr::value::from_messagepack(std::string("\x92\xa2mp\xa1x", 6));
    EXPECT_EQ(args.json(), R"(["mp","x"])");
    std::vector<std::string> items;
    std::promise<void> done;
    auto h = f.conn.stream("Counter", signalr::value::from_messagepack(std::string("\x92\x02\x00", 3)),
                           [&](const signalr::value &v) { items.push_back(v.json()); },
                           [&](std::exception_ptr) { done.set_value(); });
    wait(done.get_future());
    EXPECT_EQ(items, (std::vector<std::string>{"0", "1"}));
    EXPECT_EQ(wait(f.conn.invoke("Concat", args)).as_string(), "mpx");
    EXPECT_EQ(f.conn.invoke_blocking("Concat", args).as_string(), "mpx");
    EXPECT_EQ(f.conn.invoke_blocking("Concat", args).get_encoding(), signalr::encoding::messagepack);
    f.conn.send("Concat", args);
  }
}

TEST(CppApi, LifecycleClosed) {
  SIGNALR_NEED_SERVER();
  Fixture f;
  std::promise<bool> closed;
  f.conn.on_closed([&](std::exception_ptr e) { closed.set_value(e == nullptr); });
  wait(f.conn.stop());
  EXPECT_TRUE(wait(closed.get_future()));
}

TEST(CppApi, LifecycleReconnectAndClosedWithError) {
  SIGNALR_NEED_SERVER();
  signalr::context ctx;
  signalr::runner run(ctx);
  auto conn = signalr::hub_connection_builder().with_url(hub_url()).with_automatic_reconnect({0ms, 100ms}).build(ctx);
  std::promise<std::string> reconnecting;
  std::promise<void> reconnected;
  std::promise<std::string> closed;
  std::atomic<int> events{0};
  conn.on_reconnecting([&](std::exception_ptr e) {
    try {
      if (e) std::rethrow_exception(e);
      reconnecting.set_value("");
    } catch (const signalr::error &err) {
      reconnecting.set_value(err.what());
    }
  });
  conn.on_reconnected([&] { reconnected.set_value(); });
  conn.on_closed([&](std::exception_ptr e) {
    try {
      if (e) std::rethrow_exception(e);
      closed.set_value("");
    } catch (const signalr::error &err) {
      closed.set_value(err.what());
    }
  });
  conn.on_event([&](int, const signalr_error *) { ++events; });
  wait(conn.start());
  std::string first = conn.connection_id();
  EXPECT_EQ(wait(conn.invoke("CloseWithError", R"(["come back", true])")).json(), "true");
  std::string why = wait(reconnecting.get_future());
  EXPECT_NE(why.find("come back"), std::string::npos) << why;
  wait(reconnected.get_future());
  EXPECT_EQ(conn.state(), signalr::connection_state::connected);
  EXPECT_NE(conn.connection_id(), first);
  EXPECT_EQ(wait(conn.invoke("Echo", R"(["again"])")).as_string(), "again");

  EXPECT_EQ(wait(conn.invoke("CloseWithError", R"(["go away", false])")).json(), "true");
  std::string final_why = wait(closed.get_future());
  EXPECT_NE(final_why.find("go away"), std::string::npos) << final_why;
  EXPECT_EQ(conn.state(), signalr::connection_state::disconnected);
  EXPECT_GE(events.load(), 4);  // connected, reconnecting, reconnected, closed
}

TEST(CppApi, PendingCompletesWhenDestroyed) {
  SIGNALR_NEED_SERVER();
  Fixture f;
  auto fut = f.conn.invoke("DelayedEcho", R"([5000, "late"])");
  f.conn.reset();
  try {
    fut.get();
    FAIL() << "no exception";
  } catch (const signalr::error &e) {
    EXPECT_EQ(e.code(), SIGNALR_ECLOSED);
  }
}

TEST(CppApi, DestroyFromInsideHandler) {
  SIGNALR_NEED_SERVER();
  Fixture f;
  std::promise<void> destroyed;
  auto sub = f.conn.on("Callback", [&](const signalr::value &) {
    f.conn.reset();  // frees the connection, and this handler with it, from inside it
    destroyed.set_value();
  });
  f.conn.send("Callback", R"(["bye"])");
  wait(destroyed.get_future());
  EXPECT_EQ(f.conn.native_handle(), nullptr);
  sub.reset();  // outlived its connection: a no-op
}

TEST(CppApi, ContextMayGoFirst) {
  SIGNALR_NEED_SERVER();
  std::optional<signalr::connection> conn;
  std::optional<signalr::runner> run;
  {
    signalr::context ctx;
    run.emplace(ctx);
    conn.emplace(signalr::hub_connection_builder().with_url(hub_url()).build(ctx));
  }  // the context object is gone; its runner and connection keep the C context
  wait(conn->start());
  EXPECT_EQ(wait(conn->invoke("Echo", R"(["still here"])")).as_string(), "still here");
  run.reset();
  conn.reset();  // frees the connection, then the context
}

TEST(CppApi, DirectModeRunsCallbacksOnTheIoThread) {
  SIGNALR_NEED_SERVER();
  signalr::context ctx(true);  // no poller: callbacks run on the I/O thread
  auto conn = signalr::hub_connection_builder().with_url(hub_url()).build(ctx);
  wait(conn.start());
  std::promise<int> inner;
  auto sub = conn.on("Callback", [&](const signalr::value &) {
    try {
      (void)conn.invoke_blocking("Echo", R"(["x"])");  // blocking from a callback
      inner.set_value(0);
    } catch (const signalr::error &e) {
      inner.set_value(e.code());
    }
  });
  EXPECT_EQ(wait(conn.invoke("Echo", R"(["direct"])")).as_string(), "direct");
  conn.send("Callback", R"(["go"])");
  EXPECT_EQ(wait(inner.get_future()), SIGNALR_ERECURSIVE);
  sub.reset();
  auto thrower = conn.on("Callback", [](const signalr::value &) { throw std::runtime_error("ignored"); });
  wait(conn.invoke("Callback", R"(["again"])"));  // a throwing void handler breaks nothing
  EXPECT_EQ(conn.invoke_blocking("Echo", R"(["after"])").as_string(), "after");
}

TEST(CppApi, PollOnOwnThread) {
  SIGNALR_NEED_SERVER();
  signalr::context ctx;
  auto conn = signalr::hub_connection_builder().with_url(hub_url()).build(ctx);
  auto started = conn.start();
  while (started.wait_for(0ms) != std::future_status::ready) ctx.poll(100ms);
  started.get();
  auto r = conn.invoke("Echo", R"(["polled"])");
  while (r.wait_for(0ms) != std::future_status::ready) ctx.poll(100ms);
  EXPECT_EQ(r.get().as_string(), "polled");
}

}  // namespace
