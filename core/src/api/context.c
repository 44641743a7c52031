/* The context: the I/O thread and the queue that hands events to the application's thread.
 *
 * The hot path costs one lock per batch, not per event: the I/O thread collects the events of
 * a loop turn and appends them to the queue at the turn's end (one lock, one wakeup when the
 * queue was empty); a poll takes up to its budget in one lock and gives the events back to the
 * free list in one more. Event objects are pooled with their buffers: the I/O thread keeps a
 * private free list, refilled a whole list at a time from the shared one. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "api/internal.h"
#include "runtime/loop.h"

/* Events kept for reuse per free list; beyond this, memory goes back to the system. One
 * lws turn can make a few thousand events (a 96 KiB read of small messages): a smaller pool
 * made most of them fresh callocs. What stays is bounded by KEEP_EVENT_BUFFER below. */
#define MAX_FREE_EVENTS 4096
/* A pooled event whose buffers grew past this gives them back (a burst of big messages
 * must not stay resident in the pool). */
#define KEEP_EVENT_BUFFER (4u << 10)
/* The I/O thread's private free list is handed to the shared one when it holds this many. */
#define IO_FREE_BATCH 64

static _Thread_local int in_callback;
/* The context whose loop this thread runs inside signalr_context_poll. */
static _Thread_local signalr_context *tl_borrowing;

int sr_in_callback(void) { return in_callback; }

int sr_enter_callback(void) {
  int was = in_callback;
  in_callback = 1;
  return was;
}

void sr_leave_callback(int was) { in_callback = was; }

static void flush_turn(void *arg);

int signalr_context_new(signalr_context **out, int flags) {
  if (!out || (flags & ~SIGNALR_CONTEXT_DIRECT)) return SIGNALR_EINVAL;
  signalr_context *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return SIGNALR_ENOMEM;
  ctx->flags = flags;
  atomic_init(&ctx->poll_budget, SR_POLL_BUDGET_DEFAULT);
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
  sr_loop_set_turn_hook(ctx->loop, flush_turn, ctx);
  *out = ctx;
  return 0;
}

static void free_event_memory(sr_app_event *ev) {
  sr_error_release(&ev->error);
  sr_buf_free(&ev->value);
  sr_buf_free(&ev->target);
  sr_buf_free(&ev->invocation_id);
  free(ev);
}

static void free_chain(sr_app_event *ev, int unref) {
  for (sr_app_event *next; ev; ev = next) {
    next = ev->next;
    if (unref && ev->conn) sr_connection_unref(ev->conn);
    free_event_memory(ev);
  }
}

int signalr_context_free(signalr_context *ctx) {
  if (!ctx) return 0;
  if (in_callback) return SIGNALR_ERECURSIVE;
  if (atomic_load(&ctx->connections)) return SIGNALR_ESTATE;
  sr_loop_free(ctx->loop); /* runs what is still posted (connection teardown) first */
  free_chain(ctx->head, 1);
  free_chain(ctx->turn_head, 1);
  free_chain(ctx->free_list, 0);
  free_chain(ctx->io_free, 0);
  close(ctx->wake_fd);
  pthread_mutex_destroy(&ctx->mu);
  free(ctx);
  return 0;
}

static void shrink(sr_buf *b) {
  if (b->cap > KEEP_EVENT_BUFFER) sr_buf_free(b);
  b->len = 0;
}

sr_app_event *sr_event_alloc(signalr_context *ctx) {
  sr_app_event *ev;
  if (sr_loop_is_io_thread(ctx->loop)) {
    if (!ctx->io_free) { /* refill: the whole shared list in one lock */
      pthread_mutex_lock(&ctx->mu);
      ctx->io_free = ctx->free_list;
      ctx->io_free_count = ctx->free_count;
      ctx->free_list = NULL;
      ctx->free_count = 0;
      pthread_mutex_unlock(&ctx->mu);
    }
    ev = ctx->io_free;
    if (ev) {
      ctx->io_free = ev->next;
      ctx->io_free_count--;
    }
  } else {
    pthread_mutex_lock(&ctx->mu);
    ev = ctx->free_list;
    if (ev) {
      ctx->free_list = ev->next;
      ctx->free_count--;
    }
    pthread_mutex_unlock(&ctx->mu);
  }
  if (!ev && !(ev = calloc(1, sizeof *ev))) return NULL;
  sr_buf value = ev->value, target = ev->target, id = ev->invocation_id;
  memset(ev, 0, sizeof *ev);
  ev->value = value;
  ev->target = target;
  ev->invocation_id = id;
  ev->value.len = ev->target.len = ev->invocation_id.len = 0;
  return ev;
}

