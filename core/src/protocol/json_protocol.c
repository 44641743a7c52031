#include "protocol/json_protocol.h"

#include <string.h>

#include "protocol/json_reader.h"
#include "protocol/json_writer.h"
#include "protocol/transcode.h"
#include "signalr/signalr.h"

/* ------------------------------------------------------------------ encode */

int sr_json_write_payload(sr_buf *out, const sr_payload *p) {
  if (p->encoding == SIGNALR_ENCODING_MSGPACK) return sr_msgpack_to_json(p->data, p->len, out);
  if (p->encoding != SIGNALR_ENCODING_JSON) return SIGNALR_EINVAL;
  size_t mark = out->len;
  sr_json_reader r;
  sr_json_reader_init(&r, p->data, p->len);
  int rc = sr_json_value(&r, out);
  if (!rc) {
    sr_json_ws(&r);
    if (r.p != r.end) rc = SIGNALR_EENCODING; /* trailing garbage after the value */
  }
  if (rc) out->len = mark;
  return rc;
}

#define W(call) \
  do { if ((rc = (call)) != 0) goto fail; } while (0)

static int field(sr_buf *out, const char *lit) { return sr_buf_puts(out, lit); }

static int str_field(sr_buf *out, const char *lit, sr_str s) {
  int rc = sr_buf_puts(out, lit);
  return rc ? rc : sr_json_write_string(out, s.ptr, s.len);
}

int sr_json_encode(sr_buf *out, const sr_hub_message *m) {
  size_t mark = out->len;
  int rc = 0;
  int t = m->type;
  if (t < 1 || t > 9) return SIGNALR_EINVAL;
  char head[16] = "{\"type\":0";
  head[8] = (char)('0' + t);
  W(sr_buf_append(out, head, 9));
  if (t <= SR_MSG_CANCEL_INVOCATION && m->header_count) {
    W(field(out, ",\"headers\":{"));
    for (size_t i = 0; i < m->header_count; i++) {
      if (i) W(sr_buf_putc(out, ','));
      W(sr_json_write_string(out, m->headers[i].key.ptr, m->headers[i].key.len));
      W(sr_buf_putc(out, ':'));
      W(sr_json_write_string(out, m->headers[i].value.ptr, m->headers[i].value.len));
    }
    W(sr_buf_putc(out, '}'));
  }
  int needs_id = t == SR_MSG_STREAM_ITEM || t == SR_MSG_COMPLETION ||
                 t == SR_MSG_STREAM_INVOCATION || t == SR_MSG_CANCEL_INVOCATION;
  if (needs_id && !m->invocation_id.ptr) { rc = SIGNALR_EINVAL; goto fail; }
  if (t <= SR_MSG_CANCEL_INVOCATION && m->invocation_id.ptr)
    W(str_field(out, ",\"invocationId\":", m->invocation_id));
  switch (t) {
    case SR_MSG_INVOCATION:
    case SR_MSG_STREAM_INVOCATION:
      if (!m->target.ptr || !m->target.len || !m->arguments.data) { rc = SIGNALR_EINVAL; goto fail; }
      if (!sr_payload_is_array(&m->arguments)) { rc = SIGNALR_EENCODING; goto fail; }
      W(str_field(out, ",\"target\":", m->target));
      W(field(out, ",\"arguments\":"));
      W(sr_json_write_payload(out, &m->arguments));
      if (m->stream_id_count) {
        W(field(out, ",\"streamIds\":["));
        for (size_t i = 0; i < m->stream_id_count; i++) {
          if (i) W(sr_buf_putc(out, ','));
          W(sr_json_write_string(out, m->stream_ids[i].ptr, m->stream_ids[i].len));
        }
        W(sr_buf_putc(out, ']'));
      }
      break;
    case SR_MSG_STREAM_ITEM:
      W(field(out, ",\"item\":"));
      if (m->item.data) W(sr_json_write_payload(out, &m->item));
      else W(field(out, "null"));
      break;
    case SR_MSG_COMPLETION:
      if (m->completion_kind == SR_COMPLETION_ERROR) {
        W(str_field(out, ",\"error\":", m->error));
      } else if (m->completion_kind == SR_COMPLETION_RESULT) {
        W(field(out, ",\"result\":"));
        if (m->result.data) W(sr_json_write_payload(out, &m->result));
        else W(field(out, "null"));
      }
      break;
    case SR_MSG_CLOSE:
      if (m->error.ptr) W(str_field(out, ",\"error\":", m->error));
      if (m->allow_reconnect) W(field(out, ",\"allowReconnect\":true"));
      break;
    case SR_MSG_ACK:
    case SR_MSG_SEQUENCE:
      W(field(out, ",\"sequenceId\":"));
      W(sr_json_write_int64(out, m->sequence_id));
      break;
    default:
      break;
  }
  W(sr_buf_append(out, "}\x1e", 2));
  return 0;
fail:
  out->len = mark;
  return rc;
}

