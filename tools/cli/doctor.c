/* `signalr doctor URL`: probes a hub the way the troubleshooting guide's sections do and prints
 * one line per check (✔ passed, ✘ failed, – not applicable or not reached), each failure with
 * its HTTP status and hint. All HTTP, TLS and SignalR work goes through the library (what a
 * connect attempt saw comes from signalr_connection_diagnostics); only the name lookup and the
 * TCP connect, which say where a connection fails before any HTTP, are made here.
 *
 * Checks, in order: DNS, TCP, TLS, negotiate (status, version, token, redirects), the
 * transports and transfer formats the server offers, stateful reconnect, each transport ×
 * protocol connected and handshaken with the round trip of an invocation, the server's
 * keep-alive against the client's server timeout, and new negotiate + connect rounds that find
 * several servers without sticky sessions (a connect that gets 404 after its negotiate). */
#define _POSIX_C_SOURCE 200809L
#include "doctor.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "signalr/signalr.h"

enum { PASS = 0, FAIL = 1, SKIP = 2 };

typedef struct check {
  char name[40];
  int status;
  char detail[1100];
  int http_status;
  const char *code; /* SIGNALR_E* name, or NULL */
  char hint[700];
  double ms;        /* a round trip, or -1 */
} check;

typedef struct doctor {
  const char *url;
  const char **keys, **values; /* the user's builder options, replayed on every probe */
  int nopts;
  long timeout_ms, keepalive_wait_ms, sticky_rounds;
  const char *echo_method;
  int json, insecure, proxied, log;
  int want_transports; /* bits: 1 WebSockets, 2 SSE, 4 Long Polling; 0: all */
  int want_protocols;  /* bits: 1 json, 2 messagepack; 0: both */
  signalr_context *ctx;
  check *checks;
  int nchecks;
} doctor;

static volatile sig_atomic_t interrupted;
static signalr_context *g_ctx;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
  if (g_ctx) signalr_context_interrupt(g_ctx);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static check *add(doctor *d, int status, const char *name, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static check *add(doctor *d, int status, const char *name, const char *fmt, ...) {
  check *c = realloc(d->checks, sizeof *c * (size_t)(d->nchecks + 1));
  if (!c) exit(1);
  d->checks = c;
  c = &d->checks[d->nchecks++];
  memset(c, 0, sizeof *c);
  c->status = status;
  c->ms = -1;
  snprintf(c->name, sizeof c->name, "%s", name);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->detail, sizeof c->detail, fmt, ap);
  va_end(ap);
  return c;
}

/* A failure from the library: its message, HTTP status, code and hint. */
static check *add_error(doctor *d, const char *name, int rc, const signalr_error *e) {
  int status = e ? signalr_error_http_status(e) : 0;
  const char *msg = e ? signalr_error_message(e) : signalr_strerror(rc);
  check *c = status ? add(d, FAIL, name, "HTTP %d: %s", status, msg) : add(d, FAIL, name, "%s", msg);
  c->http_status = status;
  c->code = signalr_error_name(rc);
  if (e && signalr_error_hint(e)) snprintf(c->hint, sizeof c->hint, "%s", signalr_error_hint(e));
  return c;
}

/* ------------------------------------------------------------------ the URL's host and port */

typedef struct target {
  char scheme[8];
  char host[256];
  char port[8];
  int tls;
} target;

