/* sr_framer over a stream fed in chunks whose sizes come from the input, compared with the
 * same stream fed in one piece: the messages, the final status and the pending bytes must
 * be identical however the stream is cut.
 *
 * Input layout: [flags] [max] [8 chunk-size seeds] [stream...]
 *   flags bit 0: binary framing (else text)
 *   flags bit 1: text first, switch to binary after the first message (the handshake)
 *   flags bit 2: max message size = (max+1)*64 instead of max+1
 *   flags bit 3: empty chunks are fed as (NULL, 0)
 *   flags bit 4: chunk sizes mod 8 (many tiny chunks)
 * Invariants: every message <= max size; pending <= max size (text) or <= max size + 4
 * (binary: the incomplete tail may include the frame's VarInt prefix); text messages hold
 * no 0x1E; the framer never keeps pointers into a chunk after it asked for more (each chunk
 * is a separate heap block, freed before the next is fed). */
#include "fuzz_common.h"

typedef struct run {
  sr_buf log; /* each message as <8-byte length><bytes> */
  int rc;     /* 0, or the error that stopped the stream */
  size_t pending;
  size_t messages;
} run;

static void on_message(run *r, int binary, size_t max, const uint8_t *msg, size_t len) {
  FUZZ_CHECK(len <= max, "message of %zu bytes > max %zu", len, max);
  if (!binary) FUZZ_CHECK(!memchr(msg, 0x1e, len), "text message holds a 0x1e");
  if (binary) FUZZ_CHECK(len > 0, "empty binary frame handed out");
  uint64_t l = len;
  if (sr_buf_append(&r->log, &l, sizeof l) || sr_buf_append(&r->log, msg, len)) abort();
  r->messages++;
}

/* Feeds [stream, stream+n) cut by the seeds (or whole when seeds is NULL). */
static void feed_all(run *r, uint8_t flags, size_t max, const uint8_t *seeds,
                     const uint8_t *stream, size_t n) {
  int switch_kind = (flags & 2) && !(flags & 1);
  int kind = (flags & 1) ? SR_FRAMING_BINARY : SR_FRAMING_TEXT;
  sr_framer f;
  sr_framer_init(&f, kind, max);
  size_t pos = 0, i = 0;
  int prev_empty = 0;
  memset(r, 0, sizeof *r);
  for (;;) {
    size_t len = n - pos;
    if (seeds) {
      size_t s = seeds[i++ % 8];
      if (flags & 16) s %= 8;
      if (s == 0 && prev_empty) s = 1; /* empty chunks are fine, but keep moving */
      if (s < len) len = s;
    }
    uint8_t *chunk = fuzz_dup(stream + pos, len);
    pos += len;
    prev_empty = len == 0;
    sr_framer_feed(&f, (len == 0 && (flags & 8)) ? NULL : chunk, len);
    const uint8_t *msg;
    size_t mlen;
    int rc;
    while ((rc = sr_framer_next(&f, &msg, &mlen)) == 1) {
      on_message(r, f.kind == SR_FRAMING_BINARY, max, msg, mlen);
      if (switch_kind && r->messages == 1) {
        FUZZ_CHECK(sr_framer_pending(&f) == 0, "pending data at a message boundary");
        sr_framer_set_kind(&f, SR_FRAMING_BINARY);
      }
    }
    size_t pend = sr_framer_pending(&f);
    size_t limit = f.kind == SR_FRAMING_BINARY ? max + 4 : max;
    FUZZ_CHECK(pend <= limit, "pending %zu > %zu (max %zu)", pend, limit, max);
    free(chunk);
    if (rc < 0) {
      FUZZ_CHECK(rc == SIGNALR_ETOOBIG || rc == SIGNALR_EPROTO, "unexpected framer error %d", rc);
      /* An error is sticky. */
      sr_framer_feed(&f, stream, n);
      FUZZ_CHECK(sr_framer_next(&f, &msg, &mlen) == rc, "the framer recovered from an error");
      r->rc = rc;
      break;
    }
    FUZZ_CHECK(rc == 0, "unexpected framer result %d", rc);
    r->pending = pend;
    if (pos >= n) break;
  }
  sr_framer_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 10) return 0;
  uint8_t flags = data[0];
  size_t max = (flags & 4) ? ((size_t)data[1] + 1) * 64 : (size_t)data[1] + 1;
  const uint8_t *seeds = data + 2, *stream = data + 10;
  size_t n = size - 10;

  run chunked, whole;
  feed_all(&chunked, flags, max, seeds, stream, n);
  feed_all(&whole, flags, max, NULL, stream, n);
  FUZZ_CHECK(chunked.rc == whole.rc, "status %d (chunked) != %d (whole)", chunked.rc, whole.rc);
  FUZZ_CHECK(chunked.messages == whole.messages, "%zu messages (chunked) != %zu (whole)",
             chunked.messages, whole.messages);
  FUZZ_CHECK(fuzz_buf_eq(&chunked.log, &whole.log), "different messages when chunked");
  if (!whole.rc)
    FUZZ_CHECK(chunked.pending == whole.pending, "pending %zu (chunked) != %zu (whole)",
               chunked.pending, whole.pending);
  sr_buf_free(&chunked.log);
  sr_buf_free(&whole.log);
  return 0;
}
