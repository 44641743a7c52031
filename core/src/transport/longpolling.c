/* Long Polling transport. See longpolling.h. */
#include "transport/longpolling.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "protocol/framing.h"
#include "signalr/signalr.h"
#include "transport/http.h"

#define LP_DEFAULT_CONNECT_TIMEOUT_MS 30000
#define LP_DEFAULT_MAX_QUEUE (16u << 20)

struct sr_lp {
  sr_loop *loop;
  sr_transport_callbacks cb;
  void *ud;
  sr_http_target target;
  sr_http_sender sender;
  sr_http *poll;
  sr_http *del;    /* the DELETE of a close */
  sr_timer *timer; /* the bound of a close */
  sr_buf poll_url; /* reused for every poll */
  uint64_t last_buster;
  int32_t connect_timeout_ms;
  int32_t close_timeout_ms;
  int paused;       /* receive flow control */
  int poll_wanted;  /* a poll was due while paused */
  size_t max_body;
  int opened, closing, finished;
  size_t unsent;    /* once finished: bytes queued and never accepted by the server */
  int depth;        /* how many of our frames are calling out to the owner */
  int free_pending; /* sr_lp_free came from inside one of them */
  sr_transport_close_info info;
  char reason[256];
};

/* ------------------------------------------------------------------ lifetime */

static void stop_io(sr_lp *p) {
  if (p->timer) sr_loop_timer_cancel(p->loop, p->timer);
  p->timer = NULL;
  sr_http_cancel(p->poll);
  sr_http_cancel(p->del);
  p->poll = p->del = NULL;
  sr_http_sender_cancel(&p->sender);
}

static void destroy(sr_lp *p) {
  stop_io(p);
  sr_http_sender_free(&p->sender);
  sr_http_target_free(&p->target);
  sr_buf_free(&p->poll_url);
  free(p);
}

/* Every call into the owner is bracketed by depth++ and leave(): the owner may free us inside,
 * and then the outermost frame does it once the stack has unwound. 1: p is gone (or going):
 * return at once without touching it. */
static int leave(sr_lp *p) {
  p->depth--;
  if (!p->free_pending) return 0;
  if (p->depth == 0) destroy(p);
  return 1;
}

static int finish(sr_lp *p, int error, int status, const char *fmt, ...) {
  if (p->finished) return 0;
  p->finished = 1;
  p->unsent = sr_http_sender_pending(&p->sender); /* stop_io drops them: kept for on_close */
  stop_io(p);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
  va_end(ap);
  p->info.error = error;
  p->info.http_status = status;
  p->info.close_code = 0;
  p->info.reason = p->reason;
  p->info.opened = p->opened;
  p->depth++;
  if (p->cb.on_close) p->cb.on_close(p->ud, &p->info);
  return leave(p);
}

/* ------------------------------------------------------------------ polls */

static void on_poll_done(void *ud, const sr_http_response *r);

/* The official clients' cache buster is wall-clock milliseconds. Only uniqueness matters (to
 * caches on the way), so two polls within one millisecond get consecutive values. */
static int start_poll(sr_lp *p) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
  if (ms <= p->last_buster) ms = p->last_buster + 1;
  p->last_buster = ms;
  char q[48];
  snprintf(q, sizeof(q), "%s_=%" PRIu64, strchr(p->target.url, '?') ? "&" : "?", ms);
  p->poll_url.len = 0;
  if (sr_buf_puts(&p->poll_url, p->target.url) || sr_buf_puts(&p->poll_url, q) || sr_buf_terminate(&p->poll_url))
    return SIGNALR_ENOMEM;
  sr_http_request_cfg req;
  memset(&req, 0, sizeof(req));
  sr_http_target_apply(&p->target, &req, NULL);
  req.url = (const char *)p->poll_url.data;
  req.method = "GET";
  req.fresh_connection = 1; /* a poll re-sent behind our back could lose a response */
  /* the first poll is answered at once: it is the connect */
  req.timeout_ms = p->opened ? SR_LP_POLL_TIMEOUT_MS : p->connect_timeout_ms;
  req.max_response_bytes = p->max_body;
  return sr_http_start(p->loop, &req, on_poll_done, p, &p->poll);
}

