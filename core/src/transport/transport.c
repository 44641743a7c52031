/* The uniform transport interface. See transport.h.
 *
 * WebSockets keep their own rules (sr_ws never calls back from inside its calls). SSE and
 * Long Polling may finish inside their close call; this layer turns such an on_close into a
 * posted one, so the rule holds for every kind in one place. Posted rather than timed: a post
 * always runs, even when sr_loop_free follows at once, where a pending timer is discarded. */
#include "transport/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol/framing.h"
#include "signalr/signalr.h"
#include "transport/http.h"
#include "transport/longpolling.h"
#include "transport/sse.h"
#include "transport/ws.h"

#define TR_DEFAULT_MAX_QUEUE (16u << 20)

struct sr_transport {
  int kind;
  sr_loop *loop;
  sr_ws *ws;
  sr_sse *sse;
  sr_lp *lp;
  sr_transport_callbacks cb;
  void *ud;
  int binary;
  int in_call;      /* inside an sr_transport_* call: an on_close now must be deferred */
  int defer_posted; /* a deferred on_close is posted and has not run yet */
  int zombie;       /* freed while it was posted: the posted function frees the struct */
  sr_timer *defer_timer; /* fallback when posting fails (loop shutting down) */
  sr_transport_close_info info;
  char reason[256];
};

static void free_inner(sr_transport *t) {
  sr_ws_free(t->ws);
  sr_sse_free(t->sse);
  sr_lp_free(t->lp);
  t->ws = NULL;
  t->sse = NULL;
  t->lp = NULL;
}

/* ------------------------------------------------------------------ callbacks */

static void deliver_deferred(sr_transport *t) {
  if (t->cb.on_close) t->cb.on_close(t->ud, &t->info); /* may free t */
}

static void deferred_posted(void *arg) {
  sr_transport *t = arg;
  t->defer_posted = 0;
  if (t->zombie) {
    free(t);
    return;
  }
  deliver_deferred(t);
}

static void deferred_timer(void *arg) {
  sr_transport *t = arg;
  t->defer_timer = NULL;
  deliver_deferred(t);
}

static void tr_on_open(void *ud) {
  sr_transport *t = ud;
  if (t->cb.on_open) t->cb.on_open(t->ud);
}

static void tr_on_message(void *ud, const uint8_t *data, size_t len) {
  sr_transport *t = ud;
  if (t->cb.on_message) t->cb.on_message(t->ud, data, len);
}

static void tr_on_drain(void *ud) {
  sr_transport *t = ud;
  if (t->cb.on_drain) t->cb.on_drain(t->ud);
}

static void tr_on_close(void *ud, const sr_transport_close_info *info) {
  sr_transport *t = ud;
  if (!t->in_call) {
    if (t->cb.on_close) t->cb.on_close(t->ud, info); /* info lives in the inner transport */
    return;
  }
  t->info = *info;
  snprintf(t->reason, sizeof(t->reason), "%s", info->reason ? info->reason : "");
  t->info.reason = t->reason;
  if (sr_loop_post(t->loop, deferred_posted, t) == 0) {
    t->defer_posted = 1;
    return;
  }
  t->defer_timer = sr_loop_timer_start(t->loop, 0, deferred_timer, t);
  /* out of memory as well: a late on_close beats none, or an owner waiting forever */
  if (!t->defer_timer) deliver_deferred(t);
}

static void ws_on_close(void *ud, const sr_ws_close_info *wi) {
  sr_transport_close_info info;
  info.error = wi->error;
  info.http_status = wi->http_status;
  info.close_code = wi->close_code;
  info.reason = wi->reason;
  info.opened = wi->opened;
  tr_on_close(ud, &info);
}

/* ------------------------------------------------------------------ API */

static int readable(const char *path) { return !path || !*path || access(path, R_OK) == 0; }

