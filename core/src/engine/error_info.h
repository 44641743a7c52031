/* The detail behind an error: code, HTTP status, the server's or library's text, and a
 * hint from the troubleshooting guide for the person reading the log. */
#ifndef SR_ENGINE_ERROR_INFO_H
#define SR_ENGINE_ERROR_INFO_H

#include <stddef.h>

/* A text too long for sr_error_info.message, shared by the copies of one error (immutable,
 * reference-counted: the copies travel through events to other threads). */
typedef struct sr_text sr_text;

/* Copying the struct (=) borrows `full`: the copy is valid while the original is. The holders
 * that outlive the call that gave them the error (queued events, signalr_error, the engine's
 * close reason and last failure, deferred failures) take their own reference with
 * sr_error_assign and drop it with sr_error_release. */
typedef struct sr_error_info {
  int code;            /* SIGNALR_E* (0: no error) */
  int http_status;     /* 0 when no HTTP status was involved */
  int allow_reconnect; /* a server Close message allowed reconnecting */
  const char *hint;    /* static text, or NULL */
  char message[512];   /* the text, cut to fit when longer (then `full` has all of it) */
  sr_text *full;       /* the whole text when it did not fit in message, or NULL */
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

/* sr_error_set with the message prefix followed by text[0, len) (a server's text: hub error,
 * Close error, negotiate error), kept whole however long: the caller owns a reference then
 * (sr_error_release). Out of memory: cut to fit in message, as sr_error_set does. */
void sr_error_set_long(sr_error_info *e, int code, int http_status, const char *prefix, const char *text, size_t len);

/* The whole message (full when there is one, else message). Valid while e is. */
const char *sr_error_text(const sr_error_info *e);

/* dst becomes a copy of src holding its own reference to src's long text; dst's previous
 * long text is released (dst must be zeroed or an owned error). dst == src is allowed. */
void sr_error_assign(sr_error_info *dst, const sr_error_info *src);

/* Drops an owned error's reference to its long text (none: nothing). The rest stays. */
void sr_error_release(sr_error_info *e);

/* The troubleshooting hint for a failure (seeds 000/001 of the product docs), or NULL. */
const char *sr_error_hint(int stage, int code, int http_status);

/* The hint for a failure, refined by its message where the code alone is too coarse (a TLS
 * failure: untrusted, host name, expired, not TLS). */
const char *sr_error_hint_for(int stage, const sr_error_info *e);

/* The sentences transport/tls_error.c starts a TLS failure's message with. */
#define SR_TLS_TEXT_UNTRUSTED "TLS: the server's certificate is not trusted"
#define SR_TLS_TEXT_HOSTNAME "TLS: the server's certificate is not valid for this host name"
#define SR_TLS_TEXT_EXPIRED "TLS: the server's certificate has expired or is not valid yet"
#define SR_TLS_TEXT_NOT_TLS "TLS: the server at this port does not speak TLS"
#define SR_TLS_TEXT_REJECTED "TLS: the server's certificate was rejected"
#define SR_TLS_TEXT_CA_FILE "TLS: the CA file (tls_ca_file) could not be used"
/* And for a name that does not resolve, an upgrade answered with something that is not HTTP,
 * a negotiate answered so. */
#define SR_TEXT_DNS "DNS: the host name does not resolve"
#define SR_TEXT_NO_UPGRADE_ANSWER "no HTTP answer to the WebSocket upgrade"
#define SR_TEXT_NOT_HTTP "the server's answer is not HTTP"

/* The error code an HTTP status maps to. */
int sr_error_code_for_http(int http_status);

#endif
