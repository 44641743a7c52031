/* signalr_connection: the public calls (any thread) become commands for the I/O thread,
 * where the engine runs against the real transports; the engine's events become queued
 * events for the application's thread. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "runtime/loop.h"
#include "transport/http.h"
#include "transport/ws.h"

typedef struct handler {
  uint64_t handle;
  char *method; /* lower case: names are case-insensitive */
  sr_callback *cb;
} handler;

/* An invoke's completion, carried through the engine as the call token. */
typedef struct call_record {
  signalr_completion_fn fn;
  void *ud;
  int internal; /* a blocking call's waiter: runs on the I/O thread, never queued */
  signalr_item_fn item; /* streams */
  uint64_t handle;      /* streams: what signalr_connection_stream_cancel names */
} call_record;

struct signalr_connection {
  signalr_context *ctx;
  atomic_int refs;
  atomic_int freed;
  atomic_int state; /* mirror of the engine's, for signalr_connection_state */
  atomic_uint_fast64_t next_stream_handle;
  sr_settings s;
  pthread_mutex_t mu; /* handlers, connection_id */
  handler *handlers;
  size_t handler_count;
  uint64_t next_handle;
  char connection_id[128];
  /* I/O thread only */
  sr_engine engine;
  int engine_ready;
  sr_ws *ws;
  sr_http *http;
  sr_timer *timer;
  int64_t timer_at;
  call_record start_done;
  int start_waiting;
  call_record stop_done[8];
  int stop_waiting;
  char **cookies; /* "name=value" from negotiate responses */
  size_t cookie_count;
};

/* ------------------------------------------------------------ references */

static void conn_ref(signalr_connection *c) { atomic_fetch_add(&c->refs, 1); }

void sr_connection_unref(signalr_connection *c) {
  if (atomic_fetch_sub(&c->refs, 1) != 1) return;
  for (size_t i = 0; i < c->handler_count; i++) {
    free(c->handlers[i].method);
    sr_callback_unref(c->handlers[i].cb);
  }
  free(c->handlers);
  pthread_mutex_destroy(&c->mu);
  sr_settings_free(&c->s);
  free(c);
}

/* ------------------------------------------------------------ events out */

static sr_app_event *event_for(signalr_connection *c, int kind) {
  sr_app_event *ev = sr_event_alloc(c->ctx);
  if (!ev) return NULL;
  ev->kind = kind;
  ev->conn = c;
  conn_ref(c);
  return ev;
}

