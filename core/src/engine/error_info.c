#include "engine/error_info.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signalr/signalr.h"

void sr_error_set(sr_error_info *e, int code, int http_status, const char *fmt, ...) {
  memset(e, 0, sizeof *e);
  e->code = code;
  e->http_status = http_status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
}

const char *sr_error_hint_for(int stage, const sr_error_info *e) {
  if (e->code == SIGNALR_ETLS) {
    const char *m = e->message;
    if (strstr(m, SR_TLS_TEXT_UNTRUSTED))
      return "The server's certificate is not issued by a CA this client trusts: set tls_ca_file to the PEM "
             "of the CA that issued it (a self-signed certificate is its own CA), or add that CA to the "
             "system store; tls_insecure=true disables verification, for testing only.";
    if (strstr(m, SR_TLS_TEXT_HOSTNAME))
      return "The certificate is trusted but issued for other names: connect with a host name or address "
             "it lists (its subjectAltName), or reissue it for this one. A CA file does not change this.";
    if (strstr(m, SR_TLS_TEXT_EXPIRED))
      return "The server's certificate is outside its validity period: renew it on the server (or check "
             "this machine's clock).";
    if (strstr(m, SR_TLS_TEXT_NOT_TLS))
      return "This port does not answer with TLS (most often it serves plain HTTP): use http:// or ws:// "
             "for it, or the server's HTTPS port.";
    if (strstr(m, SR_TLS_TEXT_REJECTED))
      return "The server's certificate failed verification (an untrusted issuer, another host name, or "
             "expired): `signalr doctor` on the https:// URL says which; set tls_ca_file to the CA that "
             "issued it.";
    if (strstr(m, SR_TLS_TEXT_CA_FILE))
      return "Check tls_ca_file: the file must exist, be readable and hold PEM certificates.";
  }
  if (strstr(e->message, SR_TEXT_DNS))
    return "Check the host name in the URL (a typo?) and this machine's DNS or /etc/hosts; from a "
           "container, the server's name may resolve only inside its network.";
  if (strstr(e->message, SR_TEXT_NO_UPGRADE_ANSWER) || strstr(e->message, SR_TEXT_NOT_HTTP))
    return "What answers at this address does not speak HTTP (another service on this port?), or it "
           "hung up at once: check the URL's port, and that it points at the ASP.NET Core server.";
  return sr_error_hint(stage, e->code, e->http_status);
}

struct sr_text {
  atomic_int refs;
  char text[]; /* NUL-terminated */
};

void sr_error_set_long(sr_error_info *e, int code, int http_status, const char *prefix, const char *text, size_t len) {
  if (len > (size_t)INT32_MAX) len = (size_t)INT32_MAX;
  sr_error_set(e, code, http_status, "%s%.*s", prefix, (int)len, text);
  size_t plen = strlen(prefix);
  if (plen + len < sizeof e->message) return;
  sr_text *t = malloc(sizeof *t + plen + len + 1);
  if (!t) return; /* the cut text in message is what there is */
  atomic_init(&t->refs, 1);
  memcpy(t->text, prefix, plen);
  memcpy(t->text + plen, text, len);
  t->text[plen + len] = 0;
  e->full = t;
}

const char *sr_error_text(const sr_error_info *e) { return e->full ? e->full->text : e->message; }

void sr_error_assign(sr_error_info *dst, const sr_error_info *src) {
  sr_text *old = dst->full;
  if (src->full) atomic_fetch_add_explicit(&src->full->refs, 1, memory_order_relaxed);
  *dst = *src;
  if (old) {
    sr_error_info gone = {.full = old};
    sr_error_release(&gone);
  }
}

void sr_error_release(sr_error_info *e) {
  sr_text *t = e->full;
  e->full = NULL;
  if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) free(t);
}

int sr_error_code_for_http(int s) {
  if (s == 401 || s == 403) return SIGNALR_EAUTH;
  if (s == 404) return SIGNALR_ENOTFOUND;
  if (s >= 300 && s < 400) return SIGNALR_EREDIRECT;
  return SIGNALR_EHTTP;
}

