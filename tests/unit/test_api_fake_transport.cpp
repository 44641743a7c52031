// The public ABI's promises, tested over the fake transport (tests/support/fake_transport.h),
// without a network or .NET: freeing a connection inside its own callbacks, SIGNALR_ERECURSIVE
// from every blocking call inside every kind of callback, receive and send flow control, and
// every pending operation completing once with SIGNALR_ECLOSED on free - in poll mode and in
// SIGNALR_CONTEXT_DIRECT mode. Everything goes through signalr_* except installing the fake;
// the FakeTransportLayer tests check the transport interface's own rules (transport.h).
//
// Synchronisation: completion callbacks, the fake server's condition variable and
// signalr_context_poll's bounded waits; the few negative checks ("nothing happens") are bounded
// waits for the thing that must not happen.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../support/fake_transport.h"

using srtest::FakeConn;
using srtest::FakeMsg;
using srtest::FakeServer;

namespace {

using Clock = std::chrono::steady_clock;
using Options = std::vector<std::pair<const char *, std::string>>;

enum { INVOCATION = 1, STREAM_ITEM = 2, COMPLETION = 3, STREAM_INVOCATION = 4, CANCEL = 5, PING = 6, CLOSE = 7 };

// A connection to the fake server through the public API, with thread-safe records of what
// its callbacks saw (they run on the test thread in poll mode, on the I/O thread in direct).
struct Client {
  int flags;
  signalr_context *ctx = nullptr;
  signalr_connection *conn = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<int, int>> lifecycle;  // event, error code
  std::vector<std::string> send_failed;        // SIGNALR_EVENT_SEND_FAILED messages
  std::function<void(int event)> on_lifecycle;  // runs inside the lifecycle callback
  std::atomic<int> callbacks{0};                // every callback of the connection
  std::atomic<bool> freed{false};
  std::atomic<int> after_free{0};               // callbacks that started after free returned
  std::atomic<int> after_free_other{0};         // of them, not completions

  explicit Client(int flags_ = 0, const Options &opts = {},
                  const std::function<void(signalr_builder *)> &extra = nullptr)
      : flags(flags_) {
    EXPECT_EQ(signalr_context_new(&ctx, flags), 0);
    signalr_builder *b = nullptr;
    EXPECT_EQ(signalr_builder_new(&b), 0);
    char err[256];
    Options all = {{"url", "http://fake.invalid/hub"}, {"skip_negotiation", "true"}, {"transports", "websockets"}};
    all.insert(all.end(), opts.begin(), opts.end());
    for (auto &o : all) EXPECT_EQ(signalr_builder_set(b, o.first, o.second.c_str(), err, sizeof err), 0) << err;
    signalr_builder_set_lifecycle(b, on_life, this, nullptr);
    if (extra) extra(b);
    EXPECT_EQ(signalr_builder_build(b, ctx, &conn, err, sizeof err), 0) << err;
    signalr_builder_free(b);
  }
  ~Client() {
    free_conn();
    if (!(flags & SIGNALR_CONTEXT_DIRECT)) signalr_context_poll(ctx, 0);
    EXPECT_EQ(signalr_context_free(ctx), 0);
  }

  bool direct() const { return flags & SIGNALR_CONTEXT_DIRECT; }

  // Called at the start of every callback.
  void entered(bool completion = false) {
    callbacks++;
    if (freed) after_free++;
    if (freed && !completion) after_free_other++;
  }
  void notify() {
    std::lock_guard<std::mutex> lk(mu);
    cv.notify_all();
  }

  static void on_life(void *ud, signalr_connection *, int event, const signalr_error *e) {
    auto *self = static_cast<Client *>(ud);
    self->entered();
    if (self->on_lifecycle) self->on_lifecycle(event);
    {  // recorded once the body returned: a waiter then sees what it did (a free, say)
      std::lock_guard<std::mutex> lk(self->mu);
      self->lifecycle.push_back({event, signalr_error_code(e)});
      if (event == SIGNALR_EVENT_SEND_FAILED) self->send_failed.push_back(e ? signalr_error_message(e) : "");
    }
    self->notify();
  }
  int count(int event) {
    std::lock_guard<std::mutex> lk(mu);
    int n = 0;
    for (auto &l : lifecycle) n += l.first == event;
    return n;
  }

  // Runs callbacks until pred() holds or ms pass: polls in poll mode, waits for a callback's
  // notification in direct mode (bounded: 10 ms a round). pred runs without mu held.
  bool until(const std::function<bool()> &pred, int ms = 5000) {
    auto end = Clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
      if (pred()) return true;
      if (Clock::now() >= end) return false;
      if (direct()) {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait_for(lk, std::chrono::milliseconds(10));
      } else {
        EXPECT_GE(signalr_context_poll(ctx, 10), 0);
      }
    }
  }

  int start() {
    signalr_error *err = nullptr;
    int rc = signalr_connection_start_blocking(conn, 5000, &err);
    if (err) ADD_FAILURE() << "start: " << signalr_error_message(err);
    signalr_error_free(err);
    return rc;
  }

  void free_conn() {
    if (!conn) return;
    signalr_connection *c = conn;
    conn = nullptr;
    signalr_connection_free(c);
    freed = true;
  }
};

// One operation's completion (invoke, stream done, start, stop, send with completion).
struct Op {
  Client *cl = nullptr;
  std::atomic<int> calls{0}, items{0};
  int code = 0;
  std::string json;
  std::vector<std::string> item_json;
  std::thread::id thread;
  std::function<void()> inside;  // runs inside the completion, after it was recorded
  std::function<void()> inside_item;
  bool inside_returned = false;

  explicit Op(Client *c = nullptr) : cl(c) {}

  static void done(void *ud, signalr_connection *, const signalr_value *v, const signalr_error *e) {
    auto *op = static_cast<Op *>(ud);
    op->cl->entered(true);
    {
      std::unique_lock<std::mutex> lk(op->cl->mu);
      op->code = signalr_error_code(e);
      op->thread = std::this_thread::get_id();
      const char *j;
      size_t n;
      if (v && signalr_value_json(v, &j, &n) == 0) op->json.assign(j, n);
    }
    if (op->inside) op->inside();
    op->inside_returned = true;
    op->calls++;  // after the body: a waiter sees what it did
    op->cl->notify();
  }
  static void item(void *ud, signalr_connection *, const signalr_value *v) {
    auto *op = static_cast<Op *>(ud);
    op->cl->entered();
    {
      std::unique_lock<std::mutex> lk(op->cl->mu);
      const char *j;
      size_t n;
      if (signalr_value_json(v, &j, &n) == 0) op->item_json.emplace_back(j, n);
    }
    if (op->inside_item) op->inside_item();
    op->items++;
    op->cl->notify();
  }
};

int invoke(Client &c, Op &op, const char *method, const std::string &args) {
  return signalr_connection_invoke(c.conn, method, args.data(), args.size(), SIGNALR_ENCODING_JSON, Op::done, &op);
}

int stream(Client &c, Op &op, const char *method, const std::string &args) {
  return signalr_connection_stream(c.conn, method, args.data(), args.size(), SIGNALR_ENCODING_JSON, Op::item,
                                   Op::done, &op, nullptr);
}

int send(Client &c, const char *method, const std::string &args) {
  return signalr_connection_send(c.conn, method, args.data(), args.size(), SIGNALR_ENCODING_JSON);
}

// The invocation ids of the client's invocations (type 1 with an id, or streams), in order.
std::vector<std::string> ids_of(const std::vector<FakeMsg> &msgs) {
  std::vector<std::string> out;
  for (auto &m : msgs)
    if (!m.invocation_id.empty()) out.push_back(m.invocation_id);
  return out;
}

// A handler with a std::function body.
struct Handler {
  Client *cl;
  std::function<void(const std::string &args)> body;
  std::atomic<int> calls{0};
  std::atomic<int> freed_user_data{0};

  static int fn(void *ud, signalr_connection *, const signalr_value *args, const void **, size_t *, int *,
                const char **) {
    auto *h = static_cast<Handler *>(ud);
    h->cl->entered();
    const char *j;
    size_t n;
    std::string a;
    if (signalr_value_json(args, &j, &n) == 0) a.assign(j, n);
    if (h->body) h->body(a);
    h->calls++;
    h->cl->notify();
    return 0;
  }
  static void free_ud(void *ud) { static_cast<Handler *>(ud)->freed_user_data++; }
};

