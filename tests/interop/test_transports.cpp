// The core interop scenarios over every transport (WebSockets, Server-Sent Events, Long
// Polling) and both protocols (JSON, and MessagePack through the test server's hand-written
// hub protocol, tests/server/MessagePack), plus transport fallback.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "../support/api_client.h"
#include "../support/test_server.h"

using srtest::ApiClient;
using srtest::CallResult;

namespace {

struct Combo {
  const char *transport;  // builder value
  const char *reported;   // what GetTransport answers
  const char *protocol;
};

class Transports : public ::testing::TestWithParam<Combo> {
 protected:
  void SetUp() override {
    SIGNALR_NEED_SERVER();
  }
  srtest::Options options() const {
    return {{"transports", GetParam().transport}, {"protocol", GetParam().protocol}};
  }
};

std::string combo_name(const ::testing::TestParamInfo<Combo> &i) {
  return std::string(i.param.transport) + "_" + i.param.protocol;
}

int answer(void *, signalr_connection *, const signalr_value *args, const void **result, size_t *len, int *enc,
           const char **) {
  static thread_local std::string out;
  const char *j;
  size_t n;
  signalr_value_json(args, &j, &n);
  out = "{\"got\":" + std::string(j, n) + "}";
  *result = out.data();
  *len = out.size();
  *enc = SIGNALR_ENCODING_JSON;
  return 0;
}

}  // namespace

TEST_P(Transports, InvokeSendHandlersAndErrors) {
  ApiClient c("/hubs/test", options());
  c.listen("Callback");
  CallResult started = c.start();
  ASSERT_EQ(started.code, 0) << started.message;
  EXPECT_EQ(c.invoke("GetTransport", "[]").json, std::string("\"") + GetParam().reported + "\"");
  EXPECT_EQ(c.invoke("Echo", "[\"h\xc3\xa9llo\"]").json, "\"h\xc3\xa9llo\"");
  EXPECT_EQ(c.invoke("EchoObject", "[{\"Name\":\"n\",\"Number\":7,\"Value\":1.5,\"Flag\":true,\"Items\":[\"i\"],"
                                   "\"Map\":{\"k\":2},\"Nested\":null}]").json,
            "{\"Name\":\"n\",\"Number\":7,\"Value\":1.5,\"Flag\":true,\"Items\":[\"i\"],\"Map\":{\"k\":2},"
            "\"Nested\":null}");
  EXPECT_EQ(c.invoke("LargeMessage", "[20000]").json.size(), 20002u);
  CallResult hub_error = c.invoke("ThrowHubException", "[\"boom\"]");
  EXPECT_EQ(hub_error.code, SIGNALR_EHUB);
  EXPECT_NE(hub_error.message.find("boom"), std::string::npos);
  // send: no completion; the server's call back proves it arrived.
  ASSERT_EQ(signalr_connection_send(c.conn, "Callback", "[\"s\"]", 5, SIGNALR_ENCODING_JSON), 0);
  ASSERT_TRUE(c.poll_until([&] { return c.calls.size() == 1; }));
  EXPECT_EQ(c.calls[0].second, "[\"s\"]");
  // Many messages in flight at once, in order.
  for (int i = 0; i < 50; i++) {
    std::string a = "[\"" + std::to_string(i) + "\"]";
    ASSERT_EQ(signalr_connection_send(c.conn, "Callback", a.data(), a.size(), SIGNALR_ENCODING_JSON), 0);
  }
  ASSERT_TRUE(c.poll_until([&] { return c.calls.size() == 51; }));
  for (int i = 0; i < 50; i++) EXPECT_EQ(c.calls[1 + i].second, "[\"" + std::to_string(i) + "\"]");
  ASSERT_EQ(signalr_connection_stop_blocking(c.conn, 10000), 0);
}

