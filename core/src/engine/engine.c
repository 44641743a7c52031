/* The connection's lifetime: start (negotiate, redirects, transport fallback, handshake),
 * receiving, keep-alive and timeouts, closing, automatic reconnect and stateful reconnect. */
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "engine/retry.h"
#include "util/url.h"
#include "protocol/handshake.h"
#include "protocol/json_protocol.h"
#include "protocol/msgpack_protocol.h"
#include "signalr/signalr.h"

/* TS sends an Ack one second after a sequenced message arrives, coalescing bursts. */
#define SR_ACK_DELAY_MS 1000

void sr_engine_config_defaults(sr_engine_config *c) {
  memset(c, 0, sizeof *c);
  c->protocol = SIGNALR_ENCODING_JSON;
  c->handshake_timeout_ms = 15000;
  c->server_timeout_ms = 30000;
  c->keep_alive_interval_ms = 15000;
  c->max_message_size = SR_DEFAULT_MAX_MESSAGE_SIZE;
  c->stateful_buffer_size = 100000;
}

static char *dup_str(const char *s) { return s ? strdup(s) : NULL; }

static void set_str(char **dst, const char *s) {
  free(*dst);
  *dst = dup_str(s);
}

int sr_engine_init(sr_engine *e, const sr_engine_config *cfg, const sr_engine_io *io) {
  memset(e, 0, sizeof *e);
  if (!cfg->url || !*cfg->url) return SIGNALR_EINVAL;
  e->cfg = *cfg;
  e->cfg.url = strdup(cfg->url);
  if (!e->cfg.url) return SIGNALR_ENOMEM;
  if (!e->cfg.transports) e->cfg.transports = SR_TRANSPORT_WEBSOCKETS | SR_TRANSPORT_SSE | SR_TRANSPORT_LONG_POLLING;
  if (!e->cfg.max_message_size) e->cfg.max_message_size = SR_DEFAULT_MAX_MESSAGE_SIZE;
  if (!e->cfg.stateful_buffer_size) e->cfg.stateful_buffer_size = 100000;
  e->io = *io;
  e->next_id = 1;
  e->retry_at = e->ack_at = e->redial_at = INT64_MAX;
  e->rng = cfg->random_seed;
  sr_replay_init(&e->replay);
  sr_framer_init(&e->framer, SR_FRAMING_TEXT, e->cfg.max_message_size);
  sr_decoder_init(&e->decoder);
  sr_diag_init(&e->diag);
  return 0;
}

void sr_engine_free(sr_engine *e) {
  free(e->cfg.url);
  free(e->base_url);
  free(e->bearer);
  free(e->connection_id);
  free(e->connection_token);
  sr_call_table_free(&e->calls);
  sr_framer_free(&e->framer);
  sr_decoder_free(&e->decoder);
  sr_replay_free(&e->replay);
  sr_buf_free(&e->out);
  sr_buf_free(&e->scratch);
  sr_buf_free(&e->failures);
  sr_diag_free(&e->diag);
  sr_error_release(&e->close_reason);
  sr_error_release(&e->last_failure);
  memset(e, 0, sizeof *e);
}

void sr_engine_emit(sr_engine *e, int type, const sr_error_info *err, uint64_t call, const sr_hub_message *msg) {
  sr_engine_event ev = {type, err, call, msg};
  if (e->io.event) e->io.event(e->io.ud, &ev); /* NULL: its owner is going away */
}

/* Records why the connection is going down; the first reason wins. */
static void set_reason(sr_engine *e, const sr_error_info *why) {
  if (!e->close_reason.code) sr_error_assign(&e->close_reason, why);
}

size_t sr_engine_unacked_bytes(const sr_engine *e) { return e->stateful ? e->replay.bytes : 0; }

int sr_engine_state(const sr_engine *e) { return e->state; }
const char *sr_engine_connection_id(const sr_engine *e) { return e->connection_id ? e->connection_id : ""; }
uint32_t sr_engine_session(const sr_engine *e) { return e->session; }
int sr_engine_is_stateful(const sr_engine *e) { return e->stateful; }
const sr_diag *sr_engine_diag(const sr_engine *e) { return &e->diag; }

uint64_t sr_engine_find_stream(const sr_engine *e, int (*match)(void *ud, uint64_t token), void *ud) {
  return sr_engine_find_call(e, SR_CALL_STREAM, match, ud);
}

int sr_engine_send_raw(sr_engine *e, int64_t now, const uint8_t *data, size_t len) {
  if (!e->cfg.raw) return SIGNALR_EINVAL;
  if (!e->handshake_done || !e->transport_open || e->state != SR_STATE_CONNECTED) return SIGNALR_ESTATE;
  int rc = e->io.send(e->io.ud, data, len);
  if (!rc) e->last_sent = now;
  return rc;
}

int sr_engine_set_url(sr_engine *e, const char *url) {
  char *u = strdup(url);
  if (!u) return SIGNALR_ENOMEM;
  free(e->cfg.url);
  e->cfg.url = u;
  return 0;
}

void sr_engine_set_timeouts(sr_engine *e, int32_t server_timeout_ms, int32_t keep_alive_ms) {
  if (server_timeout_ms >= 0) {
    e->cfg.server_timeout_ms = server_timeout_ms;
    e->slow_warned = 0; /* the warning at 2/3 is of the new timeout */
  }
  if (keep_alive_ms >= 0) e->cfg.keep_alive_interval_ms = keep_alive_ms;
}

