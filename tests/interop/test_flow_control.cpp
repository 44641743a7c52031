// The data path's promises, through the public API against the real server: bounded
// receive (a flood the application does not poll stays under a memory bound and loses
// nothing), send backpressure (a peer that stops reading gets EAGAIN, then WRITABLE; never a
// silent drop), stops and server timeouts that finish within their bounds, invokes that wait
// for the stateful-reconnect Ack instead of failing, and pending completions on free.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unistd.h>

#include "../support/api_client.h"
#include "../support/test_server.h"
#include "../support/proxied_server.h"

using srtest::ApiClient;
using srtest::CallResult;
using Clock = std::chrono::steady_clock;
using srtest::ms_since;
using srtest::port_of;
using srtest::Proxy;

namespace {


long rss_kb() {
  long pages = 0, resident = 0;
  FILE *f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// Waits, without polling the context, until the bytes the proxy delivered to the client stop
// growing (the client stopped reading) for `quiet_ms`; false if they never settle in `ms`.
bool delivery_settles(fault_proxy *p, int quiet_ms, int ms) {
  auto t0 = Clock::now();
  uint64_t last = fault_proxy_bytes(p, FAULT_TO_CLIENT);
  auto still_since = Clock::now();
  while (ms_since(t0) < ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    uint64_t now = fault_proxy_bytes(p, FAULT_TO_CLIENT);
    if (now != last) {
      last = now;
      still_since = Clock::now();
    } else if (ms_since(still_since) >= quiet_ms) {
      return true;
    }
  }
  return false;
}

std::atomic<int> numbered{0};
int count_numbered(void *, signalr_connection *, const signalr_value *, const void **, size_t *, int *,
                   const char **) {
  numbered++;
  return 0;
}

}  // namespace

// A server that floods an application that does not poll: the connection stops reading at
// its bound (TCP pushes back on the server), memory stays bounded, and once the application
// polls, every message arrives and the call completes.
TEST(FlowControl, FloodWithoutPollingStaysBoundedAndLosesNothing) {
  SIGNALR_NEED_SERVER();
  Proxy proxy;
  ApiClient c(proxy.url("/hubs/test"), {{"transports", "websockets"}, {"application_max_buffer_size", "262144"}});
  ASSERT_EQ(c.start().code, 0);
  numbered = 0;
  ASSERT_EQ(signalr_connection_on(c.conn, "Numbered", count_numbered, nullptr, nullptr, nullptr), 0);
  const int n = 300000;  // ~12 MB of invocations: far more than the bound and the TCP buffers
  long rss0 = rss_kb();
  CallResult r;
  std::string args = "[" + std::to_string(n) + "]";
  ASSERT_EQ(signalr_connection_invoke(c.conn, "SendNumbered", args.data(), args.size(), SIGNALR_ENCODING_JSON,
                                      srtest::record_result, &r), 0);
  ASSERT_TRUE(delivery_settles(proxy.p, 500, 20000)) << "the client kept reading";
  uint64_t delivered = fault_proxy_bytes(proxy.p, FAULT_TO_CLIENT);
  long grown = rss_kb() - rss0;
  std::printf("FIGURE flood_paused delivered_bytes=%llu rss_growth_kb=%ld\n", (unsigned long long)delivered, grown);
  EXPECT_LT(grown, 48 * 1024) << "memory grew without bound while the application did not poll";
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_CONNECTED);
  // Each poll runs a bounded batch; draining resumes the reading; nothing is lost.
  int biggest = 0;
  auto t0 = Clock::now();
  while ((!r.done || numbered < n) && ms_since(t0) < 60000) {
    int ran = signalr_context_poll(c.ctx, 100);
    if (ran > biggest) biggest = ran;
  }
  EXPECT_EQ(numbered, n);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.json, std::to_string(n));
  EXPECT_LE(biggest, 1024) << "one poll ran more than its budget";
}

