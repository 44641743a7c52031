/* HTTP requests over libcurl's multi interface, driven by the loop's I/O thread.
 *
 * One curl multi handle per loop (created on first use), driven event-style: curl's sockets
 * are watched through sr_loop_fd_watch (epoll folded into the lws poll) and its timeout is one
 * sr_timer, so requests add no polling and no latency to the loop. Connections are reused
 * between requests to the same host (curl's connection cache).
 *
 * Redirects are never followed (SignalR reports a 307 with a hint instead). The response body
 * is either buffered up to max_response_bytes (negotiate, Long Polling) or streamed chunk by
 * chunk to on_data (Server-Sent Events: an endless body).
 *
 * Callbacks never run inside libcurl's own callbacks: curl hands body bytes to a per-request
 * buffer, and they are passed on after curl returns to the loop. So every callback may start,
 * cancel and send freely. All functions are I/O thread only. */
#ifndef SR_TRANSPORT_HTTP_H
#define SR_TRANSPORT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/loop.h"
#include "transport/net_options.h"
#include "util/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sr_http sr_http;
typedef struct sr_http_response sr_http_response;

typedef struct sr_http_request_cfg {
  const char *method;         /* "GET", "POST", "DELETE", ...; NULL: GET, or POST when body_len > 0 */
  const char *url;            /* http:// or https:// */
  const uint8_t *body;        /* copied, unless body_borrowed; may be NULL */
  size_t body_len;
  int body_borrowed;          /* 1: body is not copied and must stay valid until done() or
                               * sr_http_cancel (saves a copy of large POST bodies) */
  sr_net_options net;         /* net.headers are the request's own: they override the library's
                               * (User-Agent); "Name:" alone removes a header. An empty proxy
                               * follows libcurl's environment rules (http_proxy, https_proxy,
                               * no_proxy). net.connect_timeout_ms <= 0: libcurl's default (300 s) */
  int32_t timeout_ms;         /* whole request; <= 0: none */
  size_t max_response_bytes;  /* body limit; 0: 1 MiB. Over -> error_code SIGNALR_ETOOBIG.
                               * Not applied when streaming. */
  int fresh_connection;       /* 1: a new connection, closed afterwards. libcurl silently
                               * re-sends a request whose reused connection died before any
                               * answer byte: for a poll that may lose a response the server
                               * already wrote, for a POST it may deliver messages twice. */

  /* Streaming mode: set on_data and the body is handed over in chunks as it arrives instead of
   * being buffered (done() then gets an empty body). on_response, if set, runs once when the
   * final response head has arrived (status >= 200), before the first on_data and before
   * done(); not at all when the request fails without a response. The head it gets has status,
   * content_type, set_cookies and location, an empty body and error_code 0. Both run on the I/O
   * thread and may call sr_http_cancel on this request (no further callback then). */
  void (*on_response)(void *ud, const sr_http_response *head);
  void (*on_data)(void *ud, const uint8_t *data, size_t len);
} sr_http_request_cfg;

struct sr_http_response {
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
};

/* Starts a request. 0 and done() follows exactly once, on the I/O thread, never from inside
 * this call; or SIGNALR_EINVAL / SIGNALR_ENOMEM and no callback. The response and everything it
 * points to are borrowed for the duration of done(). The handle is freed by the library after
 * done() returns: do not use or cancel it from then on. out may be NULL. */
int sr_http_start(sr_loop *loop, const sr_http_request_cfg *cfg,
                  void (*done)(void *ud, const sr_http_response *resp), void *ud, sr_http **out);

/* Aborts a request whose done() has not run yet; done() is then never called (nor on_data,
 * on_response). NULL ignored; a call from inside the request's own done() is ignored. */
void sr_http_cancel(sr_http *h);

/* The requests of loop not yet done nor canceled: what a closed transport must not leave
 * behind (the tests check it instead of waiting to see nothing happen). I/O thread only. */
size_t sr_http_live_count(sr_loop *loop);

/* Receive flow control of a streaming request (on_data): paused = 1 stops handing bytes over
 * and pauses the transfer (curl stops reading the socket, TCP pushes back); 0 resumes, and
 * what was held is handed over on a later loop turn. I/O thread only. */