uint64_t sr_engine_find_call(const sr_engine *e, int kind, int (*match)(void *ud, uint64_t token), void *ud) {
  for (size_t i = 0; i < e->calls.cap; i++) {
    const sr_call *call = &e->calls.slots[i];
    if (call->id && call->kind == kind && match(ud, call->token)) return call->token;
  }
  return 0;
}

int sr_engine_forget_call(sr_engine *e, uint64_t token, const sr_error_info *err) {
  for (size_t i = 0; i < e->calls.cap; i++) {
    sr_call *c = &e->calls.slots[i];
    if (!c->id || c->token != token) continue;
    sr_call call;
    sr_call_table_take(&e->calls, c->id, &call);
    sr_engine_emit(e, SR_EV_COMPLETION, err, call.token, NULL);
    return 0;
  }
  return SIGNALR_EINVAL;
}

int sr_engine_take_call(sr_engine *e, uint64_t *token) {
  sr_call call;
  if (!sr_call_table_pop(&e->calls, &call)) return 0;
  *token = call.token;
  return 1;
}

void sr_engine_mute(sr_engine *e) { e->io.event = NULL; }

/* ---------------------------------------------------------------- sending */

static int encode(sr_engine *e, const sr_hub_message *m) {
  e->out.len = 0;
  return e->binary ? sr_msgpack_encode(&e->out, m) : sr_json_encode(&e->out, m);
}

int sr_engine_send_message(sr_engine *e, int64_t now, const sr_hub_message *m, int flow) {
  int sequenced = e->stateful && sr_message_is_sequenced(m->type);
  if (!e->handshake_done || (!e->transport_open && !(sequenced && e->redialing))) return SIGNALR_ESTATE;
  if (sequenced && flow && e->replay.bytes >= e->cfg.stateful_buffer_size) return SIGNALR_EAGAIN;
  int rc = encode(e, m);
  if (rc) return rc;
  if (sequenced && (rc = sr_replay_append(&e->replay, e->out.data, e->out.len))) return rc;
  if (!e->transport_open) return 0; /* re-dialing: replayed once the new socket is open */
  rc = e->io.send(e->io.ud, e->out.data, e->out.len);
  if (!rc) e->last_sent = now;
  e->out.len = 0; /* the transport copied it */
  sr_buf_trim(&e->out, SR_BUF_KEEP_IDLE);
  /* A sequenced message that could not be written stays buffered: the replay delivers it. */
  return sequenced && rc != SIGNALR_EAGAIN ? 0 : rc;
}

static int send_control(sr_engine *e, int64_t now, int type, int64_t sequence_id) {
  if (e->cfg.raw) return 0; /* no hub protocol: no Ping, Ack, Sequence */
  sr_hub_message m = {0};
  m.type = type;
  m.sequence_id = sequence_id;
  return sr_engine_send_message(e, now, &m, 0);
}

/* ---------------------------------------------------------------- start */

static void finish_start(sr_engine *e, const sr_error_info *err) {
  if (!e->start_pending) return;
  e->start_pending = 0;
  sr_engine_emit(e, SR_EV_START_COMPLETED, err, 0, NULL);
}

static void fail_pending_calls(sr_engine *e) {
  sr_error_info err;
  sr_error_set(&err, SIGNALR_ECLOSED, 0, "Invocation canceled due to the underlying connection being closed.");
  sr_call call;
  while (sr_call_table_pop(&e->calls, &call)) sr_engine_emit(e, SR_EV_COMPLETION, &err, call.token, NULL);
}

/* The end: nothing more will happen until the next start. err NULL: stopped. */
static void closed(sr_engine *e, const sr_error_info *err) {
  e->state = SR_STATE_DISCONNECTED;
  e->handshake_done = e->negotiating = e->redialing = e->stateful = 0;
  e->retry_at = e->ack_at = e->redial_at = INT64_MAX;
  e->awaiting_retry = 0;
  sr_replay_reset(&e->replay);
  if (e->start_pending) {
    finish_start(e, err);
    return;
  }
  fail_pending_calls(e);
  /* A server's Close message without an error ends the connection without one, as the .NET
   * and JavaScript clients report it (Closed(null)): only pending calls see SIGNALR_ECLOSED. */
  if (e->clean_close) err = NULL;
  sr_engine_emit(e, SR_EV_CLOSED, err, 0, NULL);
}

static void attempt_failed(sr_engine *e, int64_t now, const sr_error_info *err);
static void connection_lost(sr_engine *e, int64_t now, const sr_error_info *err);

static void do_negotiate(sr_engine *e, int64_t now) {
  e->scratch.len = 0;
  int rc = sr_negotiate_url(&e->scratch, e->base_url, 1, e->cfg.stateful_reconnect);
  if (!rc) {
    e->negotiating = 1;
    sr_diag_negotiate_sent(&e->diag, (const char *)e->scratch.data);
    rc = e->io.negotiate(e->io.ud, (const char *)e->scratch.data, e->bearer);
  }
  if (rc) {
    e->negotiating = 0;
    sr_error_info err;
    sr_error_set(&err, rc, 0, "could not send the negotiate request: %s", signalr_strerror(rc));
    attempt_failed(e, now, &err);
  }
}