static int parse_target(const char *url, target *t) {
  memset(t, 0, sizeof *t);
  const char *sep = strstr(url, "://");
  if (!sep || sep - url >= (long)sizeof t->scheme) return -1;
  memcpy(t->scheme, url, (size_t)(sep - url));
  for (char *p = t->scheme; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
  t->tls = !strcmp(t->scheme, "https") || !strcmp(t->scheme, "wss");
  if (!t->tls && strcmp(t->scheme, "http") && strcmp(t->scheme, "ws")) return -1;
  const char *h = sep + 3, *end;
  if (*h == '[') { /* [IPv6]:port */
    end = strchr(h, ']');
    if (!end || end - h - 1 >= (long)sizeof t->host) return -1;
    memcpy(t->host, h + 1, (size_t)(end - h - 1));
    end++;
  } else {
    end = h + strcspn(h, ":/?#");
    if (end == h || end - h >= (long)sizeof t->host) return -1;
    memcpy(t->host, h, (size_t)(end - h));
  }
  if (*end == ':') {
    size_t n = strcspn(end + 1, "/?#");
    if (!n || n >= sizeof t->port) return -1;
    memcpy(t->port, end + 1, n);
  } else {
    strcpy(t->port, t->tls ? "443" : "80");
  }
  return 0;
}

/* ------------------------------------------------------------------ DNS and TCP */

static struct addrinfo *check_dns(doctor *d, const target *t) {
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(t->host, t->port, &hints, &res);
  if (rc) {
    check *c = add(d, FAIL, "DNS", "%s does not resolve: %s", t->host, gai_strerror(rc));
    snprintf(c->hint, sizeof c->hint,
             "Check the host name in the URL (a typo?), and this machine's DNS or /etc/hosts; from a "
             "container, the server's host name may only resolve inside its network.");
    return NULL;
  }
  char addrs[600] = "";
  size_t o = 0;
  int n = 0;
  for (struct addrinfo *a = res; a && o < sizeof addrs - 64; a = a->ai_next, n++) {
    char ip[INET6_ADDRSTRLEN] = "?";
    void *src = a->ai_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr
                                         : (void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr;
    inet_ntop(a->ai_family, src, ip, sizeof ip);
    if (strstr(addrs, ip)) continue;
    o += (size_t)snprintf(addrs + o, sizeof addrs - o, "%s%s", o ? ", " : "", ip);
  }
  add(d, PASS, "DNS", "%s resolves to %s", t->host, addrs);
  return res;
}

/* One non-blocking connect: 0, or the errno. */
static int tcp_connect(const struct addrinfo *a, int timeout_ms, double *ms) {
  int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
  if (fd < 0) return errno;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  double t0 = now_ms();
  int rc = connect(fd, a->ai_addr, a->ai_addrlen) ? errno : 0;
  if (rc == EINPROGRESS) {
    struct pollfd p = {fd, POLLOUT, 0};
    int n = poll(&p, 1, timeout_ms);
    if (n == 0) rc = ETIMEDOUT;
    else if (n < 0) rc = errno;
    else {
      socklen_t len = sizeof rc;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &len);
    }
  }
  *ms = now_ms() - t0;
  close(fd);
  return rc;
}

static int check_tcp(doctor *d, const target *t, const struct addrinfo *res) {
  int last = 0;
  for (const struct addrinfo *a = res; a; a = a->ai_next) {
    double ms;
    int tmo = d->timeout_ms && d->timeout_ms < 5000 ? (int)d->timeout_ms : 5000;
    if (!(last = tcp_connect(a, tmo, &ms))) {
      check *c = add(d, PASS, "TCP", "%s port %s accepts connections (%.1f ms)", t->host, t->port, ms);
      c->ms = ms;
      return 0;
    }
  }
  check *c = add(d, FAIL, "TCP", "%s port %s: %s", t->host, t->port, strerror(last));
  c->code = last == ECONNREFUSED ? "SIGNALR_ECONNREFUSED" : "SIGNALR_ETRANSPORT";
  snprintf(c->hint, sizeof c->hint, "%s",
           last == ECONNREFUSED ? "Nothing is listening at this address: check the host and port, and that the "
                                  "server is running."
                                : "No answer from this address: a firewall drops the connection, or the host is "
                                  "down. Check the port and the network path.");
  return -1;
}

/* ------------------------------------------------------------------ probes through the library */

typedef struct probe {
  int rc;
  signalr_error *err;
  cJSON *diag;                /* signalr_connection_diagnostics after the start */
  signalr_connection *conn;   /* open when rc == 0 */
  double connect_ms, rtt_ms;  /* rtt_ms < 0: no round trip measured */
  int rtt_rc;                 /* the round trip's failure */
  signalr_error *rtt_err;
} probe;

static void on_log(void *ud, int level, const char *message) {
  (void)ud;
  static const char *const names[] = {"trce", "dbug", "info", "warn", "fail", "crit", "none"};
  fprintf(stderr, "[%s] %s\n", names[level < 0 || level > 6 ? 6 : level], message);
}

static cJSON *diagnostics(signalr_connection *conn) {
  char *s = NULL;
  size_t n = 0;
  if (signalr_connection_diagnostics(conn, &s, &n)) return NULL;
  cJSON *j = cJSON_ParseWithLength(s, n);
  signalr_free(s);
  return j;
}

static const char *jstr(const cJSON *o, const char *path1, const char *path2) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, path1);
  if (path2) v = cJSON_GetObjectItemCaseSensitive(v, path2);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *path1, const char *path2, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, path1);
  if (path2) v = cJSON_GetObjectItemCaseSensitive(v, path2);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* Median of a few invocations' round trips: a hub method given with --echo, or by default one
 * that does not exist (its "does not exist" completion is a full round trip through the hub). */
