/* The connection object: creation, references, start/stop (also blocking), state, free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/connection_internal.h"

void sr_conn_ref(signalr_connection *c) { atomic_fetch_add(&c->refs, 1); }

void sr_connection_unref(signalr_connection *c) {
  if (atomic_fetch_sub(&c->refs, 1) != 1) return;
  for (size_t i = 0; i < c->handler_count; i++) {
    free(c->handlers[i].method);
    sr_callback_unref(c->handlers[i].cb);
  }
  free(c->handlers);
  free(c->open_uploads);
  free(c->sent);
  free(c->stop_done);
  for (size_t i = 0; i < c->deferred_count; i++) free(c->deferred[i].invocation_id);
  free(c->deferred);
  free(c->diag_json);
  pthread_mutex_destroy(&c->mu);
  sr_settings_free(&c->s);
  free(c);
}

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
  c->s.engine.custom_retry = c->s.retry_policy != NULL;
  c->s.engine.random_seed = (uint64_t)(uintptr_t)c ^ (uint64_t)time(NULL);
  sr_engine_io io = sr_conn_engine_io(c);
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
  return sr_conn_post(c, CMD_START, NULL, NULL, 0, 0, cb, ud, NULL);
}

int signalr_connection_stop(signalr_connection *c, signalr_completion_fn cb, void *ud) {
  return sr_conn_post(c, CMD_STOP, NULL, NULL, 0, 0, cb, ud, NULL);
}

/* Blocking calls wait for an internal completion that runs on the I/O thread (library code),
 * so they work without anyone polling the context. */
typedef struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_int done;
  int rc;
  signalr_error *err;
  atomic_int refs;
  int want_result;
  int encoding;    /* the call's: the result is handed out in it */
  uint8_t *result; /* a copy of the invoke's result (malloc) */
  size_t result_len;
  uint64_t handle; /* the invoke's, for signalr_call_cancel */
} waiter;

static void waiter_unref(waiter *w) {
  if (atomic_fetch_sub(&w->refs, 1) != 1) return;
  free(w->result);
  signalr_error_free(w->err);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w);
}

/* Runs on the thread that runs the loop (internal record: never queued to the application). */
static void waiter_done(void *ud, signalr_connection *conn, const signalr_value *result, const signalr_error *err) {
  (void)conn;
  waiter *w = ud;
  pthread_mutex_lock(&w->mu);
  w->rc = err ? signalr_error_code(err) : 0;
  if (err) w->err = signalr_error_copy(err);
  if (!err && w->want_result && result && result->len) {
    /* in the call's encoding, as the application encoded its arguments (the wire's may be
     * the other one: JSON arguments on a MessagePack connection, say) */
    const uint8_t *data = result->data;
    size_t len = result->len;
    uint8_t *converted = NULL;
    int rc = 0;
    if (result->encoding != w->encoding) {
      const char *json = NULL;
      if (w->encoding == SIGNALR_ENCODING_JSON) rc = signalr_value_json(result, &json, &len), data = (const uint8_t *)json;
      else rc = signalr_json_to_msgpack((const char *)result->data, result->len, &converted, &len), data = converted;
    }
    if (!rc && (w->result = malloc(len ? len : 1))) {
      memcpy(w->result, data, len);
      w->result_len = len;
    } else {
      w->rc = rc ? rc : SIGNALR_ENOMEM;
      sr_error_info info;
      sr_error_set(&info, w->rc, 0, "the result could not be handed over in the call's encoding: %s",
                   signalr_strerror(w->rc));
      w->err = sr_error_new(&info);
    }
    signalr_free(converted);
  }
  atomic_store(&w->done, 1);
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  /* a caller that runs the loop itself may be in poll(): this thread, or another one */
  if (conn && sr_loop_is_io_thread(conn->ctx->loop)) sr_loop_end_wait(conn->ctx->loop);
  else if (conn) sr_loop_wake(conn->ctx->loop);
  waiter_unref(w);
}

