/* fault_proxy: see fault_proxy.h.
 *
 * One poll() thread owns every socket and all forwarding state, so faults apply to all
 * connections at a single point in time and need no locking. Callers hand commands over
 * through a small request block under a mutex, wake the thread through a pipe and wait on
 * a condition variable until the thread has applied them; that is what makes commands
 * synchronous. Counters are atomics so they can be read without a round trip.
 *
 * Data is read into chunks (one recv() each) that are queued per direction with the time
 * they may leave; the queue is what lets delay and stall hold data without losing its
 * order, and the chunk boundary is what truncate_next cuts. */
#include "fault_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
  READ_SIZE = 16384,
  /* Per direction. Past this the proxy stops reading, so a slow receiver pushes back on the
   * sender through TCP flow control as it would without the proxy, instead of the proxy
   * buffering without bound. */
  QUEUE_LIMIT = 256 * 1024,
  /* A truncated connection discards at most this much unread input before closing (see
   * close_truncated). */
  DRAIN_LIMIT = 1024 * 1024
};
#define RELISTEN_RETRY_US 20000
#define ACCEPT_RETRY_US 50000

typedef struct chunk {
  struct chunk *next;
  int64_t due_us; /* not written before this time (CLOCK_MONOTONIC) */
  size_t len, off;
  char data[];
} chunk;

/* One direction of one connection. */
typedef struct flow {
  chunk *head, *tail;
  size_t queued;
  int eof;       /* the source sent FIN: forward it once the queue is out */
  int shut;      /* FIN forwarded */
  int truncated; /* the queue ends with a truncated chunk: close once it is out */
} flow;

typedef struct conn {
  struct conn *next;
  /* Indexed by direction: flow d reads fd[d] and writes fd[!d], so fd[FAULT_TO_SERVER] is
   * the client's socket and fd[FAULT_TO_CLIENT] the target's. */
  int fd[2];
  int pidx[2];               /* fd[i]'s entry in the poll set this round, -1: none */
  const struct addrinfo *ai; /* target address being connected */
  int connecting;
  int closed;
  flow flow[2];
} conn;

struct request {
  int cut, stop;
  int stall;     /* -1: unchanged */
  int delay_ms;  /* -1: unchanged */
  int refuse_ms; /* -1: unchanged */
  int truncate[2];
  size_t truncate_keep[2];
};

struct fault_proxy {
  pthread_t thread;
  int port;
  struct addrinfo *target;
  int wake[2]; /* pipe: callers write, the I/O thread polls */

  /* ---- I/O thread only (after start) */
  int listen_fd; /* bound to port; listening unless refusing; -1 if re-binding failed */
  int listening;
  int listen_pidx;
  int64_t relisten_us;     /* while refusing: when to listen again */
  int64_t accept_retry_us; /* accept() failed for lack of resources: not before this */
  int stalled;
  int64_t delay_us;
  int truncate_armed[2];
  size_t truncate_keep[2];
  conn *conns;
  struct pollfd *pfds;
  size_t pfds_cap;

  /* ---- commands, under mu */
  pthread_mutex_t mu;
  pthread_cond_t applied;
  uint64_t req_seq, done_seq;
  struct request req;

  _Atomic uint64_t accepted, active, bytes[2];
};

static const struct request NO_REQUEST = {0, 0, -1, -1, -1, {0, 0}, {0, 0}};

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