void on(Client &c, const char *method, Handler &h) {
  ASSERT_EQ(signalr_connection_on(c.conn, method, Handler::fn, &h, Handler::free_ud, nullptr), 0);
}

// The transport the library made last (fake server's view), with the server's mutex held.
template <class Fn>
auto last(FakeServer &s, Fn fn) {
  return s.with([&](FakeServer &srv) { return fn(*srv.last()); });
}

// ------------------------------------------------------------------ blocking-call probes

// What every blocking function of the API returned inside one callback.
struct Probe {
  int poll = 1, context_free = 1, start_blocking = 1, stop_blocking = 1;
  bool ran = false;
};

void probe(signalr_context *ctx, signalr_connection *conn, Probe &p) {
  if (p.ran) return;
  p.poll = signalr_context_poll(ctx, 0);
  p.context_free = signalr_context_free(ctx);
  p.start_blocking = signalr_connection_start_blocking(conn, 0, nullptr);
  p.stop_blocking = signalr_connection_stop_blocking(conn, 0);
  p.ran = true;
}

}  // namespace

// ================================================================== free inside a callback

// An invoke's completion frees its connection: allowed (the header says so). The other pending
// invoke completes once with ECLOSED, on this thread, before the free returns; nothing else of
// the connection runs afterwards; the transport is aborted (freed without a close).
TEST(FakeTransportApi, FreeInsideACompletion) {
  FakeServer s;
  Client c;
  ASSERT_EQ(c.start(), 0);
  Op a(&c), b(&c);
  ASSERT_EQ(invoke(c, a, "First", "[1]"), 0);
  ASSERT_EQ(invoke(c, b, "Second", "[2]"), 0);
  auto ids = ids_of(s.wait_received(INVOCATION, 2));
  ASSERT_EQ(ids.size(), 2u);
  bool b_done_inside = false;
  a.inside = [&] {
    c.free_conn();
    b_done_inside = b.calls == 1;  // completed by the free, before it returned
  };
  s.complete(ids[0], "\"one\"");
  ASSERT_TRUE(c.until([&] { return a.calls == 1; }));
  EXPECT_EQ(a.code, 0);
  EXPECT_EQ(a.json, "\"one\"");
  EXPECT_TRUE(b_done_inside);
  EXPECT_EQ(b.calls, 1);
  EXPECT_EQ(b.code, SIGNALR_ECLOSED);
  s.complete(ids[1], "\"late\"");  // the transport is gone: nobody hears it
  c.until([] { return false; }, 100);
  EXPECT_EQ(a.calls, 1);
  EXPECT_EQ(b.calls, 1);
  EXPECT_EQ(c.after_free, 0);
  EXPECT_TRUE(last(s, [](FakeConn &t) { return t.freed && t.close_calls == 0; }));
}

// A handler frees the connection: the call after it never runs, a pending invoke completes
// with ECLOSED once, and the handler's free_user_data runs once.
TEST(FakeTransportApi, FreeInsideAHandler) {
  FakeServer s;
  Handler h{nullptr};
  {
    Client c;
    h.cl = &c;
    h.body = [&](const std::string &) { c.free_conn(); };
    on(c, "Hello", h);
    ASSERT_EQ(c.start(), 0);
    Op pending(&c);
    ASSERT_EQ(invoke(c, pending, "Never", "[]"), 0);
    s.wait_received(INVOCATION, 1);
    s.invoke_client("Hello", "[1]");
    s.invoke_client("Hello", "[2]");
    ASSERT_TRUE(c.until([&] { return h.calls >= 1 && pending.calls >= 1; }));
    c.until([] { return false; }, 100);
    EXPECT_EQ(h.calls, 1);
    EXPECT_EQ(pending.calls, 1);
    EXPECT_EQ(pending.code, SIGNALR_ECLOSED);
    EXPECT_EQ(c.after_free, 0);
  }
  EXPECT_EQ(h.freed_user_data, 1);
}

// The CONNECTED lifecycle callback frees the connection: no CLOSED event follows, the start's
// completion (which ran before) is not repeated.
TEST(FakeTransportApi, FreeInsideALifecycleCallback) {
  FakeServer s;
  Client c;
  c.on_lifecycle = [&](int event) {
    if (event == SIGNALR_EVENT_CONNECTED) c.free_conn();
  };
  Op started(&c);
  ASSERT_EQ(signalr_connection_start(c.conn, Op::done, &started), 0);
  ASSERT_TRUE(c.until([&] { return c.freed.load(); }));
  c.until([] { return false; }, 100);
  EXPECT_EQ(started.calls, 1);
  EXPECT_EQ(started.code, 0);
  EXPECT_EQ(c.count(SIGNALR_EVENT_CONNECTED), 1);
  EXPECT_EQ(c.count(SIGNALR_EVENT_CLOSED), 0);
  EXPECT_EQ(c.after_free, 0);
}

// A stream item frees the connection: the next item never runs; done runs once with ECLOSED.
TEST(FakeTransportApi, FreeInsideAStreamItem) {
  FakeServer s;
  Client c;
  ASSERT_EQ(c.start(), 0);
  Op st(&c);
  st.inside_item = [&] { c.free_conn(); };
  ASSERT_EQ(stream(c, st, "Counter", "[3]"), 0);
  auto ids = ids_of(s.wait_received(STREAM_INVOCATION, 1));
  ASSERT_EQ(ids.size(), 1u);
  s.stream_item(ids[0], "1");
  s.stream_item(ids[0], "2");
  s.complete(ids[0], "null");
  ASSERT_TRUE(c.until([&] { return st.calls >= 1; }));
  c.until([] { return false; }, 100);
  EXPECT_EQ(st.items, 1);
  EXPECT_EQ(st.calls, 1);
  EXPECT_EQ(st.code, SIGNALR_ECLOSED);
  EXPECT_EQ(c.after_free, 0);
}

// Direct mode: the completion runs on the I/O thread; freeing there is allowed, and the other
// pending completion runs right after the freeing callback returned, on that thread, once.
TEST(FakeTransportDirect, FreeInsideACompletion) {
  FakeServer s;
  Client c(SIGNALR_CONTEXT_DIRECT);
  ASSERT_EQ(c.start(), 0);
  Op a(&c), b(&c);
  ASSERT_EQ(invoke(c, a, "First", "[1]"), 0);
  ASSERT_EQ(invoke(c, b, "Second", "[2]"), 0);
  auto ids = ids_of(s.wait_received(INVOCATION, 2));
  ASSERT_EQ(ids.size(), 2u);
  std::atomic<bool> a_returned_first{false};
  int before = c.callbacks;
  a.inside = [&] { c.free_conn(); };
  b.inside = [&] { a_returned_first = a.inside_returned; };
  s.complete(ids[0], "1");
  ASSERT_TRUE(c.until([&] { return a.calls == 1 && b.calls == 1; }));
  c.until([] { return false; }, 100);
  EXPECT_EQ(a.code, 0);
  EXPECT_EQ(b.calls, 1);
  EXPECT_EQ(b.code, SIGNALR_ECLOSED);
  EXPECT_TRUE(a_returned_first) << "the pending completion ran inside the freeing callback";
  EXPECT_EQ(a.thread, b.thread);
  EXPECT_NE(a.thread, std::this_thread::get_id());
  EXPECT_EQ(c.callbacks, before + 2) << "another callback ran after the free";
}

// Direct mode: a handler (on the I/O thread) frees the connection.
TEST(FakeTransportDirect, FreeInsideAHandler) {
  FakeServer s;
  Handler h{nullptr};
  {
    Client c(SIGNALR_CONTEXT_DIRECT);
    h.cl = &c;
    h.body = [&](const std::string &) { c.free_conn(); };
    on(c, "Hello", h);
    ASSERT_EQ(c.start(), 0);
    Op pending(&c);
    ASSERT_EQ(invoke(c, pending, "Never", "[]"), 0);
    s.wait_received(INVOCATION, 1);
    s.invoke_client("Hello", "[1]");
    s.invoke_client("Hello", "[2]");
    ASSERT_TRUE(c.until([&] { return pending.calls >= 1; }));
    c.until([] { return false; }, 100);
    EXPECT_EQ(h.calls, 1);
    EXPECT_EQ(pending.calls, 1);
    EXPECT_EQ(pending.code, SIGNALR_ECLOSED);
  }
  EXPECT_EQ(h.freed_user_data, 1);
}

