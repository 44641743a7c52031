// The public C API end to end against the real ASP.NET Core server over WebSockets.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../support/api_client.h"
#include "../support/test_server.h"
#include "signalr/signalr.h"

namespace {

// A completion's outcome, recorded by on_done.
using Result = srtest::CallResult;
constexpr auto on_done = srtest::record_result;

struct Client {
  signalr_context *ctx = nullptr;
  signalr_connection *conn = nullptr;
  std::vector<std::string> lifecycle;

  static void on_life(void *ud, signalr_connection *, int event, const signalr_error *e) {
    auto *c = static_cast<Client *>(ud);
    c->lifecycle.push_back(std::to_string(event) + (e ? std::string(":") + signalr_error_message(e) : ""));
  }

  explicit Client(const std::string &path, std::vector<std::pair<const char *, std::string>> opts = {}) {
    EXPECT_EQ(signalr_context_new(&ctx, 0), 0);
    signalr_builder *b;
    EXPECT_EQ(signalr_builder_new(&b), 0);
    char err[256];
    EXPECT_EQ(signalr_builder_set(b, "url", (srtest::test_server().http + path).c_str(), err, sizeof err), 0) << err;
    EXPECT_EQ(signalr_builder_set(b, "transports", "websockets", err, sizeof err), 0) << err;
    for (auto &o : opts) EXPECT_EQ(signalr_builder_set(b, o.first, o.second.c_str(), err, sizeof err), 0) << err;
    signalr_builder_set_lifecycle(b, on_life, this, nullptr);
    EXPECT_EQ(signalr_builder_build(b, ctx, &conn, err, sizeof err), 0) << err;
    signalr_builder_free(b);
  }
  ~Client() {
    signalr_connection_free(conn);
    EXPECT_EQ(signalr_context_free(ctx), 0);
  }
  // Polls until r is done (or 10 s).
  void wait(const Result &r) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!r.done && std::chrono::steady_clock::now() < until) signalr_context_poll(ctx, 100);
  }
  Result invoke(const char *method, const char *args) {
    Result r;
    EXPECT_EQ(signalr_connection_invoke(conn, method, args, strlen(args), SIGNALR_ENCODING_JSON, on_done, &r), 0);
    wait(r);
    EXPECT_TRUE(r.done) << method << " did not complete";
    return r;
  }
};

}  // namespace

TEST(Connection, StartInvokeStopOverWebSockets) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test");
  signalr_error *err = nullptr;
  ASSERT_EQ(signalr_connection_start_blocking(c.conn, 10000, &err), 0) << signalr_error_message(err);
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_CONNECTED);
  char id[128];
  ASSERT_EQ(signalr_connection_id(c.conn, id, sizeof id), 0);
  EXPECT_GT(strlen(id), 0u);

  EXPECT_EQ(c.invoke("Echo", "[\"h\xc3\xa9llo \xe4\xb8\xad\"]").json, "\"h\xc3\xa9llo \xe4\xb8\xad\"");
  EXPECT_EQ(c.invoke("Add", "[2, 40]").json, "42");
  EXPECT_EQ(c.invoke("EchoNull", "[]").json, "null");
  EXPECT_EQ(c.invoke("EchoAny", "[{\"a\":[1,2.5,true]}]").json, "{\"a\":[1,2.5,true]}");
  Result void_call = c.invoke("NoReturn", "[]");
  EXPECT_EQ(void_call.code, 0);
  EXPECT_EQ(c.invoke("EchoBytes", "[\"AQID\"]").json, "\"AQID\"");
  EXPECT_EQ(c.invoke("GetConnectionId", "[]").json, std::string("\"") + id + "\"");
  EXPECT_EQ(c.invoke("GetTransport", "[]").json, "\"WebSockets\"");

  Result thrown = c.invoke("ThrowHubException", "[\"nope\"]");
  EXPECT_EQ(thrown.code, SIGNALR_EHUB);
  EXPECT_NE(thrown.message.find("nope"), std::string::npos) << thrown.message;

  Result unknown = c.invoke("NoSuchMethod", "[]");
  EXPECT_EQ(unknown.code, SIGNALR_EHUB);
  EXPECT_NE(unknown.message.find("Method does not exist"), std::string::npos) << unknown.message;

  ASSERT_EQ(signalr_connection_stop_blocking(c.conn, 10000), 0);
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_DISCONNECTED);
  signalr_context_poll(c.ctx, 0);
  ASSERT_GE(c.lifecycle.size(), 2u);
  EXPECT_EQ(c.lifecycle.front(), "1");
  EXPECT_EQ(c.lifecycle.back(), "2");  // closed, no error: stopped by the application
}

