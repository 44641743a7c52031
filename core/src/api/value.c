/* signalr_value: a received value in the wire's encoding, with a JSON view on demand. */
#include "api/internal.h"

#include "protocol/json_protocol.h"

int signalr_value_encoding(const signalr_value *v) { return v ? v->encoding : 0; }

const uint8_t *signalr_value_data(const signalr_value *v, size_t *len) {
  if (len) *len = v ? v->len : 0;
  return v ? v->data : NULL;
}

int signalr_value_json(const signalr_value *v, const char **json, size_t *len) {
  if (!v || !json) return SIGNALR_EINVAL;
  signalr_value *mv = (signalr_value *)v; /* the view is a cache, not a change of value */
  if (!mv->json.data) {
    sr_payload p = {v->data, v->len, v->encoding};
    int rc = sr_json_write_payload(&mv->json, &p);
    if (!rc) rc = sr_buf_terminate(&mv->json);
    if (rc) {
      sr_buf_free(&mv->json);
      return rc;
    }
  }
  *json = (const char *)mv->json.data;
  if (len) *len = mv->json.len;
  return 0;
}