void sr_http_pause(sr_http *h, int paused);

/* "libsignalr/<version> (<os>; <machine>)", e.g. "libsignalr/0.1.0 (Linux; x86_64)". Static. */
const char *sr_user_agent(void);

/* Maps an HTTP status (a failed WebSocket upgrade or request) to a SIGNALR_E* code:
 * 2xx -> 0, 3xx -> EREDIRECT, 401/403 -> EAUTH, 404 -> ENOTFOUND, others -> EHTTP. */
int sr_http_status_error(int status);

/* ---- shared by the HTTP transports (Server-Sent Events, Long Polling) ---- */

/* How long a close waits for POSTs in flight (and the Long Polling DELETE). */
#define SR_HTTP_TRANSPORT_CLOSE_MS 5000
/* Timeout of one POST: the official clients' HTTP timeout. */
#define SR_HTTP_TRANSPORT_POST_TIMEOUT_MS 100000

/* An owned copy of what every request of one transport connection carries: the URL, the
 * caller's headers, TLS and proxy settings. */
typedef struct sr_http_target {
  char *url;
  const char **headers; /* [0]: a slot for one header of our own, then the caller's, NULL */
  size_t nheaders;      /* the caller's */
  sr_net_options net;   /* its strings are this target's copies (net.headers unused) */
} sr_http_target;

/* Copies everything. 0 or SIGNALR_ENOMEM (then nothing to free). */
int sr_http_target_init(sr_http_target *t, const char *url, const sr_net_options *net);
void sr_http_target_free(sr_http_target *t);
/* Fills cfg's url, headers, TLS, proxy and connect timeout (nothing else). extra ("Name: value",
 * static) is added unless the caller's headers have that name: they override ours. The header
 * list is valid until the next call (sr_http_start copies it). */
void sr_http_target_apply(sr_http_target *t, sr_http_request_cfg *cfg, const char *extra);

/* Sends a byte stream to one URL as POSTs, the way the SignalR HTTP transports must: one POST
 * in flight at a time (the server gives no ordering between concurrent POSTs); bytes pushed
 * meanwhile are queued and go out together, in order, in the next POST, as the official clients
 * batch them. Two buffers swap between "queued" and "in flight", so the steady state allocates
 * nothing and no body is copied. Embedded in its transport; I/O thread only. */
typedef struct sr_http_sender {
  sr_loop *loop;
  sr_http_target *target; /* borrowed from the transport */
  const char *content_type; /* "Content-Type: ..." */
  size_t max_queue;         /* queued + in flight */
  int32_t timeout_ms;       /* per POST */
  sr_buf queued, sending;
  sr_http *req;
  /* Called from the POST's completion only, never from sr_http_sender_push; each may free the
   * transport that embeds the sender. on_idle: everything pushed was accepted by the server.
   * on_error: a POST failed (the bytes are lost: the caller must end the connection). */
  void (*on_idle)(void *ud);
  void (*on_error)(void *ud, int code, int http_status, const char *text);
  /* Optional: a POST was accepted (pending bytes went down). May push, not free. */
  void (*on_sent)(void *ud);
  void *ud;
} sr_http_sender;

void sr_http_sender_init(sr_http_sender *s, sr_loop *loop, sr_http_target *target, int binary, size_t max_queue,
                         int32_t timeout_ms, void *ud);
/* Queues bytes (copied) and starts a POST when none is in flight. 0, SIGNALR_EAGAIN (over
 * max_queue: nothing queued), SIGNALR_ENOMEM, or the error of starting the POST (nothing
 * queued then either). */
int sr_http_sender_push(sr_http_sender *s, const uint8_t *data, size_t len);
/* Bytes queued or in flight (not yet accepted by the server). */
static inline size_t sr_http_sender_pending(const sr_http_sender *s) { return s->queued.len + s->sending.len; }
/* Aborts the POST in flight and drops what is queued; no callback follows. Reusable after. */
void sr_http_sender_cancel(sr_http_sender *s);
/* Cancels and frees the buffers. */
void sr_http_sender_free(sr_http_sender *s);

#ifdef __cplusplus
}
#endif

#endif
