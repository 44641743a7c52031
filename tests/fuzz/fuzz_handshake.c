/* sr_handshake_parse_response. Input: [max-size byte] [data...]; max = byte * 4.
 * Checks the result against the documented contract: 1 only with *consumed just past the
 * first 0x1E; 0 only without a 0x1E and within max; ETOOBIG only without a 0x1E and past
 * max; EPROTO with a reason and a cleared response. The parse must not depend on what
 * follows the record. */
#include "fuzz_common.h"
#include "protocol/handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t max = (size_t)data[0] * 4;
  uint8_t *buf = fuzz_dup(data + 1, size - 1);
  size_t len = size - 1;
  const uint8_t *rs = memchr(buf, 0x1e, len);

  sr_handshake_response r;
  size_t consumed = 12345;
  char err[128];
  err[0] = 0;
  int rc = sr_handshake_parse_response(buf, len, max, &consumed, &r, err, sizeof err);
  switch (rc) {
    case 1:
      FUZZ_CHECK(rs, "success without a record separator");
      FUZZ_CHECK(consumed == (size_t)(rs - buf) + 1, "consumed %zu, separator at %zu", consumed,
                 (size_t)(rs - buf));
      FUZZ_CHECK(!r.has_error || r.error, "has_error without text");
      FUZZ_CHECK(r.has_error || !r.error, "error text without has_error");
      break;
    case 0:
      FUZZ_CHECK(!rs && len <= max, "0 (need more) with separator %d, len %zu, max %zu", rs != NULL,
                 len, max);
      FUZZ_CHECK(!r.has_error && !r.error, "incomplete response with an error set");
      break;
    case SIGNALR_ETOOBIG:
      FUZZ_CHECK(!rs && len > max, "ETOOBIG with separator %d, len %zu, max %zu", rs != NULL, len,
                 max);
      break;
    case SIGNALR_EPROTO:
      FUZZ_CHECK(rs, "EPROTO without a complete record");
      FUZZ_CHECK(err[0], "EPROTO without a reason");
      FUZZ_CHECK(!r.has_error && !r.error, "EPROTO left an error set");
      break;
    default:
      FUZZ_CHECK(0, "unexpected result %d", rc);
  }

  if (rs) {
    /* Only the record counts: the same record alone gives the same answer... */
    size_t rec = (size_t)(rs - buf) + 1;
    uint8_t *only = fuzz_dup(buf, rec);
    sr_handshake_response r2;
    size_t consumed2 = 0;
    int rc2 = sr_handshake_parse_response(only, rec, max, &consumed2, &r2, NULL, 0);
    FUZZ_CHECK(rc2 == rc, "record alone: %d, with what follows: %d", rc2, rc);
    if (rc == 1) {
      FUZZ_CHECK(consumed2 == consumed && r2.has_error == r.has_error, "different response");
      if (r.has_error) FUZZ_CHECK(!strcmp(r.error, r2.error), "different error text");
    }
    sr_handshake_response_clear(&r2);
    /* ...and without its separator it is incomplete (or too big). */
    rc2 = sr_handshake_parse_response(only, rec - 1, max, &consumed2, &r2, err, sizeof err);
    FUZZ_CHECK(rc2 == (rec - 1 > max ? SIGNALR_ETOOBIG : 0), "unterminated record: %d", rc2);
    sr_handshake_response_clear(&r2);
    free(only);
  }
  sr_handshake_response_clear(&r);
  FUZZ_CHECK(!r.error && !r.has_error, "clear left state");
  free(buf);
  return 0;
}