/* Resets an event for the pool: drops its connection reference, shrinks big buffers. */
static void recycle_prepare(sr_app_event *ev) {
  sr_error_release(&ev->error); /* (sr_event_alloc zeroes the rest) */
  if (ev->conn) sr_connection_unref(ev->conn);
  ev->conn = NULL;
  shrink(&ev->value);
  shrink(&ev->target);
  shrink(&ev->invocation_id);
}

/* Under mu: moves a chain into the shared pool up to its size; returns what did not fit, to
 * be freed outside the lock. */
static sr_app_event *pool_put_locked(signalr_context *ctx, sr_app_event *chain) {
  while (chain && ctx->free_count < MAX_FREE_EVENTS) {
    sr_app_event *next = chain->next;
    chain->next = ctx->free_list;
    ctx->free_list = chain;
    ctx->free_count++;
    chain = next;
  }
  return chain;
}

/* I/O thread: hands its private free list to the shared one, in one lock. Commands are
 * allocated on the application's threads and released here: without this hand-back every
 * command would be a fresh calloc there and a free here (malloc's cross-thread path). */
static void give_back_io_free(signalr_context *ctx) {
  pthread_mutex_lock(&ctx->mu);
  sr_app_event *extra = pool_put_locked(ctx, ctx->io_free);
  pthread_mutex_unlock(&ctx->mu);
  ctx->io_free = NULL;
  ctx->io_free_count = 0;
  free_chain(extra, 0);
}

void sr_event_release(signalr_context *ctx, sr_app_event *ev) {
  recycle_prepare(ev);
  if (sr_loop_is_io_thread(ctx->loop)) {
    ev->next = ctx->io_free;
    ctx->io_free = ev;
    if (++ctx->io_free_count >= IO_FREE_BATCH) give_back_io_free(ctx);
    return;
  }
  ev->next = NULL;
  pthread_mutex_lock(&ctx->mu);
  ev = pool_put_locked(ctx, ev);
  pthread_mutex_unlock(&ctx->mu);
  if (ev) free_event_memory(ev);
}

/* Under mu. fd_signaled spares poll a read when nothing wrote to the fd since the last one
 * (a poll that ran the loop itself made no write). Writes are not spared: an application
 * may read the fd itself. */
static void signal_fd_locked(signalr_context *ctx) {
  uint64_t one = 1;
  ssize_t n = write(ctx->wake_fd, &one, sizeof one);
  (void)n; /* a full counter is still readable: nothing is lost */
  ctx->fd_signaled = 1;
}

/* Wakes whoever waits for events: the wakeup fd, and a poll that runs the loop itself. */
static void wake(signalr_context *ctx) {
  pthread_mutex_lock(&ctx->mu);
  signal_fd_locked(ctx);
  pthread_mutex_unlock(&ctx->mu);
  sr_loop_wake(ctx->loop);
}

/* Appends a chain to the queue; wakes the application when the queue was empty. A poll that
 * runs the loop (see signalr_context_poll) queues for itself: it needs no fd, only not to
 * wait in lws' poll() (or to leave it, when the events came from a timer). */
static void enqueue(signalr_context *ctx, sr_app_event *first, sr_app_event *last, size_t n) {
  int self = tl_borrowing == ctx;
  pthread_mutex_lock(&ctx->mu);
  int was_empty = ctx->head == NULL;
  if (ctx->tail) ctx->tail->next = first;
  else ctx->head = first;
  ctx->tail = last;
  ctx->queued += n;
  if (was_empty && !self) signal_fd_locked(ctx);
  pthread_mutex_unlock(&ctx->mu);
  if (!was_empty) return;
  /* a poll running the loop must not block in lws' poll() with events queued for it: they
   * may come from the end of its turn (a write's "writable again"), after its last look */
  if (self) sr_loop_end_wait(ctx->loop);
  else sr_loop_wake(ctx->loop);
}

