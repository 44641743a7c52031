/* JSON <-> MessagePack transcoding of hub values.
 *  1. The input as JSON: sr_json_to_msgpack succeeds exactly when the validator
 *     (sr_json_value + nothing after) accepts; its output is one valid MessagePack value
 *     that converts back to JSON, and that JSON is a fixed point of JSON->MP->JSON.
 *  2. The input as MessagePack: sr_msgpack_to_json either fails with EENCODING/EDEPTH or
 *     writes JSON that sr_json_value accepts whole and that converts to MessagePack. */
#include "fuzz_common.h"
#include "protocol/mp_reader.h"
#include "protocol/transcode.h"

static int json_valid(const uint8_t *p, size_t n) {
  sr_json_reader r;
  sr_json_reader_init(&r, p, n);
  int rc = sr_json_value(&r, NULL);
  if (rc) return rc;
  sr_json_ws(&r);
  return r.p == r.end ? 0 : SIGNALR_EENCODING;
}

static int mp_valid(const uint8_t *p, size_t n) {
  sr_mp_reader r;
  sr_mp_reader_init(&r, p, n);
  int rc = sr_mp_skip(&r);
  if (rc) return rc;
  return r.p == r.end ? 0 : SIGNALR_EENCODING;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sr_buf mp = SR_BUF_INIT, j1 = SR_BUF_INIT, mp2 = SR_BUF_INIT, j2 = SR_BUF_INIT;

  /* 1. JSON in. */
  int rc = sr_json_to_msgpack(data, size, &mp);
  int valid = json_valid(data, size);
  FUZZ_CHECK(rc == 0 || rc == SIGNALR_EENCODING || rc == SIGNALR_EDEPTH, "json->mp: %d", rc);
  FUZZ_CHECK(rc == valid, "json->mp says %d, the validator %d", rc, valid);
  if (rc == 0) {
    FUZZ_CHECK(mp_valid(mp.data, mp.len) == 0, "json->mp wrote invalid MessagePack");
    rc = sr_msgpack_to_json(mp.data, mp.len, &j1);
    FUZZ_CHECK(rc == 0, "json->mp->json failed (%d)", rc);
    FUZZ_CHECK(json_valid(j1.data, j1.len) == 0, "json->mp->json wrote invalid JSON: %.*s",
               (int)j1.len, (const char *)j1.data);
    rc = sr_json_to_msgpack(j1.data, j1.len, &mp2);
    FUZZ_CHECK(rc == 0, "second json->mp failed (%d)", rc);
    rc = sr_msgpack_to_json(mp2.data, mp2.len, &j2);
    FUZZ_CHECK(rc == 0, "second mp->json failed (%d)", rc);
    FUZZ_CHECK(fuzz_buf_eq(&j1, &j2), "JSON not a fixed point:\n  %.*s\n  %.*s", (int)j1.len,
               (const char *)j1.data, (int)j2.len, (const char *)j2.data);
  } else {
    FUZZ_CHECK(mp.len == 0, "a failed json->mp left %zu bytes", mp.len);
  }

  /* 2. MessagePack in. */
  j1.len = mp.len = 0;
  rc = sr_msgpack_to_json(data, size, &j1);
  FUZZ_CHECK(rc == 0 || fuzz_transcode_error_ok(rc), "mp->json: %d", rc);
  if (rc == 0) {
    FUZZ_CHECK(mp_valid(data, size) == 0, "mp->json accepted invalid MessagePack");
    FUZZ_CHECK(json_valid(j1.data, j1.len) == 0, "mp->json wrote invalid JSON: %.*s", (int)j1.len,
               (const char *)j1.data);
    rc = sr_json_to_msgpack(j1.data, j1.len, &mp);
    FUZZ_CHECK(rc == 0, "mp->json->mp failed (%d)", rc);
  } else {
    FUZZ_CHECK(j1.len == 0, "a failed mp->json left %zu bytes", j1.len);
  }

  sr_buf_free(&mp);
  sr_buf_free(&j1);
  sr_buf_free(&mp2);
  sr_buf_free(&j2);
  return 0;
}
