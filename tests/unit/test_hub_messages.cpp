// Hub message codecs beyond the shared vectors: what a hostile server or a careless caller
// can send, and what the encoders refuse.
#include <gtest/gtest.h>

#include "../support/vector_check.h"

using srtest::from_hex;
using srtest::str;

namespace {

struct Dec {
  sr_decoder d;
  sr_hub_message m;
  Dec() { sr_decoder_init(&d); }
  ~Dec() { sr_decoder_free(&d); }
  // The decoded message borrows from its input, so the input is kept here.
  int json(const std::string &rec) {
    text = rec;
    return sr_json_decode(&d, (const uint8_t *)text.data(), text.size(), &m);
  }
  int mp(const char *hexbody) {
    body = from_hex(hexbody);
    return sr_msgpack_decode(&d, body.data(), body.size(), &m);
  }
  std::vector<uint8_t> body;
  std::string text;
};

sr_str S(const char *s) { return sr_str{s, strlen(s)}; }
sr_payload J(const char *s) { return sr_payload{(const uint8_t *)s, strlen(s), SIGNALR_ENCODING_JSON}; }

std::string enc(const sr_hub_message &m, bool msgpack, int *rc) {
  sr_buf b = SR_BUF_INIT;
  b.len = 0;
  sr_buf_append(&b, "prefix", 6);  // encoders append, and leave earlier content alone on error
  *rc = msgpack ? sr_msgpack_encode(&b, &m) : sr_json_encode(&b, &m);
  std::string s((char *)b.data, b.len);
  sr_buf_free(&b);
  EXPECT_EQ(s.substr(0, 6), "prefix");
  return s.substr(6);
}

}  // namespace

TEST(JsonDecode, WrongFieldTypesAreProtocolErrors) {
  Dec d;
  const char *bad[] = {
      "{\"type\":\"1\",\"target\":\"a\",\"arguments\":[]}",
      "{\"type\":1.5,\"target\":\"a\",\"arguments\":[]}",
      "{\"type\":1,\"target\":5,\"arguments\":[]}",
      "{\"type\":1,\"target\":\"a\",\"arguments\":{}}",
      "{\"type\":1,\"target\":\"a\"}",
      "{\"type\":1,\"target\":\"\",\"arguments\":[]}",
      "{\"type\":1,\"invocationId\":7,\"target\":\"a\",\"arguments\":[]}",
      "{\"type\":1,\"invocationId\":\"\",\"target\":\"a\",\"arguments\":[]}",
      "{\"type\":1,\"target\":\"a\",\"arguments\":[],\"streamIds\":[1]}",
      "{\"type\":1,\"target\":\"a\",\"arguments\":[],\"headers\":{\"a\":1}}",
      "{\"type\":1,\"target\":\"a\",\"arguments\":[],\"headers\":[]}",
      "{\"type\":2,\"invocationId\":\"1\"}",
      "{\"type\":3}",
      "{\"type\":3,\"invocationId\":\"1\",\"result\":1,\"error\":\"x\"}",
      "{\"type\":3,\"invocationId\":\"1\",\"error\":5}",
      "{\"type\":4,\"target\":\"a\",\"arguments\":[]}",
      "{\"type\":5}",
      "{\"type\":7,\"allowReconnect\":\"yes\"}",
      "{\"type\":8}",
      "{\"type\":9,\"sequenceId\":\"1\"}",
      "{\"type\":8,\"sequenceId\":99999999999999999999}",
      "{\"target\":\"a\",\"arguments\":[]}",
      "[1]",
      "{\"type\":6} trailing",
      "{\"type\":6,}",
      "{\"type\":6",
      "",
      "{\"type\":1,\"target\":\"a\",\"arguments\":[1,]}",
      "{\"type\":1,\"target\":\"\xff\",\"arguments\":[]}",
  };
  for (const char *b : bad) {
    EXPECT_EQ(d.json(b), SIGNALR_EPROTO) << b;
    EXPECT_STRNE(d.d.error, "") << b;
  }
}

TEST(JsonDecode, ErrorTextsSayWhatIsWrong) {
  Dec d;
  EXPECT_EQ(d.json("{\"type\":1,\"target\":\"a\"}"), SIGNALR_EPROTO);
  EXPECT_STREQ(d.d.error, "Invocation message has no 'arguments'");
  EXPECT_EQ(d.json("{\"type\":3,\"invocationId\":\"1\",\"result\":1,\"error\":\"x\"}"), SIGNALR_EPROTO);
  EXPECT_STREQ(d.d.error, "The 'error' and 'result' properties are mutually exclusive.");
}

