#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "protocol/framing.h"
#include "signalr/signalr.h"
}

namespace {

// Feeds `stream` in chunks cut at `cuts` and collects every message.
int split(int kind, const std::string &stream, const std::vector<size_t> &cuts, size_t max,
          std::vector<std::string> *out) {
  sr_framer f;
  sr_framer_init(&f, kind, max);
  size_t pos = 0;
  int rc = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(stream.size());
  for (size_t end : ends) {
    // A copy per chunk, freed right after: the framer must not keep pointers into it.
    std::vector<uint8_t> chunk(stream.begin() + pos, stream.begin() + end);
    pos = end;
    sr_framer_feed(&f, chunk.data(), chunk.size());
    const uint8_t *m;
    size_t n;
    while ((rc = sr_framer_next(&f, &m, &n)) == 1) out->emplace_back((const char *)m, n);
    if (rc < 0) break;
  }
  if (rc == 0 && sr_framer_pending(&f)) rc = 2;  // leftover incomplete data
  sr_framer_free(&f);
  return rc;
}

std::string varint_frame(const std::string &body) {
  std::string s;
  uint32_t n = (uint32_t)body.size();
  do {
    uint8_t b = n & 0x7f;
    n >>= 7;
    s += (char)(b | (n ? 0x80 : 0));
  } while (n);
  return s + body;
}

}  // namespace

TEST(Framing, TextRecordsSplitAtEveryBoundary) {
  const std::vector<std::string> msgs = {"{\"type\":6}", "{\"type\":1,\"target\":\"a\",\"arguments\":[\"\xc3\xa9\"]}",
                                         "{}", std::string(300, 'x')};
  std::string stream;
  for (auto &m : msgs) stream += m + "\x1e";
  for (size_t a = 0; a <= stream.size(); a++) {
    for (size_t b = a; b <= stream.size(); b += 7) {
      std::vector<std::string> got;
      ASSERT_EQ(split(SR_FRAMING_TEXT, stream, {a, b}, 1024, &got), 0) << a << "," << b;
      ASSERT_EQ(got, msgs) << a << "," << b;
    }
  }
}

TEST(Framing, TextOneByteAtATime) {
  std::string stream = "{\"type\":6}\x1e{\"type\":7}\x1e";
  std::vector<size_t> cuts;
  for (size_t i = 1; i < stream.size(); i++) cuts.push_back(i);
  std::vector<std::string> got;
  ASSERT_EQ(split(SR_FRAMING_TEXT, stream, cuts, 64, &got), 0);
  EXPECT_EQ(got, (std::vector<std::string>{"{\"type\":6}", "{\"type\":7}"}));
}

TEST(Framing, BinaryFramesSplitAtEveryBoundary) {
  const std::vector<std::string> msgs = {"\x91\x06", std::string(200, 'a'), "\x92\x07\xc0", std::string(20000, 'b')};
  std::string stream;
  for (auto &m : msgs) stream += varint_frame(m);
  for (size_t a = 0; a <= stream.size(); a += (a < 300 ? 1 : 997)) {
    for (size_t b : {a, a + 1, a + 2, a + 3, a + 150, stream.size()}) {
      if (b > stream.size()) continue;
      std::vector<std::string> got;
      ASSERT_EQ(split(SR_FRAMING_BINARY, stream, {a, b}, 1 << 20, &got), 0) << a << "," << b;
      ASSERT_EQ(got, msgs) << a << "," << b;
    }
  }
}

TEST(Framing, BinaryOneByteAtATime) {
  std::string stream = varint_frame(std::string(130, 'z')) + varint_frame("\x91\x06");
  std::vector<size_t> cuts;
  for (size_t i = 1; i < stream.size(); i++) cuts.push_back(i);
  std::vector<std::string> got;
  ASSERT_EQ(split(SR_FRAMING_BINARY, stream, cuts, 1024, &got), 0);
  EXPECT_EQ(got, (std::vector<std::string>{std::string(130, 'z'), "\x91\x06"}));
}

