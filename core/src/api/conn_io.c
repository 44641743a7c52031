/* The engine's I/O on the I/O thread: negotiate over HTTP, the transports, cookies and
 * headers, the access-token provider and the retry policy, the engine's timer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/connection_internal.h"
#include "transport/cookie_jar.h"

static void sent_trim(signalr_connection *c);
static size_t sent_lost(signalr_connection *c, size_t unsent);

static void on_engine_timer(void *arg) {
  signalr_connection *c = arg;
  c->timer = NULL;
  sr_engine_on_timer(&c->engine, sr_loop_now_ms());
  sr_conn_settle(c);
}

void sr_conn_arm_timer(signalr_connection *c) {
  int64_t at = c->engine_ready ? sr_engine_deadline(&c->engine) : INT64_MAX;
  if (c->timer && at == c->timer_at) return;
  if (c->timer) sr_loop_timer_cancel(c->ctx->loop, c->timer);
  c->timer = NULL;
  if (at == INT64_MAX) return;
  c->timer_at = at;
  c->timer = sr_loop_timer_start(c->ctx->loop, at, on_engine_timer, c);
}

/* What the application thread reads without the I/O thread's help. */
void sr_conn_mirror(signalr_connection *c) {
  if (!c->engine_ready) return;
  atomic_store(&c->state, sr_engine_state(&c->engine));
  atomic_store(&c->unacked, sr_engine_unacked_bytes(&c->engine));
  atomic_store(&c->out_transport, c->transport ? sr_transport_queued_bytes(c->transport) : 0);
  sr_conn_publish_diag(c);
}

/* Receive flow control: pause the transport when the application's backlog reaches the
 * bound, read again when it has halved. The application side posts CMD_RESUME as it drains
 * (sr_connection_consumed); the re-check after setting rx_paused closes the race with a
 * drain that finished just before. */
static void flow_control(signalr_connection *c) {
  size_t limit = c->s.app_buffer_bytes, queued = atomic_load(&c->queued_bytes);
  if (!c->transport) {
    c->io_paused = 0;
    atomic_store(&c->rx_paused, 0);
    return;
  }
  if (!c->io_paused && queued >= limit) {
    c->io_paused = 1;
    atomic_store(&c->rx_paused, 1);
    sr_transport_pause(c->transport, 1);
    sr_engine_pause_receive(&c->engine, sr_loop_now_ms(), 1);
    sr_conn_log(c, SIGNALR_LOG_DEBUG, "%zu bytes of events wait for the application: reading paused", queued);
    queued = atomic_load(&c->queued_bytes);
  }
  if (c->io_paused && queued < limit / 2) {
    c->io_paused = 0;
    atomic_store(&c->rx_paused, 0);
    sr_engine_pause_receive(&c->engine, sr_loop_now_ms(), 0);
    sr_transport_pause(c->transport, 0); /* may close it (a poll that cannot start): last */
  }
}

/* Sending has room again after an EAGAIN: tell the application once. */
static void maybe_writable(signalr_connection *c) {
  if (!atomic_load(&c->want_writable)) return;
  size_t out = atomic_load(&c->out_pending) + atomic_load(&c->out_transport);
  if (out > c->s.send_buffer_bytes / 2) return;
  if (c->s.engine.stateful_reconnect && atomic_load(&c->unacked) >= c->s.engine.stateful_buffer_size) return;
  if (atomic_exchange(&c->want_writable, 0)) sr_conn_push_lifecycle(c, SIGNALR_EVENT_WRITABLE, NULL);
}

void sr_conn_settle(signalr_connection *c) {
  if (!c->engine_ready) return;
  sr_conn_run_parked(c);
  sr_conn_mirror(c);
  maybe_writable(c);
  if (c->engine_ready) flow_control(c);
  sr_conn_arm_timer(c);
}

void sr_conn_settle_later(signalr_connection *c) {
  if (c->settle_queued) return;
  c->settle_queued = 1;
  sr_conn_ref(c); /* until it is settled */
  c->settle_next = c->ctx->settle_head;
  c->ctx->settle_head = c;
}

