/* The context: the I/O thread and the queue that hands events to the application's thread. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "api/internal.h"
#include "runtime/loop.h"

/* Events kept for reuse; beyond this, memory goes back to the system. */
#define MAX_FREE_EVENTS 1024

static _Thread_local int in_callback;

int sr_in_callback(void) { return in_callback; }

int signalr_context_new(signalr_context **out, int flags) {
  if (!out || (flags & ~SIGNALR_CONTEXT_DIRECT)) return SIGNALR_EINVAL;
  signalr_context *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return SIGNALR_ENOMEM;
  ctx->flags = flags;
  pthread_mutex_init(&ctx->mu, NULL);
  ctx->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (ctx->wake_fd < 0) {
    pthread_mutex_destroy(&ctx->mu);
    free(ctx);
    return SIGNALR_ENOMEM;
  }
  int rc = sr_loop_new(&ctx->loop);
  if (rc) {
    close(ctx->wake_fd);
    pthread_mutex_destroy(&ctx->mu);
    free(ctx);
    return rc;
  }
  *out = ctx;
  return 0;
}

static void free_event_memory(sr_app_event *ev) {
  sr_buf_free(&ev->value);
  sr_buf_free(&ev->target);
  sr_buf_free(&ev->invocation_id);
  free(ev);
}

int signalr_context_free(signalr_context *ctx) {
  if (!ctx) return 0;
  if (in_callback) return SIGNALR_ERECURSIVE;
  if (atomic_load(&ctx->connections)) return SIGNALR_ESTATE;
  sr_loop_free(ctx->loop); /* runs what is still posted (connection teardown) first */
  for (sr_app_event *ev = ctx->head, *next; ev; ev = next) {
    next = ev->next;
    if (ev->conn) sr_connection_unref(ev->conn);
    free_event_memory(ev);
  }
  for (sr_app_event *ev = ctx->free_list, *next; ev; ev = next) {
    next = ev->next;
    free_event_memory(ev);
  }
  close(ctx->wake_fd);
  pthread_mutex_destroy(&ctx->mu);
  free(ctx);
  return 0;
}

sr_app_event *sr_event_alloc(signalr_context *ctx) {
  pthread_mutex_lock(&ctx->mu);
  sr_app_event *ev = ctx->free_list;
  if (ev) {
    ctx->free_list = ev->next;
    ctx->free_count--;
  }
  pthread_mutex_unlock(&ctx->mu);
  if (!ev && !(ev = calloc(1, sizeof *ev))) return NULL;
  sr_buf value = ev->value, target = ev->target, id = ev->invocation_id;
  memset(ev, 0, sizeof *ev);
  ev->value = value;
  ev->target = target;
  ev->invocation_id = id;
  ev->value.len = ev->target.len = ev->invocation_id.len = 0;
  return ev;
}

void sr_event_release(signalr_context *ctx, sr_app_event *ev) {
  if (ev->conn) sr_connection_unref(ev->conn);
  ev->conn = NULL;
  pthread_mutex_lock(&ctx->mu);
  if (ctx->free_count < MAX_FREE_EVENTS) {
    ev->next = ctx->free_list;
    ctx->free_list = ev;
    ctx->free_count++;
    ev = NULL;
  }
  pthread_mutex_unlock(&ctx->mu);
  if (ev) free_event_memory(ev);
}

static void run(signalr_context *ctx, sr_app_event *ev) {
  int was = in_callback;
  in_callback = 1;
  sr_connection_dispatch(ev);
  in_callback = was;
  sr_event_release(ctx, ev);
}

static void wake(signalr_context *ctx) {
  uint64_t one = 1;
  ssize_t n = write(ctx->wake_fd, &one, sizeof one);
  (void)n; /* a full counter is still readable: nothing is lost */
}

void sr_event_push(signalr_context *ctx, sr_app_event *ev) {
  if (ev->internal) {
    ev->internal_fn(ev);
    sr_event_release(ctx, ev);
    return;
  }
  if (ctx->flags & SIGNALR_CONTEXT_DIRECT) {
    run(ctx, ev);
    return;
  }
  ev->next = NULL;
  pthread_mutex_lock(&ctx->mu);
  int was_empty = ctx->head == NULL;
  if (ctx->tail) ctx->tail->next = ev;
  else ctx->head = ev;
  ctx->tail = ev;
  pthread_mutex_unlock(&ctx->mu);
  if (was_empty) wake(ctx);
}

int signalr_context_wakeup_fd(signalr_context *ctx) { return ctx ? ctx->wake_fd : SIGNALR_EINVAL; }

int signalr_context_interrupt(signalr_context *ctx) {
  if (!ctx) return SIGNALR_EINVAL;
  atomic_store(&ctx->interrupted, 1);
  wake(ctx);
  return 0;
}

static void drain_fd(signalr_context *ctx) {
  uint64_t v;
  while (read(ctx->wake_fd, &v, sizeof v) > 0) {
  }
}

int signalr_context_poll(signalr_context *ctx, int32_t timeout_ms) {
  if (!ctx) return SIGNALR_EINVAL;
  if (in_callback) return SIGNALR_ERECURSIVE;
  pthread_mutex_lock(&ctx->mu);
  int empty = ctx->head == NULL;
  pthread_mutex_unlock(&ctx->mu);
  if (empty && timeout_ms != 0 && !atomic_load(&ctx->interrupted)) {
    struct pollfd pfd = {ctx->wake_fd, POLLIN, 0};
    int r;
    do r = poll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms);
    while (r < 0 && errno == EINTR);
  }
  atomic_store(&ctx->interrupted, 0);
  /* Run what is queued now; events queued meanwhile wait for the next poll, so one busy
   * connection cannot keep this call from returning. */
  pthread_mutex_lock(&ctx->mu);
  sr_app_event *batch = ctx->head;
  ctx->head = ctx->tail = NULL;
  drain_fd(ctx);
  pthread_mutex_unlock(&ctx->mu);
  int ran = 0;
  while (batch) {
    sr_app_event *ev = batch;
    batch = ev->next;
    run(ctx, ev);
    ran++;
  }
  return ran;
}
