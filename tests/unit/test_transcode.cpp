#include <gtest/gtest.h>

#include <string>

#include "../support/vector_check.h"

using srtest::to_hex;

namespace {

std::string j2m(const std::string &json, int *rc = nullptr) {
  uint8_t *out = nullptr;
  size_t n = 0;
  int r = signalr_json_to_msgpack(json.data(), json.size(), &out, &n);
  if (rc) *rc = r;
  std::string s = r ? "" : to_hex(out, n);
  signalr_free(out);
  return s;
}

std::string m2j(const std::vector<uint8_t> &mp, int *rc = nullptr) {
  char *out = nullptr;
  size_t n = 0;
  int r = signalr_msgpack_to_json(mp.data(), mp.size(), &out, &n);
  if (rc) *rc = r;
  std::string s = r ? "" : std::string(out, n);
  if (!r) EXPECT_EQ(out[n], '\0');
  signalr_free(out);
  return s;
}

std::vector<uint8_t> hex(const char *h) { return srtest::from_hex(h); }

// JSON -> MessagePack -> JSON gives back the (minified) text.
void round_trip(const std::string &json, const std::string &want_back) {
  uint8_t *mp = nullptr;
  size_t n = 0;
  ASSERT_EQ(signalr_json_to_msgpack(json.data(), json.size(), &mp, &n), 0) << json;
  EXPECT_EQ(m2j(std::vector<uint8_t>(mp, mp + n)), want_back) << json;
  signalr_free(mp);
}

}  // namespace

TEST(Transcode, Scalars) {
  EXPECT_EQ(j2m("null"), "c0");
  EXPECT_EQ(j2m("true"), "c3");
  EXPECT_EQ(j2m("false"), "c2");
  EXPECT_EQ(j2m("0"), "00");
  EXPECT_EQ(j2m("127"), "7f");
  EXPECT_EQ(j2m("128"), "cc 80");
  EXPECT_EQ(j2m("-1"), "ff");
  EXPECT_EQ(j2m("-33"), "d0 df");
  EXPECT_EQ(j2m("65536"), "ce 00 01 00 00");
  EXPECT_EQ(j2m("1.5"), "cb 3f f8 00 00 00 00 00 00");
  EXPECT_EQ(j2m("1e3"), "cd 03 e8") << "integral doubles are integers, as in JavaScript";
  EXPECT_EQ(j2m("-0.0"), "00");
  EXPECT_EQ(j2m("\"\""), "a0");
  EXPECT_EQ(j2m(" \"a\" "), "a1 61");
}

TEST(Transcode, LargeIntegersStayExact) {
  EXPECT_EQ(j2m("9223372036854775807"), "cf 7f ff ff ff ff ff ff ff");
  EXPECT_EQ(j2m("-9223372036854775808"), "d3 80 00 00 00 00 00 00 00");
  EXPECT_EQ(j2m("18446744073709551615"), "cf ff ff ff ff ff ff ff ff");
  EXPECT_EQ(j2m("9007199254740993"), "cf 00 20 00 00 00 00 00 01");
  // Beyond 64 bits only a double can hold it.
  EXPECT_EQ(j2m("18446744073709551616"), "cb 43 f0 00 00 00 00 00 00");
  round_trip("[9223372036854775807,-9223372036854775808,18446744073709551615]",
             "[9223372036854775807,-9223372036854775808,18446744073709551615]");
}

TEST(Transcode, NumbersPrintLikeJavaScript) {
  round_trip("[0.1,1.5,-0.25,1e-7,1.5e-7,123456789012345680000,1e21,2.5e-300,0.000001]",
             "[0.1,1.5,-0.25,1e-7,1.5e-7,123456789012345680000,1e+21,2.5e-300,0.000001]");
  EXPECT_EQ(m2j(hex("ca 3f c0 00 00")), "1.5");                       // float32
  EXPECT_EQ(m2j(hex("cb 7f f8 00 00 00 00 00 00")), "null");          // NaN
  EXPECT_EQ(m2j(hex("cb 7f f0 00 00 00 00 00 00")), "null");          // +inf
}

TEST(Transcode, NestedMapsAndArrays) {
  round_trip("{\"a\":[1,{\"b\":[true,null,\"x\"]},[]],\"c\":{}}",
             "{\"a\":[1,{\"b\":[true,null,\"x\"]},[]],\"c\":{}}");
  // Containers of 16+ and 65536+ elements switch to the wider headers.
  std::string big = "[";
  for (int i = 0; i < 70000; i++) big += (i ? ",1" : "1");
  big += "]";
  std::string h = j2m(big);
  EXPECT_EQ(h.substr(0, 14), "dd 00 01 11 70");
  round_trip(big, big);
  std::string sixteen = "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]";
  EXPECT_EQ(j2m(sixteen).substr(0, 8), "dc 00 10");
}