void sr_conn_settle_turn(signalr_context *ctx) {
  while (ctx->settle_head) {
    signalr_connection *c = ctx->settle_head;
    ctx->settle_head = c->settle_next;
    c->settle_next = NULL;
    c->settle_queued = 0;
    if (c->engine_ready) sr_conn_settle(c);
    else sr_conn_mirror(c);
    sr_connection_unref(c);
  }
}

/* ------------------------------------------------------------ call records */

call_record *sr_conn_record_new(signalr_connection *c, const call_record *from) {
  call_record *r = c->free_records;
  if (r) c->free_records = r->next_free;
  else if (!(r = malloc(sizeof *r))) return NULL;
  *r = *from;
  r->next_free = NULL;
  return r;
}

void sr_conn_record_free(signalr_connection *c, call_record *rec) {
  rec->next_free = c->free_records;
  c->free_records = rec;
}

/* Headers for one request: the configured ones, the bearer token and, for a WebSocket
 * upgrade (ws_url; it does not go through libcurl), the jar's cookies for that URL. HTTP
 * requests get theirs from libcurl's cookie engine. The strings live in `store` until the
 * request has been started. */
static const char **request_headers(signalr_connection *c, const char *bearer, const char *ws_url, sr_buf *store,
                                    const char **list) {
  size_t n = 0;
  for (size_t i = 0; i < c->s.header_count; i++) list[n++] = c->s.headers[i];
  const char *token = bearer ? bearer : c->token ? c->token : c->s.access_token;
  size_t offsets[2];
  int count = 0;
  store->len = 0;
  if (token) {
    offsets[count++] = store->len;
    sr_buf_puts(store, "Authorization: Bearer ");
    sr_buf_puts(store, token);
    sr_buf_putc(store, 0);
  }
  if (ws_url && c->jar) {
    size_t at = store->len;
    if (sr_cookie_jar_header(c->jar, ws_url, store) == 1) offsets[count++] = at;
  }
  for (int i = 0; i < count && store->data; i++) list[n++] = (const char *)store->data + offsets[i];
  list[n] = NULL;
  return list;
}

/* ------------------------------------------------------------ negotiate */

static void on_negotiated(void *ud, const sr_http_response *resp) {
  signalr_connection *c = ud;
  c->http = NULL;
  int64_t now = sr_loop_now_ms();
  if (resp->error_code) {
    sr_error_info err;
    sr_error_set(&err, resp->error_code, 0, "negotiate failed: %s", resp->error_text ? resp->error_text : "");
    sr_engine_on_negotiate(&c->engine, now, 0, NULL, 0, &err);
  } else {
    sr_conn_log(c, SIGNALR_LOG_DEBUG, "negotiate answered %d", resp->status);
    sr_engine_on_negotiate(&c->engine, now, resp->status, (const char *)resp->body, resp->body_len, NULL);
  }
  sr_conn_settle(c);
}

/* Appends the User-Agent to a NULL-terminated header list (room for one more), unless the
 * application set its own. */
static void add_user_agent(signalr_connection *c, const char **list, char *buf, size_t len);

static const char *user_agent(signalr_connection *c, char *buf, size_t len) {
  static const char name[] = "User-Agent: ";
  memcpy(buf, name, sizeof name);
  sr_format_user_agent(buf + sizeof name - 1, len - (sizeof name - 1), c->s.binding);
  return buf;
}

static void add_user_agent(signalr_connection *c, const char **list, char *buf, size_t len) {
  size_t n = 0;
  for (; list[n]; n++)
    if (!strncasecmp(list[n], "User-Agent:", 11)) return;
  list[n] = user_agent(c, buf, len);
  list[n + 1] = NULL;
}

/* What every request of the connection carries, negotiate and transports alike: the
 * configured headers, the bearer token, the cookies and the User-Agent (strings live in
 * store until the request has started), and the TLS and proxy settings. */
typedef struct request_base {
  const char *small[16]; /* the list when it fits (most connections set a few headers) */
  const char **list;     /* every configured header, the token, the cookies, the User-Agent */
  char ua[256];
  sr_buf store;
} request_base;

