/* Server-Sent Events transport: a streamed GET (Accept: text/event-stream) brings the server's
 * messages, one SSE event each; sends are POSTs to the same URL, one at a time (sr_http_sender).
 * Text only: SignalR sends no binary over SSE.
 *
 * Internal to the transport layer: use it through transport.h, which normalises the config and
 * defers callbacks. Same config, callbacks and close info as sr_transport, with one difference
 * in the contract: on_close may run inside sr_sse_close (sr_transport defers it). Every other
 * callback runs from the loop (HTTP completions, timers), never inside an sr_sse_* call.
 *
 * on_open: the server answered the GET with 200. Closing: queued POSTs are flushed (at most
 * SR_HTTP_TRANSPORT_CLOSE_MS), then the stream is dropped; the official clients send nothing
 * else (no DELETE: the server ends the connection when the GET goes away). The server ending the
 * stream is a clean close. */
#ifndef SR_TRANSPORT_SSE_H
#define SR_TRANSPORT_SSE_H

#include "transport/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sr_sse sr_sse;

int sr_sse_connect(sr_loop *loop, const sr_transport_config *cfg, const sr_transport_callbacks *cb, void *ud,
                   sr_sse **out);
int sr_sse_send(sr_sse *s, const uint8_t *data, size_t len);
size_t sr_sse_queued_bytes(const sr_sse *s);
void sr_sse_close(sr_sse *s);
/* Receive flow control (see sr_transport_pause): pauses the event stream's transfer. */
void sr_sse_pause(sr_sse *s, int paused);
/* Also allowed from inside any of its callbacks. */
void sr_sse_free(sr_sse *s);

/* This kind of the transport interface (transport.h). */
extern const sr_transport_ops sr_sse_transport_ops;

#ifdef __cplusplus
}
#endif

#endif
