// The public C API against the real server: upload streams, the access-token provider,
// automatic reconnect (server close with allowReconnect, dropped transport, custom policy,
// stop during a delay) and stateful reconnect over WebSockets.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../support/api_client.h"
#include "../support/http_get.h"
#include "../support/test_server.h"

using srtest::ApiClient;
using srtest::CallResult;

namespace {

std::string token_for(const std::string &user) {
  auto r = srtest::http_get(srtest::test_server().http, "/token?user=" + user);
  EXPECT_EQ(r.status, 200);
  return r.body;
}

int upload_write(ApiClient &c, uint64_t s, const std::string &json) {
  return signalr_connection_upload_write(c.conn, s, json.data(), json.size(), SIGNALR_ENCODING_JSON);
}

}  // namespace

TEST(Uploads, ItemsReachTheHubMethodInOrder) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}});
  ASSERT_EQ(c.start().code, 0);
  uint64_t s;
  ASSERT_EQ(signalr_connection_upload_open(c.conn, &s), 0);
  EXPECT_EQ(upload_write(c, s, "\"early\""), SIGNALR_ESTATE);  // not attached to a call yet
  CallResult r;
  ASSERT_EQ(signalr_connection_invoke_with_uploads(c.conn, "UploadConcat", "[]", 2, SIGNALR_ENCODING_JSON, &s, 1,
                                                   srtest::record_result, &r), 0);
  for (const char *item : {"\"a\"", "\"b\"", "\"c\""}) ASSERT_EQ(upload_write(c, s, item), 0);
  ASSERT_EQ(signalr_connection_upload_complete(c.conn, s, nullptr), 0);
  ASSERT_TRUE(c.poll_until([&] { return r.done; }));
  EXPECT_EQ(r.code, 0) << r.message;
  EXPECT_EQ(r.json, "\"abc\"");
  EXPECT_EQ(upload_write(c, s, "\"late\""), SIGNALR_ESTATE);  // completed: the handle is gone
}

TEST(Uploads, TwoStreamsInOneCallAndAnAttachedStreamCannotBeReused) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}});
  ASSERT_EQ(c.start().code, 0);
  uint64_t s[2];
  ASSERT_EQ(signalr_connection_upload_open(c.conn, &s[0]), 0);
  ASSERT_EQ(signalr_connection_upload_open(c.conn, &s[1]), 0);
  CallResult r;
  ASSERT_EQ(signalr_connection_invoke_with_uploads(c.conn, "UploadTwo", nullptr, 0, SIGNALR_ENCODING_JSON, s, 2,
                                                   srtest::record_result, &r), 0);
  EXPECT_EQ(signalr_connection_send_with_uploads(c.conn, "UploadTwo", nullptr, 0, SIGNALR_ENCODING_JSON, s, 2),
            SIGNALR_ESTATE);
  ASSERT_EQ(upload_write(c, s[1], "\"y\""), 0);
  ASSERT_EQ(upload_write(c, s[0], "\"x\""), 0);
  ASSERT_EQ(upload_write(c, s[1], "\"z\""), 0);
  ASSERT_EQ(signalr_connection_upload_complete(c.conn, s[0], nullptr), 0);
  ASSERT_EQ(signalr_connection_upload_complete(c.conn, s[1], nullptr), 0);
  ASSERT_TRUE(c.poll_until([&] { return r.done; }));
  EXPECT_EQ(r.json, "\"x|yz\"") << r.message;
}

TEST(Uploads, CompletingWithAnErrorFailsTheHubMethod) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}});
  ASSERT_EQ(c.start().code, 0);
  uint64_t s;
  ASSERT_EQ(signalr_connection_upload_open(c.conn, &s), 0);
  CallResult r;
  ASSERT_EQ(signalr_connection_invoke_with_uploads(c.conn, "UploadSum", nullptr, 0, SIGNALR_ENCODING_JSON, &s, 1,
                                                   srtest::record_result, &r), 0);
  ASSERT_EQ(upload_write(c, s, "1"), 0);
  ASSERT_EQ(signalr_connection_upload_complete(c.conn, s, "producer failed"), 0);
  ASSERT_TRUE(c.poll_until([&] { return r.done; }));
  EXPECT_EQ(r.code, SIGNALR_EHUB);
  // The connection is still usable.
  EXPECT_EQ(c.invoke("Echo", "[\"ok\"]").json, "\"ok\"");
}

