/* The stateful-reconnect replay buffer: copies of the sequenced messages this side sent and
 * the peer has not acknowledged yet, in order, so they can be sent again on a new socket.
 *
 * Messages sit back to back in one buffer ([uint32 length][bytes]...) from `head`; an Ack
 * moves head forward and the space is reclaimed by compaction, so a steady stream of
 * messages allocates nothing once the buffer has grown to its working size. Ids are the
 * protocol's implicit sequence ids: 1 for the first sequenced message ever sent. */
#ifndef SR_ENGINE_REPLAY_H
#define SR_ENGINE_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct sr_replay {
  sr_buf data;
  size_t head;      /* offset of the oldest unacknowledged message */
  int64_t first_id; /* its id */
  int64_t next_id;  /* the id the next appended message gets */
  size_t bytes;     /* message bytes held, without the length prefixes */
} sr_replay;

void sr_replay_init(sr_replay *r);
void sr_replay_free(sr_replay *r);
/* Forgets everything and restarts the numbering at 1 (a new connection). */
void sr_replay_reset(sr_replay *r);
/* Keeps a copy of the next sequenced message. 0 or SIGNALR_ENOMEM (nothing kept). */
int sr_replay_append(sr_replay *r, const uint8_t *msg, size_t len);
/* The peer acknowledged every message up to id: they are dropped. */
void sr_replay_ack(sr_replay *r, int64_t id);
/* The id of the oldest message held, or next_id when none is (what Sequence announces). */
int64_t sr_replay_oldest(const sr_replay *r);
/* Iterates the held messages oldest first: *cursor = 0 to begin; 1 with the message, 0 at
 * the end. The pointers stay valid until the next append/ack/reset. */
int sr_replay_next(const sr_replay *r, size_t *cursor, const uint8_t **msg, size_t *len);

#endif
