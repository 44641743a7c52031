/* JSON <-> MessagePack for hub values, so a caller can hand arguments in either encoding
 * whatever the connection's wire protocol, and always read received values as JSON. */
#ifndef SR_PROTOCOL_TRANSCODE_H
#define SR_PROTOCOL_TRANSCODE_H

#include <msgpack.h>

#include "protocol/json_reader.h"
#include "protocol/mp_reader.h"
#include "util/buf.h"

/* A msgpack-c packer that appends to an sr_buf (no intermediate sbuffer). */
void sr_packer_init(msgpack_packer *pk, sr_buf *out);

/* Reads one JSON value from r and packs it. 0, SIGNALR_EENCODING, SIGNALR_EDEPTH, ENOMEM. */
int sr_transcode_json_value(sr_json_reader *r, msgpack_packer *pk, int depth);

/* Reads one MessagePack value from r and appends it as JSON text. */
int sr_transcode_mp_value(sr_mp_reader *r, sr_buf *out, int depth);

/* Whole-buffer forms: exactly one value, nothing after it but (JSON) whitespace. */
int sr_json_to_msgpack(const uint8_t *json, size_t n, sr_buf *out);
int sr_msgpack_to_json(const uint8_t *mp, size_t n, sr_buf *out);

#endif
