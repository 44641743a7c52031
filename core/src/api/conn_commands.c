/* Commands: the application's calls, carried to the I/O thread in pooled event objects
 * (no allocation per call once warm), run there against the engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/connection_internal.h"

sr_app_event *sr_conn_command(signalr_connection *c, int type, const char *method, const void *data, size_t len,
                              int encoding, const char *error) {
  sr_app_event *cmd = sr_event_alloc(c->ctx);
  if (!cmd) return NULL;
  cmd->kind = type;
  cmd->encoding = encoding;
  int rc = len ? sr_buf_append(&cmd->value, data, len) : 0;
  if (!rc && method) rc = sr_buf_puts(&cmd->target, method);
  if (!rc) rc = sr_buf_terminate(&cmd->target);
  if (!rc && error) {
    cmd->has_error = 1;
    snprintf(cmd->error.message, sizeof cmd->error.message, "%s", error);
  }
  if (rc) {
    sr_event_release(c->ctx, cmd);
    return NULL;
  }
  cmd->conn = c;
  sr_conn_ref(c);
  return cmd;
}

static void run_command(void *arg);

/* Closes the open upload batch (only: just that one), so items written from now on go after
 * the command being posted (or into a new batch once the I/O thread took this one). */
static void seal_upload_batch(signalr_connection *c, const sr_app_event *only) {
  if (!atomic_load_explicit(&c->upload_batch_open, memory_order_relaxed)) return;
  pthread_mutex_lock(&c->mu);
  if (c->upload_batch && (!only || c->upload_batch == only)) {
    c->upload_batch = NULL;
    atomic_store_explicit(&c->upload_batch_open, 0, memory_order_relaxed);
  }
  pthread_mutex_unlock(&c->mu);
}

int sr_conn_post_command(signalr_connection *c, sr_app_event *cmd) {
  /* a batch is posted under mu by its first item (it stays open); any other command seals */
  if (cmd->kind != CMD_UPLOAD_BATCH) seal_upload_batch(c, NULL);
  int rc = atomic_load(&c->freed) && cmd->kind != CMD_FREE ? SIGNALR_ECLOSED
                                                          : (cmd->post.fn = run_command, cmd->post.arg = cmd,
                                                             sr_loop_post_embedded(c->ctx->loop, &cmd->post));
  if (rc) sr_event_release(c->ctx, cmd);
  return rc;
}

int sr_conn_post(signalr_connection *c, int type, const char *method, const void *data, size_t len, int encoding,
                 signalr_completion_fn fn, void *ud, const char *error) {
  if (!c) return SIGNALR_EINVAL;
  if (atomic_load(&c->freed)) return SIGNALR_ECLOSED;
  sr_app_event *cmd = sr_conn_command(c, type, method, data, len, encoding, error);
  if (!cmd) return SIGNALR_ENOMEM;
  cmd->done = fn;
  cmd->done_ud = ud;
  return sr_conn_post_command(c, cmd);
}

static call_record record_of(const sr_app_event *cmd) {
  return (call_record){.fn = cmd->done, .ud = cmd->done_ud, .internal = cmd->rec_internal, .item = cmd->item,
                       .handle = cmd->handle};
}

/* Attaches the command's uploads: their engine ids, in order, into ids/store. */
static int attach_uploads(signalr_connection *c, const sr_app_event *cmd, sr_str *ids) {
  for (size_t i = 0; i < cmd->upload_count; i++) {
    if (c->upload_count == c->upload_cap) {
      size_t cap = c->upload_cap ? c->upload_cap * 2 : 4;
      upload_slot *grown = realloc(c->uploads, cap * sizeof *grown);
      if (!grown) return SIGNALR_ENOMEM;
      c->uploads = grown;
      c->upload_cap = cap;
    }
    upload_slot *slot = &c->uploads[c->upload_count];
    int rc = sr_engine_new_stream_id(&c->engine, slot->id, sizeof slot->id);
    if (rc) return rc;
    slot->handle = cmd->uploads[i];
    c->upload_count++;
  }
  /* Pointers only once every slot exists: the array may have moved while growing. */
  for (size_t i = 0; i < cmd->upload_count; i++) {
    const upload_slot *slot = &c->uploads[c->upload_count - cmd->upload_count + i];
    ids[i] = (sr_str){slot->id, strlen(slot->id)};
  }
  return 0;
}

const char *sr_conn_upload_id(signalr_connection *c, uint64_t handle) {
  for (size_t i = 0; i < c->upload_count; i++)
    if (c->uploads[i].handle == handle) return c->uploads[i].id;
  return NULL;
}

