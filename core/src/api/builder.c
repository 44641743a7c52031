/* The builder: string-keyed options in one documented, introspectable table, so new options
 * never change the ABI. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "protocol/negotiate.h"
#include "util/url.h"

/* ------------------------------------------------------------ shared callbacks */

sr_callback *sr_callback_new(void (*fn)(void), void *ud, void (*free_ud)(void *)) {
  sr_callback *cb = calloc(1, sizeof *cb);
  if (!cb) return NULL;
  atomic_init(&cb->refs, 1);
  cb->fn = fn;
  cb->user_data = ud;
  cb->free_user_data = free_ud;
  return cb;
}

sr_callback *sr_callback_ref(sr_callback *cb) {
  if (cb) atomic_fetch_add(&cb->refs, 1);
  return cb;
}

void sr_callback_unref(sr_callback *cb) {
  if (!cb || atomic_fetch_sub(&cb->refs, 1) != 1) return;
  if (cb->free_user_data) cb->free_user_data(cb->user_data);
  free(cb);
}

/* ------------------------------------------------------------ settings */

void sr_settings_init(sr_settings *s) {
  memset(s, 0, sizeof *s);
  sr_engine_config_defaults(&s->engine);
  s->close_timeout_ms = 5000;
  s->app_buffer_bytes = 4u << 20;
  s->send_buffer_bytes = 1u << 20;
  s->log_level = SIGNALR_LOG_INFORMATION;
}

void sr_settings_free(sr_settings *s) {
  free(s->engine.url);
  free(s->access_token);
  for (size_t i = 0; i < s->header_count; i++) free(s->headers[i]);
  free(s->headers);
  free(s->ca_file);
  free(s->proxy);
  free(s->client_cert);
  free(s->client_key);
  free(s->binding);
  free(s->engine.reconnect_delays);
  sr_callback_unref(s->log);
  sr_callback_unref(s->lifecycle);
  sr_callback_unref(s->token_provider);
  sr_callback_unref(s->retry_policy);
  sr_callback_unref(s->raw_receive);
  memset(s, 0, sizeof *s);
}

static int dup_opt(char **dst, const char *src) {
  *dst = NULL;
  if (!src) return 0;
  *dst = strdup(src);
  return *dst ? 0 : SIGNALR_ENOMEM;
}

int sr_settings_copy(sr_settings *d, const sr_settings *s) {
  *d = *s;
  d->engine.url = NULL;
  d->access_token = d->ca_file = d->proxy = d->client_cert = d->client_key = d->binding = NULL;
  d->engine.reconnect_delays = NULL;
  d->headers = NULL;
  d->header_count = 0;
  d->log = sr_callback_ref(s->log);
  d->lifecycle = sr_callback_ref(s->lifecycle);
  d->token_provider = sr_callback_ref(s->token_provider);
  d->retry_policy = sr_callback_ref(s->retry_policy);
  d->raw_receive = sr_callback_ref(s->raw_receive);
  int rc = dup_opt(&d->engine.url, s->engine.url);
  if (!rc) rc = dup_opt(&d->access_token, s->access_token);
  if (!rc) rc = dup_opt(&d->ca_file, s->ca_file);
  if (!rc) rc = dup_opt(&d->proxy, s->proxy);
  if (!rc) rc = dup_opt(&d->client_cert, s->client_cert);
  if (!rc) rc = dup_opt(&d->client_key, s->client_key);
  if (!rc) rc = dup_opt(&d->binding, s->binding);
  if (!rc && s->engine.reconnect_delay_count) {
    size_t bytes = s->engine.reconnect_delay_count * sizeof *s->engine.reconnect_delays;
    if (!(d->engine.reconnect_delays = malloc(bytes))) rc = SIGNALR_ENOMEM;
    else memcpy(d->engine.reconnect_delays, s->engine.reconnect_delays, bytes);
  }
  if (!rc && s->header_count) {
    d->headers = calloc(s->header_count, sizeof *d->headers);
    if (!d->headers) rc = SIGNALR_ENOMEM;
    for (size_t i = 0; !rc && i < s->header_count; i++) {
      rc = dup_opt(&d->headers[i], s->headers[i]);
      if (!rc) d->header_count++;
    }
  }
  if (rc) sr_settings_free(d);
  return rc;
}

/* ------------------------------------------------------------ the option table */

typedef struct option {
  const char *name, *type, *def, *desc;
  int (*set)(sr_settings *s, const char *v, char *err, size_t errlen);
} option;

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return SIGNALR_EINVAL;
}

static int parse_bool(const char *v, int *out) {
  if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on")) *out = 1;
  else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "off")) *out = 0;
  else return -1;
  return 0;
}

