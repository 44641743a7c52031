/* The signalr command-line tool, built on the public C API only.
 *
 *   signalr call   URL METHOD [JSON_ARG...]   invoke and print the result as JSON
 *   signalr send   URL METHOD [JSON_ARG...]   invoke without waiting for a result
 *   signalr stream URL METHOD [JSON_ARG...]   print a server stream's items as JSON lines
 *   signalr listen URL --on METHOD [--on METHOD...] [--invoke METHOD [JSON_ARG...]]
 *                                             print server calls as JSON lines until Ctrl-C
 *                                             (or --for MS)
 *   signalr doctor URL                        diagnose a hub, one line per check (doctor.c)
 * Common flags: --transport websockets|serversentevents|longpolling, --protocol json|messagepack,
 * --header 'Name: value', --token TOKEN, --skip-negotiation, --log-level LEVEL,
 * --ca-file FILE, --insecure, --timeout MS, --option KEY=VALUE (any builder option).
 * Exit status: 0 done, 1 the hub or the connection failed (code, status and hint printed),
 * 2 bad usage, 130 interrupted (Ctrl-C). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "doctor.h"
#include "signalr/signalr.h"

static volatile sig_atomic_t interrupted;
static signalr_context *g_ctx;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
  if (g_ctx) signalr_context_interrupt(g_ctx); /* async-signal-safe: one write() */
}

static const char *const common_flags =
    "flags:\n"
    "  --transport T        websockets, serversentevents, longpolling (comma-separated: fallback order)\n"
    "  --protocol P         json (default) or messagepack\n"
    "  --header 'N: V'      an HTTP header for every request (repeatable)\n"
    "  --token T            the access token (Authorization: Bearer T)\n"
    "  --skip-negotiation   connect the WebSocket directly (WebSockets only)\n"
    "  --ca-file FILE       trust the CA certificates in FILE (PEM)\n"
    "  --insecure           do not verify the server's certificate\n"
    "  --timeout MS         limit for connecting and for the call (default 30000; 0: none)\n"
    "  --log-level LEVEL    trace, debug, information, warning, error, critical, none\n"
    "  --option KEY=VALUE   any builder option (see signalr_builder_options; repeatable)\n"
    "  -h, --help           this help\n";

static void usage(FILE *to) {
  fprintf(to,
          "usage: signalr call   URL METHOD [JSON_ARG...] [flags]   invoke, print the result as JSON\n"
          "       signalr send   URL METHOD [JSON_ARG...] [flags]   send, without waiting for a result\n"
          "       signalr stream URL METHOD [JSON_ARG...] [flags]   print a server stream's items, one per line\n"
          "       signalr listen URL --on METHOD [--on METHOD...] [--invoke METHOD [JSON_ARG...]] [--for MS] [flags]\n"
          "                                                        print the server's calls until Ctrl-C\n"
          "       signalr bench  URL [URL...] [--connections N] [--scenario idle|echo|broadcast|stream] ...   load\n"
          "       signalr doctor URL [flags]                        diagnose a hub (signalr doctor --help)\n"
          "       signalr --version | --help | COMMAND --help\n"
          "exit status: 0 done, 1 failed, 2 bad usage, 130 interrupted\n");
}

static void command_help(const char *cmd) {
  if (!strcmp(cmd, "call"))
    printf("usage: signalr call URL METHOD [JSON_ARG...] [flags]\n"
           "Invokes METHOD with the JSON arguments and prints its result as JSON (null for none).\n"
           "Fails (exit 1) with the hub's error, or when no result came within --timeout.\n");
  else if (!strcmp(cmd, "send"))
    printf("usage: signalr send URL METHOD [JSON_ARG...] [flags]\n"
           "Sends METHOD with the JSON arguments without waiting for a result (the hub's errors are\n"
           "not reported: use call for that). Exits once the message is written.\n");
  else if (!strcmp(cmd, "stream"))
    printf("usage: signalr stream URL METHOD [JSON_ARG...] [flags]\n"
           "Starts a server-to-client stream and prints each item as one JSON line until it ends;\n"
           "Ctrl-C cancels it on the server and exits 130.\n");
  else
    printf("usage: signalr listen URL --on METHOD [--on METHOD...] [--invoke METHOD [JSON_ARG...]] [--for MS] [flags]\n"
           "Prints each call of the server to the METHODs as {\"method\":...,\"arguments\":[...]}, one per\n"
           "line, until Ctrl-C (exit 130), --for MS of wall time (exit 0), or the connection ends\n"
           "(exit 1, with the reason). --invoke calls a hub method once connected.\n");
  fputs(common_flags, stdout);
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
  int failed; /* done with an error */
  signalr_error *err;
} call_state;

/* Records a call's outcome (the result, if any, is the caller's to print). */
static void record_end(call_state *st, const signalr_error *e) {
  st->done = 1;
  st->failed = e != NULL;
  st->rc = signalr_error_code(e);
  if (e) st->err = signalr_error_copy(e);
}

