/* WebSocket client over libwebsockets. See ws.h. */
#include "transport/ws.h"
#include "transport/ws_frame.h"

#include <ctype.h>
#include <netdb.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h> /* lws 4.3's connect error text carries errno */
#include <unistd.h>

#include "signalr/signalr.h"
#include "transport/http.h"
#include "transport/tls_error.h"
#include "engine/error_info.h"
#include "util/buf.h"

#define WS_DEFAULT_CONNECT_TIMEOUT_MS 30000
#define WS_DEFAULT_MAX_MESSAGE (1u << 20)
#define WS_DEFAULT_MAX_QUEUE (16u << 20)
/* What an idle connection keeps: an emptied send queue is released (allocating it again for
 * the next message costs far less than a connection's share of memory when thousands idle), and
 * so is a reassembly buffer larger than WS_RX_KEEP_MAX once its message was delivered. */
#define WS_RX_KEEP_MAX 8192u

/* Send queue record: header, LWS_PRE bytes lws may use for framing, payload, pad to 8. */
typedef struct rec_hdr {
  uint32_t len;
  uint32_t binary;
} rec_hdr;
#define REC_PAYLOAD_OFF (sizeof(rec_hdr) + LWS_PRE)
#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

/* A vhost for one proxy / client certificate configuration (see ws.h). */
typedef struct ws_vhost {
  int tls;
  char *ca_file, *proxy, *cert, *key; /* proxy as lws wants it: "[user:pw@]host:port" */
  struct lws_vhost *vh;
  struct ws_vhost *next;
} ws_vhost;

typedef struct ws_registry {
  sr_ws *head; /* live connections of the loop (for shutdown) */
  ws_vhost *vhosts;
} ws_registry;

struct sr_ws {
  sr_lws_handler handler; /* first: the wsi's opaque user data points here */
  sr_loop *loop;
  struct lws *wsi;
  sr_ws_callbacks cb;
  void *ud;
  sr_ws *prev, *next; /* registry */

  char *host;       /* address to connect to */
  char *host_hdr;   /* Host: header */
  char *path;       /* path + query */
  char **headers;   /* NULL-terminated copies */
  int port;
  int tls;
  int insecure;
  size_t max_message;
  size_t max_queue;
  int32_t close_timeout_ms;
  int paused;       /* receive flow control asked by the owner */

  /* state */
  int in_connect; /* inside sr_ws_connect: callbacks are deferred */
  int opened;
  int closing;      /* sr_ws_close called after open */
  int close_code;   /* ours when closing */
  int peer_closed;  /* the peer started the close handshake */
  int peer_code;
  int finished;     /* on_close delivered or scheduled */
  /* TLS: what the certificate check saw, to say why a handshake failed (lws's own text for
   * it is "connect SSL err 1: error:00000001:lib(0)::reason(1)"). */
  int tls_cert_seen, tls_cert_rejected;
  int have_ca_file;
  int32_t connect_timeout_ms;
  int delivered;
  sr_timer *connect_timer; /* until open; then the close bound while closing */
  sr_timer *defer_timer;

  sr_buf rx; /* reassembly buffer, reused */

  sr_ws_mask_pool masks;
  sr_turn_task flush; /* writes the queue at the end of the loop turn (sr_loop_end_of_turn) */
  int in_flush;       /* inside flush_now: what on_drain queues waits for POLLOUT */

  uint8_t *q; /* send queue */
  size_t qhead, qtail, qcap, qbytes;
  size_t qlast; /* offset of the last record: new messages join it (one frame) */

  sr_ws_close_info info;
  char reason[160];
};

/* ------------------------------------------------------------------ helpers */

static ws_registry *registry(sr_loop *loop) {
  void **slot = sr_loop_slot(loop, SR_LOOP_SLOT_WS);
  return slot ? (ws_registry *)*slot : NULL;
}

static void registry_shutdown(void *arg);

static ws_registry *registry_get(sr_loop *loop) {
  void **slot = sr_loop_slot(loop, SR_LOOP_SLOT_WS);
  if (!slot) return NULL;
  ws_registry *r = *slot;
  if (!r) {
    r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    if (sr_loop_at_exit(loop, registry_shutdown, loop) != 0) {
      free(r);
      return NULL;
    }
    *slot = r;
  }
  return r;
}

static int registry_add(sr_ws *ws) {
  ws_registry *r = registry_get(ws->loop);
  if (!r) return SIGNALR_ENOMEM;
  ws->next = r->head;
  if (r->head) r->head->prev = ws;
  r->head = ws;
  return 0;
}

static void registry_remove(sr_ws *ws) {
  ws_registry *r = registry(ws->loop);
  if (!r) return;
  if (ws->prev)
    ws->prev->next = ws->next;
  else if (r->head == ws)
    r->head = ws->next;
  if (ws->next) ws->next->prev = ws->prev;
  ws->prev = ws->next = NULL;
}