static int parse_ms(const char *v, int32_t *out, int allow_zero) {
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno || end == v || *end || n < (allow_zero ? 0 : 1) || n > INT32_MAX) return -1;
  *out = (int32_t)n;
  return 0;
}

static int set_url(sr_settings *s, const char *v, char *err, size_t n) {
  if (!sr_url_scheme(v))
    return fail(err, n, "url must start with http://, https://, ws:// or wss://");
  char *u = strdup(v);
  if (!u) return SIGNALR_ENOMEM;
  free(s->engine.url);
  s->engine.url = u;
  return 0;
}

static int set_transports(sr_settings *s, const char *v, char *err, size_t n) {
  int mask = 0;
  const char *p = v;
  while (*p) {
    size_t l = strcspn(p, ", |");
    if (l) {
      if (!strncasecmp(p, "websockets", l) && l == 10) mask |= SR_TRANSPORT_WEBSOCKETS;
      else if ((l == 16 && !strncasecmp(p, "serversentevents", l)) || (l == 3 && !strncasecmp(p, "sse", l)))
        mask |= SR_TRANSPORT_SSE;
      else if ((l == 11 && !strncasecmp(p, "longpolling", l)) || (l == 2 && !strncasecmp(p, "lp", l)))
        mask |= SR_TRANSPORT_LONG_POLLING;
      else if (l == 3 && !strncasecmp(p, "all", l))
        mask |= SR_TRANSPORT_WEBSOCKETS | SR_TRANSPORT_SSE | SR_TRANSPORT_LONG_POLLING;
      else return fail(err, n, "unknown transport '%.*s' (websockets, serversentevents, longpolling)", (int)l, p);
    }
    p += l;
    if (*p) p++;
  }
  if (!mask) return fail(err, n, "transports is empty");
  s->engine.transports = mask;
  return 0;
}

static int set_protocol(sr_settings *s, const char *v, char *err, size_t n) {
  if (!strcasecmp(v, "json")) s->engine.protocol = SIGNALR_ENCODING_JSON;
  else if (!strcasecmp(v, "messagepack") || !strcasecmp(v, "msgpack")) s->engine.protocol = SIGNALR_ENCODING_MSGPACK;
  else return fail(err, n, "protocol must be json or messagepack");
  return 0;
}

static int set_skip(sr_settings *s, const char *v, char *err, size_t n) {
  return parse_bool(v, &s->engine.skip_negotiation) ? fail(err, n, "skip_negotiation must be true or false") : 0;
}

static int set_insecure_redirect(sr_settings *s, const char *v, char *err, size_t n) {
  return parse_bool(v, &s->engine.allow_insecure_redirect)
             ? fail(err, n, "allow_insecure_redirect must be true or false")
             : 0;
}

static int set_token(sr_settings *s, const char *v, char *err, size_t n) {
  (void)err; (void)n;
  char *t = *v ? strdup(v) : NULL;
  if (*v && !t) return SIGNALR_ENOMEM;
  free(s->access_token);
  s->access_token = t;
  return 0;
}

static int set_header(sr_settings *s, const char *v, char *err, size_t n) {
  const char *colon = strchr(v, ':');
  if (!colon || colon == v || strpbrk(v, "\r\n"))
    return fail(err, n, "header must be 'Name: value' on one line");
  char **h = realloc(s->headers, (s->header_count + 1) * sizeof *h);
  if (!h) return SIGNALR_ENOMEM;
  s->headers = h;
  if (!(h[s->header_count] = strdup(v))) return SIGNALR_ENOMEM;
  s->header_count++;
  return 0;
}

#define MS_SETTER(fname, field, allow_zero)                                            \
  static int fname(sr_settings *s, const char *v, char *err, size_t n) {               \
    return parse_ms(v, &s->field, allow_zero)                                          \
               ? fail(err, n, "expected milliseconds, a whole number%s", allow_zero ? "" : " above 0") \
               : 0;                                                                    \
  }
MS_SETTER(set_handshake_timeout, engine.handshake_timeout_ms, 0)
MS_SETTER(set_server_timeout, engine.server_timeout_ms, 1)
MS_SETTER(set_keep_alive, engine.keep_alive_interval_ms, 1)
MS_SETTER(set_close_timeout, close_timeout_ms, 0)

static int set_max_message(sr_settings *s, const char *v, char *err, size_t n) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || end == v || *end || x < 64 || x > 0x7fffffff || *v == '-')
    return fail(err, n, "max_message_size must be a byte count from 64 to 2147483647");
  s->engine.max_message_size = (size_t)x;
  return 0;
}

