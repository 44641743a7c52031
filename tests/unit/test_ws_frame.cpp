// Client-to-server WebSocket frames built by the transport (transport/ws_frame.h): header
// layout per RFC 6455 5.2 for each length class, masking (5.3) undone by a reference
// byte-at-a-time unmasker, and the key pool.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <vector>

extern "C" {
#include "transport/ws_frame.h"
}

namespace {

struct Parsed {
  int fin = 0, opcode = -1, masked = 0;
  uint64_t len = 0;
  uint8_t key[4] = {0, 0, 0, 0};
  size_t header = 0;
};

// A reference reader of what a server receives.
Parsed parse(const uint8_t *f) {
  Parsed p;
  p.fin = f[0] >> 7;
  p.opcode = f[0] & 0x0f;
  p.masked = f[1] >> 7;
  size_t i = 2;
  uint64_t l = f[1] & 0x7f;
  if (l == 126) {
    l = (uint64_t)f[2] << 8 | f[3];
    i = 4;
  } else if (l == 127) {
    l = 0;
    for (int k = 0; k < 8; k++) l = l << 8 | f[2 + k];
    i = 10;
  }
  p.len = l;
  memcpy(p.key, f + i, 4);
  p.header = i + 4;
  return p;
}

void roundtrip(size_t len, int opcode) {
  std::vector<uint8_t> payload(len);
  for (size_t i = 0; i < len; i++) payload[i] = (uint8_t)(i * 31 + 7);
  std::vector<uint8_t> buf(SR_WS_FRAME_HEADER_MAX + len);
  size_t hl = sr_ws_frame_header_size(len);
  uint8_t *data = buf.data() + SR_WS_FRAME_HEADER_MAX;
  if (len) memcpy(data, payload.data(), len);  // an empty vector's data() may be null
  const uint8_t key[4] = {0xa1, 0x02, 0xf3, 0x44};
  sr_ws_frame_build(data - hl, opcode, data, len, key);
  Parsed p = parse(data - hl);
  EXPECT_EQ(p.header, hl) << len;
  EXPECT_EQ(p.fin, 1);
  EXPECT_EQ(p.opcode, opcode);
  EXPECT_EQ(p.masked, 1);
  EXPECT_EQ(p.len, len);
  EXPECT_EQ(0, memcmp(p.key, key, 4));
  for (size_t i = 0; i < len; i++) {
    ASSERT_EQ((uint8_t)(data[i] ^ key[i & 3]), payload[i]) << "byte " << i << " of " << len;
  }
}

}  // namespace

TEST(WsFrame, HeaderSizeFollowsTheLengthClasses) {
  EXPECT_EQ(sr_ws_frame_header_size(0), 6u);
  EXPECT_EQ(sr_ws_frame_header_size(125), 6u);
  EXPECT_EQ(sr_ws_frame_header_size(126), 8u);
  EXPECT_EQ(sr_ws_frame_header_size(65535), 8u);
  EXPECT_EQ(sr_ws_frame_header_size(65536), 14u);
}

TEST(WsFrame, MaskedPayloadUnmasksToTheOriginalAtEveryLengthAndAlignment) {
  for (size_t len : {0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 125, 126, 127, 1000, 65535, 65536, 70001})
    roundtrip(len, SR_WS_OP_TEXT);
  roundtrip(33, SR_WS_OP_BINARY);
}

TEST(WsFrame, KeysComeFromThePoolOnceEachAndItRefills) {
  sr_ws_mask_pool pool;
  memset(&pool, 0, sizeof(pool));
  std::set<uint32_t> seen;
  // three refills' worth: a repeated key would be 1 in 2^32 per pair, far below a flake.
  const int n = 3 * (int)(sizeof(pool.keys) / 4) + 5;
  for (int i = 0; i < n; i++) {
    uint8_t k[4];
    ASSERT_EQ(sr_ws_mask_next(&pool, k), 0);
    uint32_t v;
    memcpy(&v, k, 4);
    seen.insert(v);
  }
  EXPECT_GE(seen.size(), (size_t)n - 1);
}