// A peer that stops reading: sends are refused visibly (EAGAIN), never accepted and dropped;
// the stop returns within close_timeout_ms plus a margin, with the close event.
TEST(FlowControl, PeerThatStopsReadingGetsEagainAndABoundedStop) {
  SIGNALR_NEED_SERVER();
  Proxy proxy;
  ApiClient c(proxy.url("/hubs/test"), {{"transports", "websockets"}, {"close_timeout_ms", "1000"}});
  ASSERT_EQ(c.start().code, 0);
  ASSERT_EQ(fault_proxy_stall(proxy.p, 1), 0);
  std::string item(10000, 'x');
  std::string args = "[\"flow\",\"" + item + "\"]";
  int accepted = 0, eagain = 0, other = 0;
  for (int i = 0; i < 3000; i++) {
    int rc = signalr_connection_send(c.conn, "Record", args.data(), args.size(), SIGNALR_ENCODING_JSON);
    if (rc == 0) accepted++;
    else if (rc == SIGNALR_EAGAIN) eagain++;
    else other++;
    if (rc == SIGNALR_EAGAIN && eagain == 1) {
      // Let the I/O thread move what was accepted into the transport before the next try.
      c.poll_until([] { return false; }, 50);
    }
  }
  std::printf("FIGURE stalled_sends accepted=%d eagain=%d\n", accepted, eagain);
  EXPECT_GT(eagain, 0) << "30 MB accepted by a peer that reads nothing";
  EXPECT_EQ(other, 0);
  EXPECT_LT(accepted, 3000);
  // Fill until nothing drains any more (the kernel's buffers are full too): the queue is then
  // stuck, and the stop must abort it at close_timeout_ms.
  bool stuck = false;
  for (int round = 0; round < 200 && !stuck; round++) {
    while (signalr_connection_send(c.conn, "Record", args.data(), args.size(), SIGNALR_ENCODING_JSON) == 0) accepted++;
    int w = c.count(SIGNALR_EVENT_WRITABLE);
    stuck = !c.poll_until([&] { return c.count(SIGNALR_EVENT_WRITABLE) > w; }, 300);
  }
  ASSERT_TRUE(stuck) << "the peer kept taking data";
  auto t0 = Clock::now();
  EXPECT_EQ(signalr_connection_stop_blocking(c.conn, 10000), 0);
  double took = ms_since(t0);
  std::printf("FIGURE stalled_stop_ms=%.0f\n", took);
  EXPECT_LT(took, 1000 + 2500) << "the stop waited for a peer that does not read";
  EXPECT_GE(took, 900) << "the stop finished although its close frame could not be written";
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_DISCONNECTED);
  ASSERT_TRUE(c.poll_until([&] { return c.count(SIGNALR_EVENT_CLOSED) == 1; }, 5000));
  // What was accepted and never written is reported, not dropped in silence.
  int failed = c.count(SIGNALR_EVENT_SEND_FAILED);
  EXPECT_GE(failed, 1);
  EXPECT_LE(failed, accepted);
  for (auto &l : c.lifecycle)
    if (l.event == SIGNALR_EVENT_SEND_FAILED) {
      EXPECT_NE(l.message.find("was not written"), std::string::npos) << l.message;
      if (failed-- == 1) std::printf("FIGURE stalled_stop_unsent: %s\n", l.message.c_str());
    }
  fault_proxy_stall(proxy.p, 0);
}