/* Detaches the wsi from us; kill=1 also asks lws to close it on its next turn. */
static void ws_detach(sr_ws *ws, int kill) {
  if (!ws->wsi) return;
  lws_set_opaque_user_data(ws->wsi, NULL);
  if (kill) {
    lws_set_timeout(ws->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    sr_loop_lws_changed(ws->loop);
  }
  ws->wsi = NULL;
}

static void ws_deliver(sr_ws *ws) {
  if (ws->delivered) return;
  ws->delivered = 1;
  if (ws->cb.on_close) ws->cb.on_close(ws->ud, &ws->info); /* may free ws */
}

static void ws_deferred(void *arg) {
  sr_ws *ws = arg;
  ws->defer_timer = NULL;
  ws_deliver(ws);
}

/* Records the outcome and delivers on_close (deferred to the next loop turn when we are inside
 * an sr_ws_* call). The caller must not touch ws afterwards unless defer was forced. */
static void ws_finish(sr_ws *ws, int error, int http_status, int close_code, const char *reason, int defer) {
  if (ws->finished) return;
  ws->finished = 1;
  if (ws->connect_timer) {
    sr_loop_timer_cancel(ws->loop, ws->connect_timer);
    ws->connect_timer = NULL;
  }
  snprintf(ws->reason, sizeof(ws->reason), "%s", reason ? reason : "");
  ws->info.error = error;
  ws->info.http_status = http_status;
  ws->info.close_code = close_code;
  ws->info.reason = ws->reason;
  ws->info.opened = ws->opened;
  registry_remove(ws);
  if (defer || ws->in_connect) {
    ws->defer_timer = sr_loop_timer_start(ws->loop, 0, ws_deferred, ws);
    if (ws->defer_timer) return;
  }
  ws_deliver(ws);
}

static void registry_shutdown(void *arg) {
  sr_loop *loop = arg;
  void **slot = sr_loop_slot(loop, SR_LOOP_SLOT_WS);
  ws_registry *r = *slot;
  if (!r) return;
  while (r->head) {
    sr_ws *ws = r->head;
    ws_detach(ws, 1);
    ws_finish(ws, SIGNALR_ECANCELED, 0, ws->opened ? 1006 : 0, "the I/O loop is shutting down", 0);
  }
  while (r->vhosts) { /* the lws vhosts themselves go with the lws context */
    ws_vhost *v = r->vhosts;
    r->vhosts = v->next;
    free(v->ca_file);
    free(v->proxy);
    free(v->cert);
    free(v->key);
    free(v);
  }
  free(r);
  *slot = NULL;
}

/* Classifies a libwebsockets connection-error text. */
static int classify_error_text(const char *t) {
  if (!t) return SIGNALR_ETRANSPORT;
  char low[256];
  size_t i = 0;
  for (; t[i] && i < sizeof(low) - 1; i++) low[i] = (char)tolower((unsigned char)t[i]);
  low[i] = 0;
  /* lws 4.1 reports every failed TCP connect as "Unable to connect" after closing the socket,
   * so errno is lost. Its own connect timeout is set far beyond ours (loop.c), so this text means
   * the attempt was actively rejected: RST (refused) or ICMP unreachable. */
  if (strstr(low, "refused") || strstr(low, "unable to connect")) return SIGNALR_ECONNREFUSED;
  /* lws 4.3 names the connect's errno instead: "conn fail: 111". */
  const char *cf = strstr(low, "conn fail: ");
  if (cf) {
    int en = atoi(cf + strlen("conn fail: "));
    if (en == ECONNREFUSED || en == EHOSTUNREACH || en == ENETUNREACH) return SIGNALR_ECONNREFUSED;
    if (en == ETIMEDOUT) return SIGNALR_ETIMEOUT;
  }
  if (strstr(low, "tls") || strstr(low, "ssl") || strstr(low, "cert") || strstr(low, "x509"))
    return SIGNALR_ETLS;
  if (strstr(low, "timed out") || strstr(low, "timeout")) return SIGNALR_ETIMEOUT;
  return SIGNALR_ETRANSPORT;
}

/* ------------------------------------------------------------------ send queue */

/* Grows the queue so that `need` more bytes fit after qtail (compacting first). */
static int q_room(sr_ws *ws, size_t need) {
  if (ws->qcap - ws->qtail >= need) return 0;
  if (ws->qhead > 0) {
    memmove(ws->q, ws->q + ws->qhead, ws->qtail - ws->qhead);
    ws->qtail -= ws->qhead;
    ws->qlast -= ws->qhead;
    ws->qhead = 0;
  }
  if (ws->qcap - ws->qtail >= need) return 0;
  size_t cap = ws->qcap ? ws->qcap : 4096;
  while (cap - ws->qtail < need) cap *= 2;
  uint8_t *q = realloc(ws->q, cap);
  if (!q) return SIGNALR_ENOMEM;
  ws->q = q;
  ws->qcap = cap;
  return 0;
}

static int q_push(sr_ws *ws, const uint8_t *data, size_t len, int binary) {
  if (len > UINT32_MAX) return SIGNALR_ETOOBIG;
  if (ws->qbytes + len > ws->max_queue) return SIGNALR_EAGAIN;
  if (ws->qhead < ws->qtail) {
    /* A record not written yet: the message joins its frame when the kinds match and the
     * frame stays small enough to be written in one go. */
    rec_hdr last;
    memcpy(&last, ws->q + ws->qlast, sizeof(last));
    if (last.binary == (uint32_t)(binary != 0) && last.len + len <= SR_WS_COALESCE_MAX) {
      size_t old = ALIGN8(REC_PAYLOAD_OFF + last.len), grown = ALIGN8(REC_PAYLOAD_OFF + last.len + len);
      if (q_room(ws, grown - old)) return SIGNALR_ENOMEM;
      memcpy(ws->q + ws->qlast + REC_PAYLOAD_OFF + last.len, data, len);
      last.len += (uint32_t)len;
      memcpy(ws->q + ws->qlast, &last, sizeof(last));
      ws->qtail = ws->qlast + grown;
      ws->qbytes += len;
      return 0;
    }
  }
  size_t rec = ALIGN8(REC_PAYLOAD_OFF + len);
  if (q_room(ws, rec)) return SIGNALR_ENOMEM;
  rec_hdr h = {(uint32_t)len, (uint32_t)(binary != 0)};
  memcpy(ws->q + ws->qtail, &h, sizeof(h));
  if (len) memcpy(ws->q + ws->qtail + REC_PAYLOAD_OFF, data, len);
  ws->qlast = ws->qtail;
  ws->qtail += rec;
  ws->qbytes += len;
  return 0;
}

size_t sr_ws_queued_bytes(const sr_ws *ws) { return ws ? ws->qbytes : 0; }

/* Writes one queued record as one frame. -1: the write failed. The frame is built here (see
 * ws_frame.h) and handed to lws as raw bytes: lws keeps what the socket did not take and
 * writes it before anything else, its own control frames included. */
static int q_write_one(sr_ws *ws, struct lws *wsi) {
  rec_hdr h;
  memcpy(&h, ws->q + ws->qhead, sizeof(h));
  uint8_t *payload = ws->q + ws->qhead + REC_PAYLOAD_OFF;
  uint8_t key[4];
  int n = -1;
  size_t hl = sr_ws_frame_header_size(h.len);
  if (sr_ws_mask_next(&ws->masks, key) == 0) {
    sr_ws_frame_build(payload - hl, h.binary ? SR_WS_OP_BINARY : SR_WS_OP_TEXT, payload, h.len, key);
    n = lws_write(wsi, payload - hl, hl + h.len, LWS_WRITE_RAW);
  }
  /* lws buffers whatever the socket did not take: the record is consumed either way */
  ws->qhead += ALIGN8(REC_PAYLOAD_OFF + h.len);
  ws->qbytes -= h.len;
  if (ws->qhead == ws->qtail) {
    ws->qhead = ws->qtail = ws->qlast = 0;
    free(ws->q);
    ws->q = NULL;
    ws->qcap = 0;
  }
  return n < (int)(hl + h.len) ? -1 : 0;
}

/* End of a loop turn: the queue goes out now when the socket took everything so far (what
 * it does not take, lws keeps and writes on POLLOUT), without a poll() round for POLLOUT. */
static void flush_now(void *arg) {
  sr_ws *ws = arg;
  struct lws *wsi = ws->wsi;
  if (!wsi || ws->finished || ws->qhead == ws->qtail) return;
  if (lws_partial_buffered(wsi)) {
    sr_loop_want_writable(ws->loop, wsi);
    return;
  }
  if (q_write_one(ws, wsi) != 0) {
    ws_detach(ws, 1);
    ws_finish(ws, SIGNALR_ETRANSPORT, 0, 1006, "WebSocket write failed", 1);
    return;
  }
  ws->in_flush = 1;
  if (ws->cb.on_drain) ws->cb.on_drain(ws->ud);
  ws->in_flush = 0;
  if (ws->wsi && ws->qhead < ws->qtail) sr_loop_want_writable(ws->loop, ws->wsi);
}

/* ------------------------------------------------------------------ lws callback */

static int append_headers(sr_ws *ws, struct lws *wsi, unsigned char **p, unsigned char *end) {
  int have_ua = 0;
  char name[256];
  for (char **h = ws->headers; h && *h; h++) {
    const char *colon = strchr(*h, ':');
    if (!colon || colon == *h || (size_t)(colon - *h) >= sizeof(name) - 1) continue;
    size_t nlen = (size_t)(colon - *h);
    memcpy(name, *h, nlen);
    name[nlen] = ':';
    name[nlen + 1] = 0;
    if (nlen == 10 && strncasecmp(*h, "user-agent", 10) == 0) have_ua = 1;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)v, (int)strlen(v), p,
                                    end))
      return -1;
  }
  if (!have_ua) {
    const char *ua = sr_user_agent();
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"User-Agent:", (const unsigned char *)ua,
                                    (int)strlen(ua), p, end))
      return -1;
  }
  return 0;
}

