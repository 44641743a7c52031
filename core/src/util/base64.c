#include "util/base64.h"

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sr_base64_encode(sr_buf *out, const uint8_t *p, size_t n) {
  size_t olen = (n + 2) / 3 * 4;
  int rc = sr_buf_reserve(out, olen);
  if (rc) return rc;
  uint8_t *o = out->data + out->len;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = (uint8_t)B64[v >> 18];
    *o++ = (uint8_t)B64[(v >> 12) & 63];
    *o++ = (uint8_t)B64[(v >> 6) & 63];
    *o++ = (uint8_t)B64[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
    *o++ = (uint8_t)B64[v >> 18];
    *o++ = (uint8_t)B64[(v >> 12) & 63];
    *o++ = i + 1 < n ? (uint8_t)B64[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  out->len += olen;
  return 0;
}
