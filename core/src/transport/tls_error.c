#include "transport/tls_error.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/error_info.h"

/* X509_V_ERR_* numbers (OpenSSL's x509_vfy.h; stable across versions), without including
 * OpenSSL: the library links it only through libcurl and libwebsockets. */
enum {
  V_UNABLE_TO_GET_ISSUER_CERT = 2,
  V_CERT_NOT_YET_VALID = 9,
  V_CERT_HAS_EXPIRED = 10,
  V_DEPTH_ZERO_SELF_SIGNED_CERT = 18,
  V_SELF_SIGNED_CERT_IN_CHAIN = 19,
  V_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20,
  V_UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21,
  V_CERT_UNTRUSTED = 27,
  V_HOSTNAME_MISMATCH = 62,
  V_IP_ADDRESS_MISMATCH = 64,
};

static int has(const char *text, const char *what) { return text && strcasestr(text, what) != NULL; }

int sr_tls_kind_curl(int curl_code, long v, const char *text) {
  if (curl_code == 77) return SR_TLS_CA_FILE;
  switch (v) {
    case V_CERT_NOT_YET_VALID: case V_CERT_HAS_EXPIRED:
      return SR_TLS_EXPIRED;
    case V_UNABLE_TO_GET_ISSUER_CERT: case V_DEPTH_ZERO_SELF_SIGNED_CERT: case V_SELF_SIGNED_CERT_IN_CHAIN:
    case V_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: case V_UNABLE_TO_VERIFY_LEAF_SIGNATURE: case V_CERT_UNTRUSTED:
      return SR_TLS_UNTRUSTED;
    case V_HOSTNAME_MISMATCH: case V_IP_ADDRESS_MISMATCH:
      return SR_TLS_HOSTNAME;
    default:
      break;
  }
  /* curl checks the host name itself ("no alternative certificate subject name matches"). */
  if (has(text, "subject name") || has(text, "does not match target host") || has(text, "hostname mismatch"))
    return SR_TLS_HOSTNAME;
  if (has(text, "expired") || has(text, "not yet valid")) return SR_TLS_EXPIRED;
  if (has(text, "self-signed") || has(text, "self signed") || has(text, "local issuer") ||
      has(text, "unable to verify") || has(text, "unknown ca"))
    return SR_TLS_UNTRUSTED;
  /* What OpenSSL says when the first bytes back are not a TLS record (an HTTP response). */
  if (has(text, "wrong version number") || has(text, "packet length too long") || has(text, "unknown protocol") ||
      has(text, "http request"))
    return SR_TLS_NOT_TLS;
  return SR_TLS_FAILED;
}

int sr_tls_kind_lws(int cert_seen, int cert_rejected) {
  if (cert_rejected) return SR_TLS_REJECTED;
  /* The handshake broke before any certificate came: the peer did not answer with TLS. */
  return cert_seen ? SR_TLS_FAILED : SR_TLS_NOT_TLS;
}

/* The message's words for each kind but SR_TLS_UNTRUSTED (which also names the CA store). */
static const char *tls_text(int kind) {
  switch (kind) {
    case SR_TLS_HOSTNAME: return SR_TLS_TEXT_HOSTNAME;
    case SR_TLS_EXPIRED: return SR_TLS_TEXT_EXPIRED;
    case SR_TLS_NOT_TLS: return SR_TLS_TEXT_NOT_TLS;
    case SR_TLS_REJECTED: return SR_TLS_TEXT_REJECTED;
    case SR_TLS_CA_FILE: return SR_TLS_TEXT_CA_FILE;
    default: return "TLS handshake failed";
  }
}

void sr_tls_message(char *out, size_t n, int kind, int have_ca_file, const char *detail) {
  const char *d = detail && *detail ? detail : "no detail";
  if (kind == SR_TLS_UNTRUSTED)
    snprintf(out, n, SR_TLS_TEXT_UNTRUSTED " by %s (%s)",
             have_ca_file ? "the CA file given (tls_ca_file)" : "this system's CA store", d);
  else
    snprintf(out, n, "%s (%s)", tls_text(kind), d);
}
