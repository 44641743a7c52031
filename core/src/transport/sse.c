/* Server-Sent Events transport. See sse.h. */
#include "transport/sse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocol/sse_parser.h"
#include "signalr/signalr.h"
#include "transport/http.h"

#define SSE_DEFAULT_CONNECT_TIMEOUT_MS 30000
#define SSE_DEFAULT_MAX_QUEUE (16u << 20)

struct sr_sse {
  sr_loop *loop;
  sr_transport_callbacks cb;
  void *ud;
  sr_http_target target;
  sr_http_sender sender;
  sr_http *get;
  sr_timer *timer; /* the connect timeout until open; the flush bound while closing */
  int32_t connect_timeout_ms;
  int32_t close_timeout_ms;
  int paused;       /* receive flow control */
  sr_sse_parser parser;
  int opened, closing, finished;
  size_t unsent;    /* once finished: bytes queued and never accepted by the server */
  int depth;        /* how many of our frames are calling out to the owner */
  int free_pending; /* sr_sse_free came from inside one of them */
  int status;       /* of a GET answered with something else than 200 */
  char body[160];   /* the start of that answer's body, for the close reason */
  size_t body_len;
  sr_transport_close_info info;
  char reason[256];
};

/* ------------------------------------------------------------------ lifetime */

static void stop_io(sr_sse *s) {
  if (s->timer) sr_loop_timer_cancel(s->loop, s->timer);
  s->timer = NULL;
  sr_http_cancel(s->get); /* inside the GET's own callbacks, http defers it */
  s->get = NULL;
  sr_http_sender_cancel(&s->sender);
}

static void destroy(sr_sse *s) {
  stop_io(s);
  sr_http_sender_free(&s->sender);
  sr_http_target_free(&s->target);
  sr_sse_parser_free(&s->parser);
  free(s);
}

/* Every call into the owner is bracketed by depth++ and leave(): the owner may free us inside,
 * and then the outermost frame does it once the stack has unwound. 1: s is gone (or going):
 * return at once without touching it. */
static int leave(sr_sse *s) {
  s->depth--;
  if (!s->free_pending) return 0;
  if (s->depth == 0) destroy(s);
  return 1;
}

static int finish(sr_sse *s, int error, int status, const char *fmt, ...) {
  if (s->finished) return 0;
  s->finished = 1;
  s->unsent = sr_http_sender_pending(&s->sender); /* stop_io drops them: kept for on_close */
  stop_io(s);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
  va_end(ap);
  s->info.error = error;
  s->info.http_status = status;
  s->info.close_code = 0;
  s->info.reason = s->reason;
  s->info.opened = s->opened;
  s->depth++;
  if (s->cb.on_close) s->cb.on_close(s->ud, &s->info);
  return leave(s);
}

/* ------------------------------------------------------------------ the event stream */

/* The GET was answered with another status than 200: the error, with the start of the body. */
static void fail_status(sr_sse *s) {
  int err = sr_http_status_error(s->status);
  s->body[s->body_len] = 0;
  finish(s, err ? err : SIGNALR_EHTTP, s->status, "SSE GET answered HTTP %d%s%s", s->status, s->body_len ? ": " : "",
         s->body);
}

static void on_connect_timeout(void *arg) {
  sr_sse *s = arg;
  s->timer = NULL;
  if (s->status) /* an error answer whose body does not end */
    fail_status(s);
  else
    finish(s, SIGNALR_ETIMEOUT, 0, "SSE connect timed out after %d ms", (int)s->connect_timeout_ms);
}

static void on_get_response(void *ud, const sr_http_response *head) {
  sr_sse *s = ud;
  if (s->finished) return;
  if (head->status != 200) {
    s->status = head->status; /* reported when the (short) error body is complete */
    return;
  }
  /* a proxy or a wrong URL may answer 200 with a page instead of a stream */
  if (head->content_type && strncasecmp(head->content_type, "text/event-stream", 17) != 0) {
    finish(s, SIGNALR_ETRANSPORT, 200, "SSE GET answered with Content-Type %.100s, not text/event-stream",
           head->content_type);
    return;
  }
  s->opened = 1;
  if (s->timer) sr_loop_timer_cancel(s->loop, s->timer);
  s->timer = NULL;
  s->depth++;
  if (s->cb.on_open) s->cb.on_open(s->ud);
  leave(s);
}

