/* Splits a byte stream into hub messages: text records ending in 0x1E (JSON and the
 * handshake) or VarInt length-prefixed frames (MessagePack).
 *
 * Transports deliver arbitrary chunks: several messages in one, or one message across
 * many. The framer hands out complete messages zero-copy when a chunk holds them whole and
 * keeps only an incomplete tail, never more than max_message_size bytes of it. */
#ifndef SR_PROTOCOL_FRAMING_H
#define SR_PROTOCOL_FRAMING_H

#include "util/buf.h"

enum { SR_FRAMING_TEXT = 1, SR_FRAMING_BINARY = 2 };

/* The client's default limit for one received message (the server's send size is
 * unbounded by default, so the client must bound it itself). */
#define SR_DEFAULT_MAX_MESSAGE_SIZE (1024 * 1024)

typedef struct sr_framer {
  int kind;
  size_t max_size;
  sr_buf partial;       /* an incomplete message carried over from earlier chunks */
  const uint8_t *chunk; /* the chunk being split (borrowed until next() returns 0) */
  size_t chunk_len;
  size_t chunk_pos;
  int failed;
} sr_framer;

void sr_framer_init(sr_framer *f, int kind, size_t max_size);
void sr_framer_free(sr_framer *f);
/* Switches between text and binary framing (after the handshake), keeping the data. */
void sr_framer_set_kind(sr_framer *f, int kind);

/* Gives the framer a chunk. The chunk must stay valid until sr_framer_next returns 0 or
 * an error; call next until then before feeding again. */
void sr_framer_feed(sr_framer *f, const uint8_t *data, size_t len);

/* The next complete message (text: without its 0x1E; binary: the body without the prefix).
 * Returns 1 and sets msg and len (valid until the next call), 0 when more data is needed
 * (the rest of the chunk has been kept), or SIGNALR_ETOOBIG / SIGNALR_EPROTO (bad VarInt,
 * empty binary frame) — after an error the stream cannot be resynchronised. */
int sr_framer_next(sr_framer *f, const uint8_t **msg, size_t *len);

/* Bytes held for an incomplete message (0 at a message boundary). */
static inline size_t sr_framer_pending(const sr_framer *f) { return f->partial.len; }

/* Parses a VarInt prefix: 1 with *value and *used, 0 if more bytes are needed,
 * SIGNALR_EPROTO if it is malformed (more than 5 bytes, or above 2^31-1). */
int sr_varint_decode(const uint8_t *p, size_t n, uint32_t *value, size_t *used);

#endif