void sr_conn_upload_forget(signalr_connection *c, uint64_t handle) {
  for (size_t i = 0; i < c->upload_count; i++) {
    if (c->uploads[i].handle != handle) continue;
    c->uploads[i] = c->uploads[--c->upload_count];
    return;
  }
}

/* A send's failure reaches the application: its completion, or SIGNALR_EVENT_SEND_FAILED. */
static void send_failed(signalr_connection *c, const char *method, int rc) {
  sr_error_info err;
  int state = sr_engine_state(&c->engine);
  if (rc == SIGNALR_ESTATE && state != SR_STATE_CONNECTED) /* it waited its turn, and the connection went */
    sr_error_set(&err, rc, 0, "send of '%s': a message accepted for sending was not written: the connection was %s "
                 "when its turn came", method,
                 state == SR_STATE_RECONNECTING ? "reconnecting" : state == SR_STATE_DISCONNECTING ? "stopping" : "closed");
  else
    sr_error_set(&err, rc, 0, "send of '%s' failed: %s", method, signalr_strerror(rc));
  sr_conn_push_lifecycle(c, SIGNALR_EVENT_SEND_FAILED, &err);
}

static int run_call(signalr_connection *c, sr_app_event *cmd, int64_t now) {
  sr_payload args = {cmd->value.data, cmd->value.len, cmd->encoding};
  const char *method = (const char *)cmd->target.data;
  sr_str ids[SR_MAX_UPLOADS];
  size_t before = c->upload_count;
  int rc = attach_uploads(c, cmd, ids);
  if (!rc && cmd->kind == CMD_SEND) {
    c->sending_app = 1;
    rc = sr_engine_send(&c->engine, now, method, &args, ids, cmd->upload_count);
    c->sending_app = 0;
    if (rc && !cmd->done) send_failed(c, method, rc);
  } else if (!rc) {
    call_record from = record_of(cmd);
    call_record *rec = sr_conn_record_new(c, &from);
    if (!rec) rc = SIGNALR_ENOMEM;
    else {
      rc = sr_engine_invoke(&c->engine, now, cmd->kind == CMD_STREAM ? SR_CALL_STREAM : SR_CALL_INVOKE, method,
                            &args, ids, cmd->upload_count, (uint64_t)(uintptr_t)rec);
      if (rc) sr_conn_record_free(c, rec);
      else cmd->done = NULL; /* the record completes it */
    }
  } else if (cmd->kind == CMD_SEND && !cmd->done) {
    send_failed(c, method, rc);
  }
  if (rc) c->upload_count = before; /* the uploads stay unattached on the server's side */
  return rc;
}

static int stream_has_handle(void *ud, uint64_t token) {
  return ((const call_record *)(uintptr_t)token)->handle == *(const uint64_t *)ud;
}

static int run_cancel(signalr_connection *c, sr_app_event *cmd, int64_t now) {
  /* Streams are few per connection: a scan of the pending calls finds the handle. */
  uint64_t token = sr_engine_find_stream(&c->engine, stream_has_handle, &cmd->handle);
  return token ? sr_engine_cancel(&c->engine, now, token) : 0; /* completes it: ECANCELED */
}

static int invoke_has_handle(void *ud, uint64_t token) { return stream_has_handle(ud, token); }

/* signalr_call_cancel: the invoke completes now with SIGNALR_ECANCELED, whether it still waits
 * for room (parked) or for the server's answer (then the engine forgets it: a late completion
 * finds no call and is dropped). Nothing goes to the server: SignalR has no cancel for an
 * invocation, as the official clients' canceled InvokeAsync. Done already: nothing. */
static void run_cancel_call(signalr_connection *c, const sr_app_event *cancel) {
  sr_error_info err;
  sr_error_set(&err, SIGNALR_ECANCELED, 0, "The invocation was canceled; a result the server sends later is dropped.");
  for (sr_app_event **at = &c->parked, *prev = NULL; *at; prev = *at, at = &(*at)->next) {
    sr_app_event *cmd = *at;
    if (cmd->kind != CMD_INVOKE || cmd->handle != cancel->handle) continue;
    *at = cmd->next;
    if (c->parked_tail == cmd) c->parked_tail = prev;
    if (cmd->cost) atomic_fetch_sub(&c->out_pending, cmd->cost);
    sr_conn_push_completion(c, record_of(cmd), &err, NULL);
    sr_event_release(c->ctx, cmd);
    return;
  }
  uint64_t token = sr_engine_find_call(&c->engine, SR_CALL_INVOKE, invoke_has_handle, (void *)&cancel->handle);
  if (token) sr_engine_forget_call(&c->engine, token, &err); /* its SR_EV_COMPLETION completes it */
}