/* ------------------------------------------------------------------ decode */

enum {
  F_TYPE = 1 << 0, F_ID = 1 << 1, F_TARGET = 1 << 2, F_ARGS = 1 << 3, F_ITEM = 1 << 4,
  F_RESULT = 1 << 5, F_ERROR = 1 << 6, F_SEQ = 1 << 7,
};

/* A string field. Escaped strings are decoded into scratch, which decode() sized for the
 * whole record up front so pointers into it stay valid. null counts as absent. */
static int read_str(sr_decoder *d, sr_json_reader *r, sr_str *out, const char *name) {
  sr_json_ws(r);
  if (r->p < r->end && *r->p == 'n' && sr_json_literal(r) == 2) {
    out->ptr = NULL;
    out->len = 0;
    return 0;
  }
  const uint8_t *raw;
  size_t n;
  int esc;
  if (r->p >= r->end || *r->p != '"' || sr_json_string(r, &raw, &n, &esc))
    return sr_decoder_fail(d, SIGNALR_EPROTO, "'%s' must be a string", name);
  if (!esc) {
    out->ptr = (const char *)raw;
    out->len = n;
    return 0;
  }
  uint8_t *dst = d->scratch.data + d->scratch.len;
  out->len = sr_json_unescape(raw, n, dst);
  out->ptr = (const char *)dst;
  d->scratch.len += out->len;
  return 0;
}

static int read_int(sr_decoder *d, sr_json_reader *r, int64_t *v, const char *name) {
  const uint8_t *s;
  size_t n;
  int integer;
  sr_json_ws(r);
  if (sr_json_number(r, &s, &n, &integer) || !integer || sr_json_parse_int64(s, n, v))
    return sr_decoder_fail(d, SIGNALR_EPROTO, "'%s' must be an integer", name);
  return 0;
}

static int read_payload(sr_decoder *d, sr_json_reader *r, sr_payload *p, const char *name) {
  sr_json_ws(r);
  const uint8_t *start = r->p;
  int rc = sr_json_value(r, NULL);
  if (rc == SIGNALR_EDEPTH)
    return sr_decoder_fail(d, rc, "'%s' is nested deeper than %d levels", name, SR_MAX_DEPTH);
  if (rc) return sr_decoder_fail(d, SIGNALR_EPROTO, "'%s' is not valid JSON", name);
  p->data = start;
  p->len = (size_t)(r->p - start);
  p->encoding = SIGNALR_ENCODING_JSON;
  return 0;
}

static int read_stream_ids(sr_decoder *d, sr_json_reader *r, sr_hub_message *m) {
  sr_json_ws(r);
  if (r->p < r->end && *r->p == 'n' && sr_json_literal(r) == 2) return 0;
  if (!sr_json_eat(r, '[')) return sr_decoder_fail(d, SIGNALR_EPROTO, "'streamIds' must be an array");
  size_t n = 0;
  int rc;
  if (!sr_json_eat(r, ']')) {
    do {
      if ((rc = sr_decoder_stream_ids(d, n + 1))) return rc;
      if ((rc = read_str(d, r, &d->stream_ids[n], "streamIds[]"))) return rc;
      if (!d->stream_ids[n].ptr) return sr_decoder_fail(d, SIGNALR_EPROTO, "'streamIds' must hold strings");
      n++;
    } while (sr_json_eat(r, ','));
    if (!sr_json_eat(r, ']')) return sr_decoder_fail(d, SIGNALR_EPROTO, "'streamIds' is not valid JSON");
  }
  m->stream_ids = d->stream_ids;
  m->stream_id_count = n;
  return 0;
}