TEST(Uploads, AStreamInvocationTakesUploadsToo) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}});
  ASSERT_EQ(c.start().code, 0);
  uint64_t s, handle = 0;
  ASSERT_EQ(signalr_connection_upload_open(c.conn, &s), 0);
  struct Items {
    std::vector<std::string> got;
    CallResult done;
  } items;
  auto on_item = [](void *ud, signalr_connection *, const signalr_value *v) {
    const char *j;
    size_t n;
    if (signalr_value_json(v, &j, &n) == 0) static_cast<Items *>(ud)->got.emplace_back(j, n);
  };
  auto on_end = [](void *ud, signalr_connection *conn, const signalr_value *v, const signalr_error *e) {
    srtest::record_result(&static_cast<Items *>(ud)->done, conn, v, e);
  };
  ASSERT_EQ(signalr_connection_stream_with_uploads(c.conn, "UploadEcho", nullptr, 0, SIGNALR_ENCODING_JSON, &s, 1,
                                                   on_item, on_end, &items, &handle), 0);
  EXPECT_NE(handle, 0u);
  for (const char *item : {"1", "2", "3"}) ASSERT_EQ(upload_write(c, s, item), 0);
  ASSERT_EQ(signalr_connection_upload_complete(c.conn, s, nullptr), 0);
  ASSERT_TRUE(c.poll_until([&] { return items.done.done; }));
  EXPECT_EQ(items.done.code, 0) << items.done.message;
  EXPECT_EQ(items.got, (std::vector<std::string>{"1", "2", "3"}));
}

// ------------------------------------------------------------------ client results answered later

namespace {

// Defers every call it gets; the test answers the tickets.
struct Deferrer {
  std::vector<uint64_t> tickets;
  int defer_rc = 1;
  static int handle(void *ud, signalr_connection *conn, const signalr_value *, const void **result, size_t *len,
                    int *enc, const char **) {
    auto *d = static_cast<Deferrer *>(ud);
    uint64_t t = 0;
    d->defer_rc = signalr_connection_defer_result(conn, &t);
    if (d->defer_rc == 0) d->tickets.push_back(t);
    // Ignored once deferred: the answer comes from signalr_connection_answer_result.
    static const char ignored[] = "\"returned\"";
    *result = ignored;
    *len = sizeof ignored - 1;
    *enc = SIGNALR_ENCODING_JSON;
    return 0;
  }
};

}  // namespace

TEST(ClientResults, DeferredAnswersComeFromAnotherThreadOnceEach) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}});
  ASSERT_EQ(c.start().code, 0);
  Deferrer d;
  ASSERT_EQ(signalr_connection_on(c.conn, "Later", Deferrer::handle, &d, nullptr, nullptr), 0);

  CallResult value;
  const char *args = "[\"Later\", 7]";
  ASSERT_EQ(signalr_connection_invoke(c.conn, "GetClientResult", args, strlen(args), SIGNALR_ENCODING_JSON,
                                      srtest::record_result, &value), 0);
  ASSERT_TRUE(c.poll_until([&] { return d.tickets.size() == 1; }));
  EXPECT_EQ(d.defer_rc, 0);
  // The server is still waiting: nothing was sent when the handler returned.
  c.poll_until([] { return false; }, 200);
  EXPECT_FALSE(value.done);
  uint64_t ticket = d.tickets[0];
  std::thread([&] {
    EXPECT_EQ(signalr_connection_answer_result(c.conn, ticket, "{\"late\":true}", 13, SIGNALR_ENCODING_JSON,
                                               nullptr), 0);
  }).join();
  ASSERT_TRUE(c.poll_until([&] { return value.done; }));
  EXPECT_EQ(value.json, "{\"late\":true}");
  EXPECT_EQ(signalr_connection_answer_result(c.conn, ticket, "1", 1, SIGNALR_ENCODING_JSON, nullptr),
            SIGNALR_ESTATE);  // answered already

  CallResult failed;
  ASSERT_EQ(signalr_connection_invoke(c.conn, "GetClientResultNoArgs", "[\"Later\"]", 9, SIGNALR_ENCODING_JSON,
                                      srtest::record_result, &failed), 0);
  ASSERT_TRUE(c.poll_until([&] { return d.tickets.size() == 2; }));
  EXPECT_EQ(signalr_connection_answer_result(c.conn, d.tickets[1], nullptr, 0, 0, "no luck"), 0);
  ASSERT_TRUE(c.poll_until([&] { return failed.done; }));
  EXPECT_NE(failed.json.find("no luck"), std::string::npos) << failed.json;

  CallResult null_result;
  ASSERT_EQ(signalr_connection_invoke(c.conn, "GetClientResultNoArgs", "[\"Later\"]", 9, SIGNALR_ENCODING_JSON,
                                      srtest::record_result, &null_result), 0);
  ASSERT_TRUE(c.poll_until([&] { return d.tickets.size() == 3; }));
  EXPECT_EQ(signalr_connection_answer_result(c.conn, d.tickets[2], nullptr, 0, 0, nullptr), 0);
  ASSERT_TRUE(c.poll_until([&] { return null_result.done; }));
  EXPECT_EQ(null_result.code, 0) << null_result.message;
  EXPECT_EQ(null_result.json, "null");
}

