#include "protocol/hub_message.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "signalr/signalr.h"

void sr_decoder_init(sr_decoder *d) { memset(d, 0, sizeof *d); }

void sr_decoder_free(sr_decoder *d) {
  sr_buf_free(&d->scratch);
  free(d->headers);
  free(d->stream_ids);
  memset(d, 0, sizeof *d);
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem) {
  if (n <= *cap) return 0;
  size_t c = *cap ? *cap : 4;
  while (c < n) c *= 2;
  void *p = realloc(*arr, c * elem);
  if (!p) return SIGNALR_ENOMEM;
  *arr = p;
  *cap = c;
  return 0;
}

int sr_decoder_headers(sr_decoder *d, size_t n) {
  return grow((void **)&d->headers, &d->headers_cap, n, sizeof *d->headers);
}

int sr_decoder_stream_ids(sr_decoder *d, size_t n) {
  return grow((void **)&d->stream_ids, &d->stream_ids_cap, n, sizeof *d->stream_ids);
}

int sr_decoder_fail(sr_decoder *d, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->error, sizeof d->error, fmt, ap);
  va_end(ap);
  return code;
}

int sr_payload_is_array(const sr_payload *p) {
  const uint8_t *s = p->data, *e = s + p->len;
  if (p->encoding == SIGNALR_ENCODING_MSGPACK)
    return p->len && ((*s >= 0x90 && *s <= 0x9f) || *s == 0xdc || *s == 0xdd);
  while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) s++;
  return s < e && *s == '[';
}

const char *sr_message_type_name(int type) {
  static const char *const names[] = {"Unknown",          "Invocation", "StreamItem",
                                      "Completion",       "StreamInvocation",
                                      "CancelInvocation", "Ping",       "Close",
                                      "Ack",              "Sequence"};
  return (type >= 1 && type <= 9) ? names[type] : names[0];
}