/* 0, or the failure already reported through attempt_failed. */
static int open_transport(sr_engine *e, int64_t now, int transport, const char *token) {
  e->scratch.len = 0;
  int rc = sr_transport_url(&e->scratch, e->base_url, token, transport);
  e->transport = transport;
  sr_framer_free(&e->framer);
  sr_framer_init(&e->framer, SR_FRAMING_TEXT, e->cfg.max_message_size);
  if (e->handshake_done && e->binary) sr_framer_set_kind(&e->framer, SR_FRAMING_BINARY); /* a re-dial */
  if (!e->handshake_done) sr_diag_transport(&e->diag, transport, e->binary, e->stateful);
  if (!rc) rc = e->io.open(e->io.ud, transport, (const char *)e->scratch.data, e->bearer, e->binary);
  if (!rc) {
    e->transport_active = 1;
    return 0;
  }
  sr_error_info err;
  sr_error_set(&err, rc, 0, "could not start the %s transport: %s", sr_transport_name(transport),
               signalr_strerror(rc));
  if (e->redialing) {
    e->redialing = 0;
    connection_lost(e, now, &err);
  } else {
    attempt_failed(e, now, &err);
  }
  return rc;
}

/* Negotiate starts over from the configured URL: no redirect, no redirect token. */
static void from_configured_url(sr_engine *e) {
  set_str(&e->base_url, e->cfg.url);
  set_str(&e->bearer, NULL);
  e->redirects = 0;
}

/* One connect attempt from the configured URL: the start, or a retry. */
static void begin_attempt(sr_engine *e, int64_t now) {
  from_configured_url(e);
  sr_diag_attempt(&e->diag);
  e->tried = 0;
  e->failures.len = 0;
  e->transport = 0;
  e->handshake_done = 0;
  e->stateful = 0;
  sr_error_release(&e->close_reason);
  memset(&e->close_reason, 0, sizeof e->close_reason);
  e->clean_close = 0;
  e->last_received = e->last_sent = now;
  if (!e->base_url) {
    sr_error_info err;
    sr_error_set(&err, SIGNALR_ENOMEM, 0, "out of memory");
    attempt_failed(e, now, &err);
    return;
  }
  if (e->cfg.skip_negotiation) open_transport(e, now, SR_TRANSPORT_WEBSOCKETS, NULL);
  else do_negotiate(e, now);
}

int sr_engine_start(sr_engine *e, int64_t now) {
  if (e->state != SR_STATE_DISCONNECTED) return SIGNALR_ESTATE;
  if (e->cfg.skip_negotiation && e->cfg.transports != SR_TRANSPORT_WEBSOCKETS) return SIGNALR_EINVAL;
  set_str(&e->connection_id, NULL);
  e->binary = e->cfg.protocol == SIGNALR_ENCODING_MSGPACK;
  e->state = SR_STATE_CONNECTING;
  e->stopping = 0;
  e->start_pending = 1;
  e->attempt = 0;
  e->retry_started = now;
  sr_replay_reset(&e->replay);
  begin_attempt(e, now);
  return 0;
}

/* ---------------------------------------------------------------- retries */

static void give_up(sr_engine *e, const sr_error_info *last) {
  sr_error_info err = *last; /* borrowed, unless rewritten below */
  int own = 0;
  if (e->attempt > 1 || e->state == SR_STATE_RECONNECTING) {
    char prefix[96];
    snprintf(prefix, sizeof prefix, "Reconnect gave up after %u attempt%s; the last failure: ", e->attempt - 1,
             e->attempt == 2 ? "" : "s");
    const char *what = sr_error_text(last);
    sr_error_set_long(&err, last->code, last->http_status, prefix, what, strlen(what));
    err.allow_reconnect = last->allow_reconnect;
    err.hint = last->hint;
    own = 1;
  }
  closed(e, &err);
  if (own) sr_error_release(&err);
}

static void apply_delay(sr_engine *e, int64_t now, int32_t delay) {
  e->awaiting_retry = 0;
  if (delay < 0) {
    give_up(e, &e->last_failure);
    return;
  }
  e->retry_at = now + delay;
}

/* Asks the policy when to try again after `err`. */
static void schedule_retry(sr_engine *e, int64_t now, const sr_error_info *err) {
  sr_error_assign(&e->last_failure, err);
  e->attempt++;
  if (e->cfg.custom_retry) {
    e->awaiting_retry = 1;
    if (e->io.retry(e->io.ud, e->attempt, now - e->retry_started, err)) apply_delay(e, now, -1);
    return;
  }
  apply_delay(e, now, sr_retry_delay(e->cfg.reconnect_delays, e->cfg.reconnect_delay_count,
                                     e->cfg.reconnect_jitter, e->attempt, &e->rng));
}

void sr_engine_on_retry_delay(sr_engine *e, int64_t now, int32_t delay_ms) {
  if (!e->awaiting_retry) return; /* stopped meanwhile */
  apply_delay(e, now, delay_ms);
}

static int retries_allowed(const sr_engine *e) {
  if (e->stopping || !e->cfg.reconnect) return 0;
  return e->state == SR_STATE_RECONNECTING || (e->state == SR_STATE_CONNECTING && e->cfg.reconnect_on_start);
}

/* A start or retry attempt failed before the connection was up. */
static void attempt_failed(sr_engine *e, int64_t now, const sr_error_info *err) {
  e->negotiating = 0;
  if (retries_allowed(e)) schedule_retry(e, now, err);
  else closed(e, err);
}

