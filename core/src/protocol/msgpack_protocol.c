#include "protocol/msgpack_protocol.h"

#include <msgpack.h>
#include <string.h>

#include "protocol/mp_reader.h"
#include "protocol/transcode.h"
#include "signalr/signalr.h"
#include "util/utf8.h"

size_t sr_varint_encode(uint32_t n, uint8_t out[5]) {
  size_t i = 0;
  do {
    uint8_t b = n & 0x7f;
    n >>= 7;
    out[i++] = (uint8_t)(b | (n ? 0x80 : 0));
  } while (n);
  return i;
}

int sr_msgpack_write_payload(sr_buf *out, const sr_payload *p) {
  if (p->encoding == SIGNALR_ENCODING_JSON) return sr_json_to_msgpack(p->data, p->len, out);
  if (p->encoding != SIGNALR_ENCODING_MSGPACK) return SIGNALR_EINVAL;
  sr_mp_reader r;
  sr_mp_reader_init(&r, p->data, p->len);
  int rc = sr_mp_skip(&r);
  if (!rc && r.p != r.end) rc = SIGNALR_EENCODING;
  return rc ? rc : sr_buf_append(out, p->data, p->len);
}

#define PK(call) \
  do { if ((call) != 0) { rc = SIGNALR_ENOMEM; goto fail; } } while (0)
#define W(call) \
  do { if ((rc = (call)) != 0) goto fail; } while (0)

static int pack_str(msgpack_packer *pk, sr_str s) {
  if (!s.ptr) return msgpack_pack_nil(pk) ? SIGNALR_ENOMEM : 0;
  if (!sr_utf8_valid((const uint8_t *)s.ptr, s.len)) return SIGNALR_EENCODING;
  if (msgpack_pack_str(pk, s.len) || msgpack_pack_str_body(pk, s.ptr, s.len)) return SIGNALR_ENOMEM;
  return 0;
}

static int pack_headers(msgpack_packer *pk, const sr_hub_message *m) {
  int rc;
  if (msgpack_pack_map(pk, m->header_count)) return SIGNALR_ENOMEM;
  for (size_t i = 0; i < m->header_count; i++) {
    if ((rc = pack_str(pk, m->headers[i].key)) || (rc = pack_str(pk, m->headers[i].value))) return rc;
  }
  return 0;
}

int sr_msgpack_encode(sr_buf *out, const sr_hub_message *m) {
  size_t mark = out->len;
  int rc = 0, t = m->type;
  if (t < 1 || t > 9) return SIGNALR_EINVAL;
  int needs_id = t == SR_MSG_STREAM_ITEM || t == SR_MSG_COMPLETION ||
                 t == SR_MSG_STREAM_INVOCATION || t == SR_MSG_CANCEL_INVOCATION;
  if (needs_id && !m->invocation_id.ptr) return SIGNALR_EINVAL;
  /* Most messages are under 128 bytes: reserve the 1-byte prefix and widen it after. */
  W(sr_buf_putc(out, 0));
  size_t body = out->len;
  msgpack_packer pk;
  sr_packer_init(&pk, out);
  switch (t) {
    case SR_MSG_INVOCATION:
    case SR_MSG_STREAM_INVOCATION:
      if (!m->target.ptr || !m->target.len || !m->arguments.data) { rc = SIGNALR_EINVAL; goto fail; }
      if (!sr_payload_is_array(&m->arguments)) { rc = SIGNALR_EENCODING; goto fail; }
      PK(msgpack_pack_array(&pk, m->stream_id_count ? 6 : 5));
      PK(msgpack_pack_int(&pk, t));
      W(pack_headers(&pk, m));
      W(pack_str(&pk, m->invocation_id));
      W(pack_str(&pk, m->target));
      W(sr_msgpack_write_payload(out, &m->arguments));
      if (m->stream_id_count) {
        PK(msgpack_pack_array(&pk, m->stream_id_count));
        for (size_t i = 0; i < m->stream_id_count; i++) W(pack_str(&pk, m->stream_ids[i]));
      }
      break;
    case SR_MSG_STREAM_ITEM:
      PK(msgpack_pack_array(&pk, 4));
      PK(msgpack_pack_int(&pk, t));
      W(pack_headers(&pk, m));
      W(pack_str(&pk, m->invocation_id));
      if (m->item.data) W(sr_msgpack_write_payload(out, &m->item));
      else PK(msgpack_pack_nil(&pk));
      break;
    case SR_MSG_COMPLETION: {
      int kind = m->completion_kind;
      if (kind != SR_COMPLETION_ERROR && kind != SR_COMPLETION_RESULT) kind = SR_COMPLETION_VOID;
      PK(msgpack_pack_array(&pk, kind == SR_COMPLETION_VOID ? 4 : 5));
      PK(msgpack_pack_int(&pk, t));
      W(pack_headers(&pk, m));
      W(pack_str(&pk, m->invocation_id));
      PK(msgpack_pack_int(&pk, kind));
      if (kind == SR_COMPLETION_ERROR) {
        if (!m->error.ptr) { rc = SIGNALR_EINVAL; goto fail; }
        W(pack_str(&pk, m->error));
      } else if (kind == SR_COMPLETION_RESULT) {
        if (m->result.data) W(sr_msgpack_write_payload(out, &m->result));
        else PK(msgpack_pack_nil(&pk));
      }
      break;
    }
    case SR_MSG_CANCEL_INVOCATION:
      PK(msgpack_pack_array(&pk, 3));
      PK(msgpack_pack_int(&pk, t));
      W(pack_headers(&pk, m));
      W(pack_str(&pk, m->invocation_id));
      break;
    case SR_MSG_PING:
      PK(msgpack_pack_array(&pk, 1));
      PK(msgpack_pack_int(&pk, t));
      break;
    case SR_MSG_CLOSE:
      PK(msgpack_pack_array(&pk, m->allow_reconnect ? 3 : 2));
      PK(msgpack_pack_int(&pk, t));
      W(pack_str(&pk, m->error));
      if (m->allow_reconnect) PK(msgpack_pack_true(&pk));
      break;
    default: /* Ack, Sequence */
      PK(msgpack_pack_array(&pk, 2));
      PK(msgpack_pack_int(&pk, t));
      PK(msgpack_pack_int64(&pk, m->sequence_id));
      break;
  }
  size_t n = out->len - body;
  if (n > 0x7fffffff) { rc = SIGNALR_ETOOBIG; goto fail; }
  uint8_t v[5];
  size_t vl = sr_varint_encode((uint32_t)n, v);
  if (vl > 1) {
    W(sr_buf_reserve(out, vl - 1));
    memmove(out->data + body + vl - 1, out->data + body, n);
    out->len += vl - 1;
  }
  memcpy(out->data + mark, v, vl);
  return 0;
fail:
  out->len = mark;
  return rc;
}

