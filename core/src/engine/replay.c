#include "engine/replay.h"

#include <string.h>

#include "signalr/signalr.h"

void sr_replay_init(sr_replay *r) {
  memset(r, 0, sizeof *r);
  r->first_id = r->next_id = 1;
}

void sr_replay_free(sr_replay *r) {
  sr_buf_free(&r->data);
  sr_replay_init(r);
}

void sr_replay_reset(sr_replay *r) {
  r->data.len = 0;
  r->head = 0;
  r->bytes = 0;
  r->first_id = r->next_id = 1;
}

int sr_replay_append(sr_replay *r, const uint8_t *msg, size_t len) {
  if (len > UINT32_MAX) return SIGNALR_ETOOBIG;
  /* Reclaim acknowledged space before growing: the buffer then stays near its working size. */
  if (r->head && (r->head >= r->data.len / 2 || r->data.cap - r->data.len < len + 4)) {
    sr_buf_consume(&r->data, r->head);
    r->head = 0;
  }
  uint32_t n = (uint32_t)len;
  int rc = sr_buf_reserve(&r->data, len + sizeof n);
  if (rc) return rc;
  memcpy(r->data.data + r->data.len, &n, sizeof n);
  memcpy(r->data.data + r->data.len + sizeof n, msg, len);
  r->data.len += len + sizeof n;
  r->bytes += len;
  r->next_id++;
  return 0;
}

void sr_replay_ack(sr_replay *r, int64_t id) {
  while (r->first_id <= id && r->head < r->data.len) {
    uint32_t n;
    memcpy(&n, r->data.data + r->head, sizeof n);
    r->head += sizeof n + n;
    r->bytes -= n;
    r->first_id++;
  }
  if (r->head == r->data.len) {
    r->data.len = r->head = 0;
    r->first_id = r->next_id;
  }
}

int64_t sr_replay_oldest(const sr_replay *r) { return r->head < r->data.len ? r->first_id : r->next_id; }

int sr_replay_next(const sr_replay *r, size_t *cursor, const uint8_t **msg, size_t *len) {
  size_t off = *cursor ? *cursor : r->head;
  if (off < r->head || off >= r->data.len) return 0;
  uint32_t n;
  memcpy(&n, r->data.data + off, sizeof n);
  *msg = r->data.data + off + sizeof n;
  *len = n;
  *cursor = off + sizeof n + n;
  return 1;
}
