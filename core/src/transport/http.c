/* HTTP over libcurl multi, event-driven from the loop. See http.h. */
#include "transport/http.h"
#include "transport/tls_error.h"
#include "engine/error_info.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "signalr/signalr.h"
#include "transport/cookie_jar.h"
#include "util/buf.h"

#define HTTP_DEFAULT_MAX_BODY (1u << 20)
#define HTTP_MAX_COOKIES 64
/* Streaming: body bytes held for on_data before curl is told to pause the transfer. curl hands
 * over at most 16 KiB per write, so a stream never holds much more than this. */
#define HTTP_STREAM_HOLD (256u << 10)
#define HTTP_STREAM_KEEP (64u << 10) /* a bigger hold buffer is released once handed over */

typedef struct http_state {
  sr_loop *loop;
  CURLM *multi;
  sr_timer *timer;
  sr_http *head;  /* live requests */
  sr_http *ready; /* streaming requests with a head or body bytes to hand over */
} http_state;

struct sr_http {
  http_state *st;
  CURL *easy;
  struct curl_slist *hdrs;
  void (*done)(void *ud, const sr_http_response *resp);
  void *ud;
  sr_http *prev, *next;
  sr_buf body;
  size_t max_body;
  int too_big;
  char *cookies[HTTP_MAX_COOKIES + 1];
  size_t ncookies;
  char errbuf[CURL_ERROR_SIZE];
  char tls_text[CURL_ERROR_SIZE + 160]; /* a TLS failure, said in words (tls_error.c) */
  int have_ca_file;
  sr_timer *fail_timer; /* a failure found while starting, reported on the next turn */
  int fail_code;
  int completing; /* inside done(): sr_http_cancel on this handle is ignored */

  /* streaming (on_data / on_response): body holds the bytes not handed over yet */
  void (*on_response)(void *ud, const sr_http_response *head);
  void (*on_data)(void *ud, const uint8_t *data, size_t len);
  sr_http *ready_prev, *ready_next;
  int in_ready;
  int head_done;      /* the final response head arrived */
  int head_delivered; /* on_response ran (or there is none) */
  int paused;         /* curl was told to hold the rest until we have handed over the body */
  int delivering;     /* inside on_response/on_data: sr_http_cancel is deferred */
  int cancel_pending;
  int user_paused;    /* sr_http_pause: the owner's receive flow control */
  sr_timer *resume_timer;
};

/* ------------------------------------------------------------------ globals */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_user_agent[192];
static int g_curl_ok;

static void global_init(void) {
  g_curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  struct utsname u;
  if (uname(&u) == 0)
    snprintf(g_user_agent, sizeof(g_user_agent), "libsignalr/%s (%s; %s)", SIGNALR_VERSION_STRING, u.sysname,
             u.machine);
  else
    snprintf(g_user_agent, sizeof(g_user_agent), "libsignalr/%s (unknown)", SIGNALR_VERSION_STRING);
}

const char *sr_user_agent(void) {
  pthread_once(&g_once, global_init);
  return g_user_agent;
}

int sr_http_status_error(int status) {
  if (status >= 200 && status < 300) return 0;
  if (status >= 300 && status < 400) return SIGNALR_EREDIRECT;
  if (status == 401 || status == 403) return SIGNALR_EAUTH;
  if (status == 404) return SIGNALR_ENOTFOUND;
  return SIGNALR_EHTTP;
}

/* ------------------------------------------------------------------ request lifetime */

static void list_remove(sr_http *h) {
  if (!h->st) return;
  if (h->prev)
    h->prev->next = h->next;
  else if (h->st->head == h)
    h->st->head = h->next;
  if (h->next) h->next->prev = h->prev;
  h->prev = h->next = NULL;
}

static void ready_remove(sr_http *h) {
  if (!h->in_ready) return;
  if (h->ready_prev)
    h->ready_prev->ready_next = h->ready_next;
  else
    h->st->ready = h->ready_next;
  if (h->ready_next) h->ready_next->ready_prev = h->ready_prev;
  h->ready_prev = h->ready_next = NULL;
  h->in_ready = 0;
}

