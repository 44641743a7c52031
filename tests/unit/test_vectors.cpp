// Checks the codecs against the shared wire vectors in tests/vectors (the same files the
// Microsoft oracle and the binding tests read).
#include <gtest/gtest.h>

#include "../support/vector_check.h"

extern "C" {
#include "protocol/handshake.h"
#include "protocol/negotiate.h"
}

using namespace srtest;

namespace {

struct Vectors {
  cJSON *root = nullptr;
  explicit Vectors(const char *file) {
    std::string text = read_file(std::string(SIGNALR_VECTORS_DIR) + "/" + file);
    root = cJSON_Parse(text.c_str());
  }
  ~Vectors() { cJSON_Delete(root); }
  cJSON *get(const char *k) const { return cJSON_GetObjectItemCaseSensitive(root, k); }
};

const char *sget(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : nullptr;
}

std::vector<uint8_t> bytes_of(const std::string &s) { return std::vector<uint8_t>(s.begin(), s.end()); }

std::string encode(const sr_hub_message &m, bool msgpack, int *rc) {
  sr_buf b = SR_BUF_INIT;
  *rc = msgpack ? sr_msgpack_encode(&b, &m) : sr_json_encode(&b, &m);
  std::string s(b.data ? (char *)b.data : "", b.len);
  sr_buf_free(&b);
  return s;
}

}  // namespace

TEST(HubVectors, DecodeAndReencodeEveryVector) {
  Vectors v("hub_messages.json");
  ASSERT_NE(v.root, nullptr);
  cJSON *list = v.get("vectors");
  ASSERT_GT(cJSON_GetArraySize(list), 50);
  sr_decoder d;
  sr_decoder_init(&d);
  cJSON *vec;
  cJSON_ArrayForEach(vec, list) {
    std::string name = sget(vec, "name");
    SCOPED_TRACE(name);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(vec, "message");
    const char *json = sget(vec, "json");
    const char *mp_hex = sget(vec, "msgpack");
    const char *view = sget(vec, "json_view");
    std::vector<uint8_t> json_bytes = json ? bytes_of(json) : std::vector<uint8_t>();
    std::vector<uint8_t> mp_bytes = mp_hex ? from_hex(mp_hex) : std::vector<uint8_t>();
    for (int wire = 0; wire < 2; wire++) {
      bool is_mp = wire == 1;
      const std::vector<uint8_t> &in = is_mp ? mp_bytes : json_bytes;
      if ((is_mp && !mp_hex) || (!is_mp && !json)) continue;
      sr_hub_message m;
      int rc = decode_wire(&d, is_mp, in, &m);
      ASSERT_EQ(rc, 0) << (is_mp ? "msgpack" : "json") << " decode: " << d.error;
      EXPECT_EQ(compare(m, msg, is_mp ? view : nullptr), "") << (is_mp ? "msgpack" : "json");
      // Re-encode what was decoded, in both protocols: exercises the writers and the
      // transcoders in both directions against the exact expected bytes.
      int erc;
      if (json) {
        std::string out = encode(m, false, &erc);
        ASSERT_EQ(erc, 0);
        EXPECT_EQ(out, std::string(json)) << "json encode from " << (is_mp ? "msgpack" : "json");
      }
      if (mp_hex) {
        std::string out = encode(m, true, &erc);
        ASSERT_EQ(erc, 0);
        EXPECT_EQ(to_hex((const uint8_t *)out.data(), out.size()), std::string(mp_hex))
            << "msgpack encode from " << (is_mp ? "msgpack" : "json");
      }
    }
    const cJSON *also = cJSON_GetObjectItemCaseSensitive(vec, "decode_also");
    const cJSON *alt;
    cJSON_ArrayForEach(alt, also) {
      const char *aj = sget(alt, "json"), *am = sget(alt, "msgpack");
      sr_hub_message m;
      std::vector<uint8_t> wire = aj ? bytes_of(aj) : from_hex(am);  // m borrows from it
      int rc = decode_wire(&d, am != nullptr, wire, &m);
      ASSERT_EQ(rc, 0) << "decode_also " << sget(alt, "why") << ": " << d.error;
      EXPECT_EQ(compare(m, msg, am ? view : nullptr), "") << "decode_also " << sget(alt, "why");
    }
  }
  sr_decoder_free(&d);
}

TEST(HandshakeVectors, Requests) {
  Vectors v("handshake.json");
  ASSERT_NE(v.root, nullptr);
  cJSON *r;
  cJSON_ArrayForEach(r, v.get("requests")) {
    sr_buf b = SR_BUF_INIT;
    ASSERT_EQ(sr_handshake_write_request(&b, sget(r, "protocol"),
                                         cJSON_GetObjectItem(r, "version")->valueint), 0);
    EXPECT_EQ(std::string((char *)b.data, b.len), std::string(sget(r, "bytes")));
    sr_buf_free(&b);
  }
}

