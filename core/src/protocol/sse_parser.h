/* Incremental parser for a text/event-stream body (Server-Sent Events), sans I/O.
 *
 * SignalR's SSE transport sends every chunk of hub messages as one unnamed event made of
 * `data:` lines, so only what matters for that is kept: the data of each event. Lines end
 * with LF, CR or CRLF (a CRLF may be split across chunks); `data:` values (one optional
 * space after the colon dropped) are joined with "\n"; comment lines (":...") and every
 * other field (event, id, retry, unknown) are skipped without being stored, so a long
 * comment or field costs no memory; an empty line dispatches the event, if it had data.
 * A UTF-8 byte order mark at the very start of the stream is skipped, as the SSE spec says.
 *
 * Memory: one buffer for the event being assembled, reused from event to event and never
 * larger than max_event_size (plus one byte), so the steady state allocates nothing. */
#ifndef SR_PROTOCOL_SSE_PARSER_H
#define SR_PROTOCOL_SSE_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sr_sse_parser {
  size_t max_size;      /* limit for one event's data */
  sr_buf data;          /* the event being assembled */
  int has_data;         /* the event has at least one data line */
  int line;             /* where we are inside the current line (sse_parser.c) */
  uint8_t name_len;     /* how much of "data" the field name has matched so far */
  uint8_t bom;          /* bytes of a leading byte order mark matched; 0xff: past the start */
  int after_cr;         /* the last line ended with CR: an LF right after it is the same end */
  const uint8_t *chunk; /* borrowed until sr_sse_parser_next returns 0 or an error */
  size_t chunk_len, chunk_pos;
  int handed_out;       /* data holds an event handed out by the previous next call */
  int failed;
} sr_sse_parser;

/* max_event_size 0: SR_DEFAULT_MAX_MESSAGE_SIZE (1 MiB). Allocates nothing. */
void sr_sse_parser_init(sr_sse_parser *p, size_t max_event_size);
void sr_sse_parser_free(sr_sse_parser *p);

/* Gives the parser a chunk of the stream (NULL with len 0 is fine). The chunk must stay
 * valid until sr_sse_parser_next returns 0 or an error: call next until then before feeding again. */
void sr_sse_parser_feed(sr_sse_parser *p, const uint8_t *data, size_t len);

/* The next complete event's data (lines joined with "\n", no trailing line end). Returns 1
 * and sets data/len (valid until the next call on this parser; len may be 0 for an event
 * with an empty data line), 0 when the chunk is used up, SIGNALR_ETOOBIG when an event's
 * data exceeds max_event_size or SIGNALR_ENOMEM. Errors are sticky: the stream cannot be
 * resynchronised. */
int sr_sse_parser_next(sr_sse_parser *p, const uint8_t **data, size_t *len);

/* 1 when the parser is inside an event or a line (the stream ended mid-event). */
int sr_sse_parser_partial(const sr_sse_parser *p);

#ifdef __cplusplus
}
#endif

#endif
