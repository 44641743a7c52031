/* signalr bench: a load generator in the manner of Microsoft's Crankier and the
 * aspnet/Benchmarks SignalR scenarios, on the public C API only.
 *
 *   signalr bench URL [URL...] --connections N --ramp R --scenario idle|echo|broadcast|stream
 *                 --duration S [--interval MS] [--senders K] [--size BYTES] [--transport T]
 *                 [--protocol P] [--json FILE] ...
 *
 * All connections share one signalr_context, created with SIGNALR_CONTEXT_DIRECT: the
 * callbacks run on the context's I/O thread, so a received message costs no hand-off between
 * threads (the cheapest CPU per message the API offers). The main thread only starts
 * connections at the ramp rate, paces the sends and redraws the progress line; the counters
 * the two threads share are C11 atomics. Timestamps are this process's CLOCK_MONOTONIC in
 * microseconds, carried through the hub (tests/server/Hubs/BenchHub.cs) and back, so latency
 * needs no clock shared with the server.
 *
 * Phases: ramp (start N connections at R/s, at most --max-connecting at once, until each has
 * connected or failed), run (--duration seconds of the scenario), drain (up to --drain seconds
 * for what is still in flight), report. Several URLs spread the connections round-robin (other
 * server ports or addresses), past the ~28k ephemeral ports of one address pair, or the nodes of
 * a scale-out cluster; the report then breaks deliveries, loss and latency down per URL. */
#define _GNU_SOURCE /* mallinfo2, clock_gettime */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h> /* mallinfo2 */
#endif

#include "signalr/signalr.h"

int signalr_cli_bench(int argc, char **argv);

/* ------------------------------------------------------------------ clock, resources */

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_us(int64_t us) {
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

static int64_t cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

static int64_t rss_bytes(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  fclose(f);
  return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

/* Bytes handed out by malloc (arena and mmapped chunks), glibc's count. */
static int64_t heap_bytes(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 mi = mallinfo2();
  return (int64_t)(mi.uordblks + mi.hblkhd);
#else
  return 0;
#endif
}

/* Raises RLIMIT_NOFILE so that `want` descriptors fit (the hard limit too, when allowed: root).
 * Must run before the context exists: libwebsockets sizes its descriptor table at creation. */
static rlim_t raise_nofile(rlim_t want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl)) return 0;
  if (rl.rlim_cur >= want) return rl.rlim_cur;
  if (rl.rlim_max < want) {
    struct rlimit up = {want, want};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0) return want;
  }
  rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

/* ------------------------------------------------------------------ histogram
 *
 * HdrHistogram-style log-linear buckets over microseconds: exact below 64, then 32 linear
 * sub-buckets per power of two (a bucket is at most 1/32 = 3% wide). Recorded with relaxed
 * atomics from the I/O thread; the main thread reads snapshots (a progress line takes the
 * difference of two). */
#define H_BITS 5
#define H_HALF (1 << H_BITS)
#define H_SUB (2 * H_HALF)
#define H_BUCKETS (H_SUB + 40 * H_HALF)

typedef struct hist {
  _Atomic uint64_t counts[H_BUCKETS];
  _Atomic uint64_t total, sum, max;
} hist;

static int h_index(uint64_t v) {
  if (v < H_SUB) return (int)v;
  int shift = 63 - __builtin_clzll(v) - H_BITS; /* v >> shift is in [H_HALF, 2*H_HALF) */
  int idx = H_SUB + (shift - 1) * H_HALF + (int)((v >> shift) - H_HALF);
  return idx < H_BUCKETS ? idx : H_BUCKETS - 1;
}

static uint64_t h_low(int idx) {
  if (idx < H_SUB) return (uint64_t)idx;
  int shift = (idx - H_SUB) / H_HALF + 1;
  return (uint64_t)((idx - H_SUB) % H_HALF + H_HALF) << shift;
}

static uint64_t h_high(int idx) { return idx + 1 < H_BUCKETS ? h_low(idx + 1) - 1 : UINT64_MAX; }

static void h_record(hist *h, int64_t v) {
  uint64_t u = v < 0 ? 0 : (uint64_t)v;
  atomic_fetch_add_explicit(&h->counts[h_index(u)], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->total, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum, u, memory_order_relaxed);
  uint64_t m = atomic_load_explicit(&h->max, memory_order_relaxed);
  while (u > m && !atomic_compare_exchange_weak_explicit(&h->max, &m, u, memory_order_relaxed,
                                                         memory_order_relaxed)) {
  }
}

static void h_snapshot(hist *h, uint64_t *out) {
  for (int i = 0; i < H_BUCKETS; i++) out[i] = atomic_load_explicit(&h->counts[i], memory_order_relaxed);
}

/* The value at quantile q (0..1) of counts: the bucket's highest value, as HdrHistogram's
 * "highest equivalent value", capped by max when given. */
static uint64_t h_quantile(const uint64_t *counts, double q, uint64_t max) {
  uint64_t total = 0;
  for (int i = 0; i < H_BUCKETS; i++) total += counts[i];
  if (!total) return 0;
  uint64_t want = (uint64_t)(q * (double)total + 0.5);
  if (want < 1) want = 1;
  uint64_t seen = 0;
  for (int i = 0; i < H_BUCKETS; i++) {
    seen += counts[i];
    if (seen >= want) {
      uint64_t v = h_high(i);
      return max && v > max ? max : v;
    }
  }
  return max;
}

/* ------------------------------------------------------------------ state */

enum { SC_IDLE, SC_ECHO, SC_BROADCAST, SC_STREAM };
static const char *const scenario_names[] = {"idle", "echo", "broadcast", "stream"};

enum { CS_NEW, CS_CONNECTING, CS_CONNECTED, CS_RECONNECTING, CS_FAILED, CS_CLOSED };

struct bench;

typedef struct bconn {
  struct bench *b;
  signalr_connection *conn;
  int64_t start_us;
  _Atomic int state;             /* CS_*; written by the callbacks, read by the send loop */
  int receiver;                  /* connected when the run began: its deliveries count */
  int url;                       /* index of its URL (round-robin): the per-URL figures */
  _Atomic uint64_t received;     /* echo replies, broadcasts or stream items */
  int64_t next_item;             /* stream: the item expected next */
} bconn;

#define MAX_CODES 64

typedef struct err_group {
  uint64_t count;
  int http_status;
  char where[16];
  char *message, *hint;
} err_group;

typedef struct bench {
  /* options */
  int scenario, connections, ramp, max_connecting, duration_s, interval_ms, senders, size;
  int drain_s, msgpack, poll_mode;
  const char *json_path;
  /* connections */
  bconn *c;
  int64_t run_id;
  /* counters (I/O thread writes, main thread reads) */
  _Atomic int connecting, connected, failed, reconnecting, closed;
  _Atomic uint64_t reconnects, send_failed, foreign, late;
  _Atomic uint64_t received, acked, call_failed, items, streams_done, streams_failed, out_of_order, short_streams;
  _Atomic int large_phase;       /* --large: Echo replies now are the large ones */
  _Atomic uint64_t large_received;
  int large;                      /* --large BYTES (0: none) */
  uint64_t large_sent;
  uint64_t sent;                 /* main thread: echoes sent, broadcasts or streams started */
  uint64_t skipped, eagain;      /* main thread: sends not made (not connected) and refused */
  int receivers;
  _Atomic int stopping;
  hist latency, connect;
  /* Per URL ("per node" when the URLs are a cluster's nodes): latency of what connections of
   * that URL received, and the echoes they sent (main thread). */
  int nurls;
  char **urls;
  hist *url_latency;
  uint64_t *url_sent;
  pthread_mutex_t err_lock;
  err_group errors[MAX_CODES];
} bench;

static volatile sig_atomic_t bench_interrupted;
static void on_sigint(int sig) {
  (void)sig;
  bench_interrupted = 1;
}