static int ws_lws_cb(sr_lws_handler *self, struct lws *wsi, int reason, void *in, size_t len) {
  sr_ws *ws = (sr_ws *)self;
  switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      unsigned char **p = (unsigned char **)in;
      if (append_headers(ws, wsi, p, *p + len)) {
        ws_detach(ws, 0);
        ws_finish(ws, SIGNALR_ETOOBIG, 0, 0, "the request headers do not fit the handshake buffer", 0);
        return -1;
      }
      return 0;
    }

    case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
      /* len: OpenSSL's preverify_ok for one certificate of the chain. 0 leaves the verdict as is. */
      ws->tls_cert_seen = 1;
      if (!len) ws->tls_cert_rejected = 1;
      return 0;

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      ws->opened = 1;
      if (ws->connect_timer) {
        sr_loop_timer_cancel(ws->loop, ws->connect_timer);
        ws->connect_timer = NULL;
      }
      if (ws->cb.on_open) ws->cb.on_open(ws->ud); /* may close or free ws */
      return 0;

    case LWS_CALLBACK_CLIENT_RECEIVE: {
      int fin = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
      if (ws->rx.len == 0 && fin) {
        if (len > ws->max_message) goto too_big;
        if (ws->cb.on_message) ws->cb.on_message(ws->ud, (const uint8_t *)in, len);
        return 0;
      }
      if (ws->rx.len + len > ws->max_message) goto too_big;
      if (sr_buf_append(&ws->rx, in, len) != 0) {
        /* detached and killed, not "return -1": see too_big */
        ws->rx.len = 0;
        lws_close_reason(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, NULL, 0);
        ws_detach(ws, 1);
        ws_finish(ws, SIGNALR_ENOMEM, 0, 1011, "out of memory reassembling a message", 0);
        return 0;
      }
      if (fin) {
        /* the buffer stays owned by ws: reset before the callback, which may free ws */
        size_t n = ws->rx.len;
        ws->rx.len = 0;
        if (ws->rx.cap > WS_RX_KEEP_MAX) { /* a large message's buffer goes when it is read */
          uint8_t *data = ws->rx.data;
          ws->rx.data = NULL;
          ws->rx.cap = 0;
          if (ws->cb.on_message) ws->cb.on_message(ws->ud, data, n);
          free(data);
          return 0;
        }
        if (ws->cb.on_message) ws->cb.on_message(ws->ud, ws->rx.data, n);
      }
      return 0;
    too_big:
      /* Never "return -1" from a receive: lws 4.1.6's client frame parser then returns before
       * it resets its payload index (client-parser-ws.c, "if user code wants to close"), goes
       * on parsing the rest of the read, and its spill test is "index == rx_buffer_size": once
       * past it, every further byte is written beyond the buffer (the one-byte overrun valgrind
       * showed at the end of an rx_buffer_size + LWS_PRE + 4 block). Detached, the rest of the
       * read goes to lws' default handler (which returns 0), and the connection is killed on
       * the next service turn. This is what lets the receive buffer be small (loop.c). */
      ws->rx.len = 0;
      lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
      ws_detach(ws, 1);
      ws_finish(ws, SIGNALR_ETOOBIG, 0, 1009, "a received WebSocket message exceeds the maximum message size", 0);
      return 0;
    }

    case LWS_CALLBACK_CLIENT_WRITEABLE:
      if (ws->qhead < ws->qtail) {
        if (q_write_one(ws, wsi) != 0) {
          ws_detach(ws, 0);
          ws_finish(ws, SIGNALR_ETRANSPORT, 0, 1006, "WebSocket write failed", 0);
          return -1;
        }
        /* the owner may queue more here (what waited for room): it joins the next frame */
        if (ws->cb.on_drain) ws->cb.on_drain(ws->ud);
        if (ws->wsi && (ws->qhead < ws->qtail || ws->closing)) sr_loop_want_writable(ws->loop, wsi);
        return 0;
      }
      if (ws->closing) {
        lws_close_reason(wsi, (enum lws_close_status)ws->close_code, NULL, 0);
        return -1; /* lws sends the close frame; CLIENT_CLOSED follows */
      }
      return 0;

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      const uint8_t *b = in;
      ws->peer_closed = 1;
      ws->peer_code = len >= 2 ? (b[0] << 8 | b[1]) : 1005;
      size_t rl = len > 2 ? len - 2 : 0;
      if (rl >= sizeof(ws->reason)) rl = sizeof(ws->reason) - 1;
      memcpy(ws->reason, len > 2 ? b + 2 : b, rl);
      ws->reason[rl] = 0;
      return 0; /* lws echoes the close */
    }

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      int status = lws_http_client_http_response(wsi);
      char text[400];
      int err;
      if (status >= 300 || (status > 0 && status != 101)) {
        err = sr_http_status_error(status);
        if (!err) err = SIGNALR_EHTTP;
        snprintf(text, sizeof(text), "WebSocket upgrade rejected with HTTP %d", status);
      } else {
        const char *t = in ? (const char *)in : "connection failed";
        int tn = (int)(in ? strnlen(t, len ? len : 150) : strlen(t));
        err = classify_error_text(t);
        if (err == SIGNALR_ETLS && ws->tls) {
          /* lws's text for it is OpenSSL's unreadable "error:00000001:lib(0)::reason(1)". */
          char detail[200];
          if (strstr(t, "error:00000001")) snprintf(detail, sizeof detail, "the WebSocket's TLS handshake");
          else snprintf(detail, sizeof detail, "the WebSocket's TLS handshake: %.*s", tn, t);
          sr_tls_message(text, sizeof text, sr_tls_kind_lws(ws->tls_cert_seen, ws->tls_cert_rejected),
                         ws->have_ca_file, detail);
        } else if (err == SIGNALR_ETRANSPORT && !ws->tls && (strstr(t, "read failed") || strstr(t, "bad") ||
                                                               strstr(t, "HS:"))) {
          /* What lws says when the answer to the upgrade is not HTTP (or the peer hung up). */
          snprintf(text, sizeof(text), SR_TEXT_NO_UPGRADE_ANSWER " (libwebsockets: %.*s)", tn, t);
        } else {
          snprintf(text, sizeof(text), "WebSocket connection failed: %.*s", tn, t);
        }
        status = 0;
      }
      ws_detach(ws, 0);
      ws_finish(ws, err, status, 0, text, 0);
      return 0;
    }

    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY: {
      ws_detach(ws, 0);
      if (!ws->opened)
        ws_finish(ws, SIGNALR_ETRANSPORT, 0, 0, SR_TEXT_NO_UPGRADE_ANSWER " (the connection closed)", 0);
      else if (ws->peer_closed)
        ws_finish(ws, 0, 0, ws->peer_code, ws->reason, 0);
      else if (ws->closing)
        ws_finish(ws, 0, 0, ws->close_code, "", 0);
      else
        ws_finish(ws, SIGNALR_ETRANSPORT, 0, 1006, "WebSocket connection lost (closed without a close frame)", 0);
      return 0;
    }

    default:
      return 0;
  }
}

