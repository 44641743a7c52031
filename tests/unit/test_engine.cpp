// The hub connection engine with a fake transport and a fake clock: every protocol rule and
// timer path, in microseconds.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../support/engine_fake.h"

using srtest::Ev;
using srtest::Fake;


TEST(Engine, StartNegotiatesOpensWebSocketsAndHandshakes) {
  Fake f("http://h/hub?x=1");
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  ASSERT_EQ(f.negotiated, (std::vector<std::string>{"http://h/hub/negotiate?x=1&negotiateVersion=1"}));
  f.negotiate_reply(200, Fake::kNegotiate);
  ASSERT_EQ(f.opened, (std::vector<std::string>{"ws://h/hub?x=1&id=tok%2F1"}));
  EXPECT_EQ(f.open_transport, SR_TRANSPORT_WEBSOCKETS);
  EXPECT_EQ(f.open_binary, 0);
  sr_engine_on_open(&f.e, f.now);
  ASSERT_EQ(f.sent, (std::vector<std::string>{"{\"protocol\":\"json\",\"version\":1}\x1e"}));
  EXPECT_EQ(f.e.state, SR_STATE_CONNECTING);
  f.data("{}\x1e");
  EXPECT_EQ(f.e.state, SR_STATE_CONNECTED);
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].type, SR_EV_START_COMPLETED);
  EXPECT_EQ(f.events[0].code, 0);
  EXPECT_STREQ(f.e.connection_id, "cid");
  // The first Ping follows the handshake at once.
  EXPECT_EQ(f.sent.back(), "{\"type\":6}\x1e");
}

TEST(Engine, HandshakeAndMessagesInOneChunkAndSplitAcrossChunks) {
  Fake f;
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  f.negotiate_reply(200, Fake::kNegotiate);
  sr_engine_on_open(&f.e, f.now);
  f.data("{}\x1e{\"type\":1,\"target\":\"Hello\",\"arguments\":[1]}\x1e{\"type\":1,\"tar");
  f.data("get\":\"Hello\",\"arguments\":[2]}\x1e");
  ASSERT_EQ(f.events.size(), 3u);
  EXPECT_EQ(f.events[1].type, SR_EV_INVOCATION);
  EXPECT_EQ(f.events[1].payload, "[1]");
  EXPECT_EQ(f.events[2].payload, "[2]");
}

TEST(Engine, InvokeCompletesWithResultOrHubError) {
  Fake f;
  f.connect();
  auto a = f.args("[\"hi\"]");
  ASSERT_EQ(sr_engine_invoke(&f.e, f.now, SR_CALL_INVOKE, "Echo", &a, nullptr, 0, 77), 0);
  ASSERT_EQ(sr_engine_invoke(&f.e, f.now, SR_CALL_INVOKE, "Throw", &a, nullptr, 0, 78), 0);
  EXPECT_EQ(f.sent[0], "{\"type\":1,\"invocationId\":\"1\",\"target\":\"Echo\",\"arguments\":[\"hi\"]}\x1e");
  EXPECT_EQ(f.sent[1], "{\"type\":1,\"invocationId\":\"2\",\"target\":\"Throw\",\"arguments\":[\"hi\"]}\x1e");
  f.data("{\"type\":3,\"invocationId\":\"2\",\"error\":\"boom\"}\x1e{\"type\":3,\"invocationId\":\"1\",\"result\":\"hi\"}\x1e");
  ASSERT_EQ(f.events.size(), 2u);
  EXPECT_EQ(f.events[0].call, 78u);
  EXPECT_EQ(f.events[0].error, "boom");
  EXPECT_EQ(f.events[1].call, 77u);
  EXPECT_EQ(f.events[1].payload, "\"hi\"");
  // A completion for an unknown id is ignored.
  f.data("{\"type\":3,\"invocationId\":\"99\",\"result\":1}\x1e");
  EXPECT_EQ(f.events.size(), 2u);
  EXPECT_EQ(f.e.state, SR_STATE_CONNECTED);
}

