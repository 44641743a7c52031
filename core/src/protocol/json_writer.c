#include "protocol/json_writer.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signalr/signalr.h"
#include "util/c_locale.h"
#include "util/utf8.h"

/* 0: copy as is; 1: needs an escape. Bytes >= 0x80 are validated separately. */
static const uint8_t NEEDS_ESCAPE[128] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

int sr_json_write_string(sr_buf *out, const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s, *end = p + n;
  /* Worst case every byte becomes \u00XX: reserve for the common case, grow if needed. */
  int rc = sr_buf_reserve(out, n + 2);
  if (rc) return rc;
  size_t mark = out->len;
  out->data[out->len++] = '"';
  while (p < end) {
    const uint8_t *run = p;
    while (p < end && *p < 0x80 && !NEEDS_ESCAPE[*p]) p++;
    if (p > run && (rc = sr_buf_append(out, run, (size_t)(p - run)))) goto fail;
    if (p >= end) break;
    uint8_t c = *p;
    if (c >= 0x80) {
      size_t l = sr_utf8_seq_len(p, end);
      if (!l) { rc = SIGNALR_EENCODING; goto fail; }
      if ((rc = sr_buf_append(out, p, l))) goto fail;
      p += l;
      continue;
    }
    char esc[7];
    size_t el = 2;
    esc[0] = '\\';
    switch (c) {
      case '"': esc[1] = '"'; break;
      case '\\': esc[1] = '\\'; break;
      case '\b': esc[1] = 'b'; break;
      case '\f': esc[1] = 'f'; break;
      case '\n': esc[1] = 'n'; break;
      case '\r': esc[1] = 'r'; break;
      case '\t': esc[1] = 't'; break;
      default: {
        static const char hex[] = "0123456789abcdef";
        esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
        esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
        el = 6;
      }
    }
    if ((rc = sr_buf_append(out, esc, el))) goto fail;
    p++;
  }
  if ((rc = sr_buf_putc(out, '"'))) goto fail;
  return 0;
fail:
  out->len = mark;
  return rc;
}

int sr_json_write_uint64(sr_buf *out, uint64_t v) {
  char tmp[24];
  size_t i = sizeof tmp;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return sr_buf_append(out, tmp + i, sizeof tmp - i);
}

int sr_json_write_int64(sr_buf *out, int64_t v) {
  if (v < 0) {
    int rc = sr_buf_putc(out, '-');
    if (rc) return rc;
    return sr_json_write_uint64(out, (uint64_t)0 - (uint64_t)v);
  }
  return sr_json_write_uint64(out, (uint64_t)v);
}


/* Formats like ECMAScript's Number.prototype.toString (what JSON.stringify writes): the
 * shortest digits that read back as the same double, plain notation for exponents -7..20,
 * otherwise "1.5e-7" / "1e+21". Matching JavaScript keeps JSON and MessagePack connections
 * byte-compatible with the official clients when values are transcoded. */
int sr_json_write_double(sr_buf *out, double v) {
  if (!isfinite(v)) return sr_buf_puts(out, "null");
  if (v == 0) return sr_buf_putc(out, '0'); /* also -0, as JSON.stringify does */
  char tmp[40];
  /* printf honours LC_NUMERIC; a host application may have set a locale with a decimal
   * comma, so doubles are formatted under the C locale, for this thread only */
  locale_t loc = sr_c_locale(), old = loc ? uselocale(loc) : (locale_t)0;
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
    if (strtod(tmp, NULL) == v) break;
  }
  if (loc) uselocale(old);
  /* tmp: [-]d.ddddde[+-]XX -> digits and decimal exponent */
  const char *p = tmp;
  int neg = *p == '-';
  if (neg) p++;
  char digits[24];
  int k = 0;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9') digits[k++] = *p;
  while (k > 1 && digits[k - 1] == '0') k--;
  int n = atoi(p + 1) + 1; /* value = 0.digits * 10^n */
  char res[48];
  int r = 0;
  if (neg) res[r++] = '-';
  if (k <= n && n <= 21) {
    memcpy(res + r, digits, (size_t)k); r += k;
    for (int i = k; i < n; i++) res[r++] = '0';
  } else if (0 < n && n <= 21) {
    memcpy(res + r, digits, (size_t)n); r += n;
    res[r++] = '.';
    memcpy(res + r, digits + n, (size_t)(k - n)); r += k - n;
  } else if (-6 < n && n <= 0) {
    res[r++] = '0'; res[r++] = '.';
    for (int i = 0; i < -n; i++) res[r++] = '0';
    memcpy(res + r, digits, (size_t)k); r += k;
  } else {
    res[r++] = digits[0];
    if (k > 1) {
      res[r++] = '.';
      memcpy(res + r, digits + 1, (size_t)(k - 1)); r += k - 1;
    }
    r += snprintf(res + r, sizeof res - (size_t)r, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
  }
  return sr_buf_append(out, res, (size_t)r);
}
