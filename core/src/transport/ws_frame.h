/* Client-to-server WebSocket frames (RFC 6455 5.2, 5.3), built here instead of by lws: lws
 * reads 4 bytes of /dev/urandom for every frame it masks (a syscall per message sent) and
 * masks a byte at a time. Keys come from a pool the kernel fills 64 keys at a time, each one
 * still straight from the kernel's CSPRNG, as 5.3 asks; the payload is masked 8 bytes at a
 * time. Sans-I/O except for the pool's refill (getrandom). Any thread; a pool is not shared. */
#ifndef SR_TRANSPORT_WS_FRAME_H
#define SR_TRANSPORT_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define SR_WS_FRAME_HEADER_MAX 14 /* 2 + 8 (64-bit length) + 4 (key) */

enum { SR_WS_OP_TEXT = 1, SR_WS_OP_BINARY = 2 };

typedef struct sr_ws_mask_pool {
  uint8_t keys[256];
  size_t used; /* bytes handed out; sizeof(keys) (or 0 in a zeroed pool): refill first */
  int filled;
} sr_ws_mask_pool;

/* The next 4-byte key. 0, or -1 when the kernel gave no random bytes (the frame must not go). */
int sr_ws_mask_next(sr_ws_mask_pool *pool, uint8_t key[4]);

/* Size of the header of a masked frame carrying len payload bytes: 6, 8 or 14. */
size_t sr_ws_frame_header_size(size_t len);

/* Writes the header of one final (FIN), masked frame of the given opcode into out
 * (sr_ws_frame_header_size(len) bytes) and masks payload[0..len) in place with key. */
void sr_ws_frame_build(uint8_t *out, int opcode, uint8_t *payload, size_t len, const uint8_t key[4]);

#endif