TEST(Engine, SendHasNoIdAndNotConnectedIsAStateError) {
  Fake f;
  auto a = f.args("[]");
  EXPECT_EQ(sr_engine_send(&f.e, f.now, "X", &a, nullptr, 0), SIGNALR_ESTATE);
  EXPECT_EQ(sr_engine_invoke(&f.e, f.now, SR_CALL_INVOKE, "X", &a, nullptr, 0, 1), SIGNALR_ESTATE);
  f.connect();
  ASSERT_EQ(sr_engine_send(&f.e, f.now, "X", &a, nullptr, 0), 0);
  EXPECT_EQ(f.sent[0], "{\"type\":1,\"target\":\"X\",\"arguments\":[]}\x1e");
  auto bad = f.args("[1,");
  EXPECT_EQ(sr_engine_send(&f.e, f.now, "X", &bad, nullptr, 0), SIGNALR_EENCODING);
  EXPECT_EQ(sr_engine_send(&f.e, f.now, "", &a, nullptr, 0), SIGNALR_EINVAL);
}

TEST(Engine, ServerStreamsItemsCompletionAndCancel) {
  Fake f;
  f.connect();
  auto a = f.args("[3]");
  ASSERT_EQ(sr_engine_invoke(&f.e, f.now, SR_CALL_STREAM, "Counter", &a, nullptr, 0, 5), 0);
  EXPECT_EQ(f.sent[0], "{\"type\":4,\"invocationId\":\"1\",\"target\":\"Counter\",\"arguments\":[3]}\x1e");
  f.data("{\"type\":2,\"invocationId\":\"1\",\"item\":0}\x1e{\"type\":2,\"invocationId\":\"1\",\"item\":1}\x1e"
         "{\"type\":3,\"invocationId\":\"1\"}\x1e");
  ASSERT_EQ(f.events.size(), 3u);
  EXPECT_EQ(f.events[0].type, SR_EV_STREAM_ITEM);
  EXPECT_EQ(f.events[1].payload, "1");
  EXPECT_EQ(f.events[2].type, SR_EV_COMPLETION);
  // Cancel: CancelInvocation goes out, the stream completes as canceled, late items are dropped.
  ASSERT_EQ(sr_engine_invoke(&f.e, f.now, SR_CALL_STREAM, "Infinite", &a, nullptr, 0, 6), 0);
  f.events.clear();
  ASSERT_EQ(sr_engine_cancel(&f.e, f.now, 6), 0);
  EXPECT_EQ(f.sent.back(), "{\"type\":5,\"invocationId\":\"2\"}\x1e");
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].code, SIGNALR_ECANCELED);
  f.data("{\"type\":2,\"invocationId\":\"2\",\"item\":9}\x1e{\"type\":3,\"invocationId\":\"2\"}\x1e");
  EXPECT_EQ(f.events.size(), 1u);
  // A stream item for a plain invocation fails that invocation.
  ASSERT_EQ(sr_engine_invoke(&f.e, f.now, SR_CALL_INVOKE, "Echo", &a, nullptr, 0, 7), 0);
  f.data("{\"type\":2,\"invocationId\":\"3\",\"item\":9}\x1e");
  EXPECT_EQ(f.events.back().code, SIGNALR_EPROTO);
  EXPECT_EQ(f.events.back().call, 7u);
}

