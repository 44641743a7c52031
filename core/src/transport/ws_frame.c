/* See ws_frame.h. */
#include "transport/ws_frame.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

int sr_ws_mask_next(sr_ws_mask_pool *pool, uint8_t key[4]) {
  if (!pool->filled || pool->used + 4 > sizeof(pool->keys)) {
    size_t got = 0;
    while (got < sizeof(pool->keys)) {
      ssize_t n = getrandom(pool->keys + got, sizeof(pool->keys) - got, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return -1;
      got += (size_t)n;
    }
    pool->used = 0;
    pool->filled = 1;
  }
  memcpy(key, pool->keys + pool->used, 4);
  /* a key is used once: wipe it from the pool */
  memset(pool->keys + pool->used, 0, 4);
  pool->used += 4;
  return 0;
}

size_t sr_ws_frame_header_size(size_t len) { return len < 126 ? 6 : len < 65536 ? 8 : 14; }

void sr_ws_frame_build(uint8_t *out, int opcode, uint8_t *payload, size_t len, const uint8_t key[4]) {
  size_t i = 0;
  out[i++] = (uint8_t)(0x80 | (opcode & 0x0f));
  if (len < 126) {
    out[i++] = (uint8_t)(0x80 | len);
  } else if (len < 65536) {
    out[i++] = 0x80 | 126;
    out[i++] = (uint8_t)(len >> 8);
    out[i++] = (uint8_t)len;
  } else {
    out[i++] = 0x80 | 127;
    for (int s = 56; s >= 0; s -= 8) out[i++] = (uint8_t)((uint64_t)len >> s);
  }
  memcpy(out + i, key, 4);
  /* 8 bytes at a time: the key repeated twice, in memory order (alignment-free via memcpy) */
  uint8_t k8b[8];
  memcpy(k8b, key, 4);
  memcpy(k8b + 4, key, 4);
  uint64_t k8;
  memcpy(&k8, k8b, 8);
  size_t j = 0;
  for (; j + 8 <= len; j += 8) {
    uint64_t w;
    memcpy(&w, payload + j, 8);
    w ^= k8;
    memcpy(payload + j, &w, 8);
  }
  for (; j < len; j++) payload[j] ^= key[j & 3];
}
