#include "protocol/json_reader.h"

#include <string.h>

#include "signalr/signalr.h"
#include "util/utf8.h"

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int read_u16(const uint8_t *p, const uint8_t *end, uint32_t *out) {
  if (end - p < 4) return -1;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(p[i]);
    if (h < 0) return -1;
    v = (v << 4) | (uint32_t)h;
  }
  *out = v;
  return 0;
}

/* 1: a byte that stands for itself inside a string (printable ASCII but '"' and '\\');
 * everything else takes the slow path (end, escape, control character, UTF-8 check). */
static const uint8_t STR_PLAIN[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

int sr_json_string(sr_json_reader *r, const uint8_t **raw, size_t *raw_len, int *escaped) {
  const uint8_t *p = r->p, *end = r->end;
  if (p >= end || *p != '"') return SIGNALR_EENCODING;
  p++;
  const uint8_t *start = p;
  int esc = 0;
  while (p < end) {
    if (STR_PLAIN[*p]) { /* the common case, one table load per byte */
      p++;
      while (p < end && STR_PLAIN[*p]) p++;
      continue;
    }
    uint8_t c = *p;
    if (c == '"') {
      *raw = start;
      *raw_len = (size_t)(p - start);
      *escaped = esc;
      r->p = p + 1;
      return 0;
    }
    if (c < 0x20) return SIGNALR_EENCODING; /* raw control characters are not JSON */
    if (c == '\\') {
      esc = 1;
      if (++p >= end) return SIGNALR_EENCODING;
      switch (*p) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
          p++;
          break;
        case 'u': {
          uint32_t u;
          if (read_u16(p + 1, end, &u)) return SIGNALR_EENCODING;
          p += 5;
          if (u >= 0xDC00 && u <= 0xDFFF) return SIGNALR_EENCODING; /* lone low surrogate */
          if (u >= 0xD800 && u <= 0xDBFF) {
            uint32_t lo;
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || read_u16(p + 2, end, &lo) ||
                lo < 0xDC00 || lo > 0xDFFF)
              return SIGNALR_EENCODING; /* lone high surrogate: no valid UTF-8 for it */
            p += 6;
          }
          break;
        }
        default:
          return SIGNALR_EENCODING;
      }
      continue;
    }
    if (c < 0x80) { p++; continue; }
    size_t l = sr_utf8_seq_len(p, end);
    if (!l) return SIGNALR_EENCODING;
    p += l;
  }
  return SIGNALR_EENCODING; /* unterminated */
}

size_t sr_json_unescape(const uint8_t *raw, size_t raw_len, uint8_t *out) {
  const uint8_t *p = raw, *end = raw + raw_len;
  uint8_t *o = out;
  while (p < end) {
    if (*p != '\\') { *o++ = *p++; continue; }
    p++;
    switch (*p++) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '/': *o++ = '/'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      default: { /* 'u', validated by sr_json_string */
        uint32_t u = 0, lo = 0;
        read_u16(p, end, &u);
        p += 4;
        if (u >= 0xD800 && u <= 0xDBFF) {
          read_u16(p + 2, end, &lo);
          p += 6;
          u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        }
        o += sr_utf8_encode(u, o);
      }
    }
  }
  return (size_t)(o - out);
}

int sr_json_number(sr_json_reader *r, const uint8_t **s, size_t *n, int *is_integer) {
  const uint8_t *p = r->p, *end = r->end, *start = p;
  int integer = 1;
  if (p < end && *p == '-') p++;
  if (p >= end) return SIGNALR_EENCODING;
  if (*p == '0') {
    p++;
  } else if (*p >= '1' && *p <= '9') {
    while (p < end && *p >= '0' && *p <= '9') p++;
  } else {
    return SIGNALR_EENCODING;
  }
  if (p < end && *p == '.') {
    integer = 0;
    p++;
    if (p >= end || *p < '0' || *p > '9') return SIGNALR_EENCODING;
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    integer = 0;
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || *p < '0' || *p > '9') return SIGNALR_EENCODING;
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  *s = start;
  *n = (size_t)(p - start);
  *is_integer = integer;
  r->p = p;
  return 0;
}