static int prepare_request(signalr_connection *c, const char *bearer, const char *ws_url, request_base *r) {
  r->store = (sr_buf)SR_BUF_INIT;
  /* one jar per connection, across negotiate, its redirects, every transport and restart */
  if (!c->jar && !(c->jar = sr_cookie_jar_new())) return SIGNALR_ENOMEM;
  size_t need = c->s.header_count + 4; /* + Authorization, Cookie, User-Agent, NULL */
  r->list = need <= sizeof r->small / sizeof r->small[0] ? r->small : malloc(need * sizeof *r->list);
  if (!r->list) return SIGNALR_ENOMEM;
  request_headers(c, bearer, ws_url, &r->store, r->list);
  add_user_agent(c, r->list, r->ua, sizeof r->ua);
  return 0;
}

static void request_done(request_base *r) {
  if (r->list != r->small) free(r->list);
  sr_buf_free(&r->store);
}

/* The network options of one request, borrowed from the settings and base. */
static sr_net_options network_options(const signalr_connection *c, const request_base *base,
                                      int32_t connect_timeout_ms) {
  return (sr_net_options){.headers = base->list,
                          .ca_file = c->s.ca_file,
                          .insecure = c->s.insecure,
                          .proxy = c->s.proxy,
                          .client_cert = c->s.client_cert,
                          .client_key = c->s.client_key,
                          .connect_timeout_ms = connect_timeout_ms,
                          .cookies = c->jar};
}

static int start_negotiate(signalr_connection *c, const char *url, const char *bearer) {
  request_base base;
  if (prepare_request(c, bearer, NULL, &base)) return SIGNALR_ENOMEM;
  sr_http_request_cfg cfg = {0};
  cfg.method = "POST";
  cfg.url = url;
  cfg.net = network_options(c, &base, 0); /* (the whole request is bounded: timeout_ms) */
  cfg.timeout_ms = 100000;
  sr_conn_log(c, SIGNALR_LOG_DEBUG, "negotiating with %s", url);
  int rc = sr_http_start(c->ctx->loop, &cfg, on_negotiated, c, &c->http);
  request_done(&base);
  return rc;
}

/* ------------------------------------------------------------ transports */

static void t_on_open(void *ud) {
  signalr_connection *c = ud;
  sr_engine_on_open(&c->engine, sr_loop_now_ms());
  sr_conn_settle(c);
}

static void t_on_message(void *ud, const uint8_t *data, size_t len) {
  signalr_connection *c = ud;
  sr_engine_on_data(&c->engine, sr_loop_now_ms(), data, len);
  sr_conn_settle(c);
}

static void t_on_drain(void *ud) {
  sent_trim(ud);
  sr_conn_settle(ud);
}

static void t_on_close(void *ud, const sr_transport_close_info *info) {
  signalr_connection *c = ud;
  c->io_paused = 0; /* the next transport starts reading */
  atomic_store(&c->rx_paused, 0);
  const char *name = sr_transport_name(sr_transport_kind(c->transport));
  sr_error_info err, *failure = NULL;
  if (info->error) {
    sr_error_set(&err, info->error, info->http_status, "%s %s: %s", name,
                 info->opened ? "connection lost" : "failed to connect", info->reason);
    failure = &err;
  } else if (info->close_code && info->close_code != 1000) {
    sr_error_set(&err, SIGNALR_ETRANSPORT, 0, "WebSocket closed with status code: %d (%s).", info->close_code,
                 info->reason);
    failure = &err;
  }
  /* Bytes accepted and never written (a stop that hit close_timeout_ms, a lost connection)
   * are reported, never dropped in silence; with stateful reconnect the engine replays them. */
  size_t unsent = sr_transport_queued_bytes(c->transport);
  size_t lost = unsent && !sr_engine_is_stateful(&c->engine) ? sent_lost(c, unsent) : 0;
  for (size_t i = 0; i < lost; i++) { /* one per message, as for a send that failed earlier */
    sr_error_info e;
    sr_error_set(&e, info->error ? info->error : SIGNALR_ECLOSED, 0,
                 "a message accepted for sending was not written (%zu of %zu, %zu bytes unwritten in all): the %s "
                 "connection closed (%s)", i + 1, lost, unsent, name,
                 info->reason && *info->reason ? info->reason : "no reason given");
    sr_conn_push_lifecycle(c, SIGNALR_EVENT_SEND_FAILED, &e);
  }
  c->sent_head = c->sent_len = c->sent_bytes = 0;
  sr_transport_free(c->transport); /* info lives in the transport: read it all first */
  c->transport = NULL;
  sr_engine_on_closed(&c->engine, sr_loop_now_ms(), failure);
  sr_conn_settle(c);
}

