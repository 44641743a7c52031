// The engine's lifetime paths with a fake transport and a fake clock: automatic reconnect and
// its policies, transport fallback, Long Polling keep-alive rules and stateful reconnect.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../support/engine_fake.h"

using srtest::Fake;

namespace {

const char *kAll =
    "{\"negotiateVersion\":1,\"connectionId\":\"c2\",\"connectionToken\":\"t2\",\"availableTransports\":["
    "{\"transport\":\"WebSockets\",\"transferFormats\":[\"Text\",\"Binary\"]},"
    "{\"transport\":\"ServerSentEvents\",\"transferFormats\":[\"Text\"]},"
    "{\"transport\":\"LongPolling\",\"transferFormats\":[\"Text\",\"Binary\"]}]}";

const char *kStateful =
    "{\"useStatefulReconnect\":true,\"negotiateVersion\":1,\"connectionId\":\"c\",\"connectionToken\":\"tok\","
    "\"availableTransports\":[{\"transport\":\"WebSockets\",\"transferFormats\":[\"Text\",\"Binary\"]}]}";

void reconnecting(sr_engine_config &c) {
  static int32_t delays[] = {0, 2000, 10000, 30000};
  c.reconnect = 1;
  c.reconnect_delays = delays;
  c.reconnect_delay_count = 4;
}

sr_error_info failure(int code = SIGNALR_ETRANSPORT, const char *text = "connection reset") {
  sr_error_info e;
  sr_error_set(&e, code, 0, "%s", text);
  return e;
}

// The transport drops with an error.
void drop(Fake &f) {
  sr_error_info e = failure();
  sr_engine_on_closed(&f.e, f.now, &e);
}

// Answers the pending negotiate, opens the transport and completes the handshake.
void reconnect_succeeds(Fake &f) {
  f.negotiate_reply(200, kAll);
  sr_engine_on_open(&f.e, f.now);
  f.data("{}\x1e");
}

}  // namespace

TEST(EngineReconnect, LostConnectionRetriesWithTheDefaultDelaysAndReconnects) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, reconnecting);
  f.connect();
  sr_payload a = f.args("[]");
  ASSERT_EQ(sr_engine_invoke(&f.e, f.now, SR_CALL_INVOKE, "Slow", &a, nullptr, 0, 77), 0);
  f.negotiated.clear();
  drop(f);
  EXPECT_EQ(f.e.state, SR_STATE_RECONNECTING);
  // The pending call fails at the moment of the drop, then Reconnecting fires.
  ASSERT_EQ(f.events.size(), 2u);
  EXPECT_EQ(f.events[0].type, SR_EV_COMPLETION);
  EXPECT_EQ(f.events[0].call, 77u);
  EXPECT_EQ(f.events[0].code, SIGNALR_ECLOSED);
  EXPECT_EQ(f.events[1].type, SR_EV_RECONNECTING);
  EXPECT_EQ(f.events[1].message, "connection reset");
  // First retry after 0 ms.
  f.advance(0);
  ASSERT_EQ(f.negotiated.size(), 1u);
  f.negotiate_reply(503, "");
  // Second after 2 s.
  f.advance(1999);
  EXPECT_EQ(f.negotiated.size(), 1u);
  f.advance(1);
  ASSERT_EQ(f.negotiated.size(), 2u);
  f.sent.clear();
  reconnect_succeeds(f);
  EXPECT_EQ(f.e.state, SR_STATE_CONNECTED);
  EXPECT_EQ(f.count(SR_EV_RECONNECTED), 1);
  EXPECT_EQ(f.count(SR_EV_CLOSED), 0);
  EXPECT_STREQ(f.e.connection_id, "c2");
  EXPECT_EQ(f.sent.back(), "{\"type\":6}\x1e"); // a full restart: handshake and initial ping
}

TEST(EngineReconnect, GivesUpAfterTheLastDelayAndCloses) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, reconnecting);
  f.connect();
  drop(f);
  for (int64_t delay : {0, 2000, 10000, 30000}) {
    size_t before = f.negotiated.size();
    f.advance(delay);
    ASSERT_EQ(f.negotiated.size(), before + 1) << delay;
    f.negotiate_reply(404, "");
  }
  EXPECT_EQ(f.e.state, SR_STATE_DISCONNECTED);
  ASSERT_EQ(f.count(SR_EV_CLOSED), 1);
  EXPECT_EQ(f.events.back().code, SIGNALR_ENOTFOUND);
  EXPECT_NE(f.events.back().message.find("gave up after 4 attempts"), std::string::npos) << f.events.back().message;
  EXPECT_EQ(sr_engine_deadline(&f.e), INT64_MAX);
}