static int set_log_level(sr_settings *s, const char *v, char *err, size_t n) {
  static const char *const names[][2] = {{"trace", "trce"}, {"debug", "dbug"}, {"information", "info"},
                                         {"warning", "warn"}, {"error", "fail"}, {"critical", "crit"},
                                         {"none", "none"}};
  for (int i = 0; i < 7; i++) {
    if (!strcasecmp(v, names[i][0]) || !strcasecmp(v, names[i][1])) {
      s->log_level = i;
      return 0;
    }
  }
  return fail(err, n, "log_level must be trace, debug, information, warning, error, critical or none");
}

/* Optional strings: "" clears them. */
static int replace_str(char **slot, const char *v) {
  char *c = *v ? strdup(v) : NULL;
  if (*v && !c) return SIGNALR_ENOMEM;
  free(*slot);
  *slot = c;
  return 0;
}

#define STR_SETTER(fname, field) \
  static int fname(sr_settings *s, const char *v, char *err, size_t n) { return replace_str(&s->field, v); }
STR_SETTER(set_ca_file, ca_file)
STR_SETTER(set_client_cert, client_cert)
STR_SETTER(set_client_key, client_key)
STR_SETTER(set_binding, binding)

static int set_proxy(sr_settings *s, const char *v, char *err, size_t n) {
  if (*v && !(sr_url_scheme(v) & (SR_URL_HTTP | SR_URL_HTTPS)))
    return fail(err, n, "proxy must be an http:// or https:// URL (or empty for none)");
  return replace_str(&s->proxy, v);
}

#define BOOL_SETTER(fname, field, name)                                               \
  static int fname(sr_settings *s, const char *v, char *err, size_t n) {              \
    return parse_bool(v, &s->field) ? fail(err, n, name " must be true or false") : 0; \
  }
/* raw: text / binary (a raw connection with that transfer format), or off. A raw connection
 * has no hub protocol, so no pings to keep the server timeout fed: both are turned off (set
 * them after this option to have them anyway; the keep-alive sends nothing in raw mode). */
static int set_raw(sr_settings *s, const char *v, char *err, size_t n) {
  if (!strcasecmp(v, "text")) {
    s->engine.protocol = SIGNALR_ENCODING_JSON;
  } else if (!strcasecmp(v, "binary")) {
    s->engine.protocol = SIGNALR_ENCODING_MSGPACK;
  } else if (!*v || !strcasecmp(v, "off") || !strcasecmp(v, "false")) {
    s->engine.raw = 0;
    return 0;
  } else {
    return fail(err, n, "raw must be text, binary or off");
  }
  s->engine.raw = 1;
  s->engine.server_timeout_ms = 0;
  s->engine.keep_alive_interval_ms = 0;
  return 0;
}

BOOL_SETTER(set_reconnect_on_start, engine.reconnect_on_start, "reconnect_on_start")
BOOL_SETTER(set_stateful, engine.stateful_reconnect, "stateful_reconnect")

static const int32_t DEFAULT_DELAYS[] = {0, 2000, 10000, 30000};

static int set_delays(sr_settings *s, const int32_t *d, size_t count) {
  int32_t *copy = NULL;
  if (count && !(copy = malloc(count * sizeof *copy))) return SIGNALR_ENOMEM;
  if (count) memcpy(copy, d, count * sizeof *copy);
  free(s->engine.reconnect_delays);
  s->engine.reconnect_delays = copy;
  s->engine.reconnect_delay_count = count;
  return 0;
}

static int set_reconnect(sr_settings *s, const char *v, char *err, size_t n) {
  int on;
  if (parse_bool(v, &on)) return fail(err, n, "reconnect must be true or false");
  s->engine.reconnect = on;
  if (on && !s->engine.reconnect_delay_count)
    return set_delays(s, DEFAULT_DELAYS, sizeof DEFAULT_DELAYS / sizeof DEFAULT_DELAYS[0]);
  return 0;
}

static int set_reconnect_delays(sr_settings *s, const char *v, char *err, size_t n) {
  int32_t d[64];
  size_t count = 0;
  const char *p = v;
  while (*p) {
    size_t l = strcspn(p, ", ");
    if (l) {
      char num[16];
      if (l >= sizeof num || count == 64) return fail(err, n, "reconnect_delays_ms: at most 64 delays, each in ms");
      memcpy(num, p, l);
      num[l] = 0;
      if (parse_ms(num, &d[count], 1)) return fail(err, n, "reconnect_delays_ms: '%s' is not a delay in ms", num);
      count++;
    }
    p += l;
    if (*p) p++;
  }
  s->engine.reconnect = count > 0;
  return set_delays(s, d, count);
}