TEST(JsonDecode, UnknownTypesAndFieldsAreIgnored) {
  Dec d;
  ASSERT_EQ(d.json("{\"type\":42,\"whatever\":[1,2,{\"x\":null}]}"), 0);
  EXPECT_EQ(d.m.type, 42);
  ASSERT_EQ(d.json("{\"futureField\":{\"deep\":[[[]]]},\"type\":6}"), 0);
  EXPECT_EQ(d.m.type, 6);
  // Unknown fields must still be valid JSON.
  EXPECT_EQ(d.json("{\"type\":6,\"x\":[1,}"), SIGNALR_EPROTO);
}

TEST(JsonDecode, PayloadsAreZeroCopySpansAndNulsSurvive) {
  Dec d;
  std::string rec = "{\"type\":1,\"target\":\"t\\u0000x\",\"arguments\":[ \"a\\u0000b\", 1 ]}";
  ASSERT_EQ(d.json(rec), 0) << d.d.error;
  EXPECT_EQ(str(d.m.target), std::string("t\0x", 3));
  EXPECT_EQ(std::string((const char *)d.m.arguments.data, d.m.arguments.len), "[ \"a\\u0000b\", 1 ]");
  EXPECT_GE((const char *)d.m.arguments.data, d.text.data());
  EXPECT_LT((const char *)d.m.arguments.data, d.text.data() + d.text.size());
}

TEST(JsonDecode, DeepNestingIsBounded) {
  Dec d;
  std::string deep = "{\"type\":1,\"target\":\"a\",\"arguments\":" + std::string(100000, '[') + "}";
  EXPECT_EQ(d.json(deep), SIGNALR_EDEPTH);
  std::string deep_unknown = "{\"type\":6,\"x\":";
  for (int i = 0; i < 100000; i++) deep_unknown += "{\"a\":";
  EXPECT_EQ(d.json(deep_unknown), SIGNALR_EDEPTH);
}

TEST(JsonDecode, HugeNumbersInPayloadsAreKeptAsText) {
  Dec d;
  ASSERT_EQ(d.json("{\"type\":3,\"invocationId\":\"1\",\"result\":123456789012345678901234567890}"), 0);
  EXPECT_EQ(std::string((const char *)d.m.result.data, d.m.result.len), "123456789012345678901234567890");
}

TEST(MsgpackDecode, MalformedBodiesAreProtocolErrors) {
  Dec d;
  const char *bad[] = {
      "",                                   // nothing
      "c0",                                 // not an array
      "90",                                 // empty array
      "91 a1 31",                           // type is a string
      "94 01 80 c0 a1 61",                  // invocation too short
      "95 01 80 c0 a0 90",                  // empty target
      "95 01 80 c0 a1 61 01",               // arguments not an array
      "95 01 81 01 02 c0 a1 61 90",         // header key not a string
      "95 01 90 c0 a1 61 90",               // headers not a map
      "95 01 80 05 a1 61 90",               // id neither string nor nil
      "95 04 80 c0 a1 61 90",               // stream invocation without id
      "96 01 80 c0 a1 61 90 91 01",         // stream id not a string
      "95 03 80 a1 31 04 c0",               // result kind 4
      "94 03 80 a1 31 01",                  // error kind without error
      "95 03 80 a1 31 01 05",               // error not a string
      "93 02 80 a1 31",                     // stream item without item
      "92 08 a1 31",                        // sequence id not an int
      "92 08 cf ff ff ff ff ff ff ff ff",   // sequence id above int64
      "93 07 c0 01",                        // allowReconnect not a bool
      "95 01 80 c0 a1 61 dd ff ff ff ff",   // hostile count, few bytes
      "95 01 80 c0 a2 c3 28 90",            // target not UTF-8
      "91 06 00",                           // data after the array
      "92 06 c1",                           // malformed extra element
  };
  for (const char *b : bad) {
    EXPECT_EQ(d.mp(b), SIGNALR_EPROTO) << b;
    EXPECT_STRNE(d.d.error, "") << b;
  }
}

TEST(MsgpackDecode, ExtraElementsAndUnknownTypesAreAccepted) {
  Dec d;
  ASSERT_EQ(d.mp("92 06 a3 6e 65 77"), 0) << d.d.error;
  EXPECT_EQ(d.m.type, 6);
  ASSERT_EQ(d.mp("93 63 01 02"), 0);
  EXPECT_EQ(d.m.type, 99);
  ASSERT_EQ(d.mp("96 03 80 a1 31 03 2a 81 a1 78 c0"), 0) << d.d.error;
  EXPECT_EQ(d.m.completion_kind, SR_COMPLETION_RESULT);
  // An empty invocation id is "none", as on the server.
  ASSERT_EQ(d.mp("95 01 80 a0 a1 61 90"), 0);
  EXPECT_EQ(d.m.invocation_id.ptr, nullptr);
}

