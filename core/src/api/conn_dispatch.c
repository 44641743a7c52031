/* Events in, on the application's thread (signalr_context_poll; the I/O thread in direct
 * mode): runs each event's callback, answers the library's requests (token, retry delay) with
 * commands, and gives the event's cost back to the receive bound. */
#include <stdlib.h>
#include <string.h>

#include "api/connection_internal.h"

static void ask_token(sr_app_event *ev) {
  signalr_connection *c = ev->conn;
  const char *token = NULL;
  int rc = ((signalr_token_fn)c->s.token_provider->fn)(c->s.token_provider->user_data, c, &token);
  if (rc == SIGNALR_EAGAIN) return; /* answered later with signalr_connection_answer_token */
  if (!atomic_exchange(&c->token_outstanding, 0)) return; /* answered from inside the provider */
  sr_app_event *cmd = sr_conn_command(c, CMD_TOKEN, rc ? NULL : token, NULL, 0, 0, NULL);
  if (!cmd) return;
  cmd->u.token_rc = rc > 0 ? SIGNALR_EINVAL : rc;
  sr_conn_post_command(c, cmd);
}

static void ask_retry(sr_app_event *ev) {
  signalr_connection *c = ev->conn;
  signalr_error e = {ev->error};
  int32_t delay = ((signalr_retry_fn)c->s.retry_policy->fn)(c->s.retry_policy->user_data, ev->u.attempt,
                                                            ev->elapsed, &e);
  sr_app_event *cmd = sr_conn_command(c, CMD_RETRY, NULL, NULL, 0, 0, NULL);
  if (!cmd) return;
  cmd->u.delay_ms = delay < 0 ? -1 : delay;
  sr_conn_post_command(c, cmd);
}


void sr_connection_consumed(sr_app_event *ev) {
  signalr_connection *c = ev->conn;
  if (!c || !ev->cost) return;
  size_t left = atomic_fetch_sub(&c->queued_bytes, ev->cost) - ev->cost;
  ev->cost = 0;
  if (!atomic_load(&c->rx_paused) || left >= c->s.app_buffer_bytes / 2 || atomic_load(&c->freed)) return;
  if (atomic_exchange(&c->resume_posted, 1)) return;
  sr_app_event *cmd = sr_conn_command(c, CMD_RESUME, NULL, NULL, 0, 0, NULL);
  if (!cmd || sr_conn_post_command(c, cmd)) atomic_store(&c->resume_posted, 0);
}

void sr_connection_dispatch(sr_app_event *ev) {
  signalr_connection *c = ev->conn;
  if (!c) return;
  if (atomic_load(&c->freed)) {
    /* Freed: none of its callbacks start any more, except a completion that was still on its
     * way (a call that raced with the free), which completes once, as closed. */
    if (ev->kind == SR_APP_COMPLETION && ev->done) {
      signalr_error gone;
      sr_error_set(&gone.info, SIGNALR_ECLOSED, 0, "the connection was freed");
      ev->done(ev->done_ud, c, NULL, &gone);
    }
    return;
  }
  switch (ev->kind) {
    case SR_APP_COMPLETION: {
      signalr_value v = {ev->value.data, ev->value.len, ev->encoding, SR_BUF_INIT};
      signalr_error e = {ev->error};
      ev->done(ev->done_ud, c, ev->has_value ? &v : NULL, ev->has_error ? &e : NULL);
      sr_buf_free(&v.json);
      break;
    }
    case SR_APP_LIFECYCLE: {
      signalr_error e = {ev->error};
      ((signalr_lifecycle_fn)c->s.lifecycle->fn)(c->s.lifecycle->user_data, c, ev->lifecycle,
                                                 ev->has_error ? &e : NULL);
      break;
    }
    case SR_APP_HANDLER:
      sr_conn_run_handlers(ev);
      break;
    case SR_APP_LOG:
      ((signalr_log_fn)c->s.log->fn)(c->s.log->user_data, ev->level, (const char *)ev->value.data);
      break;
    case SR_APP_TOKEN:
      ask_token(ev);
      break;
    case SR_APP_RETRY:
      ask_retry(ev);
      break;
    case SR_APP_RAW:
      ((signalr_raw_fn)c->s.raw_receive->fn)(c->s.raw_receive->user_data, c, ev->value.data, ev->value.len,
                                              ev->encoding == SIGNALR_ENCODING_MSGPACK);
      break;
    case SR_APP_ITEM: {
      signalr_value v = {ev->value.data, ev->value.len, ev->encoding, SR_BUF_INIT};
      ev->item(ev->done_ud, c, &v);
      sr_buf_free(&v.json);
      break;
    }
    default:
      break;
  }
}