static void ready_add(sr_http *h) {
  if (h->in_ready) return;
  h->in_ready = 1;
  h->ready_prev = NULL;
  h->ready_next = h->st->ready;
  if (h->ready_next) h->ready_next->ready_prev = h;
  h->st->ready = h;
}

static void http_destroy(sr_http *h) {
  list_remove(h);
  ready_remove(h);
  if (h->fail_timer) sr_loop_timer_cancel(h->st->loop, h->fail_timer);
  if (h->resume_timer) sr_loop_timer_cancel(h->st->loop, h->resume_timer);
  if (h->easy) {
    curl_multi_remove_handle(h->st->multi, h->easy);
    curl_easy_cleanup(h->easy);
  }
  curl_slist_free_all(h->hdrs);
  for (size_t i = 0; i < h->ncookies; i++) free(h->cookies[i]);
  sr_buf_free(&h->body);
  free(h);
}

static int map_curl_error(sr_http *h, CURLcode rc) {
  switch (rc) {
    case CURLE_OK:
      return 0;
    case CURLE_COULDNT_CONNECT: {
      long oserr = 0;
      curl_easy_getinfo(h->easy, CURLINFO_OS_ERRNO, &oserr);
      return oserr == ECONNREFUSED ? SIGNALR_ECONNREFUSED : SIGNALR_ETRANSPORT;
    }
    case CURLE_OPERATION_TIMEDOUT:
      return SIGNALR_ETIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
      return SIGNALR_ETLS;
    case CURLE_WRITE_ERROR:
      return h->too_big ? SIGNALR_ETOOBIG : SIGNALR_ETRANSPORT;
    case CURLE_FILESIZE_EXCEEDED:
      return SIGNALR_ETOOBIG;
    case CURLE_OUT_OF_MEMORY:
      return SIGNALR_ENOMEM;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return SIGNALR_EINVAL;
    default:
      return SIGNALR_ETRANSPORT;
  }
}

