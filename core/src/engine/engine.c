#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/handshake.h"
#include "protocol/json_protocol.h"
#include "protocol/msgpack_protocol.h"
#include "signalr/signalr.h"

void sr_engine_config_defaults(sr_engine_config *c) {
  memset(c, 0, sizeof *c);
  c->protocol = SIGNALR_ENCODING_JSON;
  c->handshake_timeout_ms = 15000;
  c->server_timeout_ms = 30000;
  c->keep_alive_interval_ms = 15000;
  c->max_message_size = SR_DEFAULT_MAX_MESSAGE_SIZE;
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
  e->io = *io;
  e->next_id = 1;
  sr_framer_init(&e->framer, SR_FRAMING_TEXT, e->cfg.max_message_size);
  sr_decoder_init(&e->decoder);
  return 0;
}

void sr_engine_free(sr_engine *e) {
  free(e->cfg.url);
  free(e->base_url);
  free(e->bearer);
  free(e->connection_id);
  sr_call_table_free(&e->calls);
  sr_framer_free(&e->framer);
  sr_decoder_free(&e->decoder);
  sr_buf_free(&e->out);
  sr_buf_free(&e->scratch);
  memset(e, 0, sizeof *e);
}

static void emit(sr_engine *e, int type, const sr_error_info *err, uint64_t call, const sr_hub_message *msg) {
  sr_engine_event ev = {type, err, call, msg};
  e->io.event(e->io.ud, &ev);
}

/* Records why the connection is going down; the first reason wins. */
static void set_reason(sr_engine *e, const sr_error_info *why) {
  if (!e->close_reason.code) e->close_reason = *why;
}

/* ---------------------------------------------------------------- sending */

static int send_message(sr_engine *e, int64_t now, const sr_hub_message *m) {
  if (!e->transport_open || !e->handshake_done) return SIGNALR_ESTATE;
  e->out.len = 0;
  int rc = e->binary ? sr_msgpack_encode(&e->out, m) : sr_json_encode(&e->out, m);
  if (rc) return rc;
  rc = e->io.send(e->io.ud, e->out.data, e->out.len);
  if (!rc) e->last_sent = now;
  return rc;
}

static int send_ping(sr_engine *e, int64_t now) {
  sr_hub_message m = {0};
  m.type = SR_MSG_PING;
  return send_message(e, now, &m);
}

/* ---------------------------------------------------------------- start */

static void finish_start(sr_engine *e, const sr_error_info *err) {
  if (!e->start_pending) return;
  e->start_pending = 0;
  emit(e, SR_EV_START_COMPLETED, err, 0, NULL);
}

/* The start failed before any transport was open: back to disconnected. */
static void fail_start(sr_engine *e, const sr_error_info *err) {
  e->state = SR_STATE_DISCONNECTED;
  e->negotiating = 0;
  finish_start(e, err);
}

static void do_negotiate(sr_engine *e) {
  e->scratch.len = 0;
  int rc = sr_negotiate_url(&e->scratch, e->base_url, 1, 0);
  if (!rc) {
    e->negotiating = 1;
    rc = e->io.negotiate(e->io.ud, (const char *)e->scratch.data, e->bearer);
  }
  if (rc) {
    e->negotiating = 0;
    sr_error_info err;
    sr_error_set(&err, rc, 0, "could not send the negotiate request: %s", signalr_strerror(rc));
    fail_start(e, &err);
  }
}

static void open_transport(sr_engine *e, int transport, const char *token) {
  e->scratch.len = 0;
  int rc = sr_transport_url(&e->scratch, e->base_url, token, transport);
  e->transport = transport;
  e->handshake_done = 0;
  sr_framer_free(&e->framer);
  sr_framer_init(&e->framer, SR_FRAMING_TEXT, e->cfg.max_message_size);
  if (!rc) rc = e->io.open(e->io.ud, transport, (const char *)e->scratch.data, e->bearer, e->binary);
  if (rc) {
    sr_error_info err;
    sr_error_set(&err, rc, 0, "could not start the %s transport: %s", sr_transport_name(transport),
                 signalr_strerror(rc));
    fail_start(e, &err);
  }
}