/* ------------------------------------------------------------------ vhosts for proxy / client certificate */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = (char)tolower((unsigned char)c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "[http://][user:pw@]host[:port][/]" -> "[user:pw@]host:port" ("[addr]:port" for IPv6), the
 * form lws_set_proxy parses. The user info is percent-decoded, as libcurl does, because lws
 * base64-encodes it as it is for Proxy-Authorization. lws silently ignores a proxy it cannot
 * parse (connecting directly instead), so anything doubtful is refused here. */
static int proxy_for_lws(const char *in, char *out, size_t cap) {
  const char *p = in, *sep = strstr(in, "://");
  if (sep) {
    if (sep - in != 4 || strncasecmp(in, "http", 4) != 0) return SIGNALR_EINVAL; /* https, socks5 */
    p = sep + 3;
  }
  const char *end = p + strcspn(p, "/?#");
  if (*end && strcmp(end, "/") != 0) return SIGNALR_EINVAL;
  const char *at = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == '@') at = q;
  char user[90];
  size_t ulen = 0;
  for (const char *q = p; at && q < at; q++) {
    int c = (unsigned char)*q;
    if (c == '%') {
      int hi = q + 2 < at ? hexval(q[1]) : -1, lo = q + 2 < at ? hexval(q[2]) : -1;
      if (hi < 0 || lo < 0 || (hi | lo) == 0) return SIGNALR_EINVAL;
      c = hi << 4 | lo;
      q += 2;
    }
    if (ulen + 1 >= sizeof(user)) return SIGNALR_EINVAL; /* lws keeps < 96 bytes of it */
    user[ulen++] = (char)c;
  }
  user[ulen] = 0;
  const char *hs = at ? at + 1 : p, *he, *port_s = NULL;
  int v6 = *hs == '[';
  if (v6) {
    he = memchr(hs, ']', (size_t)(end - hs));
    if (!he) return SIGNALR_EINVAL;
    hs++;
    if (he + 1 < end) {
      if (he[1] != ':') return SIGNALR_EINVAL;
      port_s = he + 2;
    }
  } else {
    he = memchr(hs, ':', (size_t)(end - hs));
    if (he) port_s = he + 1;
    else he = end;
  }
  if (he == hs) return SIGNALR_EINVAL;
  long port = port_s ? 0 : 1080;
  for (const char *c = port_s; c && c < end; c++) {
    if (*c < '0' || *c > '9' || (port = port * 10 + (*c - '0')) > 65535) return SIGNALR_EINVAL;
  }
  if (port == 0) return SIGNALR_EINVAL;
  int n = snprintf(out, cap, "%s%s%s%.*s%s:%ld", user, at ? "@" : "", v6 ? "[" : "", (int)(he - hs), hs,
                   v6 ? "]" : "", port);
  return n > 0 && (size_t)n < cap ? 0 : SIGNALR_EINVAL;
}

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static char *dup_or_null(const char *s, int *bad) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) *bad = 1;
  return d;
}