const char *sr_error_hint(int stage, int code, int s) {
  switch (s) {
    case 404:
      if (stage == SR_STAGE_DIRECT)
        return "Nothing accepts a WebSocket at this URL: check the hub path (the one the server maps "
               "with MapHub), and that the hub allows the WebSockets transport.";
      return stage == SR_STAGE_NEGOTIATE
                 ? "Nothing answers negotiate at this URL: check the hub path (the one the server "
                   "maps with MapHub), or a proxy is blocking the connection."
                 : "The connection id is unknown to the server: it expired (the server restarted or "
                   "dropped it), or several server instances run without sticky sessions. Enable "
                   "sticky sessions, or use WebSockets with skip_negotiation.";
    case 400:
    case 503:
      if (stage == SR_STAGE_TRANSPORT || stage == SR_STAGE_DIRECT)
        return "The server refused the WebSocket upgrade: WebSockets are probably not enabled on "
               "the server (or a proxy drops the Upgrade headers). Enable them, or allow the "
               "ServerSentEvents / LongPolling transports.";
      break;
    case 301: case 302: case 303: case 307: case 308:
      return "The server redirects this URL, most often from HTTP to HTTPS (UseHttpsRedirection): "
             "connect to the https:// URL directly.";
    case 405:
      return "The endpoint does not accept this HTTP method: the URL probably points at something "
             "other than the hub (check the path).";
    case 413: case 414: case 431:
      return "The request is too large, usually because of an oversized access token: shorten the "
             "token (fewer claims) or raise the server's request header limits.";
    case 401:
      return "Authentication failed: give a valid access token (access_token or an access-token "
             "provider); the hub requires an authenticated user.";
    case 403:
      return "The user is authenticated but not authorized for this hub.";
    case 500: case 501: case 502: case 504:
      return "The server (or a proxy in front of it) failed on this request: see the server's log. "
             "A plain web server answers so too when the URL does not point at the hub: check it.";
    default:
      break;
  }
  switch (code) {
    case SIGNALR_ECONNREFUSED:
      return "Nothing is listening at this address: check the host and port, and that the server "
             "is running.";
    case SIGNALR_ETLS:
      return "The TLS handshake failed: check that this port speaks TLS, and that the server's "
             "certificate is trusted (tls_ca_file), valid for this host name and not expired.";
    case SIGNALR_EHANDSHAKE:
      return "The server refused the hub protocol: check that it is enabled on the server "
             "(AddMessagePackProtocol for messagepack) and that the transport can carry it.";
    case SIGNALR_ETIMEOUT:
      if (stage == SR_STAGE_CONNECTED)
        return "No message arrived from the server within server_timeout_ms: the server's "
               "KeepAliveInterval must be at most half the client's server timeout, or the "
               "network dropped the connection.";
      return "The server did not answer in time: check that the URL points at a SignalR hub and "
             "that the network lets the connection through.";
    case SIGNALR_ETOOBIG:
      return "A message is larger than a limit allows: the client's max_message_size, or the "
             "server's MaximumReceiveMessageSize (32 KB by default in ASP.NET Core). Raise the limit "
             "on the side that refused it, or send the data as a stream of smaller items.";
    case SIGNALR_EPROTO:
      return "The server sent data that is not valid SignalR for the negotiated protocol: the URL may "
             "not point at a SignalR hub, or a proxy alters the traffic.";
    case SIGNALR_ENEGOTIATE:
      return "The negotiate answer is not a SignalR one, or the server refused the connection in it: "
             "check that the URL is the hub's and read the server's text above.";
    case SIGNALR_ENOHANDLER:
      return "The server called a method this client has no handler for: register one with "
             "signalr_connection_on (method names are case-insensitive).";
    case SIGNALR_EENCODING:
      return "The arguments must be one JSON array (UTF-8 text) or one MessagePack array, in the "
             "encoding given with them.";
    case SIGNALR_EUNSUPPORTED:
      return "The server and this client have no transport or protocol in common: allow another "
             "transport (transports=...) or enable the protocol on the server.";
    case SIGNALR_ELEGACY:
      return "This client speaks ASP.NET Core SignalR; the server is the older ASP.NET SignalR.";
    case SIGNALR_EREDIRECT:
      return "Negotiate redirected more than 100 times: the redirect endpoints form a loop.";
    default:
      return NULL;
  }
}