static void sr_log(signalr_connection *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sr_log(signalr_connection *c, int level, const char *fmt, ...) {
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
  sr_event_push(c->ctx, ev);
}

static void push_completion(signalr_connection *c, call_record rec, const sr_error_info *err,
                            const sr_payload *result) {
  if (!rec.fn) return;
  if (rec.internal) {
    signalr_error e = {err ? *err : (sr_error_info){0}};
    rec.fn(rec.ud, c, NULL, err ? &e : NULL);
    return;
  }
  sr_app_event *ev = event_for(c, SR_APP_COMPLETION);
  if (!ev) return;
  ev->done = rec.fn;
  ev->done_ud = rec.ud;
  if (err) {
    ev->has_error = 1;
    ev->error = *err;
  }
  if (result && result->data) {
    ev->has_value = 1;
    ev->encoding = result->encoding;
    if (sr_buf_append(&ev->value, result->data, result->len)) {
      ev->has_value = 0;
      ev->has_error = 1;
      sr_error_set(&ev->error, SIGNALR_ENOMEM, 0, "out of memory copying the result");
    }
  }
  sr_event_push(c->ctx, ev);
}

static void push_item(signalr_connection *c, const call_record *rec, const sr_payload *item) {
  sr_app_event *ev = event_for(c, SR_APP_ITEM);
  if (!ev) return;
  ev->item = rec->item;
  ev->done_ud = rec->ud;
  ev->has_value = 1;
  ev->encoding = item->encoding;
  if (sr_buf_append(&ev->value, item->data, item->len)) {
    sr_event_release(c->ctx, ev);
    sr_log(c, SIGNALR_LOG_ERROR, "out of memory: dropped a stream item");
    return;
  }
  sr_event_push(c->ctx, ev);
}

static void push_lifecycle(signalr_connection *c, int what, const sr_error_info *err) {
  if (!c->s.lifecycle) return;
  sr_app_event *ev = event_for(c, SR_APP_LIFECYCLE);
  if (!ev) return;
  ev->lifecycle = what;
  if (err) {
    ev->has_error = 1;
    ev->error = *err;
  }
  sr_event_push(c->ctx, ev);
}

static void push_handler(signalr_connection *c, const sr_hub_message *m) {
  sr_app_event *ev = event_for(c, SR_APP_HANDLER);
  if (!ev) return;
  ev->has_value = 1;
  ev->encoding = m->arguments.encoding;
  int rc = sr_buf_append(&ev->value, m->arguments.data, m->arguments.len);
  if (!rc) rc = sr_buf_append(&ev->target, m->target.ptr, m->target.len);
  if (!rc) rc = sr_buf_terminate(&ev->target);
  if (!rc && m->invocation_id.ptr) {
    rc = sr_buf_append(&ev->invocation_id, m->invocation_id.ptr, m->invocation_id.len);
    if (!rc) rc = sr_buf_terminate(&ev->invocation_id);
  }
  if (rc) {
    sr_event_release(c->ctx, ev);
    sr_log(c, SIGNALR_LOG_ERROR, "out of memory: dropped a call to '%.*s'", (int)m->target.len, m->target.ptr);
    return;
  }
  sr_event_push(c->ctx, ev);
}

/* ------------------------------------------------------------ the engine's I/O, on the I/O thread */

static void arm_timer(signalr_connection *c);

static void on_engine_timer(void *arg) {
  signalr_connection *c = arg;
  c->timer = NULL;
  sr_engine_on_timer(&c->engine, sr_loop_now_ms());
  arm_timer(c);
}

static void arm_timer(signalr_connection *c) {
  int64_t at = c->engine_ready ? sr_engine_deadline(&c->engine) : INT64_MAX;
  if (c->timer && at == c->timer_at) return;
  if (c->timer) sr_loop_timer_cancel(c->ctx->loop, c->timer);
  c->timer = NULL;
  if (at == INT64_MAX) return;
  c->timer_at = at;
  c->timer = sr_loop_timer_start(c->ctx->loop, at, on_engine_timer, c);
}

/* Headers for one request: the configured ones, the bearer token and the cookies. The
 * strings live in `store` until the request has been started. */
static const char **request_headers(signalr_connection *c, const char *bearer, sr_buf *store, const char **list,
                                    size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < c->s.header_count && n + 3 < max; i++) list[n++] = c->s.headers[i];
  const char *token = bearer ? bearer : c->s.access_token;
  size_t offsets[2];
  int count = 0;
  store->len = 0;
  if (token) {
    offsets[count++] = store->len;
    sr_buf_puts(store, "Authorization: Bearer ");
    sr_buf_puts(store, token);
    sr_buf_putc(store, 0);
  }
  if (c->cookie_count) {
    offsets[count++] = store->len;
    sr_buf_puts(store, "Cookie: ");
    for (size_t i = 0; i < c->cookie_count; i++) {
      if (i) sr_buf_puts(store, "; ");
      sr_buf_puts(store, c->cookies[i]);
    }
    sr_buf_putc(store, 0);
  }
  for (int i = 0; i < count && store->data; i++) list[n++] = (const char *)store->data + offsets[i];
  list[n] = NULL;
  return list;
}

/* Keeps cookies the negotiate response set, replacing same-named ones and dropping those
 * the server expired (Max-Age=0 or a past Expires... a max-age of 0 is the common form). */
static void remember_cookies(signalr_connection *c, const char *const *set_cookies) {
  for (size_t i = 0; set_cookies && set_cookies[i]; i++) {
    const char *sc = set_cookies[i];
    size_t pair = strcspn(sc, ";");
    const char *eq = memchr(sc, '=', pair);
    if (!eq || eq == sc) continue;
    size_t name_len = (size_t)(eq - sc);
    int expired = strstr(sc, "Max-Age=0") || strstr(sc, "max-age=0") || strstr(sc, "Expires=Thu, 01 Jan 1970");
    for (size_t j = 0; j < c->cookie_count; j++) {
      if (!strncmp(c->cookies[j], sc, name_len) && c->cookies[j][name_len] == '=') {
        free(c->cookies[j]);
        c->cookies[j] = c->cookies[--c->cookie_count];
        break;
      }
    }
    if (expired) continue;
    char **grown = realloc(c->cookies, (c->cookie_count + 1) * sizeof *grown);
    if (!grown) continue;
    c->cookies = grown;
    char *cookie = strndup(sc, pair);
    if (cookie) c->cookies[c->cookie_count++] = cookie;
  }
}

