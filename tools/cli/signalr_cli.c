/* The signalr command-line tool, built on the public C API only.
 *
 *   signalr call   URL METHOD [JSON_ARG...]   invoke and print the result as JSON
 *   signalr send   URL METHOD [JSON_ARG...]   invoke without waiting for a result
 *   signalr stream URL METHOD [JSON_ARG...]   print a server stream's items as JSON lines
 *   signalr listen URL --on METHOD [--on METHOD...] [--invoke METHOD [JSON_ARG...]]
 *                                             print server calls as JSON lines until Ctrl-C
 *                                             (or --for MS)
 * Common flags: --transport websockets|serversentevents|longpolling, --protocol json|messagepack,
 * --header 'Name: value', --token TOKEN, --skip-negotiation, --log-level LEVEL,
 * --ca-file FILE, --insecure, --timeout MS. Errors print code, status and hint; exit 1. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signalr/signalr.h"

static volatile sig_atomic_t interrupted;
static signalr_context *g_ctx;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
  if (g_ctx) signalr_context_interrupt(g_ctx); /* async-signal-safe: one write() */
}

static void usage(void) {
  fprintf(stderr,
          "usage: signalr call|send|stream URL METHOD [JSON_ARG...] [flags]\n"
          "       signalr listen URL --on METHOD [--on METHOD...] [--invoke METHOD [JSON_ARG...]] [--for MS] [flags]\n"
          "flags: --transport T  --protocol json|messagepack  --header 'Name: value'  --token T\n"
          "       --skip-negotiation  --log-level LEVEL  --ca-file FILE  --insecure  --timeout MS\n"
          "       signalr --version\n");
}

static void print_error(const char *what, int rc, const signalr_error *err) {
  fprintf(stderr, "error: %s: %s (%s)\n", what, err ? signalr_error_message(err) : signalr_strerror(rc),
          signalr_error_name(rc) ? signalr_error_name(rc) : "?");
  if (err && signalr_error_http_status(err)) fprintf(stderr, "  HTTP status: %d\n", signalr_error_http_status(err));
  if (err && signalr_error_hint(err)) fprintf(stderr, "  hint: %s\n", signalr_error_hint(err));
}

static void on_log(void *ud, int level, const char *message) {
  (void)ud;
  static const char *const names[] = {"trce", "dbug", "info", "warn", "fail", "crit", "none"};
  fprintf(stderr, "[%s] %s\n", names[level < 0 || level > 6 ? 6 : level], message);
}

/* Joins JSON values into one arguments array. */
static char *join_args(char **argv, int n) {
  size_t len = 3;
  for (int i = 0; i < n; i++) len += strlen(argv[i]) + 1;
  char *s = malloc(len);
  if (!s) return NULL;
  strcpy(s, "[");
  for (int i = 0; i < n; i++) {
    if (i) strcat(s, ",");
    strcat(s, argv[i]);
  }
  strcat(s, "]");
  return s;
}

typedef struct call_state {
  int done, rc;
  signalr_error *err;
} call_state;

static void on_done(void *ud, signalr_connection *c, const signalr_value *v, const signalr_error *e) {
  (void)c;
  call_state *st = ud;
  st->done = 1;
  st->rc = signalr_error_code(e);
  if (e) st->err = signalr_error_copy(e);
  const char *json;
  size_t n;
  if (v && signalr_value_json(v, &json, &n) == 0) printf("%s\n", json);
  else if (!e) printf("null\n");
  fflush(stdout);
}

static void on_item(void *ud, signalr_connection *c, const signalr_value *v) {
  (void)ud; (void)c;
  const char *json;
  size_t n;
  if (signalr_value_json(v, &json, &n) == 0) printf("%s\n", json);
  fflush(stdout);
}

static void on_stream_end(void *ud, signalr_connection *c, const signalr_value *v, const signalr_error *e) {
  (void)c; (void)v;
  call_state *st = ud;
  st->done = 1;
  st->rc = signalr_error_code(e);
  if (e) st->err = signalr_error_copy(e);
}