void sr_event_flush(signalr_context *ctx) { flush_turn(ctx); }

int sr_event_backlog(signalr_context *ctx) {
  pthread_mutex_lock(&ctx->mu);
  int backlog = ctx->head != NULL || ctx->running != NULL;
  pthread_mutex_unlock(&ctx->mu);
  return backlog || (sr_loop_is_io_thread(ctx->loop) && ctx->turn_head != NULL);
}

static void flush_turn(void *arg) {
  signalr_context *ctx = arg;
  sr_conn_settle_turn(ctx); /* may queue events (writable, completions of parked calls) */
  if (!ctx->turn_head) return;
  size_t n = 0;
  for (sr_app_event *e = ctx->turn_head; e; e = e->next) n++;
  sr_app_event *first = ctx->turn_head, *last = ctx->turn_tail;
  ctx->turn_head = ctx->turn_tail = NULL;
  enqueue(ctx, first, last, n);
}

static void run(sr_app_event *ev) {
  int was = sr_enter_callback();
  sr_connection_dispatch(ev);
  sr_leave_callback(was);
  sr_connection_consumed(ev);
}

void sr_event_push(signalr_context *ctx, sr_app_event *ev) {
  if (ev->internal) {
    ev->internal_fn(ev);
    sr_event_release(ctx, ev);
    return;
  }
  if (ctx->flags & SIGNALR_CONTEXT_DIRECT) {
    atomic_store(&ev->claimed, 1);
    run(ev);
    sr_event_release(ctx, ev);
    return;
  }
  ev->next = NULL;
  if (sr_loop_is_io_thread(ctx->loop)) { /* handed over at the end of the turn */
    if (ctx->turn_tail) ctx->turn_tail->next = ev;
    else ctx->turn_head = ev;
    ctx->turn_tail = ev;
    return;
  }
  enqueue(ctx, ev, ev, 1);
}

void sr_event_claim_connection(signalr_context *ctx, signalr_connection *conn,
                               void (*take)(void *ud, const sr_app_event *ev), void *ud) {
  pthread_mutex_lock(&ctx->mu);
  for (int pass = 0; pass < 2; pass++) {
    for (sr_app_event *ev = pass ? ctx->running : ctx->head; ev; ev = ev->next) {
      if (ev->conn != conn || atomic_exchange(&ev->claimed, 1)) continue;
      if (ev->kind == SR_APP_COMPLETION && ev->done) take(ud, ev);
    }
  }
  pthread_mutex_unlock(&ctx->mu);
}

int signalr_context_wakeup_fd(signalr_context *ctx) { return ctx ? ctx->wake_fd : SIGNALR_EINVAL; }

int signalr_context_interrupt(signalr_context *ctx) {
  if (!ctx) return SIGNALR_EINVAL;
  atomic_store(&ctx->interrupted, 1);
  wake(ctx);
  return 0;
}

int signalr_context_set_poll_budget(signalr_context *ctx, int max_events) {
  if (!ctx || max_events < 1) return SIGNALR_EINVAL;
  atomic_store(&ctx->poll_budget, max_events);
  return 0;
}

/* One read resets an eventfd's counter (no EFD_SEMAPHORE): a second would only fail. */
static void drain_fd(signalr_context *ctx) { /* under mu */
  if (!ctx->fd_signaled) return;
  ctx->fd_signaled = 0;
  uint64_t v;
  ssize_t n = read(ctx->wake_fd, &v, sizeof v);
  (void)n;
}

static int queue_empty(signalr_context *ctx) {
  pthread_mutex_lock(&ctx->mu);
  int empty = ctx->head == NULL;
  pthread_mutex_unlock(&ctx->mu);
  return empty;
}

typedef struct poll_deadline {
  sr_loop *loop;
  int passed;
} poll_deadline;

static void deadline_passed(void *arg) {
  poll_deadline *d = arg;
  d->passed = 1;
  sr_loop_wake_self(d->loop); /* lws blocks in poll() after its timers */
}