static void on_negotiated(void *ud, const sr_http_response *resp) {
  signalr_connection *c = ud;
  c->http = NULL;
  int64_t now = sr_loop_now_ms();
  if (resp->error_code) {
    sr_error_info err;
    sr_error_set(&err, resp->error_code, 0, "negotiate failed: %s", resp->error_text ? resp->error_text : "");
    sr_engine_on_negotiate(&c->engine, now, 0, NULL, 0, &err);
  } else {
    remember_cookies(c, resp->set_cookies);
    sr_log(c, SIGNALR_LOG_DEBUG, "negotiate answered %d", resp->status);
    sr_engine_on_negotiate(&c->engine, now, resp->status, (const char *)resp->body, resp->body_len, NULL);
  }
  arm_timer(c);
}

static int io_negotiate(void *ud, const char *url, const char *bearer) {
  signalr_connection *c = ud;
  const char *list[40];
  sr_buf store = SR_BUF_INIT;
  request_headers(c, bearer, &store, list, 40);
  sr_http_request_cfg cfg = {0};
  cfg.method = "POST";
  cfg.url = url;
  cfg.headers = list;
  cfg.ca_file = c->s.ca_file;
  cfg.insecure = c->s.insecure;
  cfg.timeout_ms = 100000;
  sr_log(c, SIGNALR_LOG_DEBUG, "negotiating with %s", url);
  int rc = sr_http_start(c->ctx->loop, &cfg, on_negotiated, c, &c->http);
  sr_buf_free(&store);
  return rc;
}

static void ws_on_open(void *ud) {
  signalr_connection *c = ud;
  sr_engine_on_open(&c->engine, sr_loop_now_ms());
  arm_timer(c);
}

static void ws_on_message(void *ud, const uint8_t *data, size_t len) {
  signalr_connection *c = ud;
  sr_engine_on_data(&c->engine, sr_loop_now_ms(), data, len);
  arm_timer(c);
}

static void ws_on_close(void *ud, const sr_ws_close_info *info) {
  signalr_connection *c = ud;
  sr_error_info err, *failure = NULL;
  if (info->error) {
    sr_error_set(&err, info->error, info->http_status, "WebSocket %s: %s",
                 info->opened ? "connection lost" : "failed to connect", info->reason);
    failure = &err;
  } else if (info->close_code && info->close_code != 1000) {
    sr_error_set(&err, SIGNALR_ETRANSPORT, 0, "WebSocket closed with status code: %d (%s).", info->close_code,
                 info->reason);
    failure = &err;
  }
  sr_ws_free(c->ws); /* info lives in the sr_ws: read it all first */
  c->ws = NULL;
  sr_engine_on_closed(&c->engine, sr_loop_now_ms(), failure);
  arm_timer(c);
}

static int io_open(void *ud, int transport, const char *url, const char *bearer, int binary) {
  signalr_connection *c = ud;
  (void)binary;
  if (transport != SR_TRANSPORT_WEBSOCKETS) return SIGNALR_EUNSUPPORTED;
  const char *list[40];
  sr_buf store = SR_BUF_INIT;
  request_headers(c, bearer, &store, list, 40);
  sr_ws_config cfg = {0};
  cfg.url = url;
  cfg.headers = list;
  cfg.ca_file = c->s.ca_file;
  cfg.insecure = c->s.insecure;
  cfg.connect_timeout_ms = c->s.engine.handshake_timeout_ms;
  cfg.max_message_size = c->s.engine.max_message_size;
  static const sr_ws_callbacks cbs = {ws_on_open, ws_on_message, ws_on_close};
  sr_log(c, SIGNALR_LOG_DEBUG, "opening WebSockets");
  int rc = sr_ws_connect(c->ctx->loop, &cfg, &cbs, c, &c->ws);
  sr_buf_free(&store);
  return rc;
}

static int io_send(void *ud, const uint8_t *data, size_t len) {
  signalr_connection *c = ud;
  if (!c->ws) return SIGNALR_ECLOSED;
  return sr_ws_send(c->ws, data, len, c->engine.binary);
}

static void io_close(void *ud) {
  signalr_connection *c = ud;
  if (c->http) {
    sr_http_cancel(c->http);
    c->http = NULL;
  }
  if (c->ws) sr_ws_close(c->ws, 1000);
}

static void finish_stops(signalr_connection *c) {
  for (int i = 0; i < c->stop_waiting; i++) push_completion(c, c->stop_done[i], NULL, NULL);
  c->stop_waiting = 0;
}