// Every kind of callback may free its connection (the header: "safe from any thread, also from
// inside its own callbacks"). Whatever callback frees it: no crash or leak, every operation that
// was started completes exactly once (those still pending with ECLOSED), and afterwards no
// callback of the connection starts - in direct mode only the pending completions, which run
// right after the freeing callback returned.
static void free_inside(const std::string &where, int flags) {
  SCOPED_TRACE("free inside: " + where);
  FakeServer s;
  Client *cp = nullptr;
  auto maybe_free = [&](const char *here) {
    if (where == here && cp && cp->conn) cp->free_conn();
  };
  struct Env {
    std::function<void(const char *)> *hook;
  };
  std::function<void(const char *)> hook = maybe_free;
  Env env{&hook};
  Client c(flags, {{"log_level", "debug"}, {"reconnect", "true"}}, [&](signalr_builder *b) {
    signalr_builder_set_log(b, [](void *ud, int, const char *) { (*static_cast<Env *>(ud)->hook)("log"); }, &env,
                            nullptr);
    signalr_builder_set_token_provider(
        b,
        [](void *ud, signalr_connection *, const char **token) {
          (*static_cast<Env *>(ud)->hook)("token provider");
          *token = nullptr;
          return 0;
        },
        &env, nullptr);
    signalr_builder_set_retry_policy(
        b,
        [](void *ud, uint32_t, int64_t, const signalr_error *) -> int32_t {
          (*static_cast<Env *>(ud)->hook)("retry policy");
          return 0;
        },
        &env, nullptr);
  });
  cp = &c;
  c.on_lifecycle = [&](int event) {
    if (event == SIGNALR_EVENT_CONNECTED) maybe_free("lifecycle connected");
    if (event == SIGNALR_EVENT_RECONNECTING) maybe_free("lifecycle reconnecting");
    if (event == SIGNALR_EVENT_RECONNECTED) maybe_free("lifecycle reconnected");
  };
  Handler h{&c};
  h.body = [&](const std::string &) { maybe_free("handler"); };
  on(c, "Hello", h);
  std::vector<std::unique_ptr<Op>> ops;
  auto op = [&](const char *name) {
    ops.push_back(std::make_unique<Op>(&c));
    Op *o = ops.back().get();
    o->inside = [&maybe_free, name] { maybe_free(name); };
    return o;
  };
  Op *started = op("start completion");
  ASSERT_EQ(signalr_connection_start(c.conn, Op::done, started), 0);
  // From here the test thread touches the handle only while no callback can have freed it:
  // each step waits for the callbacks it causes to have returned.
  ASSERT_TRUE(c.until([&] { return started->calls == 1 && (c.freed || c.count(SIGNALR_EVENT_CONNECTED) == 1); }));
  Op *pending = nullptr, *echo = nullptr, *st = nullptr;
  if (!c.freed) {
    pending = op("pending completion");
    echo = op("invoke completion");
    st = op("stream completion");
    st->inside_item = [&] { maybe_free("stream item"); };
    ASSERT_EQ(invoke(c, *pending, "Pending", "[]"), 0);
    ASSERT_EQ(invoke(c, *echo, "Echo", "[]"), 0);
    ASSERT_EQ(stream(c, *st, "Stream", "[]"), 0);
    const std::string args = "[]";
    ASSERT_EQ(signalr_connection_send_with_completion(c.conn, "Note", args.data(), args.size(),
                                                      SIGNALR_ENCODING_JSON, Op::done, op("send completion")),
              0);
    // the handle is not used past this point
    ASSERT_TRUE(c.until([&] { return ops.back()->calls == 1; }));
    std::vector<std::string> ids, sids;
    if (!c.freed) {  // (freed by the send's completion: the server may never read them)
      ids = ids_of(s.wait_received(INVOCATION, 3));
      sids = ids_of(s.wait_received(STREAM_INVOCATION, 1));
      ASSERT_EQ(ids.size(), 2u);
      ASSERT_EQ(sids.size(), 1u);
    }
    std::vector<std::pair<std::function<void()>, std::function<bool()>>> steps = {
        {[&] { s.complete(ids[1], "1"); }, [&] { return echo->calls == 1; }},
        {[&] { s.stream_item(sids[0], "2"); }, [&] { return st->items == 1; }},
        {[&] { s.complete(sids[0], "null"); }, [&] { return st->calls == 1; }},
        {[&] { s.invoke_client("Hello", "[]", "c1"); }, [&] { return h.calls == 1; }},
        {[&] { s.drop(SIGNALR_ETRANSPORT, "lost"); }, [&] { return c.count(SIGNALR_EVENT_RECONNECTED) == 1; }},
    };
    for (auto &step : steps) {
      if (c.freed) break;
      step.first();
      ASSERT_TRUE(c.until([&] { return c.freed || step.second(); }));
    }
  }
  ASSERT_TRUE(c.freed) << "the callback never ran";
  c.until([] { return false; }, 50);
  for (size_t i = 0; i < ops.size(); i++) EXPECT_EQ(ops[i]->calls, 1) << "operation " << i;
  if (pending) EXPECT_EQ(pending->code, SIGNALR_ECLOSED);
  EXPECT_EQ(c.after_free_other, 0) << "a callback other than a pending completion ran after free";
  if (!c.direct()) EXPECT_EQ(c.after_free, 0) << "a callback ran after free";
}

static const char *const kEveryCallback[] = {
    "log", "token provider", "retry policy", "lifecycle connected", "lifecycle reconnecting", "lifecycle reconnected",
    "start completion", "invoke completion", "stream item", "stream completion", "send completion", "handler"};

TEST(FakeTransportApi, FreeInsideEveryKindOfCallback) {
  for (const char *where : kEveryCallback) free_inside(where, 0);
}

TEST(FakeTransportDirect, FreeInsideEveryKindOfCallback) {
  for (const char *where : kEveryCallback) free_inside(where, SIGNALR_CONTEXT_DIRECT);
}

// ================================================================== ERECURSIVE everywhere

// Every blocking function (signalr_context_poll, signalr_context_free,
// signalr_connection_start_blocking, signalr_connection_stop_blocking) returns
// SIGNALR_ERECURSIVE inside every kind of callback: start/invoke/stream/send completions,
// stream items, handlers, lifecycle events, logs, the token provider and the retry policy.
static void every_callback_refuses_blocking_calls(int flags) {
  FakeServer s;
  s.echo_invocations();
  std::map<std::string, Probe> probes;
  std::mutex probes_mu;
  struct Env {
    Client *c;
    std::map<std::string, Probe> *probes;
    std::mutex *mu;
    void run(const char *name) {
      std::lock_guard<std::mutex> lk(*mu);
      probe(c->ctx, c->conn, (*probes)[name]);
    }
  } env{nullptr, &probes, &probes_mu};
  Client c(flags, {{"log_level", "debug"}, {"reconnect", "true"}}, [&](signalr_builder *b) {
    signalr_builder_set_log(b, [](void *ud, int, const char *) { static_cast<Env *>(ud)->run("log"); }, &env,
                            nullptr);
    signalr_builder_set_token_provider(
        b,
        [](void *ud, signalr_connection *, const char **token) {
          static_cast<Env *>(ud)->run("token provider");
          *token = "t0ken";
          return 0;
        },
        &env, nullptr);
    signalr_builder_set_retry_policy(
        b,
        [](void *ud, uint32_t, int64_t, const signalr_error *) -> int32_t {
          static_cast<Env *>(ud)->run("retry policy");
          return 0;
        },
        &env, nullptr);
  });
  env.c = &c;
  c.on_lifecycle = [&](int event) {
    if (event == SIGNALR_EVENT_CONNECTED) env.run("lifecycle connected");
    if (event == SIGNALR_EVENT_RECONNECTING) env.run("lifecycle reconnecting");
    if (event == SIGNALR_EVENT_RECONNECTED) env.run("lifecycle reconnected");
  };
  Handler h{&c};
  h.body = [&](const std::string &) { env.run("handler"); };
  on(c, "Hello", h);

  Op started(&c), invoked(&c), streamed(&c), sent(&c);
  started.inside = [&] { env.run("start completion"); };
  invoked.inside = [&] { env.run("invoke completion"); };
  streamed.inside_item = [&] { env.run("stream item"); };
  streamed.inside = [&] { env.run("stream completion"); };
  sent.inside = [&] { env.run("send completion"); };
  ASSERT_EQ(signalr_connection_start(c.conn, Op::done, &started), 0);
  ASSERT_TRUE(c.until([&] { return started.calls == 1; }));
  ASSERT_EQ(started.code, 0);
  ASSERT_EQ(invoke(c, invoked, "Echo", "[1]"), 0);
  ASSERT_EQ(stream(c, streamed, "Echo", "[2]"), 0);
  const std::string args = "[3]";
  ASSERT_EQ(signalr_connection_send_with_completion(c.conn, "Note", args.data(), args.size(), SIGNALR_ENCODING_JSON,
                                                    Op::done, &sent),
            0);
  s.invoke_client("Hello", "[]");
  ASSERT_TRUE(c.until([&] { return invoked.calls && streamed.calls && sent.calls && h.calls; }));
  s.drop(SIGNALR_ETRANSPORT, "lost");  // reconnecting, the retry policy, the token again, reconnected
  ASSERT_TRUE(c.until([&] { return c.count(SIGNALR_EVENT_RECONNECTED) == 1; }));

  const char *expected[] = {"log", "token provider", "retry policy", "lifecycle connected", "lifecycle reconnecting",
                            "lifecycle reconnected", "handler", "start completion", "invoke completion",
                            "stream item", "stream completion", "send completion"};
  std::lock_guard<std::mutex> lk(probes_mu);
  for (const char *name : expected) {
    SCOPED_TRACE(name);
    auto it = probes.find(name);
    ASSERT_TRUE(it != probes.end() && it->second.ran) << "callback never ran";
    EXPECT_EQ(it->second.poll, SIGNALR_ERECURSIVE);
    EXPECT_EQ(it->second.context_free, SIGNALR_ERECURSIVE);
    EXPECT_EQ(it->second.start_blocking, SIGNALR_ERECURSIVE);
    EXPECT_EQ(it->second.stop_blocking, SIGNALR_ERECURSIVE);
  }
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_CONNECTED) << "a refused call changed the state";
}

