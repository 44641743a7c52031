/* A growable byte buffer. Buffers are reused across messages (len reset to 0, capacity
 * kept), so the steady state of the codecs allocates nothing. */
#ifndef SR_UTIL_BUF_H
#define SR_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct sr_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
} sr_buf;

#define SR_BUF_INIT {NULL, 0, 0}

void sr_buf_free(sr_buf *b);
/* Makes room for `extra` more bytes. 0 or SIGNALR_ENOMEM. */
int sr_buf_grow(sr_buf *b, size_t extra);

static inline int sr_buf_reserve(sr_buf *b, size_t extra) {
  return (b->cap - b->len >= extra) ? 0 : sr_buf_grow(b, extra);
}

static inline int sr_buf_append(sr_buf *b, const void *p, size_t n) {
  int rc = sr_buf_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

static inline int sr_buf_putc(sr_buf *b, uint8_t c) {
  int rc = sr_buf_reserve(b, 1);
  if (rc) return rc;
  b->data[b->len++] = c;
  return 0;
}

static inline int sr_buf_puts(sr_buf *b, const char *s) { return sr_buf_append(b, s, strlen(s)); }

/* Appends a NUL without counting it in len, so data can be used as a C string. */
int sr_buf_terminate(sr_buf *b);

/* Drops the first n bytes, keeping the rest. */
void sr_buf_consume(sr_buf *b, size_t n);

/* Frees an empty buffer whose capacity exceeds keep (what one large message left behind:
 * many idle connections must not each hold the largest message they ever saw). */
static inline void sr_buf_trim(sr_buf *b, size_t keep) {
  if (b->len == 0 && b->cap > keep) sr_buf_free(b);
}

/* What a buffer that serves every message of one connection keeps between messages. */
#define SR_BUF_KEEP_IDLE 16384u

/* Hands the bytes to the caller (who frees them with free()) and empties the buffer. */
uint8_t *sr_buf_detach(sr_buf *b, size_t *len);

#endif
