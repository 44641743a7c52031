/* The I/O thread: lws service loop + epoll for foreign fds (curl) + one timer min-heap.
 * See loop.h for the design. */
#include "runtime/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#ifdef SR_HAVE_LIBEV
#include <ev.h>
#endif

#include "signalr/signalr.h"

struct sr_timer {
  int64_t deadline;
  uint64_t seq;
  size_t idx; /* position in the heap */
  void (*fn)(void *arg);
  void *arg;
  sr_timer *next_free;
};

typedef sr_post post_node;

typedef struct fd_watch {
  void (*cb)(void *arg, int fd, int revents);
  void *arg;
  int events;
  int active;
  int in_epoll;
} fd_watch;

typedef struct vhost_entry {
  char *ca_file; /* NULL: system store */
  struct lws_vhost *vh;
  struct vhost_entry *next;
} vhost_entry;

typedef struct exit_hook {
  void (*fn)(void *arg);
  void *arg;
  struct exit_hook *next;
} exit_hook;

struct sr_loop {
  /* sr_lws_handler first: the epoll raw-file wsi's opaque user data points at the loop. */
  sr_lws_handler handler;
  struct lws_context *ctx;
  vhost_entry *vhosts;
  struct lws_vhost *vh_base; /* plain connections and the epoll descriptor */
  pthread_t thread;
  int thread_started;

  pthread_mutex_t mu;
  post_node *head, *tail; /* under mu */
  int stopping;           /* under mu */
  atomic_int has_posts;
  void (*turn_hook)(void *arg); /* after every turn (I/O thread; set before anything runs) */
  void *turn_arg;
  post_node *free_posts; /* under mu: recycled nodes */
  size_t nfree_posts;

  sr_timer **heap;
  size_t nheap, capheap;
  uint64_t seq;
  sr_timer *free_timers;
  size_t nfree_timers;
  int running_timers;
  /* I/O thread only: set while lws runs a callback for I/O that poll() reported. lws returns
   * from lws_service() after those without blocking again, and the loop runs the posts next,
   * so a post made there needs no wakeup (a write and a read of lws's pipe, and a poll). */
  int after_poll;
  int in_timers; /* I/O thread only: running timers (before lws blocks in poll()) */
  int in_service; /* I/O thread only: inside lws_service() */
  int no_block;     /* I/O thread only: sr_loop_end_wait, the next lent turn does not block */
  int want_service; /* I/O thread only: a writable request since the last lws_service() */
  sr_turn_task *tasks, *tasks_tail; /* I/O thread only: sr_loop_end_of_turn */
  sr_turn_task *tasks_last;         /* the last of the batch run_turn_tasks runs */
  lws_sorted_usec_list_t sul;
  int64_t sul_deadline; /* deadline the sul (or the ev timer) is armed for; INT64_MAX: not armed */
#ifdef SR_HAVE_LIBEV
  /* Event-library mode (see loop.h): lws runs on this libev loop (epoll), and the timer heap's
   * earliest deadline is this ev timer instead of the sul. NULL: lws' own poll() loop. */
  struct ev_loop *evl;
  ev_timer evt;
  int lws_nudged; /* a cancel is on its way to run lws' idle pass (sr_loop_lws_changed) */
#endif
  int in_lws; /* I/O thread only: inside one of lws' callbacks to us */

  int epfd;
  struct lws *ep_wsi;
  fd_watch *watches;
  size_t nwatches;

  void *slots[SR_LOOP_SLOT_COUNT];
  exit_hook *hooks;

  /* Lending (sr_loop_borrow), under mu. The I/O thread parks while a waiting application
   * thread runs the loop; it takes the loop back when work arrives that nobody runs, or when
   * no borrower came for a whole check window. */
  int lend;               /* LEND_NONE, LEND_ASKED, LEND_LENT */
  int borrower_active;    /* a borrower is running the loop now */
  int take_back;          /* lent, nobody runs it, and a post is waiting */
  uint64_t lend_gen;      /* borrows so far */
  pthread_cond_t lend_cv; /* the I/O thread answered an ask */
  pthread_cond_t io_cv;   /* wakes the parked I/O thread */
};

enum { LEND_NONE, LEND_ASKED, LEND_LENT };
/* The parked I/O thread checks whether the loop is still borrowed every window, from the
 * first to the last size, doubling while it is: it takes the loop back within two windows
 * of the last borrow (one, when a post waits), and an application that keeps polling costs
 * it a wakeup per 16 ms. */
#define LEND_CHECK_FIRST_MS 2
#define LEND_CHECK_LAST_MS 16

/* The loop this thread runs now (the I/O thread, or a borrower while it borrows). */
static _Thread_local sr_loop *tl_loop;
/* The loop this thread lends for (inside a signalr_context_poll that may borrow): its posts
 * wait for sr_loop_lend_flush instead of waking anybody. */
static _Thread_local sr_loop *tl_lender;
/* The loop this thread posts to and then borrows (sr_loop_post_then_borrow). */
static _Thread_local sr_loop *tl_will_borrow;

#define SR_MAX_FREE_TIMERS 4096
#define SR_MAX_FREE_POSTS 1024

/* ------------------------------------------------------------------ clock */

int64_t sr_loop_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------ lws protocol */

/* The reasons lws only gives for what poll() reported on a descriptor (not for its timers,
 * which it runs before it blocks). */