static void round_trip(doctor *d, probe *p) {
  double rtts[5];
  int n = 0;
  const char *method = d->echo_method ? d->echo_method : "SignalRDoctorPing";
  const char *args = d->echo_method ? "[\"signalr doctor\"]" : "[]";
  for (int i = 0; i < 5 && !interrupted; i++) {
    signalr_error *e = NULL;
    void *res = NULL;
    size_t len = 0;
    double t0 = now_ms();
    int rc = signalr_connection_invoke_blocking(p->conn, method, args, strlen(args), SIGNALR_ENCODING_JSON,
                                                d->timeout_ms ? (int32_t)d->timeout_ms : -1, &res, &len, &e);
    double ms = now_ms() - t0;
    signalr_free(res);
    signalr_context_poll(d->ctx, 0); /* logs and lifecycle events queued meanwhile */
    if (rc && !(rc == SIGNALR_EHUB && !d->echo_method)) {
      p->rtt_rc = rc;
      p->rtt_err = e;
      break;
    }
    signalr_error_free(e);
    rtts[n++] = ms;
  }
  p->rtt_ms = -1;
  if (!n) return;
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && rtts[j] < rtts[j - 1]; j--) {
      double t = rtts[j];
      rtts[j] = rtts[j - 1];
      rtts[j - 1] = t;
    }
  p->rtt_ms = rtts[n / 2];
}

/* Connects with the user's options plus the overrides (NULL: the user's); leaves it open on
 * success. */
static void probe_open(doctor *d, const char *transports, const char *protocol, int stateful, probe *p) {
  memset(p, 0, sizeof *p);
  p->rtt_ms = -1;
  signalr_builder *b;
  char err[256];
  if ((p->rc = signalr_builder_new(&b))) return;
  signalr_builder_set(b, "url", d->url, NULL, 0);
  for (int i = 0; i < d->nopts; i++) signalr_builder_set(b, d->keys[i], d->values[i], NULL, 0);
  if (transports) signalr_builder_set(b, "transports", transports, NULL, 0);
  if (protocol) signalr_builder_set(b, "protocol", protocol, NULL, 0);
  if (stateful) signalr_builder_set(b, "stateful_reconnect", "true", NULL, 0);
  signalr_builder_set(b, "reconnect", "false", NULL, 0);
  if (d->log) signalr_builder_set_log(b, on_log, NULL, NULL);
  p->rc = signalr_builder_build(b, d->ctx, &p->conn, err, sizeof err);
  signalr_builder_free(b);
  if (p->rc) return;
  double t0 = now_ms();
  p->rc = signalr_connection_start_blocking(p->conn, d->timeout_ms ? (int32_t)d->timeout_ms : -1, &p->err);
  p->connect_ms = now_ms() - t0;
  signalr_context_poll(d->ctx, 0);
  p->diag = diagnostics(p->conn);
  if (!p->rc) round_trip(d, p);
}

static void probe_close(doctor *d, probe *p) {
  if (p->conn) {
    signalr_connection_stop_blocking(p->conn, 5000);
    signalr_context_poll(d->ctx, 0);
    signalr_connection_free(p->conn);
  }
  signalr_error_free(p->err);
  signalr_error_free(p->rtt_err);
  cJSON_Delete(p->diag);
  memset(p, 0, sizeof *p);
}

/* A connect that failed after its negotiate succeeded with a 404: the connection is unknown
 * to the server the transport reached. */
static int is_404_after_negotiate(const probe *p) {
  const char *phase = jstr(p->diag, "phase", NULL);
  return p->rc == SIGNALR_ENOTFOUND && phase && strcmp(phase, "negotiate") &&
         jnum(p->diag, "negotiate", "status", 0) == 200;
}

/* ------------------------------------------------------------------ the report's sections */

static const cJSON *negotiate_response(const probe *p) {
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(p->diag, "negotiate");
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(n, "response");
  return cJSON_IsObject(r) ? r : NULL;
}

/* The formats the server offers a transport with (bits 1 text, 2 binary; 0: not offered). */
static int offered_formats(const cJSON *resp, const char *transport) {
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(resp, "availableTransports"), *t;
  cJSON_ArrayForEach(t, list) {
    const char *name = jstr(t, "transport", NULL);
    if (!name || strcmp(name, transport)) continue;
    int f = 0;
    const cJSON *fmt;
    cJSON_ArrayForEach(fmt, cJSON_GetObjectItemCaseSensitive(t, "transferFormats")) {
      if (cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "Text")) f |= 1;
      if (cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "Binary")) f |= 2;
    }
    return f ? f : 1;
  }
  return 0;
}

