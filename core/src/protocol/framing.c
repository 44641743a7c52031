#include "protocol/framing.h"

#include <string.h>

#include "signalr/signalr.h"

/* Stands in for a NULL chunk: NULL + 0 is undefined behaviour in C, and an empty chunk
 * (e.g. an empty std::vector's data()) may well be NULL. */
static const uint8_t no_data[1];

void sr_framer_init(sr_framer *f, int kind, size_t max_size) {
  memset(f, 0, sizeof *f);
  f->chunk = no_data;
  f->kind = kind;
  f->max_size = max_size ? max_size : SR_DEFAULT_MAX_MESSAGE_SIZE;
}

void sr_framer_free(sr_framer *f) { sr_buf_free(&f->partial); }

void sr_framer_set_kind(sr_framer *f, int kind) { f->kind = kind; }

void sr_framer_feed(sr_framer *f, const uint8_t *data, size_t len) {
  f->chunk = data ? data : no_data;
  f->chunk_len = data ? len : 0;
  f->chunk_pos = 0;
}

int sr_varint_decode(const uint8_t *p, size_t n, uint32_t *value, size_t *used) {
  uint32_t v = 0;
  for (size_t i = 0; i < 5; i++) {
    if (i >= n) return 0;
    uint8_t b = p[i];
    if (i == 4 && b > 0x07) return SIGNALR_EPROTO; /* beyond 2^31-1 or a 6th byte */
    v |= (uint32_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *value = v;
      *used = i + 1;
      return 1;
    }
  }
  return SIGNALR_EPROTO;
}

static int fail(sr_framer *f, int code) {
  f->failed = code;
  f->chunk_pos = f->chunk_len;
  return code;
}

/* Keeps the unread rest of the chunk for later. */
static int keep_rest(sr_framer *f) {
  size_t rest = f->chunk_len - f->chunk_pos;
  if (rest && sr_buf_append(&f->partial, f->chunk + f->chunk_pos, rest)) return fail(f, SIGNALR_ENOMEM);
  f->chunk_pos = f->chunk_len;
  return 0;
}

static int next_text(sr_framer *f, const uint8_t **msg, size_t *len) {
  const uint8_t *c = f->chunk + f->chunk_pos;
  size_t avail = f->chunk_len - f->chunk_pos;
  const uint8_t *rs = avail ? memchr(c, 0x1e, avail) : NULL;
  if (f->partial.len) {
    if (!rs) {
      if (f->partial.len + avail > f->max_size) return fail(f, SIGNALR_ETOOBIG);
      int rc = keep_rest(f);
      return rc ? rc : 0;
    }
    size_t take = (size_t)(rs - c);
    if (f->partial.len + take > f->max_size) return fail(f, SIGNALR_ETOOBIG);
    if (sr_buf_append(&f->partial, c, take)) return fail(f, SIGNALR_ENOMEM);
    f->chunk_pos += take + 1;
    /* Hand out the joined record; partial is emptied on the next call. */
    *msg = f->partial.data;
    *len = f->partial.len;
    f->partial.len = 0; /* bytes stay valid until the buffer is written again */
    return 1;
  }
  if (!rs) {
    if (avail > f->max_size) return fail(f, SIGNALR_ETOOBIG);
    int rc = keep_rest(f);
    return rc ? rc : 0;
  }
  size_t n = (size_t)(rs - c);
  if (n > f->max_size) return fail(f, SIGNALR_ETOOBIG);
  *msg = c;
  *len = n;
  f->chunk_pos += n + 1;
  return 1;
}

static int next_binary(sr_framer *f, const uint8_t **msg, size_t *len) {
  for (;;) {
    const uint8_t *c = f->chunk + f->chunk_pos;
    size_t avail = f->chunk_len - f->chunk_pos;
    const uint8_t *src;
    size_t have;
    if (f->partial.len) { src = f->partial.data; have = f->partial.len; }
    else { src = c; have = avail; }
    uint32_t body;
    size_t used;
    int rc = sr_varint_decode(src, have, &body, &used);
    if (rc < 0) return fail(f, rc);
    if (rc == 1) {
      if (body == 0) return fail(f, SIGNALR_EPROTO); /* an empty frame carries no message */
      if (body > f->max_size) return fail(f, SIGNALR_ETOOBIG);
      if (have - used >= body) {
        *msg = src + used;
        *len = body;
        if (f->partial.len) f->partial.len = 0; /* was exactly one whole frame */
        else f->chunk_pos += used + body;
        return 1;
      }
    }
    if (!f->partial.len) {
      int k = keep_rest(f);
      return k ? k : 0;
    }
    if (!avail) return 0;
    /* Move just enough of the chunk into partial to complete the prefix or the frame. */
    size_t want = rc == 1 ? used + body - have : 1;
    if (want > avail) want = avail;
    if (sr_buf_append(&f->partial, c, want)) return fail(f, SIGNALR_ENOMEM);
    f->chunk_pos += want;
  }
}

int sr_framer_next(sr_framer *f, const uint8_t **msg, size_t *len) {
  if (f->failed) return f->failed;
  return f->kind == SR_FRAMING_BINARY ? next_binary(f, msg, len) : next_text(f, msg, len);
}