// The peer reads again: SIGNALR_EVENT_WRITABLE tells the application, no timer needed, and
// what was accepted reaches the hub.
TEST(FlowControl, WritableFollowsEagainOnceThePeerReads) {
  SIGNALR_NEED_SERVER();
  Proxy proxy;
  ApiClient c(proxy.url("/hubs/test"), {{"transports", "websockets"}, {"transport_max_buffer_size", "65536"}});
  ASSERT_EQ(c.start().code, 0);
  c.invoke("ClearRecord", "[\"writable\"]");
  ASSERT_EQ(fault_proxy_stall(proxy.p, 1), 0);
  std::string args = "[\"writable\",\"" + std::string(4000, 'y') + "\"]";
  int accepted = 0, rc = 0;
  for (int i = 0; i < 5000 && rc == 0; i++) {
    rc = signalr_connection_send(c.conn, "Record", args.data(), args.size(), SIGNALR_ENCODING_JSON);
    if (rc == 0) accepted++;
    if (i % 64 == 63) signalr_context_poll(c.ctx, 0);
  }
  ASSERT_EQ(rc, SIGNALR_EAGAIN);
  EXPECT_EQ(c.count(SIGNALR_EVENT_WRITABLE), 0);
  ASSERT_EQ(fault_proxy_stall(proxy.p, 0), 0);
  ASSERT_TRUE(c.poll_until([&] { return c.count(SIGNALR_EVENT_WRITABLE) == 1; }, 10000));
  EXPECT_EQ(c.count(SIGNALR_EVENT_SEND_FAILED), 0);
  // Ordered after every accepted send: the count the hub recorded is exact.
  CallResult n = c.invoke("GetRecordedCount", "[\"writable\"]");
  if (n.code == 0) EXPECT_EQ(n.json, std::to_string(accepted));
  else ADD_FAILURE() << "GetRecordedCount: " << n.message;
}

// A sender that waits for WRITABLE with a poll that has no timeout (as the Python binding's
// poller does): the event that a write at the end of a loop turn makes ("room again") reaches
// that poll, which runs the loop itself, instead of waiting for an unrelated wakeup. A
// watchdog interrupts a poll that waits too long, so a lost event fails instead of hanging.
TEST(FlowControl, WritableWakesAPollThatWaitsWithoutATimeout) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}, {"transport_max_buffer_size", "4096"}});
  ASSERT_EQ(c.start().code, 0);
  c.invoke("ClearRecord", "[\"writable-nolimit\"]");
  std::string args = "[\"writable-nolimit\",\"" + std::string(2500, 'w') + "\"]";
  const int sends = 60;
  int eagains = 0;
  double longest_ms = 0;
  for (int i = 0; i < sends; i++) {
    for (;;) {
      int seen = c.count(SIGNALR_EVENT_WRITABLE);
      int rc = signalr_connection_send(c.conn, "Record", args.data(), args.size(), SIGNALR_ENCODING_JSON);
      if (rc == 0) break;
      ASSERT_EQ(rc, SIGNALR_EAGAIN);
      eagains++;
      std::atomic<bool> woke{false};
      std::thread watchdog([&] {
        auto t0 = Clock::now();
        while (!woke && ms_since(t0) < 3000) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (!woke) signalr_context_interrupt(c.ctx);
      });
      auto t0 = Clock::now();
      // one poll: it returns when the event came (or the watchdog ended it)
      while (c.count(SIGNALR_EVENT_WRITABLE) == seen && ms_since(t0) < 3000) signalr_context_poll(c.ctx, -1);
      double waited = ms_since(t0);
      woke = true;
      watchdog.join();
      if (waited > longest_ms) longest_ms = waited;
      ASSERT_GT(c.count(SIGNALR_EVENT_WRITABLE), seen) << "send " << i << ": no WRITABLE";
      // the hub reads at once: room comes within milliseconds, not at the watchdog's end
      ASSERT_LT(waited, 2000) << "send " << i << ": WRITABLE did not wake the poll";
    }
  }
  std::printf("FIGURE writable_nolimit_eagains=%d of %d sends, longest_wait_ms=%.1f\n", eagains, sends, longest_ms);
  EXPECT_GT(eagains, 0) << "the outgoing bound was never met: the test proves nothing";
  CallResult n = c.invoke("GetRecordedCount", "[\"writable-nolimit\"]");
  EXPECT_EQ(n.code, 0) << n.message;
  EXPECT_EQ(n.json, std::to_string(sends));
}

