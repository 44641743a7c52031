// The runtime's transports against the real ASP.NET Core SignalR server (tests/server):
// negotiate over sr_http, the raw SignalR exchange over sr_ws, and every failure mapping.

#include "../support/runtime_helpers.h"
#include "../support/test_server.h"
#include <gtest/gtest.h>

#include <cjson/cJSON.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <algorithm>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/loop.h"
#include "signalr/signalr.h"
#include "transport/http.h"
#include "transport/ws.h"

namespace {

using namespace srtest::rt;

// ------------------------------------------------------------------ server state (fixture)

// The server's state file is read by tests/support/test_server.h.
using Server = srtest::TestServer;
const Server& server() { return srtest::test_server(); }
bool require_server() { return srtest::server_required(); }

std::string to_ws(const std::string& url) {
  if (url.rfind("https://", 0) == 0) return "wss://" + url.substr(8);
  if (url.rfind("http://", 0) == 0) return "ws://" + url.substr(7);
  return url;
}

// A listening socket that never accepts nor answers: connects hang in the handshake.
struct BlackHole {
  int fd = -1;
  int port = 0;
  BlackHole() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd, 16);
    socklen_t l = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
    port = ntohs(a.sin_port);
  }
  ~BlackHole() { close(fd); }
};

// ------------------------------------------------------------------ WebSocket client

struct Ws {
  sr_loop* loop;
  sr_ws* ws = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  bool opened = false, closed = false;
  int close_calls = 0;
  sr_ws_close_info info{};
  std::string reason;
  std::string stream;                // every byte received
  std::vector<std::string> records;  // split at 0x1e
  std::vector<size_t> message_sizes;
  bool handshake_on_open = false;
  std::string handshake = "{\"protocol\":\"json\",\"version\":1}\x1e";
  int send_rc_on_open = 1;

  explicit Ws(sr_loop* l) : loop(l) {}
  ~Ws() {
    if (ws) run_sync(loop, [&] { sr_ws_free(ws); });
  }

  static void on_open(void* ud) {
    auto* w = static_cast<Ws*>(ud);
    if (w->handshake_on_open)
      w->send_rc_on_open = sr_ws_send(w->ws, reinterpret_cast<const uint8_t*>(w->handshake.data()), w->handshake.size(), 0);
    std::lock_guard<std::mutex> lk(w->mu);
    w->opened = true;
    w->cv.notify_all();
  }
  static void on_message(void* ud, const uint8_t* d, size_t n) {
    auto* w = static_cast<Ws*>(ud);
    std::lock_guard<std::mutex> lk(w->mu);
    w->message_sizes.push_back(n);
    w->stream.append(reinterpret_cast<const char*>(d), n);
    size_t pos;
    while ((pos = w->stream.find('\x1e')) != std::string::npos) {
      w->records.push_back(w->stream.substr(0, pos));
      w->stream.erase(0, pos + 1);
    }
    w->cv.notify_all();
  }
  static void on_close(void* ud, const sr_ws_close_info* i) {
    auto* w = static_cast<Ws*>(ud);
    std::lock_guard<std::mutex> lk(w->mu);
    w->close_calls++;
    w->closed = true;
    w->info = *i;
    w->reason = i->reason ? i->reason : "(null)";
    w->info.reason = nullptr;
    w->cv.notify_all();
  }