TEST(EngineReconnect, CloseMessageDecidesWhetherToReconnect) {
  {
    Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, reconnecting);
    f.connect();
    f.data("{\"type\":7,\"error\":\"bye\"}\x1e");
    sr_engine_on_closed(&f.e, f.now, nullptr);
    EXPECT_EQ(f.e.state, SR_STATE_DISCONNECTED);
    EXPECT_EQ(f.count(SR_EV_RECONNECTING), 0);
    EXPECT_EQ(f.count(SR_EV_CLOSED), 1);
  }
  {
    Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, reconnecting);
    f.connect();
    f.data("{\"type\":7,\"error\":\"restarting\",\"allowReconnect\":true}\x1e");
    sr_engine_on_closed(&f.e, f.now, nullptr);
    EXPECT_EQ(f.e.state, SR_STATE_RECONNECTING);
    ASSERT_EQ(f.count(SR_EV_RECONNECTING), 1);
    EXPECT_EQ(f.events.back().allow_reconnect, 1);
  }
}

TEST(EngineReconnect, StopDuringADelayClosesAtOnce) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, reconnecting);
  f.connect();
  drop(f);
  f.advance(0);
  f.negotiate_reply(500, "");  // now waiting 2 s
  ASSERT_EQ(sr_engine_stop(&f.e, f.now), 0);
  EXPECT_EQ(f.e.state, SR_STATE_DISCONNECTED);
  ASSERT_EQ(f.count(SR_EV_CLOSED), 1);
  EXPECT_EQ(f.events.back().code, 0);
  size_t n = f.negotiated.size();
  f.advance(60000);
  EXPECT_EQ(f.negotiated.size(), n);
}

TEST(EngineReconnect, CustomPolicyIsAskedEachTimeAndCanStop) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, [](sr_engine_config &c) {
    c.reconnect = 1;
    c.custom_retry = 1;
  });
  f.connect();
  drop(f);
  ASSERT_EQ(f.retry_attempts, (std::vector<uint32_t>{1}));
  EXPECT_EQ(sr_engine_deadline(&f.e), INT64_MAX);  // waiting for the answer
  sr_engine_on_retry_delay(&f.e, f.now, 500);
  f.advance(499);
  EXPECT_EQ(f.negotiated.size(), 1u);
  f.advance(1);
  ASSERT_EQ(f.negotiated.size(), 2u);
  f.negotiate_reply(500, "");
  ASSERT_EQ(f.retry_attempts, (std::vector<uint32_t>{1, 2}));
  sr_engine_on_retry_delay(&f.e, f.now, -1);
  EXPECT_EQ(f.e.state, SR_STATE_DISCONNECTED);
  EXPECT_EQ(f.count(SR_EV_CLOSED), 1);
  EXPECT_EQ(f.events.back().http, 500);
}

TEST(EngineReconnect, FirstStartRetriesWhenAsked) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, [](sr_engine_config &c) {
    reconnecting(c);
    c.reconnect_on_start = 1;
  });
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  sr_error_info refused = failure(SIGNALR_ECONNREFUSED, "refused");
  sr_engine_on_negotiate(&f.e, f.now, 0, nullptr, 0, &refused);
  EXPECT_EQ(f.e.state, SR_STATE_CONNECTING);
  EXPECT_EQ(f.count(SR_EV_START_COMPLETED), 0);
  f.advance(0);
  sr_engine_on_negotiate(&f.e, f.now, 0, nullptr, 0, &refused);
  f.advance(2000);
  ASSERT_EQ(f.negotiated.size(), 3u);
  reconnect_succeeds(f);
  ASSERT_EQ(f.count(SR_EV_START_COMPLETED), 1);
  EXPECT_EQ(f.events.back().code, 0);
  EXPECT_EQ(f.count(SR_EV_RECONNECTED), 0);
}

TEST(EngineReconnect, WithoutTheOptionTheFirstStartFailsAtOnce) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, reconnecting);
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  f.negotiate_reply(503, "");
  ASSERT_EQ(f.count(SR_EV_START_COMPLETED), 1);
  EXPECT_EQ(f.events.back().http, 503);
  EXPECT_EQ(f.e.state, SR_STATE_DISCONNECTED);
}

TEST(EngineReconnect, JitterStaysWithinItsFraction) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, [](sr_engine_config &c) {
    static int32_t delays[] = {10000};
    c.reconnect = 1;
    c.reconnect_delays = delays;
    c.reconnect_delay_count = 1;
    c.reconnect_jitter = 0.5;
    c.random_seed = 42;
  });
  f.connect();
  drop(f);
  int64_t wait = sr_engine_deadline(&f.e) - f.now;
  EXPECT_GE(wait, 5000);
  EXPECT_LE(wait, 15000);
}

