// The public C API against the real ASP.NET Core server, over WebSockets with the JSON
// protocol: what travels on the wire besides hub messages (cookies, headers, tokens,
// redirects, TLS), timers (keep-alive, server timeout), server-initiated closes, every error
// path with its hint, and the callback threading rules (direct mode, free from a callback,
// stop with calls pending, handler order).
//
// test_connection.cpp already covers: start/invoke/stop, negotiate 404 on /no/such/hub (code,
// status, "hub path" hint), /negotiate-error (code and text), the 503 status of /hubs/ws-rejected,
// two handlers + off + case-insensitive names, free from inside a completion, and one pending
// DelayedEcho failing with ECLOSED on stop. The tests here do not repeat those.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <cjson/cJSON.h>

#include "../support/http_get.h"
#include "../support/test_server.h"
#include "signalr/signalr.h"

namespace {

using Options = std::vector<std::pair<const char *, std::string>>;

std::string str(const char *s) { return s ? s : ""; }

bool contains(const std::string &hay, const std::string &needle) { return hay.find(needle) != std::string::npos; }

// A path on the plain HTTP server, or a full URL as is.
std::string url_of(const std::string &path_or_url) {
  if (path_or_url.rfind("http", 0) == 0 || path_or_url.rfind("ws", 0) == 0) return path_or_url;
  return srtest::test_server().http + path_or_url;
}

// A completion's outcome. Written by callbacks on the polling thread (queued mode) or on the
// I/O thread (direct mode), hence the lock.
struct Result {
  mutable std::mutex mu;
  int calls = 0;
  int code = 0, http = 0, allow_reconnect = 0;
  bool has_value = false;
  std::string json, message, hint;
  std::thread::id thread;

  bool done() const {
    std::lock_guard<std::mutex> l(mu);
    return calls > 0;
  }
  int count() const {
    std::lock_guard<std::mutex> l(mu);
    return calls;
  }
};

// A callback ran: what a direct-mode Client::until waits for (callbacks run on the I/O thread
// there, so nothing is polled). Each callback records its state first, then calls this.
std::mutex g_ran_mu;
std::condition_variable g_ran_cv;
uint64_t g_ran = 0;
void callback_ran() {
  {
    std::lock_guard<std::mutex> l(g_ran_mu);
    g_ran++;
  }
  g_ran_cv.notify_all();
}
uint64_t callbacks_so_far() {
  std::lock_guard<std::mutex> l(g_ran_mu);
  return g_ran;
}

void on_done(void *ud, signalr_connection *, const signalr_value *v, const signalr_error *e) {
  struct Ran {
    ~Ran() { callback_ran(); }  // after r->mu is released
  } ran;
  auto *r = static_cast<Result *>(ud);
  std::lock_guard<std::mutex> l(r->mu);
  r->calls++;
  r->thread = std::this_thread::get_id();
  r->code = signalr_error_code(e);
  if (e) {
    r->message = str(signalr_error_message(e));
    r->hint = str(signalr_error_hint(e));
    r->http = signalr_error_http_status(e);
    r->allow_reconnect = signalr_error_allow_reconnect(e);
  }
  const char *j;
  size_t n;
  if (v && signalr_value_json(v, &j, &n) == 0) {
    r->has_value = true;
    r->json.assign(j, n);
  }
}

struct LifeEvent {
  int event = 0, code = 0, allow_reconnect = 0;
  std::string message, hint;
  std::thread::id thread;
};

struct Client {
  signalr_context *ctx = nullptr;
  signalr_connection *conn = nullptr;
  int flags = 0;
  mutable std::mutex mu;
  std::vector<LifeEvent> life;
  std::vector<std::string> logs;

  static void on_life(void *ud, signalr_connection *, int event, const signalr_error *e) {
    auto *c = static_cast<Client *>(ud);
    LifeEvent le;
    le.event = event;
    le.code = signalr_error_code(e);
    le.allow_reconnect = e ? signalr_error_allow_reconnect(e) : 0;
    le.message = e ? str(signalr_error_message(e)) : "";
    le.hint = e ? str(signalr_error_hint(e)) : "";
    le.thread = std::this_thread::get_id();
    {
      std::lock_guard<std::mutex> l(c->mu);
      c->life.push_back(le);
    }
    callback_ran();
  }
  static void on_log(void *ud, int level, const char *msg) {
    auto *c = static_cast<Client *>(ud);
    {
      std::lock_guard<std::mutex> l(c->mu);
      c->logs.push_back(std::to_string(level) + " " + msg);
    }
    callback_ran();
  }

  explicit Client(const std::string &path, const Options &opts = {}, int ctx_flags = 0) : flags(ctx_flags) {
    EXPECT_EQ(signalr_context_new(&ctx, ctx_flags), 0);
    signalr_builder *b;
    EXPECT_EQ(signalr_builder_new(&b), 0);
    char err[256];
    EXPECT_EQ(signalr_builder_set(b, "url", url_of(path).c_str(), err, sizeof err), 0) << err;
    EXPECT_EQ(signalr_builder_set(b, "transports", "websockets", err, sizeof err), 0) << err;
    for (auto &o : opts) EXPECT_EQ(signalr_builder_set(b, o.first, o.second.c_str(), err, sizeof err), 0) << err;
    signalr_builder_set_lifecycle(b, on_life, this, nullptr);
    signalr_builder_set_log(b, on_log, this, nullptr);
    EXPECT_EQ(signalr_builder_build(b, ctx, &conn, err, sizeof err), 0) << err;
    signalr_builder_free(b);
  }
  ~Client() {
    signalr_connection_free(conn);
    EXPECT_EQ(signalr_context_free(ctx), 0);
  }

  // Runs queued events (queued mode) or, in direct mode, waits for the callbacks that run on
  // the I/O thread (callback_ran), until pred or timeout_ms.
  bool until(const std::function<bool()> &pred, int timeout_ms = 10000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      uint64_t seen = callbacks_so_far();  // before pred: a callback after it changes the count
      if (pred()) return true;
      if (std::chrono::steady_clock::now() >= end) return false;
      if (flags & SIGNALR_CONTEXT_DIRECT) {
        std::unique_lock<std::mutex> l(g_ran_mu);
        g_ran_cv.wait_until(l, end, [&] { return g_ran != seen; });
      } else {
        signalr_context_poll(ctx, 20);
      }
    }
  }
  // Keeps running events for ms.
  void pump(int ms) {
    until([] { return false; }, ms);
  }

  int start(signalr_error **err = nullptr) { return signalr_connection_start_blocking(conn, 10000, err); }