static void set_nodelay(int fd) {
  /* Chunks must leave when they are due; Nagle would hold small ones back for an ACK and
   * blur delay and stall timings. */
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* close() that sends RST instead of FIN, so the peer sees an abrupt drop (ECONNRESET). */
static void close_reset(int fd) {
  struct linger lg = {1, 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

/* A socket bound to 127.0.0.1:port (0: any free port), not listening yet. */
static int bind_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  /* Re-binding the port after a refuse period must work while connections accepted on it
   * (or their TIME_WAIT remains) still hold it. */
  int one = 1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* ------------------------------------------------------------------ connections */

static void free_chunks(flow *f) {
  while (f->head) {
    chunk *k = f->head;
    f->head = k->next;
    free(k);
  }
  f->tail = NULL;
  f->queued = 0;
}

/* Closes whatever is still open of c; reset: with RST on both sides. */
static void conn_close(fault_proxy *p, conn *c, int reset) {
  if (c->closed) return;
  for (int i = 0; i < 2; i++) {
    if (c->fd[i] >= 0) {
      if (reset)
        close_reset(c->fd[i]);
      else
        close(c->fd[i]);
      c->fd[i] = -1;
    }
    free_chunks(&c->flow[i]);
  }
  c->closed = 1;
  atomic_fetch_sub(&p->active, 1);
}

/* Starts a non-blocking connect to c->ai, or failing that to the addresses after it. */
static int connect_next(conn *c) {
  for (; c->ai; c->ai = c->ai->ai_next) {
    int fd = socket(c->ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (connect(fd, c->ai->ai_addr, c->ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
      set_nodelay(fd);
      c->fd[FAULT_TO_CLIENT] = fd;
      c->connecting = 1;
      return 0;
    }
    close(fd);
  }
  return -1;
}

static void finish_connect(fault_proxy *p, conn *c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd[FAULT_TO_CLIENT], SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0) {
    c->connecting = 0;
    return;
  }
  close(c->fd[FAULT_TO_CLIENT]);
  c->fd[FAULT_TO_CLIENT] = -1;
  c->ai = c->ai->ai_next;
  /* No target address answered: reset the client, which is what it would see connecting
   * to a dead server through a real middlebox that already accepted it. */
  if (connect_next(c) != 0) conn_close(p, c, 1);
}

static void accept_all(fault_proxy *p, int64_t now) {
  for (;;) {
    int fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      /* Out of descriptors or memory: the connection stays in the backlog and keeps the
       * listener readable, so stop polling it for a while instead of spinning. */
      if (!would_block(errno)) p->accept_retry_us = now + ACCEPT_RETRY_US;
      return;
    }
    atomic_fetch_add(&p->accepted, 1);
    atomic_fetch_add(&p->active, 1);
    conn *c = calloc(1, sizeof *c);
    if (!c) {
      close_reset(fd);
      atomic_fetch_sub(&p->active, 1);
      continue;
    }
    c->fd[FAULT_TO_SERVER] = fd;
    c->fd[FAULT_TO_CLIENT] = -1;
    c->pidx[0] = c->pidx[1] = -1;
    c->ai = p->target;
    set_nodelay(fd);
    c->next = p->conns;
    p->conns = c;
    if (connect_next(c) != 0) conn_close(p, c, 1);
  }
}

/* ------------------------------------------------------------------ forwarding */

static int wants_read(const fault_proxy *p, const conn *c, int d) {
  const flow *f = &c->flow[d];
  return !p->stalled && !c->connecting && !f->eof && !f->truncated && f->queued < QUEUE_LIMIT;
}

/* Reads one chunk for flow d. Returns -1 if the connection must be reset. */
static int read_flow(fault_proxy *p, conn *c, int d, int64_t now) {
  flow *f = &c->flow[d];
  char buf[READ_SIZE];
  ssize_t n = recv(c->fd[d], buf, sizeof buf, 0);
  if (n < 0) return would_block(errno) ? 0 : -1;
  if (n == 0) {
    f->eof = 1;
    return 0;
  }
  size_t len = (size_t)n;
  if (p->truncate_armed[d]) {
    p->truncate_armed[d] = 0;
    if (len > p->truncate_keep[d]) len = p->truncate_keep[d];
    f->truncated = 1;
  }
  if (len == 0) return 0;
  chunk *k = malloc(sizeof *k + len);
  if (!k) return -1;
  memcpy(k->data, buf, len);
  k->len = len;
  k->off = 0;
  k->due_us = now + p->delay_us;
  k->next = NULL;
  if (f->tail)
    f->tail->next = k;
  else
    f->head = k;
  f->tail = k;
  f->queued += len;
  return 0;
}

/* Writes flow d's due chunks until the receiver's buffer is full. Returns -1 if the
 * connection must be reset. */
static int write_flow(fault_proxy *p, conn *c, int d, int64_t now) {
  flow *f = &c->flow[d];
  while (f->head && f->head->due_us <= now) {
    chunk *k = f->head;
    ssize_t n = send(c->fd[!d], k->data + k->off, k->len - k->off, MSG_NOSIGNAL);
    if (n < 0) return would_block(errno) ? 0 : -1;
    k->off += (size_t)n;
    f->queued -= (size_t)n;
    atomic_fetch_add(&p->bytes[d], (uint64_t)n);
    if (k->off == k->len) {
      f->head = k->next;
      if (!f->head) f->tail = NULL;
      free(k);
    }
  }
  return 0;
}

/* Flow d's truncated chunk is out: the receiver gets FIN right after it, the sender RST. */
static void close_truncated(fault_proxy *p, conn *c, int d) {
  int dst = c->fd[!d];
  /* close() on a socket with unread input sends RST, which drops whatever of the truncated
   * chunk is still in the send buffer; discard the receiver's pending input first so that
   * it gets the kept bytes and a clean EOF. */
  char sink[4096];
  size_t drained = 0;
  ssize_t n;
  while (drained < DRAIN_LIMIT && (n = recv(dst, sink, sizeof sink, 0)) > 0) drained += (size_t)n;
  shutdown(dst, SHUT_WR);
  close(dst);
  c->fd[!d] = -1;
  close_reset(c->fd[d]);
  c->fd[d] = -1;
  conn_close(p, c, 0);
}

static void service(fault_proxy *p, conn *c, int64_t now) {
  if (c->closed) return;
  if (c->connecting) {
    int i = c->pidx[FAULT_TO_CLIENT];
    if (i >= 0 && p->pfds[i].revents) finish_connect(p, c);
    return;
  }
  if (p->stalled) return;
  for (int d = 0; d < 2; d++) {
    int rev = c->pidx[d] >= 0 ? p->pfds[c->pidx[d]].revents : 0;
    if (!rev) continue;
    if (wants_read(p, c, d)) {
      if ((rev & (POLLIN | POLLHUP | POLLERR)) && read_flow(p, c, d, now) < 0) goto reset;
    } else if (rev & (POLLERR | POLLHUP)) {
      /* Polled for writing only: POLLHUP means both halves are shut, and we have not shut
       * our sending half while data is pending, so the peer reset the connection. */
      goto reset;
    }
  }
  for (int d = 0; d < 2; d++)
    if (write_flow(p, c, d, now) < 0) goto reset;
  for (int d = 0; d < 2; d++) {
    flow *f = &c->flow[d];
    if (f->head) continue;
    if (f->truncated) {
      close_truncated(p, c, d);
      return;
    }
    if (f->eof && !f->shut) {
      shutdown(c->fd[!d], SHUT_WR);
      f->shut = 1;
    }
  }
  if (c->flow[0].shut && c->flow[1].shut) conn_close(p, c, 0);
  return;
reset:
  conn_close(p, c, 1);
}

/* ------------------------------------------------------------------ listener */

static void relisten(fault_proxy *p, int64_t now) {
  if (p->listen_fd < 0) p->listen_fd = bind_loopback(p->port);
  if (p->listen_fd >= 0 && listen(p->listen_fd, SOMAXCONN) == 0) {
    p->listening = 1;
    return;
  }
  fprintf(stderr, "fault_proxy: cannot listen on 127.0.0.1:%d again (%s), retrying\n", p->port,
          strerror(errno));
  if (p->listen_fd >= 0) close(p->listen_fd);
  p->listen_fd = -1;
  p->relisten_us = now + RELISTEN_RETRY_US;
}

static void refuse(fault_proxy *p, int64_t now, int ms) {
  if (p->listening) {
    /* Closing the listener resets its backlog. Binding a socket that does not listen to the
     * port right away keeps the port ours (an ephemeral connect() elsewhere could take it
     * otherwise) and has the kernel answer SYNs with RST: connect() gets ECONNREFUSED. */
    close(p->listen_fd);
    p->listen_fd = bind_loopback(p->port);
    p->listening = 0;
    p->listen_pidx = -1;
  }
  p->relisten_us = now + (int64_t)ms * 1000;
  if (ms == 0) relisten(p, now);
}

/* ------------------------------------------------------------------ the I/O thread */

/* Applies pending commands and tells their callers. Returns 1 when asked to stop. */
static int take_requests(fault_proxy *p) {
  pthread_mutex_lock(&p->mu);
  struct request r = p->req;
  uint64_t seq = p->req_seq;
  p->req = NO_REQUEST;
  pthread_mutex_unlock(&p->mu);

  int64_t now = now_us();
  if (r.cut) {
    /* A client whose connect() has returned counts its connection as current even while it
     * still waits in the accept backlog; take those in so they are cut too. */
    if (p->listening) accept_all(p, now);
    for (conn *c = p->conns; c; c = c->next) conn_close(p, c, 1);
  }
  for (int d = 0; d < 2; d++) {
    if (r.truncate[d]) {
      p->truncate_armed[d] = 1;
      p->truncate_keep[d] = r.truncate_keep[d];
    }
  }
  if (r.delay_ms >= 0) p->delay_us = (int64_t)r.delay_ms * 1000;
  if (r.stall >= 0) p->stalled = r.stall;
  if (r.refuse_ms >= 0) refuse(p, now, r.refuse_ms);

  pthread_mutex_lock(&p->mu);
  p->done_seq = seq;
  pthread_cond_broadcast(&p->applied);
  pthread_mutex_unlock(&p->mu);
  return r.stop;
}

static struct pollfd *poll_slot(fault_proxy *p, size_t *n, int fd, short events) {
  struct pollfd *s = &p->pfds[(*n)++];
  s->fd = fd;
  s->events = events;
  s->revents = 0;
  return s;
}

/* Fills the poll set; returns the poll timeout in ms (-1: none). */
static int build_poll_set(fault_proxy *p, int64_t now, size_t *count) {
  size_t need = 2;
  for (conn *c = p->conns; c; c = c->next) need += 2;
  if (need > p->pfds_cap) {
    size_t cap = need * 2;
    struct pollfd *a = realloc(p->pfds, cap * sizeof *a);
    if (!a) {
      /* Test infrastructure: better a loud failure than a proxy that silently stops. */
      fprintf(stderr, "fault_proxy: out of memory\n");
      abort();
    }
    p->pfds = a;
    p->pfds_cap = cap;
  }

  size_t n = 0;
  int64_t next = INT64_MAX;
  poll_slot(p, &n, p->wake[0], POLLIN);
  p->listen_pidx = -1;
  if (!p->listening) {
    next = p->relisten_us;
  } else if (now < p->accept_retry_us) {
    next = p->accept_retry_us;
  } else {
    p->listen_pidx = (int)n;
    poll_slot(p, &n, p->listen_fd, POLLIN);
  }
  for (conn *c = p->conns; c; c = c->next) {
    c->pidx[0] = c->pidx[1] = -1;
    if (c->closed) continue;
    if (c->connecting) {
      c->pidx[FAULT_TO_CLIENT] = (int)n;
      poll_slot(p, &n, c->fd[FAULT_TO_CLIENT], POLLOUT);
      continue;
    }
    if (p->stalled) continue;
    for (int d = 0; d < 2; d++) {
      short ev = wants_read(p, c, d) ? POLLIN : 0;
      const chunk *out = c->flow[!d].head; /* flow !d writes fd[d] */
      if (out) {
        if (out->due_us <= now)
          ev |= POLLOUT;
        else if (out->due_us < next)
          next = out->due_us;
      }
      /* An fd nobody waits on stays out of the set: poll() would report POLLHUP on it
       * regardless of events, and nothing would consume it. */
      if (ev) {
        c->pidx[d] = (int)n;
        poll_slot(p, &n, c->fd[d], ev);
      }
    }
  }
  *count = n;
  if (next == INT64_MAX) return -1;
  if (next <= now) return 0;
  int64_t ms = (next - now + 999) / 1000; /* round up: waking early would just poll again */
  return ms > INT_MAX ? INT_MAX : (int)ms;
}

static void reap(fault_proxy *p) {
  conn **link = &p->conns;
  while (*link) {
    conn *c = *link;
    if (c->closed) {
      *link = c->next;
      free(c);
    } else {
      link = &c->next;
    }
  }
}

static void *run(void *arg) {
  fault_proxy *p = arg;
  for (;;) {
    int64_t now = now_us();
    if (!p->listening && now >= p->relisten_us) relisten(p, now);
    size_t n;
    int timeout = build_poll_set(p, now, &n);
    if (poll(p->pfds, (nfds_t)n, timeout) < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "fault_proxy: poll: %s\n", strerror(errno));
      abort();
    }
    if (p->pfds[0].revents) {
      char sink[64];
      while (read(p->wake[0], sink, sizeof sink) > 0) {
      }
      if (take_requests(p)) break;
    }
    now = now_us();
    if (p->listen_pidx >= 0 && p->pfds[p->listen_pidx].revents) accept_all(p, now);
    for (conn *c = p->conns; c; c = c->next) service(p, c, now);
    reap(p);
  }
  for (conn *c = p->conns; c; c = c->next) conn_close(p, c, 0);
  reap(p);
  if (p->listen_fd >= 0) close(p->listen_fd);
  p->listen_fd = -1;
  return NULL;
}

/* ------------------------------------------------------------------ API */

fault_proxy *fault_proxy_start(const char *target_host, int target_port) {
  if (!target_host || target_port <= 0 || target_port > 65535) {
    errno = EINVAL;
    return NULL;
  }
  fault_proxy *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->listen_fd = p->wake[0] = p->wake[1] = -1;
  p->req = NO_REQUEST;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->applied, NULL);

  char port[8];
  snprintf(port, sizeof port, "%d", target_port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int rc = getaddrinfo(target_host, port, &hints, &p->target);
  if (rc != 0) {
    if (rc != EAI_SYSTEM) errno = rc == EAI_MEMORY ? ENOMEM : ENOENT;
    p->target = NULL;
    goto fail;
  }
  if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) != 0) goto fail;
  p->listen_fd = bind_loopback(0);
  if (p->listen_fd < 0 || listen(p->listen_fd, SOMAXCONN) != 0) goto fail;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  socklen_t alen = sizeof a;
  if (getsockname(p->listen_fd, (struct sockaddr *)&a, &alen) != 0) goto fail;
  p->port = ntohs(a.sin_port);
  p->listening = 1;
  rc = pthread_create(&p->thread, NULL, run, p);
  if (rc != 0) {
    errno = rc;
    goto fail;
  }
  return p;

fail: {
  int e = errno;
  if (p->listen_fd >= 0) close(p->listen_fd);
  if (p->wake[0] >= 0) close(p->wake[0]);
  if (p->wake[1] >= 0) close(p->wake[1]);
  if (p->target) freeaddrinfo(p->target);
  pthread_cond_destroy(&p->applied);
  pthread_mutex_destroy(&p->mu);
  free(p);
  errno = e;
  return NULL;
}
}

