/* text/event-stream parser. See sse_parser.h. */
#include "protocol/sse_parser.h"

#include <string.h>

#include "protocol/framing.h"
#include "signalr/signalr.h"

enum {
  L_START,       /* nothing of the line read yet */
  L_NAME,        /* reading a field name that may still be "data" */
  L_VALUE_START, /* right after "data:" (one space may follow) */
  L_VALUE,       /* inside a data value */
  L_SKIP         /* comment or a field we ignore: up to the line end */
};

#define BOM_DONE 0xff
static const uint8_t bom[3] = {0xef, 0xbb, 0xbf};
static const char data_name[4] = {'d', 'a', 't', 'a'};
static const uint8_t no_data[1]; /* stands in for a NULL chunk (NULL + 0 is undefined) */

void sr_sse_parser_init(sr_sse_parser *p, size_t max_event_size) {
  memset(p, 0, sizeof(*p));
  p->max_size = max_event_size ? max_event_size : SR_DEFAULT_MAX_MESSAGE_SIZE;
  p->line = L_START;
  p->chunk = no_data;
}

void sr_sse_parser_free(sr_sse_parser *p) { sr_buf_free(&p->data); }

void sr_sse_parser_feed(sr_sse_parser *p, const uint8_t *data, size_t len) {
  p->chunk = data ? data : no_data;
  p->chunk_len = data ? len : 0;
  p->chunk_pos = 0;
}

int sr_sse_parser_partial(const sr_sse_parser *p) {
  return p->has_data || p->line != L_START || (p->bom != 0 && p->bom != BOM_DONE);
}

static int fail(sr_sse_parser *p, int code) {
  p->failed = code;
  p->chunk_pos = p->chunk_len;
  return code;
}

static int append(sr_sse_parser *p, const uint8_t *b, size_t n) {
  if (n > p->max_size - p->data.len) return fail(p, SIGNALR_ETOOBIG);
  return sr_buf_append(&p->data, b, n) ? fail(p, SIGNALR_ENOMEM) : 0;
}

/* A data line starts: lines of one event are joined with "\n". */
static int begin_data(sr_sse_parser *p) {
  if (!p->has_data) {
    p->has_data = 1;
    return 0;
  }
  static const uint8_t lf = '\n';
  return append(p, &lf, 1);
}

/* Skips a leading byte order mark. A partial match that then differs was the start of a
 * field name that is not "data": the line is skipped, exactly as if it had been parsed. */
static void skip_bom(sr_sse_parser *p) {
  while (p->bom != BOM_DONE && p->chunk_pos < p->chunk_len) {
    if (p->chunk[p->chunk_pos] != bom[p->bom]) {
      if (p->bom) p->line = L_SKIP;
      p->bom = BOM_DONE;
      return;
    }
    p->chunk_pos++;
    if (++p->bom == sizeof(bom)) p->bom = BOM_DONE;
  }
}

/* Ends the current line. Returns 1 when it was the empty line that dispatches an event. */
static int end_line(sr_sse_parser *p, uint8_t eol) {
  int was_start = p->line == L_START;
  p->after_cr = eol == '\r';
  p->line = L_START;
  p->name_len = 0;
  if (!was_start || !p->has_data) return 0;
  p->has_data = 0;
  return 1;
}

int sr_sse_parser_next(sr_sse_parser *p, const uint8_t **data, size_t *len) {
  if (p->failed) return p->failed;
  if (p->handed_out) {
    p->handed_out = 0;
    p->data.len = 0;
  }
  skip_bom(p);
  while (p->chunk_pos < p->chunk_len) {
    const uint8_t *c = p->chunk;
    size_t i = p->chunk_pos, n = p->chunk_len;
    if (p->after_cr) {
      p->after_cr = 0;
      if (c[i] == '\n') {
        p->chunk_pos++;
        continue;
      }
    }
    if (p->line == L_VALUE || p->line == L_SKIP) {
      size_t e = i;
      while (e < n && c[e] != '\n' && c[e] != '\r') e++;
      if (p->line == L_VALUE && e > i) {
        int rc = append(p, c + i, e - i);
        if (rc) return rc;
      }
      p->chunk_pos = e;
      if (e == n) break;
      i = e;
    }
    uint8_t b = c[i];
    p->chunk_pos = i + 1;
    if (b == '\n' || b == '\r') {
      if (p->line == L_NAME && p->name_len == sizeof(data_name)) {
        int rc = begin_data(p); /* "data" without a colon: an empty value */
        if (rc) return rc;
      }
      if (end_line(p, b)) {
        *data = p->data.data ? p->data.data : no_data;
        *len = p->data.len;
        p->handed_out = 1;
        return 1;
      }
      continue;
    }
    switch (p->line) {
      case L_START:
        if (b == ':') {
          p->line = L_SKIP; /* a comment */
          break;
        }
        p->line = L_NAME; /* and b is the name's first byte: */
        /* fall through */
      case L_NAME:
        if (b == ':' && p->name_len == sizeof(data_name)) {
          int rc = begin_data(p);
          if (rc) return rc;
          p->line = L_VALUE_START;
        } else if (p->name_len < sizeof(data_name) && b == (uint8_t)data_name[p->name_len]) {
          p->name_len++;
        } else {
          p->line = L_SKIP; /* another field (or a longer name): its value is not kept */
        }
        break;
      case L_VALUE_START:
        p->line = L_VALUE;
        if (b != ' ') {
          int rc = append(p, &b, 1);
          if (rc) return rc;
        }
        break;
      default:
        break;
    }
  }
  return 0;
}