TEST(FakeTransportApi, BlockingCallsInsideEveryCallbackReturnErecursive) {
  every_callback_refuses_blocking_calls(0);
}

TEST(FakeTransportDirect, BlockingCallsInsideEveryCallbackReturnErecursive) {
  every_callback_refuses_blocking_calls(SIGNALR_CONTEXT_DIRECT);
}

// ================================================================== flow control

// A server floods an application that does not poll: the connection pauses its transport at
// application_max_buffer_size (the fake records pause(1)) and stays paused - neither the
// bound nor the server timeout is broken meanwhile - then each poll runs a bounded batch,
// reading resumes as the backlog drains, and every message arrives once, in order.
TEST(FakeTransportApi, FloodWithoutPollingPausesTheTransportAndLosesNothing) {
  FakeServer s;
  s.set_frame_messages(8);
  const size_t bound = 64 * 1024;
  Client c(0, {{"application_max_buffer_size", std::to_string(bound)}, {"server_timeout_ms", "1000"},
               {"keep_alive_interval_ms", "200"}});
  std::vector<int> seen;
  Handler h{&c};
  h.body = [&](const std::string &a) { seen.push_back(std::atoi(a.c_str() + 1)); };
  on(c, "Numbered", h);
  ASSERT_EQ(c.start(), 0);
  const int n = 20000;
  s.flood("Numbered", n);
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return srv.last()->paused; })) << "reading was never paused";
  size_t delivered = last(s, [](FakeConn &t) { return t.delivered_bytes; });
  EXPECT_LE(delivered, bound) << "more read than the bound lets queue";
  // Not polled for longer than the server timeout: still paused, still connected.
  EXPECT_FALSE(s.wait([](FakeServer &srv) { return srv.last()->closed || !srv.last()->paused; }, 1500));
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_CONNECTED);
  EXPECT_EQ(h.calls, 0);

  ASSERT_EQ(signalr_context_set_poll_budget(c.ctx, 256), 0);
  int biggest = 0;
  auto t0 = Clock::now();
  while (seen.size() < (size_t)n && Clock::now() - t0 < std::chrono::seconds(30)) {
    int ran = signalr_context_poll(c.ctx, 50);
    if (ran > biggest) biggest = ran;
  }
  ASSERT_EQ(seen.size(), (size_t)n);
  for (int i = 0; i < n; i++)
    if (seen[i] != i) {
      ADD_FAILURE() << "message " << i << " arrived as " << seen[i];
      break;
    }
  EXPECT_LE(biggest, 256) << "one poll ran more than its budget";
  auto pauses = last(s, [](FakeConn &t) { return t.pause_calls; });
  ASSERT_GE(pauses.size(), 2u);
  for (size_t i = 0; i < pauses.size(); i++) EXPECT_EQ(pauses[i], i % 2 == 0 ? 1 : 0) << "pause call " << i;
  EXPECT_EQ(last(s, [](FakeConn &t) { return t.delivered; }), (size_t)n + 1);  // + the handshake
}

// Direct mode: the flood runs straight into the handler on the I/O thread, in order.
TEST(FakeTransportDirect, FloodArrivesInOrder) {
  FakeServer s;
  s.set_frame_messages(16);
  Client c(SIGNALR_CONTEXT_DIRECT, {{"application_max_buffer_size", "65536"}});
  std::vector<int> seen;
  Handler h{&c};
  h.body = [&](const std::string &a) {
    std::lock_guard<std::mutex> lk(c.mu);
    seen.push_back(std::atoi(a.c_str() + 1));
  };
  on(c, "Numbered", h);
  ASSERT_EQ(c.start(), 0);
  const int n = 5000;
  s.flood("Numbered", n);
  ASSERT_TRUE(c.until(
      [&] {
        std::lock_guard<std::mutex> lk(c.mu);
        return seen.size() == (size_t)n;
      },
      20000));
  std::lock_guard<std::mutex> lk(c.mu);
  for (int i = 0; i < n; i++)
    if (seen[i] != i) {
      ADD_FAILURE() << "message " << i << " arrived as " << seen[i];
      break;
    }
}

// A server that stops reading: the transport's queue grows up to the send bound and no
// further (the fake's queued_bytes), send returns SIGNALR_EAGAIN for what is not accepted;
// SIGNALR_EVENT_WRITABLE comes once when the server reads again, and every accepted message
// arrives, in order. No SEND_FAILED.
static void stalled_server_gets_eagain_then_writable(int flags) {
  FakeServer s;
  const size_t bound = 16 * 1024;
  Client c(flags, {{"transport_max_buffer_size", std::to_string(bound)}});
  ASSERT_EQ(c.start(), 0);
  s.set_reading(false);
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return !srv.last()->reading; }));
  const std::string pad(1000, 'p');
  int accepted = 0, rc = 0;
  for (int i = 0; i < 5000 && rc == 0; i++) {
    rc = send(c, "Record", "[" + std::to_string(i) + ",\"" + pad + "\"]");
    if (rc == 0) accepted++;
    if (!c.direct() && i % 4 == 3) signalr_context_poll(c.ctx, 0);
  }
  ASSERT_EQ(rc, SIGNALR_EAGAIN) << "a server that reads nothing had everything accepted";
  EXPECT_LT(accepted, 5000);
  // What reached the transport stays near the bound (one message over at most).
  s.wait([&](FakeServer &srv) { return srv.last()->queued >= bound - 1100; }, 2000);
  size_t max_queued = last(s, [](FakeConn &t) { return t.max_queued; });
  EXPECT_LT(max_queued, bound + 1100);
  EXPECT_GT(max_queued, 0u);
  EXPECT_FALSE(c.until([&] { return c.count(SIGNALR_EVENT_WRITABLE) > 0; }, 200)) << "WRITABLE without room";
  EXPECT_EQ(send(c, "Record", "[-1]"), SIGNALR_EAGAIN);

  s.set_reading(true);
  ASSERT_TRUE(c.until([&] { return c.count(SIGNALR_EVENT_WRITABLE) == 1; })) << "no WRITABLE after the drain";
  auto got = s.wait_received(INVOCATION, accepted);
  ASSERT_EQ(got.size(), (size_t)accepted);
  for (int i = 0; i < accepted; i++) {
    EXPECT_EQ(got[i].target, "Record");
    EXPECT_EQ(got[i].arguments, "[" + std::to_string(i) + ",\"" + pad + "\"]") << "message " << i;
  }
  EXPECT_GT(last(s, [](FakeConn &t) { return t.drains; }), 0);
  EXPECT_EQ(send(c, "Record", "[\"again\"]"), 0);
  c.until([] { return false; }, 100);
  EXPECT_EQ(c.count(SIGNALR_EVENT_WRITABLE), 1);
  EXPECT_EQ(c.count(SIGNALR_EVENT_SEND_FAILED), 0);
}

