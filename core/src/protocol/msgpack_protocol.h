/* The MessagePack hub protocol ("messagepack", binary transfer format): each message is
 * a VarInt length prefix followed by one MessagePack array (layouts in PROTOCOL.md §7). */
#ifndef SR_PROTOCOL_MSGPACK_PROTOCOL_H
#define SR_PROTOCOL_MSGPACK_PROTOCOL_H

#include "protocol/hub_message.h"

/* Appends m with its length prefix. JSON payloads are transcoded; MessagePack payloads
 * are validated and copied. Errors as sr_json_encode; nothing is appended on error. */
int sr_msgpack_encode(sr_buf *out, const sr_hub_message *m);

/* Decodes one message body (without its length prefix). Extra trailing array elements
 * are ignored (newer servers may add fields); an unknown type decodes with only `type`. */
int sr_msgpack_decode(sr_decoder *d, const uint8_t *body, size_t len, sr_hub_message *m);

/* Appends a payload as MessagePack (validated, or transcoded from JSON). */
int sr_msgpack_write_payload(sr_buf *out, const sr_payload *p);

/* Writes n as a VarInt (1-5 bytes) into out; returns the byte count. */
size_t sr_varint_encode(uint32_t n, uint8_t out[5]);

#endif