static int after_poll_reason(enum lws_callback_reasons reason) {
  switch (reason) {
    case LWS_CALLBACK_CLIENT_RECEIVE:
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
    case LWS_CALLBACK_CLIENT_WRITEABLE:
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
    case LWS_CALLBACK_RAW_RX_FILE:
      return 1;
    default:
      return 0;
  }
}

static int sr_lws_dispatch(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  sr_lws_handler *h = wsi ? (sr_lws_handler *)lws_get_opaque_user_data(wsi) : NULL;
  if (!h || !h->cb) return lws_callback_http_dummy(wsi, reason, user, in, len);
  sr_loop *l = tl_loop;
  if (!l) return h->cb(h, wsi, (int)reason, in, len);
  int was = l->after_poll;
  if (after_poll_reason(reason)) l->after_poll = 1;
  l->in_lws++;
  int rc = h->cb(h, wsi, (int)reason, in, len);
  l->in_lws--;
  l->after_poll = was;
  return rc;
}

/* The per-connection frame buffer lws allocates at the upgrade is rx_buffer_size + LWS_PRE + 4
 * bytes (0 would mean pt_serv_buf_size, 96 KiB: most of an idle connection's heap). Frames are
 * delivered in chunks of at most this size; a message that fits comes through without a copy,
 * a larger one is reassembled by ws.c. Small is safe only because ws.c never fails a receive
 * callback (see too_big there for the lws 4.1.6 overrun that a failing one causes). Sized so
 * that the block is 2 KiB with malloc's header. The price: lws reads at most this much per
 * read(), so a 100 KB message takes ~50 reads (what an idle connection saves: 2 KiB each). */
#define SR_LWS_RX_BUFFER (2048 - 32)
/* lws writes at most tx_packet_size (0: rx_buffer_size) + LWS_PRE + 4 bytes per write and keeps
 * the rest in a copy of its own, written on POLLOUT: with the small receive buffer, every send
 * over 2 KiB would be split and copied, and bytes in that copy count as written for the send
 * queue. 96 KiB per write, as before the receive buffer was made small (no allocation). */
#define SR_LWS_TX_PACKET (96 * 1024)
static const struct lws_protocols sr_protocols[] = {
    {SR_LWS_PROTOCOL, sr_lws_dispatch, 0, SR_LWS_RX_BUFFER, 0, NULL, SR_LWS_TX_PACKET},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

const struct lws_protocols *sr_lws_protocols(void) { return sr_protocols; }

/* ------------------------------------------------------------------ timers (binary min-heap) */

static int timer_less(const sr_timer *a, const sr_timer *b) {
  return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_set(sr_loop *l, size_t i, sr_timer *t) {
  l->heap[i] = t;
  t->idx = i;
}

static void heap_up(sr_loop *l, size_t i) {
  sr_timer *t = l->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!timer_less(t, l->heap[p])) break;
    heap_set(l, i, l->heap[p]);
    i = p;
  }
  heap_set(l, i, t);
}

static void heap_down(sr_loop *l, size_t i) {
  sr_timer *t = l->heap[i];
  size_t n = l->nheap;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && timer_less(l->heap[c + 1], l->heap[c])) c++;
    if (!timer_less(l->heap[c], t)) break;
    heap_set(l, i, l->heap[c]);
    i = c;
  }
  heap_set(l, i, t);
}

static void heap_remove(sr_loop *l, sr_timer *t) {
  size_t i = t->idx;
  sr_timer *last = l->heap[--l->nheap];
  if (i == l->nheap) return;
  heap_set(l, i, last);
  if (i > 0 && timer_less(last, l->heap[(i - 1) / 2]))
    heap_up(l, i);
  else
    heap_down(l, i);
}

static void timer_release(sr_loop *l, sr_timer *t) {
  if (l->nfree_timers < SR_MAX_FREE_TIMERS) {
    t->next_free = l->free_timers;
    l->free_timers = t;
    l->nfree_timers++;
  } else {
    free(t);
  }
}

static void sul_fired(lws_sorted_usec_list_t *sul);

#ifdef SR_HAVE_LIBEV
/* Event-library mode: the earliest deadline arms the loop's own ev timer. (A sul scheduled
 * outside lws' callbacks is not seen by lws' libev glue until its next idle pass.) */
static void ev_timers_rearm(sr_loop *l) {
  if (l->nheap == 0) {
    if (l->sul_deadline != INT64_MAX) ev_timer_stop(l->evl, &l->evt);
    l->sul_deadline = INT64_MAX;
    return;
  }
  int64_t d = l->heap[0]->deadline;
  if (d == l->sul_deadline) return;
  ev_timer_stop(l->evl, &l->evt);
  ev_now_update(l->evl); /* libev counts from its cached time, which may be a turn old */
  int64_t us = d * 1000 - now_us();
  ev_timer_set(&l->evt, us > 0 ? (ev_tstamp)us / 1e6 : 0., 0.);
  ev_timer_start(l->evl, &l->evt);
  l->sul_deadline = d;
}
#endif