TEST(FakeTransportApi, StalledServerGetsEagainThenWritable) { stalled_server_gets_eagain_then_writable(0); }

TEST(FakeTransportDirect, StalledServerGetsEagainThenWritable) {
  stalled_server_gets_eagain_then_writable(SIGNALR_CONTEXT_DIRECT);
}

// Invokes are not refused when the outgoing side is full: they wait for room, in order, and
// complete once the server reads again.
TEST(FakeTransportApi, InvokesWaitForRoomInsteadOfFailing) {
  FakeServer s;
  s.echo_invocations();
  const size_t bound = 8 * 1024;
  Client c(0, {{"transport_max_buffer_size", std::to_string(bound)}});
  ASSERT_EQ(c.start(), 0);
  s.set_reading(false);
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return !srv.last()->reading; }));
  const std::string pad(1000, 'q');
  int sends = 0;
  while (sends < 1000 && send(c, "Record", "[\"" + pad + "\"]") == 0) {
    sends++;
    if (sends % 4 == 0) signalr_context_poll(c.ctx, 0);
  }
  ASSERT_LT(sends, 1000);
  std::vector<std::unique_ptr<Op>> ops;
  for (int i = 0; i < 5; i++) {
    ops.push_back(std::make_unique<Op>(&c));
    ASSERT_EQ(invoke(c, *ops.back(), "Echo", "[" + std::to_string(i) + "]"), 0) << "invoke " << i << " refused";
  }
  EXPECT_FALSE(c.until([&] { return ops[0]->calls > 0; }, 200)) << "completed while the server read nothing";
  s.set_reading(true);
  ASSERT_TRUE(c.until([&] {
    for (auto &o : ops)
      if (!o->calls) return false;
    return true;
  }));
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(ops[i]->calls, 1);
    EXPECT_EQ(ops[i]->code, 0);
    EXPECT_EQ(ops[i]->json, std::to_string(i));
  }
  // The server got the sends first, then the invokes in order.
  auto got = s.received(INVOCATION);
  ASSERT_EQ(got.size(), (size_t)sends + 5);
  for (int i = 0; i < 5; i++) EXPECT_EQ(got[sends + i].arguments, "[" + std::to_string(i) + "]");
}

// ================================================================== completions on free

// Free with operations pending everywhere: in the engine (invokes, a stream), waiting for room
// (parked invokes), and a completion already queued for the application but not run. Each
// completes exactly once with SIGNALR_ECLOSED before free returns, on the freeing thread; no
// other callback runs (not even the queued lifecycle events); the transport is aborted.
static void free_completes_everything_pending(int flags) {
  FakeServer s;
  Client c(flags, {{"transport_max_buffer_size", "4096"}});
  ASSERT_EQ(c.start(), 0);
  std::vector<std::unique_ptr<Op>> ops;
  auto op = [&] {
    ops.push_back(std::make_unique<Op>(&c));
    return ops.back().get();
  };
  Op *answered = op();
  ASSERT_EQ(invoke(c, *answered, "Answered", "[]"), 0);
  for (int i = 0; i < 2; i++) ASSERT_EQ(invoke(c, *op(), "Pending", "[]"), 0);
  ASSERT_EQ(stream(c, *op(), "Stream", "[]"), 0);
  auto ids = ids_of(s.wait_received(INVOCATION, 3));
  ASSERT_EQ(s.wait_received(STREAM_INVOCATION, 1).size(), 1u);
  // The server answers the first: in poll mode that completion waits in the queue, unpolled
  // (in direct mode it would run at once: there it stays pending like the others).
  if (!c.direct()) {
    s.complete(ids.at(0), "42");
    ASSERT_TRUE(s.wait([](FakeServer &srv) { return srv.last()->outbox.empty() && srv.last()->delivered >= 2; }));
  }
  // A server that stops reading: what is invoked now waits for room.
  s.set_reading(false);
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return !srv.last()->reading; }));
  const std::string pad(1500, 'r');
  for (int i = 0; i < 100 && send(c, "Fill", "[\"" + pad + "\"]") == 0; i++) {
  }
  for (int i = 0; i < 3; i++) ASSERT_EQ(invoke(c, *op(), "Parked", "[]"), 0);
  ASSERT_EQ(stream(c, *op(), "ParkedStream", "[]"), 0);

  c.free_conn();
  for (size_t i = 0; i < ops.size(); i++) {
    SCOPED_TRACE("operation " + std::to_string(i));
    EXPECT_EQ(ops[i]->calls, 1);
    EXPECT_EQ(ops[i]->code, SIGNALR_ECLOSED);
    EXPECT_EQ(ops[i]->thread, std::this_thread::get_id());
  }
  int callbacks = c.callbacks;
  if (!c.direct()) {
    for (int i = 0; i < 5; i++) EXPECT_EQ(signalr_context_poll(c.ctx, 10), 0);
    EXPECT_EQ(c.count(SIGNALR_EVENT_CONNECTED), 0) << "a queued event ran after free";
  } else {
    c.until([] { return false; }, 50);
  }
  EXPECT_EQ(c.callbacks, callbacks);
  EXPECT_EQ(c.after_free, 0);
  EXPECT_TRUE(last(s, [](FakeConn &t) { return t.freed && t.close_calls == 0; }));
}

TEST(FakeTransportApi, FreeCompletesEveryPendingOperationOnceWithEclosed) { free_completes_everything_pending(0); }

TEST(FakeTransportDirect, FreeCompletesEveryPendingOperationOnceWithEclosed) {
  free_completes_everything_pending(SIGNALR_CONTEXT_DIRECT);
}

// A start that waits for the handshake, freed: its completion runs once with ECLOSED.
TEST(FakeTransportApi, FreeCompletesAPendingStart) {
  FakeServer s;
  s.set_handshake_reply("");  // the server never answers the handshake
  Client c;
  Op started(&c);
  ASSERT_EQ(signalr_connection_start(c.conn, Op::done, &started), 0);
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return srv.last() && srv.last()->handshake_done; }));
  c.free_conn();
  EXPECT_EQ(started.calls, 1);
  EXPECT_EQ(started.code, SIGNALR_ECLOSED);
  EXPECT_EQ(signalr_context_poll(c.ctx, 20), 0);
  EXPECT_EQ(started.calls, 1);
}

// A stop that waits for a server that does not read (close_timeout_ms is long), freed: the
// stop's completion and the pending invoke's complete once each.
TEST(FakeTransportApi, FreeCompletesAPendingStop) {
  FakeServer s;
  Client c(0, {{"close_timeout_ms", "20000"}});
  ASSERT_EQ(c.start(), 0);
  s.set_reading(false);
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return !srv.last()->reading; }));
  Op pending(&c), stopped(&c);
  ASSERT_EQ(invoke(c, pending, "Pending", "[]"), 0);
  ASSERT_EQ(signalr_connection_stop(c.conn, Op::done, &stopped), 0);
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return srv.last()->close_calls == 1; }));
  c.free_conn();
  EXPECT_EQ(stopped.calls, 1);
  EXPECT_EQ(stopped.code, SIGNALR_ECLOSED);
  EXPECT_EQ(pending.calls, 1);
  EXPECT_EQ(pending.code, SIGNALR_ECLOSED);
  EXPECT_EQ(signalr_context_poll(c.ctx, 20), 0);
  EXPECT_EQ(stopped.calls + pending.calls, 2);
  EXPECT_EQ(c.count(SIGNALR_EVENT_CLOSED), 0);
}

// ================================================================== the transport layer itself