static waiter *waiter_new(void) {
  waiter *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  pthread_mutex_init(&w->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cv, &attr);
  pthread_condattr_destroy(&attr);
  atomic_init(&w->refs, 2); /* the caller's and the completion's */
  return w;
}

typedef struct wait_deadline {
  sr_loop *loop;
  int passed;
} wait_deadline;

static void wait_deadline_passed(void *arg) {
  wait_deadline *d = arg;
  d->passed = 1;
  sr_loop_wake_self(d->loop); /* lws blocks in poll() after its timers */
}

/* Waits for the completion by running the loop on this thread, as a waiting
 * signalr_context_poll does: the reply is read, and the next call written, here, with no
 * hand-off to and from the I/O thread. 0 when the loop cannot be borrowed (another thread
 * runs it, or callbacks run on the I/O thread: SIGNALR_CONTEXT_DIRECT); 1 when it waited. */
static int wait_running_loop(signalr_connection *c, waiter *w, int32_t timeout_ms) {
  sr_loop *loop = c->ctx->loop;
  if ((c->ctx->flags & SIGNALR_CONTEXT_DIRECT) || !sr_loop_borrow(loop, 1)) return 0;
  wait_deadline d = {loop, 0};
  sr_timer *t = NULL;
  if (timeout_ms >= 0 &&
      !(t = sr_loop_timer_start(loop, sr_loop_now_ms() + timeout_ms, wait_deadline_passed, &d))) {
    sr_loop_return(loop);
    return 0;
  }
  while (!d.passed && !atomic_load(&w->done))
    if (sr_loop_lent_turn(loop, 1) < 0) break; /* stopping: the free completes it */
  if (t && !d.passed) sr_loop_timer_cancel(loop, t);
  sr_loop_return(loop);
  return 1;
}

/* Waits on the waiter's condition variable until done or the deadline. */
static void wait_cv(waiter *w, int32_t timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  if (timeout_ms >= 0) {
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
  }
  pthread_mutex_lock(&w->mu);
  int timed_out = 0;
  while (!atomic_load(&w->done) && !timed_out) {
    if (timeout_ms < 0) pthread_cond_wait(&w->cv, &w->mu);
    else timed_out = pthread_cond_timedwait(&w->cv, &w->mu, &until) != 0 && !atomic_load(&w->done);
  }
  pthread_mutex_unlock(&w->mu);
}

/* The waiter's outcome (under its mutex: the completion may run on another thread). */
static int waiter_take(waiter *w, signalr_error **err, void **result, size_t *result_len) {
  pthread_mutex_lock(&w->mu);
  int rc = SIGNALR_ETIMEOUT;
  if (atomic_load(&w->done)) {
    rc = w->rc;
    if (err) { *err = w->err; w->err = NULL; }
    if (result) { *result = w->result; w->result = NULL; }
    if (result_len) *result_len = w->result_len;
  }
  pthread_mutex_unlock(&w->mu);
  return rc;
}

/* A blocking start that ran out of time: which step it was at (the diagnostics snapshot), with
 * that step's hint; the start goes on. */
static signalr_error *start_timed_out(signalr_connection *c, int32_t timeout_ms) {
  static const char *const phases[] = {"negotiate", "transport", "handshake"};
  const char *phase = "start";
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; c->diag_json && i < sizeof phases / sizeof *phases; i++) {
    char key[40];
    snprintf(key, sizeof key, "\"phase\":\"%s\"", phases[i]);
    if (strstr(c->diag_json, key)) phase = phases[i];
  }
  pthread_mutex_unlock(&c->mu);
  sr_error_info info;
  sr_error_set(&info, SIGNALR_ETIMEOUT, 0, "not connected within %d ms (the start's time limit), at the %s step",
               (int)timeout_ms, phase);
  info.hint = !strcmp(phase, "transport") ? "The transport did not connect in time: a proxy or firewall may hold "
                                            "the WebSocket upgrade or the stream; allow another transport, or raise "
                                            "the time limit."
                                          : sr_error_hint(SR_STAGE_NEGOTIATE, SIGNALR_ETIMEOUT, 0);
  return sr_error_new(&info);
}