/* ------------------------------------------------------------------ decode */

#define BAD(...) return sr_decoder_fail(d, SIGNALR_EPROTO, __VA_ARGS__)

static int rd_str(sr_decoder *d, sr_mp_reader *r, sr_str *s, int nil_ok, const char *what) {
  sr_mp_item it;
  if (sr_mp_next(r, &it)) BAD("%s: truncated MessagePack", what);
  if (it.kind == SR_MP_NIL && nil_ok) { s->ptr = NULL; s->len = 0; return 0; }
  if (it.kind != SR_MP_STR) BAD("%s must be a string", what);
  if (!sr_utf8_valid(it.data, it.len)) BAD("%s is not valid UTF-8", what);
  s->ptr = it.len ? (const char *)it.data : "";
  s->len = it.len;
  return 0;
}

static int rd_headers(sr_decoder *d, sr_mp_reader *r, sr_hub_message *m) {
  sr_mp_item it;
  if (sr_mp_next(r, &it)) BAD("headers: truncated MessagePack");
  if (it.kind != SR_MP_MAP) BAD("headers must be a map");
  int rc;
  if ((rc = sr_decoder_headers(d, it.len))) return rc;
  for (uint32_t i = 0; i < it.len; i++) {
    if ((rc = rd_str(d, r, &d->headers[i].key, 0, "a header name")) ||
        (rc = rd_str(d, r, &d->headers[i].value, 0, "a header value")))
      return rc;
  }
  m->headers = d->headers;
  m->header_count = it.len;
  return 0;
}

static int rd_payload(sr_decoder *d, sr_mp_reader *r, sr_payload *p, const char *what) {
  const uint8_t *start = r->p;
  int rc = sr_mp_skip(r);
  if (rc == SIGNALR_EDEPTH) return sr_decoder_fail(d, rc, "%s is nested too deeply", what);
  if (rc) BAD("%s is not valid MessagePack", what);
  p->data = start;
  p->len = (size_t)(r->p - start);
  p->encoding = SIGNALR_ENCODING_MSGPACK;
  return 0;
}

static int rd_int(sr_decoder *d, sr_mp_reader *r, int64_t *v, const char *what) {
  if (sr_mp_read_int64(r, v)) BAD("%s must be an integer", what);
  return 0;
}