int sr_engine_start(sr_engine *e, int64_t now) {
  if (e->state != SR_STATE_DISCONNECTED) return SIGNALR_ESTATE;
  if (e->cfg.skip_negotiation && e->cfg.transports != SR_TRANSPORT_WEBSOCKETS) return SIGNALR_EINVAL;
  set_str(&e->base_url, e->cfg.url);
  set_str(&e->bearer, NULL);
  set_str(&e->connection_id, NULL);
  if (!e->base_url) return SIGNALR_ENOMEM;
  e->binary = e->cfg.protocol == SIGNALR_ENCODING_MSGPACK;
  e->state = SR_STATE_CONNECTING;
  e->redirects = 0;
  e->stopping = 0;
  e->transport = 0;
  e->start_pending = 1;
  memset(&e->close_reason, 0, sizeof e->close_reason);
  e->last_received = e->last_sent = now;
  if (e->cfg.skip_negotiation) open_transport(e, SR_TRANSPORT_WEBSOCKETS, NULL);
  else do_negotiate(e);
  return 0;
}

static int pick_transport(const sr_engine *e, const sr_negotiate_response *r) {
  int need = e->binary ? SR_FORMAT_BINARY : SR_FORMAT_TEXT;
  for (size_t i = 0; i < r->transport_count; i++) {
    const sr_negotiate_transport *t = &r->transports[i];
    if (t->transport && (t->transport & e->cfg.transports) && (t->formats & need)) return t->transport;
  }
  return 0;
}

void sr_engine_on_negotiate(sr_engine *e, int64_t now, int status, const char *body, size_t len,
                            const sr_error_info *failure) {
  (void)now;
  if (!e->negotiating) return; /* canceled */
  e->negotiating = 0;
  sr_error_info err;
  if (failure) {
    err = *failure;
    if (!err.hint) err.hint = sr_error_hint(SR_STAGE_NEGOTIATE, err.code, err.http_status);
    fail_start(e, &err);
    return;
  }
  if (status != 200) {
    sr_error_set(&err, sr_error_code_for_http(status), status,
                 "Unexpected status code returned from negotiate '%d'", status);
    err.hint = sr_error_hint(SR_STAGE_NEGOTIATE, err.code, status);
    fail_start(e, &err);
    return;
  }
  sr_negotiate_response r;
  char why[256];
  int rc = sr_negotiate_parse(body, len, &r, why, sizeof why);
  if (rc) {
    sr_error_set(&err, rc, status, "%s", rc == SIGNALR_ENOMEM ? signalr_strerror(rc) : why);
    err.hint = sr_error_hint(SR_STAGE_NEGOTIATE, rc, 0);
  } else if (r.kind == SR_NEGOTIATE_SERVER_ERROR) {
    sr_error_set(&err, SIGNALR_ENEGOTIATE, status, "%s", r.error);
    rc = SIGNALR_ENEGOTIATE;
  } else if (r.kind == SR_NEGOTIATE_REDIRECT) {
    if (++e->redirects > SR_MAX_NEGOTIATE_REDIRECTS) {
      sr_error_set(&err, SIGNALR_EREDIRECT, 0, "Negotiate redirection limit exceeded.");
      err.hint = sr_error_hint(SR_STAGE_NEGOTIATE, SIGNALR_EREDIRECT, 0);
      rc = SIGNALR_EREDIRECT;
    } else {
      set_str(&e->base_url, r.url);
      /* The redirect's token authenticates the next negotiate and the transport. */
      if (r.access_token) set_str(&e->bearer, r.access_token);
      sr_negotiate_response_clear(&r);
      do_negotiate(e);
      return;
    }
  } else {
    int t = pick_transport(e, &r);
    if (!t) {
      sr_error_set(&err, SIGNALR_EUNSUPPORTED, 0,
                   "None of the transports supported by the client are supported by the server.");
      rc = SIGNALR_EUNSUPPORTED;
    } else {
      set_str(&e->connection_id, r.connection_id);
      char *token = dup_str(r.connection_token);
      sr_negotiate_response_clear(&r);
      open_transport(e, t, token);
      free(token);
      return;
    }
  }
  sr_negotiate_response_clear(&r);
  fail_start(e, &err);
}

