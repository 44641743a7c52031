// The HTTP transport kinds (Server-Sent Events, Long Polling) through sr_transport against a
// scripted HTTP server on a loopback socket (no .NET): what a transport reports as not sent
// when it closes. sr_transport_queued_bytes inside on_close is how the connection learns that
// accepted messages never got out (SIGNALR_EVENT_SEND_FAILED): it must still count the POST
// the server never answered, whether the connection was lost or a close timed out.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "protocol/negotiate.h"
#include "runtime/loop.h"
#include "signalr/signalr.h"
#include "transport/transport.h"
}

namespace {

// One request the server read.
struct Request {
  int index = 0;  // in arrival order
  std::string method, target, body;
};

// What the server does with a request: write `write` (may be empty), then either read the
// next request on the connection, or hold it (no more reading) until release() or the end.
struct Action {
  std::string write;
  bool hold = false;
};

// An HTTP/1.1 server on 127.0.0.1 that answers requests as a script says (one thread per
// connection; requests with Content-Length bodies; good enough for libcurl's requests).
class ScriptServer {
 public:
  using Script = std::function<Action(const Request &)>;
  explicit ScriptServer(Script script) : script_(std::move(script)) {
    lfd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(lfd_, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
    EXPECT_EQ(listen(lfd_, 16), 0);
    socklen_t n = sizeof a;
    getsockname(lfd_, reinterpret_cast<sockaddr *>(&a), &n);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~ScriptServer() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
      for (int fd : fds_) shutdown(fd, SHUT_RDWR);
      cv_.notify_all();
    }
    shutdown(lfd_, SHUT_RDWR);
    close(lfd_);
    acceptor_.join();
    for (auto &t : workers_) t.join();
    for (int fd : fds_) close(fd);
  }
  std::string url(const std::string &path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

  // Waits until a request matching pred arrived; returns its index (-1 on timeout).
  int wait_for(const std::function<bool(const Request &)> &pred, int ms = 5000) {
    std::unique_lock<std::mutex> lk(mu_);
    int found = -1;
    cv_.wait_for(lk, std::chrono::milliseconds(ms), [&] {
      for (auto &r : reqs_)
        if (pred(r)) return found = r.index, true;
      return false;
    });
    return found;
  }
  // A held request's connection: write `text` (may be empty) and close it.
  void release(int index, const std::string &text) {
    std::lock_guard<std::mutex> lk(mu_);
    released_[index] = text;
    cv_.notify_all();
  }

 private:
  void accept_loop() {
    for (;;) {
      int fd = accept(lfd_, nullptr, nullptr);
      if (fd < 0) return;
      std::lock_guard<std::mutex> lk(mu_);
      if (stopping_) {
        close(fd);
        return;
      }
      fds_.push_back(fd);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }
  static bool write_all(int fd, const std::string &s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += (size_t)n;
    }
    return true;
  }
  void serve(int fd) {
    std::string in;
    char buf[4096];
    for (;;) {
      size_t end;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return finish(fd);
        in.append(buf, (size_t)n);
      }
      Request r;
      std::string head = in.substr(0, end);
      in.erase(0, end + 4);
      size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
      r.method = head.substr(0, sp1);
      r.target = head.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t len = 0, cl = head.find("Content-Length:");
      if (cl == std::string::npos) cl = head.find("content-length:");
      if (cl != std::string::npos) len = std::stoul(head.substr(cl + 15));
      while (in.size() < len) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return finish(fd);
        in.append(buf, (size_t)n);
      }
      r.body = in.substr(0, len);
      in.erase(0, len);
      Action act;
      {
        std::lock_guard<std::mutex> lk(mu_);
        r.index = (int)reqs_.size();
        reqs_.push_back(r);
        act = script_(r);
        cv_.notify_all();
      }
      if (!act.write.empty() && !write_all(fd, act.write)) return finish(fd);
      if (!act.hold) continue;
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || released_.count(r.index); });
      std::string last = stopping_ ? "" : released_[r.index];
      lk.unlock();
      if (!last.empty()) write_all(fd, last);
      return finish(fd);
    }
  }
  void finish(int fd) {
    std::lock_guard<std::mutex> lk(mu_);
    shutdown(fd, SHUT_RDWR);  // closed by the destructor, once no worker uses it
  }

  Script script_;
  int lfd_ = -1, port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> workers_;
  std::vector<int> fds_;
  std::vector<Request> reqs_;
  std::map<int, std::string> released_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;

};

// A transport driven on the loop's thread; records what on_close saw.
struct Probe {
  sr_loop *loop = nullptr;
  sr_transport *t = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  bool opened = false, closed = false;
  int error = 0;
  size_t queued_at_close = 0;
  std::string reason;
  std::string to_send;

  static void on_open(void *ud) {
    auto *p = static_cast<Probe *>(ud);
    std::lock_guard<std::mutex> lk(p->mu);
    p->opened = true;
    EXPECT_EQ(sr_transport_send(p->t, reinterpret_cast<const uint8_t *>(p->to_send.data()), p->to_send.size()), 0);
    p->cv.notify_all();
  }
  static void on_message(void *, const uint8_t *, size_t) {}
  static void on_close(void *ud, const sr_transport_close_info *info) {
    auto *p = static_cast<Probe *>(ud);
    std::lock_guard<std::mutex> lk(p->mu);
    p->closed = true;
    p->error = info->error;
    p->reason = info->reason;
    p->queued_at_close = sr_transport_queued_bytes(p->t);  // what never got out
    sr_transport_free(p->t);
    p->t = nullptr;
    p->cv.notify_all();
  }
  template <class Pred>
  bool wait(Pred pred, int ms = 5000) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, std::chrono::milliseconds(ms), pred);
  }
};