TEST(Encode, RefusesWhatTheServerCouldNotRead) {
  sr_hub_message m{};
  int rc;
  for (bool mp : {false, true}) {
    m = {};
    m.type = SR_MSG_INVOCATION;
    m.target = S("Echo");
    m.arguments = J("[\"a\",]");
    enc(m, mp, &rc);
    EXPECT_EQ(rc, SIGNALR_EENCODING) << mp;
    m.arguments = J("{\"a\":1}");
    enc(m, mp, &rc);
    EXPECT_EQ(rc, SIGNALR_EENCODING) << "arguments must be an array";
    m.arguments = J("[1] [2]");
    enc(m, mp, &rc);
    EXPECT_EQ(rc, SIGNALR_EENCODING) << "one value only";
    m.arguments = J("[\"\xff\"]");
    enc(m, mp, &rc);
    EXPECT_EQ(rc, SIGNALR_EENCODING) << "invalid UTF-8";
    m.arguments = J("[]");
    m.target = S("\xc3");
    enc(m, mp, &rc);
    EXPECT_EQ(rc, SIGNALR_EENCODING) << "target must be UTF-8";
    m.target = sr_str{nullptr, 0};
    enc(m, mp, &rc);
    EXPECT_EQ(rc, SIGNALR_EINVAL) << "no target";
    m = {};
    m.type = SR_MSG_COMPLETION;
    enc(m, mp, &rc);
    EXPECT_EQ(rc, SIGNALR_EINVAL) << "completion without id";
    m.type = 10;
    enc(m, mp, &rc);
    EXPECT_EQ(rc, SIGNALR_EINVAL) << "unknown type";
  }
}

TEST(Encode, JsonArgumentsAreMinifiedAndMsgpackArgumentsTranscoded) {
  sr_hub_message m{};
  m.type = SR_MSG_INVOCATION;
  m.invocation_id = S("7");
  m.target = S("Echo");
  m.arguments = J(" [ \"a b\" ,\n 1.50 , { \"k\" : null } ] ");
  int rc;
  EXPECT_EQ(enc(m, false, &rc), "{\"type\":1,\"invocationId\":\"7\",\"target\":\"Echo\",\"arguments\":[\"a b\",1.50,{\"k\":null}]}\x1e");
  EXPECT_EQ(rc, 0);
  std::vector<uint8_t> mp = from_hex("92 c4 02 01 02 c3");
  m.arguments = sr_payload{mp.data(), mp.size(), SIGNALR_ENCODING_MSGPACK};
  EXPECT_EQ(enc(m, false, &rc), "{\"type\":1,\"invocationId\":\"7\",\"target\":\"Echo\",\"arguments\":[\"AQI=\",true]}\x1e");
  std::string out = enc(m, true, &rc);
  EXPECT_EQ(srtest::to_hex((const uint8_t *)out.data(), out.size()), "10 95 01 80 a1 37 a4 45 63 68 6f 92 c4 02 01 02 c3");
  // MessagePack arguments are validated before they are copied.
  std::vector<uint8_t> bad = from_hex("92 01");
  m.arguments = sr_payload{bad.data(), bad.size(), SIGNALR_ENCODING_MSGPACK};
  enc(m, true, &rc);
  EXPECT_EQ(rc, SIGNALR_EENCODING);
}

TEST(Encode, LargeMessagesGetMultiByteLengthPrefixes) {
  std::string big = "[\"" + std::string(300000, 'x') + "\"]";
  sr_hub_message m{};
  m.type = SR_MSG_INVOCATION;
  m.target = S("Echo");
  m.arguments = J(big.c_str());
  int rc;
  std::string out = enc(m, true, &rc);
  ASSERT_EQ(rc, 0);
  uint32_t len;
  size_t used;
  ASSERT_EQ(sr_varint_decode((const uint8_t *)out.data(), out.size(), &len, &used), 1);
  EXPECT_EQ(used, 3u);
  EXPECT_EQ(used + len, out.size());
  Dec d;
  ASSERT_EQ(sr_msgpack_decode(&d.d, (const uint8_t *)out.data() + used, len, &d.m), 0);
  EXPECT_EQ(srtest::payload_json(d.m.arguments), big);
}