static void upload_failed(signalr_connection *c, const char *id, int rc, int item) {
  sr_error_info err;
  sr_error_set(&err, rc, 0, "upload stream %s: %s %s", id ? id : "(gone)",
               item ? "an item could not be sent:" : "its completion could not be sent:", signalr_strerror(rc));
  sr_conn_push_lifecycle(c, SIGNALR_EVENT_SEND_FAILED, &err);
}

/* Every item of the batch in order; one that cannot go is reported, the others still go. */
static int run_upload_batch(signalr_connection *c, sr_app_event *cmd, int64_t now) {
  const uint8_t *p = cmd->value.data, *end = p + cmd->value.len;
  while (p + sizeof(sr_upload_record) <= end) {
    sr_upload_record r;
    memcpy(&r, p, sizeof r);
    p += sizeof r;
    const char *id = sr_conn_upload_id(c, r.handle);
    if (!id) { /* its call failed, or the connection was lost since */
      upload_failed(c, NULL, SIGNALR_ECLOSED, 1);
    } else {
      sr_payload item = {p, r.len, r.encoding};
      c->sending_app = 1;
      int rc = sr_engine_stream_item(&c->engine, now, id, &item);
      c->sending_app = 0;
      if (rc) upload_failed(c, id, rc, 1);
    }
    p += r.len;
  }
  return 0;
}

static int run_upload_done(signalr_connection *c, sr_app_event *cmd, int64_t now) {
  const char *id = sr_conn_upload_id(c, cmd->handle);
  if (!id) return SIGNALR_ECLOSED; /* its call failed, or the connection was lost since */
  int rc = sr_engine_stream_complete(&c->engine, now, id, cmd->has_error ? cmd->error.message : NULL);
  sr_conn_upload_forget(c, cmd->handle);
  if (rc) upload_failed(c, id, rc, 0);
  return rc;
}

static int run_start(signalr_connection *c, sr_app_event *cmd, int64_t now) {
  if (c->start_waiting || sr_engine_state(&c->engine) != SR_STATE_DISCONNECTED) return SIGNALR_ESTATE;
  c->start_done = record_of(cmd);
  c->start_waiting = 1;
  cmd->done = NULL;
  c->upload_count = 0; /* uploads of an earlier connection are gone */
  int rc = sr_engine_start(&c->engine, now);
  if (rc) {
    c->start_waiting = 0;
    cmd->done = c->start_done.fn;
  }
  return rc;
}

static int run_stop(signalr_connection *c, sr_app_event *cmd, int64_t now) {
  if (sr_engine_state(&c->engine) == SR_STATE_DISCONNECTED) return 0; /* already stopped: complete now */
  if (c->stop_waiting == c->stop_cap) {
    int cap = c->stop_cap ? 2 * c->stop_cap : 4;
    call_record *grown = realloc(c->stop_done, (size_t)cap * sizeof *grown);
    if (!grown) return SIGNALR_ENOMEM;
    c->stop_done = grown;
    c->stop_cap = cap;
  }
  c->stop_done[c->stop_waiting++] = record_of(cmd);
  cmd->done = NULL;
  sr_engine_stop(&c->engine, now);
  return 0;
}

/* Commands that put a message on the wire keep their order; those that add bytes wait while
 * the outgoing side is full (the transport's queue, or the stateful-reconnect buffer). */
static int is_message(int kind) {
  return kind == CMD_SEND || kind == CMD_INVOKE || kind == CMD_STREAM || kind == CMD_UPLOAD_BATCH ||
         kind == CMD_UPLOAD_DONE || kind == CMD_RESULT || kind == CMD_CANCEL || kind == CMD_SEND_RAW;
}

static int needs_room(int kind) {
  return kind == CMD_SEND || kind == CMD_INVOKE || kind == CMD_STREAM || kind == CMD_UPLOAD_BATCH ||
         kind == CMD_SEND_RAW;
}

static int has_room(signalr_connection *c) {
  if (c->transport && sr_transport_queued_bytes(c->transport) >= c->s.send_buffer_bytes) return 0;
  return !(c->engine.stateful && sr_engine_unacked_bytes(&c->engine) >= c->s.engine.stateful_buffer_size);
}