void sr_engine_on_open(sr_engine *e, int64_t now) {
  if (e->state != SR_STATE_CONNECTING) return;
  e->transport_open = 1;
  e->out.len = 0;
  int rc = sr_handshake_write_request(&e->out, e->binary ? "messagepack" : "json", 1);
  if (!rc) rc = e->io.send(e->io.ud, e->out.data, e->out.len);
  e->last_sent = e->last_received = now;
  e->handshake_deadline = now + e->cfg.handshake_timeout_ms;
  if (rc) {
    sr_error_info err;
    sr_error_set(&err, rc, 0, "could not send the handshake: %s", signalr_strerror(rc));
    set_reason(e, &err);
    e->io.close(e->io.ud);
  }
}

/* ---------------------------------------------------------------- receiving */

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
  e->handshake_done = 1;
  e->state = SR_STATE_CONNECTED;
  e->slow_warned = 0;
  if (e->binary) sr_framer_set_kind(&e->framer, SR_FRAMING_BINARY);
  /* The first Ping arms the server's client timeout. */
  send_ping(e, now);
  finish_start(e, NULL);
  return 0;
}

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

static void handle_message(sr_engine *e, int64_t now, const sr_hub_message *m) {
  uint64_t id;
  sr_call call;
  switch (m->type) {
    case SR_MSG_INVOCATION:
      emit(e, SR_EV_INVOCATION, NULL, 0, m);
      break;
    case SR_MSG_STREAM_ITEM: {
      sr_call *c = parse_id(&m->invocation_id, &id) ? sr_call_table_get(&e->calls, id) : NULL;
      if (!c) break; /* canceled or unknown: nothing waits for it */
      if (c->kind == SR_CALL_STREAM) {
        emit(e, SR_EV_STREAM_ITEM, NULL, c->token, m);
      } else {
        sr_error_info err;
        sr_error_set(&err, SIGNALR_EPROTO, 0, "The server sent a stream item for a non-streaming invocation.");
        sr_call_table_take(&e->calls, id, &call);
        emit(e, SR_EV_COMPLETION, &err, call.token, NULL);
      }
      break;
    }
    case SR_MSG_COMPLETION:
      if (parse_id(&m->invocation_id, &id) && sr_call_table_take(&e->calls, id, &call))
        emit(e, SR_EV_COMPLETION, NULL, call.token, m);
      break;
    case SR_MSG_CLOSE: {
      sr_error_info err;
      if (m->error.ptr)
        sr_error_set(&err, SIGNALR_ECLOSED, 0, "The server closed the connection with the following error: %.*s",
                     (int)m->error.len, m->error.ptr);
      else
        sr_error_set(&err, SIGNALR_ECLOSED, 0, "The server closed the connection.");
      err.allow_reconnect = m->allow_reconnect;
      set_reason(e, &err);
      e->io.close(e->io.ud);
      break;
    }
    default: /* Ping; Ack/Sequence belong to stateful reconnect; unknown types are ignored */
      break;
  }
  (void)now;
}