/* TLS and negotiate, from the first probe. 1 when negotiate succeeded. */
static int report_negotiate(doctor *d, const target *t, const probe *p) {
  const char *phase = jstr(p->diag, "phase", NULL);
  int status = (int)jnum(p->diag, "negotiate", "status", 0);
  int reached = status > 0 || (phase && strcmp(phase, "negotiate") && strcmp(phase, "none"));
  if (!t->tls) add(d, SKIP, "TLS", "not used (%s://)", t->scheme);
  else if (p->rc == SIGNALR_ETLS && !reached) {
    check *c = add_error(d, "TLS", p->rc, p->err);
    static const char prefix[] = "negotiate failed: "; /* the TLS line says where already */
    if (!strncmp(c->detail, prefix, sizeof prefix - 1)) memmove(c->detail, c->detail + sizeof prefix - 1,
                                                               strlen(c->detail) - sizeof prefix + 2);
  }
  else if (reached) add(d, PASS, "TLS", d->insecure ? "handshake completed; the certificate was NOT verified (--insecure)"
                                                    : "handshake completed, certificate verified");
  else add(d, SKIP, "TLS", "not reached");
  if (p->rc == SIGNALR_ETLS && !reached) {
    add(d, SKIP, "negotiate", "not reached (TLS failed)");
    return 0;
  }
  int redirects = (int)jnum(p->diag, "negotiate", "redirect_count", 0);
  const cJSON *resp = negotiate_response(p);
  if (phase && !strcmp(phase, "negotiate")) {
    check *c = add_error(d, "negotiate", p->rc, p->err);
    if (redirects) {
      size_t n = strlen(c->detail);
      snprintf(c->detail + n, sizeof c->detail - n, " (after %d redirect%s)", redirects, redirects == 1 ? "" : "s");
    }
    return 0;
  }
  if (!resp) { /* skip_negotiation, or no answer recorded */
    add(d, SKIP, "negotiate", "skipped (skip_negotiation)");
    return 0;
  }
  const char *token = jstr(resp, "connectionToken", NULL);
  int version = (int)jnum(resp, "negotiateVersion", NULL, 0);
  char via[300] = "";
  if (redirects) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p->diag, "negotiate"),
                                                         "redirects");
    const cJSON *last = cJSON_GetArrayItem(list, cJSON_GetArraySize(list) - 1);
    snprintf(via, sizeof via, ", %d redirect%s followed (to %s)", redirects, redirects == 1 ? "" : "s",
             cJSON_IsString(last) ? last->valuestring : "?");
  }
  add(d, PASS, "negotiate", "HTTP %d, negotiateVersion %d, connection token %s%s", status, version,
      token ? "present" : (version ? "MISSING" : "not used (version 0: the connection id serves)"), via);
  /* What the server offers. */
  char offer[400] = "";
  size_t o = 0;
  static const char *const names[] = {"WebSockets", "ServerSentEvents", "LongPolling"};
  for (int i = 0; i < 3; i++) {
    int f = offered_formats(resp, names[i]);
    if (f)
      o += (size_t)snprintf(offer + o, sizeof offer - o, "%s%s (%s)", o ? ", " : "", names[i],
                            f == 3 ? "Text, Binary" : f == 2 ? "Binary" : "Text");
  }
  if (o) add(d, PASS, "transports offered", "%s", offer);
  else {
    check *c = add(d, FAIL, "transports offered", "the server offers no transport this client knows");
    snprintf(c->hint, sizeof c->hint, "Enable WebSockets, ServerSentEvents or LongPolling on the hub (MapHub options).");
  }
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(resp, "useStatefulReconnect");
  if (cJSON_IsTrue(st)) add(d, PASS, "stateful reconnect", "offered by the server (WebSockets only)");
  else add(d, SKIP, "stateful reconnect", "not offered by the server (AllowStatefulReconnects is off)");
  return 1;
}

static const char *const transport_names[] = {"WebSockets", "ServerSentEvents", "LongPolling"};
static const char *const transport_keys[] = {"websockets", "serversentevents", "longpolling"};
static const char *const protocol_keys[] = {"json", "messagepack"};

/* Each transport × protocol, connected and handshaken on its own. Returns the index (t * 2 + p)
 * of the first that worked, or -1; counts the 404s after a negotiate. */