/* The response's status and headers (body left empty). */
static void fill_head(sr_http *h, sr_http_response *r) {
  static const char *const no_cookies[1] = {NULL};
  memset(r, 0, sizeof(*r));
  long status = 0;
  curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
  r->status = (int)status;
  r->body = (const uint8_t *)"";
  r->error_text = "";
  h->cookies[h->ncookies] = NULL;
  r->set_cookies = h->ncookies ? (const char *const *)h->cookies : no_cookies;
  char *loc = NULL;
  if (status >= 300 && status < 400 && curl_easy_getinfo(h->easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK)
    r->location = loc;
  char *ct = NULL;
  if (curl_easy_getinfo(h->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK) r->content_type = ct;
}

/* Hands a streaming request's head and buffered body to its callbacks, outside of curl's own
 * callbacks. Returns 1 when the request was canceled from a callback (it is freed then). */
static int deliver(sr_http *h) {
  ready_remove(h);
  h->delivering = 1;
  if (h->head_done && !h->head_delivered) {
    h->head_delivered = 1;
    if (h->on_response) {
      sr_http_response head;
      fill_head(h, &head);
      h->on_response(h->ud, &head);
    }
  }
  if (!h->cancel_pending && h->body.len && h->on_data && !h->user_paused) {
    h->on_data(h->ud, h->body.data, h->body.len);
    h->body.len = 0;
    if (h->body.cap > HTTP_STREAM_KEEP) sr_buf_free(&h->body); /* a burst; streams idle mostly */
  }
  h->delivering = 0;
  if (h->cancel_pending) {
    http_destroy(h);
    return 1;
  }
  if (h->paused && !h->user_paused) {
    /* may hand over the held bytes at once (on_body queues the request again) */
    h->paused = 0;
    curl_easy_pause(h->easy, CURLPAUSE_CONT);
  }
  return 0;
}

static void dispatch(http_state *st) {
  while (st->ready) deliver(st->ready);
}

static void complete(sr_http *h, CURLcode rc) {
  if (h->on_data || h->on_response) {
    if (h->fail_code == 0 && rc == CURLE_OK) h->head_done = 1; /* a response without a blank line */
    if (deliver(h)) return;
  }
  sr_http_response r;
  fill_head(h, &r);
  r.error_code = h->fail_code ? h->fail_code : map_curl_error(h, rc);
  if (r.error_code == SIGNALR_ETOOBIG)
    snprintf(h->errbuf, sizeof(h->errbuf), "response body exceeds %zu bytes", h->max_body);
  r.error_text = r.error_code ? (h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc)) : "";
  if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY) {
    snprintf(h->tls_text, sizeof h->tls_text, "%s%s (%s)", SR_TEXT_DNS, rc == CURLE_COULDNT_RESOLVE_PROXY ? " (the proxy's)" : "",
             r.error_text);
    r.error_text = h->tls_text;
  } else if (rc == CURLE_WEIRD_SERVER_REPLY || (rc == CURLE_UNSUPPORTED_PROTOCOL && strstr(r.error_text, "HTTP/0.9"))) {
    /* Something answered, not in HTTP (curl refuses it as HTTP/0.9): not a caller error. */
    r.error_code = SIGNALR_EPROTO;
    snprintf(h->tls_text, sizeof h->tls_text, SR_TEXT_NOT_HTTP " (%s)", r.error_text);
    r.error_text = h->tls_text;
  } else if (r.error_code == SIGNALR_ETLS) {
    long verify = 0;
    curl_easy_getinfo(h->easy, CURLINFO_SSL_VERIFYRESULT, &verify);
    sr_tls_message(h->tls_text, sizeof h->tls_text, sr_tls_kind_curl((int)rc, verify, r.error_text), h->have_ca_file,
                   r.error_text);
    r.error_text = h->tls_text;
  }
  if (!h->on_data && sr_buf_terminate(&h->body) == 0) {
    r.body = h->body.data;
    r.body_len = h->body.len;
  }
  list_remove(h);
  curl_multi_remove_handle(h->st->multi, h->easy);
  h->completing = 1;
  h->done(h->ud, &r); /* may start or cancel other requests */
  http_destroy(h);
}

static void check_done(http_state *st) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(st->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    sr_http *h = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&h);
    CURLcode rc = m->data.result;
    if (h) complete(h, rc);
  }
}

/* ------------------------------------------------------------------ curl <-> loop glue */

static void on_fd(void *arg, int fd, int revents) {
  http_state *st = arg;
  int mask = 0;
  if (revents & SR_FD_READ) mask |= CURL_CSELECT_IN;
  if (revents & SR_FD_WRITE) mask |= CURL_CSELECT_OUT;
  if (revents & SR_FD_ERROR) mask |= CURL_CSELECT_ERR;
  int running = 0;
  curl_multi_socket_action(st->multi, fd, mask, &running);
  dispatch(st);
  check_done(st);
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
  http_state *st = userp;
  if (what == CURL_POLL_REMOVE) {
    sr_loop_fd_unwatch(st->loop, (int)s);
    return 0;
  }
  int ev = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) ev |= SR_FD_READ;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) ev |= SR_FD_WRITE;
  return sr_loop_fd_watch(st->loop, (int)s, ev, on_fd, st) == 0 ? 0 : -1;
}