static void record_error(bench *b, const char *where, int rc, const signalr_error *e) {
  int code = e ? signalr_error_code(e) : rc;
  int idx = -code;
  if (idx < 0 || idx >= MAX_CODES) idx = 0;
  pthread_mutex_lock(&b->err_lock);
  err_group *g = &b->errors[idx];
  if (!g->count++) {
    snprintf(g->where, sizeof g->where, "%s", where);
    const char *msg = e ? signalr_error_message(e) : signalr_strerror(code);
    const char *hint = e ? signalr_error_hint(e) : NULL;
    g->message = strdup(msg ? msg : "");
    g->hint = hint ? strdup(hint) : NULL;
    g->http_status = e ? signalr_error_http_status(e) : 0;
  }
  pthread_mutex_unlock(&b->err_lock);
}

/* ------------------------------------------------------------------ reading values
 *
 * The scenario messages carry integers only (and a payload string we do not look at), so they
 * are read straight from the wire bytes: JSON text or MessagePack, no conversion. */

static int mp_int(const uint8_t **pp, const uint8_t *end, int64_t *out) {
  const uint8_t *p = *pp;
  if (p >= end) return -1;
  uint8_t t = *p++;
  int n;
  int sign = 0;
  if (t <= 0x7f) { *out = t; *pp = p; return 0; }
  if (t >= 0xe0) { *out = (int8_t)t; *pp = p; return 0; }
  switch (t) {
    case 0xcc: n = 1; break;
    case 0xcd: n = 2; break;
    case 0xce: n = 4; break;
    case 0xcf: n = 8; break;
    case 0xd0: n = 1; sign = 1; break;
    case 0xd1: n = 2; sign = 1; break;
    case 0xd2: n = 4; sign = 1; break;
    case 0xd3: n = 8; sign = 1; break;
    default: return -1;
  }
  if (end - p < n) return -1;
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  if (sign && n < 8 && (v >> (8 * n - 1))) v |= ~(uint64_t)0 << (8 * n);
  *out = (int64_t)v;
  *pp = p + n;
  return 0;
}

/* Reads up to n leading integers of an array value (or of a single integer when array is 0).
 * Returns how many were read. */
static int read_ints(const signalr_value *v, int array, int64_t *out, int n) {
  size_t len;
  const uint8_t *p = signalr_value_data(v, &len), *end = p + len;
  if (!p) return 0;
  int got = 0;
  if (signalr_value_encoding(v) == SIGNALR_ENCODING_MSGPACK) {
    if (array) {
      if (p >= end) return 0;
      if ((*p & 0xf0) == 0x90) p++;
      else if (*p == 0xdc && end - p >= 3) p += 3;
      else if (*p == 0xdd && end - p >= 5) p += 5;
      else return 0;
    }
    while (got < n && mp_int(&p, end, &out[got]) == 0) got++;
    return got;
  }
  char tmp[96]; /* the integers come first: a short NUL-terminated copy is enough */
  size_t m = len < sizeof tmp - 1 ? len : sizeof tmp - 1;
  memcpy(tmp, p, m);
  tmp[m] = 0;
  char *s = tmp;
  if (array) {
    while (*s == ' ') s++;
    if (*s++ != '[') return 0;
  }
  while (got < n) {
    char *e;
    errno = 0;
    long long x = strtoll(s, &e, 10);
    if (e == s || errno) break;
    out[got++] = x;
    s = e;
    while (*s == ' ') s++;
    if (*s != ',') break;
    s++;
  }
  return got;
}

/* ------------------------------------------------------------------ writing arguments */

typedef struct abuf {
  uint8_t *p;
  size_t len, cap;
} abuf;

static void ab_put(abuf *a, const void *d, size_t n) {
  if (a->len + n > a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 256;
    while (cap < a->len + n) cap *= 2;
    uint8_t *q = realloc(a->p, cap);
    if (!q) abort();
    a->p = q;
    a->cap = cap;
  }
  memcpy(a->p + a->len, d, n);
  a->len += n;
}

