#include "protocol/transcode.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>

#include "protocol/json_writer.h"
#include "signalr/signalr.h"
#include "util/base64.h"
#include "util/c_locale.h"

/* msgpack-c calls this for every header and scalar, mostly with 1-9 bytes: constant-size
 * copies inline, where a memcpy call would cost more than the copy. */
static int buf_write(void *data, const char *p, size_t n) {
  sr_buf *b = (sr_buf *)data;
  if (sr_buf_reserve(b, n)) return -1;
  uint8_t *d = b->data + b->len;
  switch (n) {
    case 1: d[0] = (uint8_t)p[0]; break;
    case 2: memcpy(d, p, 2); break;
    case 3: memcpy(d, p, 3); break;
    case 5: memcpy(d, p, 5); break;
    case 9: memcpy(d, p, 9); break;
    default: if (n) memcpy(d, p, n); break;
  }
  b->len += n;
  return 0;
}

void sr_packer_init(msgpack_packer *pk, sr_buf *out) { msgpack_packer_init(pk, out, buf_write); }

static sr_buf *pk_buf(msgpack_packer *pk) { return (sr_buf *)pk->data; }

#define PK(call) \
  do { if ((call) != 0) return SIGNALR_ENOMEM; } while (0)

/* Largest integer a double holds exactly; JavaScript encoders treat integral doubles up to
 * it as integers, and so do we, so both clients put the same bytes on the wire. */
#define MAX_SAFE_INTEGER 9007199254740991.0

static double parse_double(const uint8_t *s, size_t n) {
  char tmp[64], *heap = NULL, *txt = tmp;
  if (n >= sizeof tmp) {
    heap = malloc(n + 1);
    if (!heap) return NAN;
    txt = heap;
  }
  memcpy(txt, s, n);
  txt[n] = 0;
  locale_t loc = sr_c_locale();
  double d = loc ? strtod_l(txt, NULL, loc) : strtod(txt, NULL);
  free(heap);
  return d;
}

static int pack_number(msgpack_packer *pk, const uint8_t *s, size_t n, int integer) {
  if (integer) {
    int64_t v;
    if (sr_json_parse_int64(s, n, &v) == 0) { PK(msgpack_pack_int64(pk, v)); return 0; }
    if (s[0] != '-') { /* between INT64_MAX and UINT64_MAX */
      uint64_t u = 0;
      size_t i = 0;
      for (; i < n; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (u > (UINT64_MAX - d) / 10) break;
        u = u * 10 + d;
      }
      if (i == n) { PK(msgpack_pack_uint64(pk, u)); return 0; }
    }
  }
  double d = parse_double(s, n);
  if (isnan(d)) return SIGNALR_ENOMEM;
  if (fabs(d) <= MAX_SAFE_INTEGER && d == floor(d)) {
    PK(msgpack_pack_int64(pk, (int64_t)d));
    return 0;
  }
  PK(msgpack_pack_double(pk, d));
  return 0;
}

/* Packs a string token; unescapes into the tail of the output buffer first when needed. */
static int pack_json_string(sr_json_reader *r, msgpack_packer *pk) {
  const uint8_t *raw;
  size_t n;
  int esc, rc;
  if ((rc = sr_json_string(r, &raw, &n, &esc))) return rc;
  if (!esc) {
    PK(msgpack_pack_str(pk, n));
    PK(msgpack_pack_str_body(pk, raw, n));
    return 0;
  }
  sr_buf *out = pk_buf(pk);
  /* Decode into spare room past len, then pack header + body from there. */
  if ((rc = sr_buf_reserve(out, n * 2 + 5))) return rc;
  uint8_t *tmp = out->data + out->len + n + 5;
  size_t dn = sr_json_unescape(raw, n, tmp);
  size_t hdr = dn < 32 ? 1 : dn < 256 ? 2 : dn < 65536 ? 3 : 5;
  memmove(out->data + out->len + hdr, tmp, dn);
  uint8_t *h = out->data + out->len;
  if (hdr == 1) h[0] = (uint8_t)(0xa0 | dn);
  else if (hdr == 2) { h[0] = 0xd9; h[1] = (uint8_t)dn; }
  else if (hdr == 3) { h[0] = 0xda; h[1] = (uint8_t)(dn >> 8); h[2] = (uint8_t)dn; }
  else { h[0] = 0xdb; h[1] = (uint8_t)(dn >> 24); h[2] = (uint8_t)(dn >> 16); h[3] = (uint8_t)(dn >> 8); h[4] = (uint8_t)dn; }
  out->len += hdr + dn;
  return 0;
}

