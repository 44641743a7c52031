// The uniform transport (sr_transport) against the real ASP.NET Core SignalR server
// (tests/server), for Server-Sent Events and Long Polling, and WebSockets through the same
// interface: negotiate by hand over sr_http, then the raw SignalR exchange (handshake,
// invocations, closes) and the failure mappings. Also an HTTP proxy and a TLS server that
// demands a client certificate, both run in this process.

#include "../support/runtime_helpers.h"
#include "../support/test_server.h"
#include <gtest/gtest.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protocol/negotiate.h"
#include "runtime/loop.h"
#include "signalr/signalr.h"
#include "transport/http.h"
#include "transport/transport.h"

namespace {

using namespace srtest::rt;

const srtest::TestServer& server() { return srtest::test_server(); }

const std::string kHandshake = "{\"protocol\":\"json\",\"version\":1}\x1e";

int listen_any(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  listen(fd, 64);
  socklen_t l = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
  *port = ntohs(a.sin_port);
  return fd;
}

// Waits until the loop has no request left, then lets what it had queued run: after that
// nothing can call a closed transport's callbacks (checked instead of waiting to see that
// nothing happens). The wait is on an observable count, bounded.
static bool nothing_pending(sr_loop* loop) {
  size_t live = 1;
  for (int i = 0; i < 2000 && live; i++) {
    run_sync(loop, [&] { live = sr_http_live_count(loop); });
    if (live) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  run_sync(loop, [] {});
  return live == 0;
}

// ------------------------------------------------------------------ a transport under test

struct TrOpts {
  std::vector<std::string> headers;
  std::string ca_file, proxy, cert, key;
  int insecure = 0, binary = 0;
  int32_t timeout_ms = 10000;
  size_t max_msg = 0, max_queue = 0;
};

struct Tr {
  sr_loop* loop;
  sr_transport* t = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  bool opened = false, closed = false;
  int open_calls = 0, close_calls = 0, callbacks_after_close = 0;
  int drains = 0;              // on_drain calls
  bool drained_empty = false;  // the last on_drain left nothing queued
  sr_transport_close_info info{};
  std::string reason;
  std::string stream;                // received bytes not yet split
  std::vector<std::string> records;  // split at 0x1e
  std::vector<size_t> message_sizes;
  bool handshake_on_open = true;
  int send_rc_on_open = 1;
  std::function<void(Tr*)> on_message_hook;  // runs on the I/O thread, after recording

  explicit Tr(sr_loop* l) : loop(l) {}
  ~Tr() {
    // t is read on the I/O thread: a hook there may have freed it and cleared it
    if (loop) run_sync(loop, [&] {
        if (t) sr_transport_free(t);
      });
  }

  static void on_open(void* ud) {
    auto* w = static_cast<Tr*>(ud);
    if (w->handshake_on_open)
      w->send_rc_on_open = sr_transport_send(w->t, reinterpret_cast<const uint8_t*>(kHandshake.data()), kHandshake.size());
    std::lock_guard<std::mutex> lk(w->mu);
    if (w->closed) w->callbacks_after_close++;
    w->opened = true;
    w->open_calls++;
    w->cv.notify_all();
  }
  static void on_message(void* ud, const uint8_t* d, size_t n) {
    auto* w = static_cast<Tr*>(ud);
    {
      std::lock_guard<std::mutex> lk(w->mu);
      if (w->closed) w->callbacks_after_close++;
      w->message_sizes.push_back(n);
      w->stream.append(reinterpret_cast<const char*>(d), n);
      size_t pos;
      while ((pos = w->stream.find('\x1e')) != std::string::npos) {
        w->records.push_back(w->stream.substr(0, pos));
        w->stream.erase(0, pos + 1);
      }
      w->cv.notify_all();
    }
    if (w->on_message_hook) w->on_message_hook(w);
  }
  static void on_close(void* ud, const sr_transport_close_info* i) {
    auto* w = static_cast<Tr*>(ud);
    std::lock_guard<std::mutex> lk(w->mu);
    w->close_calls++;
    w->closed = true;
    w->info = *i;
    w->reason = i->reason ? i->reason : "(null)";
    w->info.reason = nullptr;
    w->cv.notify_all();
  }

  static void on_drain(void* ud) {
    auto* w = static_cast<Tr*>(ud);
    size_t left = sr_transport_queued_bytes(w->t);
    std::lock_guard<std::mutex> lk(w->mu);
    w->drains++;
    w->drained_empty = left == 0;
    w->cv.notify_all();
  }

  using Opts = TrOpts;
  std::function<void()> then;  // runs on the I/O thread right after a successful connect
  int connect(int kind, const std::string& url, const Opts& o = Opts()) {
    int rc = -999;
    std::vector<const char*> hv;
    for (auto& h : o.headers) hv.push_back(h.c_str());
    hv.push_back(nullptr);
    auto opt = [](const std::string& s) { return s.empty() ? nullptr : s.c_str(); };
    run_sync(loop, [&] {
      sr_transport_config cfg{};
      cfg.kind = kind;
      cfg.url = url.c_str();
      cfg.net.headers = hv.data();
      cfg.net.ca_file = opt(o.ca_file);
      cfg.net.insecure = o.insecure;
      cfg.net.proxy = opt(o.proxy);
      cfg.net.client_cert = opt(o.cert);
      cfg.net.client_key = opt(o.key);
      cfg.binary = o.binary;
      cfg.net.connect_timeout_ms = o.timeout_ms;
      cfg.max_message_size = o.max_msg;
      cfg.max_send_queue = o.max_queue;
      sr_transport_callbacks cb{on_open, on_message, on_close, on_drain};
      rc = sr_transport_connect(loop, &cfg, &cb, this, &t);
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
    run_sync(loop, [&] { rc = sr_transport_send(t, reinterpret_cast<const uint8_t*>(s.data()), s.size()); });
    return rc;
  }
  void close() {
    run_sync(loop, [&] { sr_transport_close(t); });
  }
  // on the I/O thread: never while a callback is running
  void set_hook(std::function<void(Tr*)> f) {
    run_sync(loop, [&] { on_message_hook = std::move(f); });
  }
  // The record answering invocation `id` (type 3), waiting for it.
  std::string completion(const std::string& id, int ms = 15000) {
    std::string found;
    wait_until(
        mu, cv,
        [&] {
          for (auto& r : records) {
            cJSON* d = cJSON_Parse(r.c_str());
            const cJSON* ty = cJSON_GetObjectItemCaseSensitive(d, "type");
            const cJSON* iid = cJSON_GetObjectItemCaseSensitive(d, "invocationId");
            bool hit = cJSON_IsNumber(ty) && ty->valueint == 3 && cJSON_IsString(iid) && id == iid->valuestring;
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
  bool has_record_of_type(int type) {
    std::lock_guard<std::mutex> lk(mu);
    for (auto& r : records) {
      cJSON* d = cJSON_Parse(r.c_str());
      const cJSON* ty = cJSON_GetObjectItemCaseSensitive(d, "type");
      bool hit = cJSON_IsNumber(ty) && ty->valueint == type;
      cJSON_Delete(d);
      if (hit) return true;
    }
    return false;
  }
};


// ------------------------------------------------------------------ an HTTP proxy (CONNECT and absolute-form)

// Forwards each client connection to the host its first request names, then pipes bytes both
// ways. Kestrel accepts absolute-form request targets, so forwarded requests go out unchanged.
struct Proxy {
  int fd = -1, port = 0;
  std::string auth;  // "Basic ..." required in Proxy-Authorization when set
  std::atomic<int> tunnels{0}, forwards{0}, refused{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<int> fds;
  std::vector<std::thread> threads;
  std::thread acceptor;

  explicit Proxy(const std::string& basic = {}) : auth(basic) {
    fd = listen_any(&port);
    acceptor = std::thread([this] {
      for (;;) {
        int c = accept(fd, nullptr, nullptr);
        if (c < 0) return;
        std::lock_guard<std::mutex> lk(mu);
        if (stop) {
          ::close(c);
          return;
        }
        fds.push_back(c);
        threads.emplace_back([this, c] { serve(c); });
      }
    });
  }
  ~Proxy() {
    stop = true;
    shutdown(fd, SHUT_RDWR);
    acceptor.join();
    ::close(fd);
    std::vector<std::thread> ts;
    {
      std::lock_guard<std::mutex> lk(mu);
      for (int c : fds) shutdown(c, SHUT_RDWR);
      ts.swap(threads);
    }
    for (auto& th : ts) th.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }

  static int dial(const std::string& host, const std::string& port) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return -1;
    int s = socket(res->ai_family, SOCK_STREAM, 0);
    if (connect(s, res->ai_addr, res->ai_addrlen) != 0) {
      ::close(s);
      s = -1;
    }
    freeaddrinfo(res);
    return s;
  }
  void serve(int c) {
    std::string head;
    char buf[16384];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
      ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      head.append(buf, (size_t)n);
    }
    std::string line = head.substr(0, head.find("\r\n"));
    std::string method = line.substr(0, line.find(' '));
    std::string target = line.substr(method.size() + 1, line.rfind(' ') - method.size() - 1);
    // lws writes "Proxy-authorization: basic ...", curl "Proxy-Authorization: Basic ..."
    auto lower = [](std::string x) {
      for (auto& ch : x) ch = (char)tolower((unsigned char)ch);
      return x;
    };
    if (!auth.empty() && lower(head).find(lower("proxy-authorization: " + auth + "\r\n")) == std::string::npos) {
      refused++;
      std::string r = "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\n"
                      "Content-Length: 0\r\nConnection: close\r\n\r\n";
      send(c, r.data(), r.size(), MSG_NOSIGNAL);
      return;
    }
    std::string hostport;
    if (method == "CONNECT") {
      hostport = target;
    } else {
      size_t s = target.find("://");
      if (s == std::string::npos) return;
      hostport = target.substr(s + 3, target.find('/', s + 3) - s - 3);
    }
    size_t colon = hostport.rfind(':');
    int up = dial(hostport.substr(0, colon), colon == std::string::npos ? "80" : hostport.substr(colon + 1));
    if (up < 0) return;
    {
      std::lock_guard<std::mutex> lk(mu);
      fds.push_back(up);
    }
    if (method == "CONNECT") {
      tunnels++;
      std::string r = "HTTP/1.1 200 Connection established\r\n\r\n";
      send(c, r.data(), r.size(), MSG_NOSIGNAL);
      head.erase(0, head.find("\r\n\r\n") + 4);
    } else {
      forwards++;
    }
    if (!head.empty()) send(up, head.data(), head.size(), MSG_NOSIGNAL);
    pollfd p[2] = {{c, POLLIN, 0}, {up, POLLIN, 0}};
    while (!stop && poll(p, 2, 200) >= 0) {
      for (int i = 0; i < 2; i++) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = recv(p[i].fd, buf, sizeof buf, 0);
        if (n <= 0 || send(p[1 - i].fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
          shutdown(c, SHUT_RDWR);
          shutdown(up, SHUT_RDWR);
          return;
        }
      }
    }
  }
};

// ------------------------------------------------------------------ a TLS server demanding a client certificate

struct Pem {
  std::string dir, cert, key;
};

// A fresh self-signed EC certificate and key as PEM files.
Pem make_cert(const std::string& cn) {
  Pem p;
  char tmpl[] = "/tmp/sr-cert-XXXXXX";
  p.dir = mkdtemp(tmpl);
  p.cert = p.dir + "/cert.pem";
  p.key = p.dir + "/key.pem";
  EVP_PKEY* k = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, k);
  X509_NAME* n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, n);
  X509_sign(x, k, EVP_sha256());
  FILE* f = fopen(p.cert.c_str(), "w");
  PEM_write_X509(f, x);
  fclose(f);
  f = fopen(p.key.c_str(), "w");
  PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
  X509_free(x);
  EVP_PKEY_free(k);
  return p;
}

void remove_cert(const Pem& p) {
  unlink(p.cert.c_str());
  unlink(p.key.c_str());
  rmdir(p.dir.c_str());
}

// Answers every kind of transport request with the client certificate's subject CN: as an SSE
// event, a Long Polling body (first poll empty, the second carries it) or a WebSocket text
// message. The TLS handshake fails without a client certificate.
struct CertServer {
  int fd = -1, port = 0;
  Pem server_pem;
  SSL_CTX* ctx = nullptr;
  std::atomic<bool> stop{false};
  std::atomic<int> handshakes_ok{0}, handshakes_failed{0}, polls{0};
  std::mutex mu;
  std::vector<std::string> posts;  // head + body of every POST
  std::condition_variable posted;
  std::vector<int> fds;
  std::vector<std::thread> threads;
  std::thread acceptor;

  CertServer() {
    server_pem = make_cert("127.0.0.1");
    ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate_file(ctx, server_pem.cert.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(ctx, server_pem.key.c_str(), SSL_FILETYPE_PEM);
    // any certificate will do: what is tested is that the client presents one
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, [](int, X509_STORE_CTX*) { return 1; });
    // A client that resumes a TLS session (curl 8 with OpenSSL 3.5 does, across a Long Polling
    // transport's requests) is refused with "internal error" unless the verifying server names
    // a session id context.
    static const unsigned char sid[] = "sr-test";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
    fd = listen_any(&port);
    acceptor = std::thread([this] {
      for (;;) {
        int c = accept(fd, nullptr, nullptr);
        if (c < 0) return;
        std::lock_guard<std::mutex> lk(mu);
        if (stop) {
          ::close(c);
          return;
        }
        fds.push_back(c);
        threads.emplace_back([this, c] { serve(c); });
      }
    });
  }
  ~CertServer() {
    stop = true;
    shutdown(fd, SHUT_RDWR);
    acceptor.join();
    ::close(fd);
    std::vector<std::thread> ts;
    {
      std::lock_guard<std::mutex> lk(mu);
      for (int c : fds) shutdown(c, SHUT_RDWR);
      ts.swap(threads);
    }
    for (auto& th : ts) th.join();
    std::lock_guard<std::mutex> lk(mu);
    for (int c : fds) ::close(c);
    SSL_CTX_free(ctx);
    remove_cert(server_pem);
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port) + "/hub?id=x"; }

  static bool write_all(SSL* s, const std::string& d) { return SSL_write(s, d.data(), (int)d.size()) == (int)d.size(); }

  void serve(int c) {
    SSL* s = SSL_new(ctx);
    SSL_set_fd(s, c);
    if (SSL_accept(s) != 1) {
      handshakes_failed++;
      SSL_free(s);
      return;
    }
    handshakes_ok++;
    std::string cn = "none";
    if (X509* peer = SSL_get1_peer_certificate(s)) {
      char b[256];
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, b, sizeof b);
      cn = b;
      X509_free(peer);
    }
    char buf[8192];
    std::string in;
    for (;;) {  // one request after another on this connection
      size_t end;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        int n = SSL_read(s, buf, sizeof buf);
        if (n <= 0) goto done;
        in.append(buf, (size_t)n);
      }
      std::string head = in.substr(0, end + 4);
      in.erase(0, end + 4);
      if (head.find("Upgrade: websocket") != std::string::npos || head.find("upgrade: websocket") != std::string::npos) {
        size_t k = head.find("Sec-WebSocket-Key: ");
        if (k == std::string::npos) k = head.find("sec-websocket-key: ");
        std::string key = head.substr(k + 19, head.find("\r\n", k) - k - 19) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
        unsigned char sha[20];
        SHA1(reinterpret_cast<const unsigned char*>(key.data()), key.size(), sha);
        unsigned char b64[64];
        EVP_EncodeBlock(b64, sha, 20);
        std::string r = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: " + std::string(reinterpret_cast<char*>(b64)) + "\r\n\r\n";
        r += std::string("\x81", 1) + static_cast<char>(cn.size()) + cn;
        if (!write_all(s, r)) break;
        while (SSL_read(s, buf, sizeof buf) > 0) {
        }
        break;
      }
      if (head.find("text/event-stream") != std::string::npos) {
        std::string r = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
                        ":\r\n\r\ndata: " + cn + "\r\n\r\n";
        if (!write_all(s, r)) break;
        while (SSL_read(s, buf, sizeof buf) > 0) {
        }
        break;
      }
      if (head.rfind("GET ", 0) == 0) {
        int n = polls++;
        if (n >= 2) {  // later polls are held until the client goes away
          while (SSL_read(s, buf, sizeof buf) > 0) {
          }
          break;
        }
        std::string body = n == 0 ? "" : cn;
        std::string r = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
        if (!write_all(s, r)) break;
        continue;
      }
      if (head.rfind("POST ", 0) == 0) {
        size_t cl = head.find("Content-Length: ");
        size_t len = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
        while (in.size() < len) {
          int n = SSL_read(s, buf, sizeof buf);
          if (n <= 0) goto done;
          in.append(buf, (size_t)n);
        }
        std::lock_guard<std::mutex> lk(mu);
        posts.push_back(head + in.substr(0, len));
        in.erase(0, len);
        posted.notify_all();
      }
      std::string r = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";  // DELETE, POST
      if (!write_all(s, r)) break;
    }
  done:
    SSL_free(s);
  }
};

// ------------------------------------------------------------------ fixture

const char* kind_name(int kind) {
  return kind == SR_TRANSPORT_WEBSOCKETS ? "WebSockets" : kind == SR_TRANSPORT_SSE ? "ServerSentEvents" : "LongPolling";
}

class TransportBase : public ::testing::Test {
 protected:
  sr_loop* loop = nullptr;
  void SetUp() override {
    const srtest::TestServer& s = server();
    if (!s.skipped.empty()) {
      std::fprintf(stderr, "\n*** SKIPPING interop tests: %s ***\n", s.skipped.c_str());
      if (srtest::server_required()) FAIL() << "SignalR test server was skipped but SIGNALR_REQUIRE_SERVER=1";
      GTEST_SKIP() << "*** SKIPPING interop tests: " << s.skipped << " ***";
    }
    ASSERT_TRUE(s.ok()) << s.error;
    ASSERT_EQ(sr_loop_new(&loop), 0);
  }
  void TearDown() override {
    if (loop) sr_loop_free(loop);
  }
  const std::string& base() const { return server().http; }

  // POST negotiate; returns the transport URL for hub (base + hub + "?id=" + token).
  std::string negotiate(const std::string& hub, const std::string& root = {}) {
    std::string r0 = root.empty() ? base() : root;
    std::string ca = r0 == server().https ? server().cert : std::string();
    HttpResult r = http(loop, "POST", r0 + hub + "/negotiate?negotiateVersion=1", {}, ca);
    EXPECT_EQ(r.status, 200) << r.error_text << r.body;
    std::string token = json_str(r.body, "connectionToken");
    EXPECT_FALSE(token.empty()) << r.body;
    return r0 + hub + "?id=" + token;
  }
  // The server still knows the connection: a POST to it is not 404.
  bool server_knows(const std::string& url) { return http(loop, "POST", url).status != 404; }
};

class AllKinds : public TransportBase, public ::testing::WithParamInterface<int> {
 protected:
  int kind() const { return GetParam(); }
  // The hub endpoint that offers only this kind (so a wrong transport cannot pass by accident).
  std::string hub() const {
    return kind() == SR_TRANSPORT_WEBSOCKETS ? "/hubs/websockets" : kind() == SR_TRANSPORT_SSE ? "/hubs/sse" : "/hubs/longpolling";
  }
  // Connects, handshakes, and checks the server sees this transport.
  void open(Tr& t, const std::string& url, const Tr::Opts& o = Tr::Opts()) {
    ASSERT_EQ(t.connect(kind(), url, o), 0);
    ASSERT_TRUE(t.wait_records(1)) << "closed: " << t.info.error << " " << t.reason;
    ASSERT_EQ(t.records[0], "{}");
    EXPECT_EQ(t.send_rc_on_open, 0);
  }
};

INSTANTIATE_TEST_SUITE_P(Kinds, AllKinds,
                         ::testing::Values(SR_TRANSPORT_WEBSOCKETS, SR_TRANSPORT_SSE, SR_TRANSPORT_LONG_POLLING),
                         [](const ::testing::TestParamInfo<int>& i) { return std::string(kind_name(i.param)); });

// ------------------------------------------------------------------ tests, every kind

TEST_P(AllKinds, HandshakeEchoAndClientClose) {
  std::string url = negotiate(hub());
  Tr t(loop);
  open(t, url);
  EXPECT_EQ(t.open_calls, 1);
  ASSERT_EQ(t.send(invocation("1", "Echo", "[\"h\xc3\xa9\"]")), 0);
  EXPECT_EQ(result_string(t.completion("1")), "h\xc3\xa9");
  ASSERT_EQ(t.send(invocation("2", "GetTransport", "[]")), 0);
  EXPECT_EQ(result_string(t.completion("2")), kind_name(kind()));
  int kind_rc = 0;
  run_sync(loop, [&] { kind_rc = sr_transport_kind(t.t); });
  EXPECT_EQ(kind_rc, kind());

  bool inline_close = false;
  run_sync(loop, [&] {
    sr_transport_close(t.t);
    inline_close = t.closed;
    sr_transport_close(t.t);  // idempotent
  });
  EXPECT_FALSE(inline_close);
  ASSERT_TRUE(t.wait_closed());
  EXPECT_EQ(t.info.error, 0) << t.reason;
  EXPECT_EQ(t.info.opened, 1);
  EXPECT_EQ(t.close_calls, 1);
  EXPECT_EQ(t.send("x"), SIGNALR_ESTATE);
  // the server let go of the connection (Long Polling: the DELETE; SSE: the dropped stream)
  bool gone = false;
  for (int i = 0; i < 40 && !gone; i++) {
    gone = !server_knows(url);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gone) << "the server still knows the connection after the client closed it";
  EXPECT_TRUE(nothing_pending(loop)) << "a request outlived the closed transport";
  EXPECT_EQ(t.close_calls, 1);
  EXPECT_EQ(t.callbacks_after_close, 0);
}

TEST_P(AllKinds, ServerAbortClosesExactlyOnce) {
  Tr t(loop);
  open(t, negotiate(hub()));
  ASSERT_EQ(t.send(invocation("1", "AbortConnection", "[]")), 0);
  ASSERT_TRUE(t.wait_closed());
  if (kind() != SR_TRANSPORT_WEBSOCKETS) {
    // the server's Close message arrives first, then the stream ends / the poll gets 204
    EXPECT_TRUE(t.has_record_of_type(7));
    EXPECT_EQ(t.info.error, 0) << t.reason;
  }
  EXPECT_EQ(t.info.opened, 1);
  EXPECT_TRUE(nothing_pending(loop)) << "a request outlived the closed transport";
  EXPECT_EQ(t.close_calls, 1);
  EXPECT_EQ(t.callbacks_after_close, 0);
  std::printf("%s: server abort -> error=%d status=%d close_code=%d reason=\"%s\"\n", kind_name(kind()), t.info.error,
              t.info.http_status, t.info.close_code, t.reason.c_str());
}

TEST_P(AllKinds, UnknownIdIs404) {
  Tr t(loop);
  ASSERT_EQ(t.connect(kind(), base() + hub() + "?id=does-not-exist"), 0);
  ASSERT_TRUE(t.wait_closed());
  EXPECT_FALSE(t.opened);
  EXPECT_EQ(t.info.error, SIGNALR_ENOTFOUND) << t.reason;
  EXPECT_EQ(t.info.http_status, 404);
  EXPECT_EQ(t.info.opened, 0);
  EXPECT_NE(t.reason.find("404"), std::string::npos) << t.reason;
}

TEST_P(AllKinds, SendsArriveInOrder) {
  Tr t(loop);
  open(t, negotiate(hub()));
  const int n = 50;
  std::vector<std::string> msgs;
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    msgs.push_back(invocation("", "Callback", "[\"" + std::to_string(i) + "\"]"));
    total += msgs.back().size();
  }
  msgs.push_back(invocation("end", "Echo", "[\"end\"]"));
  total += msgs.back().size();
  size_t queued = 0;
  run_sync(loop, [&] {  // one loop turn: the first send starts a POST, the rest wait for it
    // What was queued before (the handshake's POST may not have left yet) is not ours.
    size_t before = sr_transport_queued_bytes(t.t);
    for (auto& m : msgs) ASSERT_EQ(sr_transport_send(t.t, reinterpret_cast<const uint8_t*>(m.data()), m.size()), 0);
    queued = sr_transport_queued_bytes(t.t) - before;
  });
  if (kind() != SR_TRANSPORT_WEBSOCKETS) EXPECT_EQ(queued, total);
  ASSERT_EQ(result_string(t.completion("end")), "end") << t.reason;
  std::vector<std::string> got;
  {
    std::lock_guard<std::mutex> lk(t.mu);
    for (auto& r : t.records) {
      cJSON* d = cJSON_Parse(r.c_str());
      const cJSON* target = cJSON_GetObjectItemCaseSensitive(d, "target");
      if (cJSON_IsString(target) && std::string(target->valuestring) == "Callback")
        got.push_back(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(d, "arguments"), 0)->valuestring);
      cJSON_Delete(d);
    }
  }
  ASSERT_EQ(got.size(), (size_t)n);
  for (int i = 0; i < n; i++) EXPECT_EQ(got[i], std::to_string(i));
  // SSE and Long Polling: the reply can arrive before the POST that carried the sends has its
  // own response (the server answers the POST after handling its body), so the queue empties
  // at that response, not at the reply. Each check is a round trip through the loop.
  size_t after = 1;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do run_sync(loop, [&] { after = sr_transport_queued_bytes(t.t); });
  while (after != 0 && std::chrono::steady_clock::now() < until);
  EXPECT_EQ(after, 0u);
}