static void mp_i64(abuf *a, int64_t v) {
  uint8_t b[9] = {0xd3};
  for (int i = 0; i < 8; i++) b[1 + i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
  ab_put(a, b, 9);
}

/* Arguments [ints..., payload] in the connection's own encoding, so nothing is transcoded. */
static void build_args(abuf *a, int msgpack, const int64_t *ints, int n, const char *payload, size_t plen) {
  a->len = 0;
  if (msgpack) {
    uint8_t h = (uint8_t)(0x90 | (n + (payload ? 1 : 0)));
    ab_put(a, &h, 1);
    for (int i = 0; i < n; i++) mp_i64(a, ints[i]);
    if (payload) {
      uint8_t s[5] = {0xdb, (uint8_t)(plen >> 24), (uint8_t)(plen >> 16), (uint8_t)(plen >> 8), (uint8_t)plen};
      ab_put(a, s, 5);
      ab_put(a, payload, plen);
    }
    return;
  }
  ab_put(a, "[", 1);
  for (int i = 0; i < n; i++) {
    char num[32];
    int k = snprintf(num, sizeof num, "%s%" PRId64, i ? "," : "", ints[i]);
    ab_put(a, num, (size_t)k);
  }
  if (payload) {
    ab_put(a, n ? ",\"" : "\"", n ? 2 : 1);
    ab_put(a, payload, plen);
    ab_put(a, "\"", 1);
  }
  ab_put(a, "]", 1);
}

/* ------------------------------------------------------------------ callbacks (I/O thread) */

static void on_started(void *ud, signalr_connection *c, const signalr_value *v, const signalr_error *e) {
  (void)c; (void)v;
  bconn *bc = ud;
  bench *b = bc->b;
  if (atomic_load(&b->stopping)) return;
  atomic_fetch_sub(&b->connecting, 1);
  if (e) {
    bc->state = CS_FAILED;
    atomic_fetch_add(&b->failed, 1);
    record_error(b, "connect", 0, e);
    return;
  }
  h_record(&b->connect, now_us() - bc->start_us);
  bc->state = CS_CONNECTED;
  atomic_fetch_add(&b->connected, 1);
}

static void on_life(void *ud, signalr_connection *c, int event, const signalr_error *e) {
  (void)c;
  bconn *bc = ud;
  bench *b = bc->b;
  if (atomic_load(&b->stopping)) return;
  switch (event) {
    case SIGNALR_EVENT_RECONNECTING:
      if (bc->state != CS_CONNECTED) return;
      bc->state = CS_RECONNECTING;
      atomic_fetch_sub(&b->connected, 1);
      atomic_fetch_add(&b->reconnecting, 1);
      if (e) record_error(b, "reconnecting", 0, e);
      break;
    case SIGNALR_EVENT_RECONNECTED:
      if (bc->state != CS_RECONNECTING) return;
      bc->state = CS_CONNECTED;
      atomic_fetch_sub(&b->reconnecting, 1);
      atomic_fetch_add(&b->connected, 1);
      atomic_fetch_add(&b->reconnects, 1);
      break;
    case SIGNALR_EVENT_CLOSED:
      if (bc->state == CS_CONNECTED) atomic_fetch_sub(&b->connected, 1);
      else if (bc->state == CS_RECONNECTING) atomic_fetch_sub(&b->reconnecting, 1);
      else return; /* a failed start: its completion counts it */
      bc->state = CS_CLOSED;
      atomic_fetch_add(&b->closed, 1);
      record_error(b, "closed", SIGNALR_ECLOSED, e);
      break;
    case SIGNALR_EVENT_SEND_FAILED:
      atomic_fetch_add(&b->send_failed, 1);
      record_error(b, "send", SIGNALR_ETRANSPORT, e);
      break;
    default:
      break;
  }
}

static int on_echo(void *ud, signalr_connection *c, const signalr_value *args, const void **r, size_t *rl,
                   int *re, const char **err) {
  (void)c; (void)r; (void)rl; (void)re; (void)err;
  bconn *bc = ud;
  if (atomic_load_explicit(&bc->b->large_phase, memory_order_relaxed)) {
    atomic_fetch_add(&bc->b->large_received, 1);
    return 0;
  }
  int64_t ts;
  if (read_ints(args, 1, &ts, 1) != 1) return 0;
  int64_t lat = now_us() - ts;
  h_record(&bc->b->latency, lat);
  h_record(&bc->b->url_latency[bc->url], lat);
  atomic_fetch_add_explicit(&bc->received, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&bc->b->received, 1, memory_order_relaxed);
  return 0;
}

static int on_broadcast(void *ud, signalr_connection *c, const signalr_value *args, const void **r, size_t *rl,
                        int *re, const char **err) {
  (void)c; (void)r; (void)rl; (void)re; (void)err;
  bconn *bc = ud;
  bench *b = bc->b;
  int64_t v[3]; /* run, timestamp, seq */
  if (read_ints(args, 1, v, 3) != 3) return 0;
  if (v[0] != b->run_id) {
    atomic_fetch_add_explicit(&b->foreign, 1, memory_order_relaxed);
    return 0;
  }
  if (!bc->receiver) {
    atomic_fetch_add_explicit(&b->late, 1, memory_order_relaxed);
    return 0;
  }
  int64_t lat = now_us() - v[1];
  h_record(&b->latency, lat);
  h_record(&b->url_latency[bc->url], lat);
  atomic_fetch_add_explicit(&bc->received, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&b->received, 1, memory_order_relaxed);
  return 0;
}

static void on_bcast_done(void *ud, signalr_connection *c, const signalr_value *v, const signalr_error *e) {
  (void)c; (void)v;
  bench *b = ud;
  if (atomic_load(&b->stopping)) return;
  if (e) {
    atomic_fetch_add(&b->call_failed, 1);
    record_error(b, "broadcast", 0, e);
  } else {
    atomic_fetch_add(&b->acked, 1);
  }
}

static void on_item(void *ud, signalr_connection *c, const signalr_value *item) {
  (void)c;
  bconn *bc = ud;
  int64_t x;
  if (read_ints(item, 0, &x, 1) != 1 || x != bc->next_item)
    atomic_fetch_add_explicit(&bc->b->out_of_order, 1, memory_order_relaxed);
  bc->next_item++;
  atomic_fetch_add_explicit(&bc->received, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&bc->b->items, 1, memory_order_relaxed);
}

static void on_stream_done(void *ud, signalr_connection *c, const signalr_value *v, const signalr_error *e) {
  (void)c; (void)v;
  bconn *bc = ud;
  bench *b = bc->b;
  if (atomic_load(&b->stopping)) return;
  if (e) {
    atomic_fetch_add(&b->streams_failed, 1);
    record_error(b, "stream", 0, e);
  } else {
    atomic_fetch_add(&b->streams_done, 1);
  }
}

/* ------------------------------------------------------------------ progress */

typedef struct progress {
  int tty;
  int64_t t0, last_us;
  uint64_t last_received;
  uint64_t *prev, *cur, *diff;
} progress;

static void progress_line(bench *b, progress *p, const char *phase, int final) {
  int64_t now = now_us();
  double dt = (double)(now - p->last_us) / 1e6;
  uint64_t rec = atomic_load(&b->received) + atomic_load(&b->items);
  double rate = dt > 0 ? (double)(rec - p->last_received) / dt : 0;
  h_snapshot(&b->latency, p->cur);
  for (int i = 0; i < H_BUCKETS; i++) p->diff[i] = p->cur[i] - p->prev[i];
  memcpy(p->prev, p->cur, sizeof(uint64_t) * H_BUCKETS);
  p->last_us = now;
  p->last_received = rec;
  char lat[64] = "";
  if (b->scenario == SC_ECHO || b->scenario == SC_BROADCAST)
    snprintf(lat, sizeof lat, "  p50 %.2f ms  p99 %.2f ms", h_quantile(p->diff, 0.50, 0) / 1000.0,
             h_quantile(p->diff, 0.99, 0) / 1000.0);
  char line[256];
  snprintf(line, sizeof line, "[%6.1fs %-5s] connected %d  connecting %d  failed %d  reconnecting %d  closed %d  %.0f msg/s%s",
           (double)(now - p->t0) / 1e6, phase, atomic_load(&b->connected), atomic_load(&b->connecting),
           atomic_load(&b->failed), atomic_load(&b->reconnecting), atomic_load(&b->closed), rate, lat);
  if (p->tty) fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
  else fprintf(stderr, "%s\n", line);
  fflush(stderr);
}

/* ------------------------------------------------------------------ report */

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
    else fputc(ch, f);
  }
  fputc('"', f);
}

/* One URL's share: its connections, and what they were sent and received. */
typedef struct url_fig {
  int connections, connected, receivers, missing_connections;
  uint64_t sent, received, expected, lost;
} url_fig;

typedef struct figures {
  int64_t rss0, heap0, rss1, heap1, rss2, heap2, rss_large, heap_large;
  int64_t cpu_ramp, cpu_run, ramp_us, run_us;
  uint64_t expected, received, lost;
  int missing_connections;
  double msgs_per_s;
  int ok;
  url_fig *per_url; /* b->nurls of them */
} figures;

static void print_hist_pct(FILE *f, const char *name, hist *h, double scale, const char *unit) {
  uint64_t counts[H_BUCKETS];
  h_snapshot(h, counts);
  uint64_t max = atomic_load(&h->max), total = atomic_load(&h->total);
  if (!total) {
    fprintf(f, "%s: none\n", name);
    return;
  }
  fprintf(f, "%s (%" PRIu64 "): p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f %s\n", name, total,
          h_quantile(counts, 0.5, max) / scale, h_quantile(counts, 0.9, max) / scale,
          h_quantile(counts, 0.99, max) / scale, h_quantile(counts, 0.999, max) / scale, max / scale,
          (double)atomic_load(&h->sum) / (double)total / scale, unit);
}

/* The histogram in rows of one power of two each (its 32 sub-buckets merged), with a bar. */
static void print_hist_rows(FILE *f, hist *h) {
  uint64_t counts[H_BUCKETS];
  h_snapshot(h, counts);
  uint64_t total = atomic_load(&h->total);
  if (!total) return;
  uint64_t lo = 0, hi = 1, n = 0, cum = 0;
  int i = 0;
  while (i < H_BUCKETS) {
    while (i < H_BUCKETS && h_low(i) < hi) n += counts[i++];
    if (n) {
      cum += n;
      int bar = (int)(40.0 * (double)n / (double)total + 0.5);
      fprintf(f, "  %10.3f .. %10.3f ms %10" PRIu64 " %6.2f%% %6.2f%% |%.*s\n", lo / 1000.0, hi / 1000.0, n,
              100.0 * (double)n / (double)total, 100.0 * (double)cum / (double)total, bar,
              "########################################");
    }
    n = 0;
    lo = hi;
    hi *= 2;
    if (cum == total) break;
  }
}

static void json_hist_b(FILE *f, hist *h, double scale, int buckets) {
  uint64_t counts[H_BUCKETS];
  h_snapshot(h, counts);
  uint64_t max = atomic_load(&h->max), total = atomic_load(&h->total);
  fprintf(f, "{\"count\":%" PRIu64 ",\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f",
          total, h_quantile(counts, 0.5, max) / scale, h_quantile(counts, 0.9, max) / scale,
          h_quantile(counts, 0.99, max) / scale, h_quantile(counts, 0.999, max) / scale, max / scale,
          total ? (double)atomic_load(&h->sum) / (double)total / scale : 0.0);
  if (!buckets) {
    fputc('}', f);
    return;
  }
  fprintf(f, ",\"buckets\":[");
  int first = 1;
  for (int i = 0; i < H_BUCKETS; i++) {
    if (!counts[i]) continue;
    fprintf(f, "%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]", first ? "" : ",", h_low(i), h_high(i), counts[i]);
    first = 0;
  }
  fprintf(f, "]}");
}