  void invoke(const char *method, const std::string &args, Result &r) {
    ASSERT_EQ(signalr_connection_invoke(conn, method, args.data(), args.size(), SIGNALR_ENCODING_JSON, on_done, &r), 0);
    EXPECT_TRUE(until([&] { return r.done(); })) << method << " did not complete";
  }
  // The JSON result of a call that must succeed.
  std::string call(const char *method, const std::string &args = "[]") {
    Result r;
    invoke(method, args, r);
    EXPECT_EQ(r.code, 0) << method << ": " << r.message;
    return r.json;
  }

  std::vector<LifeEvent> events() const {
    std::lock_guard<std::mutex> l(mu);
    return life;
  }
  bool has_event(int event) const {
    for (auto &e : events())
      if (e.event == event) return true;
    return false;
  }
  std::vector<std::string> log_lines() const {
    std::lock_guard<std::mutex> l(mu);
    return logs;
  }
  std::string id() {
    char buf[128] = "?";
    EXPECT_EQ(signalr_connection_id(conn, buf, sizeof buf), 0);
    return buf;
  }
};

// A failed start, in detail.
struct Failure {
  int rc = 0, code = 0, http = 0, allow_reconnect = 0;
  std::string message, hint;
  bool has_hint = false;
  int state = -1;
};

std::ostream &operator<<(std::ostream &os, const Failure &f) {
  return os << "rc=" << f.rc << " code=" << f.code << " http=" << f.http << " message='" << f.message
            << "' hint='" << f.hint << "'";
}

Failure start_failure(const std::string &path, const Options &opts = {}) {
  Client c(path, opts);
  Failure f;
  signalr_error *err = nullptr;
  f.rc = c.start(&err);
  if (err) {
    f.code = signalr_error_code(err);
    f.http = signalr_error_http_status(err);
    f.message = str(signalr_error_message(err));
    f.has_hint = signalr_error_hint(err) != nullptr;
    f.hint = str(signalr_error_hint(err));
    f.allow_reconnect = signalr_error_allow_reconnect(err);
    signalr_error_free(err);
  }
  f.state = signalr_connection_state(c.conn);
  return f;
}

std::string jstr(const std::string &s) { return "\"" + s + "\""; }

// GET /token?... on the test server: a bearer token.
std::string fetch_token(const std::string &query) {
  srtest::HttpReply r = srtest::http_get(srtest::test_server().http, "/token?" + query);
  EXPECT_EQ(r.status, 200) << r.error;
  return r.body;
}

// GET /redirect/loop/stats: {"lastHop":K,"requests":N}.
bool loop_stats(int &last_hop, int &requests) {
  srtest::HttpReply r = srtest::http_get(srtest::test_server().http, "/redirect/loop/stats");
  if (r.status != 200) return false;
  cJSON *doc = cJSON_Parse(r.body.c_str());
  if (!doc) return false;
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(doc, "lastHop");
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(doc, "requests");
  bool ok = cJSON_IsNumber(h) && cJSON_IsNumber(n);
  if (ok) {
    last_hop = h->valueint;
    requests = n->valueint;
  }
  cJSON_Delete(doc);
  return ok;
}

}  // namespace

// ===================================================================== cookies, headers, tokens

TEST(Network, NegotiateCookiesAreReplayedOnTheWebSocketExceptExpiredOnes) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/cookie");
  ASSERT_EQ(c.start(), 0);
  EXPECT_EQ(c.call("GetTransport"), "\"WebSockets\"");
  EXPECT_EQ(c.call("GetCookie", "[\"testCookie\"]"), "\"negotiate-cookie\"");
  // Set with an Expires in 1970: a deletion, never sent back.
  EXPECT_EQ(c.call("GetCookie", "[\"expiredCookie\"]"), "null");
  // The whole Cookie header of the WebSocket upgrade: exactly the one live cookie.
  EXPECT_EQ(c.call("GetHeader", "[\"Cookie\"]"), "\"testCookie=negotiate-cookie\"");
}

TEST(Network, CustomHeadersAreSentOnTheWebSocketUpgrade) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test", {{"header", "X-Test: value"}, {"header", "X-Second:  two words"}});
  ASSERT_EQ(c.start(), 0);
  // GetHeader reads the connection's HTTP request: the WebSocket upgrade.
  EXPECT_EQ(c.call("GetHeader", "[\"X-Test\"]"), "\"value\"");
  EXPECT_EQ(c.call("GetHeader", "[\"x-second\"]"), "\"two words\"");
  EXPECT_EQ(c.call("GetHeader", "[\"X-Absent\"]"), "null");
  std::string ua = c.call("GetHeader", "[\"User-Agent\"]");
  EXPECT_EQ(ua.rfind("\"libsignalr/", 0), 0u) << ua;
}

// Every configured header goes out, however many (36 was a silent limit once), and the
// library's own (User-Agent) still follows them.
TEST(Network, FiftyHeadersAllReachTheServer) {
  SIGNALR_NEED_SERVER();
  Options opts = {{"transports", "websockets"}};
  for (int i = 0; i < 50; i++) opts.push_back({"header", "X-H" + std::to_string(i) + ": v" + std::to_string(i)});
  Client c("/hubs/test", opts);
  ASSERT_EQ(c.start(), 0);
  for (int i : {0, 35, 36, 37, 49})
    EXPECT_EQ(c.call("GetHeader", "[\"X-H" + std::to_string(i) + "\"]"), "\"v" + std::to_string(i) + "\"") << i;
  std::string ua = c.call("GetHeader", "[\"User-Agent\"]");
  EXPECT_EQ(ua.rfind("\"libsignalr/", 0), 0u) << ua;
}

TEST(Network, AHeaderOptionOverridesTheUserAgent) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test", {{"header", "User-Agent: my-app/2.0"}});
  ASSERT_EQ(c.start(), 0);
  EXPECT_EQ(c.call("GetHeader", "[\"User-Agent\"]"), "\"my-app/2.0\"");
}

TEST(Network, AuthHubRequiresAValidBearerToken) {
  SIGNALR_NEED_SERVER();
  {
    Failure f = start_failure("/hubs/auth");
    EXPECT_EQ(f.rc, SIGNALR_EAUTH) << f;
    EXPECT_EQ(f.code, SIGNALR_EAUTH) << f;
    EXPECT_EQ(f.http, 401) << f;
    EXPECT_TRUE(contains(f.hint, "access token")) << f;
    EXPECT_EQ(f.state, SIGNALR_STATE_DISCONNECTED);
  }
  {
    std::string token = fetch_token("user=alice");
    ASSERT_FALSE(token.empty());
    Client c("/hubs/auth", {{"access_token", token}});
    signalr_error *err = nullptr;
    ASSERT_EQ(c.start(&err), 0) << signalr_error_message(err);
    EXPECT_EQ(c.call("GetUserName"), "\"alice\"");
    // Sent as a header on the upgrade too, not in the query string.
    EXPECT_EQ(c.call("GetHeader", "[\"Authorization\"]"), jstr("Bearer " + token));
    EXPECT_EQ(c.call("GetQueryValue", "[\"access_token\"]"), "null");
  }
  {
    Failure f = start_failure("/hubs/auth", {{"access_token", fetch_token("user=alice&expiresIn=-60")}});
    EXPECT_EQ(f.code, SIGNALR_EAUTH) << f;
    EXPECT_EQ(f.http, 401) << f;
  }
  {
    Failure f = start_failure("/hubs/auth", {{"access_token", "not-a-token"}});
    EXPECT_EQ(f.code, SIGNALR_EAUTH) << f;
    EXPECT_EQ(f.http, 401) << f;
  }
}

