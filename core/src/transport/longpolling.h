/* Long Polling transport, as the official clients do it: GET polls (with an `_=<ms>` cache
 * buster) bring the server's messages, POSTs carry ours, one at a time (sr_http_sender), and a
 * DELETE ends the connection. Text and binary alike (the body is bytes either way).
 *
 * Internal to the transport layer: use it through transport.h, which normalises the config and
 * defers callbacks. Same config, callbacks and close info as sr_transport, with one difference
 * in the contract: on_close may run inside sr_lp_close (sr_transport defers it). Every other
 * callback runs from the loop (HTTP completions, timers), never inside an sr_lp_* call.
 *
 * The first poll (bounded by connect_timeout_ms) makes the server start the connection; it
 * answers 200 at once and on_open follows. Then one poll is always outstanding:
 *   200 with a body -> on_message(body) (one or more hub messages), poll again at once;
 *   200 empty       -> the server's poll timeout (90 s by default): poll again;
 *   204             -> the server ended the connection: clean close;
 *   404             -> the connection is unknown or gone: SIGNALR_ENOTFOUND;
 *   other statuses  -> SIGNALR_EAUTH / SIGNALR_EHTTP with the status;
 *   our own poll timeout (100 s, above the server's 90 s) -> poll again, as the official clients.
 * Closing: queued POSTs are flushed, the poll is aborted and a DELETE sent (all within
 * SR_HTTP_TRANSPORT_CLOSE_MS); its answer (202, or 404 when the server already forgot the
 * connection) does not matter: the close is clean either way. */
#ifndef SR_TRANSPORT_LONGPOLLING_H
#define SR_TRANSPORT_LONGPOLLING_H

#include "transport/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The official clients' poll timeout: above the server's 90 s PollTimeout. */
#define SR_LP_POLL_TIMEOUT_MS 100000

typedef struct sr_lp sr_lp;

int sr_lp_connect(sr_loop *loop, const sr_transport_config *cfg, const sr_transport_callbacks *cb, void *ud,
                  sr_lp **out);
int sr_lp_send(sr_lp *p, const uint8_t *data, size_t len);
size_t sr_lp_queued_bytes(const sr_lp *p);
void sr_lp_close(sr_lp *p);
/* Receive flow control (see sr_transport_pause): no new poll while paused; the poll in
 * flight still completes. May finish the transport (on_close) when a poll cannot start. */
void sr_lp_pause(sr_lp *p, int paused);
/* Also allowed from inside any of its callbacks. */
void sr_lp_free(sr_lp *p);

/* This kind of the transport interface (transport.h). */
extern const sr_transport_ops sr_lp_transport_ops;

#ifdef __cplusplus
}
#endif

#endif
