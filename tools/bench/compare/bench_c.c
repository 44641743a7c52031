#define _GNU_SOURCE
/* The C client of tools/bench/compare: libsignalr's public API against the bundled test hub,
 * over WebSockets, JSON or MessagePack. One workload per process:
 *
 *   bench_compare_c --url URL --workload echo|inflight64|flood|upload
 *                   --protocol json|messagepack --mode poll|direct
 *                   [--messages N] [--warmup N] [--timeout S]
 *
 * mode poll:   callbacks run on the main thread through signalr_context_poll.
 * mode direct: SIGNALR_CONTEXT_DIRECT, callbacks run on the I/O thread; the main thread
 *              sleeps on a condition variable until the workload is done.
 * In both modes the next invoke is issued from the completion of the previous one, so the
 * modes differ only in where callbacks run.
 *
 * Connects, warms up with --warmup messages of the same workload, measures --messages and
 * prints one JSON line {"client":"c-poll"|"c-direct","workload":..,"protocol":..,
 * "messages":N,"cpu_us":..,"wall_ms":..}: cpu_us is getrusage(RUSAGE_SELF) user+sys over
 * the measured phase (both of the process's threads). Every wait is bounded by --timeout. */
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "signalr/signalr.h"

enum { W_ECHO, W_INFLIGHT, W_FLOOD, W_UPLOAD };
static const char *const workload_names[] = {"echo", "inflight64", "flood", "upload"};
#define INFLIGHT 64

static signalr_context *ctx;
static signalr_connection *conn;
static int direct, workload, encoding;
static double deadline; /* CLOCK_MONOTONIC seconds: everything must be done by then */

/* Pre-encoded buffers, in the wire's encoding. */
static uint8_t *echo_args, *upload_args, *upload_item;
static size_t echo_args_len, upload_args_len, upload_item_len;

