/* signalr_connection_diagnostics: the engine's record of the last connect attempt
 * (engine/diag.c), published as JSON for any thread. The I/O thread rebuilds the text only
 * when the record changed (a negotiate, a transport, a ping: a few times a minute at most in
 * steady state), so reading it never waits on the I/O thread. */
#include <stdlib.h>
#include <string.h>

#include "api/connection_internal.h"
#include "engine/diag.h"

void sr_conn_publish_diag(signalr_connection *c) {
  if (!c->engine_ready) return;
  const sr_diag *d = sr_engine_diag(&c->engine);
  if (d->version == c->diag_version && c->diag_json) return;
  char *json = sr_diag_json(d, c->s.engine.url, c->s.engine.server_timeout_ms, c->s.engine.keep_alive_interval_ms);
  if (!json) return; /* out of memory: the previous snapshot stays */
  c->diag_version = d->version;
  pthread_mutex_lock(&c->mu);
  char *old = c->diag_json;
  c->diag_json = json;
  pthread_mutex_unlock(&c->mu);
  free(old);
}

int signalr_connection_diagnostics(signalr_connection *c, char **json, size_t *len) {
  if (json) *json = NULL;
  if (len) *len = 0;
  if (!c || !json) return SIGNALR_EINVAL;
  pthread_mutex_lock(&c->mu);
  const char *src = c->diag_json ? c->diag_json : "{\"phase\":\"none\"}";
  size_t n = strlen(src);
  char *copy = malloc(n + 1);
  if (copy) memcpy(copy, src, n + 1);
  pthread_mutex_unlock(&c->mu);
  if (!copy) return SIGNALR_ENOMEM;
  *json = copy;
  if (len) *len = n;
  return 0;
}