/* Containers are written with the smallest header for their count, which is only known at
 * the end: write a 1-byte header, then widen it in place if the count outgrew it. */
static int finish_container(sr_buf *out, size_t hdr_pos, uint32_t count, int is_map) {
  size_t hdr = count < 16 ? 1 : count < 65536 ? 3 : 5;
  if (hdr > 1) {
    int rc = sr_buf_reserve(out, hdr - 1);
    if (rc) return rc;
    uint8_t *p = out->data + hdr_pos;
    memmove(p + hdr, p + 1, out->len - hdr_pos - 1);
    out->len += hdr - 1;
  }
  uint8_t *p = out->data + hdr_pos;
  if (hdr == 1) p[0] = (uint8_t)((is_map ? 0x80 : 0x90) | count);
  else if (hdr == 3) { p[0] = is_map ? 0xde : 0xdc; p[1] = (uint8_t)(count >> 8); p[2] = (uint8_t)count; }
  else { p[0] = is_map ? 0xdf : 0xdd; p[1] = (uint8_t)(count >> 24); p[2] = (uint8_t)(count >> 16); p[3] = (uint8_t)(count >> 8); p[4] = (uint8_t)count; }
  return 0;
}

int sr_transcode_json_value(sr_json_reader *r, msgpack_packer *pk, int depth) {
  sr_json_ws(r);
  if (r->p >= r->end) return SIGNALR_EENCODING;
  uint8_t c = *r->p;
  int rc;
  if (c == '"') return pack_json_string(r, pk);
  if (c == '-' || (c >= '0' && c <= '9')) {
    const uint8_t *s; size_t n; int integer;
    if ((rc = sr_json_number(r, &s, &n, &integer))) return rc;
    return pack_number(pk, s, n, integer);
  }
  if (c == '[' || c == '{') {
    int is_map = c == '{';
    if (depth >= SR_MAX_DEPTH) return SIGNALR_EDEPTH;
    r->p++;
    sr_buf *out = pk_buf(pk);
    size_t hdr_pos = out->len;
    if ((rc = sr_buf_putc(out, 0))) return rc;
    uint32_t count = 0;
    uint8_t close = is_map ? '}' : ']';
    if (!sr_json_eat(r, close)) {
      do {
        if (is_map) {
          sr_json_ws(r);
          if (r->p >= r->end || *r->p != '"') return SIGNALR_EENCODING;
          if ((rc = pack_json_string(r, pk))) return rc;
          if (!sr_json_eat(r, ':')) return SIGNALR_EENCODING;
        }
        if ((rc = sr_transcode_json_value(r, pk, depth + 1))) return rc;
        if (count == UINT32_MAX) return SIGNALR_EENCODING;
        count++;
      } while (sr_json_eat(r, ','));
      if (!sr_json_eat(r, close)) return SIGNALR_EENCODING;
    }
    return finish_container(out, hdr_pos, count, is_map);
  }
  switch (sr_json_literal(r)) {
    case 0: PK(msgpack_pack_true(pk)); return 0;
    case 1: PK(msgpack_pack_false(pk)); return 0;
    case 2: PK(msgpack_pack_nil(pk)); return 0;
    default: return SIGNALR_EENCODING;
  }
}

/* days since 1970-01-01 -> civil date (proleptic Gregorian), valid for any int64 day. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t yy = (int64_t)yoe + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

/* MessagePack timestamp (extension -1) as an ISO-8601 UTC string, the way .NET writes a
 * UTC DateTime in JSON: fractional seconds only when there are any. */