static void on_poll_done(void *ud, const sr_http_response *r) {
  sr_lp *p = ud;
  p->poll = NULL;
  if (p->finished) return;
  if (r->error_code) {
    if (r->error_code == SIGNALR_ETIMEOUT && p->opened) { /* ours, not the server's: poll again */
      int rc = start_poll(p);
      if (rc) finish(p, rc, 0, "could not start a poll");
      return;
    }
    if (r->error_code == SIGNALR_ETOOBIG)
      finish(p, r->error_code, 0, "a poll response exceeds the maximum of %zu bytes", p->max_body);
    else if (r->error_code == SIGNALR_ETIMEOUT)
      finish(p, r->error_code, 0, "Long Polling connect timed out after %d ms", (int)p->connect_timeout_ms);
    else
      finish(p, r->error_code, 0, "%s: %s", p->opened ? "poll failed" : "Long Polling connect failed", r->error_text);
    return;
  }
  if (r->status == 204) {
    finish(p, 0, 0, "the server ended the connection (poll answered 204)");
    return;
  }
  if (r->status != 200) {
    int err = sr_http_status_error(r->status);
    finish(p, err ? err : SIGNALR_EHTTP, r->status, "%s answered HTTP %d%s%.120s", p->opened ? "poll" : "first poll",
           r->status, r->body_len ? ": " : "", (const char *)r->body);
    return;
  }
  int first = !p->opened;
  p->opened = 1;
  /* re-poll before handing anything over: the server disposes of a connection that has no
   * poll outstanding for too long, and the owner may take its time; unless the owner paused
   * receiving (it has more than enough to do): then the poll waits for the resume */
  int rc = 0;
  if (p->paused) p->poll_wanted = 1;
  else rc = start_poll(p);
  if (rc) {
    finish(p, rc, 0, "could not start a poll");
    return;
  }
  if (first) {
    p->depth++;
    if (p->cb.on_open) p->cb.on_open(p->ud);
    if (leave(p) || p->finished) return;
  }
  if (r->body_len) {
    p->depth++;
    if (p->cb.on_message) p->cb.on_message(p->ud, r->body, r->body_len);
    leave(p);
  }
}

/* ------------------------------------------------------------------ close */

static void on_delete_done(void *ud, const sr_http_response *r) {
  sr_lp *p = ud;
  p->del = NULL;
  /* 202, or 404 when the server already disposed of the connection: clean either way */
  if (r->error_code)
    finish(p, 0, 0, "closed by the client (DELETE failed: %s)", r->error_text);
  else
    finish(p, 0, 0, "closed by the client (DELETE answered %d)", r->status);
}

static void start_delete(sr_lp *p) {
  sr_http_cancel(p->poll); /* as the official clients: abort the poll, then DELETE */
  p->poll = NULL;
  sr_http_request_cfg req;
  memset(&req, 0, sizeof(req));
  sr_http_target_apply(&p->target, &req, NULL);
  req.method = "DELETE";
  req.timeout_ms = p->close_timeout_ms;
  if (sr_http_start(p->loop, &req, on_delete_done, p, &p->del) != 0)
    finish(p, 0, 0, "closed by the client (no DELETE sent: out of memory)");
}

static void on_close_timeout(void *arg) {
  sr_lp *p = arg;
  p->timer = NULL;
  if (p->del)
    finish(p, 0, 0, "closed by the client (no answer to the DELETE within %d ms)", p->close_timeout_ms);
  else
    finish(p, 0, 0, "closed by the client; %zu bytes not accepted by the server within %d ms were dropped",
           sr_http_sender_pending(&p->sender), p->close_timeout_ms);
}

/* ------------------------------------------------------------------ sends */

static void on_sender_idle(void *ud) {
  sr_lp *p = ud;
  if (p->closing && !p->del && !p->finished) start_delete(p);
}

static void on_sender_sent(void *ud) {
  sr_lp *p = ud;
  if (p->finished || !p->cb.on_drain) return;
  p->depth++;
  p->cb.on_drain(p->ud);
  leave(p);
}

static void on_sender_error(void *ud, int code, int status, const char *text) {
  finish(ud, code, status, "%s", text);
}

/* ------------------------------------------------------------------ API */

