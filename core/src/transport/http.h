/* HTTP requests over libcurl's multi interface, driven by the loop's I/O thread.
 *
 * One curl multi handle per loop (created on first use), driven event-style: curl's sockets
 * are watched through sr_loop_fd_watch (epoll folded into the lws poll) and its timeout is one
 * sr_timer, so requests add no polling and no latency to the loop. Connections are reused
 * between requests to the same host (curl's connection cache).
 *
 * Redirects are never followed (SignalR reports a 307 with a hint instead). The response body
 * is buffered up to max_response_bytes (negotiate; later: SSE and Long Polling will stream).
 * All functions are I/O thread only. */
#ifndef SR_TRANSPORT_HTTP_H
#define SR_TRANSPORT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sr_http sr_http;

typedef struct sr_http_request_cfg {
  const char *method;         /* "GET", "POST", "DELETE", ...; NULL: GET, or POST when body_len > 0 */
  const char *url;            /* http:// or https:// */
  const char *const *headers; /* "Name: value", NULL-terminated, may be NULL. They override the
                               * library's own (User-Agent). "Name:" alone removes a header. */
  const uint8_t *body;        /* copied; may be NULL */
  size_t body_len;
  const char *ca_file;        /* NULL: system trust store */
  int insecure;               /* 1: skip TLS certificate and host name verification */
  int32_t timeout_ms;         /* whole request; <= 0: none */
  size_t max_response_bytes;  /* body limit; 0: 1 MiB. Over -> error_code SIGNALR_ETOOBIG */
} sr_http_request_cfg;

typedef struct sr_http_response {
  int status;                     /* HTTP status, 0 when no response arrived */
  const uint8_t *body;            /* NUL-terminated (not counted in body_len); never NULL */
  size_t body_len;
  const char *const *set_cookies; /* Set-Cookie header values, NULL-terminated; never NULL */
  const char *location;           /* absolute Location of a 3xx, or NULL */
  const char *content_type;       /* or NULL */
  int error_code;                 /* 0, or SIGNALR_E* for a failure without a usable response:
                                   * ECONNREFUSED, ETLS, ETIMEOUT, ETOOBIG (body over the limit),
                                   * ECANCELED (loop shutdown), EINVAL (bad URL), ETRANSPORT */
  const char *error_text;         /* never NULL ("" when error_code is 0) */
} sr_http_response;

/* Starts a request. 0 and done() follows exactly once, on the I/O thread, never from inside
 * this call; or SIGNALR_EINVAL / SIGNALR_ENOMEM and no callback. The response and everything it
 * points to are borrowed for the duration of done(). The handle is freed by the library after
 * done() returns: do not use or cancel it from then on. out may be NULL. */
int sr_http_start(sr_loop *loop, const sr_http_request_cfg *cfg,
                  void (*done)(void *ud, const sr_http_response *resp), void *ud, sr_http **out);

/* Aborts a request whose done() has not run yet; done() is then never called. NULL ignored;
 * a call from inside the request's own done() is ignored. */
void sr_http_cancel(sr_http *h);

/* "libsignalr/<version> (<os>; <machine>)", e.g. "libsignalr/0.1.0 (Linux; x86_64)". Static. */
const char *sr_user_agent(void);

/* Maps an HTTP status (a failed WebSocket upgrade or request) to a SIGNALR_E* code:
 * 2xx -> 0, 3xx -> EREDIRECT, 401/403 -> EAUTH, 404 -> ENOTFOUND, others -> EHTTP. */
int sr_http_status_error(int status);

#ifdef __cplusplus
}
#endif

#endif
