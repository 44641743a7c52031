/* sr_msgpack_decode on one message body (without its VarInt prefix). When it decodes, the
 * message must re-encode as MessagePack (a fixed point after one trip). The JSON leg may
 * fail only with EENCODING/EDEPTH (some MessagePack values have no JSON form: invalid UTF-8,
 * composite map keys, out-of-range timestamps); when it succeeds it must be stable too, and
 * its MessagePack form must exist. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sr_decoder d;
  sr_decoder_init(&d);
  sr_hub_message m;
  int rc = sr_msgpack_decode(&d, data, size, &m);
  if (rc) {
    fuzz_decode_error(rc, &d);
    sr_decoder_free(&d);
    return 0;
  }
  if (m.type < 1 || m.type > 9) {
    FUZZ_CHECK(m.type >= 0, "negative type %d", m.type);
    sr_decoder_free(&d);
    return 0;
  }

  sr_buf b = SR_BUF_INIT, j = SR_BUF_INIT, b3 = SR_BUF_INIT;
  rc = sr_msgpack_encode(&b, &m);
  FUZZ_CHECK(rc == 0, "a decoded MessagePack message does not re-encode (%d)", rc);
  fuzz_msgpack_stable(&m, &b, "msgpack->msgpack");

  rc = sr_json_encode(&j, &m);
  if (rc) {
    FUZZ_CHECK(fuzz_transcode_error_ok(rc), "msgpack->json encode: unexpected error %d", rc);
    FUZZ_CHECK(j.len == 0, "a failed encode left %zu bytes", j.len);
  } else {
    fuzz_json_stable(&m, &j, "msgpack->json");
    sr_decoder d2;
    sr_decoder_init(&d2);
    sr_hub_message m2;
    rc = sr_json_decode(&d2, j.data, j.len - 1, &m2);
    FUZZ_CHECK(rc == 0, "json decode (%d: %s)", rc, d2.error);
    rc = sr_msgpack_encode(&b3, &m2);
    FUZZ_CHECK(rc == 0, "msgpack->json->msgpack encode failed (%d)", rc);
    fuzz_msgpack_stable(&m, &b3, "msgpack->json->msgpack");
    sr_decoder_free(&d2);
  }

  sr_buf_free(&b);
  sr_buf_free(&j);
  sr_buf_free(&b3);
  sr_decoder_free(&d);
  return 0;
}