static void json_hist(FILE *f, hist *h, double scale) { json_hist_b(f, h, scale, 1); }

static void write_report(bench *b, const figures *fg, FILE *f) {
  int connected = atomic_load(&b->connected);
  fprintf(f, "\nsignalr bench: %s, %d connections requested\n", scenario_names[b->scenario], b->connections);
  fprintf(f, "connections: connected %d  failed %d  reconnecting %d  closed %d  reconnects %" PRIu64 "\n", connected,
          atomic_load(&b->failed), atomic_load(&b->reconnecting), atomic_load(&b->closed),
          (uint64_t)atomic_load(&b->reconnects));
  print_hist_pct(f, "connect time", &b->connect, 1000.0, "ms");
  switch (b->scenario) {
    case SC_ECHO:
      fprintf(f, "echo: sent %" PRIu64 "  received %" PRIu64 "  lost %" PRIu64 "  (not sent: %" PRIu64
              " not connected, %" PRIu64 " buffer full)  %.0f msg/s\n",
              b->sent, fg->received, fg->lost, b->skipped, b->eagain, fg->msgs_per_s);
      break;
    case SC_BROADCAST:
      fprintf(f, "broadcast: %" PRIu64 " sent, %" PRIu64 " acknowledged, %" PRIu64 " failed, to %d receivers: "
              "delivered %" PRIu64 " of %" PRIu64 ", lost %" PRIu64 " (%d connections missing some)  %.0f deliveries/s\n",
              b->sent, (uint64_t)atomic_load(&b->acked), (uint64_t)atomic_load(&b->call_failed), b->receivers,
              fg->received, fg->expected, fg->lost, fg->missing_connections, fg->msgs_per_s);
      if (atomic_load(&b->foreign) || atomic_load(&b->late))
        fprintf(f, "  ignored: %" PRIu64 " from another run, %" PRIu64 " to connections that joined late\n",
                (uint64_t)atomic_load(&b->foreign), (uint64_t)atomic_load(&b->late));
      break;
    case SC_STREAM:
      fprintf(f, "stream: %" PRIu64 " streams, %" PRIu64 " completed, %" PRIu64 " failed; items %" PRIu64 " of %" PRIu64
              ", lost %" PRIu64 ", out of order %" PRIu64 "  %.0f items/s\n",
              b->sent, (uint64_t)atomic_load(&b->streams_done), (uint64_t)atomic_load(&b->streams_failed), fg->received,
              fg->expected, fg->lost, (uint64_t)atomic_load(&b->out_of_order), fg->msgs_per_s);
      break;
    default:
      break;
  }
  if (b->scenario == SC_ECHO || b->scenario == SC_BROADCAST) {
    print_hist_pct(f, "latency", &b->latency, 1000.0, "ms");
    print_hist_rows(f, &b->latency);
  }
  if (b->nurls > 1 && fg->per_url) {
    /* Per URL: with a cluster's nodes as the URLs, what each node's connections got. */
    fprintf(f, "per URL:\n");
    for (int u = 0; u < b->nurls; u++) {
      const url_fig *uf = &fg->per_url[u];
      fprintf(f, "  [%d] %s: connections %d, connected %d", u, b->urls[u], uf->connections, uf->connected);
      if (b->scenario != SC_IDLE)
        fprintf(f, "; received %" PRIu64 " of %" PRIu64 ", lost %" PRIu64, uf->received, uf->expected, uf->lost);
      if (b->scenario == SC_ECHO || b->scenario == SC_BROADCAST) {
        hist *h = &b->url_latency[u];
        uint64_t counts[H_BUCKETS], max = atomic_load(&h->max);
        h_snapshot(h, counts);
        fprintf(f, "; latency (%" PRIu64 ") p50 %.3f  p99 %.3f  max %.3f ms", (uint64_t)atomic_load(&h->total),
                h_quantile(counts, 0.5, max) / 1000.0, h_quantile(counts, 0.99, max) / 1000.0, max / 1000.0);
      }
      fprintf(f, "\n");
    }
  }
  if (atomic_load(&b->send_failed)) fprintf(f, "send failures: %" PRIu64 "\n", (uint64_t)atomic_load(&b->send_failed));
  int any = 0;
  for (int i = 0; i < MAX_CODES; i++) {
    err_group *g = &b->errors[i];
    if (!g->count) continue;
    if (!any++) fprintf(f, "errors:\n");
    fprintf(f, "  %-22s %8" PRIu64 "  first in %s: %s", signalr_error_name(-i) ? signalr_error_name(-i) : "?",
            g->count, g->where, g->message);
    if (g->http_status) fprintf(f, " (HTTP %d)", g->http_status);
    fprintf(f, "\n");
    if (g->hint) fprintf(f, "  %-22s           hint: %s\n", "", g->hint);
  }
  int n = connected ? connected : 1;
  fprintf(f, "client CPU: setup %.1f us/connection (ramp %.2f s wall); run %.3f s", (double)fg->cpu_ramp / n,
          fg->ramp_us / 1e6, fg->cpu_run / 1e6);
  if (fg->received) fprintf(f, " = %.1f us/message", (double)fg->cpu_run / (double)fg->received);
  else if (fg->run_us) fprintf(f, " = %.2f%% of a core", 100.0 * (double)fg->cpu_run / (double)fg->run_us);
  fprintf(f, "\nmemory per connection: RSS %.1f KB, heap %.1f KB (after the ramp); RSS %.1f KB, heap %.1f KB (after the run)\n",
          (double)(fg->rss1 - fg->rss0) / n / 1024.0, (double)(fg->heap1 - fg->heap0) / n / 1024.0,
          (double)(fg->rss2 - fg->rss0) / n / 1024.0, (double)(fg->heap2 - fg->heap0) / n / 1024.0);
  if (b->large)
    fprintf(f, "memory per connection after one %d-byte echo each (%" PRIu64 " of %" PRIu64 " back): RSS %.1f KB, heap %.1f KB\n",
            b->large, (uint64_t)atomic_load(&b->large_received), b->large_sent,
            (double)(fg->rss_large - fg->rss0) / n / 1024.0, (double)(fg->heap_large - fg->heap0) / n / 1024.0);
  fprintf(f, "%s\n", fg->ok ? "result: ok" : "result: FAILED (see above)");
}