static int wait_for(signalr_connection *c, int type, int32_t timeout_ms, signalr_error **err) {
  if (err) *err = NULL;
  if (!c) return SIGNALR_EINVAL;
  if (sr_in_callback() || sr_loop_is_io_thread(c->ctx->loop)) return SIGNALR_ERECURSIVE;
  waiter *w = waiter_new();
  if (!w) return SIGNALR_ENOMEM;
  sr_app_event *cmd = sr_conn_command(c, type, NULL, NULL, 0, 0, NULL);
  int rc = cmd ? 0 : SIGNALR_ENOMEM;
  if (cmd) {
    cmd->done = waiter_done;
    cmd->done_ud = w;
    cmd->rec_internal = 1;
    rc = sr_conn_post_command(c, cmd);
  }
  if (rc) {
    waiter_unref(w);
    waiter_unref(w);
    return rc;
  }
  sr_loop_kick(c->ctx->loop); /* a lending poll's own posts wait for it otherwise */
  wait_cv(w, timeout_ms);
  rc = waiter_take(w, err, NULL, NULL);
  waiter_unref(w);
  if (rc == SIGNALR_ETIMEOUT && type == CMD_START && err && !*err) *err = start_timed_out(c, timeout_ms);
  return rc;
}

/* Posts an invoke whose completion fills w (internal: it runs on the thread that runs the loop). */
static int invoke_into(signalr_connection *c, const char *method, const void *args, size_t len, int encoding,
                       int want_result, int ordered, waiter **out) {
  waiter *w = waiter_new();
  if (!w) return SIGNALR_ENOMEM;
  w->want_result = want_result;
  w->encoding = encoding;
  /* the caller waits running the loop next: a parked I/O thread need not take it back */
  int borrow = !(c->ctx->flags & SIGNALR_CONTEXT_DIRECT) && !sr_in_callback();
  if (borrow) sr_loop_post_then_borrow(c->ctx->loop, 1);
  int rc = sr_conn_invoke_internal(c, method, args, len, encoding, waiter_done, w, ordered ? SR_REC_ORDERED : 1,
                                   &w->handle);
  if (borrow) sr_loop_post_then_borrow(c->ctx->loop, 0);
  if (rc) {
    waiter_unref(w);
    waiter_unref(w);
    return rc;
  }
  *out = w;
  return 0;
}

/* Waits for w by running the loop here, or on its condition variable when another thread
 * runs it; 1 when it completed. */
static int wait_done(signalr_connection *c, waiter *w, int32_t timeout_ms) {
  if (atomic_load(&w->done)) return 1;
  if (!wait_running_loop(c, w, timeout_ms)) {
    sr_loop_kick(c->ctx->loop); /* a lending poll's own posts wait for it otherwise */
    wait_cv(w, timeout_ms);
  }
  return atomic_load(&w->done);
}

int signalr_connection_invoke_blocking(signalr_connection *c, const char *method, const void *args, size_t len,
                                       int encoding, int32_t timeout_ms, void **result, size_t *result_len,
                                       signalr_error **err) {
  if (err) *err = NULL;
  if (result) *result = NULL;
  if (result_len) *result_len = 0;
  if (!c) return SIGNALR_EINVAL;
  if (sr_in_callback() || sr_loop_is_io_thread(c->ctx->loop)) return SIGNALR_ERECURSIVE;
  waiter *w = NULL;
  int rc = invoke_into(c, method, args, len, encoding, result != NULL, 0, &w);
  if (rc) return rc;
  int done = wait_done(c, w, timeout_ms);
  rc = waiter_take(w, err, result, result_len); /* the outcome first: the cancel would complete it */
  if (!done) sr_conn_cancel_call(c, w->handle); /* timed out: the engine forgets the call */
  waiter_unref(w); /* on a timeout, the completion's reference keeps it until the cancel ends it */
  return rc;
}

