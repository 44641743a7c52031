/* A bounds-checked MessagePack reader over a span.
 *
 * msgpack-c writes everything this library sends. For reading, its unpacker allocates
 * element arrays by the count a peer declares before checking that the bytes exist
 * (a 5-byte "array of 100 million" costs gigabytes), so untrusted input is read with this
 * small reader instead: no allocation, counts checked against the bytes left, bounded
 * depth, and spans that point into the input. */
#ifndef SR_PROTOCOL_MP_READER_H
#define SR_PROTOCOL_MP_READER_H

#include <stddef.h>
#include <stdint.h>

enum {
  SR_MP_NIL, SR_MP_BOOL, SR_MP_INT, SR_MP_UINT, SR_MP_FLOAT32, SR_MP_FLOAT64,
  SR_MP_STR, SR_MP_BIN, SR_MP_ARRAY, SR_MP_MAP, SR_MP_EXT,
};

typedef struct sr_mp_item {
  int kind;
  int boolean;
  int64_t i;           /* SR_MP_INT (negative values) */
  uint64_t u;          /* SR_MP_UINT */
  double f;            /* SR_MP_FLOAT32/64 */
  const uint8_t *data; /* STR, BIN, EXT payload */
  uint32_t len;        /* STR/BIN/EXT length; ARRAY/MAP element count */
  int8_t ext_type;
} sr_mp_item;

typedef struct sr_mp_reader {
  const uint8_t *p;
  const uint8_t *end;
} sr_mp_reader;

static inline void sr_mp_reader_init(sr_mp_reader *r, const void *p, size_t n) {
  r->p = (const uint8_t *)p;
  r->end = n ? r->p + n : r->p; /* (NULL, 0) is an empty span; NULL + 0 is UB */
}

/* Reads one item; for arrays and maps only the header. 0 or SIGNALR_EENCODING (truncated,
 * the never-used byte 0xc1, or a container count larger than the bytes left). */
int sr_mp_next(sr_mp_reader *r, sr_mp_item *it);

/* Validates and skips one whole value. 0, SIGNALR_EENCODING or SIGNALR_EDEPTH. */
int sr_mp_skip(sr_mp_reader *r);

/* Reads an integer of any encoding into int64 (uint64 above INT64_MAX is rejected). */
int sr_mp_read_int64(sr_mp_reader *r, int64_t *v);

#endif