  // `then` runs on the I/O thread in the same loop turn as sr_ws_connect (before any I/O).
  std::function<void()> then;
  int connect(const std::string& url, std::vector<std::string> headers = {}, const std::string& ca_file = {},
              int insecure = 0, int32_t timeout_ms = 10000, size_t max_msg = 0, size_t max_queue = 0) {
    int rc = -999;
    std::vector<const char*> hv;
    for (auto& h : headers) hv.push_back(h.c_str());
    hv.push_back(nullptr);
    run_sync(loop, [&] {
      sr_ws_config cfg{};
      cfg.url = url.c_str();
      cfg.net.headers = hv.data();
      cfg.net.ca_file = ca_file.empty() ? nullptr : ca_file.c_str();
      cfg.net.insecure = insecure;
      cfg.net.connect_timeout_ms = timeout_ms;
      cfg.max_message_size = max_msg;
      cfg.max_send_queue = max_queue;
      sr_ws_callbacks cb{on_open, on_message, on_close};
      rc = sr_ws_connect(loop, &cfg, &cb, this, &ws);
      if (rc == 0 && then) then();
    });
    return rc;
  }
  bool wait_open_or_close(int ms = 15000) {
    return wait_until(mu, cv, [&] { return opened || closed; }, ms);
  }
  bool wait_closed(int ms = 15000) {
    return wait_until(mu, cv, [&] { return closed; }, ms);
  }
  bool wait_records(size_t n, int ms = 15000) {
    return wait_until(mu, cv, [&] { return records.size() >= n || closed; }, ms) && records.size() >= n;
  }
  int send(const std::string& s) {
    int rc = -999;
    run_sync(loop, [&] { rc = sr_ws_send(ws, reinterpret_cast<const uint8_t*>(s.data()), s.size(), 0); });
    return rc;
  }
  void close(int code = 1000) {
    run_sync(loop, [&] { sr_ws_close(ws, code); });
  }
  // The record answering invocation `id` (type 3), waiting for it.
  std::string completion(const std::string& id, int ms = 15000) {
    std::string found;
    wait_until(
        mu, cv,
        [&] {
          for (auto& r : records) {
            cJSON* d = cJSON_Parse(r.c_str());
            const cJSON* t = cJSON_GetObjectItemCaseSensitive(d, "type");
            const cJSON* iid = cJSON_GetObjectItemCaseSensitive(d, "invocationId");
            bool hit = cJSON_IsNumber(t) && t->valueint == 3 && cJSON_IsString(iid) && id == iid->valuestring;
            cJSON_Delete(d);
            if (hit) {
              found = r;
              return true;
            }
          }
          return closed;
        },
        ms);
    return found;
  }
};

// ------------------------------------------------------------------ fixture

class Transport : public ::testing::Test {
 protected:
  sr_loop* loop = nullptr;
  void SetUp() override {
    const Server& s = server();
    if (!s.skipped.empty()) {
      std::fprintf(stderr, "\n*** SKIPPING interop tests: %s ***\n", s.skipped.c_str());
      if (require_server()) FAIL() << "SignalR test server was skipped (" << s.skipped << ") but SIGNALR_REQUIRE_SERVER=1";
      GTEST_SKIP() << "*** SKIPPING interop tests: " << s.skipped << " ***";
    }
    ASSERT_TRUE(s.ok()) << s.error;
    ASSERT_EQ(sr_loop_new(&loop), 0);
  }
  void TearDown() override {
    if (loop) sr_loop_free(loop);
  }
  const std::string& base() const { return server().http; }

  // POST negotiate, returns the connection token.
  std::string negotiate(const std::string& hub, const std::string& root = {}, const std::string& ca = {}) {
    HttpResult r = http(loop, "POST", (root.empty() ? base() : root) + hub + "/negotiate?negotiateVersion=1", {}, ca);
    EXPECT_EQ(r.error_code, 0) << r.error_text;
    EXPECT_EQ(r.status, 200) << r.body;
    std::string token = json_str(r.body, "connectionToken");
    EXPECT_FALSE(token.empty()) << r.body;
    return token;
  }
};

// ------------------------------------------------------------------ tests

TEST_F(Transport, NegotiateOverHttp) {
  HttpResult r = http(loop, "POST", base() + "/hubs/test/negotiate?negotiateVersion=1");
  ASSERT_EQ(r.error_code, 0) << r.error_text;
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.content_type.find("application/json"), std::string::npos) << r.content_type;
  cJSON* d = cJSON_Parse(r.body.c_str());
  ASSERT_NE(d, nullptr) << r.body;
  EXPECT_EQ(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(d, "negotiateVersion")), 1.0);
  EXPECT_TRUE(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(d, "availableTransports")));
  cJSON_Delete(d);
}

