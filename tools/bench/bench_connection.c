#define _GNU_SOURCE
/* Connection figures against a running hub, on the public API only:
 *   heap bytes per idle connection (mallinfo2 before/after N connected connections), and
 *   client CPU time per echo round trip (sequential invokes, this process's CPU only).
 * Usage: bench_connection HUB_URL [connections=200] [round_trips=5000] */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static signalr_connection *connect_one(signalr_context *ctx, const char *url) {
  signalr_builder *b;
  signalr_builder_new(&b);
  signalr_builder_set(b, "url", url, NULL, 0);
  signalr_builder_set(b, "transports", "websockets", NULL, 0);
  signalr_connection *c = NULL;
  if (signalr_builder_build(b, ctx, &c, NULL, 0)) exit(1);
  signalr_builder_free(b);
  signalr_error *err = NULL;
  if (signalr_connection_start_blocking(c, 20000, &err)) {
    fprintf(stderr, "start: %s\n", signalr_error_message(err));
    exit(1);
  }
  return c;
}

static int pending;

static void on_done(void *ud, signalr_connection *c, const signalr_value *v, const signalr_error *e) {
  (void)ud; (void)c; (void)v;
  if (e) {
    fprintf(stderr, "invoke: %s\n", signalr_error_message(e));
    exit(1);
  }
  pending--;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_connection HUB_URL [connections] [round_trips]\n");
    return 2;
  }
  const char *url = argv[1];
  int n = argc > 2 ? atoi(argv[2]) : 200, trips = argc > 3 ? atoi(argv[3]) : 5000;
  signalr_context *ctx;
  if (signalr_context_new(&ctx, 0)) return 1;
  signalr_connection *first = connect_one(ctx, url); /* warms up TLS/lws/curl state */

  signalr_connection **conns = calloc((size_t)n, sizeof *conns);
  struct mallinfo2 before = mallinfo2();
  for (int i = 0; i < n; i++) conns[i] = connect_one(ctx, url);
  struct mallinfo2 after = mallinfo2();
  double per_conn = ((double)after.uordblks - (double)before.uordblks) / n;

  /* Echo round trips, one at a time: latency-bound, so the CPU figure is per round trip. */
  const char *args = "[\"hello\"]";
  for (int i = 0; i < 200; i++) { /* warm-up */
    pending = 1;
    signalr_connection_invoke(first, "Echo", args, strlen(args), SIGNALR_ENCODING_JSON, on_done, NULL);
    while (pending) signalr_context_poll(ctx, -1);
  }
  double c0 = cpu_us(), w0 = wall_us();
  for (int i = 0; i < trips; i++) {
    pending = 1;
    signalr_connection_invoke(first, "Echo", args, strlen(args), SIGNALR_ENCODING_JSON, on_done, NULL);
    while (pending) signalr_context_poll(ctx, -1);
  }
  double cpu = (cpu_us() - c0) / trips, wall = (wall_us() - w0) / trips;

  printf("idle connections        %d\n", n);
  printf("heap per idle connection %.0f bytes (malloc'd, client side, WebSockets, JSON)\n", per_conn);
  printf("echo round trips        %d sequential\n", trips);
  printf("client CPU per round trip %.1f us (both client threads)\n", cpu);
  printf("wall time per round trip  %.1f us (includes the server)\n", wall);

  for (int i = 0; i < n; i++) signalr_connection_free(conns[i]);
  signalr_connection_free(first);
  free(conns);
  return signalr_context_free(ctx) ? 1 : 0;
}