TEST(HandshakeVectors, Responses) {
  Vectors v("handshake.json");
  cJSON *r;
  cJSON_ArrayForEach(r, v.get("responses")) {
    SCOPED_TRACE(sget(r, "name"));
    bool hex = sget(r, "bytes_hex") != nullptr;
    std::vector<uint8_t> in = hex ? from_hex(sget(r, "bytes_hex")) : bytes_of(sget(r, "bytes"));
    std::vector<uint8_t> rest = hex ? from_hex(sget(r, "rest_hex")) : bytes_of(sget(r, "rest"));
    size_t used = 0;
    sr_handshake_response resp;
    char err[256];
    ASSERT_EQ(sr_handshake_parse_response(in.data(), in.size(), 1 << 20, &used, &resp, err, sizeof err), 1) << err;
    const char *want_error = sget(r, "error");
    EXPECT_EQ(resp.has_error != 0, want_error != nullptr);
    if (want_error && resp.has_error) EXPECT_STREQ(resp.error, want_error);
    EXPECT_EQ(std::vector<uint8_t>(in.begin() + used, in.end()), rest);
    sr_handshake_response_clear(&resp);
  }
  cJSON_ArrayForEach(r, v.get("bad_responses")) {
    SCOPED_TRACE(sget(r, "name"));
    std::vector<uint8_t> in = sget(r, "bytes_hex") ? from_hex(sget(r, "bytes_hex")) : bytes_of(sget(r, "bytes"));
    size_t used = 0;
    sr_handshake_response resp;
    char err[256] = "";
    EXPECT_EQ(sr_handshake_parse_response(in.data(), in.size(), 1 << 20, &used, &resp, err, sizeof err),
              SIGNALR_EPROTO);
    EXPECT_STRNE(err, "");
  }
  cJSON_ArrayForEach(r, v.get("incomplete")) {
    std::vector<uint8_t> in = sget(r, "bytes_hex") ? from_hex(sget(r, "bytes_hex")) : bytes_of(sget(r, "bytes"));
    size_t used = 0;
    sr_handshake_response resp;
    EXPECT_EQ(sr_handshake_parse_response(in.data(), in.size(), 1 << 20, &used, &resp, nullptr, 0), 0);
    // ...but an endless response without a separator is refused, not buffered forever.
    EXPECT_EQ(sr_handshake_parse_response(in.data(), in.size(), in.size() - 1, &used, &resp, nullptr, 0),
              in.size() > 1 ? SIGNALR_ETOOBIG : 0);
  }
}

TEST(NegotiateVectors, Urls) {
  Vectors v("negotiate.json");
  ASSERT_NE(v.root, nullptr);
  cJSON *u;
  cJSON_ArrayForEach(u, v.get("urls")) {
    sr_buf b = SR_BUF_INIT;
    ASSERT_EQ(sr_negotiate_url(&b, sget(u, "base"), 1, cJSON_IsTrue(cJSON_GetObjectItem(u, "stateful"))), 0);
    EXPECT_STREQ((char *)b.data, sget(u, "negotiate")) << sget(u, "base");
    sr_buf_free(&b);
  }
  cJSON_ArrayForEach(u, v.get("transport_urls")) {
    sr_buf b = SR_BUF_INIT;
    int t = sr_transport_from_name(sget(u, "transport"));
    ASSERT_NE(t, 0);
    ASSERT_EQ(sr_transport_url(&b, sget(u, "base"), sget(u, "token"), t), 0);
    EXPECT_STREQ((char *)b.data, sget(u, "url")) << sget(u, "base") << " " << sget(u, "token");
    sr_buf_free(&b);
  }
}

TEST(NegotiateVectors, Responses) {
  Vectors v("negotiate.json");
  cJSON *r;
  cJSON_ArrayForEach(r, v.get("responses")) {
    SCOPED_TRACE(sget(r, "name"));
    const char *body = sget(r, "body");
    const cJSON *exp = cJSON_GetObjectItem(r, "expect");
    std::string kind = sget(exp, "kind");
    sr_negotiate_response resp;
    char err[256] = "";
    int rc = sr_negotiate_parse(body, strlen(body), &resp, err, sizeof err);
    if (kind == "invalid") {
      EXPECT_EQ(rc, SIGNALR_ENEGOTIATE);
      EXPECT_STRNE(err, "");
    } else if (kind == "legacy") {
      EXPECT_EQ(rc, SIGNALR_ELEGACY);
    } else if (kind == "server_error") {
      ASSERT_EQ(rc, 0) << err;
      EXPECT_EQ(resp.kind, SR_NEGOTIATE_SERVER_ERROR);
      EXPECT_STREQ(resp.error, sget(exp, "error"));
    } else if (kind == "redirect") {
      ASSERT_EQ(rc, 0) << err;
      EXPECT_EQ(resp.kind, SR_NEGOTIATE_REDIRECT);
      EXPECT_STREQ(resp.url, sget(exp, "url"));
      const char *tok = sget(exp, "accessToken");
      if (tok) EXPECT_STREQ(resp.access_token, tok);
      else EXPECT_EQ(resp.access_token, nullptr);
    } else {
      ASSERT_EQ(kind, "ok");
      ASSERT_EQ(rc, 0) << err;
      EXPECT_EQ(resp.kind, SR_NEGOTIATE_OK);
      EXPECT_EQ(resp.negotiate_version, cJSON_GetObjectItem(exp, "negotiateVersion")->valueint);
      EXPECT_STREQ(resp.connection_id, sget(exp, "connectionId"));
      EXPECT_STREQ(resp.connection_token, sget(exp, "connectionToken"));
      EXPECT_EQ(resp.use_stateful_reconnect != 0, cJSON_IsTrue(cJSON_GetObjectItem(exp, "useStatefulReconnect")));
      const cJSON *ts = cJSON_GetObjectItem(exp, "transports");
      ASSERT_EQ(resp.transport_count, (size_t)cJSON_GetArraySize(ts));
      for (size_t i = 0; i < resp.transport_count; i++) {
        const cJSON *t = cJSON_GetArrayItem(ts, (int)i);
        EXPECT_STREQ(resp.transports[i].name, sget(t, "transport"));
        int formats = 0;
        const cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItem(t, "formats")) {
          if (!strcmp(f->valuestring, "Text")) formats |= SR_FORMAT_TEXT;
          if (!strcmp(f->valuestring, "Binary")) formats |= SR_FORMAT_BINARY;
        }
        EXPECT_EQ(resp.transports[i].formats, formats);
      }
    }
    sr_negotiate_response_clear(&resp);
  }
}
