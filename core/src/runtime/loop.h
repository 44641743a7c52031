/* The I/O thread: one per signalr_context, shared by all of its connections.
 *
 * One thread runs libwebsockets' service loop (a single client-only lws_context). Everything
 * else the runtime waits for is folded into that one poll():
 *
 *  - an epoll descriptor, adopted into lws as a RAW file descriptor, holds every other fd the
 *    runtime watches (libcurl's sockets, through sr_loop_fd_watch). lws reports it readable
 *    when any watched fd is ready; the loop then runs epoll_wait(0) and dispatches. libcurl is
 *    driven with its event API (curl_multi_socket_action), so HTTP adds no latency and no
 *    polling: it is as event-driven as the WebSockets.
 *  - one binary min-heap holds every timer of every connection. Its earliest deadline is
 *    mirrored into one lws "sorted usec list" entry (lws_sul_schedule), which is how lws 4.x
 *    bounds its poll() timeout (lws_service()'s timeout argument is ignored since lws 3.2).
 *  - sr_loop_post() appends to a mutex-protected FIFO and calls lws_cancel_service(), which
 *    writes lws' internal wake pipe: poll() returns at once and the queue is drained.
 *
 * Idle, the thread sleeps in poll() with no timeout (~0 CPU). Timer resolution is the
 * millisecond; the only added latency is one epoll_wait(0) syscall per batch of curl events.
 *
 * All functions marked "I/O thread only" must be called on the loop's thread (from a posted
 * function, a timer, or a transport callback). */
#ifndef SR_RUNTIME_LOOP_H
#define SR_RUNTIME_LOOP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct lws_context;
struct lws_vhost;

typedef struct sr_loop sr_loop;
typedef struct sr_timer sr_timer;

/* Creates the lws context and starts the I/O thread. 0, SIGNALR_ENOMEM or
 * SIGNALR_ETRANSPORT (lws context / thread creation failed). */
int sr_loop_new(sr_loop **out);

/* Stops the I/O thread and joins it, then frees the loop. From any thread except the I/O
 * thread itself (there it returns without doing anything: post the free to another thread).
 * Order of teardown, all on the I/O thread:
 *   1. every function posted before sr_loop_free() started runs (posts made after that fail
 *      with SIGNALR_ECLOSED);
 *   2. at-exit hooks run (sr_loop_at_exit, most recent first) - the transports use them to
 *      abort what is left: pending HTTP requests complete with SIGNALR_ECANCELED, open
 *      WebSockets get on_close with SIGNALR_ECANCELED;
 *   3. the lws context is destroyed; timers still pending are discarded without firing.
 * Owners should free their transports before (from a posted function) so nothing is left. */
void sr_loop_free(sr_loop *loop);

/* Thread-safe, also from the I/O thread: runs fn(arg) on the I/O thread soon, in FIFO order
 * with every other post. 0, SIGNALR_EINVAL, SIGNALR_ENOMEM, or SIGNALR_ECLOSED once
 * sr_loop_free() has started (fn will then never run). A successful post always runs
 * exactly once, even when sr_loop_free() follows immediately. */
int sr_loop_post(sr_loop *loop, void (*fn)(void *arg), void *arg);

/* The same with a node the caller embeds in its own object (no node allocation or recycling
 * per post: the hot path's commands). The caller sets fn and arg; the node is the loop's
 * until fn starts (fn may then free the object). Same results as sr_loop_post. */
typedef struct sr_post {
  void (*fn)(void *arg);
  void *arg;
  struct sr_post *next;
  int pooled; /* the loop's own node (sr_loop_post) */
} sr_post;
int sr_loop_post_embedded(sr_loop *loop, sr_post *post);

/* fn(arg) runs on the I/O thread after each turn of the loop (the posted functions, or one
 * lws service round with its timers and socket callbacks) and once more during sr_loop_free
 * after the last posts and exit hooks: work collected during a turn (events for the
 * application) is handed over once per turn. Set it right after sr_loop_new, before anything
 * is posted; one hook per loop. */
void sr_loop_set_turn_hook(sr_loop *loop, void (*fn)(void *arg), void *arg);

