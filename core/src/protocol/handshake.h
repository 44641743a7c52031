/* The handshake that opens every hub connection: always JSON + 0x1E, whatever the hub
 * protocol. Request {"protocol":"json","version":1}; response {} or {"error":"..."}. */
#ifndef SR_PROTOCOL_HANDSHAKE_H
#define SR_PROTOCOL_HANDSHAKE_H

#include "util/buf.h"

/* Appends the handshake request. protocol: "json" or "messagepack"; version 1, or 2 when
 * stateful reconnect was negotiated. */
int sr_handshake_write_request(sr_buf *out, const char *protocol, int version);

typedef struct sr_handshake_response {
  int has_error;
  char *error; /* the server's text (malloc'd) when has_error; free with sr_handshake_response_clear */
} sr_handshake_response;

void sr_handshake_response_clear(sr_handshake_response *r);

/* Parses the handshake response at the start of data.
 * Returns 1 when a whole response was read (*consumed = bytes through the 0x1E; whatever
 * follows is ordinary hub messages), 0 when more data is needed, SIGNALR_ETOOBIG when
 * more than max_size bytes arrived without a 0x1E, or SIGNALR_EPROTO with a reason in
 * errbuf for a response that is not a handshake response (a hub message, not JSON...). */
int sr_handshake_parse_response(const uint8_t *data, size_t len, size_t max_size,
                                size_t *consumed, sr_handshake_response *out, char *errbuf,
                                size_t errlen);

#endif
