/* Public value conversions: thin wrappers over the protocol layer's transcoder. */
#include <stdlib.h>

#include "protocol/transcode.h"
#include "signalr/signalr.h"

int signalr_json_to_msgpack(const char *json, size_t json_len, uint8_t **out, size_t *out_len) {
  if (!json || !out || !out_len) return SIGNALR_EINVAL;
  sr_buf b = SR_BUF_INIT;
  int rc = sr_json_to_msgpack((const uint8_t *)json, json_len, &b);
  if (rc) {
    sr_buf_free(&b);
    return rc;
  }
  if (!b.data && (rc = sr_buf_reserve(&b, 1))) return rc;
  *out = sr_buf_detach(&b, out_len);
  return 0;
}

int signalr_msgpack_to_json(const uint8_t *msgpack, size_t msgpack_len, char **out, size_t *out_len) {
  if (!msgpack || !out || !out_len) return SIGNALR_EINVAL;
  sr_buf b = SR_BUF_INIT;
  int rc = sr_msgpack_to_json(msgpack, msgpack_len, &b);
  if (!rc) rc = sr_buf_terminate(&b);
  if (rc) {
    sr_buf_free(&b);
    return rc;
  }
  *out = (char *)sr_buf_detach(&b, out_len);
  return 0;
}

void signalr_free(void *ptr) { free(ptr); }