TEST_F(Transport, RawSignalRExchangeOverWebSocket) {
  std::string token = negotiate("/hubs/test");
  Ws w(loop);
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/test?id=" + token), 0);
  ASSERT_TRUE(w.wait_open_or_close());
  ASSERT_TRUE(w.opened) << "closed: " << w.info.error << " " << w.reason;
  ASSERT_EQ(w.send("{\"protocol\":\"json\",\"version\":1}\x1e"), 0);
  ASSERT_TRUE(w.wait_records(1));
  EXPECT_EQ(w.records[0], "{}");
  ASSERT_EQ(w.send(invocation("1", "Echo", "[\"h\xc3\xa9\"]")), 0);
  std::string c = w.completion("1");
  ASSERT_FALSE(c.empty()) << "no completion; closed=" << w.closed << " " << w.reason;
  EXPECT_EQ(result_string(c), "h\xc3\xa9");

  w.close(1000);
  ASSERT_TRUE(w.wait_closed());
  EXPECT_EQ(w.info.error, 0) << w.reason;
  EXPECT_EQ(w.info.close_code, 1000);
  EXPECT_EQ(w.info.opened, 1);
  EXPECT_EQ(w.close_calls, 1);
}

TEST_F(Transport, SendBeforeOpenIsRefusedAndHandshakeFromOnOpen) {
  std::string token = negotiate("/hubs/test");
  Ws w(loop);
  w.handshake_on_open = true;
  int early = 0;
  w.then = [&] { early = sr_ws_send(w.ws, reinterpret_cast<const uint8_t*>("x"), 1, 0); };
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/test?id=" + token), 0);
  EXPECT_EQ(early, SIGNALR_ESTATE);
  ASSERT_TRUE(w.wait_records(1));
  EXPECT_EQ(w.send_rc_on_open, 0);
  EXPECT_EQ(w.records[0], "{}");
}

TEST_F(Transport, UnknownIdUpgradeIs404) {
  Ws w(loop);
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/test?id=does-not-exist"), 0);
  ASSERT_TRUE(w.wait_closed());
  EXPECT_FALSE(w.opened);
  EXPECT_EQ(w.info.error, SIGNALR_ENOTFOUND) << w.reason;
  EXPECT_EQ(w.info.http_status, 404);
  EXPECT_EQ(w.info.opened, 0);
  EXPECT_NE(w.reason.find("404"), std::string::npos) << w.reason;
}

TEST_F(Transport, WebSocketsRejectedWith503) {
  std::string token = negotiate("/hubs/ws-rejected");
  Ws w(loop);
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/ws-rejected?id=" + token), 0);
  ASSERT_TRUE(w.wait_closed());
  EXPECT_EQ(w.info.error, SIGNALR_EHTTP) << w.reason;
  EXPECT_EQ(w.info.http_status, 503);
}

TEST_F(Transport, NoWebSocketsEndpointIs404) {
  std::string token = negotiate("/hubs/no-websockets");
  Ws w(loop);
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/no-websockets?id=" + token), 0);
  ASSERT_TRUE(w.wait_closed());
  EXPECT_EQ(w.info.error, SIGNALR_ENOTFOUND) << w.reason;
  EXPECT_EQ(w.info.http_status, 404);
}

TEST_F(Transport, AuthHubWithoutTokenIs401) {
  Ws w(loop);
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/auth"), 0);
  ASSERT_TRUE(w.wait_closed());
  EXPECT_EQ(w.info.error, SIGNALR_EAUTH) << w.reason;
  EXPECT_EQ(w.info.http_status, 401);
}