// ------------------------------------------------------------------ fallback

TEST(EngineFallback, NextTransportAfterAFreshNegotiateWithAnAggregateError) {
  Fake f;
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  f.negotiate_reply(200, kAll);
  EXPECT_EQ(f.open_transport, SR_TRANSPORT_WEBSOCKETS);
  sr_error_info e503 = failure(SIGNALR_EHTTP, "upgrade refused");
  e503.http_status = 503;
  sr_engine_on_closed(&f.e, f.now, &e503);
  ASSERT_EQ(f.negotiated.size(), 2u);  // a fresh negotiate
  f.negotiate_reply(200, kAll);
  EXPECT_EQ(f.open_transport, SR_TRANSPORT_SSE);
  sr_error_info e2 = failure(SIGNALR_ETRANSPORT, "sse broke");
  sr_engine_on_closed(&f.e, f.now, &e2);
  f.negotiate_reply(200, kAll);
  EXPECT_EQ(f.open_transport, SR_TRANSPORT_LONG_POLLING);
  sr_error_info e3 = failure(SIGNALR_ENOTFOUND, "poll 404");
  sr_engine_on_closed(&f.e, f.now, &e3);
  // Nothing left: one start failure that says why each transport failed.
  EXPECT_EQ(f.negotiated.size(), 3u);
  ASSERT_EQ(f.count(SR_EV_START_COMPLETED), 1);
  const auto &ev = f.events.back();
  EXPECT_NE(ev.code, 0);
  EXPECT_NE(ev.message.find("WebSockets failed: upgrade refused"), std::string::npos) << ev.message;
  EXPECT_NE(ev.message.find("ServerSentEvents failed: sse broke"), std::string::npos) << ev.message;
  EXPECT_NE(ev.message.find("LongPolling failed: poll 404"), std::string::npos) << ev.message;
}

TEST(EngineFallback, MessagePackSkipsServerSentEventsAndOpenTransportsAreNotRetried) {
  Fake f("http://h/hub", SIGNALR_ENCODING_MSGPACK);
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  f.negotiate_reply(200, kAll);
  sr_error_info e = failure();
  sr_engine_on_closed(&f.e, f.now, &e);
  f.negotiate_reply(200, kAll);
  EXPECT_EQ(f.open_transport, SR_TRANSPORT_LONG_POLLING);
  EXPECT_EQ(f.open_binary, 1);
  // A transport that opened and then failed the handshake is not a reason to fall back.
  sr_engine_on_open(&f.e, f.now);
  sr_engine_on_closed(&f.e, f.now, &e);
  EXPECT_EQ(f.negotiated.size(), 2u);
  EXPECT_EQ(f.count(SR_EV_START_COMPLETED), 1);
}

TEST(EngineFallback, TransportsOptionLimitsTheChoice) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, SR_TRANSPORT_WEBSOCKETS);
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  f.negotiate_reply(200, kAll);
  sr_error_info e = failure();
  sr_engine_on_closed(&f.e, f.now, &e);
  EXPECT_EQ(f.negotiated.size(), 1u);
  ASSERT_EQ(f.count(SR_EV_START_COMPLETED), 1);
  EXPECT_EQ(f.events.back().code, SIGNALR_ETRANSPORT);
}

TEST(EngineLongPolling, NeverPings) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, SR_TRANSPORT_LONG_POLLING);
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  f.negotiate_reply(200, kAll);
  sr_engine_on_open(&f.e, f.now);
  f.data("{}\x1e");
  ASSERT_EQ(f.sent.size(), 1u);  // the handshake request; no initial Ping either
  f.sent.clear();
  for (int i = 0; i < 10; i++) {
    f.advance(10000);
    f.data("{\"type\":6}\x1e");  // the server's pings keep it alive
  }
  EXPECT_TRUE(f.sent.empty());
}

// ------------------------------------------------------------------ stateful reconnect

namespace {

void stateful(sr_engine_config &c) { c.stateful_reconnect = 1; }

void connect_stateful(Fake &f) {
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  ASSERT_NE(f.negotiated[0].find("useStatefulReconnect=true"), std::string::npos) << f.negotiated[0];
  f.negotiate_reply(200, kStateful);
  sr_engine_on_open(&f.e, f.now);
  ASSERT_EQ(f.sent[0], "{\"protocol\":\"json\",\"version\":2}\x1e");
  f.data("{}\x1e");
  ASSERT_EQ(f.e.state, SR_STATE_CONNECTED);
  f.sent.clear();
  f.events.clear();
}

}  // namespace