struct signalr_call {
  signalr_connection *conn; /* a reference: the struct outlives a signalr_connection_free */
  waiter *w;
  int taken; /* the outcome was handed out */
};

int signalr_connection_invoke_call(signalr_connection *c, const char *method, const void *args, size_t len,
                                   int encoding, int flags, signalr_call **out) {
  if (out) *out = NULL;
  if (!c || !out || (flags & ~SIGNALR_CALL_ORDERED)) return SIGNALR_EINVAL;
  signalr_call *call = calloc(1, sizeof *call);
  if (!call) return SIGNALR_ENOMEM;
  int rc = invoke_into(c, method, args, len, encoding, 1, flags & SIGNALR_CALL_ORDERED, &call->w);
  if (rc) {
    free(call);
    return rc;
  }
  sr_conn_ref(c);
  call->conn = c;
  *out = call;
  return 0;
}

int signalr_call_wait(signalr_call *call, int32_t timeout_ms, void **result, size_t *result_len,
                      signalr_error **err) {
  if (err) *err = NULL;
  if (result) *result = NULL;
  if (result_len) *result_len = 0;
  if (!call) return SIGNALR_EINVAL;
  if (call->taken) return SIGNALR_ESTATE;
  signalr_connection *c = call->conn;
  if (sr_in_callback() || sr_loop_is_io_thread(c->ctx->loop)) return SIGNALR_ERECURSIVE;
  if (!wait_done(c, call->w, timeout_ms)) return SIGNALR_EAGAIN;
  call->taken = 1;
  return waiter_take(call->w, err, result, result_len);
}

int signalr_call_cancel(signalr_call *call) {
  if (!call) return SIGNALR_EINVAL;
  if (atomic_load(&call->w->done)) return 0; /* it has its outcome: nothing to cancel */
  return sr_conn_cancel_call(call->conn, call->w->handle);
}

void signalr_call_free(signalr_call *call) {
  if (!call) return;
  if (!atomic_load(&call->w->done)) sr_conn_cancel_call(call->conn, call->w->handle); /* released, not left */
  waiter_unref(call->w); /* a pending completion keeps its own reference */
  sr_connection_unref(call->conn);
  free(call);
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

/* A queued completion of the freed connection: completed with SIGNALR_ECLOSED by the free. */
static void take_queued(void *ud, const sr_app_event *ev) {
  call_record rec = {.fn = ev->done, .ud = ev->done_ud};
  sr_free_wait_add(ud, &rec);
}

void signalr_connection_free(signalr_connection *c) {
  if (!c || atomic_exchange(&c->freed, 1)) return;
  /* The context may be freed once every connection is: what is left of this one is torn
   * down by the FREE command, which the context's free runs before it stops the thread. */
  atomic_fetch_sub(&c->ctx->connections, 1);
  int on_io = sr_loop_is_io_thread(c->ctx->loop);
  sr_free_wait w = {0};
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cv, NULL);
  sr_app_event *cmd = sr_conn_command(c, CMD_FREE, NULL, NULL, 0, 0, NULL);
  /* On the I/O thread (a direct-mode callback) the teardown cannot be waited for: it runs
   * after this callback, and completes what was pending there. */
  if (cmd) cmd->done_ud = on_io ? NULL : &w;
  int posted = cmd && sr_conn_post_command(c, cmd) == 0;
  if (posted && !on_io) {
    sr_loop_kick(c->ctx->loop); /* a lending poll's own posts wait for it otherwise */
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
  }
  if (!on_io) {
    /* What the I/O thread had already queued: completions run now, as closed; the rest goes. */
    sr_event_claim_connection(c->ctx, c, take_queued, &w);
    sr_free_wait_run(&w, c);
  }
  pthread_cond_destroy(&w.cv);
  pthread_mutex_destroy(&w.mu);
  if (!posted) sr_connection_unref(c); /* the loop is gone (context being freed): nothing runs on it */
  sr_connection_unref(c);               /* the application's reference */
}