/* The vhost for a connection: the loop's shared ones unless a proxy or a client certificate
 * is configured. NULL with *err set on failure. */
static struct lws_vhost *pick_vhost(sr_loop *loop, int tls, const sr_ws_config *cfg, int *err) {
  const char *ca = cfg->net.ca_file, *cert = tls ? cfg->net.client_cert : NULL, *key = tls ? cfg->net.client_key : NULL;
  char proxy[200];
  int has_proxy = cfg->net.proxy && *cfg->net.proxy;
  if (!has_proxy && !cert) {
    struct lws_vhost *vh = sr_loop_vhost(loop, tls, ca);
    if (!vh) *err = ca ? SIGNALR_EINVAL : SIGNALR_ETRANSPORT;
    return vh;
  }
  *err = SIGNALR_EINVAL;
  if (has_proxy && proxy_for_lws(cfg->net.proxy, proxy, sizeof(proxy)) != 0) return NULL;
  if ((ca && access(ca, R_OK) != 0) || (cert && access(cert, R_OK) != 0) || (key && access(key, R_OK) != 0))
    return NULL;
  *err = SIGNALR_ENOMEM;
  ws_registry *r = registry_get(loop);
  if (!r) return NULL;
  const char *px = has_proxy ? proxy : NULL;
  if (!tls) ca = NULL;
  for (ws_vhost *v = r->vhosts; v; v = v->next)
    if (v->tls == tls && same_str(v->ca_file, ca) && same_str(v->proxy, px) && same_str(v->cert, cert) &&
        same_str(v->key, key))
      return v->vh;
  ws_vhost *v = calloc(1, sizeof(*v));
  if (!v) return NULL;
  int bad = 0;
  v->tls = tls;
  v->ca_file = dup_or_null(ca, &bad);
  v->proxy = dup_or_null(px, &bad);
  v->cert = dup_or_null(cert, &bad);
  v->key = dup_or_null(key, &bad);
  if (!bad) {
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = sr_lws_protocols(); /* the loop's: the same dispatch to each wsi's handler */
    info.vhost_name = "sr-ws-custom"; /* lws keeps the pointer: a literal */
    info.connect_timeout_secs = 600;  /* our connect timer decides, as on the loop's vhosts */
    info.http_proxy_address = v->proxy;
    if (tls) {
      info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
      info.client_ssl_ca_filepath = ca ? ca : sr_system_ca_file();
      info.client_ssl_cert_filepath = cert;
      info.client_ssl_private_key_filepath = key ? key : cert;
    }
    v->vh = lws_create_vhost(sr_loop_lws(loop), &info);
    if (!v->vh) *err = SIGNALR_EINVAL; /* lws could not load a certificate or key */
  }
  if (bad || !v->vh) {
    free(v->ca_file);
    free(v->proxy);
    free(v->cert);
    free(v->key);
    free(v);
    return NULL;
  }
  v->next = r->vhosts;
  r->vhosts = v;
  return v->vh;
}

