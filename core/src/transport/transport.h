/* One interface over the SignalR transports, so the connection code handles one type:
 * WebSockets (ws.h), Server-Sent Events (sse.h) and Long Polling (longpolling.h). Each kind
 * provides an sr_transport_ops table (below); sr_transport_* dispatches through it and keeps
 * the rules of this contract for every kind in one place.
 *
 * Lifecycle, the same for every kind:
 *  - Everything is I/O thread only (sr_transport_free after on_close excepted, see there).
 *  - sr_transport_connect returning 0 is followed by on_close exactly once, unless
 *    sr_transport_free comes first; on_open comes before it at most once. Nothing follows
 *    on_close.
 *  - No callback ever runs inside the sr_transport_* call that caused it (a close that
 *    completes at once is reported on a later loop turn).
 *  - Callbacks may call any sr_transport_* function on their own transport, sr_transport_free
 *    included (after which the callback must not touch it, nor the close info).
 *  - on_message data is borrowed for the duration of the call.
 *  - sr_loop_free completes what is left: transports still alive get on_close with
 *    SIGNALR_ECANCELED.
 *
 * What "a message" is depends on the kind: a whole WebSocket message, one SSE event's data,
 * one Long Polling response body. Each may hold several hub messages, or (in theory) part of
 * one: the caller's framer splits them. */
#ifndef SR_TRANSPORT_TRANSPORT_H
#define SR_TRANSPORT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/negotiate.h"
#include "runtime/loop.h"
#include "transport/net_options.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sr_transport sr_transport;

/* The server sends whatever hub messages it has buffered as one transport message; its
 * transport buffer (TransportMaxBufferSize) is 64 KB by default. A transport message may thus
 * exceed the largest hub message by about that much, and the receive limit allows for it. */
#define SR_TRANSPORT_BATCH_SLACK (64u * 1024u)

typedef struct sr_transport_config {
  int kind;                   /* SR_TRANSPORT_WEBSOCKETS, SR_TRANSPORT_SSE or SR_TRANSPORT_LONG_POLLING */
  const char *url;            /* the transport URL, http(s)://host/path?id=TOKEN (WebSockets also
                               * takes ws:// and wss://). Copied. */
  sr_net_options net;         /* on every request (upgrade, SSE GET, polls, POSTs, DELETE); copied.
                               * net.connect_timeout_ms: until on_open (WebSocket upgrade, SSE
                               * response, first poll); <= 0: 30 s */
  int binary;                 /* 1: MessagePack (binary frames / application/octet-stream).
                               * SSE is text only: SIGNALR_EUNSUPPORTED */
  size_t max_message_size;    /* the largest hub message accepted; 0: 1 MiB. A transport message
                               * (see above) may be SR_TRANSPORT_BATCH_SLACK bigger; over that ->
                               * on_close with SIGNALR_ETOOBIG */
  size_t max_send_queue;      /* bytes sent but not yet written (WebSockets) or not yet accepted
                               * by the server (POSTs); 0: 16 MiB. Over -> SIGNALR_EAGAIN */
  int32_t close_timeout_ms;   /* bound of sr_transport_close (flush, close handshake, DELETE);
                               * past it the transport is aborted; <= 0: 5000 */
} sr_transport_config;

typedef struct sr_transport_close_info {
  int error;          /* 0: a clean close (ours, or the server ended it: WebSocket close frame,
                       * SSE stream ended, Long Polling 204); else a SIGNALR_E* code:
                       * ECONNREFUSED, ETLS, ETIMEOUT (connect_timeout_ms), ENOTFOUND (HTTP
                       * 404: unknown or expired connection id), EAUTH (401/403), EHTTP (other
                       * unexpected status), ETOOBIG, ETRANSPORT (connection lost, DNS, proxy,
                       * protocol error), ECANCELED (closed before open; loop shutdown) */
  int http_status;    /* the status behind the error (rejected upgrade, SSE GET, poll, POST),
                       * else 0 */
  int close_code;     /* WebSockets: as sr_ws_close_info (1000 normal; anything else is the
                       * server's error even when error is 0). Always 0 for SSE and Long Polling */
  const char *reason; /* the peer's close reason or an error text; never NULL. Borrowed: valid
                       * until sr_transport_free */
  int opened;         /* 1 when on_open was called before */
} sr_transport_close_info;

typedef struct sr_transport_callbacks {
  void (*on_open)(void *ud);
  void (*on_message)(void *ud, const uint8_t *data, size_t len);
  void (*on_close)(void *ud, const sr_transport_close_info *info);
  /* Optional: queued bytes were written (WebSockets) or accepted by the server (a POST):
   * sr_transport_queued_bytes went down. May call sr_transport_send / _close, not _free. */
  void (*on_drain)(void *ud);
} sr_transport_callbacks;