/* Runs one command on the I/O thread and releases it. */
static void execute(signalr_connection *c, sr_app_event *cmd) {
  signalr_context *ctx = c->ctx;
  int64_t now = sr_loop_now_ms();
  int rc = 0;
  if (!c->engine_ready) {
    rc = SIGNALR_ECLOSED;
  } else {
    switch (cmd->kind) {
      case CMD_START: rc = run_start(c, cmd, now); break;
      case CMD_STOP: rc = run_stop(c, cmd, now); break;
      case CMD_SEND:
      case CMD_INVOKE:
      case CMD_STREAM: rc = run_call(c, cmd, now); break;
      case CMD_CANCEL: rc = run_cancel(c, cmd, now); cmd->done = NULL; break;
      case CMD_RESULT: {
        sr_str id = {(const char *)cmd->target.data, cmd->target.len};
        sr_payload result = {cmd->value.data, cmd->value.len, cmd->encoding};
        if (cmd->u.session != sr_engine_session(&c->engine)) { /* the call's server connection is gone */
          sr_conn_log(c, SIGNALR_LOG_WARNING, "dropped the answer to the server's call %s: the connection it came "
                      "on is gone", id.ptr);
          break;
        }
        rc = sr_engine_client_result(&c->engine, now, &id, cmd->has_error ? NULL : &result,
                                     cmd->has_error ? cmd->error.message : NULL);
        break;
      }
      case CMD_UPLOAD_BATCH: rc = run_upload_batch(c, cmd, now); break;
      case CMD_UPLOAD_DONE: rc = run_upload_done(c, cmd, now); break;
      case CMD_TOKEN:
        sr_conn_token_answered(c, cmd->target.len ? (const char *)cmd->target.data : NULL, cmd->u.token_rc);
        break;
      case CMD_RETRY: sr_engine_on_retry_delay(&c->engine, now, cmd->u.delay_ms); break;
      case CMD_CANCEL_CALL: run_cancel_call(c, cmd); break;
      case CMD_SEND_RAW: {
        c->sending_app = 1;
        rc = sr_engine_send_raw(&c->engine, now, cmd->value.data, cmd->value.len);
        c->sending_app = 0;
        if (rc) {
          sr_error_info err;
          sr_error_set(&err, rc, 0, "a raw message of %zu bytes was not sent: %s", cmd->value.len, signalr_strerror(rc));
          sr_conn_push_lifecycle(c, SIGNALR_EVENT_SEND_FAILED, &err);
        }
        break;
      }
      case CMD_SET_URL: rc = sr_engine_set_url(&c->engine, (const char *)cmd->target.data); break;
      case CMD_SET_TIMEOUTS:
        sr_engine_set_timeouts(&c->engine, cmd->u.timeouts.server_timeout_ms, cmd->u.timeouts.keep_alive_ms);
        break; /* (the settle after every command re-arms the engine's timer) */
      default: break;
    }
  }
  if (cmd->cost) atomic_fetch_sub(&c->out_pending, cmd->cost);
  if (cmd->done) { /* not taken over: complete now, with rc */
    sr_error_info err;
    if (rc) sr_error_set(&err, rc, 0, "%s", signalr_strerror(rc));
    sr_conn_push_completion(c, record_of(cmd), rc ? &err : NULL, NULL);
  }
  sr_event_release(ctx, cmd);
}

void sr_conn_run_parked(signalr_connection *c) {
  while (c->parked && c->engine_ready) {
    sr_app_event *cmd = c->parked;
    if (needs_room(cmd->kind) && !has_room(c)) return;
    c->parked = cmd->next;
    if (!c->parked) c->parked_tail = NULL;
    cmd->next = NULL;
    execute(c, cmd);
  }
}

static void run_command(void *arg) {
  sr_app_event *cmd = arg;
  signalr_connection *c = cmd->conn;
  signalr_context *ctx = c->ctx;
  if (cmd->kind == CMD_FREE) {
    sr_free_wait *w = cmd->done_ud;
    sr_conn_teardown(c, w);
    sr_connection_unref(c); /* the reference the I/O thread held */
    sr_event_release(ctx, cmd);
    sr_event_flush(ctx); /* so that the free finds what this turn queued for the connection */
    if (w) {
      pthread_mutex_lock(&w->mu);
      w->done = 1;
      pthread_cond_signal(&w->cv);
      pthread_mutex_unlock(&w->mu);
    }
    return;
  }
  if (cmd->kind == CMD_UPLOAD_BATCH) seal_upload_batch(c, cmd); /* taken: later items make a new one */
  if (cmd->kind == CMD_RESUME) {
    atomic_store(&c->resume_posted, 0);
    sr_event_release(ctx, cmd);
    if (c->engine_ready) sr_conn_settle(c);
    return;
  }
  if (c->engine_ready && is_message(cmd->kind) && (c->parked || (needs_room(cmd->kind) && !has_room(c)))) {
    cmd->next = NULL; /* waits its turn: sr_conn_settle runs it when there is room */
    if (c->parked_tail) c->parked_tail->next = cmd;
    else c->parked = cmd;
    c->parked_tail = cmd;
    return;
  }
  execute(c, cmd);
  sr_conn_settle_later(c);
}