/* The connection was up and is lost: reconnect if allowed, else close. */
static void connection_lost(sr_engine *e, int64_t now, const sr_error_info *err) {
  if (e->stopping || !e->cfg.reconnect || e->server_closed) {
    closed(e, err);
    return;
  }
  e->handshake_done = 0;
  e->stateful = 0;
  e->redialing = 0;
  e->ack_at = INT64_MAX;
  sr_replay_reset(&e->replay);
  fail_pending_calls(e);
  e->clean_close = 0; /* what ends the reconnecting says why */
  e->state = SR_STATE_RECONNECTING;
  e->attempt = 0;
  e->retry_started = now;
  sr_engine_emit(e, SR_EV_RECONNECTING, err, 0, NULL);
  if (e->state == SR_STATE_RECONNECTING) schedule_retry(e, now, err);
}

/* ---------------------------------------------------------------- negotiate and fallback */

/* The first transport of the server's list that the options and the protocol allow and
 * that has not failed in this attempt. */
static int pick_transport(const sr_engine *e, const sr_negotiate_response *r) {
  int need = e->binary ? SR_FORMAT_BINARY : SR_FORMAT_TEXT;
  for (size_t i = 0; i < r->transport_count; i++) {
    const sr_negotiate_transport *t = &r->transports[i];
    if (t->transport && (t->transport & e->cfg.transports) && (t->formats & need) && !(t->transport & e->tried))
      return t->transport;
  }
  return 0;
}

/* Every transport tried failed: one error that says why each did, with the code, status
 * and hint of the last. */
static void aggregate_error(sr_engine *e, sr_error_info *err) {
  *err = e->last_failure;
  err->full = NULL; /* the message is rewritten: (each transport's text is in it, cut) */
  snprintf(err->message, sizeof err->message,
           "Unable to connect to the server with any of the available transports. %.*s", (int)e->failures.len,
           e->failures.data ? (const char *)e->failures.data : "");
}

/* No transport both sides accept: the official text, then what each side offered, so the
 * reader sees which setting to change (a binary protocol rules out Server-Sent Events). */
static void no_common_transport(const sr_engine *e, const sr_negotiate_response *r, sr_error_info *err) {
  char offered[160] = "", allowed[96] = "";
  size_t o = 0, a = 0;
  for (size_t i = 0; i < r->transport_count && o < sizeof offered; i++) {
    const sr_negotiate_transport *t = &r->transports[i];
    if (!t->transport) continue;
    int n = snprintf(offered + o, sizeof offered - o, "%s%s (%s)", o ? ", " : "", sr_transport_name(t->transport),
                     (t->formats & SR_FORMAT_BINARY) ? "text and binary" : "text only");
    if (n > 0) o += (size_t)n;
  }
  static const int all[] = {SR_TRANSPORT_WEBSOCKETS, SR_TRANSPORT_SSE, SR_TRANSPORT_LONG_POLLING};
  for (size_t i = 0; i < sizeof all / sizeof *all && a < sizeof allowed; i++) {
    if (!(e->cfg.transports & all[i])) continue;
    int n = snprintf(allowed + a, sizeof allowed - a, "%s%s", a ? ", " : "", sr_transport_name(all[i]));
    if (n > 0) a += (size_t)n;
  }
  sr_error_set(err, SIGNALR_EUNSUPPORTED, 0,
               "None of the transports supported by the client are supported by the server. The server offers "
               "%s; the client allows %s with a %s protocol.",
               o ? offered : "none", a ? allowed : "none", e->binary ? "binary (MessagePack)" : "text (JSON)");
}

/* 1 when a redirect goes from TLS (https://, wss://) to cleartext (http://, ws://). */
static int is_downgrade(const char *from, const char *to) {
  return (sr_url_scheme(from) & SR_URL_TLS) && !(sr_url_scheme(to) & SR_URL_TLS);
}

static void negotiate_failed(sr_engine *e, int64_t now, sr_error_info *err) {
  if (!err->hint) err->hint = sr_error_hint_for(SR_STAGE_NEGOTIATE, err);
  attempt_failed(e, now, err);
}