TEST(Network, AuthOnTheWebSocketUpgradeWithSkipNegotiation) {
  SIGNALR_NEED_SERVER();
  {
    Failure f = start_failure("/hubs/auth", {{"skip_negotiation", "true"}});
    EXPECT_EQ(f.code, SIGNALR_EAUTH) << f;
    EXPECT_EQ(f.http, 401) << f;
    EXPECT_TRUE(contains(f.hint, "access token")) << f;
  }
  {
    Client c("/hubs/auth", {{"skip_negotiation", "true"}, {"access_token", fetch_token("user=carol")}});
    signalr_error *err = nullptr;
    ASSERT_EQ(c.start(&err), 0) << signalr_error_message(err);
    EXPECT_EQ(c.call("GetUserName"), "\"carol\"");
  }
}

// ===================================================================== negotiate redirects

TEST(Network, NegotiateRedirectToAnotherHubUrl) {
  SIGNALR_NEED_SERVER();
  Client c("/redirect/url");
  signalr_error *err = nullptr;
  ASSERT_EQ(c.start(&err), 0) << signalr_error_message(err);
  EXPECT_EQ(c.call("GetRedirects"), "1");  // the redirect's ?redirects=1 reached /hubs/test
  EXPECT_EQ(c.call("GetTransport"), "\"WebSockets\"");
  std::string id = c.id();
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(c.call("GetConnectionId"), jstr(id));
}

TEST(Network, NegotiateRedirectAccessTokenIsUsed) {
  SIGNALR_NEED_SERVER();
  {
    Client c("/redirect/token");
    signalr_error *err = nullptr;
    ASSERT_EQ(c.start(&err), 0) << signalr_error_message(err);
    EXPECT_EQ(c.call("GetUserName"), "\"redirected-user\"");
    EXPECT_EQ(c.call("GetRedirects"), "1");
  }
  {
    // The redirect's token replaces the configured one.
    Client c("/redirect/token?user=bob", {{"access_token", fetch_token("user=alice")}});
    signalr_error *err = nullptr;
    ASSERT_EQ(c.start(&err), 0) << signalr_error_message(err);
    EXPECT_EQ(c.call("GetUserName"), "\"bob\"");
  }
}

TEST(Network, NegotiateRedirectChainOfFive) {
  SIGNALR_NEED_SERVER();
  Client c("/redirect/chain/5");
  signalr_error *err = nullptr;
  ASSERT_EQ(c.start(&err), 0) << signalr_error_message(err);
  EXPECT_EQ(c.call("GetRedirects"), "5");
  EXPECT_EQ(c.call("Echo", "[\"after 5 hops\"]"), "\"after 5 hops\"");
}

TEST(Network, NegotiateRedirectLoopStopsAtTheLimit) {
  SIGNALR_NEED_SERVER();
  int hop0 = -1, requests0 = -1;
  ASSERT_TRUE(loop_stats(hop0, requests0));
  Failure f = start_failure("/redirect/loop");
  EXPECT_EQ(f.code, SIGNALR_EREDIRECT) << f;
  EXPECT_EQ(f.http, 0) << f;
  EXPECT_EQ(f.message, "Negotiate redirection limit exceeded.") << f;
  EXPECT_TRUE(contains(f.hint, "100")) << f;
  int hop = -1, requests = -1;
  ASSERT_TRUE(loop_stats(hop, requests));
  // The first request is hop 0; each answer redirects to hop+1. The library follows 100
  // redirects (hops 1..100) and refuses the 101st (the engine unit test's bound: 101
  // negotiates). Microsoft's clients stop one earlier (100 requests, last hop 99).
  EXPECT_EQ(hop, 100);
  EXPECT_EQ(requests - requests0, 101);
}

// ===================================================================== transport options

TEST(Network, SkipNegotiationConnectsWithoutAConnectionId) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test", {{"skip_negotiation", "true"}});
  signalr_error *err = nullptr;
  ASSERT_EQ(c.start(&err), 0) << signalr_error_message(err);
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_CONNECTED);
  EXPECT_EQ(c.id(), "");
  // The server still names the connection; no id= travelled in the query.
  std::string server_id = c.call("GetConnectionId");
  EXPECT_GT(server_id.size(), 2u) << server_id;
  EXPECT_EQ(c.call("GetQueryValue", "[\"id\"]"), "null");
  EXPECT_EQ(c.call("GetTransport"), "\"WebSockets\"");
  EXPECT_EQ(c.call("Add", "[1,2]"), "3");
}

TEST(Network, KeepAlivePingsKeepAnIdleConnectionOpen) {
  SIGNALR_NEED_SERVER();
  // /hubs/short-timeout drops clients that send nothing for 3 s.
  Client pinging("/hubs/short-timeout", {{"keep_alive_interval_ms", "1000"}});
  // Control: no ping within the 5 s (a long interval rather than "0", which ZeroDisables...
  // checks on its own, so that this test does not depend on it).
  Client silent("/hubs/short-timeout", {{"keep_alive_interval_ms", "60000"}});
  ASSERT_EQ(pinging.start(), 0);
  ASSERT_EQ(silent.start(), 0);
  auto idle_until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < idle_until) {
    signalr_context_poll(pinging.ctx, 20);
    signalr_context_poll(silent.ctx, 20);
  }
  EXPECT_FALSE(pinging.has_event(SIGNALR_EVENT_CLOSED));
  EXPECT_EQ(signalr_connection_state(pinging.conn), SIGNALR_STATE_CONNECTED);
  EXPECT_EQ(pinging.call("Echo", "[\"still here\"]"), "\"still here\"");

  // Without pings the server's 3 s client timeout closes the other one.
  ASSERT_TRUE(silent.has_event(SIGNALR_EVENT_CLOSED));
  EXPECT_EQ(signalr_connection_state(silent.conn), SIGNALR_STATE_DISCONNECTED);
  LifeEvent closed = silent.events().back();
  EXPECT_EQ(closed.event, SIGNALR_EVENT_CLOSED);
  // ASP.NET Core closes with "... Client hasn't sent a message/ping within the configured
  // ClientTimeoutInterval." and allows a reconnect.
  EXPECT_EQ(closed.code, SIGNALR_ECLOSED) << closed.message;
  EXPECT_TRUE(contains(closed.message, "ClientTimeoutInterval")) << closed.message;
  EXPECT_EQ(closed.allow_reconnect, 1);
}