static int report_matrix(doctor *d, const probe *first, int *after404, int *tried) {
  const cJSON *resp = negotiate_response(first);
  int good = -1;
  for (int t = 0; t < 3; t++) {
    for (int pr = 0; pr < 2 && !interrupted; pr++) {
      char name[40];
      snprintf(name, sizeof name, "%s/%s", transport_names[t], protocol_keys[pr]);
      if (d->want_transports && !(d->want_transports & (1 << t))) {
        add(d, SKIP, name, "not asked for (--transport)");
        continue;
      }
      if (d->want_protocols && !(d->want_protocols & (1 << pr))) {
        add(d, SKIP, name, "not asked for (--protocol)");
        continue;
      }
      int f = resp ? offered_formats(resp, transport_names[t]) : (t == 0 ? 3 : 0);
      if (!f) {
        add(d, SKIP, name, "not offered by the server");
        continue;
      }
      if (pr == 1 && !(f & 2)) {
        add(d, SKIP, name, "%s", t == 1 ? "Server-Sent Events carry text only (MessagePack is binary)"
                                        : "the server offers this transport for text only");
        continue;
      }
      probe p;
      probe_open(d, transport_keys[t], protocol_keys[pr], 0, &p);
      (*tried)++;
      if (p.rc) {
        check *c = add_error(d, name, p.rc, p.err);
        const char *phase = jstr(p.diag, "phase", NULL);
        if (phase && strcmp(phase, "connected")) {
          size_t n = strlen(c->detail);
          snprintf(c->detail + n, sizeof c->detail - n, " [failed at: %s]", phase);
        }
        if (is_404_after_negotiate(&p)) (*after404)++;
      } else if (p.rtt_ms < 0) {
        check *c = add_error(d, name, p.rtt_rc, p.rtt_err);
        char was[sizeof c->detail];
        snprintf(was, sizeof was, "%s", c->detail);
        snprintf(c->detail, sizeof c->detail, "connected in %.0f ms, but the invocation failed: %s", p.connect_ms, was);
      } else {
        check *c = add(d, PASS, name, "connected and handshaken in %.0f ms, round trip %.2f ms%s", p.connect_ms,
                       p.rtt_ms, d->echo_method ? "" : " (an unknown method's error reply)");
        c->ms = p.rtt_ms;
        if (good < 0) good = t * 2 + pr;
      }
      probe_close(d, &p);
    }
  }
  return good;
}

/* The server's pings on the first probe's connection, waited for up to --keepalive-wait from
 * its connect. */
static void report_keepalive(doctor *d, probe *first, double connected_at) {
  if (first->rc || !first->conn) {
    add(d, SKIP, "keep-alive", "not measured (no connection)");
    return;
  }
  if (!d->keepalive_wait_ms) {
    add(d, SKIP, "keep-alive", "not measured (--keepalive-wait 0)");
    return;
  }
  cJSON *j = NULL;
  double deadline = connected_at + (double)d->keepalive_wait_ms;
  while (!interrupted) {
    cJSON_Delete(j);
    j = diagnostics(first->conn);
    if (jnum(j, "server_pings", "count", 0) >= 3 || now_ms() >= deadline) break;
    if (signalr_connection_state(first->conn) != SIGNALR_STATE_CONNECTED) break;
    signalr_context_poll(d->ctx, 100);
  }
  int count = (int)jnum(j, "server_pings", "count", 0);
  double gap = jnum(j, "server_pings", "max_gap_ms", -1), first_gap = jnum(j, "server_pings", "last_gap_ms", -1);
  double timeout = jnum(j, "server_timeout_ms", NULL, 30000);
  const char *transport = jstr(j, "transport", NULL);
  if (signalr_connection_state(first->conn) != SIGNALR_STATE_CONNECTED) {
    check *c = add(d, FAIL, "keep-alive", "the connection was lost while waiting for the server's pings");
    snprintf(c->hint, sizeof c->hint,
             "The server's KeepAliveInterval must be at most half the client's server timeout (%.0f ms), or "
             "the network dropped the idle connection.", timeout);
  } else if (count < 2 || gap < 0) {
    add(d, SKIP, "keep-alive", "%d ping%s within %ld ms: interval not measured (raise --keepalive-wait; the "
        "default KeepAliveInterval is 15 s)", count, count == 1 ? "" : "s", d->keepalive_wait_ms);
    (void)first_gap;
  } else if (timeout > 0 && gap * 2 > timeout) {
    check *c = add(d, FAIL, "keep-alive", "the server pings every %.0f ms over %s; the client's server timeout is "
                   "%.0f ms: less than twice the interval", gap, transport ? transport : "?", timeout);
    snprintf(c->hint, sizeof c->hint,
             "Set the server's KeepAliveInterval to at most half the client's server_timeout_ms, or raise "
             "server_timeout_ms (--option server_timeout_ms=...) to at least twice the interval.");
  } else {
    add(d, PASS, "keep-alive", "the server pings every %.0f ms over %s; the client's server timeout (%.0f ms) "
        "allows %.1f of them", gap, transport ? transport : "?", timeout, timeout > 0 ? timeout / gap : 0.0);
  }
  cJSON_Delete(j);
}