void sr_engine_on_negotiate(sr_engine *e, int64_t now, int status, const char *body, size_t len,
                            const sr_error_info *failure) {
  if (!e->negotiating) return; /* canceled */
  e->negotiating = 0;
  if (!failure) sr_diag_negotiate_answer(&e->diag, status, body, len);
  sr_error_info err;
  if (failure) {
    err = *failure;
    negotiate_failed(e, now, &err);
    return;
  }
  if (status != 200) {
    sr_error_set(&err, sr_error_code_for_http(status), status,
                 "Unexpected status code returned from negotiate '%d'", status);
    negotiate_failed(e, now, &err);
    return;
  }
  sr_negotiate_response r;
  char why[256];
  int rc = sr_negotiate_parse(body, len, &r, why, sizeof why);
  if (rc) {
    sr_error_set(&err, rc, status, "%s", rc == SIGNALR_ENOMEM ? signalr_strerror(rc) : why);
    negotiate_failed(e, now, &err);
    return;
  }
  if (r.kind == SR_NEGOTIATE_SERVER_ERROR) {
    sr_error_set_long(&err, SIGNALR_ENEGOTIATE, status, "", r.error, strlen(r.error));
  } else if (r.kind == SR_NEGOTIATE_REDIRECT) {
    if (++e->redirects > SR_MAX_NEGOTIATE_REDIRECTS) {
      sr_error_set(&err, SIGNALR_EREDIRECT, 0, "Negotiate redirection limit exceeded.");
    } else if (!sr_url_scheme(r.url)) {
      sr_error_set(&err, SIGNALR_EREDIRECT, 0,
                   "Refused the negotiate redirect to '%.200s': only http://, https://, ws:// and wss:// URLs "
                   "are followed.", r.url);
      err.hint = "The server (or what answers at this URL) redirects to something that is not a hub: check "
                 "its negotiate response and the URL.";
    } else if (is_downgrade(e->base_url, r.url) && !e->cfg.allow_insecure_redirect) {
      /* The next negotiate and the transport carry the bearer token and the custom headers:
       * over http:// anyone on the path reads them. */
      sr_error_set(&err, SIGNALR_EREDIRECT, 0,
                   "Refused the negotiate redirect from %.200s to %.200s: it leaves TLS, and the access token "
                   "and headers would be sent in cleartext.", e->base_url, r.url);
      err.hint = "Have the server redirect to an https:// URL, or set allow_insecure_redirect=true if the "
                 "network to that server is trusted.";
    } else {
      sr_diag_redirect(&e->diag, r.url);
      set_str(&e->base_url, r.url);
      /* The redirect's token authenticates the next negotiate and the transport. */
      if (r.access_token) set_str(&e->bearer, r.access_token);
      sr_negotiate_response_clear(&r);
      do_negotiate(e, now);
      return;
    }
  } else if (r.use_stateful_reconnect && !e->cfg.stateful_reconnect) {
    sr_error_set(&err, SIGNALR_EPROTO, 0, "Client didn't negotiate Stateful Reconnect but the server did.");
  } else {
    int t = pick_transport(e, &r);
    if (t) {
      set_str(&e->connection_id, r.connection_id);
      set_str(&e->connection_token, r.connection_token);
      e->stateful = r.use_stateful_reconnect && t == SR_TRANSPORT_WEBSOCKETS && !e->cfg.raw;
      sr_negotiate_response_clear(&r);
      open_transport(e, now, t, e->connection_token);
      return;
    }
    if (e->tried) {
      aggregate_error(e, &err);
    } else {
      no_common_transport(e, &r, &err);
    }
  }
  sr_negotiate_response_clear(&r);
  negotiate_failed(e, now, &err);
  sr_error_release(&err); /* the server's error text, when it was long */
}

/* The transport failed to connect: with negotiation, try the next one after a fresh negotiate
 * (the failed attempt's connection token may already be spent). 1 when falling back. */
static int fall_back(sr_engine *e, int64_t now, const sr_error_info *why) {
  if (e->cfg.skip_negotiation || e->stopping || !e->transport) return 0;
  e->tried |= e->transport;
  sr_error_assign(&e->last_failure, why);
  char line[sizeof why->message + 48];
  int n = snprintf(line, sizeof line, "%s%s failed: %s", e->failures.len ? " " : "",
                   sr_transport_name(e->transport), why->message);
  if (n > 0) sr_buf_append(&e->failures, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  int others = e->cfg.transports & ~e->tried;
  if (!others) {
    if (!(e->tried & (e->tried - 1))) return 0; /* only one was allowed: its own error says it all */
    sr_error_info err;
    aggregate_error(e, &err);
    attempt_failed(e, now, &err);
    return 1;
  }
  from_configured_url(e);
  e->transport = 0;
  do_negotiate(e, now);
  return 1;
}

/* ---------------------------------------------------------------- transport open, handshake */

static void connected(sr_engine *e, int64_t now);

void sr_engine_on_open(sr_engine *e, int64_t now) {
  if (!e->transport_active) return;
  e->transport_open = 1;
  e->last_sent = e->last_received = now;
  e->rx_paused = 0; /* a new transport reads until the runtime pauses it */
  if (!e->handshake_done) sr_diag_phase(&e->diag, SR_PHASE_HANDSHAKE, now);
  int rc;
  if (e->redialing) {
    /* Stateful reconnect: no handshake; announce where our replay starts, then replay. */
    e->redialing = 0;
    e->redial_attempts = 0;
    e->awaiting_sequence = 1;
    rc = send_control(e, now, SR_MSG_SEQUENCE, sr_replay_oldest(&e->replay));
    size_t cursor = 0;
    const uint8_t *msg;
    size_t len;
    while (!rc && sr_replay_next(&e->replay, &cursor, &msg, &len)) rc = e->io.send(e->io.ud, msg, len);
  } else if (e->cfg.raw) {
    connected(e, now); /* nothing to agree on: open is connected */
    return;
  } else {
    e->out.len = 0;
    rc = sr_handshake_write_request(&e->out, e->binary ? "messagepack" : "json", e->stateful ? 2 : 1);
    if (!rc) rc = e->io.send(e->io.ud, e->out.data, e->out.len);
    e->handshake_deadline = now + e->cfg.handshake_timeout_ms;
  }
  if (rc) {
    sr_error_info err;
    sr_error_set(&err, rc, 0, "could not write to the new transport: %s", signalr_strerror(rc));
    set_reason(e, &err);
    e->io.close(e->io.ud);
  }
}

static void protocol_failure(sr_engine *e, int code, const char *what) {
  sr_error_info err;
  sr_error_set(&err, code, 0, "%s", what);
  err.hint = sr_error_hint(e->handshake_done ? SR_STAGE_CONNECTED : SR_STAGE_HANDSHAKE, code, 0);
  set_reason(e, &err);
  e->io.close(e->io.ud);
}

static int handle_handshake(sr_engine *e, int64_t now, const uint8_t *rec, size_t len) {
  /* The framer removed the record separator; the handshake parser wants the record whole. */
  e->scratch.len = 0;
  if (sr_buf_append(&e->scratch, rec, len) || sr_buf_putc(&e->scratch, 0x1e)) {
    protocol_failure(e, SIGNALR_ENOMEM, "out of memory");
    return -1;
  }
  size_t used;
  sr_handshake_response hs;
  char why[256];
  int rc = sr_handshake_parse_response(e->scratch.data, e->scratch.len, e->cfg.max_message_size, &used,
                                       &hs, why, sizeof why);
  if (rc != 1) {
    protocol_failure(e, SIGNALR_EPROTO, why);
    return -1;
  }
  if (hs.has_error) {
    sr_error_info err;
    sr_error_set(&err, SIGNALR_EHANDSHAKE, 0, "Unable to complete handshake with the server: %s", hs.error);
    err.hint = sr_error_hint(SR_STAGE_HANDSHAKE, SIGNALR_EHANDSHAKE, 0);
    sr_handshake_response_clear(&hs);
    set_reason(e, &err);
    e->io.close(e->io.ud);
    return -1;
  }
  connected(e, now);
  return 0;
}

/* The connection is up (handshake answered, or a raw transport open). */
static void connected(sr_engine *e, int64_t now) {
  int reconnected = e->state == SR_STATE_RECONNECTING;
  e->handshake_done = 1;
  sr_diag_phase(&e->diag, SR_PHASE_CONNECTED, now);
  e->session++;
  e->state = SR_STATE_CONNECTED;
  e->slow_warned = 0;
  e->attempt = 0;
  e->server_closed = 0;
  e->recv_next = 1;
  e->recv_highest = e->acked = 0;
  e->awaiting_sequence = 0;
  sr_replay_reset(&e->replay);
  if (e->binary) sr_framer_set_kind(&e->framer, SR_FRAMING_BINARY);
  /* The first Ping arms the server's client timeout. Long Polling has no such timeout (each
   * poll keeps the connection alive), and the official clients send none there. */
  if (e->transport != SR_TRANSPORT_LONG_POLLING) send_control(e, now, SR_MSG_PING, 0);
  if (reconnected) sr_engine_emit(e, SR_EV_RECONNECTED, NULL, 0, NULL);
  else finish_start(e, NULL);
}

/* ---------------------------------------------------------------- receiving */

static int parse_id(const sr_str *s, uint64_t *out) {
  if (!s->ptr || !s->len || s->len > 19) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < s->len; i++) {
    if (s->ptr[i] < '0' || s->ptr[i] > '9') return 0;
    v = v * 10 + (uint64_t)(s->ptr[i] - '0');
  }
  *out = v;
  return v != 0;
}