static void write_json(bench *b, const figures *fg, FILE *f, const char *transport, const char *protocol,
                       char **urls, int nurls) {
  int connected = atomic_load(&b->connected), n = connected ? connected : 1;
  fprintf(f, "{\"tool\":\"signalr bench\",\"version\":");
  json_str(f, signalr_version());
  fprintf(f, ",\"mode\":\"%s\",\"scenario\":\"%s\",\"urls\":[", b->poll_mode ? "poll" : "direct",
          scenario_names[b->scenario]);
  for (int i = 0; i < nurls; i++) {
    if (i) fputc(',', f);
    json_str(f, urls[i]);
  }
  fprintf(f, "],\"transport\":");
  json_str(f, transport ? transport : "default");
  fprintf(f, ",\"protocol\":");
  json_str(f, protocol ? protocol : "json");
  fprintf(f, ",\"requested\":%d,\"ramp_per_s\":%d,\"duration_s\":%d,\"interval_ms\":%d,\"payload_bytes\":%d,"
             "\"senders\":%d,\"connected\":%d,\"failed\":%d,\"reconnecting\":%d,\"closed\":%d,\"reconnects\":%" PRIu64
             ",\"connecting\":%d,\"interrupted\":%s,",
          b->connections, b->ramp, b->duration_s, b->interval_ms, b->size, b->senders, connected,
          atomic_load(&b->failed), atomic_load(&b->reconnecting), atomic_load(&b->closed),
          (uint64_t)atomic_load(&b->reconnects), atomic_load(&b->connecting), bench_interrupted ? "true" : "false");
  fprintf(f, "\"messages\":{\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"expected\":%" PRIu64 ",\"lost\":%" PRIu64
             ",\"per_s\":%.1f,\"not_sent_not_connected\":%" PRIu64 ",\"not_sent_buffer_full\":%" PRIu64
             ",\"send_failed\":%" PRIu64 ",\"receivers\":%d,\"connections_missing\":%d,\"acked\":%" PRIu64
             ",\"call_failed\":%" PRIu64 ",\"foreign\":%" PRIu64 ",\"late\":%" PRIu64 ",\"streams_completed\":%" PRIu64
             ",\"streams_failed\":%" PRIu64 ",\"out_of_order\":%" PRIu64 "},",
          b->sent, fg->received, fg->expected, fg->lost, fg->msgs_per_s, b->skipped, b->eagain,
          (uint64_t)atomic_load(&b->send_failed), b->receivers, fg->missing_connections,
          (uint64_t)atomic_load(&b->acked), (uint64_t)atomic_load(&b->call_failed),
          (uint64_t)atomic_load(&b->foreign), (uint64_t)atomic_load(&b->late),
          (uint64_t)atomic_load(&b->streams_done), (uint64_t)atomic_load(&b->streams_failed),
          (uint64_t)atomic_load(&b->out_of_order));
  fprintf(f, "\"latency_us\":");
  json_hist(f, &b->latency, 1.0);
  fprintf(f, ",\"connect_ms\":");
  json_hist(f, &b->connect, 1000.0);
  fprintf(f, ",\"per_url\":[");
  for (int u = 0; fg->per_url && u < nurls; u++) {
    const url_fig *uf = &fg->per_url[u];
    fprintf(f, "%s{\"url\":", u ? "," : "");
    json_str(f, urls[u]);
    fprintf(f, ",\"connections\":%d,\"connected\":%d,\"receivers\":%d,\"sent\":%" PRIu64 ",\"received\":%" PRIu64
               ",\"expected\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"connections_missing\":%d,\"latency_us\":",
            uf->connections, uf->connected, uf->receivers, uf->sent, uf->received, uf->expected, uf->lost,
            uf->missing_connections);
    json_hist_b(f, &b->url_latency[u], 1.0, 0);
    fputc('}', f);
  }
  fputc(']', f);
  fprintf(f, ",\"errors\":[");
  int first = 1;
  for (int i = 0; i < MAX_CODES; i++) {
    err_group *g = &b->errors[i];
    if (!g->count) continue;
    fprintf(f, "%s{\"code\":%d,\"name\":", first ? "" : ",", -i);
    json_str(f, signalr_error_name(-i) ? signalr_error_name(-i) : "?");
    fprintf(f, ",\"count\":%" PRIu64 ",\"where\":", g->count);
    json_str(f, g->where);
    fprintf(f, ",\"http_status\":%d,\"message\":", g->http_status);
    json_str(f, g->message);
    fprintf(f, ",\"hint\":");
    if (g->hint) json_str(f, g->hint);
    else fprintf(f, "null");
    fputc('}', f);
    first = 0;
  }
  fprintf(f, "],\"cpu_us\":{\"ramp\":%" PRId64 ",\"run\":%" PRId64 ",\"setup_per_connection\":%.1f,\"per_message\":%.2f},",
          fg->cpu_ramp, fg->cpu_run, (double)fg->cpu_ramp / n,
          fg->received ? (double)fg->cpu_run / (double)fg->received : 0.0);
  fprintf(f, "\"wall_us\":{\"ramp\":%" PRId64 ",\"run\":%" PRId64 "},", fg->ramp_us, fg->run_us);
  fprintf(f, "\"memory\":{\"rss_baseline\":%" PRId64 ",\"heap_baseline\":%" PRId64 ",\"rss_after_ramp\":%" PRId64
             ",\"heap_after_ramp\":%" PRId64 ",\"rss_after_run\":%" PRId64 ",\"heap_after_run\":%" PRId64
             ",\"rss_per_connection\":%.0f,\"heap_per_connection\":%.0f,\"rss_per_connection_after_run\":%.0f,"
             "\"heap_per_connection_after_run\":%.0f,\"large_bytes\":%d,\"large_sent\":%" PRIu64
             ",\"large_received\":%" PRIu64 ",\"rss_after_large\":%" PRId64 ",\"heap_after_large\":%" PRId64
             ",\"rss_per_connection_after_large\":%.0f,\"heap_per_connection_after_large\":%.0f},",
          fg->rss0, fg->heap0, fg->rss1, fg->heap1, fg->rss2, fg->heap2, (double)(fg->rss1 - fg->rss0) / n,
          (double)(fg->heap1 - fg->heap0) / n, (double)(fg->rss2 - fg->rss0) / n, (double)(fg->heap2 - fg->heap0) / n,
          b->large, b->large_sent, (uint64_t)atomic_load(&b->large_received), fg->rss_large, fg->heap_large,
          b->large ? (double)(fg->rss_large - fg->rss0) / n : 0.0, b->large ? (double)(fg->heap_large - fg->heap0) / n : 0.0);
  fprintf(f, "\"ok\":%s}\n", fg->ok ? "true" : "false");
}

/* Waits between two steps of the main loop. Direct mode: the I/O thread runs the callbacks,
 * the main thread sleeps. Poll mode: the main thread runs them (and, while it waits, the
 * context's I/O itself) in signalr_context_poll. */
static void wait_us(bench *b, signalr_context *ctx, int64_t us) {
  if (!b->poll_mode) {
    sleep_us(us);
    return;
  }
  int64_t end = now_us() + us;
  for (int64_t left = us; left > 0; left = end - now_us())
    signalr_context_poll(ctx, (int32_t)((left + 999) / 1000));
}

/* ------------------------------------------------------------------ options */

static void bench_usage(FILE *to) {
  fprintf(to,
          "usage: signalr bench URL [URL...] [--connections N] [--ramp R] [--scenario idle|echo|broadcast|stream]\n"
          "                     [--duration S] [flags]\n"
          "Holds N connections on one context (one I/O thread) and drives a scenario against a hub with the\n"
          "methods of tests/server/Hubs/BenchHub.cs (Echo, Broadcast, Stream), e.g. http://HOST/hubs/bench.\n"
          "  idle       connect and hold (keep-alive pings only)\n"
          "  echo       every connection sends Echo(timestamp, payload) every --interval ms; the reply's\n"
          "             round trip is the latency; sent = received, or the difference is reported lost\n"
          "  broadcast  --senders connections each call Broadcast(run, timestamp, seq, payload) every\n"
          "             --interval ms; the hub fans it out to all: delivered = acknowledged x receivers\n"
          "  stream     every connection reads Stream(count, --interval): count = duration / interval items\n"
          "Several URLs (other ports or 127.0.0.x addresses of the same hub) share the connections\n"
          "round-robin: one address pair has ~28k ephemeral ports. The report then gives each URL's\n"
          "deliveries, loss and latency too (a cluster's nodes as the URLs: per node).\n"
          "flags:\n"
          "  --connections N      connections to hold (default 100)\n"
          "  --ramp R             connections started per second (default 1000; 0: all at once)\n"
          "  --max-connecting N   connection attempts in flight at once (default 500)\n"
          "  --scenario S         idle (default), echo, broadcast, stream\n"
          "  --duration S         seconds the scenario runs once every connection is up (default 10)\n"
          "  --interval MS        echo: per connection; broadcast: per sender; stream: between items\n"
          "                       (default 1000, 100, 100)\n"
          "  --senders K          echo, broadcast: connections that send (default: echo all, broadcast 1);\n"
          "                       echo with fewer: the others stay idle beside them\n"
          "  --size BYTES         payload string per message (default 16)\n"
          "  --large BYTES        after the ramp, one Echo of BYTES per connection, then memory again\n"
          "                       (buffers that grew for it should shrink back)\n"
          "  --drain S            seconds to wait for what is in flight after the run (default 10)\n"
          "  --transport T        websockets, serversentevents, longpolling\n"
          "  --protocol P         json (default) or messagepack\n"
          "  --skip-negotiation   connect the WebSocket directly\n"
          "  --reconnect          automatic reconnect (reconnecting connections are counted)\n"
          "  --poll               run the callbacks on the main thread (signalr_context_poll) instead of\n"
          "                       on the I/O thread (SIGNALR_CONTEXT_DIRECT, the default)\n"
          "  --log-level LEVEL    the library's log level (default none: errors are grouped in the report)\n"
          "  --option KEY=VALUE   any builder option (repeatable)\n"
          "  --json FILE          write the figures as JSON to FILE ('-': stdout, the report to stderr)\n"
          "exit status: 0 every count adds up with no failure, 1 failures or losses, 2 bad usage, 130 interrupted\n");
}