// signalr_connection_invoke_blocking against the real hub, in both encodings: results in the
// call's encoding, a void method, a hub error, and calls back to back (the waiting thread runs
// the I/O itself in poll mode).
TEST(Connection, BlockingInvokeReturnsTheResultInTheCallsEncoding) {
  SIGNALR_NEED_SERVER();
  for (const char *proto : {"json", "messagepack"}) {
    Client c("/hubs/test", {{"protocol", proto}});
    signalr_error *err = nullptr;
    ASSERT_EQ(signalr_connection_start_blocking(c.conn, 10000, &err), 0) << signalr_error_message(err);
    const bool mp = std::string(proto) == "messagepack";
    const int enc = mp ? SIGNALR_ENCODING_MSGPACK : SIGNALR_ENCODING_JSON;
    for (int i = 0; i < 200; i++) {
      std::string arg = "s" + std::to_string(i);
      // ["s<i>"] as MessagePack: fixarray of one fixstr
      std::string args = mp ? std::string("\x91") + char(0xa0 | arg.size()) + arg : "[\"" + arg + "\"]";
      void *res = nullptr;
      size_t len = 0;
      ASSERT_EQ(signalr_connection_invoke_blocking(c.conn, "Echo", args.data(), args.size(), enc, 10000, &res, &len,
                                                   nullptr),
                0);
      std::string got(static_cast<char *>(res), len);
      signalr_free(res);
      EXPECT_EQ(got, mp ? args.substr(1) : "\"" + arg + "\"") << proto << " " << i;
    }
    void *res = nullptr;
    size_t len = 7;
    const char *empty = mp ? "\x90" : "[]";
    EXPECT_EQ(signalr_connection_invoke_blocking(c.conn, "NoReturn", empty, strlen(empty), enc,
                                                 10000, &res, &len, nullptr),
              0);
    // nothing returned: null, as signalr_connection_invoke's completion has it
    EXPECT_EQ(std::string(static_cast<char *>(res), len), mp ? "\xc0" : "null");
    signalr_free(res);
    const char *bad = mp ? "\x91\xa4nope" : "[\"nope\"]";
    EXPECT_EQ(signalr_connection_invoke_blocking(c.conn, "ThrowHubException", bad, strlen(bad), enc, 10000, &res,
                                                 &len, &err),
              SIGNALR_EHUB);
    ASSERT_NE(err, nullptr);
    EXPECT_NE(std::string(signalr_error_message(err)).find("nope"), std::string::npos);
    signalr_error_free(err);
    // The other encoding than the wire's: the result comes back in the one the call used.
    const std::string cross = mp ? "[\"x\"]" : std::string("\x91\xa1" "x");
    ASSERT_EQ(signalr_connection_invoke_blocking(c.conn, "Echo", cross.data(), cross.size(),
                                                 mp ? SIGNALR_ENCODING_JSON : SIGNALR_ENCODING_MSGPACK, 10000, &res,
                                                 &len, nullptr),
              0);
    EXPECT_EQ(std::string(static_cast<char *>(res), len), mp ? std::string("\"x\"") : std::string("\xa1" "x")) << proto;
    signalr_free(res);
    ASSERT_EQ(signalr_connection_stop_blocking(c.conn, 10000), 0);
  }
}