/* Stateful reconnect bookkeeping for one received message: 1 to process it, 0 to drop it. */
static int sequence_in(sr_engine *e, int64_t now, const sr_hub_message *m) {
  if (m->type == SR_MSG_SEQUENCE) {
    if (m->sequence_id > e->recv_highest + 1) {
      protocol_failure(e, SIGNALR_EPROTO, "Sequence ID greater than amount of messages we've received.");
      return 0;
    }
    e->recv_next = m->sequence_id;
    e->awaiting_sequence = 0;
    return 0;
  }
  if (m->type == SR_MSG_ACK) {
    sr_replay_ack(&e->replay, m->sequence_id);
    return 0;
  }
  if (!sr_message_is_sequenced(m->type)) return 1;
  if (e->awaiting_sequence) return 0;
  int64_t id = e->recv_next++;
  if (id <= e->recv_highest) return 0; /* replayed, already processed */
  e->recv_highest = id;
  if (e->ack_at == INT64_MAX) e->ack_at = now + SR_ACK_DELAY_MS;
  return 1;
}

static void handle_message(sr_engine *e, int64_t now, const sr_hub_message *m) {
  if (e->stateful && !sequence_in(e, now, m)) return;
  uint64_t id;
  sr_call call;
  switch (m->type) {
    case SR_MSG_INVOCATION:
      sr_engine_emit(e, SR_EV_INVOCATION, NULL, 0, m);
      break;
    case SR_MSG_STREAM_ITEM: {
      sr_call *c = parse_id(&m->invocation_id, &id) ? sr_call_table_get(&e->calls, id) : NULL;
      if (!c) break; /* canceled or unknown: nothing waits for it */
      if (c->kind == SR_CALL_STREAM) {
        sr_engine_emit(e, SR_EV_STREAM_ITEM, NULL, c->token, m);
      } else {
        sr_error_info err;
        sr_error_set(&err, SIGNALR_EPROTO, 0, "The server sent a stream item for a non-streaming invocation.");
        sr_call_table_take(&e->calls, id, &call);
        sr_engine_emit(e, SR_EV_COMPLETION, &err, call.token, NULL);
      }
      break;
    }
    case SR_MSG_COMPLETION:
      if (parse_id(&m->invocation_id, &id) && sr_call_table_take(&e->calls, id, &call))
        sr_engine_emit(e, SR_EV_COMPLETION, NULL, call.token, m);
      break;
    case SR_MSG_CLOSE: {
      sr_error_info err;
      if (m->error.ptr)
        sr_error_set_long(&err, SIGNALR_ECLOSED, 0, "The server closed the connection with the following error: ",
                          m->error.ptr, m->error.len);
      else
        sr_error_set(&err, SIGNALR_ECLOSED, 0, "The server closed the connection.");
      err.allow_reconnect = m->allow_reconnect;
      e->server_closed = !m->allow_reconnect;
      if (!e->close_reason.code) e->clean_close = !m->error.ptr;
      set_reason(e, &err);
      sr_error_release(&err);
      e->io.close(e->io.ud);
      break;
    }
    case SR_MSG_PING:
      sr_diag_ping(&e->diag, now); /* the server's keep-alive, as the doctor observes it */
      break;
    default: /* unknown types are ignored */
      break;
  }
}

