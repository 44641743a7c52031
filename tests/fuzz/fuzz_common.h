/* Shared helpers for the libFuzzer targets: checks that abort (so libFuzzer records a
 * crash with the input), and the hub-message round-trip used by both message fuzzers. */
#ifndef SR_FUZZ_COMMON_H
#define SR_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/framing.h"
#include "protocol/hub_message.h"
#include "protocol/json_protocol.h"
#include "protocol/json_reader.h"
#include "protocol/msgpack_protocol.h"
#include "signalr/signalr.h"

#define FUZZ_CHECK(cond, ...)                                                    \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: check failed: %s\n  ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                              \
      fprintf(stderr, "\n");                                                     \
      abort();                                                                   \
    }                                                                            \
  } while (0)

static inline int fuzz_str_eq(sr_str a, sr_str b) {
  if (!a.ptr || !b.ptr) return !a.ptr && !b.ptr;
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline int fuzz_buf_eq(const sr_buf *a, const sr_buf *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* The fields a message of its type carries on the wire must survive a round trip.
 * Payload bytes are compared through re-encoding by the callers, not here (a payload
 * changes encoding when it crosses protocols). */
static inline void fuzz_same_message(const sr_hub_message *a, const sr_hub_message *b,
                                     const char *what) {
  FUZZ_CHECK(a->type == b->type, "%s: type %d != %d", what, a->type, b->type);
  int t = a->type;
  if (t <= SR_MSG_CANCEL_INVOCATION) {
    FUZZ_CHECK(a->header_count == b->header_count, "%s: header count %zu != %zu", what,
               a->header_count, b->header_count);
    for (size_t i = 0; i < a->header_count; i++) {
      FUZZ_CHECK(fuzz_str_eq(a->headers[i].key, b->headers[i].key), "%s: header %zu key", what, i);
      FUZZ_CHECK(fuzz_str_eq(a->headers[i].value, b->headers[i].value), "%s: header %zu value",
                 what, i);
    }
    FUZZ_CHECK(fuzz_str_eq(a->invocation_id, b->invocation_id), "%s: invocationId", what);
  }
  switch (t) {
    case SR_MSG_INVOCATION:
    case SR_MSG_STREAM_INVOCATION:
      FUZZ_CHECK(fuzz_str_eq(a->target, b->target), "%s: target", what);
      FUZZ_CHECK(a->arguments.data && b->arguments.data, "%s: arguments missing", what);
      FUZZ_CHECK(a->stream_id_count == b->stream_id_count, "%s: stream id count %zu != %zu", what,
                 a->stream_id_count, b->stream_id_count);
      for (size_t i = 0; i < a->stream_id_count; i++)
        FUZZ_CHECK(fuzz_str_eq(a->stream_ids[i], b->stream_ids[i]), "%s: stream id %zu", what, i);
      break;
    case SR_MSG_STREAM_ITEM:
      FUZZ_CHECK(a->item.data && b->item.data, "%s: item missing", what);
      break;
    case SR_MSG_COMPLETION:
      FUZZ_CHECK(a->completion_kind == b->completion_kind, "%s: completion kind %d != %d", what,
                 a->completion_kind, b->completion_kind);
      if (a->completion_kind == SR_COMPLETION_ERROR)
        FUZZ_CHECK(fuzz_str_eq(a->error, b->error), "%s: completion error", what);
      if (a->completion_kind == SR_COMPLETION_RESULT)
        FUZZ_CHECK(a->result.data && b->result.data, "%s: result missing", what);
      break;
    case SR_MSG_CLOSE:
      FUZZ_CHECK(fuzz_str_eq(a->error, b->error), "%s: close error", what);
      FUZZ_CHECK(!a->allow_reconnect == !b->allow_reconnect, "%s: allowReconnect", what);
      break;
    case SR_MSG_ACK:
    case SR_MSG_SEQUENCE:
      FUZZ_CHECK(a->sequence_id == b->sequence_id, "%s: sequenceId %lld != %lld", what,
                 (long long)a->sequence_id, (long long)b->sequence_id);
      break;
    default:
      break;
  }
}

/* Strips the VarInt prefix of one encoded MessagePack message; checks it is exact. */
static inline void fuzz_mp_body(const sr_buf *b, const uint8_t **body, size_t *len) {
  uint32_t n = 0;
  size_t used = 0;
  int rc = sr_varint_decode(b->data, b->len, &n, &used);
  FUZZ_CHECK(rc == 1, "encoder wrote a bad VarInt prefix (rc %d)", rc);
  FUZZ_CHECK(used + n == b->len, "prefix says %u bytes, the body has %zu", n, b->len - used);
  uint8_t v[5];
  FUZZ_CHECK(sr_varint_encode(n, v) == used, "the prefix is not in its smallest form");
  *body = b->data + used;
  *len = n;
}

/* JSON-encodes m into j (must have succeeded already), then checks the record decodes to the
 * same message and re-encodes to the same bytes. */
static inline void fuzz_json_stable(const sr_hub_message *m, const sr_buf *j, const char *what) {
  FUZZ_CHECK(j->len >= 2 && j->data[j->len - 1] == SR_RECORD_SEPARATOR, "%s: no trailing 0x1e",
             what);
  /* The separator must never appear inside a record, or framing would split it. */
  FUZZ_CHECK(!memchr(j->data, SR_RECORD_SEPARATOR, j->len - 1), "%s: 0x1e inside the record",
             what);
  sr_decoder d;
  sr_decoder_init(&d);
  sr_hub_message m2;
  int rc = sr_json_decode(&d, j->data, j->len - 1, &m2);
  FUZZ_CHECK(rc == 0, "%s: our own JSON does not decode (%d: %s): %.*s", what, rc, d.error,
             (int)j->len, (const char *)j->data);
  fuzz_same_message(m, &m2, what);
  sr_buf j2 = SR_BUF_INIT;
  rc = sr_json_encode(&j2, &m2);
  FUZZ_CHECK(rc == 0, "%s: re-encoding our JSON failed (%d)", what, rc);
  FUZZ_CHECK(fuzz_buf_eq(j, &j2), "%s: JSON not stable:\n  %.*s\n  %.*s", what, (int)j->len,
             (const char *)j->data, (int)j2.len, (const char *)j2.data);
  sr_buf_free(&j2);
  sr_decoder_free(&d);
}

static inline void fuzz_msgpack_stable(const sr_hub_message *m, const sr_buf *b,
                                       const char *what) {
  const uint8_t *body;
  size_t n;
  fuzz_mp_body(b, &body, &n);
  sr_decoder d;
  sr_decoder_init(&d);
  sr_hub_message m2;
  int rc = sr_msgpack_decode(&d, body, n, &m2);
  FUZZ_CHECK(rc == 0, "%s: our own MessagePack does not decode (%d: %s)", what, rc, d.error);
  fuzz_same_message(m, &m2, what);
  sr_buf b2 = SR_BUF_INIT;
  rc = sr_msgpack_encode(&b2, &m2);
  FUZZ_CHECK(rc == 0, "%s: re-encoding our MessagePack failed (%d)", what, rc);
  FUZZ_CHECK(fuzz_buf_eq(b, &b2), "%s: MessagePack not stable", what);
  sr_buf_free(&b2);
  sr_decoder_free(&d);
}

/* Decode errors must be the documented codes, with a reason. */
static inline void fuzz_decode_error(int rc, const sr_decoder *d) {
  FUZZ_CHECK(rc == SIGNALR_EPROTO || rc == SIGNALR_EDEPTH, "unexpected decode error %d", rc);
  FUZZ_CHECK(d->error[0] != 0, "decode error %d without a reason", rc);
}

/* Errors a cross-protocol encode may legitimately report: a MessagePack payload with no JSON
 * form (invalid UTF-8 string, composite or nil map key, out-of-range timestamp, too deep). */
static inline int fuzz_transcode_error_ok(int rc) {
  return rc == SIGNALR_EENCODING || rc == SIGNALR_EDEPTH;
}

/* Copies data into an exactly sized heap block so ASan sees reads past its end (libFuzzer's
 * own buffer is exact too, but sub-spans of it are not). */
static inline uint8_t *fuzz_dup(const uint8_t *p, size_t n) {
  uint8_t *c = malloc(n ? n : 1);
  if (!c) abort();
  if (n) memcpy(c, p, n);
  return c;
}

#endif