static int start_transport(signalr_connection *c, int kind, const char *url, const char *bearer, int binary) {
  request_base base;
  if (prepare_request(c, bearer, kind == SR_TRANSPORT_WEBSOCKETS ? url : NULL, &base)) return SIGNALR_ENOMEM;
  sr_transport_config cfg = {0};
  cfg.kind = kind;
  cfg.url = url;
  cfg.net = network_options(c, &base, c->s.engine.handshake_timeout_ms);
  cfg.binary = binary;
  cfg.max_message_size = c->s.engine.max_message_size;
  cfg.close_timeout_ms = c->s.close_timeout_ms;
  /* room for what the send bound lets through plus one large message: sends wait before the
   * transport's own limit is reached (sr_conn_settle), so it never refuses what we accepted */
  cfg.max_send_queue = c->s.send_buffer_bytes + c->s.engine.max_message_size + SR_TRANSPORT_BATCH_SLACK;
  if (cfg.max_send_queue < (16u << 20)) cfg.max_send_queue = 16u << 20;
  static const sr_transport_callbacks cbs = {t_on_open, t_on_message, t_on_close, t_on_drain};
  sr_conn_log(c, SIGNALR_LOG_DEBUG, "opening %s", sr_transport_name(kind));
  int rc = sr_transport_connect(c->ctx->loop, &cfg, &cbs, c, &c->transport);
  request_done(&base);
  return rc;
}

/* ------------------------------------------------------------ the access-token provider */

/* With a provider, a request waits for its answer (the provider runs on the application's
 * thread). A redirect's token (bearer) is used as is. */
static int needs_token(signalr_connection *c, const char *bearer) { return c->s.token_provider && !bearer; }

static int wait_for_token(signalr_connection *c, int what, const char *url, int kind, int binary) {
  c->pending_url.len = 0;
  if (sr_buf_puts(&c->pending_url, url) || sr_buf_terminate(&c->pending_url)) return SIGNALR_ENOMEM;
  c->token_for = what;
  c->pending_transport = kind;
  c->pending_binary = binary;
  sr_conn_push_token_request(c);
  return 0;
}

/* A failure the engine learns about later, as if from the request itself. */
typedef struct deferred_failure {
  signalr_connection *c;
  int what;
  sr_error_info err;
} deferred_failure;

static void deliver_failure(void *arg) {
  deferred_failure *f = arg;
  signalr_connection *c = f->c;
  if (c->engine_ready) {
    int64_t now = sr_loop_now_ms();
    if (f->what == TOKEN_FOR_NEGOTIATE) sr_engine_on_negotiate(&c->engine, now, 0, NULL, 0, &f->err);
    else sr_engine_on_closed(&c->engine, now, &f->err);
    sr_conn_settle(c);
  }
  sr_connection_unref(c);
  sr_error_release(&f->err);
  free(f);
}

static void fail_later(signalr_connection *c, int what, const sr_error_info *err) {
  deferred_failure *f = malloc(sizeof *f);
  if (!f) return; /* out of memory: the engine's handshake timeout is not armed; nothing better */
  f->c = c;
  f->what = what;
  f->err.full = NULL;
  sr_error_assign(&f->err, err);
  sr_conn_ref(c);
  if (sr_loop_post(c->ctx->loop, deliver_failure, f)) {
    sr_connection_unref(c);
    sr_error_release(&f->err);
    free(f);
  }
}