/* Starts connecting. 0 (callbacks follow); SIGNALR_EINVAL (bad URL or config, unreadable
 * certificate or key file, a proxy the kind cannot use), SIGNALR_EUNSUPPORTED (unknown kind,
 * binary over SSE), SIGNALR_ENOMEM. Network failures come through on_close, never here. */
int sr_transport_connect(sr_loop *loop, const sr_transport_config *cfg, const sr_transport_callbacks *cb, void *ud,
                         sr_transport **out);

/* Queues bytes (copied; one or more whole hub messages) and returns. They are sent in order:
 * WebSockets as one message (text or binary per cfg.binary), SSE and Long Polling in POSTs, one
 * at a time, bytes queued meanwhile batched into the next. 0, SIGNALR_EAGAIN (the send queue
 * is full: nothing queued), SIGNALR_ESTATE (before on_open, or after close), SIGNALR_ENOMEM. */
int sr_transport_send(sr_transport *t, const uint8_t *data, size_t len);

/* Bytes queued and not yet written (WebSockets) or not yet accepted by the server (POSTs).
 * Also inside on_close and after it, until sr_transport_free: what was sent and never got out
 * (the owner reports those messages as lost), 0 after a clean, flushed close. */
size_t sr_transport_queued_bytes(const sr_transport *t);

/* Starts a clean close; on_close follows (error 0 unless something failed meanwhile). What
 * was sent is flushed first; then WebSockets: close frame 1000; SSE: the event stream is
 * dropped (the official clients send nothing more); Long Polling: the poll is aborted and a
 * DELETE tells the server. All of it within cfg.close_timeout_ms: past it the transport is
 * aborted (WebSockets: on_close with SIGNALR_ETIMEOUT; SSE and Long Polling: error 0, the
 * reason says how many bytes were dropped). Before on_open it aborts the attempt
 * (on_close with SIGNALR_ECANCELED). Idempotent. */
void sr_transport_close(sr_transport *t);

/* Receive flow control: 1 stops reading from the server (WebSockets: the socket, so TCP
 * pushes back; SSE: the event stream's transfer is paused; Long Polling: no new poll), 0 reads
 * again. At most one transport message already read may still arrive while paused. */
void sr_transport_pause(sr_transport *t, int paused);

/* Frees the transport. After on_close: just frees (then from any thread, even after the
 * loop was freed). Before: aborts at once, without a close handshake, DELETE or flush, and no
 * callback is made any more (I/O thread only). NULL is ignored. */
void sr_transport_free(sr_transport *t);

/* cfg.kind of the transport. */
int sr_transport_kind(const sr_transport *t);

/* ------------------------------------------------------------------ the interface
 *
 * What a kind implements (sr_ws_transport_ops in ws.c, sr_sse_transport_ops in sse.c,
 * sr_lp_transport_ops in longpolling.c). `impl` is the kind's own object. The layer above
 * does for every kind what is not the kind's business:
 *  - connect gets the config validated (kind, URL present, readable TLS files) and normalised:
 *    max_message_size includes SR_TRANSPORT_BATCH_SLACK, max_send_queue and close_timeout_ms
 *    are set (> 0); cb and ud are the layer's, copied or kept for the transport's lifetime.
 *    0 with *impl set (callbacks follow), or an error (then no callback, nothing to free);
 *  - an on_close the kind makes inside one of its own calls (close, pause, send, connect) is
 *    deferred to a later loop turn; every other callback must come from the loop (a timer, a
 *    post, I/O), never from inside an ops call;
 *  - callbacks after the first on_close are dropped; after free nothing is called any more;
 *  - queued_bytes keeps its count through on_close until free (bytes that never got out);
 *  - send, queued_bytes, close and pause are only called before free; free is called once,
 *    possibly from inside the kind's own callbacks (on_close, on_message...) and, after
 *    on_close, from any thread.
 * Semantics of each entry: as the sr_transport_* function of the same name. */
typedef struct sr_transport_ops {
  int (*connect)(sr_loop *loop, const sr_transport_config *cfg, const sr_transport_callbacks *cb, void *ud,
                 void **impl);
  int (*send)(void *impl, const uint8_t *data, size_t len);
  size_t (*queued_bytes)(const void *impl);
  void (*close)(void *impl);
  void (*pause)(void *impl, int paused);
  void (*free)(void *impl);
} sr_transport_ops;

/* Tests only (not public ABI, not exported from the shared library): from now on every
 * sr_transport_connect of `kind` (SR_TRANSPORT_WEBSOCKETS, _SSE or _LONG_POLLING) uses ops
 * instead of the built-in implementation; NULL restores it. Process-wide, thread-safe;
 * transports already connected keep the ops they were made with. ops must stay valid while
 * installed and while transports made with it live. 0 or SIGNALR_EINVAL (unknown kind). */
int sr_transport_set_override(int kind, const sr_transport_ops *ops);

#ifdef __cplusplus
}
#endif

#endif