static int read_headers(sr_decoder *d, sr_json_reader *r, sr_hub_message *m) {
  sr_json_ws(r);
  if (r->p < r->end && *r->p == 'n' && sr_json_literal(r) == 2) return 0;
  if (!sr_json_eat(r, '{')) return sr_decoder_fail(d, SIGNALR_EPROTO, "'headers' must be an object");
  size_t n = 0;
  int rc;
  if (!sr_json_eat(r, '}')) {
    do {
      if ((rc = sr_decoder_headers(d, n + 1))) return rc;
      sr_header *h = &d->headers[n];
      if ((rc = read_str(d, r, &h->key, "headers")) || !h->key.ptr)
        return sr_decoder_fail(d, SIGNALR_EPROTO, "'headers' keys must be strings");
      if (!sr_json_eat(r, ':')) return sr_decoder_fail(d, SIGNALR_EPROTO, "'headers' is not valid JSON");
      if ((rc = read_str(d, r, &h->value, "headers")) || !h->value.ptr)
        return sr_decoder_fail(d, SIGNALR_EPROTO, "'headers' values must be strings");
      n++;
    } while (sr_json_eat(r, ','));
    if (!sr_json_eat(r, '}')) return sr_decoder_fail(d, SIGNALR_EPROTO, "'headers' is not valid JSON");
  }
  m->headers = d->headers;
  m->header_count = n;
  return 0;
}

static int key_is(const uint8_t *k, size_t n, const char *lit) {
  size_t l = strlen(lit);
  return n == l && memcmp(k, lit, l) == 0;
}

static int check_fields(sr_decoder *d, sr_hub_message *m, unsigned seen) {
  const char *name = sr_message_type_name(m->type);
  switch (m->type) {
    case SR_MSG_INVOCATION:
    case SR_MSG_STREAM_INVOCATION:
      if (!m->target.ptr || !m->target.len)
        return sr_decoder_fail(d, SIGNALR_EPROTO, "%s message has no 'target'", name);
      if (!(seen & F_ARGS))
        return sr_decoder_fail(d, SIGNALR_EPROTO, "%s message has no 'arguments'", name);
      if (!sr_payload_is_array(&m->arguments))
        return sr_decoder_fail(d, SIGNALR_EPROTO, "%s message: 'arguments' must be an array", name);
      if (m->type == SR_MSG_STREAM_INVOCATION && !m->invocation_id.ptr)
        return sr_decoder_fail(d, SIGNALR_EPROTO, "%s message has no 'invocationId'", name);
      if (m->invocation_id.ptr && !m->invocation_id.len)
        return sr_decoder_fail(d, SIGNALR_EPROTO, "%s message has an empty 'invocationId'", name);
      break;
    case SR_MSG_STREAM_ITEM:
      if (!(seen & F_ITEM))
        return sr_decoder_fail(d, SIGNALR_EPROTO, "StreamItem message has no 'item'");
      /* fall through */
    case SR_MSG_COMPLETION:
    case SR_MSG_CANCEL_INVOCATION:
      if (!m->invocation_id.ptr)
        return sr_decoder_fail(d, SIGNALR_EPROTO, "%s message has no 'invocationId'", name);
      if (m->type == SR_MSG_COMPLETION) {
        if ((seen & F_RESULT) && m->error.ptr)
          return sr_decoder_fail(d, SIGNALR_EPROTO,
                                 "The 'error' and 'result' properties are mutually exclusive.");
        m->completion_kind = m->error.ptr ? SR_COMPLETION_ERROR
                             : (seen & F_RESULT) ? SR_COMPLETION_RESULT : SR_COMPLETION_VOID;
      }
      break;
    case SR_MSG_ACK:
    case SR_MSG_SEQUENCE:
      if (!(seen & F_SEQ))
        return sr_decoder_fail(d, SIGNALR_EPROTO, "%s message has no 'sequenceId'", name);
      break;
    default:
      break;
  }
  return 0;
}