TEST(Engine, UploadStreamsAndClientResults) {
  Fake f;
  f.connect();
  char sid[24];
  ASSERT_EQ(sr_engine_new_stream_id(&f.e, sid, sizeof sid), 0);
  sr_str ids[] = {{sid, strlen(sid)}};
  auto a = f.args("[]");
  ASSERT_EQ(sr_engine_invoke(&f.e, f.now, SR_CALL_INVOKE, "UploadConcat", &a, ids, 1, 1), 0);
  auto item = f.args("\"a\"");
  ASSERT_EQ(sr_engine_stream_item(&f.e, f.now, sid, &item), 0);
  ASSERT_EQ(sr_engine_stream_complete(&f.e, f.now, sid, nullptr), 0);
  EXPECT_EQ(f.sent[0], "{\"type\":1,\"invocationId\":\"2\",\"target\":\"UploadConcat\",\"arguments\":[],\"streamIds\":[\"1\"]}\x1e");
  EXPECT_EQ(f.sent[1], "{\"type\":2,\"invocationId\":\"1\",\"item\":\"a\"}\x1e");
  EXPECT_EQ(f.sent[2], "{\"type\":3,\"invocationId\":\"1\"}\x1e");
  ASSERT_EQ(sr_engine_stream_complete(&f.e, f.now, sid, "bad"), 0);
  EXPECT_EQ(f.sent[3], "{\"type\":3,\"invocationId\":\"1\",\"error\":\"bad\"}\x1e");
  // The server asks for a client result; the reply goes back with the server's id.
  f.data("{\"type\":1,\"invocationId\":\"s1\",\"target\":\"GetValue\",\"arguments\":[]}\x1e");
  ASSERT_EQ(f.events.back().type, SR_EV_INVOCATION);
  EXPECT_EQ(f.events.back().id, "s1");
  sr_str sid1{"s1", 2};
  auto r = f.args("42");
  ASSERT_EQ(sr_engine_client_result(&f.e, f.now, &sid1, &r, nullptr), 0);
  EXPECT_EQ(f.sent.back(), "{\"type\":3,\"invocationId\":\"s1\",\"result\":42}\x1e");
  ASSERT_EQ(sr_engine_client_result(&f.e, f.now, &sid1, nullptr, "Client didn't provide a result."), 0);
  EXPECT_EQ(f.sent.back(), "{\"type\":3,\"invocationId\":\"s1\",\"error\":\"Client didn't provide a result.\"}\x1e");
}

TEST(Engine, EveryFailureFromTheServerHasAHint) {
  // What the server or the network can cause gets a hint in some stage; caller errors
  // (EINVAL, ESTATE, ERECURSIVE, EAGAIN, ...) are reported synchronously with their own text.
  const int from_server[] = {SIGNALR_EPROTO,    SIGNALR_ETOOBIG,      SIGNALR_EHANDSHAKE, SIGNALR_ENEGOTIATE,
                             SIGNALR_ETIMEOUT,  SIGNALR_ETLS,         SIGNALR_ECONNREFUSED, SIGNALR_ENOHANDLER,
                             SIGNALR_EENCODING, SIGNALR_EUNSUPPORTED, SIGNALR_ELEGACY,  SIGNALR_EREDIRECT};
  for (int code : from_server) {
    bool some = false;
    for (int stage : {SR_STAGE_NEGOTIATE, SR_STAGE_TRANSPORT, SR_STAGE_HANDSHAKE, SR_STAGE_CONNECTED})
      some = some || sr_error_hint(stage, code, 0);
    EXPECT_TRUE(some) << signalr_error_name(code);
  }
  for (int status : {400, 401, 403, 404, 405, 413, 500, 501, 502, 503, 504, 307}) {
    bool some = sr_error_hint(SR_STAGE_NEGOTIATE, SIGNALR_EHTTP, status) ||
                sr_error_hint(SR_STAGE_TRANSPORT, SIGNALR_EHTTP, status);
    EXPECT_TRUE(some) << status;
  }
  // A negotiate answered 500 (a plain web server at the URL, or a failing server) says so.
  Fake f;
  sr_engine_start(&f.e, f.now);
  f.negotiate_reply(500, "oops");
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].http, 500);
  EXPECT_NE(f.events[0].hint.find("server's log"), std::string::npos) << f.events[0].hint;
}