void sr_conn_token_answered(signalr_connection *c, const char *token, int error) {
  int what = c->token_for;
  if (what == TOKEN_FOR_NONE) return; /* canceled meanwhile (stop) */
  c->token_for = TOKEN_FOR_NONE;
  int rc = error;
  if (!rc) {
    free(c->token);
    c->token = token && *token ? strdup(token) : NULL;
    if (token && *token && !c->token) rc = SIGNALR_ENOMEM;
  }
  const char *url = (const char *)c->pending_url.data;
  if (!rc) rc = what == TOKEN_FOR_NEGOTIATE ? start_negotiate(c, url, NULL)
                                            : start_transport(c, c->pending_transport, url, NULL, c->pending_binary);
  if (!rc) return;
  sr_error_info err;
  sr_error_set(&err, rc, 0, "%s", error ? "the access token provider failed" : signalr_strerror(rc));
  if (error) err.hint = "The access token provider returned an error; the connection attempt was abandoned.";
  fail_later(c, what, &err);
}

/* ------------------------------------------------------------ the engine's I/O */

static int io_negotiate(void *ud, const char *url, const char *bearer) {
  signalr_connection *c = ud;
  if (needs_token(c, bearer)) return wait_for_token(c, TOKEN_FOR_NEGOTIATE, url, 0, 0);
  return start_negotiate(c, url, bearer);
}

static int io_open(void *ud, int kind, const char *url, const char *bearer, int binary) {
  signalr_connection *c = ud;
  if (needs_token(c, bearer)) return wait_for_token(c, TOKEN_FOR_OPEN, url, kind, binary);
  return start_transport(c, kind, url, bearer, binary);
}

#define SR_SENT_APP 0x80000000u
#define SENT_AT(c, i) ((c)->sent[((c)->sent_head + (i)) % (c)->sent_cap])

/* Forgets the oldest messages while the rest still cover what the transport holds. */
static void sent_trim(signalr_connection *c) {
  size_t queued = c->transport ? sr_transport_queued_bytes(c->transport) : 0;
  while (c->sent_len) {
    size_t oldest = SENT_AT(c, 0) & ~SR_SENT_APP;
    if (c->sent_bytes - oldest < queued) break;
    c->sent_bytes -= oldest;
    c->sent_head = (c->sent_head + 1) % c->sent_cap;
    c->sent_len--;
  }
}

static void sent_push(signalr_connection *c, size_t len, int app) {
  sent_trim(c);
  if (c->sent_len == c->sent_cap) {
    size_t cap = c->sent_cap ? c->sent_cap * 2 : 64;
    uint32_t *n = malloc(cap * sizeof *n);
    if (!n) return; /* the count of a later report may then be short: nothing else is lost */
    for (size_t i = 0; i < c->sent_len; i++) n[i] = SENT_AT(c, i);
    free(c->sent);
    c->sent = n;
    c->sent_cap = cap;
    c->sent_head = 0;
  }
  uint32_t size = len >= SR_SENT_APP ? SR_SENT_APP - 1 : (uint32_t)len;
  c->sent[(c->sent_head + c->sent_len) % c->sent_cap] = size | (app ? SR_SENT_APP : 0);
  c->sent_len++;
  c->sent_bytes += size;
}

/* The sends and upload items among the newest messages that cover `unsent` bytes. */
static size_t sent_lost(signalr_connection *c, size_t unsent) {
  size_t bytes = 0, lost = 0;
  for (size_t i = c->sent_len; i-- > 0 && bytes < unsent;) {
    bytes += SENT_AT(c, i) & ~SR_SENT_APP;
    lost += (SENT_AT(c, i) & SR_SENT_APP) != 0;
  }
  return lost;
}

static int io_send(void *ud, const uint8_t *data, size_t len) {
  signalr_connection *c = ud;
  if (!c->transport) return SIGNALR_ECLOSED;
  int rc = sr_transport_send(c->transport, data, len);
  if (!rc) sent_push(c, len, c->sending_app);
  return rc;
}

static void io_close(void *ud) {
  signalr_connection *c = ud;
  if (c->http) {
    sr_http_cancel(c->http);
    c->http = NULL;
  }
  if (c->token_for == TOKEN_FOR_OPEN) { /* the engine waits for the transport's close */
    sr_error_info err;
    sr_error_set(&err, SIGNALR_ECANCELED, 0, "canceled while waiting for the access token");
    fail_later(c, TOKEN_FOR_OPEN, &err);
  }
  c->token_for = TOKEN_FOR_NONE;
  atomic_store(&c->token_outstanding, 0);
  if (c->transport) sr_transport_close(c->transport);
}