TEST_F(Transport, ConnectionRefused) {
  int port = closed_port();
  Ws w(loop);
  ASSERT_EQ(w.connect("ws://127.0.0.1:" + std::to_string(port) + "/hubs/test"), 0);
  ASSERT_TRUE(w.wait_closed());
  EXPECT_EQ(w.info.error, SIGNALR_ECONNREFUSED) << w.reason;
  EXPECT_EQ(w.info.http_status, 0);

  HttpResult r = http(loop, "POST", "http://127.0.0.1:" + std::to_string(port) + "/hubs/test/negotiate");
  EXPECT_EQ(r.error_code, SIGNALR_ECONNREFUSED) << r.error_text;
  EXPECT_EQ(r.status, 0);
}

TEST_F(Transport, ConnectTimeout) {
  BlackHole hole;
  Ws w(loop);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(w.connect("ws://127.0.0.1:" + std::to_string(hole.port) + "/x", {}, {}, 0, 300), 0);
  ASSERT_TRUE(w.wait_closed());
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(w.info.error, SIGNALR_ETIMEOUT) << w.reason;
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 5000);

  HttpResult r = http(loop, "GET", "http://127.0.0.1:" + std::to_string(hole.port) + "/x", {}, {}, 300);
  EXPECT_EQ(r.error_code, SIGNALR_ETIMEOUT) << r.error_text;
}

TEST_F(Transport, WssWithServerCertificateAsCa) {
  const Server& s = server();
  ASSERT_FALSE(s.https.empty());
  std::string token = negotiate("/hubs/test", s.https, s.cert);
  Ws w(loop);
  w.handshake_on_open = true;
  ASSERT_EQ(w.connect(to_ws(s.https) + "/hubs/test?id=" + token, {}, s.cert), 0);
  ASSERT_TRUE(w.wait_records(1)) << w.info.error << " " << w.reason;
  EXPECT_EQ(w.records[0], "{}");
  ASSERT_EQ(w.send(invocation("7", "GetTransport", "[]")), 0);
  EXPECT_EQ(result_string(w.completion("7")), "WebSockets");
  w.close();
  ASSERT_TRUE(w.wait_closed());
  EXPECT_EQ(w.info.error, 0) << w.reason;
}

TEST_F(Transport, WssWithoutTheCaFailsVerification) {
  const Server& s = server();
  Ws w(loop);
  ASSERT_EQ(w.connect(to_ws(s.https) + "/hubs/test"), 0);  // system store: self-signed is unknown
  ASSERT_TRUE(w.wait_closed());
  EXPECT_FALSE(w.opened);
  EXPECT_EQ(w.info.error, SIGNALR_ETLS) << w.reason;

  HttpResult r = http(loop, "POST", s.https + "/hubs/test/negotiate?negotiateVersion=1");
  EXPECT_EQ(r.error_code, SIGNALR_ETLS) << r.error_text;
}

TEST_F(Transport, WssInsecureSkipsVerification) {
  const Server& s = server();
  Ws w(loop);
  w.handshake_on_open = true;
  std::string token = negotiate("/hubs/test", s.https, s.cert);
  ASSERT_EQ(w.connect(to_ws(s.https) + "/hubs/test?id=" + token, {}, {}, /*insecure=*/1), 0);
  ASSERT_TRUE(w.wait_records(1)) << w.info.error << " " << w.reason;
  EXPECT_EQ(w.records[0], "{}");
}

TEST_F(Transport, CustomHeadersAndUserAgentReachTheServer) {
  std::string token = negotiate("/hubs/test");
  Ws w(loop);
  w.handshake_on_open = true;
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/test?id=" + token, {"X-Custom-Test: hello 42", "Cookie: a=b; c=d"}), 0);
  ASSERT_TRUE(w.wait_records(1)) << w.reason;
  ASSERT_EQ(w.send(invocation("1", "GetHeader", "[\"X-Custom-Test\"]")), 0);
  EXPECT_EQ(result_string(w.completion("1")), "hello 42");
  ASSERT_EQ(w.send(invocation("2", "GetHeader", "[\"User-Agent\"]")), 0);
  std::string ua = result_string(w.completion("2"));
  EXPECT_EQ(ua.rfind("libsignalr/", 0), 0u) << ua;
  EXPECT_EQ(ua, sr_user_agent());
  ASSERT_EQ(w.send(invocation("3", "GetCookie", "[\"c\"]")), 0);
  EXPECT_EQ(result_string(w.completion("3")), "d");
}

