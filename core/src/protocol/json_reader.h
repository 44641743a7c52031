/* A strict, validating JSON reader (RFC 8259) that works on spans of the input.
 *
 * Why not cJSON here: hub payloads must cross the ABI in the wire's encoding, so the
 * decoder needs the exact byte span of "arguments"/"result"/"item", and integers must
 * survive exactly (cJSON keeps numbers as double and loses int64 precision). This reader
 * validates grammar, UTF-8 and nesting depth without allocating, and can emit a minified
 * copy of a value in the same pass. cJSON remains the parser for the cold paths
 * (handshake, negotiate). */
#ifndef SR_PROTOCOL_JSON_READER_H
#define SR_PROTOCOL_JSON_READER_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Deepest nesting of arrays/objects accepted (System.Text.Json's default is 64 too). */
#define SR_MAX_DEPTH 64

typedef struct sr_json_reader {
  const uint8_t *p;
  const uint8_t *end;
} sr_json_reader;

static inline void sr_json_reader_init(sr_json_reader *r, const void *p, size_t n) {
  r->p = (const uint8_t *)p;
  r->end = n ? r->p + n : r->p; /* (NULL, 0) is an empty span; NULL + 0 is UB */
}

static inline void sr_json_ws(sr_json_reader *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
    r->p++;
}

/* Consumes `c` after optional whitespace; 1 if it was there. */
static inline int sr_json_eat(sr_json_reader *r, uint8_t c) {
  sr_json_ws(r);
  if (r->p < r->end && *r->p == c) { r->p++; return 1; }
  return 0;
}

/* Validates and skips one value (leading whitespace allowed). When min_out is not NULL
 * the value is appended to it without insignificant whitespace.
 * Returns 0, SIGNALR_EENCODING, SIGNALR_EDEPTH or SIGNALR_ENOMEM. */
int sr_json_value(sr_json_reader *r, sr_buf *min_out);

/* Reads a string token (r->p must be at '"'). raw and raw_len: the bytes between the quotes;
 * *escaped: whether it holds escapes (then use sr_json_unescape). */
int sr_json_string(sr_json_reader *r, const uint8_t **raw, size_t *raw_len, int *escaped);

/* Decodes the escapes of a validated raw string into out (room for raw_len bytes is
 * enough: unescaping never grows). Returns the decoded length. */
size_t sr_json_unescape(const uint8_t *raw, size_t raw_len, uint8_t *out);

/* Reads a number token; s and n: its text. *is_integer: no fraction and no exponent. */
int sr_json_number(sr_json_reader *r, const uint8_t **s, size_t *n, int *is_integer);

/* Parses integer text (as produced by sr_json_number with is_integer) into int64.
 * 0, or SIGNALR_EENCODING when it does not fit. */
int sr_json_parse_int64(const uint8_t *s, size_t n, int64_t *out);

/* Literal true/false/null at r->p. Returns 0..2 for true/false/null, or -1. */
int sr_json_literal(sr_json_reader *r);

#endif