static int set_jitter(sr_settings *s, const char *v, char *err, size_t n) {
  char *end;
  errno = 0;
  double j = strtod(v, &end);
  if (errno || end == v || *end || !(j >= 0.0 && j <= 1.0))
    return fail(err, n, "reconnect_jitter must be a fraction from 0 to 1");
  s->engine.reconnect_jitter = j;
  return 0;
}

static int set_stateful_buffer(sr_settings *s, const char *v, char *err, size_t n) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || end == v || *end || x < 1 || x > 0x7fffffff || *v == '-')
    return fail(err, n, "stateful_reconnect_buffer_size must be a byte count from 1 to 2147483647");
  s->engine.stateful_buffer_size = (size_t)x;
  return 0;
}

static int parse_bytes(const char *v, size_t lo, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || end == v || *end || *v == '-' || x < lo || x > 0x7fffffff) return -1;
  *out = (size_t)x;
  return 0;
}

static int set_app_buffer(sr_settings *s, const char *v, char *err, size_t n) {
  return parse_bytes(v, 1024, &s->app_buffer_bytes)
             ? fail(err, n, "application_max_buffer_size must be a byte count from 1024 to 2147483647")
             : 0;
}

static int set_send_buffer(sr_settings *s, const char *v, char *err, size_t n) {
  return parse_bytes(v, 1024, &s->send_buffer_bytes)
             ? fail(err, n, "transport_max_buffer_size must be a byte count from 1024 to 2147483647")
             : 0;
}

static int set_insecure(sr_settings *s, const char *v, char *err, size_t n) {
  return parse_bool(v, &s->insecure) ? fail(err, n, "tls_insecure must be true or false") : 0;
}

static const option OPTIONS[] = {
    {"url", "string", "", "The hub URL (http, https, ws or wss).", set_url},
    {"transports", "list", "websockets,serversentevents,longpolling",
     "Transports allowed, tried in the server's order: websockets, serversentevents, longpolling.", set_transports},
    {"protocol", "enum", "json", "Hub protocol: json or messagepack.", set_protocol},
    {"skip_negotiation", "bool", "false", "Connect straight to the WebSocket (transports must be websockets).", set_skip},
    {"allow_insecure_redirect", "bool", "false",
     "Follow a negotiate redirect from https:// to http:// (it sends the token and headers in cleartext).",
     set_insecure_redirect},
    {"access_token", "string", "", "Bearer token sent on negotiate and on every transport request.", set_token},
    {"header", "string", "", "An HTTP header 'Name: value' added to every request; repeat to add more.", set_header},
    {"handshake_timeout_ms", "int", "15000", "How long to wait for the handshake response.", set_handshake_timeout},
    {"server_timeout_ms", "int", "30000", "Close when nothing arrives for this long (0: never).", set_server_timeout},
    {"keep_alive_interval_ms", "int", "15000", "Send a Ping after this long without sending (0: never).", set_keep_alive},
    {"close_timeout_ms", "int", "5000", "How long a stop waits for the transport to close cleanly.", set_close_timeout},
    {"max_message_size", "int", "1048576", "Largest message accepted from the server, in bytes.", set_max_message},
    {"application_max_buffer_size", "int", "4194304",
     "Bytes of received events queued for the application (payloads plus about 200 bytes each) before the "
     "connection stops reading from the server until polling catches up.", set_app_buffer},
    {"transport_max_buffer_size", "int", "1048576",
     "Bytes accepted for sending and not yet written before sends return EAGAIN (then SIGNALR_EVENT_WRITABLE) "
     "and invokes wait.", set_send_buffer},
    {"log_level", "enum", "information",
     "Least severe log level delivered: trace, debug, information, warning, error, critical, none.", set_log_level},
    {"tls_ca_file", "string", "", "PEM file of the CAs trusted for https/wss (default: the system's).", set_ca_file},
    {"tls_insecure", "bool", "false", "Skip TLS certificate verification (testing only).", set_insecure},
    {"tls_client_cert", "string", "", "PEM file of a client certificate for https/wss.", set_client_cert},
    {"tls_client_key", "string", "", "PEM file of the client certificate's private key.", set_client_key},
    {"proxy", "string", "", "HTTP proxy URL for every request (WebSockets tunnel through CONNECT).", set_proxy},
    {"raw", "enum", "off",
     "A raw connection (the official clients' HttpConnection, for an ASP.NET Core ConnectionHandler): "
     "text or binary transfer format, no hub protocol; messages go through signalr_connection_send_raw "
     "and signalr_builder_set_raw_receive. Turns server_timeout_ms and keep_alive_interval_ms off.",
     set_raw},
    {"binding", "string", "C", "The language binding, reported in the User-Agent (e.g. 'Python 3.11').", set_binding},
    {"reconnect", "bool", "false",
     "Reconnect automatically when the connection is lost (delays 0, 2, 10, 30 s, then give up).", set_reconnect},
    {"reconnect_delays_ms", "list", "0,2000,10000,30000",
     "Delays before each reconnect attempt; setting it turns reconnect on; empty turns it off.", set_reconnect_delays},
    {"reconnect_jitter", "float", "0", "Randomize each delay by up to this fraction (0 to 1).", set_jitter},
    {"reconnect_on_start", "bool", "false",
     "Apply the reconnect policy to the first start too (retry until the server is up).", set_reconnect_on_start},
    {"stateful_reconnect", "bool", "false",
     "Ask for stateful reconnect (ASP.NET Core 8+): messages survive a dropped WebSocket.", set_stateful},
    {"stateful_reconnect_buffer_size", "int", "100000",
     "Bytes of unacknowledged messages kept for replay; sends wait (EAGAIN) when full.", set_stateful_buffer},
};
#define OPTION_COUNT (sizeof OPTIONS / sizeof OPTIONS[0])