static void on_get_data(void *ud, const uint8_t *data, size_t len) {
  sr_sse *s = ud;
  if (s->finished) return;
  if (!s->opened) { /* the body of an error answer */
    size_t room = sizeof(s->body) - 1 - s->body_len;
    size_t n = len < room ? len : room;
    memcpy(s->body + s->body_len, data, n);
    s->body_len += n;
    return;
  }
  sr_sse_parser_feed(&s->parser, data, len);
  for (;;) {
    const uint8_t *ev;
    size_t n;
    int rc = sr_sse_parser_next(&s->parser, &ev, &n);
    if (rc == 0) return;
    if (rc < 0) {
      if (rc == SIGNALR_ETOOBIG)
        finish(s, rc, 0, "an SSE event exceeds the maximum of %zu bytes", s->parser.max_size);
      else
        finish(s, rc, 0, "out of memory reading the event stream");
      return;
    }
    if (n == 0) continue; /* an event with an empty data line carries no hub message */
    s->depth++;
    if (s->cb.on_message) s->cb.on_message(s->ud, ev, n);
    if (leave(s) || s->finished) return;
  }
}

static void on_get_done(void *ud, const sr_http_response *r) {
  sr_sse *s = ud;
  s->get = NULL;
  if (s->finished) return;
  if (s->status) {
    fail_status(s);
  } else if (r->error_code) {
    finish(s, r->error_code, 0, "%s: %s", s->opened ? "the event stream failed" : "SSE connect failed",
           r->error_text);
  } else if (!s->opened) {
    finish(s, SIGNALR_ETRANSPORT, r->status, "SSE GET ended without a response");
  } else {
    finish(s, 0, 0, "the server ended the event stream%s",
           sr_sse_parser_partial(&s->parser) ? " in the middle of an event" : "");
  }
}

/* ------------------------------------------------------------------ sends */

static void on_sender_idle(void *ud) {
  sr_sse *s = ud;
  if (s->closing) finish(s, 0, 0, "closed by the client");
}

static void on_sender_sent(void *ud) {
  sr_sse *s = ud;
  if (s->finished || !s->cb.on_drain) return;
  s->depth++;
  s->cb.on_drain(s->ud);
  leave(s);
}

static void on_sender_error(void *ud, int code, int status, const char *text) {
  finish(ud, code, status, "%s", text);
}

static void on_close_timeout(void *arg) {
  sr_sse *s = arg;
  s->timer = NULL;
  finish(s, 0, 0, "closed by the client; %zu bytes not accepted by the server within %d ms were dropped",
         sr_http_sender_pending(&s->sender), s->close_timeout_ms);
}

/* ------------------------------------------------------------------ API */