namespace {

// A bare kind for the layer tests: reports on_close inside its own close (as SSE and Long
// Polling may), and can make callbacks after on_close (a broken kind) - the layer must defer
// the first and drop the rest.
struct Bare {
  sr_loop *loop = nullptr;
  sr_transport_callbacks cb{};
  void *ud = nullptr;
  int frees = 0, closes = 0;
  static Bare *&current() {
    static Bare *b = nullptr;
    return b;
  }
  static int connect(sr_loop *loop, const sr_transport_config *, const sr_transport_callbacks *cb, void *ud,
                     void **impl) {
    Bare *b = current();
    b->loop = loop;
    b->cb = *cb;
    b->ud = ud;
    *impl = b;
    return 0;
  }
  static int send(void *, const uint8_t *, size_t) { return 0; }
  static size_t queued(const void *) { return 7; }
  static void close(void *impl) {
    auto *b = static_cast<Bare *>(impl);
    b->closes++;
    sr_transport_close_info info = {0, 0, 1000, "closed inside close", 1};
    b->cb.on_close(b->ud, &info);  // inside the call: the layer defers it
    b->cb.on_close(b->ud, &info);  // a second one: dropped
    b->cb.on_message(b->ud, reinterpret_cast<const uint8_t *>("x"), 1);  // after on_close: dropped
  }
  static void pause(void *, int) {}
  static void free_(void *impl) { static_cast<Bare *>(impl)->frees++; }
  static const sr_transport_ops *ops() {
    static const sr_transport_ops o = {connect, send, queued, close, pause, free_};
    return &o;
  }
};

struct LayerRecord {
  std::mutex mu;
  std::condition_variable cv;
  int closes = 0, messages = 0;
  bool inside_close_call = false, closed_inside = false;
  sr_transport *t = nullptr;
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

// A Bare in place of one kind, and a loop, for the duration of a test (undone even when an
// assertion ends the test early).
struct BareKind {
  Bare bare;
  int kind;
  sr_loop *loop = nullptr;
  explicit BareKind(int k) : kind(k) {
    Bare::current() = &bare;
    EXPECT_EQ(sr_transport_set_override(kind, Bare::ops()), 0);
    EXPECT_EQ(sr_loop_new(&loop), 0);
  }
  ~BareKind() {
    sr_loop_free(loop);
    EXPECT_EQ(sr_transport_set_override(kind, nullptr), 0);
    Bare::current() = nullptr;
  }
};

}  // namespace

// The override replaces the kind's ops; the layer keeps the contract for it: an on_close made
// inside the kind's own close comes later, once; nothing after it; free reaches the kind once.
TEST(FakeTransportLayer, OverrideIsUsedAndTheLayerKeepsTheContract) {
  BareKind env(SR_TRANSPORT_WEBSOCKETS);
  Bare &bare = env.bare;
  sr_loop *loop = env.loop;
  EXPECT_EQ(sr_transport_set_override(3, Bare::ops()), SIGNALR_EINVAL);
  LayerRecord rec;
  static const sr_transport_callbacks cbs = {
      nullptr,
      [](void *ud, const uint8_t *, size_t) { static_cast<LayerRecord *>(ud)->messages++; },
      [](void *ud, const sr_transport_close_info *info) {
        auto *r = static_cast<LayerRecord *>(ud);
        std::lock_guard<std::mutex> lk(r->mu);
        r->closes++;
        r->closed_inside = r->inside_close_call;
        EXPECT_STREQ(info->reason, "closed inside close");
        sr_transport_free(r->t);  // allowed inside on_close
        r->cv.notify_all();
      },
      nullptr};
  run_on_loop(loop, [&] {
    sr_transport_config cfg{};
    cfg.kind = SR_TRANSPORT_WEBSOCKETS;
    cfg.url = "ws://fake.invalid/hub";
    ASSERT_EQ(sr_transport_connect(loop, &cfg, &cbs, &rec, &rec.t), 0);
    EXPECT_EQ(bare.loop, loop);
    EXPECT_EQ(sr_transport_queued_bytes(rec.t), 7u);
    EXPECT_EQ(sr_transport_kind(rec.t), SR_TRANSPORT_WEBSOCKETS);
    rec.inside_close_call = true;
    sr_transport_close(rec.t);
    rec.inside_close_call = false;
    EXPECT_EQ(rec.closes, 0) << "on_close ran inside sr_transport_close";
  });
  {
    std::unique_lock<std::mutex> lk(rec.mu);
    ASSERT_TRUE(rec.cv.wait_for(lk, std::chrono::seconds(5), [&] { return rec.closes > 0; }));
  }
  run_on_loop(loop, [] {});  // one more turn: nothing else arrives
  EXPECT_EQ(rec.closes, 1);
  EXPECT_FALSE(rec.closed_inside);
  EXPECT_EQ(rec.messages, 0);
  EXPECT_EQ(bare.closes, 1);
  EXPECT_EQ(bare.frees, 1);
}

// Freed while its deferred on_close is still posted: no callback, no leak (valgrind).
TEST(FakeTransportLayer, FreeBeforeADeferredOnCloseRuns) {
  BareKind env(SR_TRANSPORT_SSE);
  Bare &bare = env.bare;
  sr_loop *loop = env.loop;
  LayerRecord rec;
  static const sr_transport_callbacks cbs = {
      nullptr, nullptr,
      [](void *ud, const sr_transport_close_info *) { static_cast<LayerRecord *>(ud)->closes++; }, nullptr};
  run_on_loop(loop, [&] {
    sr_transport_config cfg{};
    cfg.kind = SR_TRANSPORT_SSE;
    cfg.url = "http://fake.invalid/hub";
    ASSERT_EQ(sr_transport_connect(loop, &cfg, &cbs, &rec, &rec.t), 0);
    sr_transport_close(rec.t);
    sr_transport_free(rec.t);
  });
  run_on_loop(loop, [] {});
  EXPECT_EQ(rec.closes, 0);
  EXPECT_EQ(bare.frees, 1);
}

// ================================================================== send failures, stop, races

// Sends accepted while the server reads nothing, then the connection is lost: every accepted
// send is written or reported (SIGNALR_EVENT_SEND_FAILED), never dropped in silence. Those
// still waiting in the API layer get one SEND_FAILED each, naming the method ("send of 'Lost': ...
// not written: the connection was closed when its turn came"); those in
// the transport's queue, one SEND_FAILED each too ("was not written").
TEST(FakeTransportApi, AcceptedSendsLostWithTheConnectionAreReported) {
  FakeServer s;
  Client c(0, {{"transport_max_buffer_size", "8192"}});
  ASSERT_EQ(c.start(), 0);
  s.set_reading(false);
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return !srv.last()->reading; }));
  const std::string pad(1000, 'l');
  int accepted = 0;
  while (accepted < 1000 && send(c, "Lost", "[" + std::to_string(accepted) + ",\"" + pad + "\"]") == 0) {
    accepted++;
    if (accepted % 4 == 0) signalr_context_poll(c.ctx, 0);
  }
  ASSERT_LT(accepted, 1000);
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return srv.last()->queued >= 8192; }, 2000));
  s.drop(SIGNALR_ETRANSPORT, "lost");
  ASSERT_TRUE(c.until([&] { return c.count(SIGNALR_EVENT_CLOSED) == 1; }));
  c.until([] { return false; }, 100);
  // What the transport still held when it closed: our records (the engine's first Ping may be
  // there too, depending on timing).
  auto unread = last(s, [](FakeConn &t) { return t.unread; });
  int in_transport = 0;
  for (size_t at = 0; (at = unread.find("\"target\":\"Lost\"", at)) != std::string::npos; at++) in_transport++;
  int per_message = 0, unwritten = 0;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    for (auto &m : c.send_failed) {
      if (m.find("send of 'Lost'") != std::string::npos) per_message++;  // named: it waited in the API
      else if (m.find("was not written") != std::string::npos) unwritten++;
    }
  }
  EXPECT_EQ(s.received(INVOCATION).size(), 0u);
  EXPECT_GT(in_transport, 0);
  EXPECT_EQ(per_message + in_transport, accepted) << "accepted sends vanished without SEND_FAILED";
  // One report per send the transport still held (a Ping there is not the application's).
  EXPECT_EQ(unwritten, in_transport) << "the transport's unwritten sends were not reported one by one";
}