/* Writes collected during a turn, done at its end without waiting for poll() to report the
 * socket writable: a transport whose socket took everything so far writes its queue directly,
 * which saves the poll() round a writable request costs (one syscall per message sent in
 * reply to one received). I/O thread only. sr_loop_end_of_turn queues the task once (again
 * while queued: nothing); it runs after the turn's posts and the turn hook, before the loop
 * waits again. Outside lws' service, that is: inside it (timers, socket callbacks), the
 * function returns 0 and the caller asks lws for a writable callback as before.
 * sr_loop_end_of_turn_cancel unqueues it (the owner is going away). */
typedef struct sr_turn_task {
  void (*fn)(void *arg);
  void *arg;
  struct sr_turn_task *prev, *next;
  int queued;
} sr_turn_task;
int sr_loop_end_of_turn(sr_loop *loop, sr_turn_task *task);
/* lws_callback_on_writable(wsi), noted by the loop: a lending thread's flush then runs one
 * lws service round for it before it returns. I/O thread only. */
struct lws;
void sr_loop_want_writable(sr_loop *loop, struct lws *wsi);
void sr_loop_end_of_turn_cancel(sr_loop *loop, sr_turn_task *task);

/* 1 when called on the thread that runs the loop now: the I/O thread, or a borrower while it
 * borrows (see below). "I/O thread only" means this. */
int sr_loop_is_io_thread(sr_loop *loop);

/* ---- lending the loop to a thread that waits for it ----
 * A thread that would block until the loop produces something (signalr_context_poll) runs
 * the loop itself meanwhile: the events it waits for are made on its own thread, with no
 * hand-off between threads (two wakeups per round trip otherwise). The I/O thread parks
 * while the loop is lent and takes it back when a post arrives that nobody would run, or
 * when no borrower came for a check window (2 ms, growing to 16 ms while borrowers keep
 * coming): when the application stops polling, its connections are serviced again within
 * two windows, and what a callback posted before it went on with something long within one;
 * posts from other threads wake the I/O thread at once.
 *
 * sr_loop_borrow: any thread but the one running the loop. 1: this thread runs the loop until
 * sr_loop_return (ask=1: waits for the I/O thread to park, if it was not parked; ask=0: only if
 * it is parked already). 0: not now (another borrower, stopping).
 * sr_loop_lent_turn: one turn (posts, one lws service round, turn hook); block=1 waits for
 * I/O, a timer or a post (sr_loop_wake). -1 once the loop is stopping.
 * sr_loop_lend_begin / sr_loop_lend_flush: between them, posts made by this thread wake
 * nobody; the flush runs them here if the loop is still lent (and sends what they queued),
 * else hands them to the loop's runner. The thread must not block on the loop in between
 * without sr_loop_kick (which hands pending posts over now).
 * sr_loop_wake: wakes an active borrower waiting in poll() (a no-op otherwise).
 * sr_loop_end_wait: on the thread running the loop, when what it waits for happened: its
 * current or next lent turn does not block in poll() (a borrower's wait ends at once). */
/* sr_loop_post_then_borrow: on (1) until off (0), posts made by this thread do not make a
 * parked I/O thread take the loop back: the thread is about to borrow it and run them itself
 * (a blocking call that posts its command, then waits running the loop). If it does not, the
 * I/O thread runs them after its check window. */
void sr_loop_post_then_borrow(sr_loop *loop, int on);
int sr_loop_borrow(sr_loop *loop, int ask);
int sr_loop_lent_turn(sr_loop *loop, int block);
void sr_loop_end_wait(sr_loop *loop);
void sr_loop_return(sr_loop *loop);
void sr_loop_lend_begin(sr_loop *loop);
void sr_loop_lend_flush(sr_loop *loop);
void sr_loop_kick(sr_loop *loop);
void sr_loop_wake(sr_loop *loop);
/* The running thread, from a timer: leave lws' poll() after this turn (events were made that
 * somebody waits for on this thread). A no-op elsewhere (after I/O, lws returns anyway). */
void sr_loop_wake_self(sr_loop *loop);

/* What waits for I/O: "epoll" (lws on a libev loop of the runtime's: a turn costs what is
 * ready, whatever the number of connections) or "poll" (lws' own loop, which walks every
 * descriptor each turn: without libev at build time, without lws' libev plugin at run time,
 * or with SIGNALR_EVENT_LOOP=poll). */
const char *sr_loop_backend(const sr_loop *loop);
/* I/O thread only. After an lws call outside lws' callbacks that schedules lws-internal work
 * (lws_set_timeout, a client connect, re-enabling rx on a connection that buffered data):
 * makes sure lws services it without waiting for unrelated I/O. A no-op in poll mode. */