static int io_retry(void *ud, uint32_t attempt, int64_t elapsed_ms, const sr_error_info *last) {
  sr_conn_push_retry_request(ud, attempt, elapsed_ms, last);
  return 0;
}

static void finish_stops(signalr_connection *c) {
  for (int i = 0; i < c->stop_waiting; i++) sr_conn_push_completion(c, c->stop_done[i], NULL, NULL);
  c->stop_waiting = 0;
}

/* No id while not connected (closed, or reconnecting to get a new one), as the official
 * clients' ConnectionId (null then). */
static void forget_connection_id(signalr_connection *c) {
  pthread_mutex_lock(&c->mu);
  c->connection_id[0] = '\0';
  pthread_mutex_unlock(&c->mu);
}

static void io_event(void *ud, const sr_engine_event *ev) {
  signalr_connection *c = ud;
  atomic_store(&c->state, sr_engine_state(&c->engine));
  sr_conn_publish_diag(c); /* before a start's completion wakes whoever reads it */
  switch (ev->type) {
    case SR_EV_START_COMPLETED: {
      if (!ev->error) {
        pthread_mutex_lock(&c->mu);
        snprintf(c->connection_id, sizeof c->connection_id, "%s", sr_engine_connection_id(&c->engine));
        pthread_mutex_unlock(&c->mu);
        sr_conn_log(c, SIGNALR_LOG_INFORMATION, "connected (connection id %s)", c->connection_id);
      } else {
        sr_conn_log(c, SIGNALR_LOG_ERROR, "failed to start: %s", ev->error->message);
      }
      call_record rec = c->start_done;
      c->start_done = (call_record){0};
      c->start_waiting = 0;
      sr_conn_push_completion(c, rec, ev->error, NULL);
      if (!ev->error) sr_conn_push_lifecycle(c, SIGNALR_EVENT_CONNECTED, NULL);
      else finish_stops(c);
      break;
    }
    case SR_EV_CLOSED:
      if (ev->error) sr_conn_log(c, SIGNALR_LOG_ERROR, "connection closed: %s", ev->error->message);
      else sr_conn_log(c, SIGNALR_LOG_INFORMATION, "connection closed without an error (stopped, or a Close "
                       "message from the server without one)");
      forget_connection_id(c);
      sr_conn_push_lifecycle(c, SIGNALR_EVENT_CLOSED, ev->error);
      finish_stops(c);
      break;
    case SR_EV_RECONNECTING:
      sr_conn_log(c, SIGNALR_LOG_WARNING, "connection lost, reconnecting: %s", ev->error ? ev->error->message : "");
      c->upload_count = 0; /* the server forgot the upload streams with the connection */
      forget_connection_id(c);
      sr_conn_push_lifecycle(c, SIGNALR_EVENT_RECONNECTING, ev->error);
      break;
    case SR_EV_RECONNECTED:
      pthread_mutex_lock(&c->mu);
      snprintf(c->connection_id, sizeof c->connection_id, "%s", sr_engine_connection_id(&c->engine));
      pthread_mutex_unlock(&c->mu);
      sr_conn_log(c, SIGNALR_LOG_INFORMATION, "reconnected (connection id %s)", c->connection_id);
      sr_conn_push_lifecycle(c, SIGNALR_EVENT_RECONNECTED, NULL);
      break;
    case SR_EV_SLOW:
      sr_conn_log(c, SIGNALR_LOG_WARNING, "no message from the server for 2/3 of the server timeout");
      sr_conn_push_lifecycle(c, SIGNALR_EVENT_SLOW, NULL);
      break;
    case SR_EV_INVOCATION:
      sr_conn_push_handler(c, ev->msg);
      break;
    case SR_EV_COMPLETION: {
      call_record *rec = (call_record *)(uintptr_t)ev->call;
      if (ev->error) {
        sr_conn_push_completion(c, *rec, ev->error, NULL);
      } else if (ev->msg->completion_kind == SR_COMPLETION_ERROR) {
        sr_error_info err;
        sr_error_set_long(&err, SIGNALR_EHUB, 0, "", ev->msg->error.ptr, ev->msg->error.len); /* whole */
        sr_conn_push_completion(c, *rec, &err, NULL);
        sr_error_release(&err);
      } else {
        sr_conn_push_completion(c, *rec, NULL, ev->msg->completion_kind == SR_COMPLETION_RESULT ? &ev->msg->result : NULL);
      }
      sr_conn_record_free(c, rec);
      break;
    }
    case SR_EV_RAW:
      sr_conn_push_raw(c, &ev->msg->arguments);
      break;
    case SR_EV_STREAM_ITEM: {
      const call_record *rec = (const call_record *)(uintptr_t)ev->call;
      if (rec->item) sr_conn_push_item(c, rec, &ev->msg->item);
      break;
    }
    default:
      break;
  }
}

