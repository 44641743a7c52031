#include "protocol/negotiate.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "signalr/signalr.h"
#include "util/url.h"

int sr_negotiate_url(sr_buf *out, const char *base, int version, int stateful) {
  if (!base || !*base) return SIGNALR_EINVAL;
  size_t len = strlen(base), q, f, mark = out->len;
  sr_url_split(base, len, &q, &f);
  int rc = sr_buf_append(out, base, q);
  if (!rc && (q == 0 || base[q - 1] != '/')) rc = sr_buf_putc(out, '/');
  if (!rc) rc = sr_buf_puts(out, "negotiate");
  if (!rc) rc = sr_buf_append(out, base + q, f - q);
  const char *query = base + q;
  size_t qlen = f - q;
  char sep = qlen > 1 ? '&' : '?';
  if (qlen == 1) { /* a bare '?' is already there */
    sep = 0;
  }
  char tmp[64];
  if (!rc && !sr_url_query_has(query, qlen, "negotiateVersion")) {
    snprintf(tmp, sizeof tmp, "%snegotiateVersion=%d", sep ? (sep == '&' ? "&" : "?") : "", version);
    rc = sr_buf_puts(out, tmp);
    sep = '&';
  }
  if (!rc && stateful && !sr_url_query_has(query, qlen, "useStatefulReconnect")) {
    snprintf(tmp, sizeof tmp, "%suseStatefulReconnect=true", sep ? (sep == '&' ? "&" : "?") : "");
    rc = sr_buf_puts(out, tmp);
  }
  if (!rc) rc = sr_buf_terminate(out);
  if (rc) out->len = mark;
  return rc;
}

int sr_transport_url(sr_buf *out, const char *base, const char *token, int transport) {
  if (!base || !*base) return SIGNALR_EINVAL;
  size_t len = strlen(base), q, f, mark = out->len;
  sr_url_split(base, len, &q, &f);
  int rc = 0;
  size_t skip = 0;
  if (transport == SR_TRANSPORT_WEBSOCKETS) {
    if (strncasecmp(base, "https:", 6) == 0) { rc = sr_buf_puts(out, "wss:"); skip = 6; }
    else if (strncasecmp(base, "http:", 5) == 0) { rc = sr_buf_puts(out, "ws:"); skip = 5; }
  }
  if (!rc) rc = sr_buf_append(out, base + skip, f - skip);
  if (!rc && token) {
    size_t qlen = f - q;
    if (qlen == 0) rc = sr_buf_putc(out, '?');
    else if (qlen > 1) rc = sr_buf_putc(out, '&');
    if (!rc) rc = sr_buf_puts(out, "id=");
    if (!rc) rc = sr_url_encode_component(out, token, strlen(token));
  }
  if (!rc) rc = sr_buf_terminate(out);
  if (rc) out->len = mark;
  return rc;
}

int sr_transport_from_name(const char *name) {
  if (!strcmp(name, "WebSockets")) return SR_TRANSPORT_WEBSOCKETS;
  if (!strcmp(name, "ServerSentEvents")) return SR_TRANSPORT_SSE;
  if (!strcmp(name, "LongPolling")) return SR_TRANSPORT_LONG_POLLING;
  return 0;
}

const char *sr_transport_name(int transport) {
  switch (transport) {
    case SR_TRANSPORT_WEBSOCKETS: return "WebSockets";
    case SR_TRANSPORT_SSE: return "ServerSentEvents";
    case SR_TRANSPORT_LONG_POLLING: return "LongPolling";
    default: return "unknown";
  }
}

void sr_negotiate_response_clear(sr_negotiate_response *r) {
  free(r->connection_id);
  free(r->connection_token);
  for (size_t i = 0; i < r->transport_count; i++) free(r->transports[i].name);
  free(r->transports);
  free(r->url);
  free(r->access_token);
  free(r->error);
  memset(r, 0, sizeof *r);
}

static int bad(char *errbuf, size_t errlen, const char *why) {
  if (errbuf && errlen) snprintf(errbuf, errlen, "invalid negotiate response: %s", why);
  return SIGNALR_ENEGOTIATE;
}

/* A string member: 0 absent (or null), 1 present (copied), <0 error. */
static int get_str(cJSON *obj, const char *name, char **out) {
  cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  if (!v || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsString(v)) return SIGNALR_ENEGOTIATE;
  *out = strdup(v->valuestring);
  return *out ? 1 : SIGNALR_ENOMEM;
}