/* A sticky-sessions failure: the connect's HTTP 404, as the library reports it, with its hint. */
static void not_found(check *c, const char *hint) {
  c->http_status = 404;
  c->code = "SIGNALR_ENOTFOUND";
  snprintf(c->hint, sizeof c->hint, "%s", hint);
}

static void report_sticky(doctor *d, int good, int after404, int tried, int negotiated) {
  if (after404) {
    check *c = add(d, FAIL, "sticky sessions", "%d of %d connect%s after a successful negotiate got HTTP 404",
                   after404, tried, tried == 1 ? "" : "s");
    not_found(c,
              "The transport reached a server that does not know the negotiated connection: several server "
              "instances run without sticky sessions (or a proxy balances each request). Enable sticky sessions "
              "(session affinity), use Azure SignalR Service, or use WebSockets with skip_negotiation.");
    return;
  }
  if (!negotiated) { /* skip_negotiation: no connection id to lose between servers */
    add(d, SKIP, "sticky sessions", "not applicable (skip_negotiation: no negotiate)");
    return;
  }
  if (good < 0 || !d->sticky_rounds) {
    add(d, SKIP, "sticky sessions", good < 0 ? "not checked (no transport connected)" : "not checked (--sticky 0)");
    return;
  }
  int ok = 0, lost = 0;
  for (long i = 0; i < d->sticky_rounds && !interrupted; i++) {
    probe p;
    probe_open(d, transport_keys[good / 2], protocol_keys[good % 2], 0, &p);
    if (!p.rc) ok++;
    else if (is_404_after_negotiate(&p)) lost++;
    probe_close(d, &p);
  }
  if (lost) {
    check *c = add(d, FAIL, "sticky sessions", "%d of %ld new negotiate + connect rounds got HTTP 404 at the connect",
                   lost, d->sticky_rounds);
    not_found(c,
              "Some connects reach a server that did not negotiate the connection: several server instances run "
              "without sticky sessions. Enable sticky sessions (session affinity), or use WebSockets with "
              "skip_negotiation.");
  } else {
    add(d, ok == d->sticky_rounds ? PASS : SKIP, "sticky sessions",
        "%d of %ld new negotiate + connect rounds reached the server that negotiated them", ok, d->sticky_rounds);
  }
}

/* ------------------------------------------------------------------ output */

static void print_text(const doctor *d, int problems) {
  printf("signalr doctor %s\n", d->url);
  for (int i = 0; i < d->nchecks; i++) {
    const check *c = &d->checks[i];
    printf("%s %-28s %s", c->status == PASS ? "\u2714" : c->status == FAIL ? "\u2718" : "\u2013", c->name, c->detail);
    if (c->status == FAIL && c->code) printf(" (%s)", c->code);
    printf("\n");
    if (c->status == FAIL && c->hint[0]) printf("  %-28s hint: %s\n", "", c->hint);
  }
  if (problems) printf("result: %d problem%s found\n", problems, problems == 1 ? "" : "s");
  else printf("result: the hub is usable\n");
}

static void print_json(const doctor *d, int problems, const probe *first) {
  cJSON *o = cJSON_CreateObject(), *list = cJSON_CreateArray();
  cJSON_AddStringToObject(o, "url", d->url);
  cJSON_AddBoolToObject(o, "usable", !problems);
  cJSON_AddNumberToObject(o, "problems", problems);
  for (int i = 0; i < d->nchecks; i++) {
    const check *c = &d->checks[i];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", c->name);
    cJSON_AddStringToObject(j, "status", c->status == PASS ? "pass" : c->status == FAIL ? "fail" : "skip");
    cJSON_AddStringToObject(j, "detail", c->detail);
    if (c->http_status) cJSON_AddNumberToObject(j, "http_status", c->http_status);
    if (c->code) cJSON_AddStringToObject(j, "error", c->code);
    if (c->hint[0]) cJSON_AddStringToObject(j, "hint", c->hint);
    if (c->ms >= 0) cJSON_AddNumberToObject(j, "round_trip_ms", c->ms);
    cJSON_AddItemToArray(list, j);
  }
  cJSON_AddItemToObject(o, "checks", list);
  if (first->diag) cJSON_AddItemToObject(o, "diagnostics", cJSON_Duplicate(first->diag, 1));
  char *s = cJSON_Print(o);
  printf("%s\n", s);
  cJSON_free(s);
  cJSON_Delete(o);
}

