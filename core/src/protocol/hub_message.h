/* The hub protocol's messages (types 1-9), independent of the wire encoding.
 *
 * Decoded messages borrow: strings and payloads point into the input record or into the
 * decoder's scratch memory, valid until the next decode with the same decoder. Strings
 * are not NUL-terminated. Payloads (arguments, item, result) stay in the wire's encoding:
 * a JSON connection hands out JSON text, a MessagePack connection MessagePack bytes. */
#ifndef SR_PROTOCOL_HUB_MESSAGE_H
#define SR_PROTOCOL_HUB_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum {
  SR_MSG_INVOCATION = 1,
  SR_MSG_STREAM_ITEM = 2,
  SR_MSG_COMPLETION = 3,
  SR_MSG_STREAM_INVOCATION = 4,
  SR_MSG_CANCEL_INVOCATION = 5,
  SR_MSG_PING = 6,
  SR_MSG_CLOSE = 7,
  SR_MSG_ACK = 8,
  SR_MSG_SEQUENCE = 9,
};

/* Completion result kinds; the numbers are MessagePack's ResultKind. */
enum { SR_COMPLETION_ERROR = 1, SR_COMPLETION_VOID = 2, SR_COMPLETION_RESULT = 3 };

typedef struct sr_str {
  const char *ptr; /* NULL: absent */
  size_t len;
} sr_str;

typedef struct sr_payload {
  const uint8_t *data; /* NULL: absent */
  size_t len;
  int encoding; /* SIGNALR_ENCODING_JSON or SIGNALR_ENCODING_MSGPACK */
} sr_payload;

typedef struct sr_header {
  sr_str key;
  sr_str value;
} sr_header;

typedef struct sr_hub_message {
  int type;
  const sr_header *headers;
  size_t header_count;
  sr_str invocation_id; /* absent on a non-blocking Invocation */
  sr_str target;
  sr_payload arguments; /* an array */
  const sr_str *stream_ids;
  size_t stream_id_count;
  sr_payload item;      /* StreamItem */
  int completion_kind;  /* SR_COMPLETION_* */
  sr_payload result;    /* Completion with SR_COMPLETION_RESULT */
  sr_str error;         /* Completion error; Close error (absent: none) */
  int allow_reconnect;  /* Close */
  int64_t sequence_id;  /* Ack, Sequence */
} sr_hub_message;

/* Reusable decoding state; the steady state allocates nothing. */
typedef struct sr_decoder {
  sr_buf scratch;          /* unescaped strings */
  sr_header *headers;
  size_t headers_cap;
  sr_str *stream_ids;
  size_t stream_ids_cap;
  char error[192];         /* why the last decode failed */
} sr_decoder;

void sr_decoder_init(sr_decoder *d);
void sr_decoder_free(sr_decoder *d);

/* Internal to the codecs: room for n headers / stream ids in the decoder. */
int sr_decoder_headers(sr_decoder *d, size_t n);
int sr_decoder_stream_ids(sr_decoder *d, size_t n);
/* Records why decoding failed and returns code. */
int sr_decoder_fail(sr_decoder *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 when the payload's first value is an array (JSON after leading whitespace, or a
 * MessagePack array header); what Invocation arguments must be. */
int sr_payload_is_array(const sr_payload *p);

/* The message type's name, e.g. "Invocation"; "Unknown" for others. */
const char *sr_message_type_name(int type);

/* 1 for the message types stateful reconnect numbers and buffers (1-5). */
static inline int sr_message_is_sequenced(int type) { return type >= 1 && type <= 5; }

#endif