void run_on_loop(sr_loop *loop, std::function<void()> fn) {
  struct Job {
    std::function<void()> fn;
    std::promise<void> done;
  } job{std::move(fn), {}};
  auto fut = job.done.get_future();
  ASSERT_EQ(sr_loop_post(
                loop,
                [](void *arg) {
                  auto *j = static_cast<Job *>(arg);
                  j->fn();
                  j->done.set_value();
                },
                &job),
            0);
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

void connect(Probe &p, int kind, const std::string &url, int32_t close_timeout_ms = 0) {
  static const sr_transport_callbacks cbs = {Probe::on_open, Probe::on_message, Probe::on_close, nullptr};
  run_on_loop(p.loop, [&] {
    sr_transport_config cfg{};
    cfg.kind = kind;
    cfg.url = url.c_str();
    cfg.close_timeout_ms = close_timeout_ms;
    std::lock_guard<std::mutex> lk(p.mu);
    ASSERT_EQ(sr_transport_connect(p.loop, &cfg, &cbs, &p, &p.t), 0);
  });
}

const char kStreamHead[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";

bool is_post(const Request &r) { return r.method == "POST"; }

}  // namespace

// SSE: the server takes the POST and never answers it, then ends the event stream (a clean
// close). The POST's bytes were never accepted: on_close must still count them.
TEST(FakeHttpServerTransport, SseCountsAnUnansweredPostInOnClose) {
  ScriptServer srv([](const Request &r) -> Action {
    if (r.method == "GET") return {kStreamHead, true};  // the event stream, held open
    return {"", true};                                   // the POST: never answered
  });
  Probe p;
  p.to_send = std::string(99, 's') + "\x1e";
  ASSERT_EQ(sr_loop_new(&p.loop), 0);
  connect(p, SR_TRANSPORT_SSE, srv.url("/hub?id=abc"));
  ASSERT_TRUE(p.wait([&] { return p.opened; }));
  int get = srv.wait_for([](const Request &r) { return r.method == "GET"; });
  ASSERT_GE(srv.wait_for(is_post), 0);
  srv.release(get, "");  // the server ends the stream
  ASSERT_TRUE(p.wait([&] { return p.closed; }));
  EXPECT_EQ(p.error, 0) << p.reason;
  EXPECT_EQ(p.queued_at_close, p.to_send.size()) << "the unanswered POST's bytes vanished";
  sr_loop_free(p.loop);
}

// SSE: a close whose POST the server never answers ends at close_timeout_ms, with the bytes
// reported in the reason and still counted in on_close.
TEST(FakeHttpServerTransport, SseCloseTimeoutCountsTheDroppedBytes) {
  ScriptServer srv([](const Request &r) -> Action {
    if (r.method == "GET") return {kStreamHead, true};
    return {"", true};
  });
  Probe p;
  p.to_send = std::string(49, 't') + "\x1e";
  ASSERT_EQ(sr_loop_new(&p.loop), 0);
  connect(p, SR_TRANSPORT_SSE, srv.url("/hub?id=abc"), 200);
  ASSERT_TRUE(p.wait([&] { return p.opened; }));
  ASSERT_GE(srv.wait_for(is_post), 0);
  run_on_loop(p.loop, [&] {
    std::lock_guard<std::mutex> lk(p.mu);
    if (p.t) sr_transport_close(p.t);
  });
  ASSERT_TRUE(p.wait([&] { return p.closed; }));
  EXPECT_NE(p.reason.find("50 bytes"), std::string::npos) << p.reason;
  EXPECT_EQ(p.queued_at_close, p.to_send.size());
  sr_loop_free(p.loop);
}

// Long Polling: the POST is never answered, then the server forgets the connection (the held
// poll gets 404): on_close with ENOTFOUND still counts the POST's bytes.
TEST(FakeHttpServerTransport, LongPollingCountsAnUnansweredPostInOnClose) {
  ScriptServer srv([](const Request &r) -> Action {
    if (r.method == "GET" && r.index == 0)  // the first poll: answered at once (the connect)
      return {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", true};
    return {"", true};  // later polls and the POST: held
  });
  Probe p;
  p.to_send = std::string(79, 'l') + "\x1e";
  ASSERT_EQ(sr_loop_new(&p.loop), 0);
  connect(p, SR_TRANSPORT_LONG_POLLING, srv.url("/hub?id=abc"));
  ASSERT_TRUE(p.wait([&] { return p.opened; }));
  int poll = srv.wait_for([](const Request &r) { return r.method == "GET" && r.index > 0; });
  ASSERT_GE(poll, 0);
  ASSERT_GE(srv.wait_for(is_post), 0);
  srv.release(poll, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(p.wait([&] { return p.closed; }));
  EXPECT_EQ(p.error, SIGNALR_ENOTFOUND) << p.reason;
  EXPECT_EQ(p.queued_at_close, p.to_send.size()) << "the unanswered POST's bytes vanished";
  sr_loop_free(p.loop);
}
