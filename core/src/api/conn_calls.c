/* The hub calls of the public API: send, invoke, streams both ways, handlers, and the
 * answers the application gives to the library's requests. Any thread. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api/connection_internal.h"

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

/* Send backpressure: the bytes accepted and not yet written (commands on their way to the I/O
 * thread or waiting there, plus the transport's queue) are bounded, and so is what stateful
 * reconnect keeps for the server's Ack. At a bound the caller gets EAGAIN, nothing accepted,
 * and SIGNALR_EVENT_WRITABLE is owed. The flag is set before the second look, so the I/O
 * thread, which lowers the counters before it reads the flag, cannot miss it. */
static int full(signalr_connection *c) {
  if (atomic_load(&c->out_pending) + atomic_load(&c->out_transport) >= c->s.send_buffer_bytes) return 1;
  return c->s.engine.stateful_reconnect && atomic_load(&c->unacked) >= c->s.engine.stateful_buffer_size;
}

static int backpressure(signalr_connection *c) {
  if (!full(c)) return 0;
  atomic_store(&c->want_writable, 1);
  return full(c) ? SIGNALR_EAGAIN : 0;
}

int sr_conn_backpressure(signalr_connection *c) { return backpressure(c); }

/* Marks the uploads as attached to a call; SIGNALR_ESTATE for an unknown or attached one. */
static int claim_uploads(signalr_connection *c, const uint64_t *uploads, size_t count, int claim) {
  int rc = 0;
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < count && !rc; i++) {
    size_t j = 0;
    while (j < c->open_upload_count && c->open_uploads[j].handle != uploads[i]) j++;
    if (j == c->open_upload_count || c->open_uploads[j].attached == claim) rc = SIGNALR_ESTATE;
    for (size_t k = 0; k < i && !rc; k++)
      if (uploads[k] == uploads[i]) rc = SIGNALR_EINVAL;
  }
  for (size_t i = 0; i < count && !rc; i++)
    for (size_t j = 0; j < c->open_upload_count; j++)
      if (c->open_uploads[j].handle == uploads[i]) c->open_uploads[j].attached = claim;
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* internal: cb is library code run on the thread that runs the loop (a blocking call's waiter). */
static int call_ex(signalr_connection *c, int type, const char *method, const void *args, size_t len, int encoding,
                   const uint64_t *uploads, size_t upload_count, signalr_completion_fn cb, void *ud,
                   signalr_item_fn item, uint64_t *handle, int internal) {
  int rc = check_call(method, &args, &len, encoding);
  if (rc || !c || upload_count > SR_MAX_UPLOADS || (upload_count && !uploads)) return rc ? rc : SIGNALR_EINVAL;
  if (atomic_load(&c->freed)) return SIGNALR_ECLOSED;
  if (c->s.engine.raw) return SIGNALR_EUNSUPPORTED; /* no hub protocol: signalr_connection_send_raw */
  /* Sends are refused, synchronously, when they cannot go out: not connected (the official
   * clients throw), or no room (EAGAIN). Invokes and streams are accepted and wait for room
   * on the I/O thread, as the official clients await; their completion reports the rest. */
  if (type == CMD_SEND && atomic_load(&c->state) != SIGNALR_STATE_CONNECTED) return SIGNALR_ESTATE;
  if (type == CMD_SEND && (rc = backpressure(c))) return rc;
  if (upload_count && (rc = claim_uploads(c, uploads, upload_count, 1))) return rc;
  sr_app_event *cmd = sr_conn_command(c, type, method, args, len, encoding, NULL);
  if (!cmd) rc = SIGNALR_ENOMEM;
  else {
    cmd->done = cb;
    cmd->done_ud = ud;
    cmd->rec_internal = internal;
    cmd->item = item;
    /* streams (signalr_connection_stream_cancel) and invokes (signalr_call_cancel) */
    if (type == CMD_STREAM || type == CMD_INVOKE) cmd->handle = atomic_fetch_add(&c->next_stream_handle, 1) + 1;
    if (handle) *handle = cmd->handle;
    cmd->upload_count = upload_count;
    if (upload_count) memcpy(cmd->uploads, uploads, upload_count * sizeof *uploads);
    cmd->cost = len;
    atomic_fetch_add(&c->out_pending, len);
    rc = sr_conn_post_command(c, cmd);
    if (rc) atomic_fetch_sub(&c->out_pending, len);
  }
  if (rc && upload_count) claim_uploads(c, uploads, upload_count, 0);
  return rc;
}

static int call(signalr_connection *c, int type, const char *method, const void *args, size_t len, int encoding,
                const uint64_t *uploads, size_t upload_count, signalr_completion_fn cb, void *ud,
                signalr_item_fn item, uint64_t *handle) {
  return call_ex(c, type, method, args, len, encoding, uploads, upload_count, cb, ud, item, handle, 0);
}

int signalr_connection_send(signalr_connection *c, const char *method, const void *args, size_t len, int encoding) {
  return call(c, CMD_SEND, method, args, len, encoding, NULL, 0, NULL, NULL, NULL, NULL);
}

int signalr_connection_send_with_completion(signalr_connection *c, const char *method, const void *args,
                                            size_t len, int encoding, signalr_completion_fn cb, void *ud) {
  if (!cb) return SIGNALR_EINVAL;
  return call(c, CMD_SEND, method, args, len, encoding, NULL, 0, cb, ud, NULL, NULL);
}

int signalr_connection_invoke(signalr_connection *c, const char *method, const void *args, size_t len, int encoding,
                              signalr_completion_fn cb, void *ud) {
  return call(c, CMD_INVOKE, method, args, len, encoding, NULL, 0, cb, ud, NULL, NULL);
}

int sr_conn_invoke_internal(signalr_connection *c, const char *method, const void *args, size_t len, int encoding,
                            signalr_completion_fn cb, void *ud, int internal, uint64_t *handle) {
  return call_ex(c, CMD_INVOKE, method, args, len, encoding, NULL, 0, cb, ud, NULL, handle, internal);
}

int signalr_connection_send_with_uploads(signalr_connection *c, const char *method, const void *args, size_t len,
                                         int encoding, const uint64_t *uploads, size_t count) {
  return call(c, CMD_SEND, method, args, len, encoding, uploads, count, NULL, NULL, NULL, NULL);
}

int signalr_connection_invoke_with_uploads(signalr_connection *c, const char *method, const void *args,
                                           size_t len, int encoding, const uint64_t *uploads, size_t count,
                                           signalr_completion_fn cb, void *ud) {
  return call(c, CMD_INVOKE, method, args, len, encoding, uploads, count, cb, ud, NULL, NULL);
}

int signalr_connection_stream(signalr_connection *c, const char *method, const void *args, size_t len, int encoding,
                              signalr_item_fn item, signalr_completion_fn done, void *ud, uint64_t *handle) {
  return call(c, CMD_STREAM, method, args, len, encoding, NULL, 0, done, ud, item, handle);
}

int signalr_connection_stream_with_uploads(signalr_connection *c, const char *method, const void *args, size_t len,
                                           int encoding, const uint64_t *uploads, size_t count, signalr_item_fn item,
                                           signalr_completion_fn done, void *ud, uint64_t *handle) {
  return call(c, CMD_STREAM, method, args, len, encoding, uploads, count, done, ud, item, handle);
}

int signalr_connection_stream_cancel(signalr_connection *c, uint64_t handle) {
  if (!c || !handle) return SIGNALR_EINVAL;
  sr_app_event *cmd = atomic_load(&c->freed) ? NULL : sr_conn_command(c, CMD_CANCEL, NULL, NULL, 0, 0, NULL);
  if (!cmd) return atomic_load(&c->freed) ? SIGNALR_ECLOSED : SIGNALR_ENOMEM;
  cmd->handle = handle;
  return sr_conn_post_command(c, cmd);
}

int sr_conn_cancel_call(signalr_connection *c, uint64_t handle) {
  if (!c || !handle) return SIGNALR_EINVAL;
  sr_app_event *cmd = atomic_load(&c->freed) ? NULL : sr_conn_command(c, CMD_CANCEL_CALL, NULL, NULL, 0, 0, NULL);
  if (!cmd) return atomic_load(&c->freed) ? 0 : SIGNALR_ENOMEM; /* (the free completes it: ECLOSED) */
  cmd->handle = handle;
  return sr_conn_post_command(c, cmd);
}

/* ------------------------------------------------------------ upload streams */

int signalr_connection_upload_open(signalr_connection *c, uint64_t *stream) {
  if (!c || !stream) return SIGNALR_EINVAL;
  if (atomic_load(&c->freed)) return SIGNALR_ECLOSED;
  uint64_t h = atomic_fetch_add(&c->next_stream_handle, 1) + 1;
  int rc = 0;
  pthread_mutex_lock(&c->mu);
  struct open_upload *grown = realloc(c->open_uploads, (c->open_upload_count + 1) * sizeof *grown);
  if (!grown) rc = SIGNALR_ENOMEM;
  else {
    c->open_uploads = grown;
    c->open_uploads[c->open_upload_count++] = (struct open_upload){h, 0};
    *stream = h;
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* 1 when the upload is open and attached; with `close`, forgets it. */
static int upload_usable(signalr_connection *c, uint64_t stream, int close) {
  int found = 0, attached = 0;
  pthread_mutex_lock(&c->mu);
  for (size_t j = 0; j < c->open_upload_count; j++) {
    if (c->open_uploads[j].handle != stream) continue;
    found = 1;
    attached = c->open_uploads[j].attached;
    if (close) {
      c->open_uploads[j] = c->open_uploads[--c->open_upload_count];
    }
    break;
  }
  pthread_mutex_unlock(&c->mu);
  return found && attached;
}

int signalr_connection_upload_write(signalr_connection *c, uint64_t stream, const void *item, size_t len,
                                    int encoding) {
  if (!c || !item || !len || (encoding != SIGNALR_ENCODING_JSON && encoding != SIGNALR_ENCODING_MSGPACK))
    return SIGNALR_EINVAL;
  if (len > UINT32_MAX) return SIGNALR_ETOOBIG;
  if (atomic_load(&c->freed)) return SIGNALR_ECLOSED;
  if (atomic_load(&c->state) != SIGNALR_STATE_CONNECTED) return SIGNALR_ECLOSED;
  int rc = backpressure(c);
  if (rc) return rc;
  sr_upload_record r = {stream, (uint32_t)len, encoding};
  atomic_fetch_add(&c->out_pending, len);
  pthread_mutex_lock(&c->mu);
  size_t j = 0;
  while (j < c->open_upload_count && c->open_uploads[j].handle != stream) j++;
  if (j == c->open_upload_count || !c->open_uploads[j].attached) {
    rc = SIGNALR_ESTATE;
  } else {
    /* One command per batch of items: the pool, the loop's queue and the connection's
     * reference are paid per batch (a burst of items is one post and one I/O-thread turn). */
    sr_app_event *b = c->upload_batch;
    int fresh = !b;
    if (fresh && !(b = sr_conn_command(c, CMD_UPLOAD_BATCH, NULL, NULL, 0, 0, NULL))) rc = SIGNALR_ENOMEM;
    size_t at = b ? b->value.len : 0;
    if (!rc && (sr_buf_append(&b->value, &r, sizeof r) || sr_buf_append(&b->value, item, len))) {
      b->value.len = at; /* the batch stays as it was */
      rc = SIGNALR_ENOMEM;
    }
    if (!rc) b->cost += len;
    if (fresh && b && b->value.len == 0) { /* nothing in it: never posted */
      sr_event_release(c->ctx, b);
      b = NULL;
    }
    int keep_open = b && b->value.len < SR_UPLOAD_BATCH_MAX;
    c->upload_batch = keep_open ? b : NULL;
    atomic_store_explicit(&c->upload_batch_open, keep_open, memory_order_relaxed);
    if (fresh && b) {
      int prc = sr_conn_post_command(c, b); /* the batch's own post: does not seal it */
      if (prc) {
        c->upload_batch = NULL;
        atomic_store_explicit(&c->upload_batch_open, 0, memory_order_relaxed);
        rc = prc;
      }
    }
  }
  pthread_mutex_unlock(&c->mu);
  if (rc) atomic_fetch_sub(&c->out_pending, len);
  return rc;
}

int signalr_connection_upload_complete(signalr_connection *c, uint64_t stream, const char *error) {
  if (!c) return SIGNALR_EINVAL;
  if (atomic_load(&c->freed)) return SIGNALR_ECLOSED;
  if (!upload_usable(c, stream, 1)) return SIGNALR_ESTATE;
  sr_app_event *cmd = sr_conn_command(c, CMD_UPLOAD_DONE, NULL, NULL, 0, 0, error);
  if (!cmd) return SIGNALR_ENOMEM;
  cmd->handle = stream;
  return sr_conn_post_command(c, cmd);
}

/* ------------------------------------------------------------ token provider answers */

int signalr_connection_answer_token(signalr_connection *c, const char *token, int error) {
  if (!c || error > 0) return SIGNALR_EINVAL;
  if (atomic_load(&c->freed)) return SIGNALR_ECLOSED;
  if (!atomic_exchange(&c->token_outstanding, 0)) return SIGNALR_ESTATE;
  sr_app_event *cmd = sr_conn_command(c, CMD_TOKEN, error ? NULL : token, NULL, 0, 0, NULL);
  if (!cmd) return SIGNALR_ENOMEM;
  cmd->u.token_rc = error;
  return sr_conn_post_command(c, cmd);
}

/* ------------------------------------------------------------ handlers */

uint32_t sr_handler_hash(const char *name) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    unsigned char ch = *p >= 'A' && *p <= 'Z' ? (unsigned char)(*p + 32) : *p;
    h = (h ^ ch) * 16777619u;
  }
  return h;
}

size_t sr_handler_find(const signalr_connection *c, uint32_t hash) {
  size_t lo = 0, hi = c->handler_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (c->handlers[mid].hash < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
  for (char *p = lower; *p; p++) if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32); /* ASCII, as the hash */
  uint32_t hash = sr_handler_hash(lower);
  pthread_mutex_lock(&c->mu);
  handler *h = realloc(c->handlers, (c->handler_count + 1) * sizeof *h);
  int rc = 0;
  if (!h) rc = SIGNALR_ENOMEM;
  else {
    c->handlers = h;
    size_t at = sr_handler_find(c, hash + 1); /* after the handlers of this hash (hash + 1 may wrap: then at the end) */
    if (hash == UINT32_MAX) at = c->handler_count;
    memmove(&h[at + 1], &h[at], (c->handler_count - at) * sizeof *h);
    h[at] = (handler){hash, c->next_handle++, lower, cb};
    if (handle) *handle = h[at].handle;
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

