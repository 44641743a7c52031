/* The detail behind an error: code, HTTP status, the server's or library's text, and a
 * hint from the troubleshooting guide for the person reading the log. */
#ifndef SR_ENGINE_ERROR_INFO_H
#define SR_ENGINE_ERROR_INFO_H

#include <stddef.h>

typedef struct sr_error_info {
  int code;            /* SIGNALR_E* (0: no error) */
  int http_status;     /* 0 when no HTTP status was involved */
  int allow_reconnect; /* a server Close message allowed reconnecting */
  const char *hint;    /* static text, or NULL */
  char message[512];
} sr_error_info;

/* Where a failure happened, for choosing the hint. */
enum {
  SR_STAGE_NEGOTIATE = 1,
  SR_STAGE_TRANSPORT = 2, /* connecting the transport negotiate chose */
  SR_STAGE_HANDSHAKE = 3,
  SR_STAGE_CONNECTED = 4,
  SR_STAGE_DIRECT = 5,    /* connecting a WebSocket without negotiate (skip_negotiation) */
};

void sr_error_set(sr_error_info *e, int code, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The troubleshooting hint for a failure (seeds 000/001 of the product docs), or NULL. */
const char *sr_error_hint(int stage, int code, int http_status);

/* The error code an HTTP status maps to. */
int sr_error_code_for_http(int http_status);

#endif