/* ------------------------------------------------------------------ API */

static void connect_timed_out(void *arg) {
  sr_ws *ws = arg;
  ws->connect_timer = NULL;
  ws_detach(ws, 1);
  if (ws->closing) {
    char text[160];
    snprintf(text, sizeof(text), "the server did not complete the close within %d ms (%zu bytes unsent): aborted",
             (int)ws->close_timeout_ms, ws->qbytes);
    ws_finish(ws, SIGNALR_ETIMEOUT, 0, 1006, text, 0);
    return;
  }
  char text[160];
  snprintf(text, sizeof text, "WebSocket connect timed out: no answer to the upgrade within %d ms",
           (int)ws->connect_timeout_ms);
  ws_finish(ws, SIGNALR_ETIMEOUT, 0, 0, text, 0);
}

static int parse_url(sr_ws *ws, const char *url) {
  const char *p;
  if (strncasecmp(url, "wss://", 6) == 0) {
    ws->tls = 1;
    p = url + 6;
  } else if (strncasecmp(url, "ws://", 5) == 0) {
    p = url + 5;
  } else if (strncasecmp(url, "https://", 8) == 0) {
    ws->tls = 1;
    p = url + 8;
  } else if (strncasecmp(url, "http://", 7) == 0) {
    p = url + 7;
  } else {
    return SIGNALR_EINVAL;
  }
  const char *auth_end = p + strcspn(p, "/?#");
  const char *at = memchr(p, '@', (size_t)(auth_end - p));
  if (at) p = at + 1; /* user info is not supported: dropped */
  const char *hs = p, *he, *port_s = NULL;
  if (*p == '[') {
    he = memchr(p, ']', (size_t)(auth_end - p));
    if (!he) return SIGNALR_EINVAL;
    hs = p + 1;
    if (he + 1 < auth_end && he[1] == ':') port_s = he + 2;
  } else {
    const char *colon = memchr(p, ':', (size_t)(auth_end - p));
    he = colon ? colon : auth_end;
    if (colon) port_s = colon + 1;
  }
  if (he == hs) return SIGNALR_EINVAL;
  ws->port = ws->tls ? 443 : 80;
  if (port_s && port_s < auth_end) {
    long port = 0;
    for (const char *c = port_s; c < auth_end; c++) {
      if (*c < '0' || *c > '9') return SIGNALR_EINVAL;
      port = port * 10 + (*c - '0');
      if (port > 65535) return SIGNALR_EINVAL;
    }
    if (port == 0) return SIGNALR_EINVAL;
    ws->port = (int)port;
  }
  ws->host = strndup(hs, (size_t)(he - hs));
  ws->host_hdr = strndup(p, (size_t)(auth_end - p));
  const char *frag = strchr(auth_end, '#');
  size_t plen = frag ? (size_t)(frag - auth_end) : strlen(auth_end);
  if (plen == 0 || *auth_end == '?') {
    ws->path = malloc(plen + 2);
    if (ws->path) {
      ws->path[0] = '/';
      memcpy(ws->path + 1, auth_end, plen);
      ws->path[plen + 1] = 0;
    }
  } else {
    ws->path = strndup(auth_end, plen);
  }
  if (!ws->host || !ws->host_hdr || !ws->path) return SIGNALR_ENOMEM;
  return 0;
}