/* State of one run (warm-up or measured). Written by callbacks (I/O thread in direct mode)
 * and read by the main thread: under mu in direct mode. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long target, issued, completed, received;
static int result_seen, done;
static char failure[512];
static int64_t expect_result;
static atomic_int writable;
static atomic_int stopping; /* set before the final stop: CLOSED is expected then */ /* SIGNALR_EVENT_WRITABLE seen since the last failed write */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_us(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 +
         (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

static void die(const char *what, int rc, const signalr_error *err) {
  fprintf(stderr, "bench_compare_c: %s: %s (%s)%s%s\n", what, signalr_strerror(rc),
          signalr_error_name(rc) ? signalr_error_name(rc) : "?", err ? ": " : "",
          err ? signalr_error_message(err) : "");
  exit(1);
}

static void lock(void) {
  if (direct) pthread_mutex_lock(&mu);
}
static void unlock(void) {
  if (direct) pthread_mutex_unlock(&mu);
}

/* Called with the lock held. */
static void finish(void) {
  done = 1;
  if (direct) pthread_cond_broadcast(&cv);
  else signalr_context_interrupt(ctx);
}

/* Called with the lock held: records the first failure and ends the run. */
static void fail_locked(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_locked(const char *fmt, ...) {
  if (!failure[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failure, sizeof failure, fmt, ap);
    va_end(ap);
  }
  finish();
}

/* Reads a JSON or MessagePack integer result. */
static int value_int(const signalr_value *v, int64_t *out) {
  const char *json;
  size_t len;
  if (!v || signalr_value_json(v, &json, &len)) return -1;
  char *end;
  *out = strtoll(json, &end, 10);
  return end == json ? -1 : 0;
}

static void issue_echo(void);

static void on_echo(void *ud, signalr_connection *c, const signalr_value *result,
                    const signalr_error *err) {
  (void)ud; (void)c; (void)result;
  lock();
  if (err) {
    fail_locked("Echo failed: %s (%d)", signalr_error_message(err), signalr_error_code(err));
    unlock();
    return;
  }
  completed++;
  int more = !done && issued < target;
  if (more) issued++;
  if (completed == target) finish();
  unlock();
  if (more) issue_echo();
}

static void issue_echo(void) {
  int rc = signalr_connection_invoke(conn, "Echo", echo_args, echo_args_len, encoding, on_echo, NULL);
  if (rc) {
    lock();
    fail_locked("invoke Echo: %s (%d)", signalr_strerror(rc), rc);
    unlock();
  }
}

static void on_result(void *ud, signalr_connection *c, const signalr_value *result,
                      const signalr_error *err) {
  (void)ud; (void)c;
  int64_t got = -1;
  lock();
  if (err) {
    fail_locked("invoke failed: %s (%d)", signalr_error_message(err), signalr_error_code(err));
  } else if (value_int(result, &got) || got != expect_result) {
    fail_locked("unexpected result %lld, expected %lld", (long long)got, (long long)expect_result);
  } else {
    result_seen = 1;
    if (workload == W_UPLOAD || received >= target) finish();
  }
  unlock();
}

static int on_numbered(void *ud, signalr_connection *c, const signalr_value *args,
                       const void **result, size_t *result_len, int *result_encoding,
                       const char **error) {
  (void)ud; (void)c; (void)args; (void)result; (void)result_len; (void)result_encoding; (void)error;
  lock();
  if (++received >= target && result_seen) finish();
  unlock();
  return 0;
}

static void on_lifecycle(void *ud, signalr_connection *c, int event, const signalr_error *err) {
  (void)ud; (void)c;
#ifdef SIGNALR_EVENT_WRITABLE
  if (event == SIGNALR_EVENT_WRITABLE) {
    atomic_store(&writable, 1);
    if (direct) {
      pthread_mutex_lock(&mu);
      pthread_cond_broadcast(&cv);
      pthread_mutex_unlock(&mu);
    }
    return;
  }
#endif
  if ((event == SIGNALR_EVENT_CLOSED || event == SIGNALR_EVENT_RECONNECTING) && !stopping) {
    lock();
    fail_locked("connection lost: %s", err ? signalr_error_message(err) : "closed");
    unlock();
  }
}

/* Waits until done (or the deadline); runs callbacks in poll mode. */
static void wait_done(void) {
  if (direct) {
    pthread_mutex_lock(&mu);
    while (!done) {
      double left = deadline - now_s();
      if (left <= 0) break;
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      double wake = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + (left < 0.5 ? left : 0.5);
      ts.tv_sec = (time_t)wake;
      ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
      pthread_cond_timedwait(&cv, &mu, &ts);
    }
    pthread_mutex_unlock(&mu);
  } else {
    while (!done && now_s() < deadline) {
      int rc = signalr_context_poll(ctx, 200);
      if (rc < 0) die("signalr_context_poll", rc, NULL);
    }
  }
  if (!done) {
    fprintf(stderr, "bench_compare_c: timed out (issued %ld, completed %ld, received %ld of %ld)\n",
            issued, completed, received, target);
    exit(1);
  }
  if (failure[0]) {
    fprintf(stderr, "bench_compare_c: %s\n", failure);
    exit(1);
  }
}

/* Waits a little for the outgoing buffer to drain after SIGNALR_EAGAIN. */
static void wait_writable(void) {
#ifdef SIGNALR_EVENT_WRITABLE
  if (direct) {
    pthread_mutex_lock(&mu);
    if (!atomic_load(&writable) && !done) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 50 * 1000000L;
      if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
      pthread_cond_timedwait(&cv, &mu, &ts);
    }
    pthread_mutex_unlock(&mu);
  } else {
    double until = now_s() + 0.05;
    while (!atomic_load(&writable) && !done && now_s() < until) signalr_context_poll(ctx, 10);
  }
#else
  /* No writable event in this library version: give the I/O thread a moment, then retry. */
  if (direct) {
    struct timespec ts = {0, 200 * 1000};
    nanosleep(&ts, NULL);
  } else {
    signalr_context_poll(ctx, 1);
  }
#endif
}

static void run(long n) {
  lock();
  target = n;
  issued = completed = received = 0;
  result_seen = done = 0;
  failure[0] = 0;
  unlock();
  switch (workload) {
  case W_ECHO:
  case W_INFLIGHT: {
    long first = workload == W_ECHO ? 1 : (n < INFLIGHT ? n : INFLIGHT);
    lock();
    issued = first;
    unlock();
    for (long i = 0; i < first; i++) issue_echo();
    break;
  }
  case W_FLOOD: {
    char json[32];
    snprintf(json, sizeof json, "[%ld]", n);
    uint8_t *args = (uint8_t *)json;
    size_t len = strlen(json);
    if (encoding == SIGNALR_ENCODING_MSGPACK) {
      int rc = signalr_json_to_msgpack(json, len, &args, &len);
      if (rc) die("signalr_json_to_msgpack", rc, NULL);
    }
    expect_result = n;
    int rc = signalr_connection_invoke(conn, "SendNumbered", args, len, encoding, on_result, NULL);
    if (args != (uint8_t *)json) signalr_free(args);
    if (rc) die("invoke SendNumbered", rc, NULL);
    break;
  }
  case W_UPLOAD: {
    uint64_t stream;
    int rc = signalr_connection_upload_open(conn, &stream);
    if (rc) die("signalr_connection_upload_open", rc, NULL);
    expect_result = n; /* UploadSum of n ones */
    rc = signalr_connection_invoke_with_uploads(conn, "UploadSum", upload_args, upload_args_len,
                                                encoding, &stream, 1, on_result, NULL);
    if (rc) die("invoke_with_uploads UploadSum", rc, NULL);
    for (long i = 0; i < n;) {
      atomic_store(&writable, 0);
      rc = signalr_connection_upload_write(conn, stream, upload_item, upload_item_len, encoding);
      if (rc == 0) {
        i++;
        /* Poll mode: run queued events now and then (there should be none until the end). */
        if (!direct && (i & 1023) == 0) signalr_context_poll(ctx, 0);
        continue;
      }
      if (rc != SIGNALR_EAGAIN) die("signalr_connection_upload_write", rc, NULL);
      if (now_s() > deadline) {
        fprintf(stderr, "bench_compare_c: timed out writing upload item %ld of %ld\n", i, n);
        exit(1);
      }
      wait_writable();
    }
    rc = signalr_connection_upload_complete(conn, stream, NULL);
    if (rc) die("signalr_connection_upload_complete", rc, NULL);
    break;
  }
  }
  wait_done();
}

static void encode(const char *json, uint8_t **out, size_t *len) {
  if (encoding == SIGNALR_ENCODING_JSON) {
    *out = (uint8_t *)strdup(json);
    *len = strlen(json);
    return;
  }
  uint8_t *mp;
  int rc = signalr_json_to_msgpack(json, strlen(json), &mp, len);
  if (rc) die("signalr_json_to_msgpack", rc, NULL);
  *out = malloc(*len);
  memcpy(*out, mp, *len);
  signalr_free(mp);
}

static void usage(void) {
  fprintf(stderr, "usage: bench_compare_c --url URL --workload echo|inflight64|flood|upload "
                  "--protocol json|messagepack --mode poll|direct [--messages N] [--warmup N] "
                  "[--timeout S]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *url = NULL, *wl = "echo", *protocol = "json", *mode = "poll";
  long messages = 10000, warmup = 1000;
  double timeout_s = 120;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) usage();
    const char *k = argv[i], *v = argv[++i];
    if (!strcmp(k, "--url")) url = v;
    else if (!strcmp(k, "--workload")) wl = v;
    else if (!strcmp(k, "--protocol")) protocol = v;
    else if (!strcmp(k, "--mode")) mode = v;
    else if (!strcmp(k, "--messages")) messages = atol(v);
    else if (!strcmp(k, "--warmup")) warmup = atol(v);
    else if (!strcmp(k, "--timeout")) timeout_s = atof(v);
    else usage();
  }
  workload = -1;
  for (int i = 0; i < 4; i++)
    if (!strcmp(wl, workload_names[i])) workload = i;
  if (!url || workload < 0 || messages <= 0 || warmup < 0 || timeout_s <= 0) usage();
  if (!strcmp(protocol, "json")) encoding = SIGNALR_ENCODING_JSON;
  else if (!strcmp(protocol, "messagepack")) encoding = SIGNALR_ENCODING_MSGPACK;
  else usage();
  if (!strcmp(mode, "direct")) direct = 1;
  else if (strcmp(mode, "poll")) usage();
  deadline = now_s() + timeout_s;

  encode("[\"hello\"]", &echo_args, &echo_args_len);
  encode("[]", &upload_args, &upload_args_len);
  encode("1", &upload_item, &upload_item_len);

  int rc = signalr_context_new(&ctx, direct ? SIGNALR_CONTEXT_DIRECT : 0);
  if (rc) die("signalr_context_new", rc, NULL);
  signalr_builder *b;
  if ((rc = signalr_builder_new(&b))) die("signalr_builder_new", rc, NULL);
  char errbuf[256] = "";
  if ((rc = signalr_builder_set(b, "url", url, errbuf, sizeof errbuf)) ||
      (rc = signalr_builder_set(b, "transports", "websockets", errbuf, sizeof errbuf)) ||
      (rc = signalr_builder_set(b, "protocol", protocol, errbuf, sizeof errbuf))) {
    fprintf(stderr, "bench_compare_c: option: %s\n", errbuf);
    return 1;
  }
  signalr_builder_set_lifecycle(b, on_lifecycle, NULL, NULL);
  if ((rc = signalr_builder_build(b, ctx, &conn, errbuf, sizeof errbuf))) {
    fprintf(stderr, "bench_compare_c: build: %s\n", errbuf);
    return 1;
  }
  signalr_builder_free(b);
  uint64_t h;
  if ((rc = signalr_connection_on(conn, "Numbered", on_numbered, NULL, NULL, &h)))
    die("signalr_connection_on", rc, NULL);

  signalr_error *err = NULL;
  int32_t start_ms = (int32_t)(timeout_s * 1000 < 30000 ? timeout_s * 1000 : 30000);
  if ((rc = signalr_connection_start_blocking(conn, start_ms, &err))) die("start", rc, err);

  if (warmup > 0) run(warmup);
  double c0 = cpu_us(), w0 = now_s();
  run(messages);
  double cpu = cpu_us() - c0, wall = now_s() - w0;

  printf("{\"client\":\"%s\",\"workload\":\"%s\",\"protocol\":\"%s\",\"messages\":%ld,"
         "\"cpu_us\":%.0f,\"wall_ms\":%.1f,\"version\":\"%s\"}\n",
         direct ? "c-direct" : "c-poll", workload_names[workload], protocol, messages, cpu,
         wall * 1e3, signalr_version());
  fflush(stdout);

  atomic_store(&stopping, 1);
  signalr_connection_stop_blocking(conn, 5000);
  signalr_connection_free(conn);
  rc = signalr_context_free(ctx);
  free(echo_args);
  free(upload_args);
  free(upload_item);
  return rc ? 1 : 0;
}