void sr_engine_on_data(sr_engine *e, int64_t now, const uint8_t *data, size_t len) {
  if (!e->transport_open || e->close_reason.code) return;
  e->last_received = now;
  e->slow_warned = 0;
  if (e->cfg.raw) { /* no framing, no hub messages: the transport's message as it is */
    if (!e->handshake_done) return;
    sr_hub_message m = {0};
    m.arguments = (sr_payload){data, len, e->binary ? SIGNALR_ENCODING_MSGPACK : SIGNALR_ENCODING_JSON};
    sr_engine_emit(e, SR_EV_RAW, NULL, 0, &m);
    return;
  }
  sr_framer_feed(&e->framer, data, len);
  const uint8_t *msg;
  size_t n;
  int rc;
  while ((rc = sr_framer_next(&e->framer, &msg, &n)) == 1) {
    if (!e->handshake_done) {
      if (handle_handshake(e, now, msg, n)) return;
      continue;
    }
    sr_hub_message m;
    rc = e->binary ? sr_msgpack_decode(&e->decoder, msg, n, &m) : sr_json_decode(&e->decoder, msg, n, &m);
    if (rc) {
      char why[300];
      snprintf(why, sizeof why, "invalid message from the server: %s", e->decoder.error);
      protocol_failure(e, rc == SIGNALR_ENOMEM ? rc : SIGNALR_EPROTO, why);
      return;
    }
    handle_message(e, now, &m);
    if (e->close_reason.code || !e->transport_open) return;
  }
  /* all records of the chunk are handled: nothing points into these buffers any more */
  sr_buf_trim(&e->decoder.scratch, SR_BUF_KEEP_IDLE);
  sr_buf_trim(&e->framer.partial, SR_BUF_KEEP_IDLE);
  if (rc == SIGNALR_ETOOBIG) {
    char why[160];
    snprintf(why, sizeof why, "a message from the server is larger than max_message_size (%zu bytes)",
             e->cfg.max_message_size);
    protocol_failure(e, rc, why);
  } else if (rc < 0) {
    protocol_failure(e, rc, "the server sent malformed framing");
  }
}

/* ---------------------------------------------------------------- closing */

/* Stateful reconnect: an abrupt drop (not a Close message, not our own close) of an
 * established connection re-dials the same connection token at once. */
static int redial(sr_engine *e, int64_t now, const sr_error_info *failure) {
  if (!e->stateful || e->stopping || !failure || e->close_reason.code || !e->handshake_done || e->redialing)
    return 0;
  e->redialing = 1;
  e->redial_attempts = 0;
  e->ack_at = INT64_MAX;
  e->transport = 0;
  open_transport(e, now, SR_TRANSPORT_WEBSOCKETS, e->connection_token);
  return 1; /* dialing, or already handed to connection_lost */
}

/* A re-dial that failed for a passing reason (the server had not yet seen the old socket
 * die, a connect error) is tried again a few times within the server's DisconnectTimeout
 * (15 s by default); a 404 means the server dropped the connection: that is final. */
static int redial_later(sr_engine *e, int64_t now, const sr_error_info *why) {
  static const int32_t delays[] = {100, 250, 500, 1000};
  if (e->stopping || why->code == SIGNALR_ENOTFOUND || why->code == SIGNALR_EAUTH) return 0;
  if (e->redial_attempts >= (int)(sizeof delays / sizeof delays[0])) return 0;
  e->redial_at = now + delays[e->redial_attempts++];
  return 1;
}

static void on_closed(sr_engine *e, int64_t now, const sr_error_info *failure, int was_open, sr_error_info *reason);

void sr_engine_on_closed(sr_engine *e, int64_t now, const sr_error_info *failure) {
  int was_open = e->transport_open;
  e->transport_open = 0;
  e->transport_active = 0;
  if (e->state == SR_STATE_DISCONNECTED) return;
  /* reason holds its own reference to a long text: the close reason may be reset (a new
   * attempt) while it is still being reported */
  sr_error_info reason = {0};
  sr_error_assign(&reason, &e->close_reason);
  on_closed(e, now, failure, was_open, &reason);
  sr_error_release(&reason);
}

static void on_closed(sr_engine *e, int64_t now, const sr_error_info *failure, int was_open, sr_error_info *reason) {
  if (!reason->code && failure && !e->stopping) {
    sr_error_assign(reason, failure);
    if (!reason->hint)
      reason->hint = sr_error_hint_for(was_open                   ? SR_STAGE_CONNECTED
                                      : e->cfg.skip_negotiation ? SR_STAGE_DIRECT
                                                                : SR_STAGE_TRANSPORT,
                                      reason);
  }
  if (e->stopping) {
    closed(e, e->start_pending ? &e->close_reason : NULL);
    return;
  }
  if (e->redialing) { /* the re-dial failed */
    if (redial_later(e, now, reason)) return;
    e->redialing = 0;
    if (!reason->code) sr_error_set(reason, SIGNALR_ECLOSED, 0, "Unable to reconnect to server.");
    connection_lost(e, now, reason);
    return;
  }
  if (!e->handshake_done) {
    if (!reason->code)
      sr_error_set(reason, SIGNALR_ECLOSED, 0,
                   "The underlying connection was closed before the hub handshake could complete.");
    if (!was_open && fall_back(e, now, reason)) return;
    attempt_failed(e, now, reason);
    return;
  }
  if (redial(e, now, failure)) return;
  if (!reason->code) sr_error_set(reason, SIGNALR_ECLOSED, 0, "The server closed the connection.");
  connection_lost(e, now, reason);
}