TEST(Connection, ServerCallsHandlersCaseInsensitively) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test");
  ASSERT_EQ(signalr_connection_start_blocking(c.conn, 10000, nullptr), 0);
  struct Seen { std::vector<std::string> calls; } seen;
  auto h = [](void *ud, signalr_connection *, const signalr_value *args, const void **, size_t *, int *,
              const char **) -> int {
    const char *j;
    size_t n;
    signalr_value_json(args, &j, &n);
    static_cast<Seen *>(ud)->calls.emplace_back(j, n);
    return 0;
  };
  uint64_t h1, h2;
  ASSERT_EQ(signalr_connection_on(c.conn, "callback", h, &seen, nullptr, &h1), 0);
  ASSERT_EQ(signalr_connection_on(c.conn, "CALLBACK", h, &seen, nullptr, &h2), 0);
  c.invoke("Callback", "[\"x\"]");
  for (int i = 0; i < 20 && seen.calls.size() < 2; i++) signalr_context_poll(c.ctx, 100);
  EXPECT_EQ(seen.calls, (std::vector<std::string>{"[\"x\"]", "[\"x\"]"}));
  ASSERT_EQ(signalr_connection_off(c.conn, h2), 0);
  c.invoke("Callback", "[\"y\"]");
  for (int i = 0; i < 20 && seen.calls.size() < 3; i++) signalr_context_poll(c.ctx, 100);
  EXPECT_EQ(seen.calls.size(), 3u);
}

TEST(Connection, ClientResultsAnswerTheServer) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test");
  ASSERT_EQ(signalr_connection_start_blocking(c.conn, 10000, nullptr), 0);
  auto h = [](void *, signalr_connection *, const signalr_value *, const void **result, size_t *len, int *enc,
              const char **) -> int {
    static const char answer[] = "\"from C\"";
    *result = answer;
    *len = sizeof answer - 1;
    *enc = SIGNALR_ENCODING_JSON;
    return 0;
  };
  uint64_t handle;
  ASSERT_EQ(signalr_connection_on(c.conn, "GetValue", h, nullptr, nullptr, &handle), 0);
  EXPECT_EQ(c.invoke("GetClientResultNoArgs", "[\"GetValue\"]").json, "\"from C\"");
  // No handler: the server hears "Client didn't provide a result."
  Result missing = c.invoke("GetClientResultNoArgs", "[\"Missing\"]");
  EXPECT_NE(missing.json.find("didn't provide a result"), std::string::npos) << missing.json << missing.message;
}

TEST(Connection, ErrorsCarryStatusAndHints) {
  SIGNALR_NEED_SERVER();
  {
    Client c("/no/such/hub");
    signalr_error *err = nullptr;
    EXPECT_EQ(signalr_connection_start_blocking(c.conn, 10000, &err), SIGNALR_ENOTFOUND);
    ASSERT_NE(err, nullptr);
    EXPECT_EQ(signalr_error_http_status(err), 404);
    EXPECT_NE(std::string(signalr_error_hint(err)).find("hub path"), std::string::npos);
    signalr_error_free(err);
  }
  {
    Client c("/negotiate-error");
    signalr_error *err = nullptr;
    EXPECT_EQ(signalr_connection_start_blocking(c.conn, 10000, &err), SIGNALR_ENEGOTIATE);
    EXPECT_STREQ(signalr_error_message(err), "This connection is not allowed.");
    signalr_error_free(err);
  }
  {
    Client c("/hubs/ws-rejected");
    signalr_error *err = nullptr;
    EXPECT_NE(signalr_connection_start_blocking(c.conn, 10000, &err), 0);
    EXPECT_EQ(signalr_error_http_status(err), 503) << signalr_error_message(err);
    signalr_error_free(err);
  }
}

TEST(Connection, FreeWithCallsPendingAndFromInsideACallback) {
  SIGNALR_NEED_SERVER();
  signalr_context *ctx;
  ASSERT_EQ(signalr_context_new(&ctx, 0), 0);
  signalr_builder *b;
  signalr_builder_new(&b);
  signalr_builder_set(b, "url", (srtest::test_server().http + "/hubs/test").c_str(), nullptr, 0);
  signalr_connection *conn;
  ASSERT_EQ(signalr_builder_build(b, ctx, &conn, nullptr, 0), 0);
  signalr_builder_free(b);
  ASSERT_EQ(signalr_connection_start_blocking(conn, 10000, nullptr), 0);
  static std::atomic<int> freed_in_callback{0};
  auto free_me = [](void *, signalr_connection *c, const signalr_value *, const signalr_error *) {
    EXPECT_EQ(signalr_connection_start_blocking(c, 1000, nullptr), SIGNALR_ERECURSIVE);
    signalr_connection_free(c);
    freed_in_callback++;
  };
  ASSERT_EQ(signalr_connection_invoke(conn, "Echo", "[1]", 3, SIGNALR_ENCODING_JSON, free_me, nullptr), 0);
  for (int i = 0; i < 50 && !freed_in_callback; i++) signalr_context_poll(ctx, 100);
  EXPECT_EQ(freed_in_callback, 1);
  EXPECT_EQ(signalr_context_free(ctx), 0);
}