static int parse_transports(cJSON *arr, sr_negotiate_response *out, char *errbuf, size_t errlen) {
  if (!cJSON_IsArray(arr)) return bad(errbuf, errlen, "'availableTransports' must be an array");
  size_t n = (size_t)cJSON_GetArraySize(arr);
  out->transports = calloc(n ? n : 1, sizeof *out->transports);
  if (!out->transports) return SIGNALR_ENOMEM;
  cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "transport");
    cJSON *formats = cJSON_GetObjectItemCaseSensitive(e, "transferFormats");
    if (!cJSON_IsObject(e) || !cJSON_IsString(name))
      return bad(errbuf, errlen, "a transport entry has no 'transport' name");
    if (!cJSON_IsArray(formats))
      return bad(errbuf, errlen, "a transport entry has no 'transferFormats' array");
    sr_negotiate_transport *t = &out->transports[out->transport_count];
    t->name = strdup(name->valuestring);
    if (!t->name) return SIGNALR_ENOMEM;
    out->transport_count++;
    t->transport = sr_transport_from_name(t->name);
    cJSON *f;
    cJSON_ArrayForEach(f, formats) {
      if (!cJSON_IsString(f)) return bad(errbuf, errlen, "'transferFormats' must hold strings");
      if (!strcmp(f->valuestring, "Text")) t->formats |= SR_FORMAT_TEXT;
      else if (!strcmp(f->valuestring, "Binary")) t->formats |= SR_FORMAT_BINARY;
    }
  }
  return 0;
}

static int parse(cJSON *root, sr_negotiate_response *out, char *errbuf, size_t errlen) {
  int rc;
  if (!cJSON_IsObject(root)) return bad(errbuf, errlen, "not a JSON object");
  if ((rc = get_str(root, "error", &out->error)) < 0)
    return rc == SIGNALR_ENOMEM ? rc : bad(errbuf, errlen, "'error' must be a string");
  if (rc == 1) {
    out->kind = SR_NEGOTIATE_SERVER_ERROR;
    return 0;
  }
  if (cJSON_GetObjectItemCaseSensitive(root, "ProtocolVersion")) {
    if (errbuf && errlen)
      snprintf(errbuf, errlen,
               "Detected a connection attempt to an ASP.NET SignalR Server. This client only "
               "supports connecting to an ASP.NET Core SignalR Server.");
    return SIGNALR_ELEGACY;
  }
  if ((rc = get_str(root, "url", &out->url)) < 0)
    return rc == SIGNALR_ENOMEM ? rc : bad(errbuf, errlen, "'url' must be a string");
  if (rc == 1) {
    if (!*out->url) return bad(errbuf, errlen, "'url' is empty");
    if ((rc = get_str(root, "accessToken", &out->access_token)) < 0)
      return rc == SIGNALR_ENOMEM ? rc : bad(errbuf, errlen, "'accessToken' must be a string");
    out->kind = SR_NEGOTIATE_REDIRECT;
    return 0;
  }
  cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "negotiateVersion");
  if (ver && !cJSON_IsNull(ver)) {
    if (!cJSON_IsNumber(ver) || ver->valuedouble != floor(ver->valuedouble) || ver->valuedouble < 0 ||
        ver->valuedouble > 1000)
      return bad(errbuf, errlen, "'negotiateVersion' must be a small integer");
    out->negotiate_version = (int)ver->valuedouble;
  }
  if ((rc = get_str(root, "connectionId", &out->connection_id)) < 0)
    return rc == SIGNALR_ENOMEM ? rc : bad(errbuf, errlen, "'connectionId' must be a string");
  if (rc == 0) return bad(errbuf, errlen, "missing 'connectionId'");
  if (out->negotiate_version >= 1) {
    if ((rc = get_str(root, "connectionToken", &out->connection_token)) < 0)
      return rc == SIGNALR_ENOMEM ? rc : bad(errbuf, errlen, "'connectionToken' must be a string");
    if (rc == 0) return bad(errbuf, errlen, "missing 'connectionToken'");
  } else {
    /* Version 0 servers have no token: the connection id plays its part. */
    out->connection_token = strdup(out->connection_id);
    if (!out->connection_token) return SIGNALR_ENOMEM;
  }
  cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "useStatefulReconnect");
  if (st && !cJSON_IsNull(st)) {
    if (!cJSON_IsBool(st)) return bad(errbuf, errlen, "'useStatefulReconnect' must be a boolean");
    out->use_stateful_reconnect = cJSON_IsTrue(st);
  }
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "availableTransports");
  if (!arr) return bad(errbuf, errlen, "missing 'availableTransports'");
  if ((rc = parse_transports(arr, out, errbuf, errlen))) return rc;
  out->kind = SR_NEGOTIATE_OK;
  return 0;
}

int sr_negotiate_parse(const char *body, size_t len, sr_negotiate_response *out, char *errbuf,
                       size_t errlen) {
  memset(out, 0, sizeof *out);
  if (errbuf && errlen) errbuf[0] = 0;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
  if (!root) return bad(errbuf, errlen, "not valid JSON");
  while (end && end < body + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')) end++;
  int rc = (end && end < body + len) ? bad(errbuf, errlen, "data after the JSON object")
                                     : parse(root, out, errbuf, errlen);
  cJSON_Delete(root);
  return rc;
}