TEST(Engine, MalformedAndOversizedMessagesCloseWithAHint) {
  {
    Fake f;
    f.connect();
    f.data("{\"type\":1,\"target\":5}\x1e"); // target must be a string
    sr_engine_on_closed(&f.e, f.now, nullptr);
    ASSERT_FALSE(f.events.empty());
    EXPECT_EQ(f.events.back().type, SR_EV_CLOSED);
    EXPECT_EQ(f.events.back().code, SIGNALR_EPROTO) << f.events.back().message;
    EXPECT_NE(f.events.back().hint.find("not valid SignalR"), std::string::npos) << f.events.back().hint;
  }
  {
    Fake f;
    f.e.cfg.max_message_size = 64;
    f.connect();
    f.data("{\"type\":1,\"target\":\"T\",\"arguments\":[\"" + std::string(200, 'x') + "\"]}\x1e");
    sr_engine_on_closed(&f.e, f.now, nullptr);
    ASSERT_FALSE(f.events.empty());
    EXPECT_EQ(f.events.back().code, SIGNALR_ETOOBIG) << f.events.back().message;
    EXPECT_NE(f.events.back().hint.find("max_message_size"), std::string::npos) << f.events.back().hint;
  }
}

TEST(Engine, NegotiateRedirectsOnlyToWebUrls) {
  for (const char *to : {"file:///etc/passwd", "ftp://127.0.0.1/hub", "gopher://x", "/relative/path"}) {
    Fake f;
    sr_engine_start(&f.e, f.now);
    f.negotiate_reply(200, std::string("{\"url\":\"") + to + "\"}");
    ASSERT_EQ(f.events.size(), 1u) << to;
    EXPECT_EQ(f.events[0].code, SIGNALR_EREDIRECT) << to << ": " << f.events[0].message;
    EXPECT_NE(f.events[0].message.find(to), std::string::npos) << f.events[0].message;
    EXPECT_FALSE(f.events[0].hint.empty());
  }
}

TEST(Engine, NegotiateFailuresCarryStatusAndHints) {
  {
    Fake f;
    sr_engine_start(&f.e, f.now);
    f.negotiate_reply(404, "");
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].type, SR_EV_START_COMPLETED);
    EXPECT_EQ(f.events[0].code, SIGNALR_ENOTFOUND);
    EXPECT_EQ(f.events[0].http, 404);
    EXPECT_NE(f.events[0].hint.find("hub path"), std::string::npos);
    EXPECT_EQ(f.e.state, SR_STATE_DISCONNECTED);
  }
  {
    Fake f;
    sr_engine_start(&f.e, f.now);
    f.negotiate_reply(200, "{\"error\":\"This connection is not allowed.\"}");
    EXPECT_EQ(f.events[0].code, SIGNALR_ENEGOTIATE);
    EXPECT_EQ(f.events[0].message, "This connection is not allowed.");
  }
  {
    Fake f;
    sr_engine_start(&f.e, f.now);
    f.negotiate_reply(307, "");
    EXPECT_EQ(f.events[0].code, SIGNALR_EREDIRECT);
    EXPECT_NE(f.events[0].hint.find("https://"), std::string::npos);
  }
  {
    Fake f;
    sr_engine_start(&f.e, f.now);
    f.negotiate_reply(200, "{\"ProtocolVersion\":\"1.5\"}");
    EXPECT_EQ(f.events[0].code, SIGNALR_ELEGACY);
  }
  {
    Fake f("http://h/hub", SIGNALR_ENCODING_MSGPACK);
    sr_engine_start(&f.e, f.now);
    f.negotiate_reply(200, "{\"negotiateVersion\":1,\"connectionId\":\"a\",\"connectionToken\":\"b\","
                           "\"availableTransports\":[{\"transport\":\"ServerSentEvents\",\"transferFormats\":[\"Text\"]}]}");
    EXPECT_EQ(f.events[0].code, SIGNALR_EUNSUPPORTED);
  }
}

TEST(Engine, RedirectsSwitchUrlAndTokenAndAreBounded) {
  Fake f;
  sr_engine_start(&f.e, f.now);
  f.negotiate_reply(200, "{\"url\":\"https://svc/client/?hub=chat\",\"accessToken\":\"jwt\"}");
  ASSERT_EQ(f.negotiated.size(), 2u);
  EXPECT_EQ(f.negotiated[1], "https://svc/client/negotiate?hub=chat&negotiateVersion=1");
  EXPECT_EQ(f.bearers[1], "jwt");
  f.negotiate_reply(200, Fake::kNegotiate);
  EXPECT_EQ(f.opened[0], "wss://svc/client/?hub=chat&id=tok%2F1");
  EXPECT_EQ(f.bearers.back(), "jwt");

  Fake loop;
  sr_engine_start(&loop.e, loop.now);
  for (int i = 0; i < 200 && loop.events.empty(); i++) loop.negotiate_reply(200, "{\"url\":\"http://h/again\"}");
  EXPECT_EQ(loop.negotiated.size(), 101u);
  ASSERT_EQ(loop.events.size(), 1u);
  EXPECT_EQ(loop.events[0].code, SIGNALR_EREDIRECT);
}