TEST_F(Transport, HttpSendsUserAgentAndCustomHeaders) {
  // /hubs/auth accepts the token from the Authorization header we pass
  HttpResult t = http(loop, "GET", base() + "/token?user=alice");
  ASSERT_EQ(t.status, 200) << t.error_text;
  HttpResult ok = http(loop, "POST", base() + "/hubs/auth/negotiate?negotiateVersion=1", {"Authorization: Bearer " + t.body});
  EXPECT_EQ(ok.status, 200) << ok.body;
  HttpResult no = http(loop, "POST", base() + "/hubs/auth/negotiate?negotiateVersion=1");
  EXPECT_EQ(no.status, 401);
  EXPECT_EQ(no.error_code, 0);
  EXPECT_EQ(sr_http_status_error(no.status), SIGNALR_EAUTH);
}

TEST_F(Transport, HttpErrorStatusesAreResponsesNotErrors) {
  HttpResult r404 = http(loop, "POST", base() + "/does-not-exist/negotiate?negotiateVersion=1");
  EXPECT_EQ(r404.status, 404);
  EXPECT_EQ(r404.error_code, 0);
  EXPECT_EQ(sr_http_status_error(404), SIGNALR_ENOTFOUND);
  EXPECT_EQ(http(loop, "GET", base() + "/hubs/test/negotiate").status, 405);
  EXPECT_EQ(http(loop, "POST", base() + "/status/503/negotiate").status, 503);
  EXPECT_EQ(sr_http_status_error(503), SIGNALR_EHTTP);
}

TEST_F(Transport, Redirect307IsReportedNotFollowed) {
  HttpResult r = http(loop, "POST", base() + "/https-redirect/hubs/test/negotiate?negotiateVersion=1");
  EXPECT_EQ(r.error_code, 0) << r.error_text;
  EXPECT_EQ(r.status, 307);
  EXPECT_EQ(r.location, server().https + "/hubs/test/negotiate?negotiateVersion=1");
  EXPECT_EQ(sr_http_status_error(307), SIGNALR_EREDIRECT);
}

TEST_F(Transport, HugeAuthorizationHeaderGets431) {
  std::string big = "Authorization: Bearer " + std::string(65536, 'a');
  HttpResult r = http(loop, "POST", base() + "/hubs/test/negotiate?negotiateVersion=1", {big});
  EXPECT_EQ(r.error_code, 0) << r.error_text;
  EXPECT_EQ(r.status, 431);

  Ws w(loop);
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/test", {big}), 0);
  ASSERT_TRUE(w.wait_closed());
  EXPECT_EQ(w.info.http_status, 431) << w.info.error << " " << w.reason;
  EXPECT_EQ(w.info.error, SIGNALR_EHTTP);
}

TEST_F(Transport, NegotiateCookiesAreReported) {
  HttpResult r = http(loop, "POST", base() + "/hubs/cookie/negotiate?negotiateVersion=1");
  ASSERT_EQ(r.status, 200);
  bool found = false;
  for (auto& c : r.cookies) found |= c.rfind("testCookie=negotiate-cookie", 0) == 0;
  EXPECT_TRUE(found) << r.cookies.size();
  EXPECT_GE(r.cookies.size(), 2u);
}

TEST_F(Transport, ResponseBodyLimit) {
  HttpResult r = http(loop, "POST", base() + "/hubs/test/negotiate?negotiateVersion=1", {}, {}, 20000, 16);
  EXPECT_EQ(r.error_code, SIGNALR_ETOOBIG) << r.error_text;
}