/* Waits for events by running the loop on this thread (no hand-off from the I/O thread per
 * event): until events are queued, the timeout passes or an interrupt. 0 when the loop could
 * not be borrowed (another thread waits in it): then the caller waits on the fd. */
static int wait_running_loop(signalr_context *ctx, int32_t timeout_ms) {
  sr_loop *loop = ctx->loop;
  if (!sr_loop_borrow(loop, 1)) return 0;
  poll_deadline d = {loop, 0};
  sr_timer *t = NULL;
  if (timeout_ms > 0 && !(t = sr_loop_timer_start(loop, sr_loop_now_ms() + timeout_ms, deadline_passed, &d))) {
    sr_loop_return(loop);
    return 0;
  }
  tl_borrowing = ctx;
  while (!d.passed && !atomic_load(&ctx->interrupted) && queue_empty(ctx))
    if (sr_loop_lent_turn(loop, 1) < 0) break; /* stopping */
  tl_borrowing = NULL;
  if (t && !d.passed) sr_loop_timer_cancel(loop, t);
  sr_loop_return(loop);
  return 1;
}

int signalr_context_poll(signalr_context *ctx, int32_t timeout_ms) {
  if (!ctx) return SIGNALR_EINVAL;
  if (in_callback) return SIGNALR_ERECURSIVE;
  /* A poll that may wait lends its thread to the loop (see wait_running_loop); the calls its
   * callbacks make are then run here before it returns, without waking the I/O thread. */
  int lend = timeout_ms != 0 && !(ctx->flags & SIGNALR_CONTEXT_DIRECT) && !sr_loop_is_io_thread(ctx->loop);
  if (queue_empty(ctx) && timeout_ms != 0 && !atomic_load(&ctx->interrupted) &&
      !(lend && wait_running_loop(ctx, timeout_ms))) {
    struct pollfd pfd = {ctx->wake_fd, POLLIN, 0};
    int r;
    do r = poll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms);
    while (r < 0 && errno == EINTR);
  }
  atomic_store(&ctx->interrupted, 0);
  /* Run at most the budget of what is queued now; events queued meanwhile, or past the
   * budget, wait for the next poll (the wakeup fd stays readable for them), so neither a
   * busy connection nor a backlog keeps this call from returning. */
  size_t budget = (size_t)atomic_load(&ctx->poll_budget);
  pthread_mutex_lock(&ctx->mu);
  sr_app_event *batch = ctx->head, *last = NULL;
  size_t n = 0;
  for (sr_app_event *e = batch; e && n < budget; e = e->next) last = e, n++;
  if (last) {
    ctx->head = last->next;
    if (!ctx->head) ctx->tail = NULL;
    last->next = NULL;
    ctx->queued -= n;
  }
  ctx->running = batch;
  drain_fd(ctx);
  if (ctx->head) signal_fd_locked(ctx);
  pthread_mutex_unlock(&ctx->mu);
  int ran = 0;
  if (lend) sr_loop_lend_begin(ctx->loop);
  for (sr_app_event *ev = batch; ev; ev = ev->next) {
    if (atomic_exchange(&ev->claimed, 1)) continue; /* its connection was freed meanwhile */
    run(ev);
    ran++;
  }
  if (lend) sr_loop_lend_flush(ctx->loop);
  /* Back to the pool in one go: until here the chain stayed intact for claims. Every event
   * of it is claimed now, so claims have nothing left to take; it leaves their sight (under
   * the lock: a claim reads ev->conn) before the references go, outside the lock (a last one
   * frees a connection, with user code). */
  pthread_mutex_lock(&ctx->mu);
  ctx->running = NULL;
  pthread_mutex_unlock(&ctx->mu);
  for (sr_app_event *ev = batch; ev; ev = ev->next) recycle_prepare(ev);
  pthread_mutex_lock(&ctx->mu);
  sr_app_event *extra = pool_put_locked(ctx, batch);
  pthread_mutex_unlock(&ctx->mu);
  free_chain(extra, 0); /* beyond the pool's size: back to the system */
  return ran;
}