TEST(ClientResults, DeferIsOnlyForAnOpenCallInsideItsHandler) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}});
  ASSERT_EQ(c.start().code, 0);
  uint64_t t;
  EXPECT_EQ(signalr_connection_defer_result(c.conn, &t), SIGNALR_ESTATE);  // not in a handler
  EXPECT_EQ(signalr_connection_answer_result(c.conn, 12345, "1", 1, SIGNALR_ENCODING_JSON, nullptr), SIGNALR_ESTATE);
  // A call that wants no result cannot be deferred.
  Deferrer d;
  ASSERT_EQ(signalr_connection_on(c.conn, "Callback", Deferrer::handle, &d, nullptr, nullptr), 0);
  c.invoke("Callback", "[\"x\"]");
  ASSERT_TRUE(c.poll_until([&] { return d.defer_rc != 1; }));
  EXPECT_EQ(d.defer_rc, SIGNALR_ESTATE);
  // A second handler cannot defer what the first one answered; the first answer is the one sent.
  struct Answer {
    static int handle(void *, signalr_connection *, const signalr_value *, const void **result, size_t *len,
                      int *enc, const char **) {
      *result = "\"first\"";
      *len = 7;
      *enc = SIGNALR_ENCODING_JSON;
      return 0;
    }
  };
  Deferrer late;
  ASSERT_EQ(signalr_connection_on(c.conn, "Both", Answer::handle, nullptr, nullptr, nullptr), 0);
  ASSERT_EQ(signalr_connection_on(c.conn, "Both", Deferrer::handle, &late, nullptr, nullptr), 0);
  EXPECT_EQ(c.invoke("GetClientResultNoArgs", "[\"Both\"]").json, "\"first\"");
  EXPECT_EQ(late.defer_rc, SIGNALR_ESTATE);
  EXPECT_TRUE(late.tickets.empty());
}

// ------------------------------------------------------------------ the access-token provider

namespace {

struct TokenSource {
  std::atomic<int> calls{0};
  std::string token;
  int fail = 0;
  static int provide(void *ud, signalr_connection *, const char **token) {
    auto *t = static_cast<TokenSource *>(ud);
    t->calls++;
    if (t->fail) return t->fail;
    *token = t->token.c_str();
    return 0;
  }
};

}  // namespace

TEST(TokenProvider, AskedForNegotiateAndTransportAndUsed) {
  SIGNALR_NEED_SERVER();
  TokenSource src;
  src.token = token_for("alice");
  ApiClient c("/hubs/auth", {{"transports", "websockets"}}, [&](signalr_builder *b) {
    signalr_builder_set_token_provider(b, TokenSource::provide, &src, nullptr);
  });
  CallResult started = c.start();
  ASSERT_EQ(started.code, 0) << started.message;
  EXPECT_EQ(src.calls.load(), 2);  // negotiate, then the WebSocket
  EXPECT_EQ(c.invoke("GetUserName", "[]").json, "\"alice\"");
}

TEST(TokenProvider, FailureAbandonsTheStartWithItsCode) {
  SIGNALR_NEED_SERVER();
  TokenSource src;
  src.fail = SIGNALR_EAUTH;
  ApiClient c("/hubs/auth", {{"transports", "websockets"}}, [&](signalr_builder *b) {
    signalr_builder_set_token_provider(b, TokenSource::provide, &src, nullptr);
  });
  CallResult started = c.start();
  EXPECT_EQ(started.code, SIGNALR_EAUTH);
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_DISCONNECTED);
}