static void ws_destroy(sr_ws *ws) {
  sr_loop_end_of_turn_cancel(ws->loop, &ws->flush);
  free(ws->host);
  free(ws->host_hdr);
  free(ws->path);
  if (ws->headers) {
    for (char **h = ws->headers; *h; h++) free(*h);
    free(ws->headers);
  }
  sr_buf_free(&ws->rx);
  free(ws->q);
  free(ws);
}

int sr_ws_connect(sr_loop *loop, const sr_ws_config *cfg, const sr_ws_callbacks *cb, void *ud, sr_ws **out) {
  if (out) *out = NULL;
  if (!loop || !cfg || !cfg->url || !cb || !out) return SIGNALR_EINVAL;
  sr_ws *ws = calloc(1, sizeof(*ws));
  if (!ws) return SIGNALR_ENOMEM;
  ws->handler.cb = ws_lws_cb;
  ws->loop = loop;
  ws->flush.fn = flush_now;
  ws->flush.arg = ws;
  ws->cb = *cb;
  ws->ud = ud;
  ws->insecure = cfg->net.insecure;
  ws->have_ca_file = cfg->net.ca_file != NULL;
  ws->max_message = cfg->max_message_size ? cfg->max_message_size : WS_DEFAULT_MAX_MESSAGE;
  ws->max_queue = cfg->max_send_queue ? cfg->max_send_queue : WS_DEFAULT_MAX_QUEUE;
  ws->close_timeout_ms = cfg->close_timeout_ms > 0 ? cfg->close_timeout_ms : 5000;
  int rc = parse_url(ws, cfg->url);
  if (rc) {
    ws_destroy(ws);
    return rc;
  }
  if (cfg->net.headers) {
    size_t n = 0;
    while (cfg->net.headers[n]) n++;
    ws->headers = calloc(n + 1, sizeof(char *));
    if (!ws->headers) {
      ws_destroy(ws);
      return SIGNALR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
      if (!(ws->headers[i] = strdup(cfg->net.headers[i]))) {
        ws_destroy(ws);
        return SIGNALR_ENOMEM;
      }
    }
  }
  int verr = 0;
  struct lws_vhost *vh = pick_vhost(loop, ws->tls, cfg, &verr);
  if (!vh) {
    ws_destroy(ws);
    return verr;
  }
  if (registry_add(ws) != 0) {
    ws_destroy(ws);
    return SIGNALR_ENOMEM;
  }
  int32_t to = cfg->net.connect_timeout_ms > 0 ? cfg->net.connect_timeout_ms : WS_DEFAULT_CONNECT_TIMEOUT_MS;
  ws->connect_timeout_ms = to;
  ws->connect_timer = sr_loop_timer_start(loop, sr_loop_now_ms() + to, connect_timed_out, ws);
  if (!ws->connect_timer) {
    registry_remove(ws);
    ws_destroy(ws);
    return SIGNALR_ENOMEM;
  }

  /* No lws "validity" timer: lws 4.x's default policy (ping after 300 s, hang up after 310 s)
   * re-inserts a timer into lws' sorted list on every received message, a walk over every
   * connection's timer (35% of the CPU at 5,000 connections). SignalR has its own keep-alive
   * and server timeout (the engine's). */
  static const lws_retry_bo_t no_validity = {0};
  struct lws_client_connect_info i;
  memset(&i, 0, sizeof(i));
  i.retry_and_idle_policy = &no_validity;
  i.context = sr_loop_lws(loop);
  i.vhost = vh;
  i.address = ws->host;
  i.port = ws->port;
  i.path = ws->path;
  i.host = ws->host_hdr;
  i.origin = NULL;
  i.protocol = NULL; /* SignalR requests no sub-protocol */
  i.local_protocol_name = SR_LWS_PROTOCOL;
  i.opaque_user_data = &ws->handler;
  i.pwsi = &ws->wsi;
  if (ws->tls) {
    i.ssl_connection = LCCSCF_USE_SSL;
    if (ws->insecure)
      i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK | LCCSCF_ALLOW_EXPIRED |
                          LCCSCF_ALLOW_INSECURE;
    i.alpn = "http/1.1"; /* never WebSockets over h2 */
  }
  ws->in_connect = 1;
  struct lws *wsi = lws_client_connect_via_info(&i);
  ws->in_connect = 0;
  sr_loop_lws_changed(loop);
  if (ws->finished) ws->wsi = NULL; /* failed inside the call: lws may have stored it in pwsi after we detached */
  if (!wsi) {
    ws->wsi = NULL;
    /* lws may already have reported the failure (deferred by in_connect) */
    /* lws 4.1 resolves the name inside the call and says nothing about why it failed: look
     * again (only on this failure path) to tell a name that does not resolve. */
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(ws->host, NULL, &hints, &res);
    if (res) freeaddrinfo(res);
    char text[400];
    if (gai && gai != EAI_MEMORY) /* EAI_AGAIN too: no DNS server answered */
      snprintf(text, sizeof text, SR_TEXT_DNS " (%.200s: %s)", ws->host, gai_strerror(gai));
    else
      snprintf(text, sizeof text, "WebSocket connection could not be started");
    ws_finish(ws, SIGNALR_ETRANSPORT, 0, 0, text, 1);
  }
  *out = ws;
  return 0;
}

