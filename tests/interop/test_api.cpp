// The public C API against the real ASP.NET Core server: what the client sends besides hub
// messages, seen from the server (cookies kept by libcurl's cookie engine, the User-Agent),
// and texts from the server that must reach the application whole. The server records every
// request to /hubs/api?key=K (tests/server/ApiEndpoints.cs); the hub method Seen(K) returns
// those records.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <cjson/cJSON.h>

#include "../support/test_server.h"
#include "signalr/signalr.h"

namespace {

const char *const kTransports[] = {"websockets", "serversentevents", "longpolling"};

std::string str(const char *s) { return s ? s : ""; }

std::string unique_key(const std::string &prefix) {
  static std::atomic<int> n{0};
  std::random_device rd;
  return prefix + "-" + std::to_string(rd()) + "-" + std::to_string(n++);
}

struct Outcome {
  std::mutex mu;
  int calls = 0, code = 0;
  std::string json, message;
};

void on_done(void *ud, signalr_connection *, const signalr_value *v, const signalr_error *e) {
  auto *o = static_cast<Outcome *>(ud);
  std::lock_guard<std::mutex> l(o->mu);
  o->calls++;
  o->code = signalr_error_code(e);
  o->message = e ? str(signalr_error_message(e)) : "";
  const char *j;
  size_t n;
  if (v && signalr_value_json(v, &j, &n) == 0) o->json.assign(j, n);
}

struct Life {
  int event;
  int code;
  std::string message;
};

struct Api {
  signalr_context *ctx = nullptr;
  signalr_connection *conn = nullptr;
  std::mutex mu;
  std::vector<Life> life;
  std::function<void(int event)> on_event; // runs in the lifecycle callback (the polling thread)

  static void on_life(void *ud, signalr_connection *, int event, const signalr_error *e) {
    auto *a = static_cast<Api *>(ud);
    if (a->on_event) a->on_event(event);
    std::lock_guard<std::mutex> l(a->mu);
    a->life.push_back({event, signalr_error_code(e), e ? str(signalr_error_message(e)) : ""});
  }
  bool has(int event) {
    std::lock_guard<std::mutex> l(mu);
    for (auto &e : life)
      if (e.event == event) return true;
    return false;
  }
  Life first(int event) {
    std::lock_guard<std::mutex> l(mu);
    for (auto &e : life)
      if (e.event == event) return e;
    return Life{0, 0, ""};
  }

  Api(const std::string &path, const std::vector<std::pair<std::string, std::string>> &opts,
      const std::function<void(signalr_builder *)> &more = nullptr) {
    EXPECT_EQ(signalr_context_new(&ctx, 0), 0);
    signalr_builder *b;
    EXPECT_EQ(signalr_builder_new(&b), 0);
    char err[256] = "";
    EXPECT_EQ(signalr_builder_set(b, "url", (srtest::test_server().http + path).c_str(), err, sizeof err), 0) << err;
    for (auto &o : opts) EXPECT_EQ(signalr_builder_set(b, o.first.c_str(), o.second.c_str(), err, sizeof err), 0) << err;
    signalr_builder_set_lifecycle(b, on_life, this, nullptr);
    if (more) more(b);
    EXPECT_EQ(signalr_builder_build(b, ctx, &conn, err, sizeof err), 0) << err;
    signalr_builder_free(b);
  }
  ~Api() {
    signalr_connection_free(conn);
    EXPECT_EQ(signalr_context_free(ctx), 0);
  }
  bool until(const std::function<bool()> &pred, int timeout_ms = 10000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= end) return false;
      signalr_context_poll(ctx, 20);
    }
    return true;
  }
  void start() {
    signalr_error *e = nullptr;
    ASSERT_EQ(signalr_connection_start_blocking(conn, 10000, &e), 0) << (e ? signalr_error_message(e) : "");
  }
  void stop() { ASSERT_EQ(signalr_connection_stop_blocking(conn, 10000), 0); }
  // A call's outcome through the completion API.
  void invoke(const char *method, const std::string &args, Outcome &o) {
    ASSERT_EQ(signalr_connection_invoke(conn, method, args.data(), args.size(), SIGNALR_ENCODING_JSON, on_done, &o), 0);
    ASSERT_TRUE(until([&] {
      std::lock_guard<std::mutex> l(o.mu);
      return o.calls > 0;
    })) << method;
  }
  std::string call(const char *method, const std::string &args = "[]") {
    Outcome o;
    invoke(method, args, o);
    EXPECT_EQ(o.code, 0) << method << ": " << o.message;
    return o.json;
  }
};