TEST_F(Transport, LargeMessagesAreReassembled) {
  std::string token = negotiate("/hubs/test");
  Ws w(loop);
  w.handshake_on_open = true;
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/test?id=" + token), 0);
  ASSERT_TRUE(w.wait_records(1));
  ASSERT_EQ(w.send(invocation("1", "LargeMessage", "[300000]")), 0);
  std::string c = w.completion("1");
  ASSERT_FALSE(c.empty()) << w.reason;
  EXPECT_EQ(result_string(c).size(), 300000u);
  size_t biggest = 0;
  {
    std::lock_guard<std::mutex> lk(w.mu);
    for (size_t n : w.message_sizes) biggest = std::max(biggest, n);
  }
  EXPECT_GT(biggest, 300000u) << "the completion arrives as one whole WebSocket message";
}

TEST_F(Transport, OversizedMessageFailsWithTooBig) {
  std::string token = negotiate("/hubs/test");
  Ws w(loop);
  w.handshake_on_open = true;
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/test?id=" + token, {}, {}, 0, 10000, /*max_msg=*/4096), 0);
  ASSERT_TRUE(w.wait_records(1));
  ASSERT_EQ(w.send(invocation("1", "LargeMessage", "[100000]")), 0);
  ASSERT_TRUE(w.wait_closed());
  EXPECT_EQ(w.info.error, SIGNALR_ETOOBIG) << w.reason;
  EXPECT_EQ(w.info.close_code, 1009);
}

TEST_F(Transport, SendQueueLimitGivesEagain) {
  std::string token = negotiate("/hubs/test");
  Ws w(loop);
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/test?id=" + token, {}, {}, 0, 10000, 0, /*max_queue=*/100), 0);
  ASSERT_TRUE(w.wait_open_or_close());
  ASSERT_TRUE(w.opened);
  int rc1 = 0, rc2 = 0, rc3 = 0;
  size_t queued = 0;
  std::string msg(60, ' ');
  run_sync(loop, [&] {  // one loop turn: nothing is written in between
    rc1 = sr_ws_send(w.ws, reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), 0);
    rc2 = sr_ws_send(w.ws, reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), 0);
    queued = sr_ws_queued_bytes(w.ws);
  });
  EXPECT_EQ(rc1, 0);
  EXPECT_EQ(rc2, SIGNALR_EAGAIN);
  EXPECT_EQ(queued, 60u);
  // drained: room again
  for (int i = 0; i < 100; i++) {
    run_sync(loop, [&] { queued = sr_ws_queued_bytes(w.ws); });
    if (!queued) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  run_sync(loop, [&] { rc3 = sr_ws_send(w.ws, reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), 0); });
  EXPECT_EQ(rc3, 0);
}

TEST_F(Transport, ServerAbortIsReportedOnce) {
  std::string token = negotiate("/hubs/test");
  Ws w(loop);
  w.handshake_on_open = true;
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/test?id=" + token), 0);
  ASSERT_TRUE(w.wait_records(1));
  ASSERT_EQ(w.send(invocation("1", "DropTransport", "[]")), 0);
  ASSERT_TRUE(w.wait_closed());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(w.close_calls, 1);
  EXPECT_EQ(w.info.opened, 1);
  std::printf("server-side abort reported as error=%d close_code=%d reason=\"%s\"\n", w.info.error, w.info.close_code,
              w.reason.c_str());
}

TEST_F(Transport, ServerCloseMessageThenCleanClose) {
  std::string token = negotiate("/hubs/test");
  Ws w(loop);
  w.handshake_on_open = true;
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/test?id=" + token), 0);
  ASSERT_TRUE(w.wait_records(1));
  ASSERT_EQ(w.send(invocation("1", "AbortConnection", "[]")), 0);
  ASSERT_TRUE(w.wait_closed());
  EXPECT_EQ(w.close_calls, 1);
  std::printf("server Context.Abort() reported as error=%d close_code=%d reason=\"%s\"\n", w.info.error,
              w.info.close_code, w.reason.c_str());
}