/* ------------------------------------------------------------------ usage */

static void help(FILE *to) {
  fprintf(to,
          "usage: signalr doctor URL [flags]\n"
          "Probes the hub at URL and prints one line per check (\u2714 passed, \u2718 failed, \u2013 not applicable):\n"
          "DNS, TCP, TLS, negotiate, the transports offered, stateful reconnect, each transport x protocol\n"
          "connected with the round trip of an invocation, the server's keep-alive against the client's\n"
          "server timeout, and new negotiate + connect rounds (several servers without sticky sessions).\n"
          "exit status: 0 the hub is usable, 1 something is wrong, 2 bad usage, 130 interrupted\n"
          "flags:\n"
          "  --json               print the report as JSON\n"
          "  --echo METHOD        time the round trip with this hub method, called with one string argument\n"
          "                       (default: an unknown method, whose error reply is a round trip too)\n"
          "  --keepalive-wait MS  how long to watch for the server's pings (default 32000; 0: do not)\n"
          "  --sticky N           new negotiate + connect rounds (default 3; 0: none)\n"
          "  --transport T        check only these (websockets, serversentevents, longpolling; comma-separated)\n"
          "  --protocol P         check only this protocol (json or messagepack)\n"
          "  --header 'N: V', --token T, --ca-file FILE, --insecure, --cert-file FILE, --key-file FILE,\n"
          "  --proxy URL, --timeout MS (each connect; default 15000), --log-level LEVEL, --option KEY=VALUE\n"
          "  -h, --help           this help\n");
}

static long parse_num(const char *flag, const char *text) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < 0 || v > INT_MAX) {
    fprintf(stderr, "error: %s wants a number (0 or more), not '%s'\n", flag, text);
    return -1;
  }
  return v;
}

static int bits_of(const char *list, const char *const *names, int n) {
  int bits = 0;
  char *copy = strdup(list), *save = NULL;
  for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    for (int i = 0; i < n; i++)
      if (!strcasecmp(tok, names[i])) bits |= 1 << i;
  }
  free(copy);
  return bits;
}

/* Parses the flags into d; checks each option against a scratch builder (bad ones are usage
 * errors, as in the other commands). 0, or the exit status. */
static int parse(doctor *d, int argc, char **argv) {
  signalr_builder *b;
  char err[256];
  if (signalr_builder_new(&b)) return 1;
  if (signalr_builder_set(b, "url", d->url, err, sizeof err)) {
    fprintf(stderr, "error: %s\n", err);
    signalr_builder_free(b);
    return 2;
  }
  d->keys = calloc((size_t)argc, sizeof *d->keys);
  d->values = calloc((size_t)argc, sizeof *d->values);
  if (!d->keys || !d->values) return 1;
  int status = 0;
  for (int i = 3; i < argc && !status; i++) {
    const char *a = argv[i], *key = NULL, *value = NULL;
    if (!strcmp(a, "--json")) { d->json = 1; continue; }
    if (!strcmp(a, "--insecure")) { key = "tls_insecure"; value = "true"; d->insecure = 1; }
    else if (!strcmp(a, "--skip-negotiation")) { key = "skip_negotiation"; value = "true"; }
    else if (!strncmp(a, "--", 2)) {
      static const char *const flags[][2] = {
          {"--transport", "transports"}, {"--protocol", "protocol"},   {"--header", "header"},
          {"--token", "access_token"},   {"--ca-file", "tls_ca_file"}, {"--cert-file", "tls_client_cert"},
          {"--key-file", "tls_client_key"}, {"--proxy", "proxy"},    {"--log-level", "log_level"},
          {"--option", NULL},            {"--timeout", NULL},          {"--keepalive-wait", NULL},
          {"--sticky", NULL},            {"--echo", NULL}};
      int known = -1;
      for (size_t f = 0; f < sizeof flags / sizeof *flags; f++)
        if (!strcmp(a, flags[f][0])) known = (int)f;
      if (known < 0) {
        fprintf(stderr, "error: unknown flag %s (signalr doctor --help lists them)\n", a);
        status = 2;
        break;
      }
      if (i + 1 >= argc) {
        fprintf(stderr, "error: %s needs a value\n", a);
        status = 2;
        break;
      }
      value = argv[++i];
      key = flags[known][1];
      if (!strcmp(a, "--timeout")) { if ((d->timeout_ms = parse_num(a, value)) < 0) status = 2; continue; }
      if (!strcmp(a, "--keepalive-wait")) { if ((d->keepalive_wait_ms = parse_num(a, value)) < 0) status = 2; continue; }
      if (!strcmp(a, "--sticky")) { if ((d->sticky_rounds = parse_num(a, value)) < 0) status = 2; continue; }
      if (!strcmp(a, "--echo")) { d->echo_method = value; continue; }
      if (!strcmp(a, "--option")) {
        char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) {
          fprintf(stderr, "error: --option wants KEY=VALUE, not '%s'\n", value);
          status = 2;
          break;
        }
        *eq = '\0';
        key = argv[i];
        value = eq + 1;
      }
    } else {
      fprintf(stderr, "error: unexpected argument '%s'\n", a);
      status = 2;
      break;
    }
    if (signalr_builder_set(b, key, value, err, sizeof err)) {
      fprintf(stderr, "error: %s: %s\n", a, err);
      status = 2;
      break;
    }
    if (!strcmp(key, "transports")) d->want_transports = bits_of(value, transport_keys, 3);
    else if (!strcmp(key, "protocol")) d->want_protocols = bits_of(value, protocol_keys, 2);
    else if (!strcmp(key, "proxy")) d->proxied = *value != 0;
    else if (!strcmp(key, "log_level")) d->log = 1;
    else if (!strcmp(key, "tls_insecure")) d->insecure = !strcmp(value, "true") || !strcmp(value, "1");
    d->keys[d->nopts] = key;
    d->values[d->nopts++] = value;
  }
  signalr_builder_free(b);
  return status;
}