// One request the server recorded.
struct Seen {
  std::string kind, cookie, ua, signalr_ua;
  bool has_cookie = false;
};

std::vector<Seen> seen(Api &a, const std::string &key) {
  std::string json = a.call("Seen", "[\"" + key + "\"]");
  std::vector<Seen> out;
  cJSON *doc = cJSON_Parse(json.c_str());
  EXPECT_TRUE(cJSON_IsArray(doc)) << json;
  const cJSON *it;
  cJSON_ArrayForEach(it, doc) {
    Seen s;
    auto field = [&](const char *k, std::string &dst) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, k);
      if (cJSON_IsString(v)) dst = v->valuestring;
      return cJSON_IsString(v);
    };
    field("Kind", s.kind);
    s.has_cookie = field("Cookie", s.cookie);
    field("UserAgent", s.ua);
    field("SignalRUserAgent", s.signalr_ua);
    out.push_back(s);
  }
  cJSON_Delete(doc);
  return out;
}

// "b=2; a=1" -> "a=1; b=2": the order among cookies of equal path length is the jar's.
std::string sorted_cookies(const std::string &header) {
  std::vector<std::string> parts;
  std::stringstream ss(header);
  std::string p;
  while (std::getline(ss, p, ';')) {
    while (!p.empty() && p[0] == ' ') p.erase(0, 1);
    if (!p.empty()) parts.push_back(p);
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (auto &x : parts) out += (out.empty() ? "" : "; ") + x;
  return out;
}

class Cookies : public ::testing::TestWithParam<const char *> {};

// The first negotiate sets ver=1 (Path=/hubs/api), keep and gone (Path=/), two the client must
// not send here (Path=/other, Domain=example.com) and a Secure one, sent over http:// only
// because the server is on a loopback address (libcurl's rule, RFC 6265bis; the WebSocket
// upgrade, whose header the library builds from the same jar, must agree). The second replaces
// ver and deletes gone with a past expires= date, as ASP.NET Core's Cookies.Delete writes it.
// Every request of the connection after that must carry exactly the live, matching cookies:
// the WebSocket upgrade, the SSE stream and its POSTs, the polls, POSTs and DELETE.
TEST_P(Cookies, OneJarAcrossNegotiateAndTransportWithExpiryPathDomainAndSecure) {
  SIGNALR_NEED_SERVER();
  const std::string transport = GetParam();
  const std::string key = unique_key("cookies-" + transport);
  Api a("/hubs/api?key=" + key, {{"transports", transport}});
  a.start();
  a.stop(); // the second round: replaced and deleted cookies
  a.start();
  std::vector<Seen> all = seen(a, key);
  a.stop();
  int negotiates = 0;
  size_t transport_requests[2] = {0, 0};
  for (const Seen &s : all) {
    SCOPED_TRACE(s.kind + " Cookie: " + s.cookie);
    if (s.kind == "negotiate") {
      negotiates++;
      if (negotiates == 1) EXPECT_FALSE(s.has_cookie); // nothing set yet
      else EXPECT_EQ(sorted_cookies(s.cookie), "gone=soon; keep=yes; sec=yes; ver=1");
      continue;
    }
    ASSERT_GE(negotiates, 1);
    ASSERT_LE(negotiates, 2);
    transport_requests[negotiates - 1]++;
    EXPECT_EQ(sorted_cookies(s.cookie), negotiates == 1 ? "gone=soon; keep=yes; sec=yes; ver=1" : "keep=yes; sec=yes; ver=2");
    // RFC 6265 5.4: the cookie with the longer path comes first.
    EXPECT_EQ(s.cookie.rfind("ver=", 0), 0u);
  }
  EXPECT_EQ(negotiates, 2);
  EXPECT_GE(transport_requests[0], 1u) << "no transport request recorded in the first round";
  EXPECT_GE(transport_requests[1], 1u) << "no transport request recorded in the second round";
  if (transport != "websockets") {
    bool sse = false, poll = false, send = false;
    for (const Seen &s : all) {
      sse |= s.kind == "sse";
      poll |= s.kind == "poll";
      send |= s.kind == "send";
    }
    EXPECT_TRUE(send) << "the hub invocation's POST was not recorded";
    EXPECT_TRUE(transport == "serversentevents" ? sse : poll);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryTransport, Cookies, ::testing::ValuesIn(kTransports));

// ===================================================================== long texts from the server

// A 5000-byte text that would show where it was cut: every 10 bytes say their offset.
std::string long_text() {
  std::string t;
  for (int i = 0; t.size() < 5000; i += 10) {
    char b[16];
    snprintf(b, sizeof b, "<%08d>", i);
    t += b;
  }
  return t;
}

bool ends_with(const std::string &s, const std::string &tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

struct Stream {
  std::mutex mu;
  int items = 0, done = 0, code = 0;
  std::string message;
};

void stream_item(void *ud, signalr_connection *, const signalr_value *) {
  auto *s = static_cast<Stream *>(ud);
  std::lock_guard<std::mutex> l(s->mu);
  s->items++;
}

void stream_done(void *ud, signalr_connection *, const signalr_value *, const signalr_error *e) {
  auto *s = static_cast<Stream *>(ud);
  std::lock_guard<std::mutex> l(s->mu);
  s->done++;
  s->code = signalr_error_code(e);
  s->message = e ? str(signalr_error_message(e)) : "";
  // a copy made in the callback keeps the whole text after it returns
  signalr_error *copy = signalr_error_copy(e);
  EXPECT_EQ(str(signalr_error_message(copy)), s->message);
  signalr_error_free(copy);
}

class LongTexts : public ::testing::TestWithParam<const char *> {};

// A hub exception of 5000 bytes reaches the application whole through every API path: the
// invoke completion, the blocking invoke's error, a call handle's error, a stream's end.
TEST_P(LongTexts, HubErrorsSurviveWholeOnEveryCallPath) {
  SIGNALR_NEED_SERVER();
  const std::string text = long_text(), args = "[\"" + text + "\"]";
  Api a("/hubs/api", {{"transports", GetParam()}});
  a.start();

  Outcome o;
  a.invoke("ThrowHubException", args, o);
  EXPECT_EQ(o.code, SIGNALR_EHUB);
  EXPECT_TRUE(ends_with(o.message, text)) << o.message.size() << " bytes: ..." << o.message.substr(o.message.size() > 60 ? o.message.size() - 60 : 0);

  signalr_error *err = nullptr;
  EXPECT_EQ(signalr_connection_invoke_blocking(a.conn, "ThrowHubException", args.data(), args.size(),
                                               SIGNALR_ENCODING_JSON, 10000, nullptr, nullptr, &err),
            SIGNALR_EHUB);
  ASSERT_NE(err, nullptr);
  EXPECT_TRUE(ends_with(str(signalr_error_message(err)), text)) << strlen(signalr_error_message(err));
  signalr_error *copy = signalr_error_copy(err);
  signalr_error_free(err);
  EXPECT_TRUE(ends_with(str(signalr_error_message(copy)), text)); // the copy outlives the original
  signalr_error_free(copy);

  signalr_call *call = nullptr;
  ASSERT_EQ(signalr_connection_invoke_call(a.conn, "ThrowHubException", args.data(), args.size(),
                                           SIGNALR_ENCODING_JSON, 0, &call), 0);
  err = nullptr;
  EXPECT_EQ(signalr_call_wait(call, 10000, nullptr, nullptr, &err), SIGNALR_EHUB);
  ASSERT_NE(err, nullptr);
  EXPECT_TRUE(ends_with(str(signalr_error_message(err)), text));
  signalr_error_free(err);
  signalr_call_free(call);

  Stream st;
  const std::string sargs = "[2,\"" + text + "\"]";
  ASSERT_EQ(signalr_connection_stream(a.conn, "StreamThenHubException", sargs.data(), sargs.size(),
                                      SIGNALR_ENCODING_JSON, stream_item, stream_done, &st, nullptr), 0);
  ASSERT_TRUE(a.until([&] {
    std::lock_guard<std::mutex> l(st.mu);
    return st.done > 0;
  }));
  EXPECT_EQ(st.items, 2);
  EXPECT_EQ(st.code, SIGNALR_EHUB);
  EXPECT_TRUE(ends_with(st.message, text)) << st.message.size();
  a.stop();
}

// A server Close with a 5000-byte error: the CLOSED event has all of it; with reconnect
// allowed, the RECONNECTING event has all of it too.
TEST_P(LongTexts, CloseErrorsSurviveWhole) {
  SIGNALR_NEED_SERVER();
  const std::string text = long_text();
  for (bool reconnect : {false, true}) {
    SCOPED_TRACE(reconnect ? "allowReconnect" : "no reconnect");
    Api a("/hubs/api", {{"transports", GetParam()}, {"reconnect", reconnect ? "true" : "false"}});
    a.start();
    EXPECT_EQ(a.call("CloseWithError", "[\"" + text + "\"," + (reconnect ? "true" : "false") + "]"), "true");
    const int want = reconnect ? SIGNALR_EVENT_RECONNECTING : SIGNALR_EVENT_CLOSED;
    Life got{};
    ASSERT_TRUE(a.until([&] {
      std::lock_guard<std::mutex> l(a.mu);
      for (auto &e : a.life)
        if (e.event == want) {
          got = e;
          return true;
        }
      return false;
    }));
    EXPECT_TRUE(ends_with(got.message, text)) << got.message.size() << " bytes";
    EXPECT_NE(got.message.find("The server closed the connection with the following error: "), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryTransport, LongTexts, ::testing::ValuesIn(kTransports));

// ===================================================================== User-Agent

class UserAgent : public ::testing::TestWithParam<const char *> {};

// Every request (negotiate, the WebSocket upgrade, the SSE stream, polls, POSTs, the DELETE)
// carries the User-Agent in the official clients' format,
//   <product>/<major.minor> (<version>; <OS>; <runtime>; <runtime version>),
// with the binding option as runtime and its version; the C library names itself and its libc.
// Like the official non-browser clients, no X-SignalR-User-Agent.
TEST_P(UserAgent, OfficialFormatOnEveryRequest) {
  SIGNALR_NEED_SERVER();
  const std::string transport = GetParam();
  const std::string version = signalr_version();
  const std::string major_minor = version.substr(0, version.rfind('.'));
  struct Case {
    const char *binding;
    std::string runtime;
  };
  for (const Case &k : {Case{"Python 3.11.2", "Python; 3\\.11\\.2"}, Case{nullptr, "C; [^;()]+"}}) {
    SCOPED_TRACE(k.binding ? k.binding : "(C)");
    const std::string key = unique_key("ua-" + transport);
    std::vector<std::pair<std::string, std::string>> opts = {{"transports", transport}};
    if (k.binding) opts.push_back({"binding", k.binding});
    Api a("/hubs/api?key=" + key, opts);
    a.start();
    std::vector<Seen> all = seen(a, key);
    a.stop();
    const std::regex want("libsignalr/" + std::regex_replace(major_minor, std::regex("\\."), "\\.") + " \\(" +
                          std::regex_replace(version, std::regex("\\."), "\\.") + "; [^;()]+ [^;()]+; " + k.runtime +
                          "\\)");
    ASSERT_GE(all.size(), 2u);
    for (const Seen &s : all) {
      EXPECT_TRUE(std::regex_match(s.ua, want)) << s.kind << ": '" << s.ua << "'";
      EXPECT_EQ(s.signalr_ua, "") << s.kind;
      EXPECT_EQ(s.ua, all[0].ua) << s.kind; // one value on every request
    }
    if (!k.binding) std::printf("User-Agent (%s): %s\n", transport.c_str(), all[0].ua.c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(EveryTransport, UserAgent, ::testing::ValuesIn(kTransports));

// ===================================================================== canceling a pending invoke

class Cancel : public ::testing::TestWithParam<const char *> {};

// signalr_call_cancel completes a pending call once, at once, with SIGNALR_ECANCELED; the
// server's answer, which comes later, is dropped. The server runs one invocation of a client
// at a time, in order (MaximumParallelInvocationsPerClient = 1), so the Echo that follows
// completes after the canceled call's late answer has arrived.
TEST_P(Cancel, CancelCompletesOnceAndTheLateResultIsDropped) {
  SIGNALR_NEED_SERVER();
  Api a("/hubs/api", {{"transports", GetParam()}});
  a.start();
  const std::string slow = "[2000,\"late\"]"; // answered 2 s later
  signalr_call *call = nullptr;
  ASSERT_EQ(signalr_connection_invoke_call(a.conn, "DelayedEcho", slow.data(), slow.size(), SIGNALR_ENCODING_JSON,
                                           0, &call), 0);
  EXPECT_EQ(signalr_call_wait(call, 0, nullptr, nullptr, nullptr), SIGNALR_EAGAIN); // pending
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(signalr_call_cancel(call), 0);
  void *res = nullptr;
  size_t len = 0;
  signalr_error *err = nullptr;
  EXPECT_EQ(signalr_call_wait(call, 5000, &res, &len, &err), SIGNALR_ECANCELED);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 1500) << "the cancel waited for the server's answer";
  EXPECT_EQ(res, nullptr);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(signalr_error_code(err), SIGNALR_ECANCELED);
  EXPECT_NE(str(signalr_error_message(err)).find("canceled"), std::string::npos) << signalr_error_message(err);
  signalr_error_free(err);
  EXPECT_EQ(signalr_call_wait(call, 0, nullptr, nullptr, nullptr), SIGNALR_ESTATE); // once
  EXPECT_EQ(signalr_call_cancel(call), 0); // again: nothing

  // after the late answer: the connection works, the canceled call stays canceled
  const std::string echo = "[\"after\"]";
  res = nullptr;
  ASSERT_EQ(signalr_connection_invoke_blocking(a.conn, "Echo", echo.data(), echo.size(), SIGNALR_ENCODING_JSON, 10000,
                                               &res, &len, nullptr), 0);
  EXPECT_EQ(std::string(static_cast<char *>(res), len), "\"after\"");
  signalr_free(res);
  EXPECT_EQ(signalr_call_wait(call, 0, nullptr, nullptr, nullptr), SIGNALR_ESTATE);
  signalr_call_free(call);

  // a call that has its outcome keeps it
  ASSERT_EQ(signalr_connection_invoke_call(a.conn, "Echo", echo.data(), echo.size(), SIGNALR_ENCODING_JSON, 0, &call),
            0);
  res = nullptr;
  while (signalr_call_wait(call, 0, nullptr, nullptr, nullptr) == SIGNALR_EAGAIN) signalr_context_poll(a.ctx, 10);
  signalr_call_free(call);
  ASSERT_EQ(signalr_connection_invoke_call(a.conn, "Echo", echo.data(), echo.size(), SIGNALR_ENCODING_JSON, 0, &call),
            0);
  // (wait first, then cancel: the outcome is there, the cancel changes nothing)
  ASSERT_EQ(signalr_call_wait(call, 10000, &res, &len, nullptr), 0);
  EXPECT_EQ(signalr_call_cancel(call), 0);
  signalr_free(res);
  signalr_call_free(call);
  a.stop();
}

// A blocking invoke that times out and a call handle freed while pending are canceled, not
// left behind: the connection goes on, and its close reports nothing for them.
TEST_P(Cancel, TimedOutAndFreedCallsAreReleased) {
  SIGNALR_NEED_SERVER();
  Api a("/hubs/api", {{"transports", GetParam()}});
  a.start();
  const std::string slow = "[600,\"late\"]";
  signalr_error *err = nullptr;
  EXPECT_EQ(signalr_connection_invoke_blocking(a.conn, "DelayedEcho", slow.data(), slow.size(), SIGNALR_ENCODING_JSON,
                                               100, nullptr, nullptr, &err),
            SIGNALR_ETIMEOUT);
  signalr_error_free(err);
  signalr_call *call = nullptr;
  ASSERT_EQ(signalr_connection_invoke_call(a.conn, "DelayedEcho", slow.data(), slow.size(), SIGNALR_ENCODING_JSON, 0,
                                           &call), 0);
  signalr_call_free(call); // pending: canceled
  const std::string echo = "[\"after\"]";
  void *res = nullptr;
  size_t len = 0;
  ASSERT_EQ(signalr_connection_invoke_blocking(a.conn, "Echo", echo.data(), echo.size(), SIGNALR_ENCODING_JSON, 10000,
                                               &res, &len, nullptr), 0);
  EXPECT_EQ(std::string(static_cast<char *>(res), len), "\"after\"");
  signalr_free(res);
  a.stop();
}

INSTANTIATE_TEST_SUITE_P(EveryTransport, Cancel, ::testing::ValuesIn(kTransports));

// ===================================================================== live settings

int32_t retry_at_once(void *, uint32_t attempt, int64_t, const signalr_error *) { return attempt <= 5 ? 0 : -1; }

class LiveSettings : public ::testing::TestWithParam<const char *> {};

// The URL changed inside the RECONNECTING callback is where the reconnect goes (the official
// clients' baseUrl). The retry policy is asked after that event, so the first attempt has it.
TEST_P(LiveSettings, UrlChangedWhileReconnectingIsWhereTheReconnectGoes) {
  SIGNALR_NEED_SERVER();
  const std::string key_a = unique_key("url-a"), key_b = unique_key("url-b");
  const std::string url_b = srtest::test_server().http + "/hubs/api?key=" + key_b;
  Api a("/hubs/api?key=" + key_a, {{"transports", GetParam()}},
        [](signalr_builder *b) { signalr_builder_set_retry_policy(b, retry_at_once, nullptr, nullptr); });
  std::atomic<int> set_rc{1};
  a.on_event = [&](int event) {
    if (event == SIGNALR_EVENT_RECONNECTING) set_rc = signalr_connection_set_url(a.conn, url_b.c_str());
  };
  EXPECT_EQ(signalr_connection_set_url(a.conn, "ftp://example.com/hub"), SIGNALR_EINVAL);
  a.start();
  EXPECT_EQ(signalr_connection_set_url(a.conn, url_b.c_str()), SIGNALR_ESTATE); // connected: not now
  EXPECT_EQ(a.call("CloseWithError", "[\"moving\",true]"), "true");
  ASSERT_TRUE(a.until([&] { return a.has(SIGNALR_EVENT_RECONNECTED) || a.has(SIGNALR_EVENT_CLOSED); }));
  ASSERT_TRUE(a.has(SIGNALR_EVENT_RECONNECTED)) << a.first(SIGNALR_EVENT_CLOSED).message;
  EXPECT_EQ(set_rc.load(), 0);
  std::vector<Seen> at_b = seen(a, key_b), at_a = seen(a, key_a);
  int negotiates_a = 0, negotiates_b = 0;
  for (auto &s : at_a) negotiates_a += s.kind == "negotiate";
  for (auto &s : at_b) negotiates_b += s.kind == "negotiate";
  EXPECT_EQ(negotiates_a, 1) << "the reconnect went to the old URL";
  EXPECT_EQ(negotiates_b, 1);
  EXPECT_GE(at_b.size(), 2u) << "no transport request at the new URL";
  a.stop();
  // disconnected: allowed again, and the next start uses it
  EXPECT_EQ(signalr_connection_set_url(a.conn, (srtest::test_server().http + "/hubs/api?key=" + key_a).c_str()), 0);
  a.start();
  at_a = seen(a, key_a);
  negotiates_a = 0;
  for (auto &s : at_a) negotiates_a += s.kind == "negotiate";
  EXPECT_EQ(negotiates_a, 2);
  a.stop();
}

// A server timeout shortened on a live connection to a hub that never pings closes it with
// SIGNALR_ETIMEOUT after the new time, not the old 30 s.
TEST_P(LiveSettings, ServerTimeoutChangedOnALiveConnection) {
  SIGNALR_NEED_SERVER();
  Api a("/hubs/silent", {{"transports", GetParam()}, {"server_timeout_ms", "30000"}});
  a.start();
  EXPECT_EQ(signalr_connection_set_timeouts(a.conn, -2, -1), SIGNALR_EINVAL);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(signalr_connection_set_timeouts(a.conn, 400, -1), 0);
  ASSERT_TRUE(a.until([&] { return a.has(SIGNALR_EVENT_CLOSED); }, 10000));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  Life closed = a.first(SIGNALR_EVENT_CLOSED);
  EXPECT_EQ(closed.code, SIGNALR_ETIMEOUT) << closed.message;
  EXPECT_NE(closed.message.find("400"), std::string::npos) << closed.message;
  EXPECT_LT(ms, 5000);
}

INSTANTIATE_TEST_SUITE_P(EveryTransport, LiveSettings, ::testing::ValuesIn(kTransports));

// The keep-alive interval turned on on a live connection keeps it alive past the server's
// client timeout (3 s on /hubs/short-timeout); turned off again, the server drops it.
TEST(LiveSettingsWs, KeepAliveChangedOnALiveConnection) {
  SIGNALR_NEED_SERVER();
  Api a("/hubs/short-timeout", {{"transports", "websockets"}, {"keep_alive_interval_ms", "0"}});
  a.start();
  ASSERT_EQ(signalr_connection_set_timeouts(a.conn, -1, 500), 0);
  a.until([] { return false; }, 4500); // longer than the server's 3 s client timeout
  EXPECT_FALSE(a.has(SIGNALR_EVENT_CLOSED)) << a.first(SIGNALR_EVENT_CLOSED).message;
  EXPECT_EQ(signalr_connection_state(a.conn), SIGNALR_STATE_CONNECTED);
  ASSERT_EQ(signalr_connection_set_timeouts(a.conn, -1, 0), 0);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(a.until([&] { return a.has(SIGNALR_EVENT_CLOSED); }, 10000)) << "the server kept a silent client";
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 6000);
}

// ===================================================================== raw connections

struct RawCase {
  const char *transport, *format;
};

class Raw : public ::testing::TestWithParam<RawCase> {};

struct Received {
  std::mutex mu;
  std::string bytes;
  int messages = 0, binary = -1;
};

void on_raw(void *ud, signalr_connection *, const uint8_t *data, size_t len, int binary) {
  auto *r = static_cast<Received *>(ud);
  std::lock_guard<std::mutex> l(r->mu);
  r->bytes.append(reinterpret_cast<const char *>(data), len);
  r->messages++;
  r->binary = binary;
}

// A raw connection (the official clients' HttpConnection) to an ASP.NET Core ConnectionHandler
// that echoes: negotiate, the transport, bytes both ways as they are, stop. One message at a
// time: each echo is awaited before the next goes.
TEST_P(Raw, EchoThroughAConnectionHandler) {
  SIGNALR_NEED_SERVER();
  const RawCase k = GetParam();
  const bool binary = std::string(k.format) == "binary";
  Received got;
  Api a("/raw/echo", {{"transports", k.transport}, {"raw", k.format}},
        [&](signalr_builder *b) { ASSERT_EQ(signalr_builder_set_raw_receive(b, on_raw, &got, nullptr), 0); });
  a.start();
  EXPECT_EQ(signalr_connection_state(a.conn), SIGNALR_STATE_CONNECTED);
  std::vector<std::string> messages = {"hello", "{\"not\":\"a hub message\"}\x1e", "caf\xc3\xa9 \xe2\x82\xac"};
  if (binary) messages.push_back(std::string("\x00\x01\xff\xfe\x1e", 5));
  messages.push_back(std::string(40000, 'x'));
  std::string expect;
  for (const std::string &m : messages) {
    expect += m;
    ASSERT_EQ(signalr_connection_send_raw(a.conn, m.data(), m.size()), 0);
    ASSERT_TRUE(a.until([&] {
      std::lock_guard<std::mutex> l(got.mu);
      return got.bytes.size() >= expect.size();
    })) << "no echo of a " << m.size() << "-byte message";
  }
  {
    std::lock_guard<std::mutex> l(got.mu);
    EXPECT_EQ(got.bytes, expect);
    EXPECT_EQ(got.binary, binary ? 1 : 0);
    EXPECT_GE(got.messages, (int)messages.size());
  }
  // no hub protocol here: hub calls are refused, and raw sends are refused on hubs
  EXPECT_EQ(signalr_connection_invoke(a.conn, "Echo", "[]", 2, SIGNALR_ENCODING_JSON, on_done, nullptr),
            SIGNALR_EUNSUPPORTED);
  a.stop();
  EXPECT_TRUE(a.until([&] { return a.has(SIGNALR_EVENT_CLOSED); }));
  EXPECT_EQ(a.first(SIGNALR_EVENT_CLOSED).code, 0) << a.first(SIGNALR_EVENT_CLOSED).message;
  EXPECT_EQ(signalr_connection_send_raw(a.conn, "x", 1), SIGNALR_ESTATE);
}

INSTANTIATE_TEST_SUITE_P(EveryTransport, Raw,
                         ::testing::Values(RawCase{"websockets", "text"}, RawCase{"websockets", "binary"},
                                           RawCase{"serversentevents", "text"}, RawCase{"longpolling", "text"},
                                           RawCase{"longpolling", "binary"}),
                         [](const ::testing::TestParamInfo<RawCase> &i) {
                           return std::string(i.param.transport) + "_" + i.param.format;
                         });

TEST(RawRefused, SendRawOnAHubConnectionIsInvalid) {
  SIGNALR_NEED_SERVER();
  Api a("/hubs/api", {});
  a.start();
  EXPECT_EQ(signalr_connection_send_raw(a.conn, "x", 1), SIGNALR_EINVAL);
  a.stop();
}

}  // namespace
