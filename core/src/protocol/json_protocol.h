/* The JSON hub protocol ("json", text transfer format): one JSON object per message,
 * each followed by the record separator 0x1E. */
#ifndef SR_PROTOCOL_JSON_PROTOCOL_H
#define SR_PROTOCOL_JSON_PROTOCOL_H

#include "protocol/hub_message.h"

#define SR_RECORD_SEPARATOR 0x1E

/* Appends m as one record (with its 0x1E). Payloads given as MessagePack are transcoded,
 * JSON payloads are validated and minified. On error nothing is appended:
 * SIGNALR_EINVAL (a field the type needs is missing), SIGNALR_EENCODING (payload is not
 * valid JSON/MessagePack, arguments not an array, a string not UTF-8), SIGNALR_EDEPTH. */
int sr_json_encode(sr_buf *out, const sr_hub_message *m);

/* Decodes one record (without its 0x1E). Unknown fields are ignored; a message of an
 * unknown type decodes with only `type` set, for the caller to ignore. On error returns
 * SIGNALR_EPROTO (or SIGNALR_EDEPTH/ENOMEM) with the reason in d->error. */
int sr_json_decode(sr_decoder *d, const uint8_t *rec, size_t len, sr_hub_message *m);

/* Appends a payload as JSON (validated/minified, or transcoded from MessagePack). */
int sr_json_write_payload(sr_buf *out, const sr_payload *p);

#endif