int sr_lp_connect(sr_loop *loop, const sr_transport_config *cfg, const sr_transport_callbacks *cb, void *ud,
                  sr_lp **out) {
  if (out) *out = NULL;
  if (!loop || !cfg || !cfg->url || !cb || !out) return SIGNALR_EINVAL;
  if (strncasecmp(cfg->url, "http://", 7) != 0 && strncasecmp(cfg->url, "https://", 8) != 0) return SIGNALR_EINVAL;
  sr_lp *p = calloc(1, sizeof(*p));
  if (!p) return SIGNALR_ENOMEM;
  p->loop = loop;
  p->cb = *cb;
  p->ud = ud;
  sr_net_options net = cfg->net;
  p->connect_timeout_ms = net.connect_timeout_ms > 0 ? net.connect_timeout_ms : LP_DEFAULT_CONNECT_TIMEOUT_MS;
  net.connect_timeout_ms = p->connect_timeout_ms;
  p->max_body = cfg->max_message_size ? cfg->max_message_size : SR_DEFAULT_MAX_MESSAGE_SIZE;
  if (sr_http_target_init(&p->target, cfg->url, &net) != 0) {
    free(p);
    return SIGNALR_ENOMEM;
  }
  sr_http_sender_init(&p->sender, loop, &p->target, cfg->binary,
                      cfg->max_send_queue ? cfg->max_send_queue : LP_DEFAULT_MAX_QUEUE,
                      SR_HTTP_TRANSPORT_POST_TIMEOUT_MS, p);
  p->sender.on_idle = on_sender_idle;
  p->sender.on_error = on_sender_error;
  p->sender.on_sent = on_sender_sent;
  p->close_timeout_ms = cfg->close_timeout_ms > 0 ? cfg->close_timeout_ms : 5000;
  int rc = start_poll(p);
  if (rc) {
    destroy(p);
    return rc;
  }
  *out = p;
  return 0;
}

int sr_lp_send(sr_lp *p, const uint8_t *data, size_t len) {
  if (!p || (!data && len)) return SIGNALR_EINVAL;
  if (!p->opened || p->closing || p->finished) return SIGNALR_ESTATE;
  return sr_http_sender_push(&p->sender, data, len);
}

size_t sr_lp_queued_bytes(const sr_lp *p) {
  if (!p) return 0;
  return p->finished ? p->unsent : sr_http_sender_pending(&p->sender);
}

void sr_lp_close(sr_lp *p) {
  if (!p || p->finished || p->closing) return;
  if (!p->opened) {
    finish(p, SIGNALR_ECANCELED, 0, "Long Polling connect canceled");
    return;
  }
  p->closing = 1;
  p->timer = sr_loop_timer_start(p->loop, sr_loop_now_ms() + p->close_timeout_ms, on_close_timeout, p);
  if (!p->timer) {
    finish(p, 0, 0, "closed by the client (out of memory: no DELETE sent)");
    return;
  }
  /* let the POSTs (the hub's Close message, typically) reach the server first */
  if (sr_http_sender_pending(&p->sender) == 0) start_delete(p);
}

void sr_lp_pause(sr_lp *p, int paused) {
  if (!p || p->finished) return;
  p->paused = paused != 0;
  if (p->paused || !p->poll_wanted || p->poll || p->closing) return;
  p->poll_wanted = 0;
  int rc = start_poll(p);
  if (rc) finish(p, rc, 0, "could not start a poll");
}

void sr_lp_free(sr_lp *p) {
  if (!p) return;
  if (p->depth) {
    stop_io(p);
    p->finished = 1; /* no callback any more */
    p->free_pending = 1;
    return;
  }
  destroy(p);
}

/* ------------------------------------------------------------------ the transport interface */

static int op_connect(sr_loop *loop, const sr_transport_config *cfg, const sr_transport_callbacks *cb, void *ud,
                      void **impl) {
  sr_lp *x = NULL;
  int rc = sr_lp_connect(loop, cfg, cb, ud, &x);
  *impl = x;
  return rc;
}

static int op_send(void *impl, const uint8_t *data, size_t len) { return sr_lp_send(impl, data, len); }
static size_t op_queued_bytes(const void *impl) { return sr_lp_queued_bytes(impl); }
static void op_close(void *impl) { sr_lp_close(impl); }
static void op_pause(void *impl, int paused) { sr_lp_pause(impl, paused); }
static void op_free(void *impl) { sr_lp_free(impl); }

const sr_transport_ops sr_lp_transport_ops = {op_connect, op_send, op_queued_bytes, op_close, op_pause, op_free};