int sr_json_decode(sr_decoder *d, const uint8_t *rec, size_t len, sr_hub_message *m) {
  memset(m, 0, sizeof *m);
  d->error[0] = 0;
  /* Unescaped text is never longer than the record: one reservation keeps scratch
   * pointers stable for the whole message. */
  d->scratch.len = 0;
  int rc = sr_buf_reserve(&d->scratch, len);
  if (rc) return rc;
  sr_json_reader r;
  sr_json_reader_init(&r, rec, len);
  if (!sr_json_eat(&r, '{')) return sr_decoder_fail(d, SIGNALR_EPROTO, "a hub message must be a JSON object");
  unsigned seen = 0;
  int64_t type = 0;
  if (!sr_json_eat(&r, '}')) {
    do {
      const uint8_t *k;
      size_t kn;
      int esc;
      sr_json_ws(&r);
      if (sr_json_string(&r, &k, &kn, &esc) || !sr_json_eat(&r, ':'))
        return sr_decoder_fail(d, SIGNALR_EPROTO, "the hub message is not valid JSON");
      if (esc) { /* no known key needs escapes; treat as unknown */
        kn = 0;
      }
      if (key_is(k, kn, "type")) {
        if ((rc = read_int(d, &r, &type, "type"))) return rc;
        seen |= F_TYPE;
      } else if (key_is(k, kn, "invocationId")) {
        if ((rc = read_str(d, &r, &m->invocation_id, "invocationId"))) return rc;
      } else if (key_is(k, kn, "target")) {
        if ((rc = read_str(d, &r, &m->target, "target"))) return rc;
      } else if (key_is(k, kn, "arguments")) {
        if ((rc = read_payload(d, &r, &m->arguments, "arguments"))) return rc;
        seen |= F_ARGS;
      } else if (key_is(k, kn, "item")) {
        if ((rc = read_payload(d, &r, &m->item, "item"))) return rc;
        seen |= F_ITEM;
      } else if (key_is(k, kn, "result")) {
        if ((rc = read_payload(d, &r, &m->result, "result"))) return rc;
        seen |= F_RESULT;
      } else if (key_is(k, kn, "error")) {
        if ((rc = read_str(d, &r, &m->error, "error"))) return rc;
      } else if (key_is(k, kn, "streamIds")) {
        if ((rc = read_stream_ids(d, &r, m))) return rc;
      } else if (key_is(k, kn, "headers")) {
        if ((rc = read_headers(d, &r, m))) return rc;
      } else if (key_is(k, kn, "allowReconnect")) {
        sr_json_ws(&r);
        int lit = sr_json_literal(&r);
        if (lit != 0 && lit != 1)
          return sr_decoder_fail(d, SIGNALR_EPROTO, "'allowReconnect' must be a boolean");
        m->allow_reconnect = lit == 0;
      } else if (key_is(k, kn, "sequenceId")) {
        if ((rc = read_int(d, &r, &m->sequence_id, "sequenceId"))) return rc;
        seen |= F_SEQ;
      } else {
        rc = sr_json_value(&r, NULL); /* unknown fields are skipped, but must be JSON */
        if (rc == SIGNALR_EDEPTH) return sr_decoder_fail(d, rc, "a field is nested too deeply");
        if (rc) return sr_decoder_fail(d, SIGNALR_EPROTO, "the hub message is not valid JSON");
      }
    } while (sr_json_eat(&r, ','));
    if (!sr_json_eat(&r, '}')) return sr_decoder_fail(d, SIGNALR_EPROTO, "the hub message is not valid JSON");
  }
  sr_json_ws(&r);
  if (r.p != r.end) return sr_decoder_fail(d, SIGNALR_EPROTO, "unexpected data after the hub message");
  if (!(seen & F_TYPE)) return sr_decoder_fail(d, SIGNALR_EPROTO, "the hub message has no 'type'");
  if (type < 1 || type > 9) {
    memset(m, 0, sizeof *m);
    m->type = type > 0 && type < 1000000 ? (int)type : 0; /* unknown: the caller ignores it */
    return 0;
  }
  m->type = (int)type;
  return check_fields(d, m, seen);
}
