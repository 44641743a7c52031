// A fake transport with an in-process SignalR "server", for testing the public API without a
// network or .NET: install a FakeServer, build a connection with skip_negotiation and
// transports=websockets, and every WebSocket the library opens is a FakeConn instead.
//
// The server side runs on the loop's I/O thread (timers and posts, never inside a transport
// call): it answers the JSON handshake with {}\x1e, records every hub message the client sends,
// and does what the test scripts: completions, invocations of client methods, floods, a server
// that stops reading (send queue grows, no drain), a lost connection. It keeps the transport
// contract of core/src/transport/transport.h (no callback inside its own call, on_close once,
// nothing after free) and records what the library asked of it (pause/resume, close, free) so
// tests can check flow control from the transport's side.
//
// Thread use: the FakeServer's methods may be called from any thread; scripted actions are
// posted to the loop of the latest connection. Observations are taken under the server's
// mutex; wait() blocks on its condition variable (bounded) until a predicate holds.
//
// Lifetime: one FakeServer at a time (the override is process-wide). Declare it before the
// client objects so it outlives the context: FakeConns are owned by the server and freed by
// its destructor, so a late posted action never touches freed memory.
#pragma once

#include <cjson/cJSON.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include "runtime/loop.h"
#include "signalr/signalr.h"
#include "transport/transport.h"
}

namespace srtest {

// One hub message the client sent (after the handshake), parsed.
struct FakeMsg {
  int type = 0;
  std::string target, invocation_id, arguments, raw;  // arguments: JSON text of the array
  std::string result, error;                          // completions (type 3) the client sent
};

class FakeServer;

// One transport the library connected. Fields are guarded by the server's mutex.
struct FakeConn {
  FakeServer *server = nullptr;
  sr_loop *loop = nullptr;
  sr_transport_callbacks cb{};
  void *ud = nullptr;
  size_t max_send_queue = 0;
  int32_t close_timeout_ms = 0;
  std::string url;

  bool opened = false, closing = false, closed = false, freed = false;
  bool handshake_done = false;
  bool paused = false;
  std::vector<int> pause_calls;     // every sr_transport_pause the library made, in order
  bool reading = true;              // the server reads what the client sends
  size_t queued = 0, max_queued = 0;  // client bytes the server has not read (queued_bytes)
  std::string unread;               // those bytes
  std::string inbox;                // read, not yet a whole record
  std::vector<FakeMsg> received;    // hub messages from the client
  std::deque<std::string> outbox;   // server messages waiting for delivery (with \x1e)
  size_t delivered = 0;             // server messages delivered to the client
  size_t delivered_bytes = 0;
  int drains = 0, close_calls = 0, send_calls = 0, eagain = 0;
  int close_error = 0;              // what on_close reported
  sr_timer *pump_timer = nullptr, *read_timer = nullptr, *close_timer = nullptr, *open_timer = nullptr;
};

class FakeServer {
 public:
  // What the server does with each client message after the handshake (I/O thread, with the
  // server's mutex held): call reply() to answer. Default: nothing (the test scripts replies).
  using Responder = std::function<void(FakeServer &, FakeConn &, const FakeMsg &)>;

  FakeServer() {
    instance() = this;
    sr_transport_set_override(SR_TRANSPORT_WEBSOCKETS, &ops());
  }
  ~FakeServer() {
    sr_transport_set_override(SR_TRANSPORT_WEBSOCKETS, nullptr);
    instance() = nullptr;
    for (CloseJob *j : pending_closes_) delete j;
  }
  FakeServer(const FakeServer &) = delete;
  FakeServer &operator=(const FakeServer &) = delete;

