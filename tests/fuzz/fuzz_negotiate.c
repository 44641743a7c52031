/* sr_negotiate_parse on the whole input as an HTTP body, then sr_negotiate_url and
 * sr_transport_url with strings cut from the input (base URL up to the first '\n' or NUL,
 * token after it) and with the strings the parsed response holds. */
#include "fuzz_common.h"
#include "protocol/negotiate.h"

static int is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

static void check_c_string(const sr_buf *out, const char *what) {
  FUZZ_CHECK(out->cap > out->len && out->data[out->len] == 0, "%s: not NUL-terminated", what);
  FUZZ_CHECK(strlen((const char *)out->data) == out->len, "%s: NUL inside", what);
}

static void urls(const char *base, const char *token, uint8_t sel) {
  sr_buf out = SR_BUF_INIT;
  int version = sel % 3, stateful = (sel >> 2) & 1;
  int rc = sr_negotiate_url(&out, base, version, stateful);
  if (!*base) {
    FUZZ_CHECK(rc == SIGNALR_EINVAL, "empty base URL accepted (%d)", rc);
  } else {
    FUZZ_CHECK(rc == 0, "negotiate url failed (%d)", rc);
    check_c_string(&out, "negotiate url");
    FUZZ_CHECK(strstr((const char *)out.data, "negotiate"), "no 'negotiate' in %s", out.data);
    FUZZ_CHECK(strstr((const char *)out.data, "negotiateVersion") ||
                   strcasestr((const char *)out.data, "negotiateversion"),
               "no negotiateVersion in %s", out.data);
    /* Everything before the query (and fragment) is kept as written. */
    size_t q = strcspn(base, "?#");
    FUZZ_CHECK(!strncmp((const char *)out.data, base, q), "path not kept: %s -> %s", base,
               out.data);
  }
  static const int transports[] = {SR_TRANSPORT_WEBSOCKETS, SR_TRANSPORT_SSE,
                                   SR_TRANSPORT_LONG_POLLING, 0};
  int transport = transports[(sel >> 3) & 3];
  for (int with_token = 0; with_token < 2; with_token++) {
    out.len = 0;
    const char *tok = with_token ? token : NULL;
    rc = sr_transport_url(&out, base, tok, transport);
    if (!*base) {
      FUZZ_CHECK(rc == SIGNALR_EINVAL, "empty base URL accepted (%d)", rc);
      continue;
    }
    FUZZ_CHECK(rc == 0, "transport url failed (%d)", rc);
    check_c_string(&out, "transport url");
    if (tok) {
      const char *id = strstr((const char *)out.data, "id=");
      FUZZ_CHECK(id, "no id= in %s", out.data);
      /* The encoded token ends the URL (the base's fragment is dropped): every byte of it
       * is unreserved or part of a %XX escape. */
      size_t el = 0;
      for (const unsigned char *t = (const unsigned char *)tok; *t; t++)
        el += is_unreserved(*t) ? 1 : 3;
      FUZZ_CHECK(out.len >= el, "transport url shorter than the encoded token");
      const char *enc = (const char *)out.data + out.len - el;
      for (size_t i = 0; i < el; i++) {
        unsigned char c = (unsigned char)enc[i];
        FUZZ_CHECK(is_unreserved(c) || c == '%' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'),
                   "token not percent-encoded: %s", enc);
      }
    }
  }
  sr_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *body = (char *)fuzz_dup(data, size);
  sr_negotiate_response r;
  char err[256];
  int rc = sr_negotiate_parse(body, size, &r, err, sizeof err);
  if (rc == 0) {
    switch (r.kind) {
      case SR_NEGOTIATE_OK:
        FUZZ_CHECK(r.connection_id && r.connection_token, "ok without id/token");
        FUZZ_CHECK(r.negotiate_version >= 1 || !strcmp(r.connection_id, r.connection_token),
                   "version 0: token must be the id");
        FUZZ_CHECK(r.transports || !r.transport_count, "transport count without transports");
        for (size_t i = 0; i < r.transport_count; i++) {
          FUZZ_CHECK(r.transports[i].name, "transport without a name");
          FUZZ_CHECK(sr_transport_from_name(r.transports[i].name) == r.transports[i].transport,
                     "transport bit mismatch");
          FUZZ_CHECK(!(r.transports[i].formats & ~(SR_FORMAT_TEXT | SR_FORMAT_BINARY)),
                     "unknown format bits");
        }
        break;
      case SR_NEGOTIATE_REDIRECT:
        FUZZ_CHECK(r.url && *r.url, "redirect without a url");
        break;
      case SR_NEGOTIATE_SERVER_ERROR:
        FUZZ_CHECK(r.error, "server error without text");
        break;
      default:
        FUZZ_CHECK(0, "unknown kind %d", r.kind);
    }
  } else {
    FUZZ_CHECK(rc == SIGNALR_ENEGOTIATE || rc == SIGNALR_ELEGACY, "unexpected result %d", rc);
    FUZZ_CHECK(err[0], "error %d without a reason", rc);
  }

  /* URLs from the input: base up to the first '\n' (or NUL), token after it. */
  uint8_t sel = size ? data[size - 1] : 0;
  char *nl = memchr(body, '\n', size);
  char *base = malloc(size + 1);
  if (!base) abort();
  memcpy(base, data, size);
  base[size] = 0;
  const char *token = "";
  if (nl) {
    base[nl - body] = 0;
    token = base + (nl - body) + 1;
  }
  urls(base, token, sel);
  if (rc == 0 && r.kind == SR_NEGOTIATE_OK) urls(base, r.connection_token, sel);
  if (rc == 0 && r.kind == SR_NEGOTIATE_REDIRECT)
    urls(r.url, r.access_token ? r.access_token : "", sel);

  sr_negotiate_response_clear(&r);
  free(base);
  free(body);
  return 0;
}