static void on_timer(void *arg) {
  http_state *st = arg;
  st->timer = NULL;
  int running = 0;
  curl_multi_socket_action(st->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  dispatch(st);
  check_done(st);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  http_state *st = userp;
  if (st->timer) {
    sr_loop_timer_cancel(st->loop, st->timer);
    st->timer = NULL;
  }
  if (timeout_ms >= 0) {
    st->timer = sr_loop_timer_start(st->loop, sr_loop_now_ms() + timeout_ms, on_timer, st);
    if (!st->timer) return -1;
  }
  return 0;
}

static void state_shutdown(void *arg) {
  sr_loop *loop = arg;
  void **slot = sr_loop_slot(loop, SR_LOOP_SLOT_HTTP);
  http_state *st = *slot;
  if (!st) return;
  while (st->head) {
    sr_http *h = st->head;
    h->fail_code = SIGNALR_ECANCELED;
    snprintf(h->errbuf, sizeof(h->errbuf), "the I/O loop is shutting down");
    complete(h, CURLE_ABORTED_BY_CALLBACK);
  }
  if (st->timer) sr_loop_timer_cancel(loop, st->timer);
  curl_multi_cleanup(st->multi);
  free(st);
  *slot = NULL;
}

size_t sr_http_live_count(sr_loop *loop) {
  void **slot = sr_loop_slot(loop, SR_LOOP_SLOT_HTTP);
  size_t n = 0;
  for (sr_http *h = slot && *slot ? ((http_state *)*slot)->head : NULL; h; h = h->next) n++;
  return n;
}

static http_state *state_get(sr_loop *loop) {
  void **slot = sr_loop_slot(loop, SR_LOOP_SLOT_HTTP);
  if (!slot) return NULL;
  if (*slot) return *slot;
  http_state *st = calloc(1, sizeof(*st));
  if (!st) return NULL;
  st->loop = loop;
  st->multi = curl_multi_init();
  if (!st->multi || sr_loop_at_exit(loop, state_shutdown, loop) != 0) {
    if (st->multi) curl_multi_cleanup(st->multi);
    free(st);
    return NULL;
  }
  curl_multi_setopt(st->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt(st->multi, CURLMOPT_SOCKETDATA, st);
  curl_multi_setopt(st->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(st->multi, CURLMOPT_TIMERDATA, st);
  *slot = st;
  return st;
}

/* ------------------------------------------------------------------ easy callbacks */

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  sr_http *h = ud;
  size_t len = sz * n;
  if (h->on_data) {
    /* no user callback from inside curl: hold the bytes until curl returns to the loop */
    if (h->body.len >= HTTP_STREAM_HOLD || h->user_paused) {
      h->paused = 1;
      return CURL_WRITEFUNC_PAUSE; /* curl keeps these bytes and hands them over again */
    }
    if (sr_buf_append(&h->body, p, len) != 0) return 0;
    ready_add(h);
    return len;
  }
  if (h->body.len + len > h->max_body) {
    h->too_big = 1;
    return 0; /* aborts with CURLE_WRITE_ERROR */
  }
  if (sr_buf_append(&h->body, p, len) != 0) return 0;
  return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  sr_http *h = ud;
  size_t len = sz * n;
  if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
    /* a new response (after a 1xx): forget the previous one's cookies */
    for (size_t i = 0; i < h->ncookies; i++) free(h->cookies[i]);
    h->ncookies = 0;
    return len;
  }
  if (len > 0 && (p[0] == '\r' || p[0] == '\n') && !h->head_done && (h->on_data || h->on_response)) {
    long status = 0;
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200) { /* the end of the final head (1xx heads are followed by another) */
      h->head_done = 1;
      ready_add(h);
    }
    return len;
  }
  if (len > 11 && strncasecmp(p, "set-cookie:", 11) == 0 && h->ncookies < HTTP_MAX_COOKIES) {
    const char *v = p + 11;
    const char *e = p + len;
    while (v < e && (*v == ' ' || *v == '\t')) v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ')) e--;
    char *c = strndup(v, (size_t)(e - v));
    if (c) h->cookies[h->ncookies++] = c;
  }
  return len;
}

/* ------------------------------------------------------------------ API */

static int has_header(const char *const *headers, const char *name) {
  size_t n = strlen(name);
  for (const char *const *p = headers; p && *p; p++)
    if (strncasecmp(*p, name, n) == 0 && ((*p)[n] == ':' || (*p)[n] == ';')) return 1;
  return 0;
}

static void fail_later(void *arg) {
  sr_http *h = arg;
  h->fail_timer = NULL;
  complete(h, CURLE_FAILED_INIT);
}