  // ---- configuration (before the connection starts)
  // The handshake answer: "{}" (default), or e.g. {"error":"nope"}; empty: never answer.
  void set_handshake_reply(std::string json) {
    std::lock_guard<std::mutex> lk(mu_);
    handshake_reply_ = std::move(json);
  }
  // The transport fails to open with this error (on_close, opened=0) instead of opening.
  void set_open_error(int error) {
    std::lock_guard<std::mutex> lk(mu_);
    open_error_ = error;
  }
  // Server messages per transport message (a frame), like the server's batching. Default 1.
  void set_frame_messages(size_t n) {
    std::lock_guard<std::mutex> lk(mu_);
    frame_messages_ = n ? n : 1;
  }
  void set_responder(Responder r) {
    std::lock_guard<std::mutex> lk(mu_);
    responder_ = std::move(r);
  }
  // Completes every invocation with its first argument (or null), in order; a stream
  // invocation gets it as its only item.
  void echo_invocations() {
    set_responder([](FakeServer &s, FakeConn &c, const FakeMsg &m) {
      if ((m.type == 1 || m.type == 4) && !m.invocation_id.empty()) {
        std::string first = "null";
        if (cJSON *a = cJSON_Parse(m.arguments.c_str())) {
          if (cJSON *f = cJSON_GetArrayItem(a, 0)) {
            char *t = cJSON_PrintUnformatted(f);
            first = t;
            cJSON_free(t);
          }
          cJSON_Delete(a);
        }
        const std::string id = "\"invocationId\":\"" + m.invocation_id + "\"";
        if (m.type == 1) {
          s.reply_locked(c, "{\"type\":3," + id + ",\"result\":" + first + "}");
        } else {  // a stream: the argument as its one item, then the end
          s.reply_locked(c, "{\"type\":2," + id + ",\"item\":" + first + "}");
          s.reply_locked(c, "{\"type\":3," + id + "}");
        }
      }
    });
  }

  // ---- scripted server actions (any thread; run on the I/O thread, on the latest connection)
  // One server message (JSON without the record separator).
  void push(const std::string &json) {
    act([json](FakeServer &s, FakeConn &c) { s.reply_locked(c, json); });
  }
  void complete(const std::string &id, const std::string &result_json) {
    push("{\"type\":3,\"invocationId\":\"" + id + "\",\"result\":" + result_json + "}");
  }
  void complete_error(const std::string &id, const std::string &error) {
    push("{\"type\":3,\"invocationId\":\"" + id + "\",\"error\":\"" + error + "\"}");
  }
  void stream_item(const std::string &id, const std::string &item_json) {
    push("{\"type\":2,\"invocationId\":\"" + id + "\",\"item\":" + item_json + "}");
  }
  void invoke_client(const std::string &target, const std::string &args_json, const std::string &id = "") {
    push("{\"type\":1," + (id.empty() ? std::string() : "\"invocationId\":\"" + id + "\",") + "\"target\":\"" +
         target + "\",\"arguments\":" + args_json + "}");
  }
  // n invocations of target with arguments [first], [first+1], ... queued at once; delivered
  // as fast as the client reads (a few frames per loop turn) until it pauses.
  void flood(const std::string &target, int n, int first = 0, const std::string &pad = "") {
    act([target, n, first, pad](FakeServer &s, FakeConn &c) {
      for (int i = 0; i < n; i++)
        c.outbox.push_back("{\"type\":1,\"target\":\"" + target + "\",\"arguments\":[" + std::to_string(first + i) +
                           (pad.empty() ? "" : ",\"" + pad + "\"") + "]}\x1e");
      s.arm_pump(c);
    });
  }
  // The server stops (false) or starts again (true) reading what the client sends.
  void set_reading(bool on) {
    act([on](FakeServer &s, FakeConn &c) {
      c.reading = on;
      if (on) s.arm_read(c);
    });
  }
  // The connection is lost (error != 0: on_close with it, close code 1006) or the server ends
  // it cleanly (error 0: close code 1000).
  void drop(int error, const std::string &reason = "dropped by the fake server") {
    act([error, reason](FakeServer &s, FakeConn &c) {
      if (c.opened && !c.closed) s.finish(c, error, error ? 1006 : 1000, reason);
    });
  }