TEST(TokenProvider, AnswersLaterFromAnotherThread) {
  SIGNALR_NEED_SERVER();
  struct Async {
    std::string token;
    std::vector<std::thread> threads;
    static int provide(void *ud, signalr_connection *conn, const char **) {
      auto *a = static_cast<Async *>(ud);
      a->threads.emplace_back([a, conn] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        EXPECT_EQ(signalr_connection_answer_token(conn, a->token.c_str(), 0), 0);
      });
      return SIGNALR_EAGAIN;
    }
  } src;
  src.token = token_for("bob");
  {
    ApiClient c("/hubs/auth", {{"transports", "websockets"}}, [&](signalr_builder *b) {
      signalr_builder_set_token_provider(b, Async::provide, &src, nullptr);
    });
    CallResult started = c.start();
    ASSERT_EQ(started.code, 0) << started.message;
    EXPECT_EQ(c.invoke("GetUserName", "[]").json, "\"bob\"");
    EXPECT_EQ(signalr_connection_answer_token(c.conn, "x", 0), SIGNALR_ESTATE);  // nothing asked
    for (auto &t : src.threads) t.join();
  }
}

// ------------------------------------------------------------------ automatic reconnect

TEST(Reconnect, ServerCloseWithAllowReconnectReconnectsWithANewIdAndHandlersKept) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}, {"reconnect", "true"}});
  c.listen("Callback");
  ASSERT_EQ(c.start().code, 0);
  std::string first = c.id();
  EXPECT_EQ(c.invoke("CloseWithReconnect", "[]").json, "true");
  ASSERT_TRUE(c.poll_until([&] { return c.count(SIGNALR_EVENT_RECONNECTED) == 1; }));
  EXPECT_EQ(c.count(SIGNALR_EVENT_RECONNECTING), 1);
  EXPECT_EQ(c.count(SIGNALR_EVENT_CLOSED), 0);
  EXPECT_NE(c.id(), first);
  EXPECT_EQ(c.invoke("GetConnectionId", "[]").json, "\"" + c.id() + "\"");
  c.invoke("Callback", "[\"again\"]");
  ASSERT_TRUE(c.poll_until([&] { return c.calls.size() == 1; }));
  EXPECT_EQ(c.calls[0].second, "[\"again\"]");
}

TEST(Reconnect, ServerCloseWithoutAllowReconnectCloses) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}, {"reconnect", "true"}});
  ASSERT_EQ(c.start().code, 0);
  c.invoke("CloseWithError", "[\"go away\", false]");
  ASSERT_TRUE(c.poll_until([&] { return c.count(SIGNALR_EVENT_CLOSED) == 1; }));
  EXPECT_EQ(c.count(SIGNALR_EVENT_RECONNECTING), 0);
  EXPECT_NE(c.lifecycle.back().message.find("go away"), std::string::npos) << c.lifecycle.back().message;
}

TEST(Reconnect, DroppedTransportFailsPendingCallsThenReconnects) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}, {"reconnect_delays_ms", "0,100"}});
  ASSERT_EQ(c.start().code, 0);
  // A stream stays pending without holding the hub's one-invocation-at-a-time slot; its first
  // item says the server runs it.
  struct Watch {
    CallResult end;
    std::atomic<int> items{0};
  } w;
  CallResult &slow = w.end;
  std::string args = "[\"drop\", 50]";
  ASSERT_EQ(signalr_connection_stream(
                c.conn, "InfiniteStream", args.data(), args.size(), SIGNALR_ENCODING_JSON,
                [](void *ud, signalr_connection *, const signalr_value *) { static_cast<Watch *>(ud)->items++; },
                [](void *ud, signalr_connection *conn, const signalr_value *v, const signalr_error *e) {
                  srtest::record_result(&static_cast<Watch *>(ud)->end, conn, v, e);
                },
                &w, nullptr),
            0);
  ASSERT_TRUE(c.poll_until([&] { return w.items >= 1; }));
  c.invoke("DropTransport", "[]");
  ASSERT_TRUE(c.poll_until([&] { return c.count(SIGNALR_EVENT_RECONNECTED) == 1; }));
  ASSERT_TRUE(slow.done);
  EXPECT_EQ(slow.code, SIGNALR_ECLOSED);
  EXPECT_EQ(c.invoke("Echo", "[\"back\"]").json, "\"back\"");
}

