// Real network faults between the client and the real server, through the TCP fault proxy
// (tests/faults): cuts, stalls, refused connects, a server restart. Exact counts, and the
// reconnect figures printed for the record ("FIGURE ..." lines).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "../support/api_client.h"
#include "../support/http_get.h"
#include "../support/test_server.h"
#include "../support/proxied_server.h"

using srtest::ApiClient;
using srtest::CallResult;
using Clock = std::chrono::steady_clock;
using srtest::ms_since;
using srtest::port_of;
using srtest::Proxy;

class Cuts : public ::testing::TestWithParam<const char *> {};

TEST_P(Cuts, ReconnectAfterEveryCut) {
  SIGNALR_NEED_SERVER();
  Proxy proxy;
  ApiClient c(proxy.url("/hubs/test"), {{"transports", GetParam()}, {"reconnect_delays_ms", "0,50,50,50,50"}});
  c.listen("Callback");
  ASSERT_EQ(c.start().code, 0);
  const int cuts = std::string(GetParam()) == "websockets" ? 20 : 5;
  std::vector<double> took;
  for (int i = 1; i <= cuts; i++) {
    // Long Polling holds a connection only while a poll is out: let the next poll settle,
    // or the cut may fall between two polls and touch nothing.
    if (std::string(GetParam()) == "longpolling") c.poll_until([] { return false; }, 200);
    auto t0 = Clock::now();
    ASSERT_EQ(fault_proxy_cut(proxy.p), 0);
    ASSERT_TRUE(c.poll_until([&] { return c.count(SIGNALR_EVENT_RECONNECTED) == i; }, 10000)) << "cut " << i;
    took.push_back(ms_since(t0));
    ASSERT_EQ(c.count(SIGNALR_EVENT_RECONNECTING), i);
    EXPECT_EQ(c.invoke("Echo", "[\"" + std::to_string(i) + "\"]").json, "\"" + std::to_string(i) + "\"");
  }
  EXPECT_EQ(c.count(SIGNALR_EVENT_CLOSED), 0);
  // Handlers survive every reconnect.
  c.invoke("Callback", "[\"still here\"]");
  ASSERT_TRUE(c.poll_until([&] { return c.calls.size() == 1; }));
  std::sort(took.begin(), took.end());
  std::printf("FIGURE reconnect_after_cut transport=%s cuts=%d p50_ms=%.1f max_ms=%.1f\n", GetParam(), cuts,
              took[took.size() / 2], took.back());
}

INSTANTIATE_TEST_SUITE_P(Transports, Cuts, ::testing::Values("websockets", "serversentevents", "longpolling"));

TEST(Faults, PolicyDelaysAreObservedWhileTheServerRefuses) {
  SIGNALR_NEED_SERVER();
  Proxy proxy;
  struct Policy {
    std::vector<int64_t> elapsed;
    static int32_t next(void *ud, uint32_t attempt, int64_t elapsed_ms, const signalr_error *) {
      static_cast<Policy *>(ud)->elapsed.push_back(elapsed_ms);
      return attempt <= 10 ? 200 : -1;
    }
  } policy;
  ApiClient c(proxy.url("/hubs/test"), {{"transports", "websockets"}}, [&](signalr_builder *b) {
    signalr_builder_set_retry_policy(b, Policy::next, &policy, nullptr);
  });
  ASSERT_EQ(c.start().code, 0);
  ASSERT_EQ(fault_proxy_refuse(proxy.p, 700), 0);
  auto t0 = Clock::now();
  ASSERT_EQ(fault_proxy_cut(proxy.p), 0);
  ASSERT_TRUE(c.poll_until([&] { return c.count(SIGNALR_EVENT_RECONNECTED) == 1; }, 10000));
  double took = ms_since(t0);
  // Refused for 700 ms with 200 ms between attempts: 4 or 5 policy calls, spaced >= 200 ms.
  ASSERT_GE(policy.elapsed.size(), 4u);
  ASSERT_LE(policy.elapsed.size(), 6u);
  for (size_t i = 1; i < policy.elapsed.size(); i++) EXPECT_GE(policy.elapsed[i] - policy.elapsed[i - 1], 200);
  // never before the refusal ends; how much later is a figure (poll_until bounds it)
  std::printf("FIGURE reconnect_after_700ms_refusal_ms=%.0f\n", took);
  EXPECT_GE(took, 700);
}