TEST(Engine, HandshakeRejectedWithTheServersText) {
  Fake f;
  sr_engine_start(&f.e, f.now);
  f.negotiate_reply(200, Fake::kNegotiate);
  sr_engine_on_open(&f.e, f.now);
  f.data("{\"error\":\"The protocol 'messagepack' is not supported.\"}\x1e");
  EXPECT_EQ(f.closes, 1);
  EXPECT_TRUE(f.events.empty());  // reported once the transport is down
  sr_engine_on_closed(&f.e, f.now, nullptr);
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].type, SR_EV_START_COMPLETED);
  EXPECT_EQ(f.events[0].code, SIGNALR_EHANDSHAKE);
  EXPECT_NE(f.events[0].message.find("The protocol 'messagepack' is not supported."), std::string::npos);
  EXPECT_NE(f.events[0].hint, "");
}

TEST(Engine, HandshakeTimeoutAndEarlyClose) {
  Fake f;
  sr_engine_start(&f.e, f.now);
  f.negotiate_reply(200, Fake::kNegotiate);
  sr_engine_on_open(&f.e, f.now);
  f.advance(14999);
  EXPECT_EQ(f.closes, 0);
  f.advance(1);
  EXPECT_EQ(f.closes, 1);
  sr_engine_on_closed(&f.e, f.now, nullptr);
  EXPECT_EQ(f.events[0].code, SIGNALR_ETIMEOUT);

  Fake g;
  sr_engine_start(&g.e, g.now);
  g.negotiate_reply(200, Fake::kNegotiate);
  sr_engine_on_open(&g.e, g.now);
  sr_engine_on_closed(&g.e, g.now, nullptr);
  EXPECT_EQ(g.events[0].code, SIGNALR_ECLOSED);
  EXPECT_NE(g.events[0].message.find("before the hub handshake"), std::string::npos);
}

TEST(Engine, KeepAliveSlowWarningAndServerTimeout) {
  Fake f;
  f.connect();
  f.advance(14999);
  EXPECT_TRUE(f.sent.empty());
  f.advance(1);
  ASSERT_EQ(f.sent.size(), 1u);  // keep-alive ping after 15 s without sending
  EXPECT_EQ(f.sent[0], "{\"type\":6}\x1e");
  f.advance(4999);  // 19.999 s since the last receive
  EXPECT_TRUE(f.events.empty());
  f.advance(1);     // 2/3 of 30 s
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].type, SR_EV_SLOW);
  f.data("{\"type\":6}\x1e");  // traffic resets both
  f.advance(29999);
  EXPECT_EQ(f.closes, 0);
  f.advance(1);
  EXPECT_EQ(f.closes, 1);
  sr_engine_on_closed(&f.e, f.now, nullptr);
  EXPECT_EQ(f.events.back().type, SR_EV_CLOSED);
  EXPECT_EQ(f.events.back().code, SIGNALR_ETIMEOUT);
  EXPECT_NE(f.events.back().message.find("Server timeout elapsed"), std::string::npos);
  EXPECT_EQ(sr_engine_deadline(&f.e), INT64_MAX);
}