static void io_event(void *ud, const sr_engine_event *ev) {
  signalr_connection *c = ud;
  atomic_store(&c->state, c->engine.state);
  switch (ev->type) {
    case SR_EV_START_COMPLETED: {
      if (!ev->error) {
        pthread_mutex_lock(&c->mu);
        snprintf(c->connection_id, sizeof c->connection_id, "%s", c->engine.connection_id ? c->engine.connection_id : "");
        pthread_mutex_unlock(&c->mu);
        sr_log(c, SIGNALR_LOG_INFORMATION, "connected (connection id %s)", c->connection_id);
      } else {
        sr_log(c, SIGNALR_LOG_ERROR, "failed to start: %s", ev->error->message);
      }
      call_record rec = c->start_done;
      c->start_done = (call_record){0};
      c->start_waiting = 0;
      push_completion(c, rec, ev->error, NULL);
      if (!ev->error) push_lifecycle(c, SIGNALR_EVENT_CONNECTED, NULL);
      else finish_stops(c);
      break;
    }
    case SR_EV_CLOSED:
      if (ev->error) sr_log(c, SIGNALR_LOG_ERROR, "connection closed: %s", ev->error->message);
      else sr_log(c, SIGNALR_LOG_INFORMATION, "connection stopped");
      push_lifecycle(c, SIGNALR_EVENT_CLOSED, ev->error);
      finish_stops(c);
      break;
    case SR_EV_SLOW:
      sr_log(c, SIGNALR_LOG_WARNING, "no message from the server for 2/3 of the server timeout");
      push_lifecycle(c, SIGNALR_EVENT_SLOW, NULL);
      break;
    case SR_EV_INVOCATION:
      push_handler(c, ev->msg);
      break;
    case SR_EV_COMPLETION: {
      call_record *rec = (call_record *)(uintptr_t)ev->call;
      if (ev->error) {
        push_completion(c, *rec, ev->error, NULL);
      } else if (ev->msg->completion_kind == SR_COMPLETION_ERROR) {
        sr_error_info err;
        sr_error_set(&err, SIGNALR_EHUB, 0, "%.*s", (int)ev->msg->error.len, ev->msg->error.ptr);
        push_completion(c, *rec, &err, NULL);
      } else {
        push_completion(c, *rec, NULL, ev->msg->completion_kind == SR_COMPLETION_RESULT ? &ev->msg->result : NULL);
      }
      free(rec);
      break;
    }
    case SR_EV_STREAM_ITEM: {
      const call_record *rec = (const call_record *)(uintptr_t)ev->call;
      if (rec->item) push_item(c, rec, &ev->msg->item);
      break;
    }
    default:
      break;
  }
}

/* ------------------------------------------------------------ commands to the I/O thread */

enum { CMD_START = 1, CMD_STOP, CMD_SEND, CMD_INVOKE, CMD_RESULT, CMD_FREE, CMD_STREAM, CMD_CANCEL };

typedef struct command {
  int type;
  signalr_connection *conn;
  call_record rec;
  int encoding;
  size_t args_len;
  char *method;
  char *error;
  uint8_t args[]; /* copied arguments, or the result / invocation id */
} command;