TEST(Faults, StallIsDetectedByTheServerTimeoutAfterTheSlowWarning) {
  SIGNALR_NEED_SERVER();
  Proxy proxy;
  // The server pings every 1 s (up to 2 s apart: its keep-alive timer ticks once a second);
  // the client warns after 3 s of silence and gives up after 4.5 s.
  ApiClient c(proxy.url("/hubs/short-timeout"),
              {{"transports", "websockets"}, {"server_timeout_ms", "4500"}, {"keep_alive_interval_ms", "1000"}});
  ASSERT_EQ(c.start().code, 0);
  // The pings keep it healthy: four of the server's pings cross the proxy (13 bytes each: a
  // WebSocket frame of {"type":6}\x1e; nothing else goes to an idle client), a span longer
  // than the 3 s of silence that would warn, and no SLOW. Real time is what is under test.
  const uint64_t ping_frame = 13, base = fault_proxy_bytes(proxy.p, FAULT_TO_CLIENT);
  auto healthy_from = Clock::now();
  ASSERT_TRUE(c.poll_until([&] {
    return fault_proxy_bytes(proxy.p, FAULT_TO_CLIENT) >= base + 4 * ping_frame && ms_since(healthy_from) > 3500;
  }, 10000)) << "the server's pings did not come through";
  EXPECT_EQ(c.count(SIGNALR_EVENT_SLOW), 0);
  ASSERT_EQ(fault_proxy_stall(proxy.p, 1), 0);
  auto t0 = Clock::now();
  ASSERT_TRUE(c.poll_until([&] { return c.count(SIGNALR_EVENT_CLOSED) == 1; }, 10000));
  double took = ms_since(t0);
  fault_proxy_stall(proxy.p, 0);
  ASSERT_EQ(c.lifecycle.size(), 3u);  // connected, slow, closed
  EXPECT_EQ(c.lifecycle[1].event, SIGNALR_EVENT_SLOW);
  EXPECT_EQ(c.lifecycle[2].code, SIGNALR_ETIMEOUT);
  // at most one ping gap (2 s) had passed before the stall; how late is a figure (poll_until
  // bounds it; a loaded machine delays any thread)
  std::printf("FIGURE stall_to_closed_ms=%.0f (server_timeout 4500)\n", took);
  EXPECT_GE(took, 2500);
}

TEST(Faults, FirstStartRetriesUntilTheServerAnswers) {
  SIGNALR_NEED_SERVER();
  Proxy proxy;
  ASSERT_EQ(fault_proxy_refuse(proxy.p, 1200), 0);
  auto t0 = Clock::now();
  ApiClient c(proxy.url("/hubs/test"), {{"reconnect_delays_ms", "0,300,300,300,300,300,300,300"},
                                        {"reconnect_on_start", "true"}});
  CallResult r = c.start();
  EXPECT_EQ(r.code, 0) << r.message;
  EXPECT_GE(ms_since(t0), 1200);
  EXPECT_EQ(c.invoke("Echo", "[\"up\"]").json, "\"up\"");
  EXPECT_EQ(c.count(SIGNALR_EVENT_RECONNECTING), 0);  // a start is not a reconnect
}

class Stateful : public ::testing::TestWithParam<const char *> {};