TEST(Framing, TextOverMaxSizeFailsWithoutBufferingIt) {
  std::vector<std::string> got;
  EXPECT_EQ(split(SR_FRAMING_TEXT, std::string(100, 'x') + "\x1e", {}, 64, &got), SIGNALR_ETOOBIG);
  // Arriving in pieces, it is refused as soon as the pieces exceed the limit.
  got.clear();
  EXPECT_EQ(split(SR_FRAMING_TEXT, std::string(100, 'x'), {30, 60, 90}, 64, &got), SIGNALR_ETOOBIG);
  // Exactly at the limit is fine.
  got.clear();
  EXPECT_EQ(split(SR_FRAMING_TEXT, std::string(64, 'x') + "\x1e", {10}, 64, &got), 0);
  EXPECT_EQ(got.size(), 1u);
}

TEST(Framing, BinaryHostileLengths) {
  std::vector<std::string> got;
  // Declared 2 GiB - 1: refused at once, before any body byte arrives.
  EXPECT_EQ(split(SR_FRAMING_BINARY, "\xff\xff\xff\xff\x07", {}, 1 << 20, &got), SIGNALR_ETOOBIG);
  // A 5th byte above 7, and a 6-byte VarInt, are malformed.
  EXPECT_EQ(split(SR_FRAMING_BINARY, "\xff\xff\xff\xff\x08", {}, 1 << 20, &got), SIGNALR_EPROTO);
  EXPECT_EQ(split(SR_FRAMING_BINARY, "\x80\x80\x80\x80\x80\x01", {}, 1 << 20, &got), SIGNALR_EPROTO);
  // An empty frame carries no message.
  EXPECT_EQ(split(SR_FRAMING_BINARY, std::string("\x00", 1), {}, 1 << 20, &got), SIGNALR_EPROTO);
  // Just over the limit.
  EXPECT_EQ(split(SR_FRAMING_BINARY, varint_frame(std::string(65, 'x')), {}, 64, &got), SIGNALR_ETOOBIG);
  // A truncated stream is not an error, only pending data.
  EXPECT_EQ(split(SR_FRAMING_BINARY, varint_frame(std::string(50, 'x')).substr(0, 20), {}, 64, &got), 2);
}

TEST(Framing, VarIntLimits) {
  uint32_t v;
  size_t used;
  const uint8_t max[] = {0xff, 0xff, 0xff, 0xff, 0x07};
  ASSERT_EQ(sr_varint_decode(max, 5, &v, &used), 1);
  EXPECT_EQ(v, 0x7fffffffu);
  EXPECT_EQ(used, 5u);
  const uint8_t spec[] = {0x80, 0x29};
  ASSERT_EQ(sr_varint_decode(spec, 2, &v, &used), 1);
  EXPECT_EQ(v, 5248u);
  EXPECT_EQ(sr_varint_decode(spec, 1, &v, &used), 0);
}

TEST(Framing, SwitchFromTextToBinaryAfterHandshake) {
  // The handshake response is a text record; MessagePack frames follow in the same chunk.
  std::string stream = std::string("{}\x1e") + varint_frame("\x91\x06");
  sr_framer f;
  sr_framer_init(&f, SR_FRAMING_TEXT, 1024);
  sr_framer_feed(&f, (const uint8_t *)stream.data(), stream.size());
  const uint8_t *m;
  size_t n;
  ASSERT_EQ(sr_framer_next(&f, &m, &n), 1);
  EXPECT_EQ(std::string((const char *)m, n), "{}");
  sr_framer_set_kind(&f, SR_FRAMING_BINARY);
  ASSERT_EQ(sr_framer_next(&f, &m, &n), 1);
  EXPECT_EQ(std::string((const char *)m, n), "\x91\x06");
  EXPECT_EQ(sr_framer_next(&f, &m, &n), 0);
  sr_framer_free(&f);
}