// What "0" means is the engine's behaviour (tests/unit/test_engine.cpp:
// Engine.ZeroDisablesKeepAliveAndServerTimeout); here: the builder takes 0 and refuses < 0.
TEST(Network, ZeroIsAcceptedAndNegativeRefusedForKeepAliveAndServerTimeout) {
  signalr_builder *b;
  ASSERT_EQ(signalr_builder_new(&b), 0);
  char err[256] = "";
  EXPECT_EQ(signalr_builder_set(b, "keep_alive_interval_ms", "0", err, sizeof err), 0) << err;
  EXPECT_EQ(signalr_builder_set(b, "server_timeout_ms", "0", err, sizeof err), 0) << err;
  EXPECT_EQ(signalr_builder_set(b, "server_timeout_ms", "-1", err, sizeof err), SIGNALR_EINVAL);
  signalr_builder_free(b);
}

TEST(Network, ServerTimeoutWarnsSlowThenCloses) {
  SIGNALR_NEED_SERVER();
  // /hubs/silent never pings.
  Client c("/hubs/silent", {{"server_timeout_ms", "1500"}});
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(c.start(), 0);
  ASSERT_TRUE(c.until([&] { return c.has_event(SIGNALR_EVENT_CLOSED); }, 5000));
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(elapsed, 1400); // never early; how late depends on the machine (until() bounds it)
  std::vector<LifeEvent> ev = c.events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].event, SIGNALR_EVENT_CONNECTED);
  EXPECT_EQ(ev[1].event, SIGNALR_EVENT_SLOW);
  EXPECT_EQ(ev[1].code, 0);
  EXPECT_EQ(ev[2].event, SIGNALR_EVENT_CLOSED);
  EXPECT_EQ(ev[2].code, SIGNALR_ETIMEOUT) << ev[2].message;
  EXPECT_TRUE(contains(ev[2].message, "1500")) << ev[2].message;
  EXPECT_TRUE(contains(ev[2].hint, "KeepAliveInterval")) << ev[2].hint;
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_DISCONNECTED);
}

TEST(Network, HandshakeRejectionCarriesTheServersText) {
  SIGNALR_NEED_SERVER();
  Failure f = start_failure("/hubs/json-only", {{"protocol", "messagepack"}});
  EXPECT_EQ(f.rc, SIGNALR_EHANDSHAKE) << f;
  EXPECT_EQ(f.code, SIGNALR_EHANDSHAKE) << f;
  // ASP.NET Core: "The protocol 'messagepack' is not supported."
  EXPECT_TRUE(contains(f.message, "The protocol 'messagepack' is not supported.")) << f;
  EXPECT_TRUE(contains(f.hint, "AddMessagePackProtocol")) << f;
  EXPECT_EQ(f.state, SIGNALR_STATE_DISCONNECTED);
}

// ===================================================================== server-initiated closes

TEST(Network, ServerAbortClosesTheConnectionAndFailsThePendingCall) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test");
  ASSERT_EQ(c.start(), 0);
  Result r;
  c.invoke("AbortConnection", "[]", r);
  EXPECT_EQ(r.code, SIGNALR_ECLOSED) << r.message;
  ASSERT_TRUE(c.until([&] { return c.has_event(SIGNALR_EVENT_CLOSED); }));
  c.pump(200);
  EXPECT_EQ(r.count(), 1);
  LifeEvent closed = c.events().back();
  EXPECT_EQ(closed.event, SIGNALR_EVENT_CLOSED);
  // A Close message without an error: closed without one, as the .NET and JS clients report it
  // (Closed(null)); the pending call above failed with SIGNALR_ECLOSED.
  EXPECT_EQ(closed.code, 0) << closed.message;
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_DISCONNECTED);
}

TEST(Network, ServerCloseWithErrorCarriesTheTextAndReconnectFlag) {
  SIGNALR_NEED_SERVER();
  for (bool allow : {false, true}) {
    SCOPED_TRACE(allow ? "allowReconnect=true" : "allowReconnect=false");
    Client c("/hubs/test");
    ASSERT_EQ(c.start(), 0);
    std::string text = allow ? "going down, come back" : "go away";
    EXPECT_EQ(c.call("CloseWithError", "[" + jstr(text) + (allow ? ",true]" : ",false]")), "true");
    ASSERT_TRUE(c.until([&] { return c.has_event(SIGNALR_EVENT_CLOSED); }));
    LifeEvent closed = c.events().back();
    EXPECT_EQ(closed.event, SIGNALR_EVENT_CLOSED);
    EXPECT_EQ(closed.code, SIGNALR_ECLOSED);
    EXPECT_TRUE(contains(closed.message, text)) << closed.message;
    EXPECT_EQ(closed.allow_reconnect, allow ? 1 : 0);
    EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_DISCONNECTED);
  }
}

TEST(Network, ServerCloseRequestAllowingReconnectWithoutReconnectEnabledClosesWithoutError) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test");
  ASSERT_EQ(c.start(), 0);
  EXPECT_EQ(c.call("CloseWithReconnect"), "true");
  ASSERT_TRUE(c.until([&] { return c.has_event(SIGNALR_EVENT_CLOSED); }));
  LifeEvent closed = c.events().back();
  EXPECT_EQ(closed.code, 0) << closed.message; // as the official clients: Closed(null)
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_DISCONNECTED);
}

// ===================================================================== error paths and hints

TEST(Network, WebSocketUpgradeRefusedHasAWebSocketsHint) {
  SIGNALR_NEED_SERVER();
  Failure f = start_failure("/hubs/ws-rejected");
  EXPECT_EQ(f.code, SIGNALR_EHTTP) << f;
  EXPECT_EQ(f.http, 503) << f;
  EXPECT_TRUE(contains(f.message, "503")) << f;
  EXPECT_TRUE(contains(f.hint, "WebSockets")) << f;
  EXPECT_EQ(f.state, SIGNALR_STATE_DISCONNECTED);
}