TEST_F(Transport, CloseBeforeOpenCancels) {
  BlackHole hole;
  Ws w(loop);
  ASSERT_EQ(w.connect("ws://127.0.0.1:" + std::to_string(hole.port) + "/x"), 0);
  bool closed_inline = false;
  run_sync(loop, [&] {
    sr_ws_close(w.ws, 1000);
    closed_inline = w.closed;
  });
  EXPECT_FALSE(closed_inline) << "on_close is never called from inside sr_ws_close";
  ASSERT_TRUE(w.wait_closed());
  EXPECT_EQ(w.info.error, SIGNALR_ECANCELED);
}

TEST_F(Transport, FreeBeforeOpenMakesNoCallback) {
  std::string token = negotiate("/hubs/test");
  Ws w(loop);
  w.then = [&] {
    sr_ws_free(w.ws);
    w.ws = nullptr;
  };
  ASSERT_EQ(w.connect(to_ws(base()) + "/hubs/test?id=" + token), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(w.opened);
  EXPECT_FALSE(w.closed);
}

TEST_F(Transport, HttpCancelMakesNoCallback) {
  BlackHole hole;
  std::atomic<int> calls{0};
  run_sync(loop, [&] {
    sr_http_request_cfg cfg{};
    std::string url = "http://127.0.0.1:" + std::to_string(hole.port) + "/x";
    cfg.url = url.c_str();
    sr_http* h = nullptr;
    ASSERT_EQ(sr_http_start(loop, &cfg, [](void* ud, const sr_http_response*) { (*static_cast<std::atomic<int>*>(ud))++; },
                            &calls, &h),
              0);
    sr_http_cancel(h);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(Transport, LoopFreeCompletesWhatIsLeft) {
  BlackHole hole;
  std::string token = negotiate("/hubs/test");
  auto w = std::make_unique<Ws>(loop);
  w->handshake_on_open = true;
  ASSERT_EQ(w->connect(to_ws(base()) + "/hubs/test?id=" + token), 0);
  ASSERT_TRUE(w->wait_records(1));
  struct HttpCtx {
    std::atomic<int> calls{0};
    std::atomic<int> code{0};
  } hc;
  run_sync(loop, [&] {
    sr_http_request_cfg cfg{};
    std::string url = "http://127.0.0.1:" + std::to_string(hole.port) + "/x";
    cfg.url = url.c_str();
    ASSERT_EQ(sr_http_start(
                  loop, &cfg,
                  [](void* ud, const sr_http_response* r) {
                    auto* c = static_cast<HttpCtx*>(ud);
                    c->calls++;
                    c->code = r->error_code;
                  },
                  &hc, nullptr),
              0);
  });
  sr_loop_free(loop);
  loop = nullptr;
  EXPECT_EQ(hc.calls.load(), 1);
  EXPECT_EQ(hc.code.load(), SIGNALR_ECANCELED);
  EXPECT_TRUE(w->closed);
  EXPECT_EQ(w->close_calls, 1);
  EXPECT_EQ(w->info.error, SIGNALR_ECANCELED);
  // the handle is still ours to free, without a loop: sr_ws_free needs none after on_close
  sr_ws_free(w->ws);
  w->ws = nullptr;
}

TEST_F(Transport, ManyConcurrentConnections) {
  const int n = 50;
  std::vector<std::unique_ptr<Ws>> ws;
  for (int i = 0; i < n; i++) {
    std::string token = negotiate("/hubs/test");
    ws.emplace_back(std::make_unique<Ws>(loop));
    ws.back()->handshake_on_open = true;
    ASSERT_EQ(ws.back()->connect(to_ws(base()) + "/hubs/test?id=" + token), 0);
  }
  for (int i = 0; i < n; i++) {
    ASSERT_TRUE(ws[i]->wait_records(1)) << i << " " << ws[i]->reason;
    ASSERT_EQ(ws[i]->send(invocation("1", "Echo", "[\"c" + std::to_string(i) + "\"]")), 0);
  }
  for (int i = 0; i < n; i++) EXPECT_EQ(result_string(ws[i]->completion("1")), "c" + std::to_string(i));
}

}  // namespace