int sr_transport_connect(sr_loop *loop, const sr_transport_config *cfg, const sr_transport_callbacks *cb, void *ud,
                         sr_transport **out) {
  if (out) *out = NULL;
  if (!loop || !cfg || !cfg->url || !cb || !out) return SIGNALR_EINVAL;
  if (cfg->kind != SR_TRANSPORT_WEBSOCKETS && cfg->kind != SR_TRANSPORT_SSE && cfg->kind != SR_TRANSPORT_LONG_POLLING)
    return SIGNALR_EUNSUPPORTED;
  /* the same answer for every kind (libcurl would only fail later, at the TLS handshake) */
  if (!readable(cfg->ca_file) || !readable(cfg->client_cert) || !readable(cfg->client_key)) return SIGNALR_EINVAL;
  sr_transport *t = calloc(1, sizeof(*t));
  if (!t) return SIGNALR_ENOMEM;
  t->kind = cfg->kind;
  t->loop = loop;
  t->cb = *cb;
  t->ud = ud;
  t->binary = cfg->binary != 0;

  /* one normalised config: defaults, and room for the server's batching */
  sr_transport_config c = *cfg;
  size_t max_msg = cfg->max_message_size ? cfg->max_message_size : SR_DEFAULT_MAX_MESSAGE_SIZE;
  c.max_message_size = max_msg > SIZE_MAX - SR_TRANSPORT_BATCH_SLACK ? SIZE_MAX : max_msg + SR_TRANSPORT_BATCH_SLACK;
  c.max_send_queue = cfg->max_send_queue ? cfg->max_send_queue : TR_DEFAULT_MAX_QUEUE;
  c.close_timeout_ms = cfg->close_timeout_ms > 0 ? cfg->close_timeout_ms : SR_HTTP_TRANSPORT_CLOSE_MS;

  int rc;
  t->in_call = 1;
  if (c.kind == SR_TRANSPORT_WEBSOCKETS) {
    sr_ws_config w;
    memset(&w, 0, sizeof(w));
    w.url = c.url;
    w.headers = c.headers;
    w.ca_file = c.ca_file;
    w.insecure = c.insecure;
    w.proxy = c.proxy;
    w.client_cert = c.client_cert;
    w.client_key = c.client_key;
    w.connect_timeout_ms = c.connect_timeout_ms;
    w.max_message_size = c.max_message_size;
    w.max_send_queue = c.max_send_queue;
    w.close_timeout_ms = c.close_timeout_ms;
    static const sr_ws_callbacks wcb = {tr_on_open, tr_on_message, ws_on_close, tr_on_drain};
    rc = sr_ws_connect(loop, &w, &wcb, t, &t->ws);
  } else {
    static const sr_transport_callbacks hcb = {tr_on_open, tr_on_message, tr_on_close, tr_on_drain};
    rc = c.kind == SR_TRANSPORT_SSE ? sr_sse_connect(loop, &c, &hcb, t, &t->sse)
                                    : sr_lp_connect(loop, &c, &hcb, t, &t->lp);
  }
  t->in_call = 0;
  if (rc) {
    free(t);
    return rc;
  }
  *out = t;
  return 0;
}

int sr_transport_send(sr_transport *t, const uint8_t *data, size_t len) {
  if (!t || (!data && len)) return SIGNALR_EINVAL;
  int rc = SIGNALR_ESTATE;
  t->in_call++;
  if (t->ws) rc = sr_ws_send(t->ws, data, len, t->binary);
  else if (t->sse) rc = sr_sse_send(t->sse, data, len);
  else if (t->lp) rc = sr_lp_send(t->lp, data, len);
  t->in_call--;
  return rc;
}

size_t sr_transport_queued_bytes(const sr_transport *t) {
  if (!t) return 0;
  if (t->ws) return sr_ws_queued_bytes(t->ws);
  if (t->sse) return sr_sse_queued_bytes(t->sse);
  return sr_lp_queued_bytes(t->lp);
}

void sr_transport_close(sr_transport *t) {
  if (!t) return;
  t->in_call++;
  if (t->ws) sr_ws_close(t->ws, 1000);
  else if (t->sse) sr_sse_close(t->sse);
  else if (t->lp) sr_lp_close(t->lp);
  t->in_call--;
}

void sr_transport_pause(sr_transport *t, int paused) {
  if (!t) return;
  t->in_call++;
  if (t->ws) sr_ws_pause(t->ws, paused);
  else if (t->sse) sr_sse_pause(t->sse, paused);
  else if (t->lp) sr_lp_pause(t->lp, paused);
  t->in_call--;
}

void sr_transport_free(sr_transport *t) {
  if (!t) return;
  free_inner(t);
  if (t->defer_timer) sr_loop_timer_cancel(t->loop, t->defer_timer);
  t->defer_timer = NULL;
  if (t->defer_posted) {
    t->zombie = 1; /* a post cannot be withdrawn: it frees the struct when it runs */
    return;
  }
  free(t);
}

int sr_transport_kind(const sr_transport *t) { return t ? t->kind : 0; }
