/* Settings changed on a live connection, as the official clients allow: the URL while
 * disconnected or reconnecting (TypeScript's connection.baseUrl), the server timeout and the
 * keep-alive interval at any time (serverTimeoutInMilliseconds, keepAliveIntervalInMilliseconds).
 * Each is a command to the I/O thread, run in order with the connection's other commands. */
#include "api/connection_internal.h"
#include "util/url.h"

int signalr_connection_set_url(signalr_connection *c, const char *url) {
  if (!c || !url || !sr_url_scheme(url)) return SIGNALR_EINVAL;
  int state = atomic_load(&c->state);
  if (state != SIGNALR_STATE_DISCONNECTED && state != SIGNALR_STATE_RECONNECTING) return SIGNALR_ESTATE;
  if (atomic_load(&c->freed)) return SIGNALR_ECLOSED;
  sr_app_event *cmd = sr_conn_command(c, CMD_SET_URL, url, NULL, 0, 0, NULL);
  if (!cmd) return SIGNALR_ENOMEM;
  return sr_conn_post_command(c, cmd);
}

int signalr_connection_set_timeouts(signalr_connection *c, int32_t server_timeout_ms, int32_t keep_alive_interval_ms) {
  if (!c || server_timeout_ms < -1 || keep_alive_interval_ms < -1) return SIGNALR_EINVAL;
  if (atomic_load(&c->freed)) return SIGNALR_ECLOSED;
  sr_app_event *cmd = sr_conn_command(c, CMD_SET_TIMEOUTS, NULL, NULL, 0, 0, NULL);
  if (!cmd) return SIGNALR_ENOMEM;
  cmd->u.timeouts.server_timeout_ms = server_timeout_ms;
  cmd->u.timeouts.keep_alive_ms = keep_alive_interval_ms;
  return sr_conn_post_command(c, cmd);
}

/* Raw connections (the raw option): bytes out as they are, with the send bound of
 * signalr_connection_send. */
int signalr_connection_send_raw(signalr_connection *c, const void *data, size_t len) {
  if (!c || (!data && len)) return SIGNALR_EINVAL;
  if (!c->s.engine.raw) return SIGNALR_EINVAL;
  if (atomic_load(&c->freed)) return SIGNALR_ECLOSED;
  if (atomic_load(&c->state) != SIGNALR_STATE_CONNECTED) return SIGNALR_ESTATE;
  int rc = sr_conn_backpressure(c);
  if (rc) return rc;
  sr_app_event *cmd = sr_conn_command(c, CMD_SEND_RAW, NULL, data, len, 0, NULL);
  if (!cmd) return SIGNALR_ENOMEM;
  cmd->cost = len;
  atomic_fetch_add(&c->out_pending, len);
  rc = sr_conn_post_command(c, cmd);
  if (rc) atomic_fetch_sub(&c->out_pending, len);
  return rc;
}