  // ---- observation (any thread)
  template <class Pred>
  bool wait(Pred pred, int ms = 5000) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, std::chrono::milliseconds(ms), [&] { return pred(*this); });
  }
  // Under the server's mutex: reads of conns() / last() and their fields.
  template <class Fn>
  auto with(Fn fn) {
    std::lock_guard<std::mutex> lk(mu_);
    return fn(*this);
  }
  // Only under the mutex (inside wait/with predicates).
  const std::vector<std::unique_ptr<FakeConn>> &conns() const { return conns_; }
  FakeConn *last() const { return conns_.empty() ? nullptr : conns_.back().get(); }
  // Messages of one type the latest connection received (under the mutex).
  std::vector<FakeMsg> received_locked(int type) const {
    std::vector<FakeMsg> out;
    if (FakeConn *c = last())
      for (auto &m : c->received)
        if (m.type == type) out.push_back(m);
    return out;
  }
  std::vector<FakeMsg> received(int type) {
    std::lock_guard<std::mutex> lk(mu_);
    return received_locked(type);
  }
  size_t connects() {
    std::lock_guard<std::mutex> lk(mu_);
    return conns_.size();
  }
  // Waits until the latest connection received `n` messages of `type`; returns them.
  std::vector<FakeMsg> wait_received(int type, size_t n, int ms = 5000) {
    wait([&](FakeServer &s) { return s.received_locked(type).size() >= n; }, ms);
    return received(type);
  }

  // ---- for responders (I/O thread, mutex held): queue a server message for the client
  void reply_locked(FakeConn &c, const std::string &json) {
    if (c.closed || c.freed) return;
    c.outbox.push_back(json + "\x1e");
    arm_pump(c);
  }

 private:
  static FakeServer *&instance() {
    static FakeServer *s = nullptr;
    return s;
  }

  // Runs fn on the latest connection's I/O thread with the mutex held (if it is still there).
  void act(std::function<void(FakeServer &, FakeConn &)> fn) {
    FakeConn *c;
    {
      std::lock_guard<std::mutex> lk(mu_);
      c = last();
    }
    if (!c) return;
    struct Job {
      FakeServer *s;
      FakeConn *c;
      std::function<void(FakeServer &, FakeConn &)> fn;
    };
    auto *job = new Job{this, c, std::move(fn)};
    int rc = sr_loop_post(
        c->loop,
        [](void *arg) {
          std::unique_ptr<Job> j(static_cast<Job *>(arg));
          std::lock_guard<std::mutex> lk(j->s->mu_);
          if (!j->c->freed) j->fn(*j->s, *j->c);
          j->s->cv_.notify_all();
        },
        job);
    if (rc) delete job;
  }

  // ---- the I/O thread side; every function here is entered with the mutex held

  void arm_pump(FakeConn &c) {
    if (c.pump_timer || !c.opened || c.closed || c.freed || c.paused || c.outbox.empty()) return;
    c.pump_timer = sr_loop_timer_start(c.loop, 0, on_pump, &c);
  }
  void arm_read(FakeConn &c) {
    if (c.read_timer || c.freed || c.closed || !c.reading || (c.unread.empty() && !c.closing)) return;
    c.read_timer = sr_loop_timer_start(c.loop, 0, on_read, &c);
  }

  // Delivers a few frames (a loop turn's worth), then yields to the loop.
  static void on_pump(void *arg) {
    auto &c = *static_cast<FakeConn *>(arg);
    FakeServer &s = *c.server;
    std::unique_lock<std::mutex> lk(s.mu_);
    c.pump_timer = nullptr;
    for (int frames = 0; frames < 32; frames++) {
      if (c.closed || c.freed || !c.opened || c.outbox.empty()) break;
      if (c.paused) break;  // nothing is read while paused (TCP would push back)
      std::string frame;
      size_t n = 0;
      while (n < s.frame_messages_ && !c.outbox.empty()) {
        frame += c.outbox.front();
        c.outbox.pop_front();
        n++;
      }
      c.delivered += n;
      c.delivered_bytes += frame.size();
      auto on_message = c.cb.on_message;
      void *ud = c.ud;
      s.cv_.notify_all();
      lk.unlock();
      on_message(ud, reinterpret_cast<const uint8_t *>(frame.data()), frame.size());  // may pause, close, free
      lk.lock();
    }
    s.arm_pump(c);
    s.cv_.notify_all();
  }

  // The server reads everything the client queued: records, handshake, responder; then drain.
  static void on_read(void *arg) {
    auto &c = *static_cast<FakeConn *>(arg);
    FakeServer &s = *c.server;
    std::unique_lock<std::mutex> lk(s.mu_);
    c.read_timer = nullptr;
    if (c.freed || c.closed || !c.reading) return;
    bool had = !c.unread.empty();
    c.inbox += c.unread;
    c.unread.clear();
    c.queued = 0;
    size_t at;
    while ((at = c.inbox.find('\x1e')) != std::string::npos) {
      std::string rec = c.inbox.substr(0, at);
      c.inbox.erase(0, at + 1);
      s.on_record(c, rec);
    }
    if (c.closing) {  // what was sent is read: the close handshake completes
      s.finish(c, 0, 1000, "closed by the client");
      s.cv_.notify_all();
      return;
    }
    s.cv_.notify_all();
    if (!had || !c.cb.on_drain) return;
    c.drains++;
    auto on_drain = c.cb.on_drain;
    void *ud = c.ud;
    lk.unlock();
    on_drain(ud);
  }

  void on_record(FakeConn &c, const std::string &rec) {
    if (!c.handshake_done) {
      c.handshake_done = true;
      if (!handshake_reply_.empty()) reply_locked(c, handshake_reply_);
      return;
    }
    FakeMsg m;
    m.raw = rec;
    if (cJSON *j = cJSON_Parse(rec.c_str())) {
      cJSON *v;
      if ((v = cJSON_GetObjectItem(j, "type")) && cJSON_IsNumber(v)) m.type = v->valueint;
      if ((v = cJSON_GetObjectItem(j, "target")) && cJSON_IsString(v)) m.target = v->valuestring;
      if ((v = cJSON_GetObjectItem(j, "invocationId")) && cJSON_IsString(v)) m.invocation_id = v->valuestring;
      if ((v = cJSON_GetObjectItem(j, "error")) && cJSON_IsString(v)) m.error = v->valuestring;
      if ((v = cJSON_GetObjectItem(j, "arguments"))) {
        char *t = cJSON_PrintUnformatted(v);
        m.arguments = t;
        cJSON_free(t);
      }
      if ((v = cJSON_GetObjectItem(j, "result"))) {
        char *t = cJSON_PrintUnformatted(v);
        m.result = t;
        cJSON_free(t);
      }
      cJSON_Delete(j);
    }
    c.received.push_back(m);
    if (responder_) responder_(*this, c, c.received.back());
  }

  // on_close once, from a timer of its own (finish may run inside a transport call: close);
  // the other timers stop, so nothing else follows.
  struct CloseJob {
    FakeServer *s;
    FakeConn *c;
    sr_transport_close_info info;
    std::string reason;
  };
  void finish(FakeConn &c, int error, int code, const std::string &reason) {
    if (c.closed || c.freed) return;
    c.closed = true;
    c.close_error = error;
    cancel_timers(c);
    auto *job = new CloseJob{this, &c, {error, 0, code, nullptr, c.opened ? 1 : 0}, reason};
    pending_closes_.push_back(job);
    if (!sr_loop_timer_start(c.loop, 0, on_close_timer, job)) forget_close(job), delete job;
  }
  static void on_close_timer(void *arg) {
    auto *job = static_cast<CloseJob *>(arg);
    FakeServer &s = *job->s;
    std::unique_lock<std::mutex> lk(s.mu_);
    s.forget_close(job);
    FakeConn &c = *job->c;
    if (c.freed) {
      delete job;
      return;
    }
    job->info.reason = job->reason.c_str();
    auto on_close = c.cb.on_close;
    void *ud = c.ud;
    s.cv_.notify_all();
    lk.unlock();
    on_close(ud, &job->info);  // may free the transport (and usually does)
    delete job;
  }

  void cancel_timers(FakeConn &c) {
    for (sr_timer **t : {&c.pump_timer, &c.read_timer, &c.close_timer, &c.open_timer}) {
      if (*t) sr_loop_timer_cancel(c.loop, *t);
      *t = nullptr;
    }
  }
  void forget_close(CloseJob *job) {
    for (auto it = pending_closes_.begin(); it != pending_closes_.end(); ++it)
      if (*it == job) {
        pending_closes_.erase(it);
        return;
      }
  }

  // ---- the ops (the transport interface)
  static const sr_transport_ops &ops() {
    static const sr_transport_ops o = {op_connect, op_send, op_queued_bytes, op_close, op_pause, op_free};
    return o;
  }

  static int op_connect(sr_loop *loop, const sr_transport_config *cfg, const sr_transport_callbacks *cb, void *ud,
                        void **impl) {
    FakeServer *s = instance();
    if (!s) return SIGNALR_EUNSUPPORTED;
    std::lock_guard<std::mutex> lk(s->mu_);
    auto c = std::make_unique<FakeConn>();
    c->server = s;
    c->loop = loop;
    c->cb = *cb;
    c->ud = ud;
    c->max_send_queue = cfg->max_send_queue;
    c->close_timeout_ms = cfg->close_timeout_ms;
    c->url = cfg->url ? cfg->url : "";
    FakeConn *raw = c.get();
    s->conns_.push_back(std::move(c));
    raw->open_timer = sr_loop_timer_start(loop, 0, on_open_timer, raw);
    if (!raw->open_timer) return SIGNALR_ENOMEM;
    *impl = raw;
    s->cv_.notify_all();
    return 0;
  }
  static void on_open_timer(void *arg) {
    auto &c = *static_cast<FakeConn *>(arg);
    FakeServer &s = *c.server;
    std::unique_lock<std::mutex> lk(s.mu_);
    c.open_timer = nullptr;
    if (c.freed || c.closed) return;
    if (s.open_error_) {
      s.finish(c, s.open_error_, 0, "the fake server refused the connection");
      return;
    }
    c.opened = true;
    auto on_open = c.cb.on_open;
    void *ud = c.ud;
    s.cv_.notify_all();
    lk.unlock();
    on_open(ud);
  }
  static int op_send(void *impl, const uint8_t *data, size_t len) {
    auto &c = *static_cast<FakeConn *>(impl);
    FakeServer &s = *c.server;
    std::lock_guard<std::mutex> lk(s.mu_);
    c.send_calls++;
    if (!c.opened || c.closing || c.closed) return SIGNALR_ESTATE;
    if (c.queued + len > c.max_send_queue) {
      c.eagain++;
      return SIGNALR_EAGAIN;
    }
    c.unread.append(reinterpret_cast<const char *>(data), len);
    c.queued += len;
    if (c.queued > c.max_queued) c.max_queued = c.queued;
    s.arm_read(c);
    s.cv_.notify_all();
    return 0;
  }
  static size_t op_queued_bytes(const void *impl) {
    auto &c = *static_cast<const FakeConn *>(impl);
    std::lock_guard<std::mutex> lk(c.server->mu_);
    return c.queued;
  }
  static void op_close(void *impl) {
    auto &c = *static_cast<FakeConn *>(impl);
    FakeServer &s = *c.server;
    std::lock_guard<std::mutex> lk(s.mu_);
    c.close_calls++;
    if (c.closed || c.closing) return;
    if (!c.opened) {
      s.finish(c, SIGNALR_ECANCELED, 0, "connect canceled");
    } else {
      c.closing = true;
      if (c.reading) s.arm_read(c);
      // a server that does not read cannot hold the close: abort after close_timeout_ms
      c.close_timer = sr_loop_timer_start(c.loop, sr_loop_now_ms() + c.close_timeout_ms, on_close_timeout, &c);
    }
    s.cv_.notify_all();
  }
  static void on_close_timeout(void *arg) {
    auto &c = *static_cast<FakeConn *>(arg);
    FakeServer &s = *c.server;
    std::lock_guard<std::mutex> lk(s.mu_);
    c.close_timer = nullptr;
    s.finish(c, SIGNALR_ETIMEOUT, 1006, "the fake server did not read the close");
    s.cv_.notify_all();
  }
  static void op_pause(void *impl, int paused) {
    auto &c = *static_cast<FakeConn *>(impl);
    FakeServer &s = *c.server;
    std::lock_guard<std::mutex> lk(s.mu_);
    c.pause_calls.push_back(paused);
    c.paused = paused != 0;
    if (!c.paused) s.arm_pump(c);
    s.cv_.notify_all();
  }
  static void op_free(void *impl) {
    auto &c = *static_cast<FakeConn *>(impl);
    FakeServer &s = *c.server;
    std::lock_guard<std::mutex> lk(s.mu_);
    c.freed = true;
    // Timers belong to the loop, which may be gone after on_close (free from any thread):
    // only a transport freed before its on_close still has any.
    if (!c.closed) s.cancel_timers(c);
    s.cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<FakeConn>> conns_;
  std::vector<CloseJob *> pending_closes_;  // on_close timers not run yet (a freed loop drops them)
  std::string handshake_reply_ = "{}";
  int open_error_ = 0;
  size_t frame_messages_ = 1;
  Responder responder_;
};

}  // namespace srtest
