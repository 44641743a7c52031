// A signalr_context_poll that waits runs the context's I/O on its own thread while the I/O
// thread stands by (see signalr_context_poll in signalr.h). What that must not cost, through
// the public API against the real server: a message a callback sends goes out while the
// callback is still busy; a connection is serviced again soon after the application stops
// polling; blocking calls and frees made around a lending poll never wait forever; an
// interrupt ends a lending poll and the wakeup fd still works.
#include <gtest/gtest.h>

#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "../support/api_client.h"
#include "../support/proxied_server.h"
#include "../support/test_server.h"

using srtest::ApiClient;
using srtest::CallResult;
using srtest::ms_since;
using srtest::Proxy;
using Clock = std::chrono::steady_clock;

namespace {

std::string unique_key(const char *what) {
  return std::string(what) + "-" + std::to_string(Clock::now().time_since_epoch().count());
}

// Inside an invoke's completion (run by a lending poll): send Record(key), then, without
// returning, wait on another connection until the hub has it.
struct SendThenWait {
  signalr_connection *conn;
  std::string key;
  double seen_after_ms = -1;
  bool ran = false;
};

void send_then_wait(void *ud, signalr_connection *, const signalr_value *, const signalr_error *) {
  auto *s = static_cast<SendThenWait *>(ud);
  s->ran = true;
  std::string args = "[\"" + s->key + "\",1]";
  EXPECT_EQ(signalr_connection_send(s->conn, "Record", args.data(), args.size(), SIGNALR_ENCODING_JSON), 0);
  auto t0 = Clock::now();
  // Another thread asks the hub through a connection of its own (this thread is in a callback:
  // it may not poll any context).
  std::thread observer([&] {
    ApiClient other("/hubs/test", {{"transports", "websockets"}});
    if (other.start().code != 0) return;
    while (ms_since(t0) < 5000) {
      CallResult r = other.invoke("GetRecordedCount", "[\"" + s->key + "\"]");
      if (r.code == 0 && r.json == "1") {
        s->seen_after_ms = ms_since(t0);
        return;
      }
    }
  });
  observer.join();
}

// Invokes Echo with send_then_wait as the completion.
void invoke_then_send(ApiClient &c, SendThenWait &s) {
  const char *args = "[\"x\"]";
  ASSERT_EQ(signalr_connection_invoke(c.conn, "Echo", args, strlen(args), SIGNALR_ENCODING_JSON, send_then_wait, &s),
            0);
}

}  // namespace

// The callback sends and then stays busy: the message reaches the hub before the callback
// returns (the I/O thread takes the post over), not when the poll ends.
TEST(PollLending, ACallbacksSendGoesOutWhileTheCallbackIsBusy) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}});
  ASSERT_EQ(c.start().code, 0);
  SendThenWait s{c.conn, unique_key("lend-send")};
  invoke_then_send(c, s);
  ASSERT_TRUE(c.poll_until([&] { return s.ran; }));
  std::printf("FIGURE lending_send_from_busy_callback_ms=%.1f\n", s.seen_after_ms);
  EXPECT_GE(s.seen_after_ms, 0) << "the send waited for the callback to return";
}

// The same when the completion is already queued as the poll begins: that poll runs it
// without borrowing the loop, so the I/O thread (blocked in poll()) is the one to send.
TEST(PollLending, ACallbacksSendGoesOutWhenThePollFoundItQueued) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}});
  ASSERT_EQ(c.start().code, 0);
  SendThenWait s{c.conn, unique_key("lend-send-queued")};
  invoke_then_send(c, s);
  struct pollfd pfd = {signalr_context_wakeup_fd(c.ctx), POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 10000), 1) << "the completion was not queued";
  ASSERT_EQ(signalr_context_poll(c.ctx, 1000), 1);
  ASSERT_TRUE(s.ran);
  std::printf("FIGURE lending_send_from_queued_callback_ms=%.1f\n", s.seen_after_ms);
  EXPECT_GE(s.seen_after_ms, 0) << "the send waited for the callback to return";
}