static void run_command(void *arg) {
  command *cmd = arg;
  signalr_connection *c = cmd->conn;
  int64_t now = sr_loop_now_ms();
  sr_payload args = {cmd->args, cmd->args_len, cmd->encoding};
  int rc = 0;
  if (!c->engine_ready && cmd->type != CMD_FREE) {
    rc = SIGNALR_ECLOSED;
  } else {
    switch (cmd->type) {
      case CMD_START:
        if (c->start_waiting || c->engine.state != SR_STATE_DISCONNECTED) {
          rc = SIGNALR_ESTATE;
          break;
        }
        c->start_done = cmd->rec;
        c->start_waiting = 1;
        cmd->rec.fn = NULL;
        rc = sr_engine_start(&c->engine, now);
        if (rc) {
          c->start_waiting = 0;
          cmd->rec = c->start_done;
        }
        break;
      case CMD_STOP:
        if (c->engine.state == SR_STATE_DISCONNECTED) break; /* already stopped: complete now */
        if (c->stop_waiting == (int)(sizeof c->stop_done / sizeof c->stop_done[0])) {
          rc = SIGNALR_EAGAIN;
          break;
        }
        c->stop_done[c->stop_waiting++] = cmd->rec;
        cmd->rec.fn = NULL;
        sr_engine_stop(&c->engine, now);
        break;
      case CMD_SEND:
        rc = sr_engine_send(&c->engine, now, cmd->method, &args, NULL, 0);
        if (rc) sr_log(c, SIGNALR_LOG_ERROR, "send of '%s' failed: %s", cmd->method, signalr_strerror(rc));
        break;
      case CMD_INVOKE:
      case CMD_STREAM: {
        call_record *rec = malloc(sizeof *rec);
        if (!rec) { rc = SIGNALR_ENOMEM; break; }
        *rec = cmd->rec;
        rc = sr_engine_invoke(&c->engine, now, cmd->type == CMD_STREAM ? SR_CALL_STREAM : SR_CALL_INVOKE,
                              cmd->method, &args, NULL, 0, (uint64_t)(uintptr_t)rec);
        if (rc) free(rec);
        else cmd->rec.fn = NULL;
        break;
      }
      case CMD_CANCEL: {
        /* Streams are few per connection: a scan of the pending calls finds the handle. */
        uint64_t token = 0;
        for (size_t i = 0; i < c->engine.calls.cap && !token; i++) {
          const sr_call *call = &c->engine.calls.slots[i];
          if (call->id && call->kind == SR_CALL_STREAM &&
              ((const call_record *)(uintptr_t)call->token)->handle == cmd->rec.handle)
            token = call->token;
        }
        cmd->rec.fn = NULL;
        if (token) rc = sr_engine_cancel(&c->engine, now, token); /* completes it: ECANCELED */
        break;
      }
      case CMD_RESULT: {
        sr_str id = {cmd->method, strlen(cmd->method)};
        rc = sr_engine_client_result(&c->engine, now, &id, cmd->error ? NULL : &args, cmd->error);
        break;
      }
      case CMD_FREE:
        if (c->engine_ready) {
          sr_engine_stop(&c->engine, now);
          if (c->http) sr_http_cancel(c->http);
          if (c->ws) sr_ws_free(c->ws);
          if (c->timer) sr_loop_timer_cancel(c->ctx->loop, c->timer);
          c->http = NULL;
          c->ws = NULL;
          c->timer = NULL;
          /* Pending calls still own their records. */
          sr_call call;
          while (sr_call_table_pop(&c->engine.calls, &call)) free((void *)(uintptr_t)call.token);
          /* Blocking start/stop calls in other threads must not wait forever. */
          sr_error_info gone;
          sr_error_set(&gone, SIGNALR_ECLOSED, 0, "the connection was freed");
          if (c->start_waiting) push_completion(c, c->start_done, &gone, NULL);
          c->start_waiting = 0;
          for (int i = 0; i < c->stop_waiting; i++) push_completion(c, c->stop_done[i], &gone, NULL);
          c->stop_waiting = 0;
          sr_engine_free(&c->engine);
          c->engine_ready = 0;
          for (size_t i = 0; i < c->cookie_count; i++) free(c->cookies[i]);
          free(c->cookies);
          c->cookies = NULL;
          c->cookie_count = 0;
        }
        sr_connection_unref(c); /* the reference the I/O thread held */
        break;
      default:
        break;
    }
  }
  if (cmd->type != CMD_FREE) {
    atomic_store(&c->state, c->engine_ready ? c->engine.state : SR_STATE_DISCONNECTED);
    if (cmd->rec.fn) { /* not taken over: complete now, with rc */
      sr_error_info err;
      if (rc) sr_error_set(&err, rc, 0, "%s", signalr_strerror(rc));
      push_completion(c, cmd->rec, rc ? &err : NULL, NULL);
    }
    if (c->engine_ready) arm_timer(c);
    sr_connection_unref(c);
  }
  free(cmd->method);
  free(cmd->error);
  free(cmd);
}

static int post_rec(signalr_connection *c, int type, const char *method, const void *args, size_t len,
                    int encoding, call_record rec, const char *error) {
  if (!c) return SIGNALR_EINVAL;
  if (atomic_load(&c->freed)) return SIGNALR_ECLOSED;
  command *cmd = calloc(1, sizeof *cmd + len);
  if (!cmd) return SIGNALR_ENOMEM;
  cmd->type = type;
  cmd->conn = c;
  cmd->rec = rec;
  cmd->encoding = encoding;
  cmd->args_len = len;
  if (len) memcpy(cmd->args, args, len);
  if ((method && !(cmd->method = strdup(method))) || (error && !(cmd->error = strdup(error)))) {
    free(cmd->method);
    free(cmd);
    return SIGNALR_ENOMEM;
  }
  conn_ref(c);
  int rc = sr_loop_post(c->ctx->loop, run_command, cmd);
  if (rc) {
    sr_connection_unref(c);
    free(cmd->method);
    free(cmd->error);
    free(cmd);
  }
  return rc;
}