TEST(Network, WebSocketsOnlyClientAgainstANoWebSocketsHub) {
  SIGNALR_NEED_SERVER();
  // Negotiate offers ServerSentEvents and LongPolling only: nothing the client may use.
  Failure f = start_failure("/hubs/no-websockets");
  EXPECT_EQ(f.code, SIGNALR_EUNSUPPORTED) << f;
  EXPECT_EQ(f.http, 0) << f;
  // The official text, then what each side offered.
  EXPECT_EQ(f.message, "None of the transports supported by the client are supported by the server. The server "
                       "offers ServerSentEvents (text only), LongPolling (text and binary); the client allows "
                       "WebSockets with a text (JSON) protocol.") << f;
  EXPECT_EQ(f.state, SIGNALR_STATE_DISCONNECTED);
  // Skipping negotiate straight onto the WebSocket: the server answers the upgrade with 404.
  Failure s = start_failure("/hubs/no-websockets", {{"skip_negotiation", "true"}});
  EXPECT_EQ(s.code, SIGNALR_ENOTFOUND) << s;
  EXPECT_EQ(s.http, 404) << s;
  EXPECT_TRUE(s.has_hint) << s;
}

TEST(Network, SkipNegotiation404HintDoesNotBlameAConnectionId) {
  SIGNALR_NEED_SERVER();
  // Without negotiate there is no connection id: a 404 on the upgrade means a wrong path (or
  // an endpoint without WebSockets). The hint must not send the user to sticky sessions or
  // to skip_negotiation, which is already on.
  for (const char *path : {"/hubs/doesnotexist", "/hubs/no-websockets"}) {
    SCOPED_TRACE(path);
    Failure f = start_failure(path, {{"skip_negotiation", "true"}});
    EXPECT_EQ(f.code, SIGNALR_ENOTFOUND) << f;
    EXPECT_EQ(f.http, 404) << f;
    EXPECT_TRUE(f.has_hint) << f;
    EXPECT_FALSE(contains(f.hint, "connection id")) << f;
    EXPECT_FALSE(contains(f.hint, "skip_negotiation")) << f;
    EXPECT_TRUE(contains(f.hint, "path")) << f;
  }
}

TEST(Network, HttpToHttpsRedirectIsReportedNotFollowed) {
  SIGNALR_NEED_SERVER();
  Failure f = start_failure("/https-redirect/hubs/test");
  EXPECT_EQ(f.code, SIGNALR_EREDIRECT) << f;
  EXPECT_EQ(f.http, 307) << f;
  EXPECT_TRUE(contains(f.hint, "https://")) << f;
}

TEST(Network, HttpStatusErrorsCarryStatusAndHints) {
  SIGNALR_NEED_SERVER();
  struct Case {
    int status, code;
    const char *hint_keyword;
  } cases[] = {
      {405, SIGNALR_EHTTP, "HTTP method"},
      {413, SIGNALR_EHTTP, "token"},
      {431, SIGNALR_EHTTP, "token"},
      {414, SIGNALR_EHTTP, "token"},
      {401, SIGNALR_EAUTH, "access token"},
      {403, SIGNALR_EAUTH, "not authorized"},
      {500, SIGNALR_EHTTP, nullptr},
  };
  for (const Case &k : cases) {
    SCOPED_TRACE(k.status);
    Failure f = start_failure("/status/" + std::to_string(k.status));
    EXPECT_EQ(f.code, k.code) << f;
    EXPECT_EQ(f.http, k.status) << f;
    EXPECT_TRUE(contains(f.message, std::to_string(k.status))) << f;
    if (k.hint_keyword) EXPECT_TRUE(contains(f.hint, k.hint_keyword)) << f;
    EXPECT_EQ(f.state, SIGNALR_STATE_DISCONNECTED);
  }
}

TEST(Network, OversizedAccessTokenGives431WithATokenHint) {
  SIGNALR_NEED_SERVER();
  // 64 KB in the Authorization header: over Kestrel's 32 KB header limit.
  Failure f = start_failure("/hubs/test", {{"access_token", std::string(64 * 1024, 'x')}});
  EXPECT_EQ(f.code, SIGNALR_EHTTP) << f;
  EXPECT_EQ(f.http, 431) << f;
  EXPECT_TRUE(contains(f.hint, "token")) << f;
}

TEST(Network, LegacyAspNetServerIsRecognized) {
  SIGNALR_NEED_SERVER();
  Failure f = start_failure("/legacy");
  EXPECT_EQ(f.code, SIGNALR_ELEGACY) << f;
  EXPECT_TRUE(contains(f.message, "ASP.NET SignalR")) << f;
  EXPECT_TRUE(contains(f.hint, "ASP.NET")) << f;
}

TEST(Network, ConnectionRefusedOnAClosedPort) {
  SIGNALR_NEED_SERVER();
  int port = srtest::closed_local_port();
  ASSERT_GT(port, 0);
  std::string base = "http://127.0.0.1:" + std::to_string(port) + "/hubs/test";
  for (bool skip : {false, true}) {  // negotiate (libcurl) and WebSocket (libwebsockets)
    SCOPED_TRACE(skip ? "skip_negotiation" : "negotiate");
    Options opts;
    if (skip) opts.push_back({"skip_negotiation", "true"});
    Failure f = start_failure(base, opts);
    EXPECT_EQ(f.code, SIGNALR_ECONNREFUSED) << f;
    EXPECT_EQ(f.http, 0) << f;
    EXPECT_TRUE(contains(f.hint, "Nothing is listening")) << f;
    EXPECT_EQ(f.state, SIGNALR_STATE_DISCONNECTED);
  }
}

// ===================================================================== TLS

TEST(Network, TlsUntrustedCertificateFails) {
  SIGNALR_NEED_SERVER();
  ASSERT_FALSE(srtest::test_server().https.empty());
  Failure f = start_failure(srtest::test_server().https + "/hubs/test");
  EXPECT_EQ(f.code, SIGNALR_ETLS) << f;
  EXPECT_TRUE(contains(f.hint, "tls_ca_file")) << f;
  EXPECT_EQ(f.state, SIGNALR_STATE_DISCONNECTED);
}

TEST(Network, TlsUntrustedCertificateFailsOnTheWebSocketToo) {
  SIGNALR_NEED_SERVER();
  // skip_negotiation: the TLS handshake is libwebsockets', not libcurl's.
  Failure f = start_failure(srtest::test_server().https + "/hubs/test", {{"skip_negotiation", "true"}});
  EXPECT_EQ(f.code, SIGNALR_ETLS) << f;
  EXPECT_TRUE(contains(f.hint, "tls_ca_file")) << f;
}

