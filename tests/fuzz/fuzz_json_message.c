/* sr_json_decode on one record (without its 0x1E). When it decodes, the message must
 * re-encode as JSON and as MessagePack, and each encoding must decode back to the same
 * message and re-encode to the same bytes (a fixed point). JSON payloads always have a
 * MessagePack form, so the MessagePack leg must succeed, and so must the way back. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sr_decoder d;
  sr_decoder_init(&d);
  sr_hub_message m;
  int rc = sr_json_decode(&d, data, size, &m);
  if (rc) {
    fuzz_decode_error(rc, &d);
    sr_decoder_free(&d);
    return 0;
  }
  if (m.type < 1 || m.type > 9) { /* unknown type: decoded for the caller to ignore */
    FUZZ_CHECK(m.type >= 0, "negative type %d", m.type);
    sr_decoder_free(&d);
    return 0;
  }

  sr_buf j = SR_BUF_INIT, b = SR_BUF_INIT, j3 = SR_BUF_INIT;
  rc = sr_json_encode(&j, &m);
  FUZZ_CHECK(rc == 0, "a decoded JSON message does not re-encode as JSON (%d)", rc);
  fuzz_json_stable(&m, &j, "json->json");

  rc = sr_msgpack_encode(&b, &m);
  FUZZ_CHECK(rc == 0, "a decoded JSON message does not encode as MessagePack (%d)", rc);
  fuzz_msgpack_stable(&m, &b, "json->msgpack");

  /* And back: the MessagePack form, decoded, must JSON-encode (payloads transcoded back). */
  const uint8_t *body;
  size_t n;
  fuzz_mp_body(&b, &body, &n);
  sr_decoder d2;
  sr_decoder_init(&d2);
  sr_hub_message m2;
  rc = sr_msgpack_decode(&d2, body, n, &m2);
  FUZZ_CHECK(rc == 0, "msgpack decode (%d: %s)", rc, d2.error);
  rc = sr_json_encode(&j3, &m2);
  FUZZ_CHECK(rc == 0, "json->msgpack->json encode failed (%d)", rc);
  fuzz_json_stable(&m, &j3, "json->msgpack->json");

  sr_decoder_free(&d2);
  sr_buf_free(&j);
  sr_buf_free(&b);
  sr_buf_free(&j3);
  sr_decoder_free(&d);
  return 0;
}
