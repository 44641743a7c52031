#define _GNU_SOURCE
/* Density figures against a running hub, on the public API only, for one signalr_context
 * (one I/O thread) holding many WebSocket/JSON connections:
 *   - client CPU per echo round trip on one connection alone, then beside N idle ones (the
 *     loop's cost must follow the sockets that are ready, not the ones that are open);
 *   - client CPU per connection set-up (negotiate + upgrade + handshake, many in flight);
 *   - heap (malloc'd, mallinfo2) and RSS per idle connection, before and after every
 *     connection received a large message (buffers must shrink back).
 * Usage: bench_connection HUB_URL[,HUB_URL...] [connections=200] [round_trips=5000] [large_bytes=102400] [hold_seconds=0]
 * Several URLs (the same hub on 127.0.0.1, 127.0.0.2, ...: tools/bench/many.sh) share the
 * connections round-robin, past the ~28k ephemeral ports of one address pair. It raises
 * RLIMIT_NOFILE for the connections (as far as allowed). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "signalr/signalr.h"

static double cpu_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double wall_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double heap_bytes(void) {
  struct mallinfo2 m = mallinfo2();
  return (double)m.uordblks + (double)m.hblkhd; /* small chunks + mmapped large ones */
}

static double rss_bytes(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  fclose(f);
  return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static void raise_fd_limit(int want) {
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  rlim_t need = (rlim_t)want + 256;
  if (r.rlim_cur >= need) return;
  if (r.rlim_max < need) {
    struct rlimit h = {need, need};
    if (setrlimit(RLIMIT_NOFILE, &h) == 0) return; /* root may raise the hard limit */
  }
  r.rlim_cur = r.rlim_max < need ? r.rlim_max : need;
  setrlimit(RLIMIT_NOFILE, &r);
}

static signalr_connection *build_one(signalr_context *ctx, const char *url) {
  signalr_builder *b;
  if (signalr_builder_new(&b)) exit(1);
  signalr_builder_set(b, "url", url, NULL, 0);
  signalr_builder_set(b, "transports", "websockets", NULL, 0);
  signalr_connection *c = NULL;
  char err[256];
  if (signalr_builder_build(b, ctx, &c, err, sizeof err)) {
    fprintf(stderr, "build: %s\n", err);
    exit(1);
  }
  signalr_builder_free(b);
  return c;
}

static int pending, started, failed;

static void on_started(void *ud, signalr_connection *c, const signalr_value *v, const signalr_error *e) {
  (void)ud; (void)c; (void)v;
  pending--;
  if (e) {
    if (failed++ < 5) fprintf(stderr, "start: %s\n", signalr_error_message(e));
  } else {
    started++;
  }
}

static void on_done(void *ud, signalr_connection *c, const signalr_value *v, const signalr_error *e) {
  (void)ud; (void)c; (void)v;
  if (e) {
    fprintf(stderr, "invoke: %s\n", signalr_error_message(e));
    exit(1);
  }
  pending--;
}

static void wait_pending(signalr_context *ctx, int at_most) {
  while (pending > at_most) signalr_context_poll(ctx, 1000);
}

/* Sequential echo round trips on one connection: latency-bound, so CPU / trips is the cost of
 * one round trip (both client threads: the process's CPU clock). */
static double echo_cpu(signalr_context *ctx, signalr_connection *c, int trips) {
  const char *args = "[\"hello\"]";
  double c0 = 0;
  for (int i = -200; i < trips; i++) { /* 200 warm-up trips */
    if (i == 0) c0 = cpu_us();
    pending = 1;
    signalr_connection_invoke(c, "Echo", args, strlen(args), SIGNALR_ENCODING_JSON, on_done, NULL);
    wait_pending(ctx, 0);
  }
  return (cpu_us() - c0) / trips;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_connection HUB_URL [connections] [round_trips] [large_bytes]\n");
    return 2;
  }
  char *urls[64];
  int nurls = 0;
  for (char *save = NULL, *u = strtok_r(argv[1], ",", &save); u && nurls < 64; u = strtok_r(NULL, ",", &save))
    urls[nurls++] = u;
  if (!nurls) return 2;
  const char *url = urls[0];
  int n = argc > 2 ? atoi(argv[2]) : 200, trips = argc > 3 ? atoi(argv[3]) : 5000;
  int large = argc > 4 ? atoi(argv[4]) : 100 * 1024;
  int hold_s = argc > 5 ? atoi(argv[5]) : 0;
  raise_fd_limit(n + 16);
  signalr_context *ctx;
  if (signalr_context_new(&ctx, 0)) return 1;
  signalr_connection *first = build_one(ctx, url);
  signalr_error *err = NULL;
  if (signalr_connection_start_blocking(first, 20000, &err)) { /* warms up lws/curl state */
    fprintf(stderr, "start: %s\n", signalr_error_message(err));
    return 1;
  }
  double echo_alone = echo_cpu(ctx, first, trips);

  signalr_connection **conns = calloc((size_t)n, sizeof *conns);
  double heap0 = heap_bytes(), rss0 = rss_bytes(), c0 = cpu_us(), w0 = wall_us();
  for (int i = 0; i < n; i++) {
    conns[i] = build_one(ctx, urls[i % nurls]);
    pending++;
    if (signalr_connection_start(conns[i], on_started, NULL)) {
      fprintf(stderr, "start %d refused\n", i);
      return 1;
    }
    wait_pending(ctx, 64); /* 64 set-ups in flight */
    if ((i + 1) % 10000 == 0) fprintf(stderr, "%d connections...\n", i + 1);
  }
  wait_pending(ctx, 0);
  double setup_cpu = (cpu_us() - c0) / n, setup_wall = (wall_us() - w0) / n;
  malloc_trim(0);
  double heap1 = heap_bytes(), rss1 = rss_bytes();
  /* Held: the connections stay up through keep-alive rounds (the server drops a client that
   * says nothing for 30 s). */
  if (hold_s > 0) {
    double until = wall_us() + hold_s * 1e6;
    while (wall_us() < until) signalr_context_poll(ctx, 1000);
  }
  int held = 0;
  for (int i = 0; i < n; i++) held += signalr_connection_state(conns[i]) == SIGNALR_STATE_CONNECTED;
  double echo_beside = echo_cpu(ctx, first, trips);

  /* A large message to every connection (the server's reply to LargeMessage), then idle again. */
  char big[32];
  snprintf(big, sizeof big, "[%d]", large);
  for (int i = 0; i < n; i++) {
    if (signalr_connection_state(conns[i]) != SIGNALR_STATE_CONNECTED) continue; /* failed to start */
    pending++;
    signalr_connection_invoke(conns[i], "LargeMessage", big, strlen(big), SIGNALR_ENCODING_JSON, on_done, NULL);
    wait_pending(ctx, 16);
  }
  wait_pending(ctx, 0);
  malloc_trim(0);
  double heap2 = heap_bytes(), rss2 = rss_bytes();

  printf("connections              %d started, %d failed (one context, WebSockets, JSON)\n", started, failed);
  printf("held                     %d connected after %d s idle\n", held, hold_s);
  printf("echo CPU alone           %.1f us per round trip (%d sequential)\n", echo_alone, trips);
  printf("echo CPU beside idle     %.1f us per round trip (%.2fx alone)\n", echo_beside, echo_beside / echo_alone);
  printf("set-up CPU               %.0f us per connection (wall %.0f us, 64 in flight)\n", setup_cpu, setup_wall);
  printf("heap per idle connection %.0f bytes\n", (heap1 - heap0) / n);
  printf("RSS per idle connection  %.0f bytes\n", (rss1 - rss0) / n);
  printf("after a %d-byte echo on each:\n", large);
  printf("heap per idle connection %.0f bytes\n", (heap2 - heap0) / n);
  printf("RSS per idle connection  %.0f bytes\n", (rss2 - rss0) / n);

  for (int i = 0; i < n; i++) signalr_connection_free(conns[i]);
  signalr_connection_free(first);
  free(conns);
  return signalr_context_free(ctx) ? 1 : 0;
}