namespace {

struct Policy {
  std::vector<uint32_t> attempts;
  std::vector<int> codes;
  int32_t delay = 5000;
  static int32_t next(void *ud, uint32_t attempt, int64_t, const signalr_error *err) {
    auto *p = static_cast<Policy *>(ud);
    p->attempts.push_back(attempt);
    p->codes.push_back(signalr_error_code(err));
    return p->delay;
  }
};

}  // namespace

TEST(Reconnect, CustomPolicyAndStopDuringTheDelayEndsAtOnce) {
  SIGNALR_NEED_SERVER();
  Policy policy;
  ApiClient c("/hubs/test", {{"transports", "websockets"}}, [&](signalr_builder *b) {
    signalr_builder_set_retry_policy(b, Policy::next, &policy, nullptr);
  });
  ASSERT_EQ(c.start().code, 0);
  c.invoke("CloseWithReconnect", "[]");
  ASSERT_TRUE(c.poll_until([&] { return !policy.attempts.empty(); }));
  EXPECT_EQ(policy.attempts, (std::vector<uint32_t>{1}));
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_RECONNECTING);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(signalr_connection_stop_blocking(c.conn, 10000), 0);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::milliseconds(1000));
  c.poll_until([&] { return c.count(SIGNALR_EVENT_CLOSED) == 1; }, 2000);
  ASSERT_EQ(c.count(SIGNALR_EVENT_CLOSED), 1);
  EXPECT_EQ(c.lifecycle.back().code, 0);  // stopped by the application
}

// ------------------------------------------------------------------ stateful reconnect

TEST(Reconnect, ConnectionIdIsEmptyWhileNotConnected) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}, {"reconnect", "true"}});
  ASSERT_EQ(c.start().code, 0);
  EXPECT_FALSE(c.id().empty());
  EXPECT_EQ(c.invoke("GetConnectionId", "[]").json, "\"" + c.id() + "\"");
  // Reconnecting: no id until the new connection has one (as the official clients: null).
  EXPECT_EQ(c.invoke("CloseWithReconnect", "[]").json, "true");
  ASSERT_TRUE(c.poll_until([&] { return c.count(SIGNALR_EVENT_RECONNECTED) == 1; }));
  EXPECT_EQ(c.invoke("GetConnectionId", "[]").json, "\"" + c.id() + "\"");
  ASSERT_EQ(signalr_connection_stop_blocking(c.conn, 10000), 0);
  EXPECT_EQ(c.id(), "") << "the id outlived the connection";
}

TEST(StatefulReconnect, DroppedSocketIsReplacedInvisibly) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/stateful", {{"transports", "websockets"}, {"stateful_reconnect", "true"}});
  c.listen("Numbered");
  ASSERT_EQ(c.start().code, 0);
  EXPECT_EQ(c.invoke("IsStatefulReconnect", "[]").json, "true");
  std::string id = c.id();
  for (int round = 0; round < 3; round++) {
    // No wait for the re-dial: every DropTransport drops the socket, so each round re-dials;
    // the invoke that follows races the drop (sent on the old socket and replayed, or sent on
    // the new one), and either way its result and its 20 calls arrive once, in order.
    EXPECT_EQ(c.invoke("DropTransport", "[]").json, "true");
    EXPECT_EQ(c.invoke("SendNumbered", "[20]").json, "20");
  }
  ASSERT_TRUE(c.poll_until([&] { return c.calls.size() == 60; }));
  for (size_t i = 0; i < c.calls.size(); i++) EXPECT_EQ(c.calls[i].second, "[" + std::to_string(i % 20 + 1) + "]");
  EXPECT_EQ(c.id(), id);
  EXPECT_EQ(c.count(SIGNALR_EVENT_RECONNECTING), 0);
  EXPECT_EQ(c.count(SIGNALR_EVENT_CLOSED), 0);
}

TEST(StatefulReconnect, NotNegotiatedWithoutTheOption) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/stateful", {{"transports", "websockets"}});
  ASSERT_EQ(c.start().code, 0);
  EXPECT_EQ(c.invoke("IsStatefulReconnect", "[]").json, "false");
}