namespace {
struct StreamSeen {
  std::vector<std::string> items;
  Result end;
};
void on_item(void *ud, signalr_connection *, const signalr_value *v) {
  const char *j;
  size_t n;
  ASSERT_EQ(signalr_value_json(v, &j, &n), 0);
  static_cast<StreamSeen *>(ud)->items.emplace_back(j, n);
}
void on_stream_done(void *ud, signalr_connection *c, const signalr_value *v, const signalr_error *e) {
  on_done(&static_cast<StreamSeen *>(ud)->end, c, v, e);
}
}  // namespace

TEST(Connection, ServerStreamsItemsErrorsAndCancel) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test");
  ASSERT_EQ(signalr_connection_start_blocking(c.conn, 10000, nullptr), 0);

  StreamSeen counter;
  ASSERT_EQ(signalr_connection_stream(c.conn, "Counter", "[3,0]", 5, SIGNALR_ENCODING_JSON, on_item,
                                      on_stream_done, &counter, nullptr), 0);
  c.wait(counter.end);
  EXPECT_EQ(counter.items, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(counter.end.code, 0);

  StreamSeen empty;
  ASSERT_EQ(signalr_connection_stream(c.conn, "EmptyStream", nullptr, 0, SIGNALR_ENCODING_JSON, on_item,
                                      on_stream_done, &empty, nullptr), 0);
  c.wait(empty.end);
  EXPECT_TRUE(empty.items.empty());
  EXPECT_EQ(empty.end.code, 0);

  // Items first, then the error.
  StreamSeen failing;
  const char *fail_args = "[2,\"broken\"]";
  ASSERT_EQ(signalr_connection_stream(c.conn, "StreamThenFail", fail_args, strlen(fail_args), SIGNALR_ENCODING_JSON,
                                      on_item, on_stream_done, &failing, nullptr), 0);
  c.wait(failing.end);
  EXPECT_EQ(failing.items, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(failing.end.code, SIGNALR_EHUB);
  EXPECT_NE(failing.end.message.find("broken"), std::string::npos) << failing.end.message;

  // Cancel: the server observes it, the stream ends as canceled.
  StreamSeen infinite;
  uint64_t handle = 0;
  const char *inf_args = "[\"c-api\",5]";
  ASSERT_EQ(signalr_connection_stream(c.conn, "InfiniteStream", inf_args, strlen(inf_args), SIGNALR_ENCODING_JSON,
                                      on_item, on_stream_done, &infinite, &handle), 0);
  for (int i = 0; i < 100 && infinite.items.size() < 2; i++) signalr_context_poll(c.ctx, 50);
  ASSERT_GE(infinite.items.size(), 2u);
  ASSERT_EQ(signalr_connection_stream_cancel(c.conn, handle), 0);
  c.wait(infinite.end);
  EXPECT_EQ(infinite.end.code, SIGNALR_ECANCELED);
  std::string canceled;
  for (int i = 0; i < 50 && canceled != "true"; i++) {
    canceled = c.invoke("WasStreamCanceled", "[\"c-api\"]").json;
    if (canceled != "true") std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(canceled, "true");
}

TEST(Connection, StopCompletesPendingInvocationsWithAClosedError) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test");
  ASSERT_EQ(signalr_connection_start_blocking(c.conn, 10000, nullptr), 0);
  Result slow;
  const char *args = "[5000,\"late\"]";
  ASSERT_EQ(signalr_connection_invoke(c.conn, "DelayedEcho", args, strlen(args), SIGNALR_ENCODING_JSON, on_done, &slow), 0);
  // (no wait: commands keep their order, so the invocation is on the wire before the stop's close)
  ASSERT_EQ(signalr_connection_stop_blocking(c.conn, 10000), 0);
  c.wait(slow);
  EXPECT_TRUE(slow.done);
  EXPECT_EQ(slow.code, SIGNALR_ECLOSED);
  // Invoking while disconnected is refused through the completion, not silently dropped.
  Result refused = c.invoke("Echo", "[\"x\"]");
  EXPECT_EQ(refused.code, SIGNALR_ESTATE);
}
