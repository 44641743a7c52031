/* Hand-written JSON output: the hub protocol's writer is on the hot send path, and a
 * tree printer (cJSON) costs a malloc per node and twice the instructions. */
#ifndef SR_PROTOCOL_JSON_WRITER_H
#define SR_PROTOCOL_JSON_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Appends s as a quoted JSON string. Escapes '"', '\\' and control characters; writes
 * other characters, non-ASCII included, as raw UTF-8 (as JSON.stringify and .NET do).
 * SIGNALR_EENCODING when s is not valid UTF-8. */
int sr_json_write_string(sr_buf *out, const char *s, size_t n);

int sr_json_write_int64(sr_buf *out, int64_t v);
int sr_json_write_uint64(sr_buf *out, uint64_t v);

/* Shortest text that reads back as the same double; NaN and infinities become null
 * (JSON has no representation for them, and JSON.stringify writes null too). */
int sr_json_write_double(sr_buf *out, double v);

#endif
