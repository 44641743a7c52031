/* fault_proxy TARGET_HOST TARGET_PORT
 *
 * The fault proxy as a process, for tests that are not in C (Python): the first line on
 * stdout is the port the proxy listens on (127.0.0.1); then one command per line on stdin,
 * each answered by one line on stdout, "ok", "error: ..." or, for stats, the counters:
 *
 *   cut                              reset every current connection
 *   stall on | stall off             hold / resume all forwarding
 *   delay MS                         delay every chunk by MS ms (0: off)
 *   truncate to_server|to_client N   cut the next chunk that way to N bytes, then close
 *   refuse MS                        refuse new connections for MS ms (0: stop refusing)
 *   stats                            accepted=N active=N to_server=N to_client=N
 *   quit                             stop (as does end of input)
 *
 * The answer comes once the command is in effect, so a driver that waits for it needs no
 * sleeps. Stopping on end of input means the proxy dies with the test that drives it. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_proxy.h"

/* A whole-string decimal in [0, max], or -1. */
static long parse_count(const char *s, long max) {
  if (!s || *s < '0' || *s > '9') return -1;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v > max) return -1;
  return v;
}

/* Runs one command line and answers it; returns 1 to quit. */
static int run_command(fault_proxy *p, char *line) {
  char *save = NULL;
  const char *cmd = strtok_r(line, " \t\r\n", &save);
  const char *a1 = cmd ? strtok_r(NULL, " \t\r\n", &save) : NULL;
  const char *a2 = a1 ? strtok_r(NULL, " \t\r\n", &save) : NULL;
  const char *extra = a2 ? strtok_r(NULL, " \t\r\n", &save) : NULL;
  int rc;
  long n;

  if (!cmd) return 0; /* blank line */
  if (!strcmp(cmd, "quit") && !a1) return 1;
  if (extra) {
    rc = -2;
  } else if (!strcmp(cmd, "cut") && !a1) {
    rc = fault_proxy_cut(p);
  } else if (!strcmp(cmd, "stall") && a1 && !a2 && (!strcmp(a1, "on") || !strcmp(a1, "off"))) {
    rc = fault_proxy_stall(p, !strcmp(a1, "on"));
  } else if (!strcmp(cmd, "delay") && !a2 && (n = parse_count(a1, INT_MAX)) >= 0) {
    rc = fault_proxy_delay(p, (int)n);
  } else if (!strcmp(cmd, "refuse") && !a2 && (n = parse_count(a1, INT_MAX)) >= 0) {
    rc = fault_proxy_refuse(p, (int)n);
  } else if (!strcmp(cmd, "truncate") && a1 && (n = parse_count(a2, LONG_MAX)) >= 0 &&
             (!strcmp(a1, "to_server") || !strcmp(a1, "to_client"))) {
    rc = fault_proxy_truncate_next(p, strcmp(a1, "to_server") ? FAULT_TO_CLIENT : FAULT_TO_SERVER,
                                   (size_t)n);
  } else if (!strcmp(cmd, "stats") && !a1) {
    printf("accepted=%" PRIu64 " active=%" PRIu64 " to_server=%" PRIu64 " to_client=%" PRIu64 "\n",
           fault_proxy_connections_accepted(p), fault_proxy_connections_active(p),
           fault_proxy_bytes(p, FAULT_TO_SERVER), fault_proxy_bytes(p, FAULT_TO_CLIENT));
    rc = 1;
  } else {
    rc = -2;
  }
  if (rc == 0)
    printf("ok\n");
  else if (rc == -1)
    printf("error: %s\n", strerror(errno));
  else if (rc == -2)
    printf("error: unknown command or bad arguments: %s\n", cmd);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  long port = argc == 3 ? parse_count(argv[2], 65535) : -1;
  if (port <= 0) {
    fprintf(stderr, "usage: %s TARGET_HOST TARGET_PORT\n", argv[0]);
    return 2;
  }
  /* A driver that goes away must not kill us with SIGPIPE before we see end of input. */
  signal(SIGPIPE, SIG_IGN);
  fault_proxy *p = fault_proxy_start(argv[1], (int)port);
  if (!p) {
    fprintf(stderr, "fault_proxy: cannot start for %s:%ld: %s\n", argv[1], port, strerror(errno));
    return 1;
  }
  printf("%d\n", fault_proxy_port(p));
  fflush(stdout);

  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) >= 0)
    if (run_command(p, line)) break;
  free(line);
  fault_proxy_stop(p);
  return 0;
}