static int post(signalr_connection *c, int type, const char *method, const void *args, size_t len, int encoding,
                signalr_completion_fn fn, void *ud, const char *error) {
  return post_rec(c, type, method, args, len, encoding, (call_record){.fn = fn, .ud = ud}, error);
}

/* ------------------------------------------------------------ public API */

int signalr_builder_build(signalr_builder *b, signalr_context *ctx, signalr_connection **out, char *errbuf,
                          size_t errlen) {
  if (errbuf && errlen) errbuf[0] = 0;
  if (!b || !ctx || !out) return SIGNALR_EINVAL;
  if (!b->s.engine.url) {
    if (errbuf && errlen) snprintf(errbuf, errlen, "the url option is required");
    return SIGNALR_EINVAL;
  }
  if (b->s.engine.skip_negotiation && b->s.engine.transports != SR_TRANSPORT_WEBSOCKETS) {
    if (errbuf && errlen)
      snprintf(errbuf, errlen, "Negotiation can only be skipped when using the WebSocket transport directly "
                               "(set transports=websockets).");
    return SIGNALR_EINVAL;
  }
  signalr_connection *c = calloc(1, sizeof *c);
  if (!c) return SIGNALR_ENOMEM;
  int rc = sr_settings_copy(&c->s, &b->s);
  if (rc) {
    free(c);
    return rc;
  }
  c->ctx = ctx;
  atomic_init(&c->refs, 2); /* the application's and the I/O thread's */
  pthread_mutex_init(&c->mu, NULL);
  c->next_handle = 1;
  sr_engine_io io = {c, io_negotiate, io_open, io_send, io_close, io_event};
  rc = sr_engine_init(&c->engine, &c->s.engine, &io);
  if (rc) {
    pthread_mutex_destroy(&c->mu);
    sr_settings_free(&c->s);
    free(c);
    return rc;
  }
  c->engine_ready = 1;
  atomic_fetch_add(&ctx->connections, 1);
  *out = c;
  return 0;
}

int signalr_connection_start(signalr_connection *c, signalr_completion_fn cb, void *ud) {
  return post(c, CMD_START, NULL, NULL, 0, 0, cb, ud, NULL);
}

int signalr_connection_stop(signalr_connection *c, signalr_completion_fn cb, void *ud) {
  return post(c, CMD_STOP, NULL, NULL, 0, 0, cb, ud, NULL);
}

/* Blocking calls wait for an internal completion that runs on the I/O thread (library code),
 * so they work without anyone polling the context. */
typedef struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int rc;
  signalr_error *err;
  atomic_int refs;
} waiter;

static void waiter_unref(waiter *w) {
  if (atomic_fetch_sub(&w->refs, 1) != 1) return;
  signalr_error_free(w->err);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w);
}

static void waiter_done(void *ud, signalr_connection *conn, const signalr_value *result, const signalr_error *err) {
  (void)conn; (void)result;
  waiter *w = ud;
  pthread_mutex_lock(&w->mu);
  w->done = 1;
  w->rc = err ? signalr_error_code(err) : 0;
  if (err) w->err = signalr_error_copy(err);
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  waiter_unref(w);
}

static int wait_for(signalr_connection *c, int type, int32_t timeout_ms, signalr_error **err) {
  if (err) *err = NULL;
  if (!c) return SIGNALR_EINVAL;
  if (sr_in_callback() || sr_loop_is_io_thread(c->ctx->loop)) return SIGNALR_ERECURSIVE;
  waiter *w = calloc(1, sizeof *w);
  if (!w) return SIGNALR_ENOMEM;
  pthread_mutex_init(&w->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cv, &attr);
  pthread_condattr_destroy(&attr);
  atomic_init(&w->refs, 2);
  int rc = post_rec(c, type, NULL, NULL, 0, 0, (call_record){.fn = waiter_done, .ud = w, .internal = 1}, NULL);
  if (rc) {
    waiter_unref(w);
    waiter_unref(w);
    return rc;
  }
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  if (timeout_ms >= 0) {
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
  }
  pthread_mutex_lock(&w->mu);
  int timed_out = 0;
  while (!w->done && !timed_out) {
    if (timeout_ms < 0) pthread_cond_wait(&w->cv, &w->mu);
    else timed_out = pthread_cond_timedwait(&w->cv, &w->mu, &until) != 0 && !w->done;
  }
  if (w->done) {
    rc = w->rc;
    if (err) { *err = w->err; w->err = NULL; }
  } else {
    rc = SIGNALR_ETIMEOUT;
  }
  pthread_mutex_unlock(&w->mu);
  waiter_unref(w);
  return rc;
}

