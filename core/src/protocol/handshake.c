#include "protocol/handshake.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/json_writer.h"
#include "signalr/signalr.h"

int sr_handshake_write_request(sr_buf *out, const char *protocol, int version) {
  if (!protocol || version < 1 || version > 9) return SIGNALR_EINVAL;
  size_t mark = out->len;
  int rc;
  if ((rc = sr_buf_puts(out, "{\"protocol\":")) ||
      (rc = sr_json_write_string(out, protocol, strlen(protocol))) ||
      (rc = sr_buf_puts(out, ",\"version\":")) || (rc = sr_json_write_int64(out, version)) ||
      (rc = sr_buf_append(out, "}\x1e", 2))) {
    out->len = mark;
    return rc;
  }
  return 0;
}

void sr_handshake_response_clear(sr_handshake_response *r) {
  free(r->error);
  r->error = NULL;
  r->has_error = 0;
}

static int bad(char *errbuf, size_t errlen, const char *why) {
  if (errbuf && errlen) snprintf(errbuf, errlen, "%s", why);
  return SIGNALR_EPROTO;
}

int sr_handshake_parse_response(const uint8_t *data, size_t len, size_t max_size,
                                size_t *consumed, sr_handshake_response *out, char *errbuf,
                                size_t errlen) {
  memset(out, 0, sizeof *out);
  const uint8_t *rs = memchr(data, 0x1e, len);
  if (!rs) return len > max_size ? SIGNALR_ETOOBIG : 0;
  size_t n = (size_t)(rs - data);
  cJSON *root = cJSON_ParseWithLength((const char *)data, n);
  if (!root) return bad(errbuf, errlen, "the handshake response is not valid JSON");
  int rc = 1;
  if (!cJSON_IsObject(root)) {
    rc = bad(errbuf, errlen, "the handshake response is not a JSON object");
  } else if (cJSON_GetObjectItemCaseSensitive(root, "type")) {
    rc = bad(errbuf, errlen, "Expected a handshake response from the server, got a hub message.");
  } else {
    cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (err && !cJSON_IsNull(err)) {
      if (!cJSON_IsString(err)) {
        rc = bad(errbuf, errlen, "the handshake response's 'error' is not a string");
      } else {
        out->has_error = 1;
        out->error = strdup(err->valuestring);
        if (!out->error) rc = SIGNALR_ENOMEM;
      }
    }
  }
  cJSON_Delete(root);
  if (rc == 1) *consumed = n + 1;
  else sr_handshake_response_clear(out);
  return rc;
}