TEST_P(Transports, StreamsBothWaysAndClientResults) {
  ApiClient c("/hubs/test", options());
  ASSERT_EQ(signalr_connection_on(c.conn, "GetValue", answer, nullptr, nullptr, nullptr), 0);
  ASSERT_EQ(c.start().code, 0);
  // Download.
  struct Download {
    CallResult done;
    std::vector<std::string> items;
  } dl;
  auto item = [](void *ud, signalr_connection *, const signalr_value *v) {
    const char *j;
    size_t n;
    signalr_value_json(v, &j, &n);
    static_cast<Download *>(ud)->items.emplace_back(j, n);
  };
  auto finished = [](void *ud, signalr_connection *c, const signalr_value *v, const signalr_error *e) {
    srtest::record_result(&static_cast<Download *>(ud)->done, c, v, e);
  };
  std::string args = "[5, 0]";
  ASSERT_EQ(signalr_connection_stream(c.conn, "Counter", args.data(), args.size(), SIGNALR_ENCODING_JSON, item,
                                      finished, &dl, nullptr), 0);
  ASSERT_TRUE(c.poll_until([&] { return dl.done.done; }));
  EXPECT_EQ(dl.done.code, 0) << dl.done.message;
  EXPECT_EQ(dl.items, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  // Upload.
  uint64_t s;
  ASSERT_EQ(signalr_connection_upload_open(c.conn, &s), 0);
  CallResult sum;
  ASSERT_EQ(signalr_connection_invoke_with_uploads(c.conn, "UploadSum", nullptr, 0, SIGNALR_ENCODING_JSON, &s, 1,
                                                   srtest::record_result, &sum), 0);
  for (int i = 1; i <= 10; i++) {
    std::string v = std::to_string(i);
    ASSERT_EQ(signalr_connection_upload_write(c.conn, s, v.data(), v.size(), SIGNALR_ENCODING_JSON), 0);
  }
  ASSERT_EQ(signalr_connection_upload_complete(c.conn, s, nullptr), 0);
  ASSERT_TRUE(c.poll_until([&] { return sum.done; }));
  EXPECT_EQ(sum.json, "55") << sum.message;
  // Client result: the server asks, the handler answers.
  EXPECT_EQ(c.invoke("GetClientResult", "[\"GetValue\", 41]").json, "{\"got\":[41]}");
}

INSTANTIATE_TEST_SUITE_P(All, Transports,
                         ::testing::Values(Combo{"websockets", "WebSockets", "json"},
                                           Combo{"serversentevents", "ServerSentEvents", "json"},
                                           Combo{"longpolling", "LongPolling", "json"},
                                           Combo{"websockets", "WebSockets", "messagepack"},
                                           Combo{"longpolling", "LongPolling", "messagepack"}),
                         combo_name);

TEST(Fallback, WithoutWebSocketsJsonEndsOnServerSentEvents) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/no-websockets");
  ASSERT_EQ(c.start().code, 0);
  EXPECT_EQ(c.invoke("GetTransport", "[]").json, "\"ServerSentEvents\"");
}

TEST(Fallback, WithoutWebSocketsMessagePackEndsOnLongPolling) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/no-websockets", {{"protocol", "messagepack"}});
  ASSERT_EQ(c.start().code, 0);
  EXPECT_EQ(c.invoke("GetTransport", "[]").json, "\"LongPolling\"");
}

TEST(Fallback, MessagePackOverServerSentEventsOnlyIsRefusedClearly) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/sse", {{"protocol", "messagepack"}});
  CallResult r = c.start();
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.code, SIGNALR_EUNSUPPORTED);
  EXPECT_NE(r.message.find("The server offers ServerSentEvents (text only)"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("binary (MessagePack)"), std::string::npos) << r.message;
}

TEST(MessagePack, BinaryValuesTravelAsBinAndMessagePackArgumentsAsTheyAre) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/test", {{"transports", "websockets"}, {"protocol", "messagepack"}});
  ASSERT_EQ(c.start().code, 0);
  // [bin 01 02 03] in, bin out: byte arrays stay bytes on a MessagePack connection.
  static const char args[] = "\x91\xc4\x03\x01\x02\x03";
  struct Raw {
    CallResult r;
    std::string bytes;
    int encoding = 0;
  } raw;
  auto done = [](void *ud, signalr_connection *conn, const signalr_value *v, const signalr_error *e) {
    auto *x = static_cast<Raw *>(ud);
    if (v) {
      size_t n;
      const uint8_t *d = signalr_value_data(v, &n);
      x->bytes.assign(reinterpret_cast<const char *>(d), n);
      x->encoding = signalr_value_encoding(v);
    }
    srtest::record_result(&x->r, conn, v, e);
  };
  ASSERT_EQ(signalr_connection_invoke(c.conn, "EchoBytes", args, sizeof args - 1, SIGNALR_ENCODING_MSGPACK, done,
                                      &raw), 0);
  ASSERT_TRUE(c.poll_until([&] { return raw.r.done; }));
  ASSERT_EQ(raw.r.code, 0) << raw.r.message;
  EXPECT_EQ(raw.encoding, SIGNALR_ENCODING_MSGPACK);
  EXPECT_EQ(raw.bytes, std::string("\xc4\x03\x01\x02\x03", 5));
  EXPECT_EQ(raw.r.json, "\"AQID\"");  // the JSON view: base64, as the official clients show bytes
  // Integers keep 64 bits; nested maps and arrays survive.
  EXPECT_EQ(c.invoke("EchoAny", "[{\"big\":9007199254740993,\"neg\":-9223372036854775808,\"l\":[1,\"x\",null]}]").json,
            "{\"big\":9007199254740993,\"neg\":-9223372036854775808,\"l\":[1,\"x\",null]}");
}

TEST(Fallback, RefusedUpgradeFallsBackAfterAFreshNegotiate) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/ws-rejected");
  CallResult r = c.start();
  ASSERT_EQ(r.code, 0) << r.message;
  EXPECT_EQ(c.invoke("GetTransport", "[]").json, "\"ServerSentEvents\"");
}

TEST(Fallback, LongPollingWhenItIsAllThatIsLeft) {
  SIGNALR_NEED_SERVER();
  ApiClient c("/hubs/ws-rejected", {{"transports", "websockets,longpolling"}});
  ASSERT_EQ(c.start().code, 0);
  EXPECT_EQ(c.invoke("GetTransport", "[]").json, "\"LongPolling\"");
}