static void on_done(void *ud, signalr_connection *c, const signalr_value *v, const signalr_error *e) {
  (void)c;
  record_end(ud, e);
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

static void on_end(void *ud, signalr_connection *c, const signalr_value *v, const signalr_error *e) {
  (void)c; (void)v;
  record_end(ud, e);
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

/* A non-negative decimal number of milliseconds, all of it; -1 when it is not one. */
static long parse_ms(const char *flag, const char *text) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < 0 || v > INT_MAX) {
    fprintf(stderr, "error: %s wants a number of milliseconds (0 or more), not '%s'\n", flag, text);
    return -1;
  }
  return v;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What ended the connection, for listen: set by the lifecycle callback (on the polling thread). */
typedef struct life_state {
  int closed, rc;
  signalr_error *err;
} life_state;

static void on_life(void *ud, signalr_connection *c, int event, const signalr_error *e) {
  (void)c;
  life_state *st = ud;
  if (event != SIGNALR_EVENT_CLOSED || st->closed) return;
  st->closed = 1;
  st->rc = signalr_error_code(e);
  if (e) st->err = signalr_error_copy(e);
}

/* Polls until *done, or *also (may be NULL), or the deadline (-1: none), or Ctrl-C; 1 when
 * the deadline passed. */
static int poll_until(signalr_context *ctx, const int *done, const int *also, long long deadline) {
  while (!*done && !(also && *also) && !interrupted) {
    long long left = deadline < 0 ? 200 : deadline - now_ms();
    if (left <= 0) return 1;
    signalr_context_poll(ctx, (int32_t)(left < 200 ? left : 200));
  }
  return 0;
}

int signalr_cli_bench(int argc, char **argv); /* bench.c: signalr bench */

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "bench")) return signalr_cli_bench(argc - 1, argv + 1);
  if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
    printf("signalr %s (libsignalr %s)\n", SIGNALR_VERSION_STRING, signalr_version());
    return 0;
  }
  if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
    usage(stdout);
    fputs(common_flags, stdout);
    return 0;
  }
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "doctor")) return signalr_doctor_main(argc, argv);
  int listen = !strcmp(cmd, "listen"), call = !strcmp(cmd, "call"), send = !strcmp(cmd, "send");
  int stream = !strcmp(cmd, "stream");
  if (!listen && !call && !send && !stream) {
    fprintf(stderr, "error: unknown command '%s' (commands: call, send, stream, listen, bench, doctor)\n", cmd);
    usage(stderr);
    return 2;
  }
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      command_help(cmd);
      return 0;
    }
  }
  if (argc < 3) {
    fprintf(stderr, "error: %s needs a URL\n", cmd);
    usage(stderr);
    return 2;
  }
  const char *url = argv[2];
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
  int npos = 0, nons = 0, log_set = 0, in_invoke = 0;
  long timeout = 30000, listen_ms = -1;
  if (!positional || !ons) return 1;
  for (int i = 3; i < argc; i++) {
    const char *a = argv[i];
    const char *key = NULL;
    if (!strcmp(a, "--transport")) key = "transports";
    else if (!strcmp(a, "--protocol")) key = "protocol";
    else if (!strcmp(a, "--header")) key = "header";
    else if (!strcmp(a, "--token")) key = "access_token";
    else if (!strcmp(a, "--log-level")) key = "log_level";
    else if (!strcmp(a, "--ca-file")) key = "tls_ca_file";
    int wants_value = key || !strcmp(a, "--timeout") || !strcmp(a, "--for") || !strcmp(a, "--on") ||
                      !strcmp(a, "--invoke") || !strcmp(a, "--option");
    if (wants_value && i + 1 >= argc) {
      fprintf(stderr, "error: %s needs a value\n", a);
      return 2;
    }
    if (key) {
      if (signalr_builder_set(b, key, argv[++i], err, sizeof err)) {
        fprintf(stderr, "error: %s: %s\n", a, err);
        return 2;
      }
      if (!strcmp(key, "log_level")) log_set = 1;
    } else if (!strcmp(a, "--option")) {
      char *kv = argv[++i], *eq = strchr(kv, '=');
      if (!eq || eq == kv) {
        fprintf(stderr, "error: --option wants KEY=VALUE, not '%s'\n", kv);
        return 2;
      }
      *eq = '\0';
      if (signalr_builder_set(b, kv, eq + 1, err, sizeof err)) {
        fprintf(stderr, "error: --option %s: %s\n", kv, err);
        return 2;
      }
      if (!strcmp(kv, "log_level")) log_set = 1;
    } else if (!strcmp(a, "--skip-negotiation")) {
      signalr_builder_set(b, "skip_negotiation", "true", NULL, 0);
    } else if (!strcmp(a, "--insecure")) {
      signalr_builder_set(b, "tls_insecure", "true", NULL, 0);
    } else if (!strcmp(a, "--timeout")) {
      if ((timeout = parse_ms(a, argv[++i])) < 0) return 2;
    } else if (!strcmp(a, "--for")) {
      if ((listen_ms = parse_ms(a, argv[++i])) < 0) return 2;
    } else if (!strcmp(a, "--on")) {
      ons[nons++] = argv[++i];
    } else if (!strcmp(a, "--invoke")) {
      method = argv[++i];
      in_invoke = 1;
    } else if (!strncmp(a, "--", 2)) {
      fprintf(stderr, "error: unknown flag %s (signalr %s --help lists them)\n", a, cmd);
      return 2;
    } else if (!listen && !method) {
      method = a;
    } else if (!listen || in_invoke) {
      positional[npos++] = argv[i];
    } else {
      fprintf(stderr, "error: unexpected argument '%s' (listen takes JSON arguments after --invoke METHOD)\n", a);
      return 2;
    }
  }
  if ((call || send || stream) && !method) {
    fprintf(stderr, "error: %s needs a METHOD\n", cmd);
    return 2;
  }
  if (listen && !nons) {
    fprintf(stderr, "error: listen needs at least one --on METHOD\n");
    return 2;
  }
  if (log_set) signalr_builder_set_log(b, on_log, NULL, NULL);
  life_state life = {0};
  signalr_builder_set_lifecycle(b, on_life, &life, NULL);
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
  /* A deadline for what waits on the hub (0: none); the start has its own. */
  long long deadline = -1;
  if ((rc = signalr_connection_start_blocking(conn, timeout ? (int32_t)timeout : -1, &e))) {
    print_error("start", rc, e);
    signalr_error_free(e);
    status = interrupted ? 130 : 1;
    goto done;
  }
  if (timeout) deadline = now_ms() + timeout;
  char *args = join_args(positional, npos);
  if (!args) {
    status = 1;
    goto done;
  }
  if (method && send) {
    call_state st = {0};
    rc = signalr_connection_send_with_completion(conn, method, args, strlen(args), SIGNALR_ENCODING_JSON,
                                                 on_end, &st);
    if (!rc && poll_until(ctx, &st.done, NULL, deadline)) {
      fprintf(stderr, "error: send of %s: not written within %ld ms (--timeout)\n", method, timeout);
      status = 1;
    } else if (rc || st.rc) {
      print_error("send", rc ? rc : st.rc, st.err);
      status = 1;
    }
    signalr_error_free(st.err);
  } else if (method && stream) {
    call_state st = {0};
    uint64_t handle = 0;
    rc = signalr_connection_stream(conn, method, args, strlen(args), SIGNALR_ENCODING_JSON, on_item, on_end, &st,
                                   &handle);
    if (!rc) poll_until(ctx, &st.done, NULL, -1); /* a stream lasts as long as it lasts */
    if (!rc && !st.done) { /* Ctrl-C: cancel on the server too */
      signalr_connection_stream_cancel(conn, handle);
      poll_until(ctx, &st.done, NULL, now_ms() + 2000);
    } else if (rc || st.rc) {
      print_error(method, rc ? rc : st.rc, st.err);
      status = 1;
    }
    signalr_error_free(st.err);
  } else if (method && !listen) {
    call_state st = {0};
    rc = signalr_connection_invoke(conn, method, args, strlen(args), SIGNALR_ENCODING_JSON, on_done, &st);
    if (!rc && poll_until(ctx, &st.done, NULL, deadline)) {
      fprintf(stderr, "error: %s: no result within %ld ms (--timeout; 0: wait as long as it takes)\n", method,
              timeout);
      status = 1;
    } else if (!interrupted && (rc || st.rc)) {
      print_error(method, rc ? rc : st.rc, st.err);
      status = 1;
    }
    signalr_error_free(st.err);
  }
  if (listen) {
    /* --for is wall time from here; the --invoke result is printed when it comes, and listening
     * goes on meanwhile (a hub method may be what sends the calls listened to). */
    call_state st = {0};
    if (method && (rc = signalr_connection_invoke(conn, method, args, strlen(args), SIGNALR_ENCODING_JSON, on_done,
                                                  &st))) {
      print_error(method, rc, NULL);
      status = 1;
    }
    if (!status) poll_until(ctx, &life.closed, &st.failed, listen_ms < 0 ? -1 : now_ms() + listen_ms);
    if (st.failed && !life.closed && !interrupted) {
      print_error(method, st.rc, st.err);
      status = 1;
    }
    signalr_error_free(st.err);
  }
  free(args);
  if (listen && !status) {
    if (life.closed && !interrupted) { /* not our stop: the server or the network ended it */
      if (life.rc) print_error("listen: the connection closed", life.rc, life.err);
      else fprintf(stderr, "error: listen: the server closed the connection\n");
      status = 1;
    }
  }
  signalr_context_poll(ctx, 0);
  signalr_connection_stop_blocking(conn, 5000);
done:
  if (interrupted) {
    fprintf(stderr, "interrupted\n");
    status = 130;
  }
  signalr_error_free(life.err);
  signalr_connection_free(conn);
  signalr_context_free(ctx);
  free(positional);
  free(ons);
  return status;
}