void sr_engine_on_data(sr_engine *e, int64_t now, const uint8_t *data, size_t len) {
  if (!e->transport_open || e->close_reason.code) return;
  e->last_received = now;
  e->slow_warned = 0;
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

static void fail_pending_calls(sr_engine *e) {
  sr_error_info err;
  sr_error_set(&err, SIGNALR_ECLOSED, 0, "Invocation canceled due to the underlying connection being closed.");
  sr_call call;
  while (sr_call_table_pop(&e->calls, &call)) emit(e, SR_EV_COMPLETION, &err, call.token, NULL);
}

void sr_engine_on_closed(sr_engine *e, int64_t now, const sr_error_info *failure) {
  (void)now;
  int was_open = e->transport_open;
  e->transport_open = 0;
  if (e->state == SR_STATE_DISCONNECTED) return;
  sr_error_info reason = e->close_reason;
  if (!reason.code && failure && !e->stopping) {
    reason = *failure;
    if (!reason.hint)
      reason.hint = sr_error_hint(was_open ? SR_STAGE_CONNECTED : SR_STAGE_TRANSPORT, reason.code,
                                  reason.http_status);
  }
  if (!reason.code && !e->stopping && e->start_pending)
    sr_error_set(&reason, SIGNALR_ECLOSED, 0,
                 "The underlying connection was closed before the hub handshake could complete.");
  if (!reason.code && !e->stopping && !e->start_pending)
    sr_error_set(&reason, SIGNALR_ECLOSED, 0, "The server closed the connection.");
  e->state = SR_STATE_DISCONNECTED;
  e->handshake_done = 0;
  if (e->start_pending) {
    finish_start(e, reason.code ? &reason : NULL);
    return;
  }
  fail_pending_calls(e);
  emit(e, SR_EV_CLOSED, reason.code ? &reason : NULL, 0, NULL);
}

int sr_engine_stop(sr_engine *e, int64_t now) {
  switch (e->state) {
    case SR_STATE_DISCONNECTED:
    case SR_STATE_DISCONNECTING:
      return 0;
    case SR_STATE_CONNECTING: {
      sr_error_info err;
      sr_error_set(&err, SIGNALR_ECANCELED, 0, e->negotiating ? "The connection was stopped during negotiation."
                                                              : "The connection was stopped before it started.");
      set_reason(e, &err);
      e->stopping = 1;
      e->io.close(e->io.ud);
      if (e->negotiating || !e->transport) { /* no transport to wait for */
        e->negotiating = 0;
        fail_start(e, &e->close_reason);
      }
      return 0;
    }
    default: {
      sr_hub_message m = {0};
      m.type = SR_MSG_CLOSE;
      send_message(e, now, &m); /* best effort: the transport is closed either way */
      e->stopping = 1;
      e->state = SR_STATE_DISCONNECTING;
      e->io.close(e->io.ud);
      return 0;
    }
  }
}

/* ---------------------------------------------------------------- timers */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

int64_t sr_engine_deadline(const sr_engine *e) {
  int64_t d = INT64_MAX;
  if (!e->transport_open || e->close_reason.code) return d;
  if (!e->handshake_done) return e->handshake_deadline;
  if (e->cfg.keep_alive_interval_ms > 0) d = min64(d, e->last_sent + e->cfg.keep_alive_interval_ms);
  if (e->cfg.server_timeout_ms > 0) {
    d = min64(d, e->last_received + e->cfg.server_timeout_ms);
    if (!e->slow_warned) d = min64(d, e->last_received + (int64_t)e->cfg.server_timeout_ms * 2 / 3);
  }
  return d;
}

void sr_engine_on_timer(sr_engine *e, int64_t now) {
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
  if (e->cfg.server_timeout_ms > 0) {
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
      emit(e, SR_EV_SLOW, NULL, 0, NULL);
    }
  }
  if (e->cfg.keep_alive_interval_ms > 0 && now - e->last_sent >= e->cfg.keep_alive_interval_ms) send_ping(e, now);
}

/* ---------------------------------------------------------------- hub operations */

static int format_id(uint64_t id, char *out, size_t outlen) {
  int n = snprintf(out, outlen, "%llu", (unsigned long long)id);
  return n > 0 && (size_t)n < outlen ? 0 : SIGNALR_EINVAL;
}

static int check_target(const char *target) { return target && *target ? 0 : SIGNALR_EINVAL; }

int sr_engine_send(sr_engine *e, int64_t now, const char *target, const sr_payload *args,
                   const sr_str *stream_ids, size_t stream_count) {
  if (check_target(target) || !args) return SIGNALR_EINVAL;
  if (e->state != SR_STATE_CONNECTED) return SIGNALR_ESTATE;
  sr_hub_message m = {0};
  m.type = SR_MSG_INVOCATION;
  m.target = (sr_str){target, strlen(target)};
  m.arguments = *args;
  m.stream_ids = stream_ids;
  m.stream_id_count = stream_count;
  return send_message(e, now, &m);
}