int sr_engine_stop(sr_engine *e, int64_t now) {
  sr_error_info err;
  switch (e->state) {
    case SR_STATE_DISCONNECTED:
    case SR_STATE_DISCONNECTING:
      return 0;
    case SR_STATE_CONNECTING:
    case SR_STATE_RECONNECTING:
      if (e->state == SR_STATE_CONNECTING)
        sr_error_set(&err, SIGNALR_ECANCELED, 0, e->negotiating ? "The connection was stopped during negotiation."
                                                                : "The connection was stopped before it started.");
      else
        sr_error_set(&err, SIGNALR_ECANCELED, 0, "The connection was stopped during a reconnect.");
      set_reason(e, &err);
      e->stopping = 1;
      e->retry_at = INT64_MAX;
      e->awaiting_retry = 0;
      e->io.close(e->io.ud);
      if (!e->transport_active) { /* nothing to wait for: a negotiate (canceled) or a delay */
        e->negotiating = 0;
        closed(e, e->start_pending ? &e->close_reason : NULL);
      }
      return 0;
    default: {
      sr_hub_message m = {0};
      m.type = SR_MSG_CLOSE;
      if (e->transport_open && !e->cfg.raw) sr_engine_send_message(e, now, &m, 0); /* best effort */
      e->stopping = 1;
      e->state = SR_STATE_DISCONNECTING;
      if (e->transport_active) e->io.close(e->io.ud);
      else closed(e, NULL);
      return 0;
    }
  }
}

/* ---------------------------------------------------------------- timers */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

int64_t sr_engine_deadline(const sr_engine *e) {
  int64_t d = min64(e->retry_at, e->redial_at);
  if (!e->transport_open || e->close_reason.code) return d;
  if (!e->handshake_done) return min64(d, e->handshake_deadline);
  d = min64(d, e->ack_at);
  if (e->transport != SR_TRANSPORT_LONG_POLLING && e->cfg.keep_alive_interval_ms > 0) d = min64(d, e->last_sent + e->cfg.keep_alive_interval_ms);
  if (e->cfg.server_timeout_ms > 0 && !e->rx_paused) {
    d = min64(d, e->last_received + e->cfg.server_timeout_ms);
    if (!e->slow_warned) d = min64(d, e->last_received + (int64_t)e->cfg.server_timeout_ms * 2 / 3);
  }
  return d;
}

void sr_engine_pause_receive(sr_engine *e, int64_t now, int paused) {
  if (e->rx_paused == (paused != 0)) return;
  e->rx_paused = paused != 0;
  if (!e->rx_paused) {
    e->last_received = now;
    e->slow_warned = 0;
  }
}

void sr_engine_on_timer(sr_engine *e, int64_t now) {
  if (now >= e->redial_at) {
    e->redial_at = INT64_MAX;
    open_transport(e, now, SR_TRANSPORT_WEBSOCKETS, e->connection_token);
    return;
  }
  if (now >= e->retry_at) {
    e->retry_at = INT64_MAX;
    begin_attempt(e, now);
    return;
  }
  if (!e->transport_open || e->close_reason.code) return;
  sr_error_info err;
  if (!e->handshake_done) {
    if (now >= e->handshake_deadline) {
      sr_error_set(&err, SIGNALR_ETIMEOUT, 0, "The server did not answer the handshake within %d ms.",
                   (int)e->cfg.handshake_timeout_ms);
      err.hint = sr_error_hint(SR_STAGE_HANDSHAKE, SIGNALR_ETIMEOUT, 0);
      set_reason(e, &err);
      e->io.close(e->io.ud);
    }
    return;
  }
  if (e->cfg.server_timeout_ms > 0 && !e->rx_paused) {
    int64_t quiet = now - e->last_received;
    if (quiet >= e->cfg.server_timeout_ms) {
      sr_error_set(&err, SIGNALR_ETIMEOUT, 0,
                   "Server timeout elapsed without receiving a message from the server (%d ms).",
                   (int)e->cfg.server_timeout_ms);
      err.hint = sr_error_hint(SR_STAGE_CONNECTED, SIGNALR_ETIMEOUT, 0);
      set_reason(e, &err);
      e->io.close(e->io.ud);
      return;
    }
    if (!e->slow_warned && quiet >= (int64_t)e->cfg.server_timeout_ms * 2 / 3) {
      e->slow_warned = 1;
      sr_engine_emit(e, SR_EV_SLOW, NULL, 0, NULL);
    }
  }
  if (now >= e->ack_at) {
    e->ack_at = INT64_MAX;
    if (e->recv_highest > e->acked && !send_control(e, now, SR_MSG_ACK, e->recv_highest)) e->acked = e->recv_highest;
  }
  /* Long Polling never pings: the poll itself tells the server the client is alive. */
  if (e->transport != SR_TRANSPORT_LONG_POLLING && e->cfg.keep_alive_interval_ms > 0 &&
      now - e->last_sent >= e->cfg.keep_alive_interval_ms)
    send_control(e, now, SR_MSG_PING, 0);
}
