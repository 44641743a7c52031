/* HTTP over libcurl multi, event-driven from the loop. See http.h. */
#include "transport/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "signalr/signalr.h"
#include "util/buf.h"

#define HTTP_DEFAULT_MAX_BODY (1u << 20)
#define HTTP_MAX_COOKIES 64

typedef struct http_state {
  sr_loop *loop;
  CURLM *multi;
  sr_timer *timer;
  sr_http *head; /* live requests */
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
  sr_timer *fail_timer; /* a failure found while starting, reported on the next turn */
  int fail_code;
  int completing; /* inside done(): sr_http_cancel on this handle is ignored */
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

static void http_destroy(sr_http *h) {
  list_remove(h);
  if (h->fail_timer) sr_loop_timer_cancel(h->st->loop, h->fail_timer);
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

static void complete(sr_http *h, CURLcode rc) {
  static const char *const no_cookies[1] = {NULL};
  sr_http_response r;
  memset(&r, 0, sizeof(r));
  long status = 0;
  curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
  r.status = (int)status;
  r.error_code = h->fail_code ? h->fail_code : map_curl_error(h, rc);
  if (r.error_code == SIGNALR_ETOOBIG)
    snprintf(h->errbuf, sizeof(h->errbuf), "response body exceeds %zu bytes", h->max_body);
  r.error_text = r.error_code ? (h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc)) : "";
  if (sr_buf_terminate(&h->body) != 0) {
    r.body = (const uint8_t *)"";
    r.body_len = 0;
  } else {
    r.body = h->body.data;
    r.body_len = h->body.len;
  }
  h->cookies[h->ncookies] = NULL;
  r.set_cookies = h->ncookies ? (const char *const *)h->cookies : no_cookies;
  char *loc = NULL;
  if (status >= 300 && status < 400 && curl_easy_getinfo(h->easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK)
    r.location = loc;
  char *ct = NULL;
  if (curl_easy_getinfo(h->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK) r.content_type = ct;
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
  if (cfg->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
  if (cfg->insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  const char *method = cfg->method ? cfg->method : (cfg->body_len ? "POST" : "GET");
  int has_body = cfg->body_len > 0 || strcasecmp(method, "POST") == 0 || strcasecmp(method, "PUT") == 0;
  if (strcasecmp(method, "GET") == 0 && !cfg->body_len) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (strcasecmp(method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (has_body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)cfg->body_len);
    bad |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, cfg->body_len ? (const char *)cfg->body : "") != CURLE_OK;
    if (strcasecmp(method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  } else {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
  /* curl's own additions that SignalR clients do not send */
  if (has_body && !has_header(cfg->headers, "Content-Type")) h->hdrs = curl_slist_append(h->hdrs, "Content-Type:");
  if (has_body && !has_header(cfg->headers, "Expect")) h->hdrs = curl_slist_append(h->hdrs, "Expect:");
  for (const char *const *p = cfg->headers; p && *p; p++) {
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
  http_destroy(h);
}