// 0 is "never" for both (the builder's option table says so): a day of silence both ways
// sends no ping, warns nothing and times nothing out; the engine then has no timer at all.
TEST(Engine, ZeroDisablesKeepAliveAndServerTimeout) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, 0, [](sr_engine_config &c) {
    c.keep_alive_interval_ms = 0;
    c.server_timeout_ms = 0;
  });
  f.connect();
  EXPECT_EQ(sr_engine_deadline(&f.e), INT64_MAX);
  f.advance(24LL * 3600 * 1000);
  EXPECT_TRUE(f.sent.empty()) << "a keep-alive ping went out";
  EXPECT_TRUE(f.events.empty()) << "a slow warning or a timeout fired";
  EXPECT_EQ(f.closes, 0);
  EXPECT_EQ(f.e.state, SR_STATE_CONNECTED);
}

TEST(Engine, ServerCloseFailsPendingCallsWithAClearError) {
  Fake f;
  f.connect();
  auto a = f.args("[]");
  sr_engine_invoke(&f.e, f.now, SR_CALL_INVOKE, "Slow", &a, nullptr, 0, 11);
  f.data("{\"type\":7,\"error\":\"Connection closed with an error.\",\"allowReconnect\":true}\x1e");
  EXPECT_EQ(f.closes, 1);
  sr_engine_on_closed(&f.e, f.now, nullptr);
  ASSERT_EQ(f.events.size(), 2u);
  EXPECT_EQ(f.events[0].type, SR_EV_COMPLETION);
  EXPECT_EQ(f.events[0].call, 11u);
  EXPECT_EQ(f.events[0].code, SIGNALR_ECLOSED);
  EXPECT_EQ(f.events[1].type, SR_EV_CLOSED);
  EXPECT_EQ(f.events[1].message, "The server closed the connection with the following error: Connection closed with an error.");
  EXPECT_EQ(f.events[1].allow_reconnect, 1);
  EXPECT_EQ(f.e.state, SR_STATE_DISCONNECTED);
}

TEST(Engine, ServerCloseWithoutErrorClosesWithoutErrorAsTheOfficialClients) {
  Fake f;
  f.connect();
  auto a = f.args("[]");
  sr_engine_invoke(&f.e, f.now, SR_CALL_INVOKE, "Slow", &a, nullptr, 0, 11);
  f.data("{\"type\":7}\x1e"); // Context.Abort(): Close, no error
  EXPECT_EQ(f.closes, 1);
  sr_engine_on_closed(&f.e, f.now, nullptr);
  ASSERT_EQ(f.events.size(), 2u);
  EXPECT_EQ(f.events[0].type, SR_EV_COMPLETION);
  EXPECT_EQ(f.events[0].code, SIGNALR_ECLOSED); // the pending call still fails
  EXPECT_EQ(f.events[1].type, SR_EV_CLOSED);
  EXPECT_EQ(f.events[1].code, 0) << f.events[1].message; // .NET and JS: Closed(null)
  EXPECT_EQ(f.e.state, SR_STATE_DISCONNECTED);
  // The next connection's losses carry their reason again.
  f.events.clear();
  f.connect();
  sr_engine_on_closed(&f.e, f.now, nullptr);
  ASSERT_FALSE(f.events.empty());
  EXPECT_EQ(f.events.back().type, SR_EV_CLOSED);
  EXPECT_EQ(f.events.back().code, SIGNALR_ECLOSED);
}

TEST(Engine, StopSendsCloseAndFailsPendingCalls) {
  Fake f;
  f.connect();
  auto a = f.args("[]");
  sr_engine_invoke(&f.e, f.now, SR_CALL_INVOKE, "Slow", &a, nullptr, 0, 3);
  ASSERT_EQ(sr_engine_stop(&f.e, f.now), 0);
  EXPECT_EQ(f.sent.back(), "{\"type\":7}\x1e");
  EXPECT_EQ(f.e.state, SR_STATE_DISCONNECTING);
  sr_engine_on_closed(&f.e, f.now, nullptr);
  ASSERT_EQ(f.events.size(), 2u);
  EXPECT_EQ(f.events[0].code, SIGNALR_ECLOSED);
  EXPECT_EQ(f.events[1].type, SR_EV_CLOSED);
  EXPECT_EQ(f.events[1].code, 0);  // stopped by the application
  // Restart works, with a fresh negotiate.
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  EXPECT_EQ(f.negotiated.size(), 2u);
}