TEST(Network, TlsWithTheServersCertificateAsCaConnects) {
  SIGNALR_NEED_SERVER();
  const auto &srv = srtest::test_server();
  ASSERT_FALSE(srv.cert.empty());
  {
    Client c(srv.https + "/hubs/test", {{"tls_ca_file", srv.cert}});
    signalr_error *err = nullptr;
    ASSERT_EQ(c.start(&err), 0) << signalr_error_message(err);
    EXPECT_EQ(c.call("GetTransport"), "\"WebSockets\"");
    EXPECT_EQ(c.call("Echo", "[\"over TLS\"]"), "\"over TLS\"");
  }
  {
    Client c(srv.https + "/hubs/test", {{"tls_ca_file", srv.cert}, {"skip_negotiation", "true"}});
    signalr_error *err = nullptr;
    ASSERT_EQ(c.start(&err), 0) << signalr_error_message(err);
    EXPECT_EQ(c.call("Echo", "[\"wss\"]"), "\"wss\"");
  }
  {
    // A negotiate redirect from http to https.
    Client c("/redirect/https", {{"tls_ca_file", srv.cert}});
    signalr_error *err = nullptr;
    ASSERT_EQ(c.start(&err), 0) << signalr_error_message(err);
    EXPECT_EQ(c.call("GetRedirects"), "1");
  }
}

TEST(Network, NegotiateRedirectFromHttpsToHttpIsRefusedUnlessAllowed) {
  SIGNALR_NEED_SERVER();
  const auto &srv = srtest::test_server();
  {
    Client c(srv.https + "/redirect/downgrade", {{"tls_ca_file", srv.cert}});
    signalr_error *err = nullptr;
    ASSERT_EQ(c.start(&err), SIGNALR_EREDIRECT);
    ASSERT_NE(err, nullptr);
    EXPECT_TRUE(contains(signalr_error_message(err), "cleartext")) << signalr_error_message(err);
    ASSERT_NE(signalr_error_hint(err), nullptr);
    EXPECT_TRUE(contains(signalr_error_hint(err), "allow_insecure_redirect")) << signalr_error_hint(err);
    signalr_error_free(err);
  }
  {
    Client c(srv.https + "/redirect/downgrade", {{"tls_ca_file", srv.cert}, {"allow_insecure_redirect", "true"}});
    signalr_error *err = nullptr;
    ASSERT_EQ(c.start(&err), 0) << signalr_error_message(err);
    EXPECT_EQ(c.call("GetRedirects"), "1");
  }
}

TEST(Network, TlsInsecureSkipsVerification) {
  SIGNALR_NEED_SERVER();
  const auto &srv = srtest::test_server();
  for (bool skip : {false, true}) {
    SCOPED_TRACE(skip ? "skip_negotiation" : "negotiate");
    Options opts = {{"tls_insecure", "true"}};
    if (skip) opts.push_back({"skip_negotiation", "true"});
    Client c(srv.https + "/hubs/test", opts);
    signalr_error *err = nullptr;
    ASSERT_EQ(c.start(&err), 0) << signalr_error_message(err);
    EXPECT_EQ(c.call("Echo", "[\"insecure\"]"), "\"insecure\"");
  }
}

// ===================================================================== callbacks and threads

namespace {
struct DirectState {
  std::mutex mu;
  signalr_context *ctx = nullptr;
  std::thread::id handler_thread, done_thread;
  std::vector<std::string> handler_args;
  int stop_blocking_rc = 1, start_blocking_rc = 1, poll_rc = 1;
  Result echo_from_handler;
  Result callback_done;
};

int direct_handler(void *ud, signalr_connection *conn, const signalr_value *args, const void **, size_t *, int *,
                   const char **) {
  auto *d = static_cast<DirectState *>(ud);
  const char *j;
  size_t n;
  signalr_value_json(args, &j, &n);
  {
    std::lock_guard<std::mutex> l(d->mu);
    d->handler_thread = std::this_thread::get_id();
    d->handler_args.emplace_back(j, n);
  }
  // A non-blocking call from a handler on the I/O thread.
  const char *a = "[\"from the handler\"]";
  EXPECT_EQ(signalr_connection_invoke(conn, "Echo", a, strlen(a), SIGNALR_ENCODING_JSON, on_done,
                                      &d->echo_from_handler), 0);
  return 0;
}

void direct_done(void *ud, signalr_connection *conn, const signalr_value *v, const signalr_error *e) {
  auto *d = static_cast<DirectState *>(ud);
  int stop_rc = signalr_connection_stop_blocking(conn, 1000);
  int start_rc = signalr_connection_start_blocking(conn, 1000, nullptr);
  int poll_rc = signalr_context_poll(d->ctx, 0);
  {
    std::lock_guard<std::mutex> l(d->mu);
    d->done_thread = std::this_thread::get_id();
    d->stop_blocking_rc = stop_rc;
    d->start_blocking_rc = start_rc;
    d->poll_rc = poll_rc;
  }
  on_done(&d->callback_done, conn, v, e);
}
}  // namespace

TEST(Network, DirectModeRunsCallbacksOnTheIoThreadWithoutPolling) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test", {}, SIGNALR_CONTEXT_DIRECT);
  ASSERT_EQ(c.start(), 0);
  DirectState d;
  d.ctx = c.ctx;
  uint64_t h;
  ASSERT_EQ(signalr_connection_on(c.conn, "Callback", direct_handler, &d, nullptr, &h), 0);
  const char *args = "[\"direct\"]";
  ASSERT_EQ(signalr_connection_invoke(c.conn, "Callback", args, strlen(args), SIGNALR_ENCODING_JSON, direct_done, &d), 0);
  // Nobody polls: in direct mode Client::until only waits for the callbacks to run.
  ASSERT_TRUE(c.until([&] { return d.callback_done.done() && d.echo_from_handler.done(); }));
  EXPECT_EQ(signalr_context_poll(c.ctx, 0), 0);  // nothing was queued

  std::lock_guard<std::mutex> l(d.mu);
  const std::thread::id main = std::this_thread::get_id();
  EXPECT_EQ(d.handler_args, (std::vector<std::string>{"[\"direct\"]"}));
  EXPECT_NE(d.handler_thread, main);
  EXPECT_NE(d.done_thread, main);
  EXPECT_EQ(d.handler_thread, d.done_thread);  // the one I/O thread
  EXPECT_EQ(d.echo_from_handler.thread, d.done_thread);
  EXPECT_EQ(d.echo_from_handler.json, "\"from the handler\"");
  EXPECT_EQ(d.callback_done.code, 0);
  EXPECT_EQ(d.stop_blocking_rc, SIGNALR_ERECURSIVE);
  EXPECT_EQ(d.start_blocking_rc, SIGNALR_ERECURSIVE);
  EXPECT_EQ(d.poll_rc, SIGNALR_ERECURSIVE);
  auto ev = c.events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].event, SIGNALR_EVENT_CONNECTED);
  EXPECT_EQ(ev[0].thread, d.done_thread);
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_CONNECTED);  // the refused stop did nothing
}