int sr_http_start(sr_loop *loop, const sr_http_request_cfg *cfg,
                  void (*done)(void *ud, const sr_http_response *resp), void *ud, sr_http **out) {
  if (out) *out = NULL;
  if (!loop || !cfg || !cfg->url || !done) return SIGNALR_EINVAL;
  if (cfg->body_len && !cfg->body) return SIGNALR_EINVAL;
  if (strncasecmp(cfg->url, "http://", 7) != 0 && strncasecmp(cfg->url, "https://", 8) != 0) return SIGNALR_EINVAL;
  const char *ua = sr_user_agent(); /* also runs curl_global_init once */
  if (!g_curl_ok) return SIGNALR_ETRANSPORT;
  http_state *st = state_get(loop);
  if (!st) return SIGNALR_ENOMEM;
  sr_http *h = calloc(1, sizeof(*h));
  if (!h) return SIGNALR_ENOMEM;
  h->st = st;
  h->done = done;
  h->ud = ud;
  h->max_body = cfg->max_response_bytes ? cfg->max_response_bytes : HTTP_DEFAULT_MAX_BODY;
  h->on_response = cfg->on_response;
  h->on_data = cfg->on_data;
  h->head_delivered = !cfg->on_response;
  h->easy = curl_easy_init();
  if (!h->easy) {
    free(h);
    return SIGNALR_ENOMEM;
  }
  CURL *e = h->easy;
  int bad = 0;
  bad |= curl_easy_setopt(e, CURLOPT_URL, cfg->url) != CURLE_OK;
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)h);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  if (cfg->fresh_connection) {
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  }
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
  curl_easy_setopt(e, CURLOPT_USERAGENT, ua);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  if (cfg->timeout_ms > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
  if (cfg->net.connect_timeout_ms > 0) curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->net.connect_timeout_ms);
  if (cfg->net.ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, cfg->net.ca_file);
  h->have_ca_file = cfg->net.ca_file != NULL;
  if (cfg->net.insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYHOST, 0L);
  }
  if (cfg->net.client_cert) {
    bad |= curl_easy_setopt(e, CURLOPT_SSLCERT, cfg->net.client_cert) != CURLE_OK;
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (cfg->net.client_key) {
    bad |= curl_easy_setopt(e, CURLOPT_SSLKEY, cfg->net.client_key) != CURLE_OK;
    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (cfg->net.cookies) bad |= sr_cookie_jar_attach(cfg->net.cookies, e) != 0;
  if (cfg->net.proxy && *cfg->net.proxy) {
    bad |= curl_easy_setopt(e, CURLOPT_PROXY, cfg->net.proxy) != CURLE_OK;
    /* the proxy's answer to CONNECT is not the server's response: keep it out of on_header */
    curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  }
  const char *method = cfg->method ? cfg->method : (cfg->body_len ? "POST" : "GET");
  int has_body = cfg->body_len > 0 || strcasecmp(method, "POST") == 0 || strcasecmp(method, "PUT") == 0;
  if (strcasecmp(method, "GET") == 0 && !cfg->body_len) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (strcasecmp(method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (has_body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)cfg->body_len);
    if (cfg->body_borrowed && cfg->body_len)
      bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)cfg->body) != CURLE_OK;
    else
      bad |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, cfg->body_len ? (const char *)cfg->body : "") != CURLE_OK;
    if (strcasecmp(method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  } else {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
  /* curl's own additions that SignalR clients do not send */
  if (has_body && !has_header(cfg->net.headers, "Content-Type")) h->hdrs = curl_slist_append(h->hdrs, "Content-Type:");
  if (has_body && !has_header(cfg->net.headers, "Expect")) h->hdrs = curl_slist_append(h->hdrs, "Expect:");
  for (const char *const *p = cfg->net.headers; p && *p; p++) {
    struct curl_slist *n = curl_slist_append(h->hdrs, *p);
    if (!n) {
      bad = 1;
      break;
    }
    h->hdrs = n;
  }
  if (h->hdrs) curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);
  if (bad) {
    curl_easy_cleanup(h->easy);
    curl_slist_free_all(h->hdrs);
    free(h);
    return SIGNALR_EINVAL;
  }
  h->next = st->head;
  if (st->head) st->head->prev = h;
  st->head = h;
  if (curl_multi_add_handle(st->multi, e) != CURLM_OK) {
    /* reported on the next turn so that done() never runs inside this call */
    h->fail_code = SIGNALR_ETRANSPORT;
    snprintf(h->errbuf, sizeof(h->errbuf), "curl_multi_add_handle failed");
    h->fail_timer = sr_loop_timer_start(loop, 0, fail_later, h);
    if (!h->fail_timer) {
      list_remove(h);
      curl_easy_cleanup(h->easy);
      curl_slist_free_all(h->hdrs);
      free(h);
      return SIGNALR_ENOMEM;
    }
  }
  if (out) *out = h;
  return 0;
}