int signalr_connection_start_blocking(signalr_connection *c, int32_t timeout_ms, signalr_error **err) {
  return wait_for(c, CMD_START, timeout_ms, err);
}

int signalr_connection_stop_blocking(signalr_connection *c, int32_t timeout_ms) {
  return wait_for(c, CMD_STOP, timeout_ms, NULL);
}

int signalr_connection_state(signalr_connection *c) {
  return c ? atomic_load(&c->state) : SIGNALR_STATE_DISCONNECTED;
}

int signalr_connection_id(signalr_connection *c, char *buf, size_t len) {
  if (!c || !buf || !len) return SIGNALR_EINVAL;
  pthread_mutex_lock(&c->mu);
  size_t n = strlen(c->connection_id);
  int rc = n < len ? 0 : SIGNALR_EINVAL;
  if (!rc) memcpy(buf, c->connection_id, n + 1);
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* Checks a call's method and encoding; NULL arguments mean an empty array. */
static int check_call(const char *method, const void **args, size_t *len, int encoding) {
  if (!method || !*method) return SIGNALR_EINVAL;
  if (encoding != SIGNALR_ENCODING_JSON && encoding != SIGNALR_ENCODING_MSGPACK) return SIGNALR_EINVAL;
  if (!*args) {
    *args = encoding == SIGNALR_ENCODING_MSGPACK ? (const void *)"\x90" : "[]";
    *len = encoding == SIGNALR_ENCODING_MSGPACK ? 1 : 2;
  }
  return 0;
}

int signalr_connection_send(signalr_connection *c, const char *method, const void *args, size_t len, int encoding) {
  int rc = check_call(method, &args, &len, encoding);
  return rc ? rc : post(c, CMD_SEND, method, args, len, encoding, NULL, NULL, NULL);
}

int signalr_connection_invoke(signalr_connection *c, const char *method, const void *args, size_t len, int encoding,
                              signalr_completion_fn cb, void *ud) {
  int rc = check_call(method, &args, &len, encoding);
  return rc ? rc : post(c, CMD_INVOKE, method, args, len, encoding, cb, ud, NULL);
}

int signalr_connection_stream(signalr_connection *c, const char *method, const void *args, size_t len, int encoding,
                              signalr_item_fn item, signalr_completion_fn done, void *ud, uint64_t *handle) {
  int rc = check_call(method, &args, &len, encoding);
  if (rc || !c) return rc ? rc : SIGNALR_EINVAL;
  call_record rec = {done, ud, 0, item, atomic_fetch_add(&c->next_stream_handle, 1) + 1};
  rc = post_rec(c, CMD_STREAM, method, args, len, encoding, rec, NULL);
  if (!rc && handle) *handle = rec.handle;
  return rc;
}

int signalr_connection_stream_cancel(signalr_connection *c, uint64_t handle) {
  if (!c || !handle) return SIGNALR_EINVAL;
  call_record rec = {0};
  rec.handle = handle;
  return post_rec(c, CMD_CANCEL, NULL, NULL, 0, 0, rec, NULL);
}

int signalr_connection_on(signalr_connection *c, const char *method, signalr_handler_fn fn, void *ud,
                          void (*free_ud)(void *), uint64_t *handle) {
  if (!c || !method || !*method || !fn) return SIGNALR_EINVAL;
  char *lower = strdup(method);
  sr_callback *cb = sr_callback_new((void (*)(void))fn, ud, free_ud);
  if (!lower || !cb) {
    free(lower);
    if (cb) { cb->free_user_data = NULL; sr_callback_unref(cb); }
    return SIGNALR_ENOMEM;
  }
  for (char *p = lower; *p; p++) *p = (char)tolower((unsigned char)*p);
  pthread_mutex_lock(&c->mu);
  handler *h = realloc(c->handlers, (c->handler_count + 1) * sizeof *h);
  int rc = 0;
  if (!h) rc = SIGNALR_ENOMEM;
  else {
    c->handlers = h;
    h[c->handler_count] = (handler){c->next_handle++, lower, cb};
    if (handle) *handle = h[c->handler_count].handle;
    c->handler_count++;
  }
  pthread_mutex_unlock(&c->mu);
  if (rc) {
    free(lower);
    cb->free_user_data = NULL;
    sr_callback_unref(cb);
  }
  return rc;
}

int signalr_connection_off(signalr_connection *c, uint64_t handle) {
  if (!c) return SIGNALR_EINVAL;
  sr_callback *gone = NULL;
  char *name = NULL;
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->handler_count; i++) {
    if (c->handlers[i].handle != handle) continue;
    gone = c->handlers[i].cb;
    name = c->handlers[i].method;
    memmove(&c->handlers[i], &c->handlers[i + 1], (c->handler_count - i - 1) * sizeof *c->handlers);
    c->handler_count--;
    break;
  }
  pthread_mutex_unlock(&c->mu);
  free(name);
  sr_callback_unref(gone);
  return gone ? 0 : SIGNALR_EINVAL;
}