int sr_json_parse_int64(const uint8_t *s, size_t n, int64_t *out) {
  int neg = n && s[0] == '-';
  size_t i = (size_t)neg;
  uint64_t v = 0;
  if (i >= n) return SIGNALR_EENCODING;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return SIGNALR_EENCODING;
    uint64_t d = (uint64_t)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return SIGNALR_EENCODING;
    v = v * 10 + d;
  }
  if (neg) {
    if (v > (uint64_t)INT64_MAX + 1) return SIGNALR_EENCODING;
    *out = (int64_t)(0 - v);
  } else {
    if (v > (uint64_t)INT64_MAX) return SIGNALR_EENCODING;
    *out = (int64_t)v;
  }
  return 0;
}

int sr_json_literal(sr_json_reader *r) {
  static const char *const lits[] = {"true", "false", "null"};
  size_t avail = (size_t)(r->end - r->p);
  for (int i = 0; i < 3; i++) {
    size_t l = strlen(lits[i]);
    if (avail >= l && memcmp(r->p, lits[i], l) == 0) {
      r->p += l;
      return i;
    }
  }
  return -1;
}

/* Emits [from, r->p) when minifying. */
static int emit(sr_buf *out, const uint8_t *from, const uint8_t *to) {
  return out ? sr_buf_append(out, from, (size_t)(to - from)) : 0;
}

/* One scalar or the opening of a container. *opened: '[' or '{' when a container began. */
static int scalar_or_open(sr_json_reader *r, sr_buf *out, uint8_t *opened) {
  *opened = 0;
  if (r->p >= r->end) return SIGNALR_EENCODING;
  const uint8_t *start = r->p;
  uint8_t c = *r->p;
  int rc;
  if (c == '[' || c == '{') {
    r->p++;
    *opened = c;
    return emit(out, start, r->p);
  }
  if (c == '"') {
    const uint8_t *raw; size_t n; int esc;
    if ((rc = sr_json_string(r, &raw, &n, &esc))) return rc;
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    const uint8_t *s; size_t n; int integer;
    if ((rc = sr_json_number(r, &s, &n, &integer))) return rc;
  } else if (sr_json_literal(r) < 0) {
    return SIGNALR_EENCODING;
  }
  return emit(out, start, r->p);
}

/* An object key and its colon. */
static int key_colon(sr_json_reader *r, sr_buf *out) {
  sr_json_ws(r);
  const uint8_t *start = r->p, *raw;
  size_t n;
  int esc, rc;
  if ((rc = sr_json_string(r, &raw, &n, &esc))) return rc;
  if ((rc = emit(out, start, r->p))) return rc;
  if (!sr_json_eat(r, ':')) return SIGNALR_EENCODING;
  return out ? sr_buf_putc(out, ':') : 0;
}

int sr_json_value(sr_json_reader *r, sr_buf *out) {
  uint8_t stack[SR_MAX_DEPTH];
  int depth = 0, rc;
  for (;;) {
    /* expecting a value */
    uint8_t opened;
    sr_json_ws(r);
    if ((rc = scalar_or_open(r, out, &opened))) return rc;
    if (opened) {
      if (depth == SR_MAX_DEPTH) return SIGNALR_EDEPTH;
      stack[depth++] = opened;
      uint8_t close = opened == '[' ? ']' : '}';
      if (sr_json_eat(r, close)) {
        depth--;
        if (out && (rc = sr_buf_putc(out, close))) return rc;
      } else {
        if (opened == '{' && (rc = key_colon(r, out))) return rc;
        continue;
      }
    }
    /* after a value: close containers or move to the next element */
    for (;;) {
      if (depth == 0) return 0;
      uint8_t top = stack[depth - 1];
      sr_json_ws(r);
      if (r->p >= r->end) return SIGNALR_EENCODING;
      uint8_t c = *r->p;
      if (c == ',') {
        r->p++;
        if (out && (rc = sr_buf_putc(out, ','))) return rc;
        if (top == '{' && (rc = key_colon(r, out))) return rc;
        break;
      }
      if ((top == '[' && c == ']') || (top == '{' && c == '}')) {
        r->p++;
        depth--;
        if (out && (rc = sr_buf_putc(out, c))) return rc;
        continue;
      }
      return SIGNALR_EENCODING;
    }
  }
}