// A stop against a server that reads nothing completes within close_timeout_ms plus a margin,
// as a stop by the application (CLOSED without an error); a pending invoke gets ECLOSED.
TEST(FakeTransportApi, StopAgainstAServerThatDoesNotReadIsBounded) {
  FakeServer s;
  Client c(0, {{"close_timeout_ms", "300"}});
  ASSERT_EQ(c.start(), 0);
  s.set_reading(false);
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return !srv.last()->reading; }));
  Op pending(&c);
  ASSERT_EQ(invoke(c, pending, "Pending", "[]"), 0);
  auto t0 = Clock::now();
  EXPECT_EQ(signalr_connection_stop_blocking(c.conn, 5000), 0);
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(300 + 1000));
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_DISCONNECTED);
  ASSERT_TRUE(c.until([&] { return c.count(SIGNALR_EVENT_CLOSED) == 1 && pending.calls == 1; }));
  EXPECT_EQ(pending.code, SIGNALR_ECLOSED);
  std::lock_guard<std::mutex> lk(c.mu);
  for (auto &l : c.lifecycle)
    if (l.first == SIGNALR_EVENT_CLOSED) EXPECT_EQ(l.second, 0) << "a stop by the application is not an error";
}

// Free from one thread while another polls through a flood (poll mode), or while the I/O
// thread runs the handler (direct mode): when free returns, at most the one callback already
// running may finish; none starts afterwards; the pending invoke completes once with ECLOSED.
static void free_while_another_thread_runs_callbacks(int flags) {
  FakeServer s;
  Client c(flags);
  std::atomic<int> entered{0};
  Handler h{&c};
  h.body = [&](const std::string &) { entered++; };
  on(c, "Numbered", h);
  ASSERT_EQ(c.start(), 0);
  Op pending(&c);
  ASSERT_EQ(invoke(c, pending, "Pending", "[]"), 0);
  std::atomic<bool> stop{false};
  std::thread poller;
  if (!c.direct())
    poller = std::thread([&] {
      while (!stop) signalr_context_poll(c.ctx, 10);
    });
  struct Join {  // the poller stops whatever happens below
    std::atomic<bool> &stop;
    std::thread &t;
    ~Join() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } join{stop, poller};
  auto wait_entered = [&](int n, int ms) {  // handlers notify the client's cv
    std::unique_lock<std::mutex> lk(c.mu);
    return c.cv.wait_for(lk, std::chrono::milliseconds(ms), [&] { return entered >= n; });
  };
  s.flood("Numbered", 200000);
  ASSERT_TRUE(wait_entered(2000, 10000));
  c.free_conn();
  int at_free = entered;
  EXPECT_EQ(pending.calls, 1);
  EXPECT_EQ(pending.code, SIGNALR_ECLOSED);
  EXPECT_FALSE(wait_entered(at_free + 2, 100)) << "callbacks started after free returned";
  EXPECT_LE(entered, at_free + 1);
  EXPECT_EQ(pending.calls, 1);
}

TEST(FakeTransportApi, FreeWhileAnotherThreadPolls) { free_while_another_thread_runs_callbacks(0); }

TEST(FakeTransportDirect, FreeWhileTheIoThreadRunsCallbacks) {
  free_while_another_thread_runs_callbacks(SIGNALR_CONTEXT_DIRECT);
}

// Upload items travel in batches (one command for a burst of items), but never pass what the
// application called after them: a send between two items reaches the server between them,
// and the completion after the last item.
TEST(FakeTransportApi, UploadItemsKeepTheirOrderWithOtherCalls) {
  FakeServer s;
  Client c;
  ASSERT_EQ(c.start(), 0);
  uint64_t up = 0;
  ASSERT_EQ(signalr_connection_upload_open(c.conn, &up), 0);
  Op done(&c);
  ASSERT_EQ(signalr_connection_invoke_with_uploads(c.conn, "Sum", "[]", 2, SIGNALR_ENCODING_JSON, &up, 1, Op::done,
                                                   &done),
            0);
  for (int i = 0; i < 3; i++) ASSERT_EQ(signalr_connection_upload_write(c.conn, up, "1", 1, SIGNALR_ENCODING_JSON), 0);
  ASSERT_EQ(send(c, "Mark", "[1]"), 0);
  for (int i = 0; i < 3; i++) ASSERT_EQ(signalr_connection_upload_write(c.conn, up, "2", 1, SIGNALR_ENCODING_JSON), 0);
  ASSERT_EQ(signalr_connection_upload_complete(c.conn, up, nullptr), 0);
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return srv.received_locked(COMPLETION).size() >= 1; }));
  std::string order = s.with([](FakeServer &srv) {
    std::string o;
    for (auto &m : srv.last()->received) {
      if (m.type == STREAM_ITEM) o += m.raw.find("\"item\":1") != std::string::npos ? "1" : "2";
      else if (m.type == INVOCATION && m.target == "Mark") o += "M";
      else if (m.type == INVOCATION && m.target == "Sum") o += "S";
      else if (m.type == COMPLETION) o += "C";
    }
    return o;
  });
  EXPECT_EQ(order, "S111M222C");
}

// ================================================================== blocking invoke

static std::string invoke_blocking(Client &c, const std::string &args, int32_t timeout_ms, int *rc,
                                   std::string *error = nullptr) {
  void *res = nullptr;
  size_t len = 0;
  signalr_error *err = nullptr;
  *rc = signalr_connection_invoke_blocking(c.conn, "Echo", args.data(), args.size(), SIGNALR_ENCODING_JSON,
                                           timeout_ms, &res, &len, &err);
  std::string out = res ? std::string(static_cast<char *>(res), len) : std::string();
  if (error) *error = err ? signalr_error_message(err) : "";
  signalr_free(res);
  signalr_error_free(err);
  return out;
}

static void blocking_invoke_returns_results_errors_and_timeouts(int flags) {
  FakeServer s;
  s.echo_invocations();
  Client c(flags);
  ASSERT_EQ(c.start(), 0);
  int rc = -1;
  for (int i = 0; i < 50; i++) {  // back to back: the loop is borrowed and given back each time
    EXPECT_EQ(invoke_blocking(c, "[" + std::to_string(i) + "]", 5000, &rc), std::to_string(i));
    EXPECT_EQ(rc, 0);
  }
  EXPECT_EQ(invoke_blocking(c, "[\"text\"]", 5000, &rc), "\"text\"");
  EXPECT_EQ(invoke_blocking(c, "[]", 5000, &rc), "null");  // the echo answers null: a value
  // A hub error, then a server that never answers: the time limit, and the call stays pending.
  s.set_responder([](FakeServer &srv, FakeConn &t, const FakeMsg &m) {
    if (m.type == INVOCATION && m.arguments == "[\"fail\"]")
      srv.reply_locked(t, "{\"type\":3,\"invocationId\":\"" + m.invocation_id + "\",\"error\":\"nope\"}");
  });
  std::string error;
  EXPECT_EQ(invoke_blocking(c, "[\"fail\"]", 5000, &rc, &error), "");
  EXPECT_EQ(rc, SIGNALR_EHUB);
  EXPECT_NE(error.find("nope"), std::string::npos) << error;
  auto t0 = Clock::now();
  EXPECT_EQ(invoke_blocking(c, "[\"silent\"]", 100, &rc), "");
  EXPECT_EQ(rc, SIGNALR_ETIMEOUT);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_GE(ms, 90);
  EXPECT_LT(ms, 2000);
  // Inside a callback: refused.
  std::atomic<int> inner{0};
  Handler h{&c, [&](const std::string &) {
              int r = 0;
              invoke_blocking(c, "[1]", 1000, &r);
              inner = r;
            }};
  on(c, "Ping", h);
  s.invoke_client("Ping", "[]");
  ASSERT_TRUE(c.until([&] { return inner != 0; }));
  EXPECT_EQ(inner.load(), SIGNALR_ERECURSIVE);
  c.free_conn();  // before the handler goes
}

TEST(FakeTransportApi, BlockingInvokeReturnsResultsErrorsAndTimeouts) {
  blocking_invoke_returns_results_errors_and_timeouts(0);
}
TEST(FakeTransportDirect, BlockingInvokeReturnsResultsErrorsAndTimeouts) {
  blocking_invoke_returns_results_errors_and_timeouts(SIGNALR_CONTEXT_DIRECT);
}