TEST(Network, FreeFromInsideAHandler) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test");
  ASSERT_EQ(c.start(), 0);
  static std::atomic<int> handler_runs{0};
  handler_runs = 0;
  auto free_me = [](void *, signalr_connection *conn, const signalr_value *, const void **, size_t *, int *,
                    const char **) -> int {
    handler_runs++;
    signalr_connection_free(conn);
    return 0;
  };
  uint64_t h;
  ASSERT_EQ(signalr_connection_on(c.conn, "Numbered", free_me, nullptr, nullptr, &h), 0);
  Result r;
  const char *args = "[5]";  // five Numbered calls, then the completion
  ASSERT_EQ(signalr_connection_invoke(c.conn, "SendNumbered", args, 3, SIGNALR_ENCODING_JSON, on_done, &r), 0);
  c.conn = nullptr;  // the handler frees it
  c.until([&] { return handler_runs > 0; });
  c.pump(300);
  EXPECT_EQ(handler_runs, 1);  // no callback of the freed connection starts afterwards
  ASSERT_EQ(r.count(), 1);      // but the pending invoke completed, once, inside the free
  EXPECT_EQ(r.code, SIGNALR_ECLOSED);
}

// Starts another connection on ctx, calls Echo("after") through it and frees it: its result.
static std::string round_trip_on(signalr_context *ctx) {
  signalr_builder *b;
  signalr_connection *conn = nullptr;
  char err[256];
  if (signalr_builder_new(&b) != 0) return "no builder";
  signalr_builder_set(b, "url", url_of("/hubs/test").c_str(), err, sizeof err);
  signalr_builder_set(b, "transports", "websockets", err, sizeof err);
  int rc = signalr_builder_build(b, ctx, &conn, err, sizeof err);
  signalr_builder_free(b);
  if (rc != 0) return std::string("build: ") + err;
  std::string out;
  if ((rc = signalr_connection_start_blocking(conn, 10000, nullptr)) != 0) {
    out = "start: " + std::to_string(rc);
  } else {
    void *res = nullptr;
    size_t len = 0;
    const char *a = "[\"after\"]";
    rc = signalr_connection_invoke_blocking(conn, "Echo", a, strlen(a), SIGNALR_ENCODING_JSON, 10000, &res, &len,
                                            nullptr);
    out = rc ? "invoke: " + std::to_string(rc) : std::string(static_cast<const char *>(res), len);
    signalr_free(res);
  }
  signalr_connection_free(conn);
  return out;
}

TEST(Network, FreeFromInsideADirectModeCompletion) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test", {}, SIGNALR_CONTEXT_DIRECT);
  ASSERT_EQ(c.start(), 0);
  static std::atomic<int> freed{0};
  static bool both_sent = false;
  static std::mutex mu;
  static std::condition_variable sent_cv;
  freed = 0;
  both_sent = false;
  auto free_me = [](void *, signalr_connection *conn, const signalr_value *, const signalr_error *) {
    // Runs on the I/O thread: wait until the test thread is done with the connection (it
    // could otherwise still be inside the second invoke when this frees it).
    {
      std::unique_lock<std::mutex> lk(mu);
      sent_cv.wait_for(lk, std::chrono::seconds(5), [] { return both_sent; });
    }
    signalr_connection_free(conn);
    freed++;
    callback_ran();
  };
  // Echo completes first (the server runs one invocation at a time); DelayedEcho is still
  // pending when the completion frees the connection: it completes once, closed (on the I/O
  // thread, right after the completion that freed it), and never again.
  Result pending;
  const char *slow = "[5000,\"never\"]";
  ASSERT_EQ(signalr_connection_invoke(c.conn, "Echo", "[\"x\"]", 5, SIGNALR_ENCODING_JSON, free_me, nullptr), 0);
  ASSERT_EQ(signalr_connection_invoke(c.conn, "DelayedEcho", slow, strlen(slow), SIGNALR_ENCODING_JSON, on_done,
                                      &pending), 0);
  c.conn = nullptr;
  {
    std::lock_guard<std::mutex> lk(mu);
    both_sent = true;
  }
  sent_cv.notify_all();
  ASSERT_TRUE(c.until([&] { return freed > 0 && pending.done(); }));
  EXPECT_EQ(pending.code, SIGNALR_ECLOSED);
  // Never again: a round trip of another connection on the same I/O thread completes after
  // anything the freed one could still have had queued there.
  EXPECT_EQ(round_trip_on(c.ctx), "\"after\"");
  EXPECT_EQ(freed, 1);
  EXPECT_EQ(pending.count(), 1);
}

TEST(Network, FreeFromInsideTheClosedEvent) {
  SIGNALR_NEED_SERVER();
  signalr_context *ctx;
  ASSERT_EQ(signalr_context_new(&ctx, 0), 0);
  signalr_builder *b;
  ASSERT_EQ(signalr_builder_new(&b), 0);
  signalr_builder_set(b, "url", url_of("/hubs/test").c_str(), nullptr, 0);
  signalr_builder_set(b, "transports", "websockets", nullptr, 0);
  static std::atomic<int> closed{0};
  closed = 0;
  signalr_builder_set_lifecycle(
      b,
      [](void *, signalr_connection *conn, int event, const signalr_error *) {
        if (event != SIGNALR_EVENT_CLOSED) return;
        closed++;
        signalr_connection_free(conn);
      },
      nullptr, nullptr);
  signalr_connection *conn;
  ASSERT_EQ(signalr_builder_build(b, ctx, &conn, nullptr, 0), 0);
  signalr_builder_free(b);
  ASSERT_EQ(signalr_connection_start_blocking(conn, 10000, nullptr), 0);
  // The server aborts: the closed event arrives on our thread and frees the connection.
  Result r;
  ASSERT_EQ(signalr_connection_invoke(conn, "AbortConnection", "[]", 2, SIGNALR_ENCODING_JSON, on_done, &r), 0);
  for (int i = 0; i < 100 && !closed; i++) signalr_context_poll(ctx, 50);
  for (int i = 0; i < 5; i++) signalr_context_poll(ctx, 50);
  EXPECT_EQ(closed, 1);
  EXPECT_LE(r.count(), 1);
  EXPECT_EQ(signalr_context_free(ctx), 0);
}

namespace {
struct Counted {
  std::vector<std::string> items;
  Result end;
};
void counted_item(void *ud, signalr_connection *, const signalr_value *v) {
  const char *j;
  size_t n;
  signalr_value_json(v, &j, &n);
  static_cast<Counted *>(ud)->items.emplace_back(j, n);
}
void counted_done(void *ud, signalr_connection *c, const signalr_value *v, const signalr_error *e) {
  on_done(&static_cast<Counted *>(ud)->end, c, v, e);
}
}  // namespace