TEST_P(Stateful, DeliversEverythingExactlyOnceAcrossCuts) {
  SIGNALR_NEED_SERVER();
  Proxy proxy;
  ApiClient c(proxy.url("/hubs/stateful"),
              {{"transports", "websockets"}, {"stateful_reconnect", "true"}, {"protocol", GetParam()}});
  c.listen("Numbered");
  ASSERT_EQ(c.start().code, 0);
  const int n = 300, cuts = 6;
  const std::string key = std::string("exactly-once-") + GetParam();
  c.invoke("ClearRecord", "[\"" + key + "\"]");
  CallResult numbered;
  std::string a = "[" + std::to_string(n) + "]";
  ASSERT_EQ(signalr_connection_invoke(c.conn, "SendNumbered", a.data(), a.size(), SIGNALR_ENCODING_JSON,
                                      srtest::record_result, &numbered), 0);
  for (int i = 1; i <= n; i++) {
    std::string args = "[\"" + key + "\"," + std::to_string(i) + "]";
    int rc;
    while ((rc = signalr_connection_send(c.conn, "Record", args.data(), args.size(), SIGNALR_ENCODING_JSON)) ==
           SIGNALR_EAGAIN)
      signalr_context_poll(c.ctx, 5);
    ASSERT_EQ(rc, 0);
    if (i % (n / cuts) == 0) {
      // Cut, then go on only once the socket has been re-dialed: every cut is a real one.
      uint64_t accepted = fault_proxy_connections_accepted(proxy.p);
      fault_proxy_cut(proxy.p);
      ASSERT_TRUE(c.poll_until([&] { return fault_proxy_connections_accepted(proxy.p) > accepted; }, 5000));
    }
  }
  ASSERT_TRUE(c.poll_until([&] { return numbered.done && (int)c.calls.size() >= n; }, 30000));
  EXPECT_EQ(numbered.code, 0) << numbered.message;
  // Server to client: each number once, in order.
  ASSERT_EQ((int)c.calls.size(), n);
  for (int i = 0; i < n; i++) ASSERT_EQ(c.calls[i].second, "[" + std::to_string(i + 1) + "]") << i;
  // Client to server: the same.
  CallResult rec = c.invoke("GetRecorded", "[\"" + key + "\"]");
  std::string want = "[";
  for (int i = 1; i <= n; i++) want += (i > 1 ? "," : "") + std::to_string(i);
  want += "]";
  EXPECT_EQ(rec.json, want);
  EXPECT_EQ(c.count(SIGNALR_EVENT_RECONNECTING), 0);
  EXPECT_EQ(c.count(SIGNALR_EVENT_CLOSED), 0) << "closed: " << (c.lifecycle.empty() ? "" : c.lifecycle.back().message);
  // One socket per cut, plus any re-dial the server refused while it still held the old one.
  EXPECT_GE(fault_proxy_connections_accepted(proxy.p), (uint64_t)cuts + 1);
  EXPECT_LE(fault_proxy_connections_accepted(proxy.p), (uint64_t)(cuts + 1) * 2);
  std::printf("FIGURE stateful_exactly_once protocol=%s messages_each_way=%d cuts=%d lost=0 duplicated=0\n",
              GetParam(), n, cuts);
}

INSTANTIATE_TEST_SUITE_P(Protocols, Stateful, ::testing::Values("json", "messagepack"));

TEST(Faults, ADeferredClientResultIsNotSentOnTheNextConnection) {
  SIGNALR_NEED_SERVER();
  Proxy proxy;
  struct Seen {
    std::vector<uint64_t> tickets;
    std::vector<std::string> logs;
  } seen;
  ApiClient c(proxy.url("/hubs/test"), {{"transports", "websockets"}, {"reconnect_delays_ms", "0,50"},
                                        {"log_level", "warning"}},
              [&](signalr_builder *b) {
                signalr_builder_set_log(b, [](void *ud, int, const char *m) {
                  static_cast<Seen *>(ud)->logs.emplace_back(m);
                }, &seen, nullptr);
              });
  auto defer = [](void *ud, signalr_connection *conn, const signalr_value *, const void **, size_t *, int *,
                  const char **) -> int {
    uint64_t t;
    if (signalr_connection_defer_result(conn, &t) == 0) static_cast<Seen *>(ud)->tickets.push_back(t);
    return 0;
  };
  ASSERT_EQ(signalr_connection_on(c.conn, "Later", defer, &seen, nullptr, nullptr), 0);
  ASSERT_EQ(c.start().code, 0);
  CallResult old_call;
  const char *args = "[\"Later\"]";
  ASSERT_EQ(signalr_connection_invoke(c.conn, "GetClientResultNoArgs", args, strlen(args), SIGNALR_ENCODING_JSON,
                                      srtest::record_result, &old_call), 0);
  ASSERT_TRUE(c.poll_until([&] { return seen.tickets.size() == 1; }));
  ASSERT_EQ(fault_proxy_cut(proxy.p), 0);
  ASSERT_TRUE(c.poll_until([&] { return c.count(SIGNALR_EVENT_RECONNECTED) == 1 && old_call.done; }));
  EXPECT_EQ(old_call.code, SIGNALR_ECLOSED);
  // The server that asked is gone: the answer is dropped, with a warning, not sent to the new one.
  EXPECT_EQ(signalr_connection_answer_result(c.conn, seen.tickets[0], "1", 1, SIGNALR_ENCODING_JSON, nullptr), 0);
  auto dropped = [&] {
    for (auto &l : seen.logs)
      if (l.find("dropped the answer") != std::string::npos) return true;
    return false;
  };
  ASSERT_TRUE(c.poll_until(dropped)) << "no warning";
  // The new connection's own deferred calls are answered as usual.
  CallResult new_call;
  ASSERT_EQ(signalr_connection_invoke(c.conn, "GetClientResultNoArgs", args, strlen(args), SIGNALR_ENCODING_JSON,
                                      srtest::record_result, &new_call), 0);
  ASSERT_TRUE(c.poll_until([&] { return seen.tickets.size() == 2; }));
  EXPECT_EQ(signalr_connection_answer_result(c.conn, seen.tickets[1], "2", 1, SIGNALR_ENCODING_JSON, nullptr), 0);
  ASSERT_TRUE(c.poll_until([&] { return new_call.done; }));
  EXPECT_EQ(new_call.json, "2");
}

