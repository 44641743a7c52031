/* Events out, on the I/O thread: what it hands to the application (completions, items,
 * handler calls, lifecycle, logs, and requests to the token provider and retry policy), each
 * counted against the connection's receive bound. conn_dispatch.c runs them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/connection_internal.h"

/* ------------------------------------------------------------ I/O thread: events out */

static sr_app_event *event_for(signalr_connection *c, int kind) {
  sr_app_event *ev = sr_event_alloc(c->ctx);
  if (!ev) return NULL;
  ev->kind = kind;
  ev->conn = c;
  sr_conn_ref(c);
  return ev;
}

/* Queues an event for the application and counts it against the connection's receive bound
 * (sr_conn_settle pauses reading at the bound; sr_connection_consumed takes it back). */
static void conn_push(signalr_connection *c, sr_app_event *ev) {
  ev->cost = sizeof *ev + ev->value.len + ev->target.len + ev->invocation_id.len;
  atomic_fetch_add(&c->queued_bytes, ev->cost);
  sr_event_push(c->ctx, ev);
}

void sr_conn_log(signalr_connection *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void sr_conn_log(signalr_connection *c, int level, const char *fmt, ...) {
  if (!c->s.log || level < c->s.log_level) return;
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sr_app_event *ev = event_for(c, SR_APP_LOG);
  if (!ev) return;
  ev->level = level;
  if (sr_buf_append(&ev->value, msg, n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1) ||
      sr_buf_terminate(&ev->value)) {
    sr_event_release(c->ctx, ev);
    return;
  }
  conn_push(c, ev);
}

void sr_conn_push_completion(signalr_connection *c, call_record rec, const sr_error_info *err,
                            const sr_payload *result) {
  if (!rec.fn) return;
  /* An ordered waiter with events ahead of it (handlers for messages that came first, say)
   * is queued behind them like an application's completion: the polling thread runs it
   * after them, so its caller sees what the official clients' await sees. */
  int behind = 0;
  if (rec.internal) {
    /* a blocking call returns: what was queued before it must be visible to its caller */
    if (sr_loop_is_io_thread(c->ctx->loop)) sr_event_flush(c->ctx);
    behind = rec.internal == SR_REC_ORDERED && sr_event_backlog(c->ctx);
  }
  if (rec.internal && !behind) {
    signalr_error e = {err ? *err : (sr_error_info){0}};
    signalr_value v = {0};
    if (result && result->data) v = (signalr_value){result->data, result->len, result->encoding, {0}};
    rec.fn(rec.ud, c, v.data ? &v : NULL, err ? &e : NULL);
    sr_buf_free(&v.json);
    return;
  }
  sr_app_event *ev = event_for(c, SR_APP_COMPLETION);
  if (!ev) return;
  ev->done = rec.fn;
  ev->done_ud = rec.ud;
  if (err) {
    ev->has_error = 1;
    sr_error_assign(&ev->error, err);
  }
  if (result && result->data) {
    ev->has_value = 1;
    ev->encoding = result->encoding;
    if (sr_buf_append(&ev->value, result->data, result->len)) {
      ev->has_value = 0;
      ev->has_error = 1;
      sr_error_release(&ev->error);
      sr_error_set(&ev->error, SIGNALR_ENOMEM, 0, "out of memory copying the result");
    }
  }
  conn_push(c, ev);
}

void sr_conn_push_item(signalr_connection *c, const call_record *rec, const sr_payload *item) {
  sr_app_event *ev = event_for(c, SR_APP_ITEM);
  if (!ev) return;
  ev->item = rec->item;
  ev->done_ud = rec->ud;
  ev->has_value = 1;
  ev->encoding = item->encoding;
  if (sr_buf_append(&ev->value, item->data, item->len)) {
    sr_event_release(c->ctx, ev);
    sr_conn_log(c, SIGNALR_LOG_ERROR, "out of memory: dropped a stream item");
    return;
  }
  conn_push(c, ev);
}

void sr_conn_push_lifecycle(signalr_connection *c, int what, const sr_error_info *err) {
  if (!c->s.lifecycle) return;
  sr_app_event *ev = event_for(c, SR_APP_LIFECYCLE);
  if (!ev) return;
  ev->lifecycle = what;
  if (err) {
    ev->has_error = 1;
    sr_error_assign(&ev->error, err);
  }
  conn_push(c, ev);
}

void sr_conn_push_handler(signalr_connection *c, const sr_hub_message *m) {
  sr_app_event *ev = event_for(c, SR_APP_HANDLER);
  if (!ev) return;
  ev->has_value = 1;
  ev->encoding = m->arguments.encoding;
  int rc = sr_buf_append(&ev->value, m->arguments.data, m->arguments.len);
  if (!rc) rc = sr_buf_append(&ev->target, m->target.ptr, m->target.len);
  if (!rc) rc = sr_buf_terminate(&ev->target);
  ev->u.session = sr_engine_session(&c->engine); /* an answer goes to this server connection only */
  if (!rc && m->invocation_id.ptr) {
    rc = sr_buf_append(&ev->invocation_id, m->invocation_id.ptr, m->invocation_id.len);
    if (!rc) rc = sr_buf_terminate(&ev->invocation_id);
  }
  if (rc) {
    sr_event_release(c->ctx, ev);
    sr_conn_log(c, SIGNALR_LOG_ERROR, "out of memory: dropped a call to '%.*s'", (int)m->target.len, m->target.ptr);
    return;
  }
  conn_push(c, ev);
}

void sr_conn_push_raw(signalr_connection *c, const sr_payload *data) {
  if (!c->s.raw_receive) return; /* nobody listens: dropped, as a hub message without handler */
  sr_app_event *ev = event_for(c, SR_APP_RAW);
  if (!ev) return;
  ev->has_value = 1;
  ev->encoding = data->encoding;
  if (sr_buf_append(&ev->value, data->data, data->len)) {
    sr_event_release(c->ctx, ev);
    sr_conn_log(c, SIGNALR_LOG_ERROR, "out of memory: dropped a received message of %zu bytes", data->len);
    return;
  }
  conn_push(c, ev);
}

void sr_conn_push_token_request(signalr_connection *c) {
  sr_app_event *ev = event_for(c, SR_APP_TOKEN);
  if (!ev) {
    sr_conn_token_answered(c, NULL, SIGNALR_ENOMEM);
    return;
  }
  atomic_store(&c->token_outstanding, 1);
  conn_push(c, ev);
}

void sr_conn_push_retry_request(signalr_connection *c, uint32_t attempt, int64_t elapsed, const sr_error_info *err) {
  sr_app_event *ev = event_for(c, SR_APP_RETRY);
  if (!ev) {
    sr_engine_on_retry_delay(&c->engine, sr_loop_now_ms(), -1);
    return;
  }
  ev->u.attempt = attempt;
  ev->elapsed = elapsed;
  ev->has_error = 1;
  sr_error_assign(&ev->error, err);
  conn_push(c, ev);
}