sr_engine_io sr_conn_engine_io(signalr_connection *c) {
  sr_engine_io io = {c, io_negotiate, io_open, io_send, io_close, io_event, io_retry};
  return io;
}

void sr_free_wait_add(sr_free_wait *w, const call_record *rec) {
  if (!rec->fn) return;
  if (w->count == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 16;
    call_record *grown = realloc(w->recs, cap * sizeof *grown);
    if (!grown) return; /* out of memory: this completion cannot be kept */
    w->recs = grown;
    w->cap = cap;
  }
  w->recs[w->count++] = *rec;
}

void sr_free_wait_run(sr_free_wait *w, signalr_connection *c) {
  signalr_error gone;
  sr_error_set(&gone.info, SIGNALR_ECLOSED, 0, "the connection was freed");
  int was = sr_enter_callback();
  for (size_t i = 0; i < w->count; i++) w->recs[i].fn(w->recs[i].ud, c, NULL, &gone);
  sr_leave_callback(was);
  free(w->recs);
  w->recs = NULL;
  w->count = w->cap = 0;
}

void sr_conn_teardown(signalr_connection *c, sr_free_wait *w) {
  if (!c->engine_ready) return;
  sr_free_wait local = {0};
  sr_free_wait *into = w ? w : &local;
  /* The transport goes first, aborted: a stop now would wait for a peer that may not read. */
  if (c->http) sr_http_cancel(c->http);
  if (c->transport) sr_transport_free(c->transport);
  if (c->timer) sr_loop_timer_cancel(c->ctx->loop, c->timer);
  c->http = NULL;
  c->transport = NULL;
  c->timer = NULL;
  c->token_for = TOKEN_FOR_NONE;
  /* Every pending operation completes once, with SIGNALR_ECLOSED, on the freeing thread:
   * calls in the engine, commands that waited for room, start and stop. */
  uint64_t token;
  while (sr_engine_take_call(&c->engine, &token)) {
    call_record *rec = (call_record *)(uintptr_t)token;
    sr_free_wait_add(into, rec);
    free(rec);
  }
  while (c->parked) {
    sr_app_event *cmd = c->parked;
    c->parked = cmd->next;
    call_record rec = {.fn = cmd->done, .ud = cmd->done_ud, .internal = cmd->rec_internal};
    sr_free_wait_add(into, &rec);
    sr_event_release(c->ctx, cmd);
  }
  c->parked_tail = NULL;
  if (c->start_waiting) sr_free_wait_add(into, &c->start_done);
  c->start_waiting = 0;
  for (int i = 0; i < c->stop_waiting; i++) sr_free_wait_add(into, &c->stop_done[i]);
  c->stop_waiting = 0;
  /* The engine must not report anything any more: its callbacks would queue events. */
  sr_engine_mute(&c->engine);
  sr_engine_free(&c->engine);
  c->engine_ready = 0;
  sr_cookie_jar_free(c->jar); /* after the transport and request that used it */
  c->jar = NULL;
  for (call_record *r = c->free_records, *next; r; r = next) {
    next = r->next_free;
    free(r);
  }
  c->free_records = NULL;
  free(c->uploads);
  c->uploads = NULL;
  c->upload_count = c->upload_cap = 0;
  free(c->token);
  c->token = NULL;
  sr_buf_free(&c->pending_url);
  if (!w) sr_free_wait_run(&local, c); /* on the I/O thread (a direct-mode free) */
}