// The application polls once (the poll lends its thread), then stops polling: the I/O thread
// takes the connection back and reads a flood up to the receive bound, far more than the
// socket buffers hold, without any call into the library.
TEST(PollLending, TheIoThreadTakesBackWhenPollingStops) {
  SIGNALR_NEED_SERVER();
  Proxy proxy;
  ApiClient c(proxy.url("/hubs/test"), {{"transports", "websockets"}, {"application_max_buffer_size", "8388608"}});
  ASSERT_EQ(c.start().code, 0);
  std::atomic<int> numbered{0};
  ASSERT_EQ(signalr_connection_on(
                c.conn, "Numbered",
                [](void *ud, signalr_connection *, const signalr_value *, const void **, size_t *, int *,
                   const char **) {
                  (*static_cast<std::atomic<int> *>(ud))++;
                  return 0;
                },
                &numbered, nullptr, nullptr),
            0);
  // The flood is asked for from a callback of a lending poll (its post wakes nobody), which
  // is the case where nobody would read if the I/O thread did not come back.
  struct Ask {
    signalr_connection *conn;
    CallResult done;
    bool asked = false;
  } ask{c.conn};
  const char *echo = "[\"go\"]";
  ASSERT_EQ(signalr_connection_invoke(
                c.conn, "Echo", echo, strlen(echo), SIGNALR_ENCODING_JSON,
                [](void *ud, signalr_connection *, const signalr_value *, const signalr_error *) {
                  auto *a = static_cast<Ask *>(ud);
                  const char *n = "[100000]";
                  EXPECT_EQ(signalr_connection_invoke(a->conn, "SendNumbered", n, strlen(n), SIGNALR_ENCODING_JSON,
                                                      srtest::record_result, &a->done),
                            0);
                  a->asked = true;
                },
                &ask),
            0);
  ASSERT_TRUE(c.poll_until([&] { return ask.asked; }));
  // No polling from here: ~4 MB (100k invocations) must be read by the library alone.
  auto t0 = Clock::now();
  uint64_t delivered = 0;
  while (ms_since(t0) < 10000 && (delivered = fault_proxy_bytes(proxy.p, FAULT_TO_CLIENT)) < 3u * 1024 * 1024)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::printf("FIGURE lending_takeback_read_bytes=%llu in_ms=%.0f\n", (unsigned long long)delivered, ms_since(t0));
  EXPECT_GE(delivered, 3u * 1024 * 1024) << "nobody read the socket after the application stopped polling";
  ASSERT_TRUE(c.poll_until([&] { return ask.done.done && numbered == 100000; }, 60000));
  EXPECT_EQ(ask.done.code, 0);
}

// A blocking stop and a free made right after a lending poll (their posts must reach whoever
// runs the loop), and a free from inside a callback of a lending poll.
TEST(PollLending, BlockingCallsAndFreesAroundALendingPollFinish) {
  SIGNALR_NEED_SERVER();
  {
    ApiClient c("/hubs/test", {{"transports", "websockets"}});
    ASSERT_EQ(c.start().code, 0);
    EXPECT_EQ(c.invoke("Echo", "[\"a\"]").json, "\"a\"");
    auto t0 = Clock::now();
    EXPECT_EQ(signalr_connection_stop_blocking(c.conn, 5000), 0);
    EXPECT_LT(ms_since(t0), 2000);
  }
  ApiClient c("/hubs/test", {{"transports", "websockets"}});
  ASSERT_EQ(c.start().code, 0);
  struct Freer {
    signalr_connection **conn;
    bool freed = false;
  } f{&c.conn};
  const char *args = "[\"b\"]";
  ASSERT_EQ(signalr_connection_invoke(
                c.conn, "Echo", args, strlen(args), SIGNALR_ENCODING_JSON,
                [](void *ud, signalr_connection *, const signalr_value *, const signalr_error *) {
                  auto *fr = static_cast<Freer *>(ud);
                  std::string more = "[\"c\"]";  // posted by the lending poll's callback, then the free
                  signalr_connection_send(*fr->conn, "Echo", more.data(), more.size(), SIGNALR_ENCODING_JSON);
                  signalr_connection_free(*fr->conn);
                  *fr->conn = nullptr;
                  fr->freed = true;
                },
                &f),
            0);
  auto t0 = Clock::now();
  ASSERT_TRUE(c.poll_until([&] { return f.freed; }, 5000));
  EXPECT_LT(ms_since(t0), 3000);
}

// An interrupt ends a poll that waits in the loop at once, and the wakeup fd still tells an
// event loop about events made by the I/O thread.
TEST(PollLending, AnInterruptAndTheWakeupFd) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}});
  ASSERT_EQ(c.start().code, 0);
  // An interrupt from another thread ends a poll that waits in the loop.
  std::thread interrupter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    signalr_context_interrupt(c.ctx);
  });
  auto t0 = Clock::now();
  EXPECT_EQ(signalr_context_poll(c.ctx, 10000), 0);
  EXPECT_LT(ms_since(t0), 2000);
  interrupter.join();
  // The fd still tells an event loop about events made by the I/O thread.
  CallResult r;
  ASSERT_EQ(signalr_connection_invoke(c.conn, "Echo", "[\"fd\"]", 6, SIGNALR_ENCODING_JSON, srtest::record_result, &r),
            0);
  struct pollfd p = {signalr_context_wakeup_fd(c.ctx), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_GE(signalr_context_poll(c.ctx, 0), 1);
  EXPECT_TRUE(r.done);
}