TEST(Network, StopFailsEveryPendingCallExactlyOnce) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test");
  ASSERT_EQ(c.start(), 0);
  Counted stream;
  const char *sargs = "[\"network-stop\",50]";
  ASSERT_EQ(signalr_connection_stream(c.conn, "InfiniteStream", sargs, strlen(sargs), SIGNALR_ENCODING_JSON,
                                      counted_item, counted_done, &stream, nullptr), 0);
  ASSERT_TRUE(c.until([&] { return stream.items.size() >= 2; }));
  Result slow[3];
  for (auto &r : slow) {
    const char *a = "[5000,\"late\"]";
    ASSERT_EQ(signalr_connection_invoke(c.conn, "DelayedEcho", a, strlen(a), SIGNALR_ENCODING_JSON, on_done, &r), 0);
  }
  c.pump(100);
  Result stopped;
  ASSERT_EQ(signalr_connection_stop(c.conn, on_done, &stopped), 0);
  ASSERT_TRUE(c.until([&] {
    return stopped.done() && stream.end.done() && slow[0].done() && slow[1].done() && slow[2].done();
  }));
  c.pump(300);  // nothing fires a second time
  EXPECT_EQ(stopped.count(), 1);
  EXPECT_EQ(stopped.code, 0);
  EXPECT_EQ(stream.end.count(), 1);
  EXPECT_EQ(stream.end.code, SIGNALR_ECLOSED) << stream.end.message;
  for (auto &r : slow) {
    EXPECT_EQ(r.count(), 1);
    EXPECT_EQ(r.code, SIGNALR_ECLOSED) << r.message;
    EXPECT_FALSE(r.has_value);
  }
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_DISCONNECTED);
  auto ev = c.events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().event, SIGNALR_EVENT_CLOSED);
  EXPECT_EQ(ev.back().code, 0);  // stopped by the application
}

namespace {
struct Tagged {
  std::string tag;
  std::vector<std::string> *seen;
};
int tagged_handler(void *ud, signalr_connection *, const signalr_value *args, const void **, size_t *, int *,
                   const char **) {
  auto *t = static_cast<Tagged *>(ud);
  const char *j;
  size_t n;
  signalr_value_json(args, &j, &n);
  t->seen->push_back(t->tag + std::string(j, n));
  return 0;
}
}  // namespace

TEST(Network, SeveralHandlersRunInRegistrationOrder) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test");
  ASSERT_EQ(c.start(), 0);
  std::vector<std::string> seen;
  Tagged a{"A", &seen}, b{"B", &seen}, cc{"C", &seen}, two{"2", &seen}, none{"N", &seen};
  uint64_t ha, hb, hc, h2, hn;
  ASSERT_EQ(signalr_connection_on(c.conn, "callback1", tagged_handler, &a, nullptr, &ha), 0);
  ASSERT_EQ(signalr_connection_on(c.conn, "CALLBACK1", tagged_handler, &b, nullptr, &hb), 0);
  ASSERT_EQ(signalr_connection_on(c.conn, "CallBack1", tagged_handler, &cc, nullptr, &hc), 0);
  ASSERT_EQ(signalr_connection_on(c.conn, "callback2", tagged_handler, &two, nullptr, &h2), 0);
  ASSERT_EQ(signalr_connection_on(c.conn, "NOARGS", tagged_handler, &none, nullptr, &hn), 0);
  // CallbackMulti sends Callback1(v), Callback2(v, 42), NoArgs() in that order.
  c.call("CallbackMulti", "[\"v\"]");
  c.until([&] { return seen.size() >= 5; });
  EXPECT_EQ(seen, (std::vector<std::string>{"A[\"v\"]", "B[\"v\"]", "C[\"v\"]", "2[\"v\",42]", "N[]"}));

  seen.clear();
  ASSERT_EQ(signalr_connection_off(c.conn, hb), 0);
  EXPECT_EQ(signalr_connection_off(c.conn, hb), SIGNALR_EINVAL);  // already gone
  c.call("CallbackMulti", "[\"w\"]");
  c.until([&] { return seen.size() >= 4; });
  EXPECT_EQ(seen, (std::vector<std::string>{"A[\"w\"]", "C[\"w\"]", "2[\"w\",42]", "N[]"}));

  // Server calls keep their order relative to each other.
  seen.clear();
  Tagged num{"#", &seen};
  uint64_t hnum;
  ASSERT_EQ(signalr_connection_on(c.conn, "numbered", tagged_handler, &num, nullptr, &hnum), 0);
  EXPECT_EQ(c.call("SendNumbered", "[4]"), "4");
  c.until([&] { return seen.size() >= 4; });
  EXPECT_EQ(seen, (std::vector<std::string>{"#[1]", "#[2]", "#[3]", "#[4]"}));
}

TEST(Network, UnknownClientMethodIsIgnored) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test");
  ASSERT_EQ(c.start(), 0);
  c.call("CallbackWith", "[\"NoSuchClientMethod\",[1,\"two\"]]");
  c.pump(200);
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_CONNECTED);
  EXPECT_FALSE(c.has_event(SIGNALR_EVENT_CLOSED));
  EXPECT_EQ(c.call("Echo", "[\"ok\"]"), "\"ok\"");
  bool warned = false;
  for (auto &line : c.log_lines()) warned = warned || contains(line, "NoSuchClientMethod");
  EXPECT_TRUE(warned) << "no log line names the unhandled client method";
}

TEST(Network, InvokeFromInsideAHandler) {
  SIGNALR_NEED_SERVER();
  Client c("/hubs/test");
  ASSERT_EQ(c.start(), 0);
  struct State {
    Result echo;
    int invoke_rc = 1, poll_rc = 1;
    signalr_context *ctx;
  } st;
  st.ctx = c.ctx;
  auto h = [](void *ud, signalr_connection *conn, const signalr_value *args, const void **, size_t *, int *,
              const char **) -> int {
    auto *s = static_cast<State *>(ud);
    const char *j;
    size_t n;
    signalr_value_json(args, &j, &n);
    // Echo the handler's argument array's first element back through the hub.
    std::string a(j, n);
    s->invoke_rc = signalr_connection_invoke(conn, "Echo", a.data(), a.size(), SIGNALR_ENCODING_JSON, on_done, &s->echo);
    s->poll_rc = signalr_context_poll(s->ctx, 0);
    return 0;
  };
  uint64_t handle;
  ASSERT_EQ(signalr_connection_on(c.conn, "Callback", h, &st, nullptr, &handle), 0);
  c.call("Callback", "[\"ping-pong\"]");
  ASSERT_TRUE(c.until([&] { return st.echo.done(); }));
  EXPECT_EQ(st.invoke_rc, 0);
  EXPECT_EQ(st.poll_rc, SIGNALR_ERECURSIVE);
  EXPECT_EQ(st.echo.code, 0) << st.echo.message;
  EXPECT_EQ(st.echo.json, "\"ping-pong\"");
}