/* Mirrors the heap's earliest deadline into the lws sul, so poll() wakes up for it. */
static void timers_rearm(sr_loop *l) {
  if (l->running_timers || !l->ctx) return;
#ifdef SR_HAVE_LIBEV
  if (l->evl) {
    ev_timers_rearm(l);
    return;
  }
#endif
  if (l->nheap == 0) {
    if (l->sul_deadline != INT64_MAX) {
      lws_sul_schedule(l->ctx, 0, &l->sul, sul_fired, LWS_SET_TIMER_USEC_CANCEL);
      l->sul_deadline = INT64_MAX;
    }
    return;
  }
  int64_t d = l->heap[0]->deadline;
  if (d == l->sul_deadline) return;
  int64_t us = d * 1000 - now_us();
  if (us < 1) us = 1;
  lws_sul_schedule(l->ctx, 0, &l->sul, sul_fired, (lws_usec_t)us);
  l->sul_deadline = d;
}

static void timers_run(sr_loop *l) {
  int64_t now = sr_loop_now_ms();
  uint64_t seq_limit = l->seq; /* timers started by a callback wait for the next turn */
  l->running_timers = 1;
  while (l->nheap && l->heap[0]->deadline <= now && l->heap[0]->seq < seq_limit) {
    sr_timer *t = l->heap[0];
    heap_remove(l, t);
    void (*fn)(void *) = t->fn;
    void *arg = t->arg;
    timer_release(l, t);
    fn(arg);
  }
  l->running_timers = 0;
  timers_rearm(l);
}

static void run_turn_hook(sr_loop *l);

static void sul_fired(lws_sorted_usec_list_t *sul) {
  sr_loop *l = lws_container_of(sul, sr_loop, sul);
  l->sul_deadline = INT64_MAX;
  l->in_timers = 1;
  timers_run(l);
  /* lws runs timers before it blocks in poll(): what they produced must not wait for I/O */
  run_turn_hook(l);
  l->in_timers = 0;
}

#ifdef SR_HAVE_LIBEV
/* ev_run(EVRUN_ONCE) returns after the callbacks of its iteration, timers included: what the
 * timers post runs next without a wakeup, as after I/O. */
static void evt_fired(struct ev_loop *evl, ev_timer *w, int revents) {
  (void)evl;
  (void)revents;
  sr_loop *l = w->data;
  l->sul_deadline = INT64_MAX;
  int was = l->after_poll;
  l->after_poll = 1;
  timers_run(l);
  run_turn_hook(l);
  l->after_poll = was;
}
#endif

sr_timer *sr_loop_timer_start(sr_loop *l, int64_t deadline_ms, void (*fn)(void *arg), void *arg) {
  if (!l || !fn) return NULL;
  if (l->nheap == l->capheap) {
    size_t cap = l->capheap ? l->capheap * 2 : 64;
    sr_timer **h = realloc(l->heap, cap * sizeof(*h));
    if (!h) return NULL;
    l->heap = h;
    l->capheap = cap;
  }
  sr_timer *t = l->free_timers;
  if (t) {
    l->free_timers = t->next_free;
    l->nfree_timers--;
  } else {
    t = malloc(sizeof(*t));
    if (!t) return NULL;
  }
  t->deadline = deadline_ms;
  t->seq = l->seq++;
  t->fn = fn;
  t->arg = arg;
  t->next_free = NULL;
  l->heap[l->nheap] = t;
  t->idx = l->nheap++;
  heap_up(l, t->idx);
  if (t->idx == 0) timers_rearm(l);
  return t;
}

void sr_loop_timer_cancel(sr_loop *l, sr_timer *t) {
  if (!l || !t) return;
  int was_min = t->idx == 0;
  heap_remove(l, t);
  timer_release(l, t);
  if (was_min) timers_rearm(l);
}

size_t sr_loop_timer_count(sr_loop *l) { return l ? l->nheap : 0; }

/* ------------------------------------------------------------------ fd watching (epoll) */

static int to_epoll(int events) {
  return ((events & SR_FD_READ) ? EPOLLIN : 0) | ((events & SR_FD_WRITE) ? EPOLLOUT : 0);
}

int sr_loop_fd_watch(sr_loop *l, int fd, int events, void (*cb)(void *arg, int fd, int revents), void *arg) {
  if (!l || fd < 0 || !cb || l->epfd < 0) return SIGNALR_EINVAL;
  if ((size_t)fd >= l->nwatches) {
    size_t n = l->nwatches ? l->nwatches : 64;
    while (n <= (size_t)fd) n *= 2;
    fd_watch *w = realloc(l->watches, n * sizeof(*w));
    if (!w) return SIGNALR_ENOMEM;
    memset(w + l->nwatches, 0, (n - l->nwatches) * sizeof(*w));
    l->watches = w;
    l->nwatches = n;
  }
  fd_watch *w = &l->watches[fd];
  struct epoll_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.events = (uint32_t)to_epoll(events);
  ev.data.fd = fd;
  if (events) {
    int op = w->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->epfd, op, fd, &ev) != 0) {
      /* a stale registration (fd closed and reused without unwatch) */
      if (op == EPOLL_CTL_ADD && errno == EEXIST)
        op = EPOLL_CTL_MOD;
      else if (op == EPOLL_CTL_MOD && errno == ENOENT)
        op = EPOLL_CTL_ADD;
      else
        return SIGNALR_ETRANSPORT;
      if (epoll_ctl(l->epfd, op, fd, &ev) != 0) return SIGNALR_ETRANSPORT;
    }
    w->in_epoll = 1;
  } else if (w->in_epoll) {
    /* no interest: leave epoll entirely (it would still report HUP/ERR forever) */
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, &ev);
    w->in_epoll = 0;
  }
  w->cb = cb;
  w->arg = arg;
  w->events = events;
  w->active = 1;
  return 0;
}