static int parse_int(const char *flag, const char *text, int min, int *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < min || v > INT_MAX / 2) {
    fprintf(stderr, "error: %s wants a whole number (%d or more), not '%s'\n", flag, min, text);
    return -1;
  }
  *out = (int)v;
  return 0;
}

/* ------------------------------------------------------------------ main */

int signalr_cli_bench(int argc, char **argv) {
  bench *b = calloc(1, sizeof *b);
  if (!b) return 1;
  pthread_mutex_init(&b->err_lock, NULL);
  b->connections = 100;
  b->ramp = 1000;
  b->max_connecting = 500;
  b->duration_s = 10;
  b->interval_ms = -1;
  b->senders = -1;
  b->size = 16;
  b->drain_s = 10;
  const char *transport = NULL, *protocol = NULL, *log_level = "none";
  int skip = 0, reconnect = 0;
  char **urls = calloc((size_t)argc, sizeof *urls), **opts = calloc((size_t)argc, sizeof *opts);
  int nurls = 0, nopts = 0;
  if (!urls || !opts) return 1;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      bench_usage(stdout);
      return 0;
    }
    if (a[0] != '-' || a[1] != '-') {
      if (a[0] == '-') {
        fprintf(stderr, "error: unknown flag %s (signalr bench --help lists them)\n", a);
        return 2;
      }
      urls[nurls++] = argv[i];
      continue;
    }
    if (!strcmp(a, "--skip-negotiation")) { skip = 1; continue; }
    if (!strcmp(a, "--reconnect")) { reconnect = 1; continue; }
    if (!strcmp(a, "--poll")) { b->poll_mode = 1; continue; }
    static const char *const with_value[] = {"--connections", "--ramp", "--max-connecting", "--scenario", "--duration",
                                             "--interval", "--senders", "--size", "--large", "--drain", "--transport",
                                             "--protocol", "--log-level", "--option", "--json", NULL};
    int known = 0;
    for (int k = 0; with_value[k]; k++) known |= !strcmp(a, with_value[k]);
    if (!known) {
      fprintf(stderr, "error: unknown flag %s (signalr bench --help lists them)\n", a);
      return 2;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "error: %s needs a value\n", a);
      return 2;
    }
    const char *v = argv[++i];
    int bad = 0;
    if (!strcmp(a, "--connections")) bad = parse_int(a, v, 1, &b->connections);
    else if (!strcmp(a, "--ramp")) bad = parse_int(a, v, 0, &b->ramp);
    else if (!strcmp(a, "--max-connecting")) bad = parse_int(a, v, 1, &b->max_connecting);
    else if (!strcmp(a, "--duration")) bad = parse_int(a, v, 0, &b->duration_s);
    else if (!strcmp(a, "--interval")) bad = parse_int(a, v, 1, &b->interval_ms);
    else if (!strcmp(a, "--senders")) bad = parse_int(a, v, 1, &b->senders);
    else if (!strcmp(a, "--size")) bad = parse_int(a, v, 0, &b->size);
    else if (!strcmp(a, "--large")) bad = parse_int(a, v, 0, &b->large);
    else if (!strcmp(a, "--drain")) bad = parse_int(a, v, 0, &b->drain_s);
    else if (!strcmp(a, "--transport")) transport = v;
    else if (!strcmp(a, "--protocol")) protocol = v;
    else if (!strcmp(a, "--log-level")) log_level = v;
    else if (!strcmp(a, "--json")) b->json_path = v;
    else if (!strcmp(a, "--option")) {
      if (!strchr(v, '=')) {
        fprintf(stderr, "error: --option wants KEY=VALUE, not '%s'\n", v);
        return 2;
      }
      opts[nopts++] = argv[i];
    } else if (!strcmp(a, "--scenario")) {
      b->scenario = -1;
      for (int k = 0; k < 4; k++)
        if (!strcmp(v, scenario_names[k])) b->scenario = k;
      if (b->scenario < 0) {
        fprintf(stderr, "error: --scenario wants idle, echo, broadcast or stream, not '%s'\n", v);
        return 2;
      }
    }
    if (bad) return 2;
  }
  if (!nurls) {
    fprintf(stderr, "error: bench needs a URL (a hub with BenchHub's methods, e.g. http://127.0.0.1:5000/hubs/bench)\n");
    bench_usage(stderr);
    return 2;
  }
  if (b->interval_ms < 0) b->interval_ms = b->scenario == SC_ECHO ? 1000 : 100;
  if (b->senders < 0) b->senders = b->scenario == SC_ECHO ? b->connections : 1;
  if (b->senders > b->connections) b->senders = b->connections;
  b->msgpack = protocol && !strcmp(protocol, "messagepack");
  b->nurls = nurls;
  b->urls = urls;
  b->url_latency = calloc((size_t)nurls, sizeof *b->url_latency);
  b->url_sent = calloc((size_t)nurls, sizeof *b->url_sent);
  if (!b->url_latency || !b->url_sent) return 1;

  /* One builder per URL, all options checked before anything connects. */
  signalr_builder **builders = calloc((size_t)nurls, sizeof *builders);
  if (!builders) return 1;
  char err[256];
  for (int u = 0; u < nurls; u++) {
    if (signalr_builder_new(&builders[u])) return 1;
    signalr_builder *bl = builders[u];
    int rc = signalr_builder_set(bl, "url", urls[u], err, sizeof err);
    if (!rc && transport) rc = signalr_builder_set(bl, "transports", transport, err, sizeof err);
    if (!rc && protocol) rc = signalr_builder_set(bl, "protocol", protocol, err, sizeof err);
    if (!rc && skip) rc = signalr_builder_set(bl, "skip_negotiation", "true", err, sizeof err);
    if (!rc && reconnect) rc = signalr_builder_set(bl, "reconnect", "true", err, sizeof err);
    if (!rc) rc = signalr_builder_set(bl, "log_level", log_level, err, sizeof err);
    for (int k = 0; !rc && k < nopts; k++) {
      char *kv = strdup(opts[k]), *eq = strchr(kv, '=');
      *eq = 0;
      rc = signalr_builder_set(bl, kv, eq + 1, err, sizeof err);
      free(kv);
    }
    if (rc) {
      fprintf(stderr, "error: %s\n", err);
      return 2;
    }
  }

  /* Descriptors: one socket per connection, a second for Long Polling's sends and for a
   * negotiate in flight, and some for the library itself. */
  rlim_t want = (rlim_t)b->connections * 2 + 256, need = (rlim_t)b->connections + 128;
  rlim_t got = raise_nofile(want);
  if (got < need)
    fprintf(stderr, "warning: RLIMIT_NOFILE is %llu (the hard limit), fewer than the %llu descriptors %d connections "
            "need: some will fail (ulimit -Hn; raising it needs CAP_SYS_RESOURCE)\n",
            (unsigned long long)got, (unsigned long long)need, b->connections);
  if (b->connections / nurls > 28000)
    fprintf(stderr, "warning: %d connections per URL: one client/server address pair has ~28k ephemeral ports "
            "(/proc/sys/net/ipv4/ip_local_port_range); give more URLs (other ports or 127.0.0.x)\n",
            b->connections / nurls);

  signal(SIGINT, on_sigint);
  signal(SIGTERM, on_sigint);
  signal(SIGPIPE, SIG_IGN);

  figures fg = {0};
  signalr_context *ctx;
  int rc = signalr_context_new(&ctx, b->poll_mode ? 0 : SIGNALR_CONTEXT_DIRECT);
  if (rc) {
    fprintf(stderr, "error: signalr_context_new: %s\n", signalr_strerror(rc));
    return 1;
  }
  srand((unsigned)(now_us() ^ getpid()));
  b->run_id = ((int64_t)rand() << 20) ^ rand() ^ (now_us() & 0xfffff);
  b->c = calloc((size_t)b->connections, sizeof *b->c);
  if (!b->c) return 1;
  size_t plen = (size_t)b->size;
  char *payload = malloc(plen + 1);
  if (!payload) return 1;
  memset(payload, 'x', plen);
  payload[plen] = 0;

  progress pr = {0};
  pr.tty = isatty(2);
  pr.prev = calloc(H_BUCKETS, sizeof(uint64_t));
  pr.cur = calloc(H_BUCKETS, sizeof(uint64_t));
  pr.diff = calloc(H_BUCKETS, sizeof(uint64_t));
  pr.t0 = pr.last_us = now_us();

  fg.rss0 = rss_bytes();
  fg.heap0 = heap_bytes();
  int64_t cpu0 = cpu_us(), t_ramp0 = now_us();

  /* ---- ramp */
  int started = 0;
  int64_t next_progress = t_ramp0 + 1000000;
  /* The ramp goes on as long as attempts complete (a loaded server is slow, not stuck); it
   * gives up after 60 s in which none connected or failed. */
  int64_t last_change = t_ramp0;
  int last_done = 0;
  while (!bench_interrupted) {
    int64_t now = now_us();
    int target = b->ramp ? (int)((now - t_ramp0) * b->ramp / 1000000) + 1 : b->connections;
    if (target > b->connections) target = b->connections;
    while (started < target && atomic_load(&b->connecting) < b->max_connecting) {
      bconn *bc = &b->c[started];
      bc->b = b;
      bc->url = started % nurls;
      /* The built connection copies the builder's options, this lifecycle callback with them. */
      signalr_builder_set_lifecycle(builders[started % nurls], on_life, bc, NULL);
      rc = signalr_builder_build(builders[started % nurls], ctx, &bc->conn, err, sizeof err);
      if (rc) {
        fprintf(stderr, "error: building connection %d: %s\n", started, err);
        bench_interrupted = 1;
        break;
      }
      if (b->scenario == SC_ECHO || b->large) signalr_connection_on(bc->conn, "Echo", on_echo, bc, NULL, NULL);
      if (b->scenario == SC_BROADCAST) signalr_connection_on(bc->conn, "Broadcast", on_broadcast, bc, NULL, NULL);
      bc->state = CS_CONNECTING;
      bc->start_us = now_us();
      atomic_fetch_add(&b->connecting, 1);
      rc = signalr_connection_start(bc->conn, on_started, bc);
      if (rc) {
        atomic_fetch_sub(&b->connecting, 1);
        bc->state = CS_FAILED;
        atomic_fetch_add(&b->failed, 1);
        record_error(b, "connect", rc, NULL);
      }
      started++;
    }
    if (now >= next_progress) {
      progress_line(b, &pr, "ramp", 0);
      next_progress += 1000000;
    }
    if (started == b->connections && atomic_load(&b->connecting) == 0) break;
    int done_now = atomic_load(&b->connected) + atomic_load(&b->failed);
    if (done_now != last_done) {
      last_done = done_now;
      last_change = now;
    }
    if (now - last_change > 60000000) {
      fprintf(stderr, "\nwarning: the ramp stalled: no attempt completed in 60 s, %d connections still connecting\n",
              atomic_load(&b->connecting));
      break;
    }
    wait_us(b, ctx, 2000);
  }
  fg.ramp_us = now_us() - t_ramp0;
  fg.cpu_ramp = cpu_us() - cpu0;
  fg.rss1 = rss_bytes();
  fg.heap1 = heap_bytes();
  progress_line(b, &pr, "ramp", 1);

  /* ---- --large: one large echo per connection (500 in flight at most), then memory again:
   * do buffers that grew for a large message shrink back? */
  if (b->large) {
    char *big = malloc((size_t)b->large + 1);
    abuf la = {0};
    if (!big) return 1;
    memset(big, 'y', (size_t)b->large);
    int64_t ts0 = 0;
    build_args(&la, b->msgpack, &ts0, 1, big, (size_t)b->large);
    free(big);
    atomic_store(&b->large_phase, 1);
    int next = 0;
    /* Gives up after 60 s in which no reply came (a slow machine is not a stuck one). */
    uint64_t large_seen = 0;
    int64_t large_end = now_us() + 60000000;
    while (!bench_interrupted && now_us() < large_end) {
      if (atomic_load(&b->large_received) != large_seen) {
        large_seen = atomic_load(&b->large_received);
        large_end = now_us() + 60000000;
      }
      while (next < started && b->large_sent - atomic_load(&b->large_received) < (uint64_t)b->max_connecting) {
        bconn *bc = &b->c[next++];
        if (atomic_load(&bc->state) != CS_CONNECTED) continue;
        rc = signalr_connection_send(bc->conn, "Echo", la.p, la.len,
                                     b->msgpack ? SIGNALR_ENCODING_MSGPACK : SIGNALR_ENCODING_JSON);
        if (rc == 0) b->large_sent++;
        else record_error(b, "large", rc, NULL);
      }
      if (next >= started && atomic_load(&b->large_received) >= b->large_sent) break;
      if (now_us() >= next_progress) {
        progress_line(b, &pr, "large", 0);
        fprintf(stderr, "  large echoes: %" PRIu64 " sent, %" PRIu64 " back\n", b->large_sent,
                (uint64_t)atomic_load(&b->large_received));
        next_progress = now_us() + 1000000;
      }
      wait_us(b, ctx, 2000);
    }
    free(la.p);
    atomic_store(&b->large_phase, 0);
    fg.rss_large = rss_bytes();
    fg.heap_large = heap_bytes();
    fprintf(stderr, "large: %" PRIu64 " echoes of %d bytes sent, %" PRIu64 " back\n", b->large_sent, b->large,
            (uint64_t)atomic_load(&b->large_received));
  }

  /* ---- run */
  int64_t cpu1 = cpu_us(), t_run0 = now_us();
  for (int i = 0; i < started; i++) b->c[i].receiver = b->c[i].state == CS_CONNECTED;
  for (int i = 0; i < started; i++) b->receivers += b->c[i].receiver;
  int nsenders = 0;
  int *senders = calloc((size_t)b->senders + 1, sizeof *senders);
  for (int i = 0; i < started && nsenders < b->senders; i++)
    if (b->c[i].receiver) senders[nsenders++] = i;
  int stream_count = b->duration_s * 1000 / b->interval_ms;
  if (b->scenario == SC_STREAM) {
    abuf a = {0};
    int64_t args[2] = {stream_count, b->interval_ms};
    build_args(&a, b->msgpack, args, 2, NULL, 0);
    for (int i = 0; i < started; i++) {
      if (!b->c[i].receiver) continue;
      rc = signalr_connection_stream(b->c[i].conn, "Stream", a.p, a.len,
                                     b->msgpack ? SIGNALR_ENCODING_MSGPACK : SIGNALR_ENCODING_JSON, on_item,
                                     on_stream_done, &b->c[i], NULL);
      if (rc) record_error(b, "stream", rc, NULL);
      else {
        b->sent++;
        b->url_sent[b->c[i].url]++;
      }
    }
    free(a.p);
  }
  abuf a = {0};
  uint64_t due_done = 0;
  int cursor = 0;
  int64_t seq = 0;
  int64_t run_end = t_run0 + (int64_t)b->duration_s * 1000000;
  next_progress = t_run0 + 1000000;
  while (!bench_interrupted) {
    int64_t now = now_us();
    if (now >= run_end) break;
    if ((b->scenario == SC_ECHO || b->scenario == SC_BROADCAST) && nsenders) {
      int pool = nsenders;
      uint64_t due = (uint64_t)((now - t_run0) / 1000) * (uint64_t)pool / (uint64_t)b->interval_ms;
      while (due_done < due && pool) {
        due_done++;
        int idx = senders[cursor];
        cursor = (cursor + 1) % pool;
        bconn *bc = &b->c[idx];
        if (bc->state != CS_CONNECTED) {
          b->skipped++;
          continue;
        }
        int enc = b->msgpack ? SIGNALR_ENCODING_MSGPACK : SIGNALR_ENCODING_JSON;
        if (b->scenario == SC_ECHO) {
          int64_t ts = now_us();
          build_args(&a, b->msgpack, &ts, 1, payload, plen);
          rc = signalr_connection_send(bc->conn, "Echo", a.p, a.len, enc);
        } else {
          int64_t v[3] = {b->run_id, now_us(), seq};
          build_args(&a, b->msgpack, v, 3, payload, plen);
          rc = signalr_connection_invoke(bc->conn, "Broadcast", a.p, a.len, enc, on_bcast_done, b);
          if (rc == 0) seq++;
        }
        if (rc == 0) {
          b->sent++;
          b->url_sent[bc->url]++;
        } else if (rc == SIGNALR_EAGAIN) b->eagain++;
        else if (rc == SIGNALR_ESTATE) b->skipped++;
        else record_error(b, b->scenario == SC_ECHO ? "send" : "broadcast", rc, NULL);
      }
    }
    if (now >= next_progress) {
      progress_line(b, &pr, "run", 0);
      next_progress += 1000000;
    }
    wait_us(b, ctx, 1000);
  }
  fg.run_us = now_us() - t_run0;

  /* ---- drain: what was sent gets its chance to arrive */
  int64_t drain_end = now_us() + (int64_t)b->drain_s * 1000000;
  while (!bench_interrupted && now_us() < drain_end) {
    int done = 1;
    if (b->scenario == SC_ECHO) done = atomic_load(&b->received) >= b->sent;
    if (b->scenario == SC_BROADCAST)
      done = atomic_load(&b->acked) + atomic_load(&b->call_failed) >= b->sent &&
             atomic_load(&b->received) >= atomic_load(&b->acked) * (uint64_t)b->receivers;
    if (b->scenario == SC_STREAM) done = atomic_load(&b->streams_done) + atomic_load(&b->streams_failed) >= b->sent;
    if (done) break;
    if (now_us() >= next_progress) {
      progress_line(b, &pr, "drain", 0);
      next_progress += 1000000;
    }
    wait_us(b, ctx, 2000);
  }
  int64_t t_end = now_us();
  fg.cpu_run = cpu_us() - cpu1;
  fg.rss2 = rss_bytes();
  fg.heap2 = heap_bytes();
  progress_line(b, &pr, "done", 1);
  atomic_store(&b->stopping, 1);

  /* ---- figures */
  fg.received = atomic_load(&b->received);
  if (b->scenario == SC_ECHO) fg.expected = b->sent;
  if (b->scenario == SC_BROADCAST) fg.expected = atomic_load(&b->acked) * (uint64_t)b->receivers;
  if (b->scenario == SC_STREAM) {
    fg.received = atomic_load(&b->items);
    fg.expected = b->sent * (uint64_t)stream_count;
  }
  fg.lost = fg.expected > fg.received ? fg.expected - fg.received : 0;
  for (int i = 0; i < started; i++) {
    bconn *bc = &b->c[i];
    if (!bc->receiver) continue;
    uint64_t got_i = atomic_load(&bc->received);
    if (b->scenario == SC_BROADCAST && got_i != atomic_load(&b->acked)) fg.missing_connections++;
    if (b->scenario == SC_STREAM && got_i != (uint64_t)stream_count) fg.missing_connections++;
  }
  /* The same figures per URL. Broadcast: each receiver of a URL should get every acknowledged
   * broadcast; echo: each echo sent from a URL's connections comes back on it. */
  fg.per_url = calloc((size_t)nurls, sizeof *fg.per_url);
  if (!fg.per_url) return 1;
  for (int i = 0; i < started; i++) {
    bconn *bc = &b->c[i];
    url_fig *uf = &fg.per_url[bc->url];
    uf->connections++;
    uf->connected += atomic_load(&bc->state) == CS_CONNECTED;
    if (!bc->receiver) continue;
    uf->receivers++;
    uint64_t got_i = atomic_load(&bc->received);
    uf->received += got_i;
    if (b->scenario == SC_BROADCAST && got_i != atomic_load(&b->acked)) uf->missing_connections++;
    if (b->scenario == SC_STREAM && got_i != (uint64_t)stream_count) uf->missing_connections++;
  }
  for (int u = 0; u < nurls; u++) {
    url_fig *uf = &fg.per_url[u];
    uf->sent = b->url_sent[u]; /* echoes, broadcasts or streams its connections started */
    if (b->scenario == SC_ECHO) uf->expected = uf->sent;
    if (b->scenario == SC_BROADCAST) uf->expected = atomic_load(&b->acked) * (uint64_t)uf->receivers;
    if (b->scenario == SC_STREAM) uf->expected = uf->sent * (uint64_t)stream_count;
    uf->lost = uf->expected > uf->received ? uf->expected - uf->received : 0;
  }
  double secs = (double)(t_end - t_run0) / 1e6;
  fg.msgs_per_s = secs > 0 ? (double)fg.received / secs : 0;
  int any_error = 0;
  for (int i = 0; i < MAX_CODES; i++) any_error |= b->errors[i].count != 0;
  fg.ok = !bench_interrupted && !any_error && atomic_load(&b->large_received) == b->large_sent && atomic_load(&b->failed) == 0 && atomic_load(&b->closed) == 0 &&
          atomic_load(&b->connected) == b->connections && fg.lost == 0 && fg.received >= fg.expected &&
          fg.missing_connections == 0 && atomic_load(&b->out_of_order) == 0 && atomic_load(&b->send_failed) == 0 &&
          atomic_load(&b->call_failed) == 0 && atomic_load(&b->streams_failed) == 0 && b->eagain == 0 &&
          !((b->scenario == SC_BROADCAST || b->scenario == SC_ECHO) && nsenders == 0);

  FILE *rep = b->json_path && !strcmp(b->json_path, "-") ? stderr : stdout;
  write_report(b, &fg, rep);
  fflush(rep);
  int status = bench_interrupted ? 130 : fg.ok ? 0 : 1;
  if (b->json_path) {
    FILE *jf = strcmp(b->json_path, "-") ? fopen(b->json_path, "w") : stdout;
    if (!jf) {
      fprintf(stderr, "error: cannot write %s: %s\n", b->json_path, strerror(errno));
      status = 1;
    } else {
      write_json(b, &fg, jf, transport, protocol, urls, nurls);
      if (jf != stdout) fclose(jf);
      else fflush(stdout);
    }
  }

  /* ---- teardown: free aborts each transport (no close handshake to wait for) */
  for (int i = 0; i < started; i++)
    if (b->c[i].conn) signalr_connection_free(b->c[i].conn);
  signalr_context_free(ctx);
  for (int u = 0; u < nurls; u++) signalr_builder_free(builders[u]);
  for (int i = 0; i < MAX_CODES; i++) {
    free(b->errors[i].message);
    free(b->errors[i].hint);
  }
  free(builders);
  free(senders);
  free(a.p);
  free(payload);
  free(pr.prev);
  free(pr.cur);
  free(pr.diff);
  free(b->c);
  free(fg.per_url);
  free(b->url_latency);
  free(b->url_sent);
  free(urls);
  free(opts);
  pthread_mutex_destroy(&b->err_lock);
  free(b);
  return status;
}