int sr_sse_connect(sr_loop *loop, const sr_transport_config *cfg, const sr_transport_callbacks *cb, void *ud,
                   sr_sse **out) {
  if (out) *out = NULL;
  if (!loop || !cfg || !cfg->url || !cb || !out) return SIGNALR_EINVAL;
  if (cfg->binary) return SIGNALR_EUNSUPPORTED;
  if (strncasecmp(cfg->url, "http://", 7) != 0 && strncasecmp(cfg->url, "https://", 8) != 0) return SIGNALR_EINVAL;
  sr_sse *s = calloc(1, sizeof(*s));
  if (!s) return SIGNALR_ENOMEM;
  s->loop = loop;
  s->cb = *cb;
  s->ud = ud;
  sr_net_options net = cfg->net;
  s->connect_timeout_ms = net.connect_timeout_ms > 0 ? net.connect_timeout_ms : SSE_DEFAULT_CONNECT_TIMEOUT_MS;
  net.connect_timeout_ms = s->connect_timeout_ms;
  if (sr_http_target_init(&s->target, cfg->url, &net) != 0) {
    free(s);
    return SIGNALR_ENOMEM;
  }
  sr_sse_parser_init(&s->parser, cfg->max_message_size);
  sr_http_sender_init(&s->sender, loop, &s->target, 0, cfg->max_send_queue ? cfg->max_send_queue : SSE_DEFAULT_MAX_QUEUE,
                      SR_HTTP_TRANSPORT_POST_TIMEOUT_MS, s);
  s->sender.on_idle = on_sender_idle;
  s->sender.on_error = on_sender_error;
  s->sender.on_sent = on_sender_sent;
  s->close_timeout_ms = cfg->close_timeout_ms > 0 ? cfg->close_timeout_ms : 5000;

  sr_http_request_cfg req;
  memset(&req, 0, sizeof(req));
  sr_http_target_apply(&s->target, &req, "Accept: text/event-stream");
  req.method = "GET";
  req.on_response = on_get_response;
  req.on_data = on_get_data;
  /* no request timeout: the stream lasts as long as the connection */
  int rc = sr_http_start(loop, &req, on_get_done, s, &s->get);
  if (rc == 0) {
    s->timer = sr_loop_timer_start(loop, sr_loop_now_ms() + s->connect_timeout_ms, on_connect_timeout, s);
    if (!s->timer) rc = SIGNALR_ENOMEM;
  }
  if (rc) {
    destroy(s);
    return rc;
  }
  *out = s;
  return 0;
}

int sr_sse_send(sr_sse *s, const uint8_t *data, size_t len) {
  if (!s || (!data && len)) return SIGNALR_EINVAL;
  if (!s->opened || s->closing || s->finished) return SIGNALR_ESTATE;
  return sr_http_sender_push(&s->sender, data, len);
}

size_t sr_sse_queued_bytes(const sr_sse *s) {
  if (!s) return 0;
  return s->finished ? s->unsent : sr_http_sender_pending(&s->sender);
}

void sr_sse_close(sr_sse *s) {
  if (!s || s->finished || s->closing) return;
  if (!s->opened) {
    finish(s, SIGNALR_ECANCELED, 0, "SSE connect canceled");
    return;
  }
  s->closing = 1;
  if (sr_http_sender_pending(&s->sender) == 0) {
    finish(s, 0, 0, "closed by the client");
    return;
  }
  /* let the POSTs (the hub's Close message, typically) reach the server first */
  s->timer = sr_loop_timer_start(s->loop, sr_loop_now_ms() + s->close_timeout_ms, on_close_timeout, s);
  if (!s->timer) on_close_timeout(s);
}

void sr_sse_pause(sr_sse *s, int paused) {
  if (!s || s->finished || !s->get) return;
  s->paused = paused != 0;
  sr_http_pause(s->get, s->paused);
}

void sr_sse_free(sr_sse *s) {
  if (!s) return;
  if (s->depth) {
    stop_io(s);
    s->finished = 1; /* no callback any more */
    s->free_pending = 1;
    return;
  }
  destroy(s);
}

/* ------------------------------------------------------------------ the transport interface */

static int op_connect(sr_loop *loop, const sr_transport_config *cfg, const sr_transport_callbacks *cb, void *ud,
                      void **impl) {
  sr_sse *x = NULL;
  int rc = sr_sse_connect(loop, cfg, cb, ud, &x);
  *impl = x;
  return rc;
}

static int op_send(void *impl, const uint8_t *data, size_t len) { return sr_sse_send(impl, data, len); }
static size_t op_queued_bytes(const void *impl) { return sr_sse_queued_bytes(impl); }
static void op_close(void *impl) { sr_sse_close(impl); }
static void op_pause(void *impl, int paused) { sr_sse_pause(impl, paused); }
static void op_free(void *impl) { sr_sse_free(impl); }

const sr_transport_ops sr_sse_transport_ops = {op_connect, op_send, op_queued_bytes, op_close, op_pause, op_free};
