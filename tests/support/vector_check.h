// Shared helpers for tests that read tests/vectors: decode wire bytes with libsignalr's
// codecs and compare the result with a vector's protocol-neutral "message".
#pragma once

#include <cjson/cJSON.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include "protocol/framing.h"
#include "protocol/hub_message.h"
#include "protocol/json_protocol.h"
#include "protocol/msgpack_protocol.h"
#include "protocol/transcode.h"
#include "signalr/signalr.h"
}

namespace srtest {

inline std::string read_file(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::vector<uint8_t> from_hex(const std::string &hex) {
  std::vector<uint8_t> out;
  std::istringstream in(hex);
  std::string byte;
  while (in >> byte) out.push_back(static_cast<uint8_t>(std::stoul(byte, nullptr, 16)));
  return out;
}

inline std::string to_hex(const uint8_t *p, size_t n) {
  static const char *h = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    if (i) s += ' ';
    s += h[p[i] >> 4];
    s += h[p[i] & 15];
  }
  return s;
}

inline std::string str(const sr_str &s) { return s.ptr ? std::string(s.ptr, s.len) : std::string(); }

// A payload as JSON text (transcoded when it is MessagePack).
inline std::string payload_json(const sr_payload &p) {
  if (!p.data) return "";
  if (p.encoding == SIGNALR_ENCODING_JSON) return std::string((const char *)p.data, p.len);
  sr_buf b = SR_BUF_INIT;
  int rc = sr_msgpack_to_json(p.data, p.len, &b);
  std::string s = rc ? "<transcode error " + std::to_string(rc) + ">" : std::string((char *)b.data, b.len);
  sr_buf_free(&b);
  return s;
}

inline bool json_equal(const std::string &a, const cJSON *b) {
  cJSON *pa = cJSON_ParseWithLength(a.data(), a.size());
  bool eq = pa && cJSON_Compare(pa, b, 1);
  cJSON_Delete(pa);
  return eq;
}

inline bool has_tagged(const cJSON *v) {
  if (!v) return false;
  if (cJSON_IsObject(v) && (cJSON_GetObjectItemCaseSensitive(v, "$binary") ||
                            cJSON_GetObjectItemCaseSensitive(v, "$timestamp")))
    return true;
  for (const cJSON *c = v->child; c; c = c->next)
    if (has_tagged(c)) return true;
  return false;
}

// Compares a decoded message with the vector's "message". json_view: the expected JSON of the
// payload for msgpack-only vectors (nullptr otherwise). Returns "" when equal, else why not.
inline std::string compare(const sr_hub_message &m, const cJSON *want, const char *json_view) {
  auto num = [&](const char *k) { return cJSON_GetObjectItemCaseSensitive(want, k); };
  std::ostringstream why;
  const cJSON *type = num("type");
  if (m.type != type->valueint) {
    why << "type " << m.type << " != " << type->valueint;
    return why.str();
  }
  auto check_str = [&](const char *k, const sr_str &got) {
    const cJSON *w = num(k);
    bool want_present = w && cJSON_IsString(w);
    if (want_present != (got.ptr != nullptr)) why << k << " presence differs; ";
    else if (want_present && str(got) != w->valuestring) why << k << " '" << str(got) << "' != '" << w->valuestring << "'; ";
  };
  check_str("invocationId", m.invocation_id);
  check_str("target", m.target);
  check_str("error", m.error);
  const cJSON *hdrs = num("headers");
  size_t nh = hdrs ? (size_t)cJSON_GetArraySize(hdrs) : 0;
  if (nh != m.header_count) why << "header count " << m.header_count << " != " << nh << "; ";
  else
    for (size_t i = 0; i < nh; i++) {
      const cJSON *h = cJSON_GetObjectItemCaseSensitive(hdrs, str(m.headers[i].key).c_str());
      if (!h || str(m.headers[i].value) != h->valuestring) why << "header " << str(m.headers[i].key) << " differs; ";
    }
  const cJSON *ids = num("streamIds");
  size_t ns = ids ? (size_t)cJSON_GetArraySize(ids) : 0;
  if (ns != m.stream_id_count) why << "streamIds count differs; ";
  else
    for (size_t i = 0; i < ns; i++)
      if (str(m.stream_ids[i]) != cJSON_GetArrayItem(ids, (int)i)->valuestring) why << "streamId differs; ";
  const cJSON *ar = num("allowReconnect");
  if ((ar && cJSON_IsTrue(ar)) != (m.allow_reconnect != 0)) why << "allowReconnect differs; ";
  const cJSON *seq = num("sequenceId");
  if (seq && (double)m.sequence_id != seq->valuedouble) why << "sequenceId " << m.sequence_id << " differs; ";
  auto check_payload = [&](const char *k, const sr_payload &p, bool applies) {
    if (!applies) return;
    const cJSON *w = num(k);
    if (!w) {
      if (p.data) why << k << " present but not expected; ";
      return;
    }
    if (!p.data) { why << k << " missing; "; return; }
    std::string got = payload_json(p);
    if (json_view) {
      if (got != json_view) why << k << " view " << got << " != " << json_view << "; ";
    } else if (!json_equal(got, w)) {
      why << k << " " << got << " differs; ";
    }
  };
  check_payload("arguments", m.arguments, m.type == 1 || m.type == 4);
  check_payload("item", m.item, m.type == 2);
  if (m.type == 3) {
    int kind = num("error") ? SR_COMPLETION_ERROR : num("result") ? SR_COMPLETION_RESULT : SR_COMPLETION_VOID;
    if (kind != m.completion_kind) why << "completion kind " << m.completion_kind << " != " << kind << "; ";
    check_payload("result", m.result, true);
  }
  return why.str();
}

// Decodes a whole wire buffer (one framed message) with the right codec.
inline int decode_wire(sr_decoder *d, bool msgpack, const std::vector<uint8_t> &wire, sr_hub_message *m) {
  if (msgpack) {
    uint32_t len;
    size_t used;
    if (sr_varint_decode(wire.data(), wire.size(), &len, &used) != 1 || used + len != wire.size())
      return SIGNALR_EPROTO;
    return sr_msgpack_decode(d, wire.data() + used, len, m);
  }
  if (wire.empty() || wire.back() != 0x1e) return SIGNALR_EPROTO;
  return sr_json_decode(d, wire.data(), wire.size() - 1, m);
}

}  // namespace srtest