TEST(EngineStateful, DropReDialsTheSameTokenAndReplaysUnacknowledged) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, stateful);
  connect_stateful(f);
  sr_payload a = f.args("[1]");
  ASSERT_EQ(sr_engine_invoke(&f.e, f.now, SR_CALL_INVOKE, "A", &a, nullptr, 0, 5), 0);  // seq 1
  ASSERT_EQ(sr_engine_send(&f.e, f.now, "B", &a, nullptr, 0), 0);                       // seq 2
  f.data("{\"type\":8,\"sequenceId\":1}\x1e");                                          // server has 1
  size_t negotiates = f.negotiated.size();
  drop(f);
  // No events, no negotiate: the same connection token is dialed again at once.
  EXPECT_TRUE(f.events.empty());
  EXPECT_EQ(f.negotiated.size(), negotiates);
  ASSERT_EQ(f.opened.size(), 2u);
  EXPECT_EQ(f.opened[1], f.opened[0]);
  EXPECT_EQ(f.e.state, SR_STATE_CONNECTED);
  // Sends while re-dialing are kept for the new socket.
  ASSERT_EQ(sr_engine_send(&f.e, f.now, "C", &a, nullptr, 0), 0);  // seq 3
  f.sent.clear();
  sr_engine_on_open(&f.e, f.now);
  ASSERT_EQ(f.sent.size(), 3u);
  EXPECT_EQ(f.sent[0], "{\"type\":9,\"sequenceId\":2}\x1e");
  EXPECT_EQ(f.sent[1], "{\"type\":1,\"target\":\"B\",\"arguments\":[1]}\x1e");
  EXPECT_EQ(f.sent[2], "{\"type\":1,\"target\":\"C\",\"arguments\":[1]}\x1e");
  // The invocation survived: its completion still arrives.
  f.data("{\"type\":9,\"sequenceId\":1}\x1e{\"type\":3,\"invocationId\":\"1\",\"result\":7}\x1e");
  ASSERT_EQ(f.count(SR_EV_COMPLETION), 1);
  EXPECT_EQ(f.events.back().payload, "7");
  EXPECT_EQ(f.count(SR_EV_RECONNECTING), 0);
}

TEST(EngineStateful, ReceivedDuplicatesAreDroppedAndMessagesBeforeSequenceIgnored) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, stateful);
  connect_stateful(f);
  f.data("{\"type\":1,\"target\":\"m\",\"arguments\":[1]}\x1e{\"type\":1,\"target\":\"m\",\"arguments\":[2]}\x1e");
  drop(f);
  sr_engine_on_open(&f.e, f.now);
  // Before the server's Sequence everything is dropped; then ids 2 (dup) and 3 (new).
  f.data("{\"type\":1,\"target\":\"m\",\"arguments\":[99]}\x1e");
  f.data("{\"type\":9,\"sequenceId\":2}\x1e{\"type\":1,\"target\":\"m\",\"arguments\":[2]}\x1e"
         "{\"type\":1,\"target\":\"m\",\"arguments\":[3]}\x1e");
  std::vector<std::string> got;
  for (auto &ev : f.events)
    if (ev.type == SR_EV_INVOCATION) got.push_back(ev.payload);
  EXPECT_EQ(got, (std::vector<std::string>{"[1]", "[2]", "[3]"}));
}

TEST(EngineStateful, AcksOncePerSecondAndGapsAreProtocolErrors) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, stateful);
  connect_stateful(f);
  f.data("{\"type\":1,\"target\":\"m\",\"arguments\":[]}\x1e{\"type\":1,\"target\":\"m\",\"arguments\":[]}\x1e");
  f.advance(999);
  EXPECT_TRUE(f.sent.empty());
  f.advance(1);
  ASSERT_EQ(f.sent.size(), 1u);
  EXPECT_EQ(f.sent[0], "{\"type\":8,\"sequenceId\":2}\x1e");
  drop(f);
  sr_engine_on_open(&f.e, f.now);
  int closes = f.closes;
  f.data("{\"type\":9,\"sequenceId\":5}\x1e");
  EXPECT_EQ(f.closes, closes + 1);
  EXPECT_EQ(f.e.close_reason.code, SIGNALR_EPROTO);
}