static int write_timestamp(sr_buf *out, const uint8_t *p, uint32_t len) {
  int64_t sec;
  uint32_t nsec = 0;
  if (len == 4) {
    sec = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
  } else if (len == 8) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    nsec = (uint32_t)(v >> 34);
    sec = (int64_t)(v & 0x3ffffffffULL);
  } else if (len == 12) {
    uint64_t s = 0;
    for (int i = 0; i < 4; i++) nsec = nsec << 8 | p[i];
    for (int i = 4; i < 12; i++) s = s << 8 | p[i];
    sec = (int64_t)s;
  } else {
    return SIGNALR_EENCODING;
  }
  if (nsec > 999999999u) return SIGNALR_EENCODING;
  int64_t days = sec / 86400, rem = sec % 86400;
  if (rem < 0) { rem += 86400; days--; }
  int64_t y;
  unsigned mo, d;
  civil_from_days(days, &y, &mo, &d);
  if (y < 0 || y > 9999) return SIGNALR_EENCODING; /* outside what ISO-8601 basic years and .NET hold */
  char tmp[48];
  int n = snprintf(tmp, sizeof tmp, "\"%04d-%02u-%02uT%02d:%02d:%02d", (int)y, mo, d,
                   (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
  if (nsec) {
    char frac[12];
    snprintf(frac, sizeof frac, ".%09u", nsec);
    size_t fl = strlen(frac);
    while (frac[fl - 1] == '0') frac[--fl] = 0;
    memcpy(tmp + n, frac, fl + 1);
    n += (int)fl;
  }
  memcpy(tmp + n, "Z\"", 3);
  return sr_buf_append(out, tmp, (size_t)n + 2);
}

static int write_mp_key(sr_mp_reader *r, sr_buf *out) {
  sr_mp_item it;
  int rc = sr_mp_next(r, &it);
  if (rc) return rc;
  switch (it.kind) {
    case SR_MP_STR: return sr_json_write_string(out, (const char *)it.data, it.len);
    case SR_MP_UINT:
      if ((rc = sr_buf_putc(out, '"')) || (rc = sr_json_write_uint64(out, it.u))) return rc;
      return sr_buf_putc(out, '"');
    case SR_MP_INT:
      if ((rc = sr_buf_putc(out, '"')) || (rc = sr_json_write_int64(out, it.i))) return rc;
      return sr_buf_putc(out, '"');
    case SR_MP_BOOL: return sr_buf_puts(out, it.boolean ? "\"true\"" : "\"false\"");
    default: return SIGNALR_EENCODING; /* JSON keys are strings; a composite key has no form */
  }
}

int sr_transcode_mp_value(sr_mp_reader *r, sr_buf *out, int depth) {
  sr_mp_item it;
  int rc = sr_mp_next(r, &it);
  if (rc) return rc;
  switch (it.kind) {
    case SR_MP_NIL: return sr_buf_puts(out, "null");
    case SR_MP_BOOL: return sr_buf_puts(out, it.boolean ? "true" : "false");
    case SR_MP_UINT: return sr_json_write_uint64(out, it.u);
    case SR_MP_INT: return sr_json_write_int64(out, it.i);
    case SR_MP_FLOAT32: case SR_MP_FLOAT64: return sr_json_write_double(out, it.f);
    case SR_MP_STR: return sr_json_write_string(out, (const char *)it.data, it.len);
    case SR_MP_BIN:
      if ((rc = sr_buf_putc(out, '"')) || (rc = sr_base64_encode(out, it.data, it.len))) return rc;
      return sr_buf_putc(out, '"');
    case SR_MP_EXT:
      if (it.ext_type == -1) return write_timestamp(out, it.data, it.len);
      /* Other extensions have no JSON form in SignalR; keep their bytes, as base64. */
      if ((rc = sr_buf_putc(out, '"')) || (rc = sr_base64_encode(out, it.data, it.len))) return rc;
      return sr_buf_putc(out, '"');
    default: break;
  }
  int is_map = it.kind == SR_MP_MAP;
  if (depth >= SR_MAX_DEPTH) return SIGNALR_EDEPTH;
  if ((rc = sr_buf_putc(out, is_map ? '{' : '['))) return rc;
  for (uint32_t i = 0; i < it.len; i++) {
    if (i && (rc = sr_buf_putc(out, ','))) return rc;
    if (is_map) {
      if ((rc = write_mp_key(r, out)) || (rc = sr_buf_putc(out, ':'))) return rc;
    }
    if ((rc = sr_transcode_mp_value(r, out, depth + 1))) return rc;
  }
  return sr_buf_putc(out, is_map ? '}' : ']');
}

int sr_json_to_msgpack(const uint8_t *json, size_t n, sr_buf *out) {
  size_t mark = out->len;
  sr_json_reader r;
  msgpack_packer pk;
  sr_json_reader_init(&r, json, n);
  sr_packer_init(&pk, out);
  int rc = sr_transcode_json_value(&r, &pk, 0);
  if (!rc) {
    sr_json_ws(&r);
    if (r.p != r.end) rc = SIGNALR_EENCODING;
  }
  if (rc) out->len = mark;
  return rc;
}

int sr_msgpack_to_json(const uint8_t *mp, size_t n, sr_buf *out) {
  size_t mark = out->len;
  sr_mp_reader r;
  sr_mp_reader_init(&r, mp, n);
  int rc = sr_transcode_mp_value(&r, out, 0);
  if (!rc && r.p != r.end) rc = SIGNALR_EENCODING;
  if (rc) out->len = mark;
  return rc;
}