TEST(Transcode, StringsAndUnicode) {
  round_trip("[\"\\u00e9\\u4e2d\\ud83d\\ude00\",\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"]",
             "[\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\",\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"]");
  round_trip("[\"a\\\"b\\\\c\\n\\u0001\\/\"]", "[\"a\\\"b\\\\c\\n\\u0001/\"]");
  // A NUL inside a string survives both ways.
  round_trip("[\"a\\u0000b\"]", "[\"a\\u0000b\"]");
  // Escaped strings long enough for str8 / str16 headers.
  std::string s40 = "\"" + std::string(39, 'a') + "\\n\"";
  EXPECT_EQ(j2m(s40).substr(0, 5), "d9 28");
  std::string s300 = "\"" + std::string(299, 'a') + "\\t\"";
  EXPECT_EQ(j2m(s300).substr(0, 8), "da 01 2c");
}

TEST(Transcode, BinaryAndTimestampsToJson) {
  EXPECT_EQ(m2j(hex("c4 03 01 02 03")), "\"AQID\"");
  EXPECT_EQ(m2j(hex("c4 00")), "\"\"");
  EXPECT_EQ(m2j(hex("c4 01 ff")), "\"/w==\"");
  EXPECT_EQ(m2j(hex("d6 ff 3c a8 34 5f")), "\"2002-04-01T10:20:15Z\"");
  // 64-bit form with nanoseconds (500 ms), and the 96-bit form before 1970.
  EXPECT_EQ(m2j(hex("d7 ff 77 35 94 00 3c a8 34 5f")), "\"2002-04-01T10:20:15.5Z\"");
  EXPECT_EQ(m2j(hex("c7 0c ff 1d cd 65 00 ff ff ff ff ff ff ff ff")), "\"1969-12-31T23:59:59.5Z\"");
  // Non-string map keys become strings.
  EXPECT_EQ(m2j(hex("82 01 a1 61 c3 a1 62")), "{\"1\":\"a\",\"true\":\"b\"}");
}

TEST(Transcode, InvalidJsonIsRefused) {
  const char *bad[] = {"",        "[",          "[1,]",   "{\"a\"}",  "{\"a\":1,}", "01",
                       "1.",      "-",          "nul",    "[1 2]",    "\"abc",      "\"\\x\"",
                       "\"\\ud800\"", "\"\\udc00\"", "\"\x01\"", "[1] x",     "{1:2}",      "'a'",
                       "\"\xc3\"",  "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"\xf4\x90\x80\x80\""};
  for (const char *b : bad) {
    int rc = 0;
    j2m(b, &rc);
    EXPECT_EQ(rc, SIGNALR_EENCODING) << b;
  }
}

TEST(Transcode, DepthIsBounded) {
  std::string ok(SR_MAX_DEPTH, '['), deep(SR_MAX_DEPTH + 1, '[');
  ok += std::string(SR_MAX_DEPTH, ']');
  deep += std::string(SR_MAX_DEPTH + 1, ']');
  int rc;
  j2m(ok, &rc);
  EXPECT_EQ(rc, 0);
  j2m(deep, &rc);
  EXPECT_EQ(rc, SIGNALR_EDEPTH);
  // A million opening brackets: refused without recursion blowing the stack.
  j2m(std::string(1000000, '['), &rc);
  EXPECT_EQ(rc, SIGNALR_EDEPTH);
  std::vector<uint8_t> mp(1000000, 0x91);
  m2j(mp, &rc);
  EXPECT_EQ(rc, SIGNALR_EDEPTH);
}

TEST(Transcode, InvalidMsgpackIsRefused) {
  const char *bad[] = {"c1", "92 01", "dc ff ff", "dd ff ff ff ff 01", "a5 61 62", "c4 05 00",
                       "cb 00 00", "81 a1 61", "81 91 01 02", "a2 c3 28", "d6 ff 00", "c7 03 ff 00 00 00",
                       "01 02"};
  for (const char *b : bad) {
    int rc = 0;
    m2j(hex(b), &rc);
    EXPECT_TRUE(rc == SIGNALR_EENCODING) << b << " rc=" << rc;
  }
}

TEST(Transcode, PublicApiRejectsNulls) {
  uint8_t *o;
  size_t n;
  char *c;
  EXPECT_EQ(signalr_json_to_msgpack(nullptr, 0, &o, &n), SIGNALR_EINVAL);
  EXPECT_EQ(signalr_msgpack_to_json(nullptr, 0, &c, &n), SIGNALR_EINVAL);
  signalr_free(nullptr);
}