void sr_loop_fd_unwatch(sr_loop *l, int fd) {
  if (!l || fd < 0 || (size_t)fd >= l->nwatches) return;
  fd_watch *w = &l->watches[fd];
  if (w->in_epoll) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, &ev);
  }
  memset(w, 0, sizeof(*w));
}

static void epoll_dispatch(sr_loop *l) {
  struct epoll_event evs[64];
  int n = epoll_wait(l->epfd, evs, 64, 0);
  for (int i = 0; i < n; i++) {
    int fd = evs[i].data.fd;
    /* looked up by fd each time: an earlier callback may have unwatched it */
    if (fd < 0 || (size_t)fd >= l->nwatches || !l->watches[fd].active) continue;
    fd_watch *w = &l->watches[fd];
    int rev = 0;
    if (evs[i].events & EPOLLIN) rev |= SR_FD_READ;
    if (evs[i].events & EPOLLOUT) rev |= SR_FD_WRITE;
    if (evs[i].events & (EPOLLERR | EPOLLHUP)) rev |= SR_FD_ERROR;
    w->cb(w->arg, fd, rev);
  }
}

static int loop_lws_cb(sr_lws_handler *self, struct lws *wsi, int reason, void *in, size_t len) {
  sr_loop *l = (sr_loop *)self;
  switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
      epoll_dispatch(l);
      return 0;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
      /* lws closes the adopted descriptor itself (it is a dup of epfd) */
      l->ep_wsi = NULL;
      return 0;
    default:
      return 0;
  }
}

/* ------------------------------------------------------------------ vhosts */

const char *sr_system_ca_file(void) {
  const char *env = getenv("SSL_CERT_FILE");
  if (env && *env && access(env, R_OK) == 0) return env;
  static const char *const paths[] = {
      "/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu, Gentoo, Arch */
      "/etc/pki/tls/certs/ca-bundle.crt",                  /* Fedora, RHEL 6 */
      "/etc/ssl/ca-bundle.pem",                            /* openSUSE */
      "/etc/pki/tls/cacert.pem",                           /* OpenELEC */
      "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* CentOS, RHEL 7 */
      "/etc/ssl/cert.pem",                                 /* Alpine, macOS, BSD */
      NULL,
  };
  for (int i = 0; paths[i]; i++)
    if (access(paths[i], R_OK) == 0) return paths[i];
  return NULL;
}

static struct lws_vhost *vhost_create(sr_loop *l, const char *name, int client_tls, const char *ca_path) {
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = sr_protocols;
  info.vhost_name = name;
  /* TCP connect phase: our callers' own timers (sr_ws connect_timeout_ms) decide; lws' must
   * not fire first, or a timeout would be reported like a refused connection */
  info.connect_timeout_secs = 600;
  if (client_tls) {
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.client_ssl_ca_filepath = ca_path;
  }
  return lws_create_vhost(l->ctx, &info);
}

struct lws_vhost *sr_loop_vhost(sr_loop *l, int tls, const char *ca_file) {
  if (!l || !l->ctx) return NULL;
  if (!tls) return l->vh_base;
  for (vhost_entry *e = l->vhosts; e; e = e->next) {
    if ((!ca_file && !e->ca_file) || (ca_file && e->ca_file && strcmp(ca_file, e->ca_file) == 0)) return e->vh;
  }
  if (ca_file && access(ca_file, R_OK) != 0) return NULL;
  vhost_entry *e = calloc(1, sizeof(*e));
  if (!e) return NULL;
  if (ca_file && !(e->ca_file = strdup(ca_file))) {
    free(e);
    return NULL;
  }
  char name[32];
  int n = 0;
  for (vhost_entry *x = l->vhosts; x; x = x->next) n++;
  snprintf(name, sizeof(name), "sr-tls-%d", n);
  /* loading a CA bundle takes tens of ms: done on first use, once per CA file */
  e->vh = vhost_create(l, name, 1, ca_file ? ca_file : sr_system_ca_file());
  if (!e->vh) {
    free(e->ca_file);
    free(e);
    return NULL;
  }
  e->next = l->vhosts;
  l->vhosts = e;
  return e->vh;
}

/* ------------------------------------------------------------------ posting */

/* Under mu: makes sure whoever runs the loop runs the posts. deferring: 1 lets a lender's
 * own posts wait for its sr_loop_lend_flush. */
static void wake_runner_locked(sr_loop *l, int force) {
  if (tl_loop == l) { /* the running thread itself: only a timer's post needs the wakeup */
    if (!l->after_poll) lws_cancel_service(l->ctx);
    return;
  }
  /* run before its poll returns, or taken back by the parked I/O thread after its window;
   * only while the loop is lent: a poll that found events queued did not borrow it, and
   * the I/O thread blocked in poll() must be woken for what the callbacks post */
  if ((tl_lender == l || tl_will_borrow == l) && !force && l->lend == LEND_LENT) return;
  if (l->lend == LEND_LENT && !l->borrower_active) {
    l->take_back = 1;
    pthread_cond_signal(&l->io_cv);
    return;
  }
  lws_cancel_service(l->ctx); /* the I/O thread, or the borrower, in poll() */
}