// A blocking invoke waiting while another thread frees the connection returns ECLOSED.
TEST(FakeTransportApi, BlockingInvokeEndsWithEclosedWhenTheConnectionIsFreed) {
  FakeServer s;  // answers nothing
  Client c;
  ASSERT_EQ(c.start(), 0);
  std::atomic<int> rc{-1};
  std::thread caller([&] {
    int r = 0;
    invoke_blocking(c, "[1]", 10000, &r);
    rc = r;
  });
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return srv.received_locked(INVOCATION).size() == 1; }));
  c.free_conn();
  caller.join();
  EXPECT_EQ(rc.load(), SIGNALR_ECLOSED);
}

// A call waited for in slices: EAGAIN while the server has not answered (the call goes on),
// then the result once; a second wait is a state error. Another call is outlived by its
// connection's free: the wait then ends with ECLOSED, and the handle is freed after.
static void call_waits_in_slices(int flags) {
  FakeServer s;  // answers when told to
  Client c(flags);
  ASSERT_EQ(c.start(), 0);
  signalr_call *call = nullptr;
  ASSERT_EQ(signalr_connection_invoke_call(c.conn, "Echo", "[7]", 3, SIGNALR_ENCODING_JSON, 0, &call), 0);
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return srv.received_locked(INVOCATION).size() == 1; }));
  void *res = nullptr;
  size_t len = 0;
  EXPECT_EQ(signalr_call_wait(call, 0, &res, &len, nullptr), SIGNALR_EAGAIN);
  EXPECT_EQ(signalr_call_wait(call, 30, &res, &len, nullptr), SIGNALR_EAGAIN);
  EXPECT_EQ(res, nullptr);
  std::string id = s.received(INVOCATION)[0].invocation_id;
  s.complete(id, "7");
  signalr_error *err = nullptr;
  int rc;
  while ((rc = signalr_call_wait(call, 50, &res, &len, &err)) == SIGNALR_EAGAIN) {
  }
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(err, nullptr);
  EXPECT_EQ(std::string(static_cast<char *>(res), len), "7");
  signalr_free(res);
  EXPECT_EQ(signalr_call_wait(call, 0, nullptr, nullptr, nullptr), SIGNALR_ESTATE);
  signalr_call_free(call);

  signalr_call *pending = nullptr;
  ASSERT_EQ(signalr_connection_invoke_call(c.conn, "Echo", "[8]", 3, SIGNALR_ENCODING_JSON, 0, &pending), 0);
  EXPECT_EQ(signalr_call_wait(pending, 10, nullptr, nullptr, nullptr), SIGNALR_EAGAIN);
  c.free_conn();
  EXPECT_EQ(signalr_call_wait(pending, 5000, nullptr, nullptr, &err), SIGNALR_ECLOSED);
  signalr_error_free(err);
  signalr_call_free(pending);
  signalr_call_free(nullptr);
}

TEST(FakeTransportApi, CallWaitsInSlicesWithoutLosingTheResult) { call_waits_in_slices(0); }
TEST(FakeTransportDirect, CallWaitsInSlicesWithoutLosingTheResult) { call_waits_in_slices(SIGNALR_CONTEXT_DIRECT); }

// SIGNALR_CALL_ORDERED: the server calls a handler, then completes the call; the waiting thread
// gets the outcome only after another thread's poll has run that handler.
TEST(FakeTransportApi, AnOrderedCallsOutcomeFollowsTheHandlersAheadOfIt) {
  FakeServer s;
  Client c;
  ASSERT_EQ(c.start(), 0);
  std::atomic<int> handled{0};
  Handler h{&c, [&](const std::string &) {
              std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a slow handler
              handled++;
            }};
  on(c, "Note", h);
  std::atomic<bool> stop{false};
  std::thread poller([&] {
    while (!stop) signalr_context_poll(c.ctx, 20);
  });
  for (int ordered = 0; ordered < 2; ordered++) {
    handled = 0;
    signalr_call *call = nullptr;
    ASSERT_EQ(signalr_connection_invoke_call(c.conn, "Echo", "[1]", 3, SIGNALR_ENCODING_JSON,
                                             ordered ? SIGNALR_CALL_ORDERED : 0, &call), 0);
    auto inv = s.wait_received(INVOCATION, (size_t)ordered + 1);
    ASSERT_EQ(inv.size(), (size_t)ordered + 1);
    s.invoke_client("Note", "[]");
    s.complete(inv.back().invocation_id, "1");
    int rc;
    while ((rc = signalr_call_wait(call, 1000, nullptr, nullptr, nullptr)) == SIGNALR_EAGAIN) {
    }
    EXPECT_EQ(rc, 0);
    if (ordered) EXPECT_EQ(handled.load(), 1) << "the outcome overtook the handler ahead of it";
    signalr_call_free(call);
    auto t0 = Clock::now();  // (unordered: the poller runs the handler meanwhile)
    while (handled != 1 && Clock::now() - t0 < std::chrono::seconds(5)) std::this_thread::yield();
    ASSERT_EQ(handled.load(), 1);
  }
  stop = true;
  poller.join();
  c.free_conn();  // before the handler goes
}

// ================================================================== no hidden limits

// Every handler of a method runs, however many (16 was a silent limit once).
TEST(FakeTransportApi, EveryHandlerOfAMethodRuns) {
  FakeServer s;
  Client c;
  ASSERT_EQ(c.start(), 0);
  std::vector<std::unique_ptr<Handler>> hs;
  for (int i = 0; i < 40; i++) {
    hs.push_back(std::make_unique<Handler>());
    hs.back()->cl = &c;
    on(c, "Ping", *hs.back());
  }
  s.invoke_client("Ping", "[]");
  ASSERT_TRUE(c.until([&] {
    for (auto &h : hs)
      if (h->calls != 1) return false;
    return true;
  }));
  c.free_conn();  // before the handlers go
}

// Any number of stops may wait for one close; each completes once (a ninth got an
// undocumented EAGAIN once).
TEST(FakeTransportApi, ManyStopsWaitingForOneCloseAllComplete) {
  FakeServer s;
  Client c(0, {{"close_timeout_ms", "20000"}});
  ASSERT_EQ(c.start(), 0);
  s.set_reading(false);  // the close takes until the server reads again
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return !srv.last()->reading; }));
  std::vector<std::unique_ptr<Op>> stops;
  for (int i = 0; i < 20; i++) {
    stops.push_back(std::make_unique<Op>(&c));
    ASSERT_EQ(signalr_connection_stop(c.conn, Op::done, stops.back().get()), 0);
  }
  ASSERT_TRUE(s.wait([](FakeServer &srv) { return srv.last()->close_calls == 1; }));
  s.set_reading(true);
  ASSERT_TRUE(c.until([&] {
    for (auto &o : stops)
      if (o->calls != 1) return false;
    return true;
  }));
  for (auto &o : stops) EXPECT_EQ(o->code, 0);
}

// signalr_connection_diagnostics through the public API: a snapshot any thread reads, current
// when a start completes and after each Ping from the server.
TEST(FakeTransportApi, DiagnosticsFollowTheConnection) {
  FakeServer s;
  Client c;
  char *json = nullptr;
  size_t len = 0;
  EXPECT_EQ(signalr_connection_diagnostics(nullptr, &json, &len), SIGNALR_EINVAL);
  EXPECT_EQ(signalr_connection_diagnostics(c.conn, nullptr, &len), SIGNALR_EINVAL);
  ASSERT_EQ(signalr_connection_diagnostics(c.conn, &json, &len), 0);
  EXPECT_EQ(std::string(json, len), "{\"phase\":\"none\"}");  // built, never started
  signalr_free(json);
  ASSERT_EQ(c.start(), 0);
  ASSERT_EQ(signalr_connection_diagnostics(c.conn, &json, nullptr), 0);
  std::string d = json;
  signalr_free(json);
  EXPECT_NE(d.find("\"phase\":\"connected\""), std::string::npos) << d;
  EXPECT_NE(d.find("\"transport\":\"WebSockets\""), std::string::npos) << d;
  EXPECT_NE(d.find("\"requests\":0"), std::string::npos) << d;  // skip_negotiation
  s.push("{\"type\":6}");
  s.push("{\"type\":6}");
  EXPECT_TRUE(c.until([&] {
    char *j = nullptr;
    if (signalr_connection_diagnostics(c.conn, &j, nullptr)) return false;
    bool two = std::string(j).find("\"server_pings\":{\"count\":2") != std::string::npos;
    signalr_free(j);
    return two;
  }));
}