int fault_proxy_port(const fault_proxy *p) { return p->port; }

/* Called with mu held, after filling p->req: wakes the I/O thread and waits until it has
 * applied the request. */
static int submit_locked(fault_proxy *p) {
  uint64_t seq = ++p->req_seq;
  char one = 1;
  /* A full pipe already holds a wake-up, so a failed write loses nothing. */
  while (write(p->wake[1], &one, 1) < 0 && errno == EINTR) {
  }
  while (p->done_seq < seq) pthread_cond_wait(&p->applied, &p->mu);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

int fault_proxy_cut(fault_proxy *p) {
  pthread_mutex_lock(&p->mu);
  p->req.cut = 1;
  return submit_locked(p);
}

int fault_proxy_stall(fault_proxy *p, int on) {
  pthread_mutex_lock(&p->mu);
  p->req.stall = on != 0;
  return submit_locked(p);
}

int fault_proxy_delay(fault_proxy *p, int ms) {
  if (ms < 0) {
    errno = EINVAL;
    return -1;
  }
  pthread_mutex_lock(&p->mu);
  p->req.delay_ms = ms;
  return submit_locked(p);
}

int fault_proxy_truncate_next(fault_proxy *p, int direction, size_t keep_bytes) {
  if (direction != FAULT_TO_SERVER && direction != FAULT_TO_CLIENT) {
    errno = EINVAL;
    return -1;
  }
  pthread_mutex_lock(&p->mu);
  p->req.truncate[direction] = 1;
  p->req.truncate_keep[direction] = keep_bytes;
  return submit_locked(p);
}

int fault_proxy_refuse(fault_proxy *p, int ms) {
  if (ms < 0) {
    errno = EINVAL;
    return -1;
  }
  pthread_mutex_lock(&p->mu);
  p->req.refuse_ms = ms;
  return submit_locked(p);
}

uint64_t fault_proxy_connections_accepted(const fault_proxy *p) {
  return atomic_load(&p->accepted);
}

uint64_t fault_proxy_connections_active(const fault_proxy *p) { return atomic_load(&p->active); }

uint64_t fault_proxy_bytes(const fault_proxy *p, int direction) {
  if (direction != FAULT_TO_SERVER && direction != FAULT_TO_CLIENT) return 0;
  return atomic_load(&p->bytes[direction]);
}

void fault_proxy_stop(fault_proxy *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->req.stop = 1;
  ++p->req_seq;
  char one = 1;
  while (write(p->wake[1], &one, 1) < 0 && errno == EINTR) {
  }
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->thread, NULL);
  close(p->wake[0]);
  close(p->wake[1]);
  freeaddrinfo(p->target);
  free(p->pfds);
  pthread_cond_destroy(&p->applied);
  pthread_mutex_destroy(&p->mu);
  free(p);
}