TEST_P(AllKinds, SendQueueLimitGivesEagain) {
  Tr t(loop);
  Tr::Opts o;
  o.max_queue = 100;
  open(t, negotiate(hub()), o);
  int rc1 = 0, rc2 = 0;
  std::string msg = invocation("", "Callback", "[\"" + std::string(20, 'q') + "\"]");  // 68 bytes
  run_sync(loop, [&] {
    rc1 = sr_transport_send(t.t, reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
    rc2 = sr_transport_send(t.t, reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
    std::lock_guard<std::mutex> lk(t.mu);  // on the I/O thread: no on_drain in between
    t.drained_empty = false;
  });
  EXPECT_EQ(rc1, 0);
  EXPECT_EQ(rc2, SIGNALR_EAGAIN);
  ASSERT_TRUE(t.wait_records(2)) << t.reason;  // the first one went through
  // The queue empties (the server took the bytes: on_drain says so), and then there is room.
  ASSERT_TRUE(wait_until(t.mu, t.cv, [&] { return t.drained_empty || t.closed; }, 15000));
  ASSERT_FALSE(t.closed) << t.reason;
  EXPECT_EQ(t.send(msg), 0);
  ASSERT_TRUE(t.wait_records(3)) << t.reason;
}

TEST_P(AllKinds, BeforeOpenSendIsRefusedAndCloseCancelsLater) {
  Tr t(loop);
  t.handshake_on_open = false;
  int early = 0;
  bool inline_close = true;
  t.then = [&] {
    early = sr_transport_send(t.t, reinterpret_cast<const uint8_t*>("x"), 1);
    sr_transport_close(t.t);
    inline_close = t.closed;
  };
  ASSERT_EQ(t.connect(kind(), negotiate(hub())), 0);
  EXPECT_EQ(early, SIGNALR_ESTATE);
  EXPECT_FALSE(inline_close) << "on_close is never called from inside sr_transport_close";
  ASSERT_TRUE(t.wait_closed());
  EXPECT_EQ(t.info.error, SIGNALR_ECANCELED) << t.reason;
  EXPECT_EQ(t.info.opened, 0);
  EXPECT_TRUE(nothing_pending(loop)) << "a request outlived the closed transport";
  EXPECT_EQ(t.close_calls, 1);
  EXPECT_EQ(t.open_calls, 0);
}

TEST_P(AllKinds, FreeBeforeOpenMakesNoCallback) {
  Tr t(loop);
  t.then = [&] {
    sr_transport_free(t.t);
    t.t = nullptr;
  };
  ASSERT_EQ(t.connect(kind(), negotiate(hub())), 0);
  EXPECT_TRUE(nothing_pending(loop)) << "a request outlived the freed transport";
  EXPECT_FALSE(t.opened);
  EXPECT_FALSE(t.closed);
}

TEST_P(AllKinds, FreeFromInsideOnMessage) {
  Tr t(loop);
  std::atomic<int> after{0};
  open(t, negotiate(hub()));
  t.set_hook([&](Tr* w) {
    if (!w->t) {
      after++;
      return;
    }
    sr_transport_free(w->t);
    w->t = nullptr;
  });
  // several messages, likely in one SSE event / poll body: nothing after the free
  ASSERT_EQ(t.send(invocation("", "CallbackMulti", "[\"m\"]")), 0);
  ASSERT_TRUE(wait_until(t.mu, t.cv, [&] { return t.records.size() >= 2; }));
  // The messages of that event / body are delivered in the loop turn that read it: two round
  // trips through the loop later, that turn is over, and nothing came after the free.
  run_sync(loop, [] {});
  run_sync(loop, [] {});
  EXPECT_EQ(after.load(), 0);
  EXPECT_FALSE(t.closed);
}

TEST_P(AllKinds, CloseFromInsideOnMessageIsDeferred) {
  Tr t(loop);
  open(t, negotiate(hub()));
  bool inline_close = true;
  t.set_hook([&](Tr* w) {
    w->on_message_hook = nullptr;
    sr_transport_close(w->t);
    inline_close = w->closed;
  });
  ASSERT_EQ(t.send(invocation("1", "Echo", "[\"x\"]")), 0);
  ASSERT_TRUE(t.wait_closed());
  EXPECT_FALSE(inline_close);
  EXPECT_EQ(t.info.error, 0) << t.reason;
  EXPECT_EQ(t.close_calls, 1);
}

TEST_P(AllKinds, LoopFreeCompletesWhatIsLeft) {
  auto t = std::make_unique<Tr>(loop);
  open(*t, negotiate(hub()));
  ASSERT_EQ(t->send(invocation("1", "DelayedEcho", "[5000, \"slow\"]")), 0);
  sr_loop_free(loop);
  loop = nullptr;
  EXPECT_TRUE(t->closed);
  EXPECT_EQ(t->close_calls, 1);
  EXPECT_EQ(t->info.error, SIGNALR_ECANCELED) << t->reason;
  sr_transport_free(t->t);  // after on_close: no loop needed
  t->t = nullptr;
  t->loop = nullptr;
}

TEST_P(AllKinds, LargeMessagesAndTheSizeLimit) {
  Tr t(loop);
  open(t, negotiate(hub()));
  ASSERT_EQ(t.send(invocation("1", "LargeMessage", "[300000]")), 0);
  std::string c = t.completion("1");
  ASSERT_FALSE(c.empty()) << t.reason;
  EXPECT_EQ(result_string(c).size(), 300000u);

  Tr small(loop);
  Tr::Opts o;
  o.max_msg = 4096;  // + 64 KiB of batching room
  open(small, negotiate(hub()), o);
  ASSERT_EQ(small.send(invocation("1", "LargeMessage", "[60000]")), 0);
  EXPECT_EQ(result_string(small.completion("1")).size(), 60000u) << small.reason;
  ASSERT_EQ(small.send(invocation("2", "LargeMessage", "[200000]")), 0);
  ASSERT_TRUE(small.wait_closed());
  EXPECT_EQ(small.info.error, SIGNALR_ETOOBIG) << small.reason;
}

TEST_P(AllKinds, HeadersAndUserAgentReachTheServer) {
  Tr t(loop);
  Tr::Opts o;
  o.headers = {"X-Custom-Test: hello 42", "User-Agent: sr-transport-test/1"};
  open(t, negotiate(hub()), o);
  ASSERT_EQ(t.send(invocation("1", "GetHeader", "[\"X-Custom-Test\"]")), 0);
  EXPECT_EQ(result_string(t.completion("1")), "hello 42");
  ASSERT_EQ(t.send(invocation("2", "GetHeader", "[\"User-Agent\"]")), 0);
  EXPECT_EQ(result_string(t.completion("2")), "sr-transport-test/1");
}

TEST_P(AllKinds, HttpsWithTheServerCertificateAsCa) {
  const srtest::TestServer& s = server();
  Tr t(loop);
  Tr::Opts o;
  o.ca_file = s.cert;
  open(t, negotiate(hub(), s.https), o);
  ASSERT_EQ(t.send(invocation("1", "Echo", "[\"tls\"]")), 0);
  EXPECT_EQ(result_string(t.completion("1")), "tls");

  Tr bad(loop);  // the system store does not know the self-signed certificate
  ASSERT_EQ(bad.connect(kind(), negotiate(hub(), s.https)), 0);
  ASSERT_TRUE(bad.wait_closed());
  EXPECT_EQ(bad.info.error, SIGNALR_ETLS) << bad.reason;
}

TEST_P(AllKinds, ConnectionRefused) {
  Tr t(loop);
  ASSERT_EQ(t.connect(kind(), "http://127.0.0.1:" + std::to_string(closed_port()) + "/hub?id=x"), 0);
  ASSERT_TRUE(t.wait_closed());
  EXPECT_EQ(t.info.error, SIGNALR_ECONNREFUSED) << t.reason;
}

TEST_P(AllKinds, ConnectTimeout) {
  int port = 0;
  int hole = listen_any(&port);  // accepts TCP (backlog) but never answers
  Tr t(loop);
  Tr::Opts o;
  o.timeout_ms = 300;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(t.connect(kind(), "http://127.0.0.1:" + std::to_string(port) + "/hub?id=x", o), 0);
  ASSERT_TRUE(t.wait_closed());
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(t.info.error, SIGNALR_ETIMEOUT) << t.reason;
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 5000);
  ::close(hole);
}

TEST_P(AllKinds, ThroughAnHttpProxy) {
  Proxy proxy;
  Tr t(loop);
  Tr::Opts o;
  o.proxy = proxy.url();
  open(t, negotiate(hub()), o);
  ASSERT_EQ(t.send(invocation("1", "Echo", "[\"proxied\"]")), 0);
  EXPECT_EQ(result_string(t.completion("1")), "proxied");
  EXPECT_GT(proxy.tunnels + proxy.forwards, 0);
  t.close();
  ASSERT_TRUE(t.wait_closed());
  EXPECT_EQ(t.info.error, 0) << t.reason;
}

TEST_P(AllKinds, ThroughAnHttpProxyWithAuthAndTls) {
  // "user:p@ss" percent-encoded in the URL; the proxy wants it as Basic credentials
  Proxy proxy("Basic dXNlcjpwQHNz");
  const srtest::TestServer& s = server();
  Tr t(loop);
  Tr::Opts o;
  o.proxy = "http://user:p%40ss@127.0.0.1:" + std::to_string(proxy.port);
  o.ca_file = s.cert;
  open(t, negotiate(hub(), s.https), o);
  ASSERT_EQ(t.send(invocation("1", "Echo", "[\"tunnel\"]")), 0);
  EXPECT_EQ(result_string(t.completion("1")), "tunnel");
  EXPECT_GT(proxy.tunnels.load(), 0);  // https goes through CONNECT
  EXPECT_EQ(proxy.refused.load(), 0);

  Proxy strict("Basic bm9ib2R5");
  Tr denied(loop);
  Tr::Opts d;
  d.proxy = strict.url();  // no credentials
  ASSERT_EQ(denied.connect(kind(), negotiate(hub()), d), 0);
  ASSERT_TRUE(denied.wait_closed());
  EXPECT_NE(denied.info.error, 0);
  EXPECT_FALSE(denied.opened);
  EXPECT_GT(strict.refused.load(), 0);
}

TEST_P(AllKinds, ProxyRefusingConnections) {
  Tr t(loop);
  Tr::Opts o;
  o.proxy = "127.0.0.1:" + std::to_string(closed_port());
  ASSERT_EQ(t.connect(kind(), negotiate(hub()), o), 0);
  ASSERT_TRUE(t.wait_closed());
  EXPECT_EQ(t.info.error, SIGNALR_ECONNREFUSED) << t.reason;
}

TEST_P(AllKinds, ClientCertificateIsPresented) {
  CertServer cs;
  Pem client = make_cert("sr-test-client");
  std::string url = cs.url();
  if (kind() == SR_TRANSPORT_WEBSOCKETS) url = "wss://127.0.0.1:" + std::to_string(cs.port) + "/hub?id=x";
  Tr t(loop);
  t.handshake_on_open = false;
  Tr::Opts o;
  o.insecure = 1;  // the server's certificate is not what this test is about
  o.cert = client.cert;
  o.key = client.key;
  ASSERT_EQ(t.connect(kind(), url, o), 0);
  ASSERT_TRUE(wait_until(t.mu, t.cv, [&] { return !t.message_sizes.empty() || t.closed; })) << t.reason;
  EXPECT_EQ(t.stream, "sr-test-client") << t.info.error << " " << t.reason;
  EXPECT_GE(cs.handshakes_ok.load(), 1);

  Tr none(loop);  // without a certificate the server ends the TLS handshake
  Tr::Opts n;
  n.insecure = 1;
  ASSERT_EQ(none.connect(kind(), url, n), 0);
  ASSERT_TRUE(none.wait_closed());
  EXPECT_NE(none.info.error, 0);
  EXPECT_TRUE(none.stream.empty());
  std::printf("%s without a client certificate: error=%d \"%s\"\n", kind_name(kind()), none.info.error,
              none.reason.c_str());

  Tr missing(loop);
  Tr::Opts m = o;
  m.cert = client.dir + "/nope.pem";
  EXPECT_EQ(missing.connect(kind(), url, m), SIGNALR_EINVAL);
  remove_cert(client);
}

TEST_P(AllKinds, UnexpectedStatusesAreErrors) {
  Tr t(loop);
  ASSERT_EQ(t.connect(kind(), base() + "/status/503/x?id=1"), 0);
  ASSERT_TRUE(t.wait_closed());
  EXPECT_EQ(t.info.error, SIGNALR_EHTTP) << t.reason;
  EXPECT_EQ(t.info.http_status, 503);
  EXPECT_EQ(t.info.opened, 0);

  Tr auth(loop);  // no bearer token
  ASSERT_EQ(auth.connect(kind(), base() + "/hubs/auth?id=x"), 0);
  ASSERT_TRUE(auth.wait_closed());
  EXPECT_EQ(auth.info.error, SIGNALR_EAUTH) << auth.reason;
  EXPECT_EQ(auth.info.http_status, 401);
}

// ------------------------------------------------------------------ Long Polling and SSE specifics

using LongPolling = TransportBase;
using ServerSentEvents = TransportBase;

TEST_F(LongPolling, EmptyPollsKeepTheConnection) {
  // PollTimeout 2 s: every poll without data comes back empty after 2 s and is re-issued
  Tr t(loop);
  ASSERT_EQ(t.connect(SR_TRANSPORT_LONG_POLLING, negotiate("/hubs/short-disconnect")), 0);
  ASSERT_TRUE(t.wait_records(1)) << t.reason;
  ASSERT_EQ(t.send(invocation("1", "DelayedEcho", "[5000, \"after empty polls\"]")), 0);
  EXPECT_EQ(result_string(t.completion("1", 20000)), "after empty polls") << t.reason;
  EXPECT_FALSE(t.closed);
  ASSERT_EQ(t.send(invocation("2", "Echo", "[\"still here\"]")), 0);
  EXPECT_EQ(result_string(t.completion("2")), "still here");
}

TEST_F(LongPolling, BinaryModeSendsBytes) {
  // The server is JSON only, but Long Polling carries bytes either way: binary mode changes the
  // POST's Content-Type only, which the server does not look at.
  Tr t(loop);
  Tr::Opts o;
  o.binary = 1;
  ASSERT_EQ(t.connect(SR_TRANSPORT_LONG_POLLING, negotiate("/hubs/longpolling"), o), 0);
  ASSERT_TRUE(t.wait_records(1)) << t.reason;
  ASSERT_EQ(t.send(invocation("1", "Echo", "[\"bin\"]")), 0);
  EXPECT_EQ(result_string(t.completion("1")), "bin");
}

TEST_F(LongPolling, DeleteFromElsewhereEndsTheConnection) {
  Tr t(loop);
  std::string url = negotiate("/hubs/longpolling");
  ASSERT_EQ(t.connect(SR_TRANSPORT_LONG_POLLING, url), 0);
  ASSERT_TRUE(t.wait_records(1)) << t.reason;
  // Our next poll may be outstanding or not yet sent: both end the same way (below).
  HttpResult d = http(loop, "DELETE", url);
  EXPECT_EQ(d.status, 202);
  ASSERT_TRUE(t.wait_closed());
  // The server removes the connection at once: the outstanding poll ends (204, or 200 with the
  // hub's Close message) and the next one, if any, finds nothing (404).
  EXPECT_TRUE(t.info.error == 0 || t.info.error == SIGNALR_ENOTFOUND) << t.info.error << " " << t.reason;
  EXPECT_EQ(t.close_calls, 1);
  std::printf("foreign DELETE -> error=%d status=%d reason=\"%s\" close message=%d\n", t.info.error,
              t.info.http_status, t.reason.c_str(), (int)t.has_record_of_type(7));
}

TEST_F(LongPolling, PostContentTypeFollowsTheFormat) {
  CertServer cs;
  Pem client = make_cert("c");
  for (int binary = 0; binary < 2; binary++) {
    cs.polls = 0;
    Tr t(loop);
    t.handshake_on_open = false;
    Tr::Opts o;
    o.insecure = 1;
    o.cert = client.cert;
    o.key = client.key;
    o.binary = binary;
    ASSERT_EQ(t.connect(SR_TRANSPORT_LONG_POLLING, cs.url(), o), 0);
    ASSERT_TRUE(t.wait_open_or_close()) << t.reason;
    std::string bytes("\x01\x00\xff\x1e", 4);
    ASSERT_EQ(t.send(bytes), 0);
    std::unique_lock<std::mutex> lk(cs.mu);
    ASSERT_TRUE(cs.posted.wait_for(lk, std::chrono::seconds(10), [&] { return cs.posts.size() > (size_t)binary; }));
    const std::string& post = cs.posts[binary];
    EXPECT_NE(post.find(binary ? "Content-Type: application/octet-stream\r\n" : "Content-Type: text/plain;charset=UTF-8\r\n"),
              std::string::npos)
        << post;
    EXPECT_EQ(post.substr(post.size() - 4), bytes);
  }
  remove_cert(client);
}

TEST_F(ServerSentEvents, BinaryIsUnsupported) {
  Tr t(loop);
  Tr::Opts o;
  o.binary = 1;
  EXPECT_EQ(t.connect(SR_TRANSPORT_SSE, base() + "/hubs/sse?id=x", o), SIGNALR_EUNSUPPORTED);
}

TEST_F(ServerSentEvents, BadArguments) {
  Tr t(loop);
  EXPECT_EQ(t.connect(SR_TRANSPORT_SSE, "ftp://127.0.0.1/x"), SIGNALR_EINVAL);
  EXPECT_EQ(t.connect(SR_TRANSPORT_LONG_POLLING, "ws://127.0.0.1/x"), SIGNALR_EINVAL);
  EXPECT_EQ(t.connect(3, base() + "/hubs/sse?id=x"), SIGNALR_EUNSUPPORTED);
  Tr::Opts o;
  o.proxy = "socks5://127.0.0.1:1080";  // lws has no SOCKS proxy
  EXPECT_EQ(t.connect(SR_TRANSPORT_WEBSOCKETS, base() + "/hubs/test?id=x", o), SIGNALR_EINVAL);
}

TEST_F(ServerSentEvents, ManyConnectionsOfEveryKind) {
  const int n = 15;
  std::vector<std::unique_ptr<Tr>> ts;
  const int kinds[] = {SR_TRANSPORT_WEBSOCKETS, SR_TRANSPORT_SSE, SR_TRANSPORT_LONG_POLLING};
  for (int i = 0; i < n; i++) {
    ts.emplace_back(std::make_unique<Tr>(loop));
    ASSERT_EQ(ts.back()->connect(kinds[i % 3], negotiate("/hubs/test")), 0);
  }
  for (int i = 0; i < n; i++) {
    ASSERT_TRUE(ts[i]->wait_records(1)) << i << " " << ts[i]->reason;
    ASSERT_EQ(ts[i]->send(invocation("1", "Echo", "[\"c" + std::to_string(i) + "\"]")), 0);
  }
  for (int i = 0; i < n; i++) EXPECT_EQ(result_string(ts[i]->completion("1")), "c" + std::to_string(i));
}

}  // namespace