// With stateful reconnect and a buffer smaller than two messages, invokes wait for the
// server's Ack instead of failing with EAGAIN, as the official clients do.
TEST(FlowControl, InvokesWaitForTheStatefulBuffersAck) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}, {"stateful_reconnect", "true"},
                             {"stateful_reconnect_buffer_size", "3000"}});
  ASSERT_EQ(c.start().code, 0);
  std::string big(2500, 'z');
  std::string args = "[\"" + big + "\"]";
  CallResult r[4];
  for (auto &one : r)
    ASSERT_EQ(signalr_connection_invoke(c.conn, "Echo", args.data(), args.size(), SIGNALR_ENCODING_JSON,
                                        srtest::record_result, &one), 0);
  ASSERT_TRUE(c.poll_until([&] { return r[0].done && r[1].done && r[2].done && r[3].done; }, 20000));
  for (auto &one : r) {
    EXPECT_EQ(one.code, 0) << one.message;
    EXPECT_EQ(one.json, "\"" + big + "\"");
  }
}

// The server timeout fires when nothing arrives, whatever the outgoing side is doing, and the
// close it starts is bounded too.
TEST(FlowControl, ServerTimeoutFiresWhileSendsAreStuck) {
  SIGNALR_NEED_SERVER();
  Proxy proxy;
  ApiClient c(proxy.url("/hubs/test"), {{"transports", "websockets"}, {"server_timeout_ms", "1500"},
                                        {"keep_alive_interval_ms", "500"}, {"close_timeout_ms", "1000"}});
  ASSERT_EQ(c.start().code, 0);
  ASSERT_EQ(fault_proxy_stall(proxy.p, 1), 0);
  std::string args = "[\"stuck\",\"" + std::string(10000, 'q') + "\"]";
  for (int i = 0; i < 2000; i++)
    if (signalr_connection_send(c.conn, "Record", args.data(), args.size(), SIGNALR_ENCODING_JSON)) break;
  auto t0 = Clock::now();
  ASSERT_TRUE(c.poll_until([&] { return c.count(SIGNALR_EVENT_CLOSED) == 1; }, 10000));
  std::printf("FIGURE stalled_server_timeout_close_ms=%.0f\n", ms_since(t0));
  EXPECT_EQ(c.lifecycle.back().code, SIGNALR_ETIMEOUT) << c.lifecycle.back().message;
  EXPECT_EQ(signalr_connection_state(c.conn), SIGNALR_STATE_DISCONNECTED);
  fault_proxy_stall(proxy.p, 0);
}

// Free completes every pending operation once, with SIGNALR_ECLOSED, before it returns.
TEST(FlowControl, FreeCompletesPendingOperationsOnce) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}});
  ASSERT_EQ(c.start().code, 0);
  CallResult invoke, stream_done, stop;
  const char *slow = "[10000,\"never\"]";
  ASSERT_EQ(signalr_connection_invoke(c.conn, "DelayedEcho", slow, strlen(slow), SIGNALR_ENCODING_JSON,
                                      srtest::record_result, &invoke), 0);
  ASSERT_EQ(signalr_connection_stream(c.conn, "Counter", "[1000,1000]", 11, SIGNALR_ENCODING_JSON, nullptr,
                                      srtest::record_result, &stream_done, nullptr), 0);
  signalr_connection_free(c.conn);
  c.conn = nullptr;
  EXPECT_TRUE(invoke.done);
  EXPECT_EQ(invoke.code, SIGNALR_ECLOSED);
  EXPECT_TRUE(stream_done.done);
  EXPECT_EQ(stream_done.code, SIGNALR_ECLOSED);
  EXPECT_EQ(signalr_context_poll(c.ctx, 0), 0);  // nothing of the freed connection runs later
}