void sr_http_cancel(sr_http *h) {
  if (!h || h->completing) return;
  if (h->delivering) { /* deliver() frees it when the callback returns */
    h->cancel_pending = 1;
    return;
  }
  http_destroy(h);
}

/* ------------------------------------------------------------------ target (owned request settings) */

static int dup_opt(char **dst, const char *src) {
  *dst = NULL;
  if (!src || !*src) return 0;
  *dst = strdup(src);
  return *dst ? 0 : SIGNALR_ENOMEM;
}

void sr_http_target_free(sr_http_target *t) {
  if (!t) return;
  free(t->url);
  if (t->headers)
    for (size_t i = 1; i <= t->nheaders; i++) free((char *)t->headers[i]);
  free(t->headers);
  free((char *)t->net.ca_file);
  free((char *)t->net.proxy);
  free((char *)t->net.client_cert);
  free((char *)t->net.client_key);
  memset(t, 0, sizeof(*t));
}

int sr_http_target_init(sr_http_target *t, const char *url, const sr_net_options *net) {
  memset(t, 0, sizeof(*t));
  t->net.insecure = net->insecure;
  t->net.connect_timeout_ms = net->connect_timeout_ms;
  t->net.cookies = net->cookies; /* borrowed: the connection's jar outlives its transports */
  const char *const *headers = net->headers;
  size_t n = 0;
  while (headers && headers[n]) n++;
  t->headers = calloc(n + 2, sizeof(*t->headers));
  char *ca = NULL, *proxy = NULL, *cert = NULL, *key = NULL;
  int bad = !t->headers || dup_opt(&t->url, url) || !t->url || dup_opt(&ca, net->ca_file) ||
            dup_opt(&proxy, net->proxy) || dup_opt(&cert, net->client_cert) || dup_opt(&key, net->client_key);
  t->net.ca_file = ca;
  t->net.proxy = proxy;
  t->net.client_cert = cert;
  t->net.client_key = key;
  for (size_t i = 0; !bad && i < n; i++) {
    char *h = strdup(headers[i]);
    if (!h) bad = 1;
    t->headers[1 + t->nheaders++] = h;
  }
  if (bad) {
    sr_http_target_free(t);
    return SIGNALR_ENOMEM;
  }
  return 0;
}

void sr_http_target_apply(sr_http_target *t, sr_http_request_cfg *cfg, const char *extra) {
  int ours = 0;
  if (extra) {
    size_t name_len = strcspn(extra, ":");
    char name[64];
    if (name_len < sizeof(name)) {
      memcpy(name, extra, name_len);
      name[name_len] = 0;
      ours = !has_header(t->headers + 1, name);
    }
  }
  t->headers[0] = ours ? extra : NULL;
  cfg->url = t->url;
  cfg->net = t->net;
  cfg->net.headers = ours ? t->headers : t->headers + 1;
}

/* ------------------------------------------------------------------ receive flow control */

static void resume_fire(void *arg) {
  sr_http *h = arg;
  h->resume_timer = NULL;
  ready_add(h);
  dispatch(h->st);
}

void sr_http_pause(sr_http *h, int paused) {
  if (!h || h->completing || h->cancel_pending || h->user_paused == (paused != 0)) return;
  h->user_paused = paused != 0;
  if (h->user_paused) {
    if (h->resume_timer) sr_loop_timer_cancel(h->st->loop, h->resume_timer);
    h->resume_timer = NULL;
  } else if (!h->resume_timer) {
    /* what was held is handed over on the next turn, never inside this call */
    h->resume_timer = sr_loop_timer_start(h->st->loop, 0, resume_fire, h);
  }
}