int signalr_option_next(size_t *cursor, const char **name, const char **type, const char **def,
                        const char **desc) {
  if (!cursor || *cursor >= OPTION_COUNT) return 0;
  const option *o = &OPTIONS[(*cursor)++];
  if (name) *name = o->name;
  if (type) *type = o->type;
  if (def) *def = o->def;
  if (desc) *desc = o->desc;
  return 1;
}

int signalr_builder_new(signalr_builder **out) {
  if (!out) return SIGNALR_EINVAL;
  signalr_builder *b = calloc(1, sizeof *b);
  if (!b) return SIGNALR_ENOMEM;
  sr_settings_init(&b->s);
  *out = b;
  return 0;
}

void signalr_builder_free(signalr_builder *b) {
  if (!b) return;
  sr_settings_free(&b->s);
  free(b);
}

int signalr_builder_set(signalr_builder *b, const char *key, const char *value, char *err, size_t errlen) {
  if (err && errlen) err[0] = 0;
  if (!b || !key || !value) return fail(err, errlen, "builder, key and value are required");
  for (size_t i = 0; i < OPTION_COUNT; i++)
    if (!strcmp(OPTIONS[i].name, key)) return OPTIONS[i].set(&b->s, value, err, errlen);
  return fail(err, errlen, "unknown option '%s'", key);
}

static int set_cb(sr_callback **slot, void (*fn)(void), void *ud, void (*free_ud)(void *)) {
  sr_callback *cb = NULL;
  if (!fn && free_ud) free_ud(ud); /* nothing will hold it: released at once, still exactly once */
  if (fn && !(cb = sr_callback_new(fn, ud, free_ud))) return SIGNALR_ENOMEM;
  sr_callback_unref(*slot);
  *slot = cb;
  return 0;
}

int signalr_builder_set_log(signalr_builder *b, signalr_log_fn fn, void *ud, void (*free_ud)(void *)) {
  if (!b) return SIGNALR_EINVAL;
  return set_cb(&b->s.log, (void (*)(void))fn, ud, free_ud);
}

int signalr_builder_set_token_provider(signalr_builder *b, signalr_token_fn fn, void *ud,
                                       void (*free_ud)(void *)) {
  if (!b) return SIGNALR_EINVAL;
  return set_cb(&b->s.token_provider, (void (*)(void))fn, ud, free_ud);
}

int signalr_builder_set_retry_policy(signalr_builder *b, signalr_retry_fn fn, void *ud,
                                     void (*free_ud)(void *)) {
  if (!b) return SIGNALR_EINVAL;
  int rc = set_cb(&b->s.retry_policy, (void (*)(void))fn, ud, free_ud);
  if (!rc && fn) b->s.engine.reconnect = 1;
  return rc;
}

int signalr_builder_set_raw_receive(signalr_builder *b, signalr_raw_fn fn, void *ud, void (*free_ud)(void *)) {
  if (!b) return SIGNALR_EINVAL;
  return set_cb(&b->s.raw_receive, (void (*)(void))fn, ud, free_ud);
}

int signalr_builder_set_lifecycle(signalr_builder *b, signalr_lifecycle_fn fn, void *ud, void (*free_ud)(void *)) {
  if (!b) return SIGNALR_EINVAL;
  return set_cb(&b->s.lifecycle, (void (*)(void))fn, ud, free_ud);
}
