#include "engine/diag.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/negotiate.h"

static void set_copy(char **dst, const char *s, size_t n) {
  free(*dst);
  *dst = NULL;
  if (!s) return;
  char *p = malloc(n + 1);
  if (!p) return; /* diagnostics are best effort: the connection goes on without them */
  memcpy(p, s, n);
  p[n] = '\0';
  *dst = p;
}

void sr_diag_init(sr_diag *d) {
  memset(d, 0, sizeof *d);
  d->last_ping_gap = d->max_ping_gap = -1;
}

static void forget_redirects(sr_diag *d) {
  for (unsigned i = 0; i < SR_DIAG_MAX_REDIRECTS; i++) {
    free(d->redirects[i]);
    d->redirects[i] = NULL;
  }
  d->redirect_count = 0;
}

void sr_diag_free(sr_diag *d) {
  free(d->negotiate_url);
  free(d->negotiate_body);
  forget_redirects(d);
  sr_diag_init(d);
}

void sr_diag_attempt(sr_diag *d) {
  uint32_t v = d->version;
  sr_diag_free(d);
  d->version = v + 1;
}

void sr_diag_negotiate_sent(sr_diag *d, const char *url) {
  d->version++;
  d->phase = SR_PHASE_NEGOTIATE;
  d->negotiates++;
  d->negotiate_status = 0;
  d->transport = 0;
  set_copy(&d->negotiate_url, url, url ? strlen(url) : 0);
  set_copy(&d->negotiate_body, NULL, 0);
  d->negotiate_body_len = 0;
}

void sr_diag_negotiate_answer(sr_diag *d, int status, const char *body, size_t len) {
  d->version++;
  d->negotiate_status = status;
  set_copy(&d->negotiate_body, body, len);
  d->negotiate_body_len = d->negotiate_body ? len : 0;
}

void sr_diag_redirect(sr_diag *d, const char *url) {
  d->version++;
  if (d->redirect_count < SR_DIAG_MAX_REDIRECTS) set_copy(&d->redirects[d->redirect_count], url, strlen(url));
  d->redirect_count++;
}

void sr_diag_transport(sr_diag *d, int transport, int binary, int stateful) {
  d->version++;
  d->phase = SR_PHASE_TRANSPORT;
  d->transport = transport;
  d->binary = binary;
  d->stateful = stateful;
}

void sr_diag_phase(sr_diag *d, int phase, int64_t now) {
  d->version++;
  d->phase = phase;
  if (phase == SR_PHASE_CONNECTED) {
    d->handshake_at = d->last_ping_at = now;
    d->pings = 0;
    d->last_ping_gap = d->max_ping_gap = -1;
  }
}

void sr_diag_ping(sr_diag *d, int64_t now) {
  if (d->phase != SR_PHASE_CONNECTED) return;
  d->version++;
  d->pings++;
  d->last_ping_gap = now - d->last_ping_at;
  /* The first gap runs from the handshake, not from a ping: only a lower bound of the interval. */
  if (d->pings > 1 && d->last_ping_gap > d->max_ping_gap) d->max_ping_gap = d->last_ping_gap;
  d->last_ping_at = now;
}

static const char *phase_name(int p) {
  static const char *const names[] = {"none", "negotiate", "transport", "handshake", "connected"};
  return p >= 0 && p <= SR_PHASE_CONNECTED ? names[p] : "none";
}

/* The negotiate answer as parsed JSON, with its secrets replaced; the text itself when it is
 * not JSON (a web server's HTML page, say), cut to 2 KB. */
static cJSON *negotiate_response(const sr_diag *d) {
  if (!d->negotiate_body) return cJSON_CreateNull();
  cJSON *j = cJSON_ParseWithLength(d->negotiate_body, d->negotiate_body_len);
  if (!j) {
    char cut[2049];
    size_t n = d->negotiate_body_len < 2048 ? d->negotiate_body_len : 2048;
    memcpy(cut, d->negotiate_body, n);
    cut[n] = '\0';
    return cJSON_CreateString(cut);
  }
  static const char *const secrets[] = {"connectionToken", "accessToken"};
  for (size_t i = 0; cJSON_IsObject(j) && i < sizeof secrets / sizeof *secrets; i++) {
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, secrets[i])))
      cJSON_ReplaceItemInObjectCaseSensitive(j, secrets[i], cJSON_CreateString("(present)"));
  }
  return j;
}

char *sr_diag_json(const sr_diag *d, const char *url, int32_t server_timeout_ms, int32_t keep_alive_ms) {
  cJSON *o = cJSON_CreateObject();
  cJSON *n = cJSON_CreateObject();
  cJSON *r = cJSON_CreateArray();
  cJSON *p = cJSON_CreateObject();
  if (!o || !n || !r || !p) {
    cJSON_Delete(o);
    cJSON_Delete(n);
    cJSON_Delete(r);
    cJSON_Delete(p);
    return NULL;
  }
  cJSON_AddStringToObject(o, "url", url ? url : "");
  cJSON_AddStringToObject(o, "phase", phase_name(d->phase));
  cJSON_AddNumberToObject(n, "requests", d->negotiates);
  cJSON_AddNumberToObject(n, "status", d->negotiate_status);
  if (d->negotiate_url) cJSON_AddStringToObject(n, "url", d->negotiate_url);
  else cJSON_AddNullToObject(n, "url");
  cJSON_AddNumberToObject(n, "redirect_count", d->redirect_count);
  for (unsigned i = 0; i < d->redirect_count && i < SR_DIAG_MAX_REDIRECTS; i++)
    cJSON_AddItemToArray(r, cJSON_CreateString(d->redirects[i] ? d->redirects[i] : ""));
  cJSON_AddItemToObject(n, "redirects", r);
  cJSON_AddItemToObject(n, "response", negotiate_response(d));
  cJSON_AddItemToObject(o, "negotiate", n);
  if (d->transport) cJSON_AddStringToObject(o, "transport", sr_transport_name(d->transport));
  else cJSON_AddNullToObject(o, "transport");
  cJSON_AddStringToObject(o, "protocol", d->binary ? "messagepack" : "json");
  cJSON_AddBoolToObject(o, "stateful_reconnect", d->stateful);
  cJSON_AddNumberToObject(p, "count", d->pings);
  cJSON_AddNumberToObject(p, "last_gap_ms", (double)d->last_ping_gap);
  cJSON_AddNumberToObject(p, "max_gap_ms", (double)d->max_ping_gap);
  cJSON_AddItemToObject(o, "server_pings", p);
  cJSON_AddNumberToObject(o, "server_timeout_ms", server_timeout_ms);
  cJSON_AddNumberToObject(o, "keep_alive_interval_ms", keep_alive_ms);
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}