static int drain_posts(sr_loop *l) {
  int ran = 0;
  for (;;) {
    if (!atomic_load_explicit(&l->has_posts, memory_order_acquire)) return ran;
    pthread_mutex_lock(&l->mu);
    post_node *n = l->head;
    l->head = l->tail = NULL;
    atomic_store_explicit(&l->has_posts, 0, memory_order_relaxed);
    pthread_mutex_unlock(&l->mu);
    /* the loop's own nodes go back to its free list in one lock, after the batch */
    post_node *spent = NULL, *spent_last = NULL;
    size_t nspent = 0;
    while (n) {
      post_node *next = n->next; /* fn may free an embedded node */
      int pooled = n->pooled;
      n->fn(n->arg);
      if (pooled) {
        n->next = spent;
        spent = n;
        if (!spent_last) spent_last = n;
        nspent++;
      }
      n = next;
      ran++;
    }
    if (!spent) continue;
    pthread_mutex_lock(&l->mu);
    if (l->nfree_posts < SR_MAX_FREE_POSTS) {
      spent_last->next = l->free_posts;
      l->free_posts = spent;
      l->nfree_posts += nspent;
      spent = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    while (spent) {
      post_node *next = spent->next;
      free(spent);
      spent = next;
    }
  }
}

/* Under mu: appends a node; wakes the runner when it is the first of a batch. Under the lock:
 * sr_loop_free sets stopping under it before the context can go away. */
static void append_locked(sr_loop *l, post_node *n) {
  n->next = NULL;
  if (l->tail)
    l->tail->next = n;
  else
    l->head = n;
  l->tail = n;
  if (!atomic_exchange_explicit(&l->has_posts, 1, memory_order_release)) wake_runner_locked(l, 0);
}

int sr_loop_post_embedded(sr_loop *l, sr_post *p) {
  if (!l || !p || !p->fn) return SIGNALR_EINVAL;
  pthread_mutex_lock(&l->mu);
  if (l->stopping) {
    pthread_mutex_unlock(&l->mu);
    return SIGNALR_ECLOSED;
  }
  p->pooled = 0;
  append_locked(l, p);
  pthread_mutex_unlock(&l->mu);
  return 0;
}

int sr_loop_post(sr_loop *l, void (*fn)(void *arg), void *arg) {
  if (!l || !fn) return SIGNALR_EINVAL;
  pthread_mutex_lock(&l->mu);
  if (l->stopping) {
    pthread_mutex_unlock(&l->mu);
    return SIGNALR_ECLOSED;
  }
  post_node *n = l->free_posts;
  if (n) {
    l->free_posts = n->next;
    l->nfree_posts--;
  } else if (!(n = malloc(sizeof(*n)))) {
    pthread_mutex_unlock(&l->mu);
    return SIGNALR_ENOMEM;
  }
  n->fn = fn;
  n->arg = arg;
  n->pooled = 1;
  /* Only the first post of a batch wakes the thread. Also from the I/O thread itself: a
   * post made by a timer callback (which lws runs before poll()) must not wait for I/O. */
  append_locked(l, n);
  pthread_mutex_unlock(&l->mu);
  return 0;
}

int sr_loop_is_io_thread(sr_loop *l) { return l && tl_loop == l; }

void sr_loop_set_turn_hook(sr_loop *l, void (*fn)(void *arg), void *arg) {
  l->turn_arg = arg;
  __atomic_store_n(&l->turn_hook, fn, __ATOMIC_RELEASE);
}

int sr_loop_end_of_turn(sr_loop *l, sr_turn_task *t) {
  if (!l || !t || l->in_service) return 0;
  if (t->queued) return 1;
  t->queued = 1;
  t->next = NULL;
  t->prev = l->tasks_tail;
  if (l->tasks_tail)
    l->tasks_tail->next = t;
  else
    l->tasks = t;
  l->tasks_tail = t;
  return 1;
}

void sr_loop_end_of_turn_cancel(sr_loop *l, sr_turn_task *t) {
  if (!l || !t || !t->queued) return;
  if (t == l->tasks_last) l->tasks_last = t->prev; /* the batch run_turn_tasks runs ends earlier */
  if (t->prev)
    t->prev->next = t->next;
  else
    l->tasks = t->next;
  if (t->next)
    t->next->prev = t->prev;
  else
    l->tasks_tail = t->prev;
  t->queued = 0;
  t->prev = t->next = NULL;
}

/* Runs the tasks queued so far, oldest first; one queued while they run waits for the next
 * turn's end (a task that queues itself again cannot spin). A task may cancel others. */
static void run_turn_tasks(sr_loop *l) {
  l->tasks_last = l->tasks_tail;
  while (l->tasks_last) {
    sr_turn_task *t = l->tasks;
    if (t == l->tasks_last) l->tasks_last = NULL;
    sr_loop_end_of_turn_cancel(l, t);
    t->fn(t->arg);
  }
}

/* lws_service() with the flag that makes sr_loop_end_of_turn refuse (inside lws, a task
 * would only run after the poll() that follows). */
static int service(sr_loop *l, int timeout) {
  l->in_service = 1;
  l->want_service = 0;
  int rc;
#ifdef SR_HAVE_LIBEV
  if (l->evl) {
    /* epoll reports the ready descriptors only: the cost of a turn follows them, not the
     * number of connections (lws' poll() loop walks every descriptor each turn) */
    l->lws_nudged = 0;
    ev_run(l->evl, timeout < 0 ? EVRUN_NOWAIT : EVRUN_ONCE);
    rc = 0;
  } else
#endif
    rc = lws_service(l->ctx, timeout);
  l->in_service = 0;
  return rc;
}

void sr_loop_lws_changed(sr_loop *l) {
#ifdef SR_HAVE_LIBEV
  /* lws' libev glue services its timeouts (a kill, a connect's) and the data it buffered for a
   * paused connection in an idle pass that only I/O starts: outside its callbacks, a change
   * of those would wait for unrelated I/O. Its wake pipe is that I/O. */
  if (l && l->evl && !l->in_lws && !l->lws_nudged) {
    l->lws_nudged = 1;
    lws_cancel_service(l->ctx);
  }
#else
  (void)l;
#endif
}

void sr_loop_want_writable(sr_loop *l, struct lws *wsi) {
  lws_callback_on_writable(wsi);
  if (l && !l->in_service) l->want_service = 1;
}

struct lws_context *sr_loop_lws(sr_loop *l) { return l ? l->ctx : NULL; }

const char *sr_loop_backend(const sr_loop *l) {
#ifdef SR_HAVE_LIBEV
  if (l && l->evl) return "epoll";
#endif
  (void)l;
  return "poll";
}

void **sr_loop_slot(sr_loop *l, int slot) {
  if (!l || slot < 0 || slot >= SR_LOOP_SLOT_COUNT) return NULL;
  return &l->slots[slot];
}

int sr_loop_at_exit(sr_loop *l, void (*fn)(void *arg), void *arg) {
  exit_hook *h = malloc(sizeof(*h));
  if (!h) return SIGNALR_ENOMEM;
  h->fn = fn;
  h->arg = arg;
  h->next = l->hooks;
  l->hooks = h;
  return 0;
}

/* ------------------------------------------------------------------ the thread */

static int stop_requested(sr_loop *l) {
  pthread_mutex_lock(&l->mu);
  int s = l->stopping;
  pthread_mutex_unlock(&l->mu);
  return s;
}

/* The hook is set by another thread after the loop started (an atomic pointer, then). */
static void run_turn_hook(sr_loop *l);
/* The end of a turn: the turn hook hands the turn's events over, the tasks write what the turn
 * queued. A task's callbacks may make events (a write's on_drain: "writable again") and the
 * hook may queue writes (parked calls that now have room), so they alternate until neither
 * has anything, a few rounds at most; a task left over then makes the next service not wait
 * (see has_tasks), so nothing made here waits for an unrelated wakeup. */
static void finish_turn(sr_loop *l) {
  for (int round = 0; round < 4; round++) {
    run_turn_hook(l);
    if (!l->tasks) return;
    run_turn_tasks(l);
  }
  run_turn_hook(l);
}

static int has_tasks(sr_loop *l) { return l->tasks != NULL; }

static void run_turn_hook(sr_loop *l) {
  void (*fn)(void *) = __atomic_load_n(&l->turn_hook, __ATOMIC_ACQUIRE);
  if (fn) fn(l->turn_arg);
}

/* ------------------------------------------------------------------ lending */

/* I/O thread: grants an ask and parks until the loop is to be taken back. */
static void lend_and_park(sr_loop *l) {
  pthread_mutex_lock(&l->mu);
  if (l->lend != LEND_ASKED) {
    pthread_mutex_unlock(&l->mu);
    return;
  }
  l->lend = LEND_LENT;
  pthread_cond_broadcast(&l->lend_cv);
  int64_t window = LEND_CHECK_FIRST_MS;
  uint64_t seen = l->lend_gen;
  for (;;) {
    if (!l->borrower_active && (l->stopping || l->take_back)) break;
    if (l->stopping) { /* the borrower sees it and returns the loop */
      pthread_cond_wait(&l->io_cv, &l->mu);
      continue;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += (long)(window * 1000000);
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    if (pthread_cond_timedwait(&l->io_cv, &l->mu, &until) != ETIMEDOUT) continue;
    /* nobody came for a window, or a lender's callback posted and is busy with something else */
    if (!l->borrower_active && (l->lend_gen == seen || atomic_load(&l->has_posts))) break;
    seen = l->lend_gen;
    if (window < LEND_CHECK_LAST_MS) window *= 2;
  }
  l->lend = LEND_NONE;
  l->take_back = 0;
  pthread_mutex_unlock(&l->mu);
}

static int lend_asked(sr_loop *l) {
  pthread_mutex_lock(&l->mu);
  int asked = l->lend == LEND_ASKED;
  pthread_mutex_unlock(&l->mu);
  return asked;
}

int sr_loop_borrow(sr_loop *l, int ask) {
  if (!l || tl_loop) return 0;
  pthread_mutex_lock(&l->mu);
  if (l->stopping || l->borrower_active || l->lend == LEND_ASKED || (l->lend == LEND_NONE && !ask)) {
    pthread_mutex_unlock(&l->mu);
    return 0;
  }
  if (l->lend == LEND_NONE) {
    l->lend = LEND_ASKED;
    lws_cancel_service(l->ctx);
    while (l->lend == LEND_ASKED && !l->stopping) pthread_cond_wait(&l->lend_cv, &l->mu);
    /* another borrower may have come first while this one waited */
    if (l->lend != LEND_LENT || l->stopping || l->borrower_active) {
      if (l->lend == LEND_ASKED) l->lend = LEND_NONE;
      pthread_mutex_unlock(&l->mu);
      return 0;
    }
  }
  l->borrower_active = 1;
  l->lend_gen++;
  l->take_back = 0; /* what is posted is this thread's to run now */
  pthread_mutex_unlock(&l->mu);
  tl_loop = l;
  return 1;
}

int sr_loop_lent_turn(sr_loop *l, int block) {
  drain_posts(l);
  run_turn_hook(l);
  if (stop_requested(l)) return -1;
  int rc = 0;
  /* lws: a negative timeout polls without waiting; 0 waits for I/O, a timer or a cancel */
  finish_turn(l);
  if (l->no_block || has_tasks(l)) block = 0; /* what the borrower waits for may be here */
  l->no_block = 0;
  if (!block || !atomic_load_explicit(&l->has_posts, memory_order_acquire)) rc = service(l, block ? 0 : -1);
  drain_posts(l); /* what its callbacks posted (they do not wake anybody) */
  finish_turn(l);
  return rc < 0 ? -1 : 0;
}

void sr_loop_return(sr_loop *l) {
  tl_loop = NULL;
  pthread_mutex_lock(&l->mu);
  l->borrower_active = 0;
  if (l->stopping || atomic_load(&l->has_posts)) {
    l->take_back = 1;
    pthread_cond_signal(&l->io_cv);
  }
  pthread_mutex_unlock(&l->mu);
}

void sr_loop_lend_begin(sr_loop *l) { tl_lender = l; }

void sr_loop_post_then_borrow(sr_loop *l, int on) { tl_will_borrow = on ? l : NULL; }

void sr_loop_lend_flush(sr_loop *l) {
  if (tl_lender != l) return;
  tl_lender = NULL;
  if (!atomic_load_explicit(&l->has_posts, memory_order_acquire)) return;
  if (sr_loop_borrow(l, 0)) { /* still lent: run them here, and send what they queued */
    drain_posts(l);
    finish_turn(l); /* what they queued goes out now, mostly without lws */
    /* a write that waits for POLLOUT (a close frame, what the socket did not take) gets its
     * service round here: the application may not poll again for a while */
    if (l->want_service || has_tasks(l)) sr_loop_lent_turn(l, 0);
    sr_loop_return(l);
    return;
  }
  sr_loop_kick(l);
}

void sr_loop_kick(sr_loop *l) {
  if (!l) return;
  pthread_mutex_lock(&l->mu);
  if (atomic_load(&l->has_posts)) wake_runner_locked(l, 1);
  pthread_mutex_unlock(&l->mu);
}

void sr_loop_wake_self(sr_loop *l) {
  if (l && tl_loop == l && l->in_timers) lws_cancel_service(l->ctx);
}

void sr_loop_end_wait(sr_loop *l) {
  if (!l || tl_loop != l) return;
  if (l->in_timers) lws_cancel_service(l->ctx); /* lws blocks in poll() after its timers */
  else if (!l->in_service) l->no_block = 1;     /* (inside service, lws returns after the I/O) */
}

void sr_loop_wake(sr_loop *l) {
  if (!l || tl_loop == l) return;
  pthread_mutex_lock(&l->mu);
  if (l->borrower_active) lws_cancel_service(l->ctx);
  pthread_mutex_unlock(&l->mu);
}

static void *loop_main(void *arg) {
  sr_loop *l = arg;
  tl_loop = l;
  for (;;) {
    drain_posts(l);
    run_turn_hook(l);
    if (lend_asked(l)) {
      lend_and_park(l);
      continue;
    }
    if (stop_requested(l)) break;
    finish_turn(l);
    /* Blocks in poll() until an fd, the sul (timers) or lws_cancel_service() wakes it.
     * (lws >= 3.2 ignores a non-negative timeout and uses its sul list.) */
    if (service(l, has_tasks(l) ? -1 : 0) < 0) break;
    run_turn_hook(l);
  }
  /* posts accepted before stopping was set */
  drain_posts(l);
  run_turn_hook(l);
  while (l->hooks) {
    exit_hook *h = l->hooks;
    l->hooks = h->next;
    h->fn(h->arg);
    free(h);
  }
  drain_posts(l); /* nothing new can be accepted, but be thorough */
  run_turn_hook(l);
  while (l->tasks) sr_loop_end_of_turn_cancel(l, l->tasks); /* their owners write no more */
  if (l->sul_deadline != INT64_MAX) {
#ifdef SR_HAVE_LIBEV
    if (l->evl)
      ev_timer_stop(l->evl, &l->evt);
    else
#endif
      lws_sul_schedule(l->ctx, 0, &l->sul, sul_fired, LWS_SET_TIMER_USEC_CANCEL);
    l->sul_deadline = INT64_MAX;
  }
  l->running_timers = 1; /* no rearm while tearing down */
  lws_context_destroy(l->ctx);
  l->ctx = NULL;
  tl_loop = NULL;
  return NULL;
}

static void lws_log_silent(int level, const char *line) {
  (void)level;
  (void)line;
}

static pthread_once_t lws_log_once = PTHREAD_ONCE_INIT;
static void lws_log_setup(void) {
  const char *dbg = getenv("SIGNALR_LWS_LOG");
  if (dbg && *dbg)
    lws_set_log_level(atoi(dbg), NULL);
  else
    lws_set_log_level(0, lws_log_silent);
}

static void loop_destroy_resources(sr_loop *l) {
  if (l->ctx) lws_context_destroy(l->ctx);
#ifdef SR_HAVE_LIBEV
  if (l->evl) ev_loop_destroy(l->evl); /* after lws: its watchers are on it */
#endif
  while (l->vhosts) {
    vhost_entry *e = l->vhosts;
    l->vhosts = e->next;
    free(e->ca_file);
    free(e);
  }
  while (l->hooks) {
    exit_hook *h = l->hooks;
    l->hooks = h->next;
    free(h);
  }
  for (size_t i = 0; i < l->nheap; i++) free(l->heap[i]);
  free(l->heap);
  while (l->free_timers) {
    sr_timer *t = l->free_timers;
    l->free_timers = t->next_free;
    free(t);
  }
  while (l->head) {
    post_node *n = l->head;
    l->head = n->next;
    free(n);
  }
  while (l->free_posts) {
    post_node *n = l->free_posts;
    l->free_posts = n->next;
    free(n);
  }
  free(l->watches);
  if (l->epfd >= 0) close(l->epfd);
  pthread_cond_destroy(&l->lend_cv);
  pthread_cond_destroy(&l->io_cv);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

int sr_loop_new(sr_loop **out) {
  if (!out) return SIGNALR_EINVAL;
  *out = NULL;
  pthread_once(&lws_log_once, lws_log_setup);
  sr_loop *l = calloc(1, sizeof(*l));
  if (!l) return SIGNALR_ENOMEM;
  l->handler.cb = loop_lws_cb;
  l->epfd = -1;
  l->sul_deadline = INT64_MAX;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->lend_cv, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the parked thread's check windows */
  pthread_cond_init(&l->io_cv, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&l->has_posts, 0);

  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd < 0) {
    loop_destroy_resources(l);
    return SIGNALR_ETRANSPORT;
  }

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.gid = -1;
  info.uid = -1;
  info.user = l;
  info.count_threads = 1;
  /* The client handshake (request line + headers) is built in this per-thread buffer: big
   * enough for large Authorization / Cookie headers (Kestrel's limit is 32 KB; a 64 KB
   * header must reach the server to be refused with 431, not fail locally). */
  info.pt_serv_buf_size = 96 * 1024;
  info.max_http_header_data = 16 * 1024; /* response headers of the upgrade */
#ifdef SR_HAVE_LIBEV
  /* lws on a libev loop of ours (epoll), when its libev plugin is installed; else, or with
   * SIGNALR_EVENT_LOOP=poll, lws' own poll() loop. */
  const char *mode = getenv("SIGNALR_EVENT_LOOP");
  void *foreign[1] = {NULL};
  if (!mode || strcmp(mode, "poll") != 0) {
    l->evl = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV | EVFLAG_NOSIGMASK);
    if (!l->evl) l->evl = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV | EVFLAG_NOSIGMASK);
  }
  if (l->evl) {
    ev_timer_init(&l->evt, evt_fired, 0., 0.);
    l->evt.data = l;
    foreign[0] = l->evl;
    info.options |= LWS_SERVER_OPTION_LIBEV;
    info.foreign_loops = foreign;
    l->ctx = lws_create_context(&info);
    if (!l->ctx) { /* no plugin (libwebsockets-evlib-ev): the poll() loop */
      ev_loop_destroy(l->evl);
      l->evl = NULL;
      info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
      info.foreign_loops = NULL;
    }
  }
  if (!l->ctx)
#endif
    l->ctx = lws_create_context(&info);
  if (!l->ctx) {
    loop_destroy_resources(l);
    return SIGNALR_ETRANSPORT;
  }
  struct lws_vhost *vh = l->vh_base = vhost_create(l, "sr-base", 0, NULL);
  if (!vh) {
    loop_destroy_resources(l);
    return SIGNALR_ETRANSPORT;
  }
  int dupfd = fcntl(l->epfd, F_DUPFD_CLOEXEC, 0);
  if (dupfd < 0) {
    loop_destroy_resources(l);
    return SIGNALR_ETRANSPORT;
  }
  lws_sock_file_fd_type fdt;
  memset(&fdt, 0, sizeof(fdt));
  fdt.filefd = dupfd;
  l->ep_wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, fdt, SR_LWS_PROTOCOL, NULL);
  if (!l->ep_wsi) {
    close(dupfd);
    loop_destroy_resources(l);
    return SIGNALR_ETRANSPORT;
  }
  lws_set_opaque_user_data(l->ep_wsi, &l->handler);

  if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
    loop_destroy_resources(l);
    return SIGNALR_ETRANSPORT;
  }
  l->thread_started = 1;
  *out = l;
  return 0;
}

void sr_loop_free(sr_loop *l) {
  if (!l) return;
  if (tl_loop == l) return; /* cannot join ourselves: documented no-op */
  pthread_mutex_lock(&l->mu);
  l->stopping = 1;
  lws_cancel_service(l->ctx);        /* the I/O thread or a borrower, in poll() */
  pthread_cond_signal(&l->io_cv);    /* the I/O thread, parked */
  pthread_cond_broadcast(&l->lend_cv);
  pthread_mutex_unlock(&l->mu);
  if (l->thread_started) pthread_join(l->thread, NULL);
  loop_destroy_resources(l);
}
