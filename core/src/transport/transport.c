/* The transport interface: dispatch through each kind's sr_transport_ops. See transport.h.
 *
 * The contract's rules that are not a kind's business live here, once: the config is checked
 * and normalised before any kind sees it; an on_close a kind makes inside one of its own calls
 * (SSE and Long Polling may finish inside close or pause) is turned into a posted one; nothing
 * is passed on after the first on_close. Posted rather than timed: a post always runs, even
 * when sr_loop_free follows at once, where a pending timer is discarded. */
#include "transport/transport.h"

#include <stdatomic.h>
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
  const sr_transport_ops *ops;
  void *impl;       /* the kind's object; NULL once freed */
  int kind;
  sr_loop *loop;
  sr_transport_callbacks cb;
  void *ud;
  int in_call;      /* inside an ops call: an on_close now must be deferred */
  int closed;       /* on_close delivered or on its way: later callbacks are dropped */
  int defer_posted; /* a deferred on_close is posted and has not run yet */
  int zombie;       /* freed while it was posted: the posted function frees the struct */
  sr_timer *defer_timer; /* fallback when posting fails (loop shutting down) */
  sr_transport_close_info info;
  char reason[256];
};

/* ------------------------------------------------------------------ kinds */

/* Index of a kind in the tables below, or -1. */
static int kind_index(int kind) {
  switch (kind) {
    case SR_TRANSPORT_WEBSOCKETS: return 0;
    case SR_TRANSPORT_SSE: return 1;
    case SR_TRANSPORT_LONG_POLLING: return 2;
    default: return -1;
  }
}

static const sr_transport_ops *const builtin[3] = {&sr_ws_transport_ops, &sr_sse_transport_ops,
                                                   &sr_lp_transport_ops};
static _Atomic(const sr_transport_ops *) overrides[3];

int sr_transport_set_override(int kind, const sr_transport_ops *ops) {
  int i = kind_index(kind);
  if (i < 0) return SIGNALR_EINVAL;
  atomic_store(&overrides[i], ops);
  return 0;
}

static const sr_transport_ops *ops_for(int kind) {
  int i = kind_index(kind);
  if (i < 0) return NULL;
  const sr_transport_ops *o = atomic_load(&overrides[i]);
  return o ? o : builtin[i];
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
  if (!t->closed && t->cb.on_open) t->cb.on_open(t->ud);
}

static void tr_on_message(void *ud, const uint8_t *data, size_t len) {
  sr_transport *t = ud;
  if (!t->closed && t->cb.on_message) t->cb.on_message(t->ud, data, len);
}

static void tr_on_drain(void *ud) {
  sr_transport *t = ud;
  if (!t->closed && t->cb.on_drain) t->cb.on_drain(t->ud);
}

static void tr_on_close(void *ud, const sr_transport_close_info *info) {
  sr_transport *t = ud;
  if (t->closed) return;
  t->closed = 1;
  if (!t->in_call) {
    if (t->cb.on_close) t->cb.on_close(t->ud, info); /* info lives in the kind's object */
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

static const sr_transport_callbacks layer_callbacks = {tr_on_open, tr_on_message, tr_on_close, tr_on_drain};

/* ------------------------------------------------------------------ API */

static int readable(const char *path) { return !path || !*path || access(path, R_OK) == 0; }

int sr_transport_connect(sr_loop *loop, const sr_transport_config *cfg, const sr_transport_callbacks *cb, void *ud,
                         sr_transport **out) {
  if (out) *out = NULL;
  if (!loop || !cfg || !cfg->url || !cb || !out) return SIGNALR_EINVAL;
  const sr_transport_ops *ops = ops_for(cfg->kind);
  if (!ops) return SIGNALR_EUNSUPPORTED;
  /* the same answer for every kind (libcurl would only fail later, at the TLS handshake) */
  if (!readable(cfg->net.ca_file) || !readable(cfg->net.client_cert) || !readable(cfg->net.client_key)) return SIGNALR_EINVAL;
  sr_transport *t = calloc(1, sizeof(*t));
  if (!t) return SIGNALR_ENOMEM;
  t->ops = ops;
  t->kind = cfg->kind;
  t->loop = loop;
  t->cb = *cb;
  t->ud = ud;

  /* one normalised config: defaults, and room for the server's batching */
  sr_transport_config c = *cfg;
  size_t max_msg = cfg->max_message_size ? cfg->max_message_size : SR_DEFAULT_MAX_MESSAGE_SIZE;
  c.max_message_size = max_msg > SIZE_MAX - SR_TRANSPORT_BATCH_SLACK ? SIZE_MAX : max_msg + SR_TRANSPORT_BATCH_SLACK;
  c.max_send_queue = cfg->max_send_queue ? cfg->max_send_queue : TR_DEFAULT_MAX_QUEUE;
  c.close_timeout_ms = cfg->close_timeout_ms > 0 ? cfg->close_timeout_ms : SR_HTTP_TRANSPORT_CLOSE_MS;

  t->in_call = 1;
  int rc = ops->connect(loop, &c, &layer_callbacks, t, &t->impl);
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
  if (!t->impl || t->closed) return SIGNALR_ESTATE;
  t->in_call++;
  int rc = t->ops->send(t->impl, data, len);
  t->in_call--;
  return rc;
}

size_t sr_transport_queued_bytes(const sr_transport *t) {
  return t && t->impl ? t->ops->queued_bytes(t->impl) : 0;
}

void sr_transport_close(sr_transport *t) {
  if (!t || !t->impl || t->closed) return;
  t->in_call++;
  t->ops->close(t->impl);
  t->in_call--;
}

void sr_transport_pause(sr_transport *t, int paused) {
  if (!t || !t->impl || t->closed) return;
  t->in_call++;
  t->ops->pause(t->impl, paused != 0);
  t->in_call--;
}

void sr_transport_free(sr_transport *t) {
  if (!t) return;
  void *impl = t->impl;
  t->impl = NULL;
  if (impl) t->ops->free(impl);
  if (t->defer_timer) sr_loop_timer_cancel(t->loop, t->defer_timer);
  t->defer_timer = NULL;
  if (t->defer_posted) {
    t->zombie = 1; /* a post cannot be withdrawn: it frees the struct when it runs */
    return;
  }
  free(t);
}

int sr_transport_kind(const sr_transport *t) { return t ? t->kind : 0; }
