/* sr_sse_parser fed in chunks whose sizes come from the input, compared with a plain
 * line-by-line reference of the text/event-stream rules run on the whole stream: the events,
 * the final status and whether the stream ended inside an event must be identical however
 * the stream is cut.
 *
 * Input layout: [flags] [max] [8 chunk-size seeds] [stream...]
 *   flags bit 0: max event size = (max+1)*64 instead of max+1
 *   flags bit 1: chunk sizes mod 8 (many tiny chunks)
 *   flags bit 2: empty chunks are fed as (NULL, 0)
 * Invariants: every event <= max; the same events, status and partial state as the reference;
 * errors are ETOOBIG only (ENOMEM aside) and sticky; the parser never keeps pointers into a
 * chunk after it asked for more (each chunk is a separate heap block, freed before the next). */
#include "fuzz_common.h"
#include "protocol/sse_parser.h"

typedef struct run {
  sr_buf log; /* each event as <8-byte length><bytes> */
  int rc;
  int partial;
  size_t events;
} run;

static void log_event(run *r, size_t max, const uint8_t *d, size_t n) {
  FUZZ_CHECK(n <= max, "event of %zu bytes > max %zu", n, max);
  uint64_t l = n;
  if (sr_buf_append(&r->log, &l, sizeof l) || sr_buf_append(&r->log, d, n)) abort();
  r->events++;
}

static void feed_chunks(run *r, uint8_t flags, size_t max, const uint8_t *seeds, const uint8_t *s, size_t n) {
  sr_sse_parser p;
  sr_sse_parser_init(&p, max);
  memset(r, 0, sizeof *r);
  size_t pos = 0, i = 0;
  int prev_empty = 0;
  for (;;) {
    size_t len = n - pos, sz = seeds[i++ % 8];
    if (flags & 2) sz %= 8;
    if (sz == 0 && prev_empty) sz = 1;
    if (sz < len) len = sz;
    prev_empty = len == 0;
    uint8_t *chunk = fuzz_dup(s + pos, len);
    pos += len;
    sr_sse_parser_feed(&p, (len == 0 && (flags & 4)) ? NULL : chunk, len);
    const uint8_t *d;
    size_t dn;
    int rc;
    while ((rc = sr_sse_parser_next(&p, &d, &dn)) == 1) log_event(r, max, d, dn);
    free(chunk);
    if (rc < 0) {
      FUZZ_CHECK(rc == SIGNALR_ETOOBIG || rc == SIGNALR_ENOMEM, "unexpected parser error %d", rc);
      sr_sse_parser_feed(&p, s, n);
      FUZZ_CHECK(sr_sse_parser_next(&p, &d, &dn) == rc, "the parser recovered from an error");
      r->rc = rc;
      break;
    }
    FUZZ_CHECK(rc == 0, "unexpected parser result %d", rc);
    if (pos >= n) break;
  }
  r->partial = sr_sse_parser_partial(&p);
  sr_sse_parser_free(&p);
}

/* The rules, applied the obvious way: split into lines, then field by field. */
static int ref_data_line(sr_buf *ev, int *has, size_t max, const uint8_t *v, size_t vn) {
  if (*has) {
    if (ev->len + 1 > max) return SIGNALR_ETOOBIG;
    sr_buf_putc(ev, '\n');
  }
  *has = 1;
  if (vn && v[0] == ' ') v++, vn--;
  if (ev->len + vn > max) return SIGNALR_ETOOBIG;
  sr_buf_append(ev, v, vn);
  return 0;
}

static void reference(run *r, size_t max, const uint8_t *s, size_t n) {
  memset(r, 0, sizeof *r);
  sr_buf ev = SR_BUF_INIT;
  int has = 0;
  size_t i = 0;
  if (n >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf) i = 3;
  while (i < n) {
    size_t e = i;
    while (e < n && s[e] != '\r' && s[e] != '\n') e++;
    const uint8_t *line = s + i;
    size_t ln = e - i;
    int complete = e < n;
    if (!complete) {
      /* an unterminated last line: only a data value already begun has an effect */
      r->partial = 1;
      if (ln >= 5 && !memcmp(line, "data:", 5)) r->rc = ref_data_line(&ev, &has, max, line + 5, ln - 5);
      break;
    }
    i = e + 1;
    if (s[e] == '\r' && i < n && s[i] == '\n') i++;
    if (ln == 0) {
      if (has) log_event(r, max, ev.data ? ev.data : (const uint8_t *)"", ev.len);
      has = 0;
      ev.len = 0;
      continue;
    }
    if (line[0] == ':') continue;
    const uint8_t *colon = memchr(line, ':', ln);
    size_t name_len = colon ? (size_t)(colon - line) : ln;
    if (name_len != 4 || memcmp(line, "data", 4)) continue;
    int rc = colon ? ref_data_line(&ev, &has, max, colon + 1, ln - 5) : ref_data_line(&ev, &has, max, NULL, 0);
    if (rc) {
      r->rc = rc;
      break;
    }
  }
  if (has) r->partial = 1;
  sr_buf_free(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 10) return 0;
  uint8_t flags = data[0];
  size_t max = (flags & 1) ? ((size_t)data[1] + 1) * 64 : (size_t)data[1] + 1;
  const uint8_t *seeds = data + 2, *stream = data + 10;
  size_t n = size - 10;

  run chunked, ref;
  feed_chunks(&chunked, flags, max, seeds, stream, n);
  reference(&ref, max, stream, n);
  FUZZ_CHECK(chunked.rc == ref.rc, "status %d (parser) != %d (reference)", chunked.rc, ref.rc);
  FUZZ_CHECK(chunked.events == ref.events, "%zu events (parser) != %zu (reference)", chunked.events, ref.events);
  FUZZ_CHECK(fuzz_buf_eq(&chunked.log, &ref.log), "different events than the reference");
  if (!ref.rc)
    FUZZ_CHECK(chunked.partial == ref.partial, "partial %d (parser) != %d (reference)", chunked.partial,
               ref.partial);
  sr_buf_free(&chunked.log);
  sr_buf_free(&ref.log);
  return 0;
}