int sr_msgpack_decode(sr_decoder *d, const uint8_t *body, size_t len, sr_hub_message *m) {
  memset(m, 0, sizeof *m);
  d->error[0] = 0;
  sr_mp_reader r;
  sr_mp_reader_init(&r, body, len);
  sr_mp_item arr;
  if (sr_mp_next(&r, &arr) || arr.kind != SR_MP_ARRAY || arr.len == 0)
    BAD("a hub message must be a non-empty MessagePack array");
  int64_t type;
  int rc;
  if ((rc = rd_int(d, &r, &type, "the message type"))) return rc;
  static const uint32_t min_len[10] = {0, 5, 4, 4, 5, 3, 1, 2, 2, 2};
  if (type < 1 || type > 9) {
    m->type = type > 0 && type < 1000000 ? (int)type : 0; /* unknown: ignored by the caller */
    return 0;
  }
  m->type = (int)type;
  const char *name = sr_message_type_name(m->type);
  if (arr.len < min_len[type]) BAD("%s message has %u elements, expected at least %u", name, arr.len, min_len[type]);
  switch (m->type) {
    case SR_MSG_INVOCATION:
    case SR_MSG_STREAM_INVOCATION:
      if ((rc = rd_headers(d, &r, m)) ||
          (rc = rd_str(d, &r, &m->invocation_id, m->type == SR_MSG_INVOCATION, "invocationId")) ||
          (rc = rd_str(d, &r, &m->target, 0, "target")) ||
          (rc = rd_payload(d, &r, &m->arguments, "arguments")))
        return rc;
      /* The server treats an empty id as none (non-blocking). */
      if (m->invocation_id.ptr && !m->invocation_id.len) {
        if (m->type == SR_MSG_STREAM_INVOCATION) BAD("%s message has an empty invocationId", name);
        m->invocation_id.ptr = NULL;
      }
      if (!m->target.len) BAD("%s message has an empty target", name);
      if (!sr_payload_is_array(&m->arguments))
        BAD("%s message: arguments must be an array", name);
      if (arr.len >= 6) {
        sr_mp_item ids;
        if (sr_mp_next(&r, &ids)) BAD("streamIds: truncated MessagePack");
        if (ids.kind == SR_MP_ARRAY) {
          if ((rc = sr_decoder_stream_ids(d, ids.len))) return rc;
          for (uint32_t i = 0; i < ids.len; i++)
            if ((rc = rd_str(d, &r, &d->stream_ids[i], 0, "a stream id"))) return rc;
          m->stream_ids = d->stream_ids;
          m->stream_id_count = ids.len;
        } else if (ids.kind != SR_MP_NIL) {
          BAD("streamIds must be an array");
        }
      }
      break;
    case SR_MSG_STREAM_ITEM:
      if ((rc = rd_headers(d, &r, m)) || (rc = rd_str(d, &r, &m->invocation_id, 0, "invocationId")) ||
          (rc = rd_payload(d, &r, &m->item, "item")))
        return rc;
      break;
    case SR_MSG_COMPLETION: {
      int64_t kind;
      if ((rc = rd_headers(d, &r, m)) || (rc = rd_str(d, &r, &m->invocation_id, 0, "invocationId")) ||
          (rc = rd_int(d, &r, &kind, "the result kind")))
        return rc;
      if (kind < 1 || kind > 3) BAD("Completion message has an invalid result kind %lld", (long long)kind);
      m->completion_kind = (int)kind;
      if (kind != SR_COMPLETION_VOID && arr.len < 5) BAD("Completion message has no result");
      if (kind == SR_COMPLETION_ERROR && (rc = rd_str(d, &r, &m->error, 0, "error"))) return rc;
      if (kind == SR_COMPLETION_RESULT && (rc = rd_payload(d, &r, &m->result, "result"))) return rc;
      break;
    }
    case SR_MSG_CANCEL_INVOCATION:
      if ((rc = rd_headers(d, &r, m)) || (rc = rd_str(d, &r, &m->invocation_id, 0, "invocationId")))
        return rc;
      break;
    case SR_MSG_PING:
      break;
    case SR_MSG_CLOSE:
      if ((rc = rd_str(d, &r, &m->error, 1, "error"))) return rc;
      if (arr.len >= 3) {
        sr_mp_item b;
        if (sr_mp_next(&r, &b) || (b.kind != SR_MP_BOOL && b.kind != SR_MP_NIL))
          BAD("allowReconnect must be a boolean");
        m->allow_reconnect = b.kind == SR_MP_BOOL && b.boolean;
      }
      break;
    default: /* Ack, Sequence */
      if ((rc = rd_int(d, &r, &m->sequence_id, "sequenceId"))) return rc;
      break;
  }
  /* Validate whatever trailing elements a newer peer added, so nothing past them is
   * mistaken for a message. */
  uint32_t consumed = 0;
  switch (m->type) {
    case SR_MSG_INVOCATION: case SR_MSG_STREAM_INVOCATION: consumed = arr.len >= 6 ? 6 : 5; break;
    case SR_MSG_STREAM_ITEM: consumed = 4; break;
    case SR_MSG_COMPLETION: consumed = m->completion_kind == SR_COMPLETION_VOID ? 4 : 5; break;
    case SR_MSG_CANCEL_INVOCATION: consumed = 3; break;
    case SR_MSG_PING: consumed = 1; break;
    case SR_MSG_CLOSE: consumed = arr.len >= 3 ? 3 : 2; break;
    default: consumed = 2; break;
  }
  for (uint32_t i = consumed; i < arr.len; i++) {
    rc = sr_mp_skip(&r);
    if (rc) BAD("%s message has malformed extra elements", name);
  }
  if (r.p != r.end) BAD("unexpected data after the %s message", name);
  return 0;
}
