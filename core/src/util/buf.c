#include "util/buf.h"

#include <stdlib.h>

#include "signalr/signalr.h"

void sr_buf_free(sr_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

int sr_buf_grow(sr_buf *b, size_t extra) {
  if (extra > SIZE_MAX - b->len) return SIGNALR_ENOMEM;
  size_t need = b->len + extra;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) { cap = need; break; }
    cap *= 2;
  }
  uint8_t *p = realloc(b->data, cap);
  if (!p) return SIGNALR_ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int sr_buf_terminate(sr_buf *b) {
  int rc = sr_buf_reserve(b, 1);
  if (rc) return rc;
  b->data[b->len] = 0;
  return 0;
}

void sr_buf_consume(sr_buf *b, size_t n) {
  if (n >= b->len) { b->len = 0; return; }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

uint8_t *sr_buf_detach(sr_buf *b, size_t *len) {
  uint8_t *p = b->data;
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}