void signalr_connection_free(signalr_connection *c) {
  if (!c || atomic_exchange(&c->freed, 1)) return;
  /* The context may be freed once every connection is: what is left of this one is torn
   * down by the FREE command, which the context's free runs before it stops the thread. */
  atomic_fetch_sub(&c->ctx->connections, 1);
  command *cmd = calloc(1, sizeof *cmd);
  if (cmd) {
    cmd->type = CMD_FREE;
    cmd->conn = c;
    if (sr_loop_post(c->ctx->loop, run_command, cmd) == 0) {
      sr_connection_unref(c); /* the application's reference */
      return;
    }
    free(cmd);
  }
  /* The loop is gone (context being freed): nothing runs on it any more. */
  sr_connection_unref(c);
  sr_connection_unref(c);
}

/* ------------------------------------------------------------ running events (app thread) */

static void run_handlers(sr_app_event *ev) {
  signalr_connection *c = ev->conn;
  const char *target = (const char *)ev->target.data;
  int wants_result = ev->invocation_id.len > 0;
  /* Snapshot the matching handlers: a handler may call on/off. */
  sr_callback *cbs[16];
  size_t n = 0;
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->handler_count && n < 16; i++)
    if (!strcasecmp(c->handlers[i].method, target)) cbs[n++] = sr_callback_ref(c->handlers[i].cb);
  pthread_mutex_unlock(&c->mu);
  signalr_value v = {ev->value.data, ev->value.len, ev->encoding, SR_BUF_INIT};
  const void *result = NULL;
  size_t result_len = 0;
  int result_encoding = SIGNALR_ENCODING_JSON;
  const char *error = NULL;
  int answered = 0, failed = 0;
  char errbuf[256];
  for (size_t i = 0; i < n; i++) {
    const void *r = NULL;
    size_t rl = 0;
    int re = SIGNALR_ENCODING_JSON;
    const char *e = NULL;
    int rc = ((signalr_handler_fn)cbs[i]->fn)(cbs[i]->user_data, c, &v, &r, &rl, &re, &e);
    if (!wants_result || answered || failed || atomic_load(&c->freed)) continue;
    if (rc < 0) {
      snprintf(errbuf, sizeof errbuf, "%s", e ? e : signalr_strerror(rc));
      error = errbuf;
      failed = 1;
    } else if (r) {
      result = r;
      result_len = rl;
      result_encoding = re;
      answered = 1;
      /* The result must be copied before the next handler runs. */
      if (!atomic_load(&c->freed)) post(c, CMD_RESULT, (const char *)ev->invocation_id.data, result, result_len,
                                        result_encoding, NULL, NULL, NULL);
    }
  }
  for (size_t i = 0; i < n; i++) sr_callback_unref(cbs[i]);
  sr_buf_free(&v.json);
  if (!n) sr_log(c, SIGNALR_LOG_WARNING, "no handler for the server's call to '%s'", target);
  if (wants_result && !answered && !atomic_load(&c->freed))
    post(c, CMD_RESULT, (const char *)ev->invocation_id.data, NULL, 0, SIGNALR_ENCODING_JSON, NULL, NULL,
         failed ? error : "Client didn't provide a result.");
}

void sr_connection_dispatch(sr_app_event *ev) {
  signalr_connection *c = ev->conn;
  if (!c || atomic_load(&c->freed)) return; /* freed: none of its callbacks start any more */
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
      run_handlers(ev);
      break;
    case SR_APP_LOG:
      ((signalr_log_fn)c->s.log->fn)(c->s.log->user_data, ev->level, (const char *)ev->value.data);
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