TEST(Engine, StopDuringNegotiateCancelsTheStart) {
  Fake f;
  sr_engine_start(&f.e, f.now);
  sr_engine_stop(&f.e, f.now);
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].code, SIGNALR_ECANCELED);
  EXPECT_EQ(f.events[0].message, "The connection was stopped during negotiation.");
  f.negotiate_reply(200, Fake::kNegotiate);  // a late answer changes nothing
  EXPECT_TRUE(f.opened.empty());
  EXPECT_EQ(f.e.state, SR_STATE_DISCONNECTED);
}

TEST(Engine, MalformedOrOversizedServerMessagesCloseWithProtocolErrors) {
  Fake f;
  f.connect();
  f.data("{\"type\":1,\"target\":5}\x1e");
  sr_engine_on_closed(&f.e, f.now, nullptr);
  EXPECT_EQ(f.events.back().code, SIGNALR_EPROTO);
  EXPECT_NE(f.events.back().message.find("'target' must be a string"), std::string::npos);

  Fake g;
  g.e.cfg.max_message_size = 100;
  g.connect();
  g.data(std::string(200, 'x'));
  sr_engine_on_closed(&g.e, g.now, nullptr);
  EXPECT_EQ(g.events.back().code, SIGNALR_ETOOBIG);
}

TEST(Engine, MessagePackAfterTheJsonHandshake) {
  Fake f("http://h/hub", SIGNALR_ENCODING_MSGPACK);
  sr_engine_start(&f.e, f.now);
  f.negotiate_reply(200, Fake::kNegotiate);
  EXPECT_EQ(f.open_binary, 1);
  sr_engine_on_open(&f.e, f.now);
  EXPECT_EQ(f.sent[0], "{\"protocol\":\"messagepack\",\"version\":1}\x1e");
  // Handshake response and a MessagePack completion in the same chunk.
  auto a = f.args("[\"hi\"]");
  f.data(std::string("{}\x1e") + std::string("\x02\x91\x06", 3));
  ASSERT_EQ(f.e.state, SR_STATE_CONNECTED);
  EXPECT_EQ(f.sent.back(), std::string("\x02\x91\x06", 3));
  ASSERT_EQ(sr_engine_invoke(&f.e, f.now, SR_CALL_INVOKE, "Echo", &a, nullptr, 0, 1), 0);
  EXPECT_EQ(srtest::to_hex((const uint8_t *)f.sent.back().data(), f.sent.back().size()),
            "0e 95 01 80 a1 31 a4 45 63 68 6f 91 a2 68 69");
  std::vector<uint8_t> done = srtest::from_hex("09 95 03 80 a1 31 03 a2 68 69");
  f.data(std::string(done.begin(), done.end()));
  EXPECT_EQ(f.events.back().type, SR_EV_COMPLETION);
  EXPECT_EQ(f.events.back().payload, "\"hi\"");
}

TEST(Engine, SkipNegotiationIsWebSocketsOnly) {
  Fake bad("http://h/hub", SIGNALR_ENCODING_JSON, 1, 0);
  EXPECT_EQ(sr_engine_start(&bad.e, bad.now), SIGNALR_EINVAL);
  Fake f("https://h/hub", SIGNALR_ENCODING_JSON, 1, SR_TRANSPORT_WEBSOCKETS);
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  EXPECT_TRUE(f.negotiated.empty());
  EXPECT_EQ(f.opened, (std::vector<std::string>{"wss://h/hub"}));
}

TEST(Engine, TransportFailureDuringStartCarriesItsHint) {
  Fake f("http://h/hub", SIGNALR_ENCODING_JSON, 0, SR_TRANSPORT_WEBSOCKETS);
  sr_engine_start(&f.e, f.now);
  f.negotiate_reply(200, Fake::kNegotiate);
  sr_error_info err;
  sr_error_set(&err, SIGNALR_EHTTP, 503, "WebSocket upgrade refused");
  sr_engine_on_closed(&f.e, f.now, &err);
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].http, 503);
  EXPECT_NE(f.events[0].hint.find("WebSockets are probably not enabled"), std::string::npos);
}