static int on_call(void *ud, signalr_connection *c, const signalr_value *args, const void **r, size_t *rl, int *re,
                   const char **err) {
  (void)c; (void)r; (void)rl; (void)re; (void)err;
  const char *json;
  size_t n;
  if (signalr_value_json(args, &json, &n) == 0) printf("{\"method\":\"%s\",\"arguments\":%s}\n", (const char *)ud, json);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
    printf("signalr %s (libsignalr %s)\n", SIGNALR_VERSION_STRING, signalr_version());
    return 0;
  }
  if (argc < 3) {
    usage();
    return 2;
  }
  const char *cmd = argv[1], *url = argv[2];
  int listen = !strcmp(cmd, "listen"), call = !strcmp(cmd, "call"), send = !strcmp(cmd, "send");
  int stream = !strcmp(cmd, "stream");
  if (!listen && !call && !send && !stream) {
    usage();
    return 2;
  }
  signalr_builder *b;
  if (signalr_builder_new(&b)) return 1;
  char err[256];
  int rc = signalr_builder_set(b, "url", url, err, sizeof err);
  if (rc) {
    fprintf(stderr, "error: %s\n", err);
    return 2;
  }
  const char *method = NULL;
  char **positional = calloc((size_t)argc, sizeof *positional), **ons = calloc((size_t)argc, sizeof *ons);
  int npos = 0, nons = 0, timeout = 30000, log_set = 0, listen_ms = -1;
  int in_invoke = 0;
  for (int i = 3; i < argc; i++) {
    const char *a = argv[i];
    const char *key = NULL;
    if (!strcmp(a, "--transport")) key = "transports";
    else if (!strcmp(a, "--protocol")) key = "protocol";
    else if (!strcmp(a, "--header")) key = "header";
    else if (!strcmp(a, "--token")) key = "access_token";
    else if (!strcmp(a, "--log-level")) key = "log_level";
    else if (!strcmp(a, "--ca-file")) key = "tls_ca_file";
    if (key) {
      if (++i >= argc) { usage(); return 2; }
      if (signalr_builder_set(b, key, argv[i], err, sizeof err)) {
        fprintf(stderr, "error: %s: %s\n", a, err);
        return 2;
      }
      if (!strcmp(key, "log_level")) log_set = 1;
    } else if (!strcmp(a, "--skip-negotiation")) {
      signalr_builder_set(b, "skip_negotiation", "true", NULL, 0);
    } else if (!strcmp(a, "--insecure")) {
      signalr_builder_set(b, "tls_insecure", "true", NULL, 0);
    } else if (!strcmp(a, "--timeout")) {
      if (++i >= argc) { usage(); return 2; }
      timeout = atoi(argv[i]);
    } else if (!strcmp(a, "--for")) {
      if (++i >= argc) { usage(); return 2; }
      listen_ms = atoi(argv[i]);
    } else if (!strcmp(a, "--on")) {
      if (++i >= argc) { usage(); return 2; }
      ons[nons++] = argv[i];
    } else if (!strcmp(a, "--invoke")) {
      if (++i >= argc) { usage(); return 2; }
      method = argv[i];
      in_invoke = 1;
    } else if (!strncmp(a, "--", 2)) {
      fprintf(stderr, "error: unknown flag %s\n", a);
      usage();
      return 2;
    } else if (!listen && !method) {
      method = a;
    } else if (!listen || in_invoke) {
      positional[npos++] = argv[i];
    }
  }
  if ((call || send || stream) && !method) {
    usage();
    return 2;
  }
  if (listen && !nons) {
    fprintf(stderr, "error: listen needs at least one --on METHOD\n");
    return 2;
  }
  if (log_set) signalr_builder_set_log(b, on_log, NULL, NULL);
  signalr_context *ctx;
  if ((rc = signalr_context_new(&ctx, 0))) {
    print_error("context", rc, NULL);
    return 1;
  }
  g_ctx = ctx;
  signal(SIGINT, on_sigint);
  signal(SIGTERM, on_sigint);
  signalr_connection *conn;
  if ((rc = signalr_builder_build(b, ctx, &conn, err, sizeof err))) {
    fprintf(stderr, "error: %s\n", err);
    return 2;
  }
  signalr_builder_free(b);
  for (int i = 0; i < nons; i++) signalr_connection_on(conn, ons[i], on_call, ons[i], NULL, NULL);
  signalr_error *e = NULL;
  int status = 0;
  if ((rc = signalr_connection_start_blocking(conn, timeout, &e))) {
    print_error("start", rc, e);
    signalr_error_free(e);
    status = 1;
    goto done;
  }
  char *args = join_args(positional, npos);
  if (method && send) {
    rc = signalr_connection_send(conn, method, args, strlen(args), SIGNALR_ENCODING_JSON);
    if (rc) { print_error("send", rc, NULL); status = 1; }
  } else if (method && stream) {
    call_state st = {0};
    uint64_t handle = 0;
    rc = signalr_connection_stream(conn, method, args, strlen(args), SIGNALR_ENCODING_JSON, on_item, on_stream_end, &st,
                                   &handle);
    while (!rc && !st.done && !interrupted) signalr_context_poll(ctx, 200);
    if (!rc && !st.done) { /* Ctrl-C: cancel on the server too */
      signalr_connection_stream_cancel(conn, handle);
      for (int i = 0; i < 20 && !st.done; i++) signalr_context_poll(ctx, 100);
    } else if (rc || st.rc) {
      print_error(method, rc ? rc : st.rc, st.err);
      status = 1;
    }
    signalr_error_free(st.err);
  } else if (method) {
    call_state st = {0};
    rc = signalr_connection_invoke(conn, method, args, strlen(args), SIGNALR_ENCODING_JSON, on_done, &st);
    while (!rc && !st.done && !interrupted) signalr_context_poll(ctx, 200);
    if (rc || st.rc) {
      print_error(method, rc ? rc : st.rc, st.err);
      status = 1;
    }
    signalr_error_free(st.err);
  }
  free(args);
  for (int waited = 0; listen && !interrupted && signalr_connection_state(conn) == SIGNALR_STATE_CONNECTED &&
                      (listen_ms < 0 || waited < listen_ms);
       waited += 100)
    signalr_context_poll(ctx, 100);
  signalr_context_poll(ctx, 0);
  signalr_connection_stop_blocking(conn, 5000);
done:
  signalr_connection_free(conn);
  signalr_context_free(ctx);
  free(positional);
  free(ons);
  return status;
}
