#include "protocol/mp_reader.h"

#include <string.h>

#include "protocol/json_reader.h" /* SR_MAX_DEPTH */
#include "signalr/signalr.h"

static uint64_t be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

int sr_mp_next(sr_mp_reader *r, sr_mp_item *it) {
  const uint8_t *p = r->p, *end = r->end;
  if (p >= end) return SIGNALR_EENCODING;
  uint8_t c = *p++;
  size_t avail = (size_t)(end - p);
  int hdr = 0;       /* bytes of length/value following the type byte */
  int is_len = 0;    /* the following bytes are a length (str/bin/ext/array/map) */
  memset(it, 0, sizeof *it);
  if (c <= 0x7f) { it->kind = SR_MP_UINT; it->u = c; goto done; }
  if (c >= 0xe0) { it->kind = SR_MP_INT; it->i = (int8_t)c; goto done; }
  if (c >= 0x80 && c <= 0x8f) { it->kind = SR_MP_MAP; it->len = c & 0x0f; goto container; }
  if (c >= 0x90 && c <= 0x9f) { it->kind = SR_MP_ARRAY; it->len = c & 0x0f; goto container; }
  if (c >= 0xa0 && c <= 0xbf) { it->kind = SR_MP_STR; it->len = c & 0x1f; goto payload; }
  switch (c) {
    case 0xc0: it->kind = SR_MP_NIL; goto done;
    case 0xc2: case 0xc3: it->kind = SR_MP_BOOL; it->boolean = c == 0xc3; goto done;
    case 0xc4: case 0xc5: case 0xc6: it->kind = SR_MP_BIN; hdr = 1 << (c - 0xc4); is_len = 1; break;
    case 0xc7: case 0xc8: case 0xc9: it->kind = SR_MP_EXT; hdr = 1 << (c - 0xc7); is_len = 1; break;
    case 0xca: it->kind = SR_MP_FLOAT32; hdr = 4; break;
    case 0xcb: it->kind = SR_MP_FLOAT64; hdr = 8; break;
    case 0xcc: case 0xcd: case 0xce: case 0xcf: it->kind = SR_MP_UINT; hdr = 1 << (c - 0xcc); break;
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: it->kind = SR_MP_INT; hdr = 1 << (c - 0xd0); break;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
      it->kind = SR_MP_EXT;
      it->len = 1u << (c - 0xd4);
      if (avail < 1) return SIGNALR_EENCODING;
      it->ext_type = (int8_t)*p++;
      goto payload;
    case 0xd9: case 0xda: case 0xdb: it->kind = SR_MP_STR; hdr = 1 << (c - 0xd9); is_len = 1; break;
    case 0xdc: case 0xdd: it->kind = SR_MP_ARRAY; hdr = 2 << (c - 0xdc); is_len = 1; break;
    case 0xde: case 0xdf: it->kind = SR_MP_MAP; hdr = 2 << (c - 0xde); is_len = 1; break;
    default: return SIGNALR_EENCODING; /* 0xc1 is never used */
  }
  if (avail < (size_t)hdr) return SIGNALR_EENCODING;
  uint64_t v = be(p, hdr);
  p += hdr;
  if (is_len) {
    it->len = (uint32_t)v;
    if (it->kind == SR_MP_EXT) {
      if (p >= end) return SIGNALR_EENCODING;
      it->ext_type = (int8_t)*p++;
    }
    if (it->kind == SR_MP_ARRAY || it->kind == SR_MP_MAP) goto container;
    goto payload;
  }
  switch (it->kind) {
    case SR_MP_UINT: it->u = v; break;
    case SR_MP_INT:
      if (hdr == 1) it->i = (int8_t)v;
      else if (hdr == 2) it->i = (int16_t)v;
      else if (hdr == 4) it->i = (int32_t)v;
      else it->i = (int64_t)v;
      break;
    case SR_MP_FLOAT32: { uint32_t b = (uint32_t)v; float f; memcpy(&f, &b, 4); it->f = f; break; }
    default: { double d; memcpy(&d, &v, 8); it->f = d; break; }
  }
  goto done;
container:
  /* Every element takes at least one byte (a map entry two): a larger count is a lie. */
  if ((uint64_t)it->len * (it->kind == SR_MP_MAP ? 2u : 1u) > (uint64_t)(end - p))
    return SIGNALR_EENCODING;
  goto done;
payload:
  if ((size_t)(end - p) < it->len) return SIGNALR_EENCODING;
  it->data = p;
  p += it->len;
done:
  r->p = p;
  return 0;
}

int sr_mp_skip(sr_mp_reader *r) {
  uint32_t left[SR_MAX_DEPTH]; /* elements still to read in each open container */
  int depth = 0;
  for (;;) {
    sr_mp_item it;
    int rc = sr_mp_next(r, &it);
    if (rc) return rc;
    if ((it.kind == SR_MP_ARRAY || it.kind == SR_MP_MAP) && it.len > 0) {
      if (depth == SR_MAX_DEPTH) return SIGNALR_EDEPTH;
      left[depth++] = it.kind == SR_MP_MAP ? it.len * 2u : it.len; /* len*2 fits: checked vs bytes */
      continue;
    }
    while (depth > 0 && --left[depth - 1] == 0) depth--;
    if (depth == 0) return 0;
  }
}

int sr_mp_read_int64(sr_mp_reader *r, int64_t *v) {
  sr_mp_item it;
  int rc = sr_mp_next(r, &it);
  if (rc) return rc;
  if (it.kind == SR_MP_INT) { *v = it.i; return 0; }
  if (it.kind == SR_MP_UINT && it.u <= (uint64_t)INT64_MAX) { *v = (int64_t)it.u; return 0; }
  return SIGNALR_EENCODING;
}