TEST(EngineStateful, FullBufferPushesBackUntilAcknowledged) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, [](sr_engine_config &c) {
    c.stateful_reconnect = 1;
    c.stateful_buffer_size = 100;
  });
  connect_stateful(f);
  std::string big = "[\"" + std::string(80, 'x') + "\"]";
  sr_payload a = f.args(big.c_str());
  ASSERT_EQ(sr_engine_send(&f.e, f.now, "A", &a, nullptr, 0), 0);
  EXPECT_EQ(sr_engine_send(&f.e, f.now, "A", &a, nullptr, 0), SIGNALR_EAGAIN);
  EXPECT_GE(sr_engine_unacked_bytes(&f.e), 100u);
  f.data("{\"type\":8,\"sequenceId\":1}\x1e");
  EXPECT_EQ(sr_engine_unacked_bytes(&f.e), 0u);
  EXPECT_EQ(sr_engine_send(&f.e, f.now, "A", &a, nullptr, 0), 0);
}

TEST(EngineStateful, FailedReDialFallsBackToReconnectOrClose) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, stateful);
  connect_stateful(f);
  sr_payload a = f.args("[]");
  ASSERT_EQ(sr_engine_invoke(&f.e, f.now, SR_CALL_INVOKE, "A", &a, nullptr, 0, 9), 0);
  drop(f);
  sr_error_info gone = failure(SIGNALR_ENOTFOUND, "404");
  sr_engine_on_closed(&f.e, f.now, &gone);  // the re-dial is refused
  EXPECT_EQ(f.e.state, SR_STATE_DISCONNECTED);
  ASSERT_EQ(f.count(SR_EV_COMPLETION), 1);
  EXPECT_EQ(f.events[0].code, SIGNALR_ECLOSED);
  EXPECT_EQ(f.count(SR_EV_CLOSED), 1);
}

TEST(EngineStateful, CleanServerCloseDoesNotReDial) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, stateful);
  connect_stateful(f);
  f.data("{\"type\":7}\x1e");
  sr_engine_on_closed(&f.e, f.now, nullptr);
  EXPECT_EQ(f.opened.size(), 1u);
  EXPECT_EQ(f.e.state, SR_STATE_DISCONNECTED);
}

TEST(EngineStateful, ServerSayingStatefulUnaskedFailsTheStart) {
  Fake f;
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  f.negotiate_reply(200, kStateful);
  ASSERT_EQ(f.count(SR_EV_START_COMPLETED), 1);
  EXPECT_NE(f.events.back().message.find("Stateful Reconnect"), std::string::npos);
}

TEST(EngineReplay, AckReclaimsAndIterationIsInOrder) {
  sr_replay r;
  sr_replay_init(&r);
  for (int i = 0; i < 1000; i++) {
    std::string m = "m" + std::to_string(i);
    ASSERT_EQ(sr_replay_append(&r, (const uint8_t *)m.data(), m.size()), 0);
    if (i % 10 == 9) sr_replay_ack(&r, i - 2);  // keep the last 3 unacknowledged
  }
  EXPECT_EQ(sr_replay_oldest(&r), 998);
  std::vector<std::string> held;
  size_t cursor = 0;
  const uint8_t *p;
  size_t n;
  while (sr_replay_next(&r, &cursor, &p, &n)) held.emplace_back((const char *)p, n);
  EXPECT_EQ(held, (std::vector<std::string>{"m997", "m998", "m999"}));
  EXPECT_LT(r.data.cap, 4096u);  // compaction kept it small
  sr_replay_ack(&r, 1000);
  EXPECT_EQ(r.bytes, 0u);
  EXPECT_EQ(sr_replay_oldest(&r), 1001);
  sr_replay_free(&r);
}

TEST(EngineStateful, TransientReDialFailuresAreRetriedBeforeGivingUp) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, stateful);
  connect_stateful(f);
  drop(f);
  ASSERT_EQ(f.opened.size(), 2u);
  sr_error_info early = failure(SIGNALR_ETRANSPORT, "read failed");
  sr_engine_on_closed(&f.e, f.now, &early);  // the server had not seen the old socket die yet
  EXPECT_EQ(f.e.state, SR_STATE_CONNECTED);
  f.advance(99);
  EXPECT_EQ(f.opened.size(), 2u);
  f.advance(1);
  ASSERT_EQ(f.opened.size(), 3u);
  sr_engine_on_open(&f.e, f.now);
  EXPECT_EQ(f.sent.back(), "{\"type\":9,\"sequenceId\":1}\x1e");
  EXPECT_TRUE(f.events.empty());
  // Four failures in a row end it.
  drop(f);
  for (int i = 0; i < 4; i++) {
    sr_engine_on_closed(&f.e, f.now, &early);
    f.advance(1000);
  }
  sr_engine_on_closed(&f.e, f.now, &early);
  EXPECT_EQ(f.e.state, SR_STATE_DISCONNECTED);
  EXPECT_EQ(f.count(SR_EV_CLOSED), 1);
}