/* ------------------------------------------------------------------ sender (serialized POSTs) */

#define SENDER_KEEP_MAX (1u << 20) /* an emptied buffer bigger than this is released */

void sr_http_sender_init(sr_http_sender *s, sr_loop *loop, sr_http_target *target, int binary, size_t max_queue,
                         int32_t timeout_ms, void *ud) {
  memset(s, 0, sizeof(*s));
  s->loop = loop;
  s->target = target;
  /* what the official clients send; the server does not look at it */
  s->content_type = binary ? "Content-Type: application/octet-stream" : "Content-Type: text/plain;charset=UTF-8";
  s->max_queue = max_queue;
  s->timeout_ms = timeout_ms;
  s->ud = ud;
}

static void sender_done(void *ud, const sr_http_response *r);

/* Moves what is queued into flight. */
static int sender_start(sr_http_sender *s) {
  sr_buf t = s->sending;
  s->sending = s->queued;
  s->queued = t;
  s->queued.len = 0;
  sr_http_request_cfg cfg;
  memset(&cfg, 0, sizeof(cfg));
  sr_http_target_apply(s->target, &cfg, s->content_type);
  cfg.method = "POST";
  cfg.body = s->sending.data;
  cfg.body_len = s->sending.len;
  cfg.body_borrowed = 1;
  cfg.timeout_ms = s->timeout_ms;
  cfg.fresh_connection = 1; /* never re-sent behind our back: no duplicates */
  int rc = sr_http_start(s->loop, &cfg, sender_done, s, &s->req);
  if (rc) {
    /* put the bytes back in front of anything queued meanwhile (nothing: we are synchronous) */
    t = s->queued;
    s->queued = s->sending;
    s->sending = t;
    s->sending.len = 0;
    s->req = NULL;
  }
  return rc;
}

static void release_if_big(sr_buf *b) {
  if (b->len == 0 && b->cap > SENDER_KEEP_MAX) sr_buf_free(b);
}

static void sender_done(void *ud, const sr_http_response *r) {
  sr_http_sender *s = ud;
  s->req = NULL;
  int code = r->error_code ? r->error_code : sr_http_status_error(r->status);
  if (code) {
    char text[200];
    if (r->error_code)
      snprintf(text, sizeof(text), "POST failed: %s", r->error_text);
    else
      snprintf(text, sizeof(text), "POST answered HTTP %d: %.120s", r->status, (const char *)r->body);
    s->sending.len = 0;
    s->on_error(s->ud, code, r->error_code ? 0 : r->status, text); /* may free s */
    return;
  }
  s->sending.len = 0;
  release_if_big(&s->sending);
  if (s->queued.len) {
    int rc = sender_start(s);
    if (rc) {
      s->on_error(s->ud, rc, 0, "could not start a POST"); /* may free s */
      return;
    }
  }
  if (s->on_sent) s->on_sent(s->ud); /* may push more (not free) */
  if (!s->req && !s->queued.len) s->on_idle(s->ud); /* may free s */
}

int sr_http_sender_push(sr_http_sender *s, const uint8_t *data, size_t len) {
  if (len == 0) return 0;
  if (len > s->max_queue || sr_http_sender_pending(s) > s->max_queue - len) return SIGNALR_EAGAIN;
  size_t before = s->queued.len;
  if (sr_buf_append(&s->queued, data, len) != 0) return SIGNALR_ENOMEM;
  if (s->req) return 0;
  int rc = sender_start(s);
  if (rc) s->queued.len = before;
  return rc;
}

void sr_http_sender_cancel(sr_http_sender *s) {
  sr_http_cancel(s->req);
  s->req = NULL;
  s->queued.len = s->sending.len = 0;
}

void sr_http_sender_free(sr_http_sender *s) {
  sr_http_sender_cancel(s);
  sr_buf_free(&s->queued);
  sr_buf_free(&s->sending);
}
