/* WebSocket client over libwebsockets, driven by the loop's I/O thread.
 *
 * Every function is I/O thread only; every callback runs on the I/O thread and never from
 * inside the sr_ws_* call that caused it (on_close after a failed connect is deferred to the
 * next loop turn). Messages are delivered whole: fragments are reassembled into a receive
 * buffer owned by the connection and reused (no per-message allocation once it has grown;
 * a message that arrives in one piece is handed over straight from lws' buffer). */
#ifndef SR_TRANSPORT_WS_H
#define SR_TRANSPORT_WS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/loop.h"
#include "transport/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sr_ws sr_ws;

typedef struct sr_ws_config {
  const char *url;            /* ws:// or wss:// with path and query (http/https accepted too) */
  sr_net_options net;         /* copied. The proxy is reached with a CONNECT tunnel for ws:// and
                               * wss:// alike (http:// proxies only: others are EINVAL); the client
                               * certificate is for wss://; net.connect_timeout_ms: TCP + TLS +
                               * upgrade, <= 0: 30 s */
  size_t max_message_size;    /* receive limit for one message; 0: 1 MiB. Larger -> close 1009 + ETOOBIG */
  size_t max_send_queue;      /* bytes queued but not yet written; 0: 16 MiB. Over -> sr_ws_send EAGAIN */
  int32_t close_timeout_ms;   /* how long sr_ws_close waits for the queue to drain and the peer's
                               * close frame before it aborts the socket; <= 0: 5000 */
} sr_ws_config;

typedef struct sr_ws_close_info {
  int error;           /* 0: clean close (a close frame was exchanged); else a SIGNALR_E* code:
                        * ECONNREFUSED (refused, or host/network unreachable: lws 4.1 does
                        * not tell them apart), ETLS, ETIMEOUT (connect_timeout_ms), ENOTFOUND (upgrade got 404), EAUTH (401/403),
                        * EHTTP (other upgrade status, e.g. 400/503), ETOOBIG (message over the limit),
                        * ETRANSPORT (connection lost, DNS, protocol error), ECANCELED (loop shutdown) */
  int http_status;     /* status of a rejected upgrade, else 0 */
  int close_code;      /* WebSocket close code: the peer's (clean close it started), ours (clean
                        * close we started), 1006 when the connection dropped, 0 if never opened */
  const char *reason;  /* the peer's close reason or an error text; never NULL, borrowed */
  int opened;          /* 1 when on_open was called before */
} sr_ws_close_info;

typedef struct sr_ws_callbacks {
  void (*on_open)(void *ud);
  /* One complete WebSocket message (text or binary; SignalR does not care). Borrowed for the
   * duration of the call. The callback may call sr_ws_send/sr_ws_close/sr_ws_free. */
  void (*on_message)(void *ud, const uint8_t *data, size_t len);
  /* Exactly once per sr_ws_connect that returned 0, unless sr_ws_free came first. After it
   * returns the connection is dead: call sr_ws_free (it may be called from inside on_close). */
  void (*on_close)(void *ud, const sr_ws_close_info *info);
  /* Optional: queued bytes were handed to the socket (sr_ws_queued_bytes went down). May call
   * sr_ws_send and sr_ws_close, not sr_ws_free. */
  void (*on_drain)(void *ud);
} sr_ws_callbacks;

/* Starts connecting. 0 (callbacks follow) or SIGNALR_EINVAL (bad URL/config, unreadable CA,
 * certificate or key file, a proxy URL lws cannot use), SIGNALR_ENOMEM; network failures are
 * reported through on_close, never here.
 *
 * lws keeps proxy and client certificate per vhost, not per connection: connections with a
 * proxy or a client certificate get a vhost of their own per distinct (TLS, CA file, proxy,
 * certificate, key), created on first use and kept, like the loop's TLS vhosts, until the
 * loop is freed. Connections without either use the loop's shared vhosts. */
int sr_ws_connect(sr_loop *loop, const sr_ws_config *cfg, const sr_ws_callbacks *cb, void *ud, sr_ws **out);

/* Queues one message (copied) and returns. 0, SIGNALR_EAGAIN (send queue limit reached:
 * nothing queued), SIGNALR_ESTATE (not open yet, or closing/closed), SIGNALR_ENOMEM.
 * Sending before on_open is refused so that ordering stays obvious to the caller.
 * Messages queued while the socket is busy share one WebSocket frame (up to
 * SR_WS_COALESCE_MAX bytes): the caller passes whole hub messages, and SignalR allows several
 * per frame, so one write and one frame header carry a whole burst. */
int sr_ws_send(sr_ws *ws, const uint8_t *data, size_t len, int binary);

/* Bytes queued and not yet handed to the socket. */
size_t sr_ws_queued_bytes(const sr_ws *ws);

#define SR_WS_COALESCE_MAX (64u * 1024u)

/* Starts a clean close: queued messages are written first, then a close frame with code
 * (0: 1000). on_close follows (error 0, close_code = code). When the peer has not taken the
 * queue and answered the close frame within close_timeout_ms, the socket is aborted and
 * on_close comes with SIGNALR_ETIMEOUT: a peer that stops reading cannot hold a close
 * forever. Before open it aborts the attempt (on_close with SIGNALR_ECANCELED). Idempotent. */
void sr_ws_close(sr_ws *ws, int code);

/* Receive flow control: paused = 1 stops reading the socket (TCP then pushes back on the
 * peer; what lws already read is delivered after the resume), 0 reads again. Writes go on. */
void sr_ws_pause(sr_ws *ws, int paused);

/* Frees the handle. After on_close: just frees (then from any thread, even after the loop was
 * freed). Before: aborts the connection at once without a close handshake, and no callback is
 * made any more (I/O thread only). NULL is ignored. */
void sr_ws_free(sr_ws *ws);

/* The WebSocket kind of the transport interface (transport.h): an adapter over sr_ws
 * (text or binary frames per cfg.binary; close code 1000). */
extern const sr_transport_ops sr_ws_transport_ops;

#ifdef __cplusplus
}
#endif

#endif