int sr_ws_send(sr_ws *ws, const uint8_t *data, size_t len, int binary) {
  if (!ws || (!data && len)) return SIGNALR_EINVAL;
  if (!ws->opened || ws->closing || ws->finished || !ws->wsi) return SIGNALR_ESTATE;
  int was_empty = ws->qhead == ws->qtail;
  int rc = q_push(ws, data, len, binary);
  if (rc) return rc;
  if (was_empty && (ws->in_flush || !sr_loop_end_of_turn(ws->loop, &ws->flush))) sr_loop_want_writable(ws->loop, ws->wsi);
  return 0;
}

void sr_ws_close(sr_ws *ws, int code) {
  if (!ws || ws->finished || ws->closing) return;
  if (code <= 0) code = 1000;
  if (!ws->opened || !ws->wsi) {
    ws_detach(ws, 1);
    ws_finish(ws, SIGNALR_ECANCELED, 0, 0, "WebSocket connect canceled", 1);
    return;
  }
  ws->closing = 1;
  ws->close_code = code;
  /* the connect timer is gone since open: the same slot bounds the close */
  ws->connect_timer = sr_loop_timer_start(ws->loop, sr_loop_now_ms() + ws->close_timeout_ms, connect_timed_out, ws);
  if (ws->paused) { /* the peer's close frame must be read */
    ws->paused = 0;
    lws_rx_flow_control(ws->wsi, 1);
    sr_loop_lws_changed(ws->loop);
  }
  sr_loop_want_writable(ws->loop, ws->wsi);
}

void sr_ws_pause(sr_ws *ws, int paused) {
  if (!ws || !ws->wsi || ws->finished || ws->closing || ws->paused == (paused != 0)) return;
  ws->paused = paused != 0;
  lws_rx_flow_control(ws->wsi, !ws->paused);
  if (!ws->paused) sr_loop_lws_changed(ws->loop); /* what lws read before the pause */
}

void sr_ws_free(sr_ws *ws) {
  if (!ws) return;
  ws_detach(ws, 1);
  if (ws->connect_timer) sr_loop_timer_cancel(ws->loop, ws->connect_timer);
  if (ws->defer_timer) sr_loop_timer_cancel(ws->loop, ws->defer_timer);
  ws->connect_timer = ws->defer_timer = NULL;
  if (!ws->finished) registry_remove(ws); /* finished: already out, and the loop may be gone */
  ws_destroy(ws);
}

/* ------------------------------------------------------------------ the transport interface */

/* What the interface's callbacks need besides the sr_ws: the layer's callbacks, and the frame
 * type, which sr_ws takes per message. */
typedef struct ws_transport {
  sr_ws *ws;
  sr_transport_callbacks cb;
  void *ud;
  int binary;
} ws_transport;

static void wt_on_open(void *ud) {
  ws_transport *w = ud;
  w->cb.on_open(w->ud);
}

static void wt_on_message(void *ud, const uint8_t *data, size_t len) {
  ws_transport *w = ud;
  w->cb.on_message(w->ud, data, len);
}

static void wt_on_drain(void *ud) {
  ws_transport *w = ud;
  if (w->cb.on_drain) w->cb.on_drain(w->ud);
}

static void wt_on_close(void *ud, const sr_ws_close_info *wi) {
  ws_transport *w = ud;
  sr_transport_close_info info = {wi->error, wi->http_status, wi->close_code, wi->reason, wi->opened};
  w->cb.on_close(w->ud, &info); /* may free w */
}

static int wt_connect(sr_loop *loop, const sr_transport_config *c, const sr_transport_callbacks *cb, void *ud,
                      void **impl) {
  ws_transport *w = calloc(1, sizeof(*w));
  if (!w) return SIGNALR_ENOMEM;
  w->cb = *cb;
  w->ud = ud;
  w->binary = c->binary != 0;
  sr_ws_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.url = c->url;
  cfg.net = c->net;
  cfg.max_message_size = c->max_message_size;
  cfg.max_send_queue = c->max_send_queue;
  cfg.close_timeout_ms = c->close_timeout_ms;
  static const sr_ws_callbacks wcb = {wt_on_open, wt_on_message, wt_on_close, wt_on_drain};
  int rc = sr_ws_connect(loop, &cfg, &wcb, w, &w->ws);
  if (rc) {
    free(w);
    return rc;
  }
  *impl = w;
  return 0;
}

static int wt_send(void *impl, const uint8_t *data, size_t len) {
  ws_transport *w = impl;
  return sr_ws_send(w->ws, data, len, w->binary);
}

static size_t wt_queued_bytes(const void *impl) { return sr_ws_queued_bytes(((const ws_transport *)impl)->ws); }

static void wt_close(void *impl) { sr_ws_close(((ws_transport *)impl)->ws, 1000); }

static void wt_pause(void *impl, int paused) { sr_ws_pause(((ws_transport *)impl)->ws, paused); }

static void wt_free(void *impl) {
  ws_transport *w = impl;
  sr_ws_free(w->ws);
  free(w);
}

const sr_transport_ops sr_ws_transport_ops = {wt_connect, wt_send, wt_queued_bytes, wt_close, wt_pause, wt_free};