void sr_loop_lws_changed(sr_loop *loop);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t sr_loop_now_ms(void);

/* I/O thread only. Starts a one-shot timer firing fn(arg) on the I/O thread once
 * sr_loop_now_ms() >= deadline_ms (a deadline in the past fires on the next loop turn, never
 * inside this call). Timers with equal deadlines fire in start order. NULL on ENOMEM.
 * The timer is freed by the loop right before fn runs: a fired timer handle is dangling. */
sr_timer *sr_loop_timer_start(sr_loop *loop, int64_t deadline_ms, void (*fn)(void *arg), void *arg);

/* I/O thread only. Cancels a timer that has NOT fired yet (fn will not run) and frees it.
 * Calling it after the timer fired (including from inside its own fn) is a use-after-free:
 * clear the handle in fn. NULL is ignored. */
void sr_loop_timer_cancel(sr_loop *loop, sr_timer *t);

/* Number of pending timers (tests, diagnostics). I/O thread only. */
size_t sr_loop_timer_count(sr_loop *loop);

/* The lws context (client only, no listening port). */
struct lws_context *sr_loop_lws(sr_loop *loop);

/* ---- fd watching (libcurl's sockets; later: anything else that needs poll()) ----
 * I/O thread only. events is a mask of SR_FD_READ | SR_FD_WRITE (0: keep registered, no
 * events). cb(arg, fd, revents) runs on the I/O thread with revents from SR_FD_READ,
 * SR_FD_WRITE, SR_FD_ERROR. Calling sr_loop_fd_watch again for the same fd replaces the
 * mask/callback. sr_loop_fd_unwatch must be called before the fd is closed. Callbacks may
 * watch/unwatch any fd, including their own. */
#define SR_FD_READ  1
#define SR_FD_WRITE 2
#define SR_FD_ERROR 4
int sr_loop_fd_watch(sr_loop *loop, int fd, int events, void (*cb)(void *arg, int fd, int revents), void *arg);
void sr_loop_fd_unwatch(sr_loop *loop, int fd);

/* ---- per-loop state of other modules ---- */
enum { SR_LOOP_SLOT_HTTP = 0, SR_LOOP_SLOT_WS = 1, SR_LOOP_SLOT_COUNT = 4 };
/* A pointer-sized slot a module keeps its per-loop state in (NULL initially). I/O thread only. */
void **sr_loop_slot(sr_loop *loop, int slot);
/* Registers fn(arg) to run on the I/O thread during sr_loop_free(), after the posted queue is
 * drained and before the lws context is destroyed; most recent registration first.
 * I/O thread only. 0 or SIGNALR_ENOMEM. */
int sr_loop_at_exit(sr_loop *loop, void (*fn)(void *arg), void *arg);

/* ---- lws callbacks ----
 * Every wsi the runtime creates carries, as lws opaque user data, a pointer to a struct whose
 * first member is an sr_lws_handler; the loop's single lws protocol (SR_LWS_PROTOCOL) forwards
 * each callback to it. A wsi whose opaque user data is NULL (detached: its owner was freed)
 * gets lws' default handling. The return value is lws': nonzero closes the wsi. */
#define SR_LWS_PROTOCOL "signalr"
struct lws;
typedef struct sr_lws_handler {
  int (*cb)(struct sr_lws_handler *self, struct lws *wsi, int reason, void *in, size_t len);
} sr_lws_handler;

/* That protocol table (for vhosts created elsewhere, e.g. per proxy / client certificate). */
struct lws_protocols;
const struct lws_protocols *sr_lws_protocols(void);

/* The system's CA bundle ($SSL_CERT_FILE, else the usual distribution paths), or NULL: lws 4.1
 * as built by Debian looks in a relative "../share" when given none. */
const char *sr_system_ca_file(void);

/* The lws client vhost to connect with. tls=0: the plain vhost. tls=1: the vhost for a CA file
 * (NULL: the system trust store, found at the usual distribution paths or $SSL_CERT_FILE);
 * TLS vhosts are created on first use (loading a CA bundle costs tens of ms) and live as long
 * as the loop. NULL on failure (unreadable CA file). I/O thread only. */
struct lws_vhost *sr_loop_vhost(sr_loop *loop, int tls, const char *ca_file);

#ifdef __cplusplus
}
#endif

#endif
