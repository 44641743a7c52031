/* What the engine's source files share; not for the runtime. */
#ifndef SR_ENGINE_ENGINE_INTERNAL_H
#define SR_ENGINE_ENGINE_INTERNAL_H

#include "engine/engine.h"

void sr_engine_emit(sr_engine *e, int type, const sr_error_info *err, uint64_t call, const sr_hub_message *msg);

/* Encodes and sends one message. With stateful reconnect a sequenced message is also kept
 * for replay (and only kept while the socket is being re-dialed); `flow` subjects it to the
 * replay buffer's limit (SIGNALR_EAGAIN when full): the application's own sends are, replies
 * the protocol owes the server (client results, cancels) are not. */
int sr_engine_send_message(sr_engine *e, int64_t now, const sr_hub_message *m, int flow);

/* Connected, or re-dialing a stateful connection (sends are buffered then). */
static inline int sr_engine_can_send(const sr_engine *e) { return e->state == SR_STATE_CONNECTED; }

#endif