int signalr_doctor_main(int argc, char **argv) {
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help(stdout);
      return 0;
    }
  }
  if (argc < 3 || !strncmp(argv[2], "--", 2)) {
    fprintf(stderr, "error: doctor needs a URL\n");
    help(stderr);
    return 2;
  }
  doctor d = {.url = argv[2], .timeout_ms = 15000, .keepalive_wait_ms = 32000, .sticky_rounds = 3};
  target t;
  if (parse_target(d.url, &t)) {
    fprintf(stderr, "error: '%s' is not an http://, https://, ws:// or wss:// URL with a host\n", d.url);
    return 2;
  }
  int status = parse(&d, argc, argv);
  if (status) return status;
  if (signalr_context_new(&d.ctx, 0)) return 1;
  g_ctx = d.ctx;
  signal(SIGINT, on_sigint);
  signal(SIGTERM, on_sigint);

  /* DNS and TCP: where a connection fails before any HTTP (a proxy makes them moot). */
  int reachable = 1;
  if (d.proxied) {
    add(&d, SKIP, "DNS", "not checked: the connection goes through the proxy");
    add(&d, SKIP, "TCP", "not checked: the connection goes through the proxy");
  } else {
    struct addrinfo *res = check_dns(&d, &t);
    if (!res) add(&d, SKIP, "TCP", "not reached (DNS failed)");
    else {
      reachable = !check_tcp(&d, &t, res);
      freeaddrinfo(res);
    }
    if (d.checks[0].status == FAIL) reachable = 0;
  }

  /* The first connection: the user's transports (with fallback) and protocol, stateful
   * reconnect asked for so that the server says whether it offers it. It stays open for the
   * keep-alive check. */
  probe first = {0};
  double connected_at = 0;
  int negotiated = 0, good = -1, after404 = 0, tried = 0;
  if (reachable) {
    probe_open(&d, NULL, NULL, 1, &first);
    connected_at = now_ms();
    negotiated = report_negotiate(&d, &t, &first);
    if (is_404_after_negotiate(&first)) { after404++; tried++; }
  } else {
    add(&d, SKIP, "TLS", "not reached");
    add(&d, SKIP, "negotiate", "not reached");
  }
  if (negotiated || (reachable && first.diag && !negotiate_response(&first) && !first.rc)) {
    good = report_matrix(&d, &first, &after404, &tried);
    report_keepalive(&d, &first, connected_at);
    report_sticky(&d, good, after404, tried, negotiated);
  } else if (reachable && !interrupted) {
    add(&d, SKIP, "transports", "not checked (negotiate failed)");
  }

  int problems = 0;
  for (int i = 0; i < d.nchecks; i++) problems += d.checks[i].status == FAIL;
  if (d.json) print_json(&d, problems, &first);
  else print_text(&d, problems);
  probe_close(&d, &first);
  signalr_context_free(d.ctx);
  free(d.checks);
  free(d.keys);
  free(d.values);
  if (interrupted) {
    fprintf(stderr, "interrupted\n");
    return 130;
  }
  return problems ? 1 : 0;
}