int sr_engine_invoke(sr_engine *e, int64_t now, int kind, const char *target, const sr_payload *args,
                     const sr_str *stream_ids, size_t stream_count, uint64_t token) {
  if (check_target(target) || !args || (kind != SR_CALL_INVOKE && kind != SR_CALL_STREAM)) return SIGNALR_EINVAL;
  if (e->state != SR_STATE_CONNECTED) return SIGNALR_ESTATE;
  uint64_t id = e->next_id++;
  char ids[24];
  format_id(id, ids, sizeof ids);
  sr_hub_message m = {0};
  m.type = kind == SR_CALL_STREAM ? SR_MSG_STREAM_INVOCATION : SR_MSG_INVOCATION;
  m.invocation_id = (sr_str){ids, strlen(ids)};
  m.target = (sr_str){target, strlen(target)};
  m.arguments = *args;
  m.stream_ids = stream_ids;
  m.stream_id_count = stream_count;
  int rc = sr_call_table_put(&e->calls, id, token, kind);
  if (rc) return rc;
  rc = send_message(e, now, &m);
  if (rc) {
    sr_call c;
    sr_call_table_take(&e->calls, id, &c);
  }
  return rc;
}

int sr_engine_cancel(sr_engine *e, int64_t now, uint64_t token) {
  for (size_t i = 0; i < e->calls.cap; i++) {
    sr_call *c = &e->calls.slots[i];
    if (!c->id || c->token != token) continue;
    if (c->kind != SR_CALL_STREAM) return SIGNALR_EINVAL;
    sr_call call;
    sr_call_table_take(&e->calls, c->id, &call);
    char ids[24];
    format_id(call.id, ids, sizeof ids);
    sr_hub_message m = {0};
    m.type = SR_MSG_CANCEL_INVOCATION;
    m.invocation_id = (sr_str){ids, strlen(ids)};
    int rc = send_message(e, now, &m);
    sr_error_info err;
    sr_error_set(&err, SIGNALR_ECANCELED, 0, "The stream was canceled.");
    emit(e, SR_EV_COMPLETION, &err, call.token, NULL);
    return rc;
  }
  return SIGNALR_EINVAL;
}

int sr_engine_new_stream_id(sr_engine *e, char *out, size_t outlen) {
  return format_id(e->next_id++, out, outlen);
}

int sr_engine_stream_item(sr_engine *e, int64_t now, const char *stream_id, const sr_payload *item) {
  if (!stream_id || !item) return SIGNALR_EINVAL;
  if (e->state != SR_STATE_CONNECTED) return SIGNALR_ESTATE;
  sr_hub_message m = {0};
  m.type = SR_MSG_STREAM_ITEM;
  m.invocation_id = (sr_str){stream_id, strlen(stream_id)};
  m.item = *item;
  return send_message(e, now, &m);
}

int sr_engine_stream_complete(sr_engine *e, int64_t now, const char *stream_id, const char *error) {
  if (!stream_id) return SIGNALR_EINVAL;
  if (e->state != SR_STATE_CONNECTED) return SIGNALR_ESTATE;
  sr_hub_message m = {0};
  m.type = SR_MSG_COMPLETION;
  m.invocation_id = (sr_str){stream_id, strlen(stream_id)};
  m.completion_kind = error ? SR_COMPLETION_ERROR : SR_COMPLETION_VOID;
  if (error) m.error = (sr_str){error, strlen(error)};
  return send_message(e, now, &m);
}

int sr_engine_client_result(sr_engine *e, int64_t now, const sr_str *invocation_id, const sr_payload *result,
                            const char *error) {
  if (!invocation_id || !invocation_id->ptr) return SIGNALR_EINVAL;
  if (e->state != SR_STATE_CONNECTED) return SIGNALR_ESTATE;
  sr_hub_message m = {0};
  m.type = SR_MSG_COMPLETION;
  m.invocation_id = *invocation_id;
  if (error) {
    m.completion_kind = SR_COMPLETION_ERROR;
    m.error = (sr_str){error, strlen(error)};
  } else {
    m.completion_kind = SR_COMPLETION_RESULT;
    if (result) m.result = *result;
  }
  return send_message(e, now, &m);
}