TEST(Faults, ServerRestartOnTheSamePortIsSurvived) {
  SIGNALR_NEED_SERVER();
  // A private server, so restarting it does not disturb the other tests.
  std::string state = testing::TempDir() + "restart-state.json";
  std::string start = std::string(SIGNALR_PYTHON) + " " + SIGNALR_HARNESS + " start --build-dir " +
                      SIGNALR_SERVER_BIN + " --state " + state + " --log " + testing::TempDir() + "restart.log" +
                      // The server's watchdog must follow this process: by default it follows the
                      // harness's parent, the shell of std::system, which exits at once.
                      " --parent-pid " + std::to_string(getpid());
  ASSERT_EQ(std::system(start.c_str()), 0);
  std::string http;
  {
    FILE *f = std::fopen(state.c_str(), "r");
    ASSERT_NE(f, nullptr);
    char buf[4096];
    size_t len = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[len] = 0;
    std::string s(buf);
    size_t at = s.find("\"http\": \"");
    if (at == std::string::npos) at = s.find("\"http\":\"");
    ASSERT_NE(at, std::string::npos) << s;
    at = s.find("http://", at);
    http = s.substr(at, s.find('"', at) - at);
  }
  std::string stop = std::string(SIGNALR_PYTHON) + " " + SIGNALR_HARNESS + " stop --state " + state;
  std::string again = start + " --port " + std::to_string(port_of(http));
  {
    ApiClient c(http + "/hubs/test", {{"transports", "websockets"},
                                      {"reconnect_delays_ms", "0,250,250,250,250,250,250,250,250,250,250,250,"
                                                              "250,250,250,250,250,250,250,250,250,250,250,250,"
                                                              "500,500,500,500,500,500,500,500,500,500,500,500"}});
    // A freshly started server can answer its very first requests before its routes are all
    // in place (seen once as a 404 on negotiate): give it a few tries.
    CallResult first;
    for (int i = 0; i < 10 && (first = c.start()).code != 0; i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_EQ(first.code, 0) << first.message;
    std::string before = c.id();
    ASSERT_EQ(std::system(stop.c_str()), 0);
    // A dying Kestrel may still accept one last reconnect before it is gone: wait until the
    // client is reconnecting against a server that is really down.
    ASSERT_TRUE(c.poll_until([&] { return signalr_connection_state(c.conn) == SIGNALR_STATE_RECONNECTING &&
                                          srtest::http_get(http, "/health", 500).status == 0; }, 10000));
    // The dying server may also have taken a reconnect before it went: only a reconnect after
    // this point counts. Wait for both the state and the event: the state flips on the I/O
    // thread before the queued event reaches this thread.
    c.poll_until([] { return false; }, 100); /* drain what is queued */
    int reconnects_before = c.count(SIGNALR_EVENT_RECONNECTED);
    ASSERT_EQ(std::system(again.c_str()), 0);
    ASSERT_TRUE(c.poll_until([&] { return c.count(SIGNALR_EVENT_RECONNECTED) > reconnects_before &&
                                          signalr_connection_state(c.conn) == SIGNALR_STATE_CONNECTED; }, 30000));
    EXPECT_EQ(c.count(SIGNALR_EVENT_CLOSED), 0);
    EXPECT_NE(c.id(), before);
    CallResult echo = c.invoke("Echo", "[\"restarted\"]");
    EXPECT_EQ(echo.json, "\"restarted\"") << echo.message;
  }
  std::system(stop.c_str());
}
