/* Why a TLS handshake failed, in words a reader can act on: the certificate is not trusted, is
 * for another host name, has expired, the port does not speak TLS at all. libcurl and
 * libwebsockets report these differently (curl: an X509 verify code and a text; lws: only
 * whether OpenSSL rejected a certificate); both end up in the same sentences, which
 * error_info.c's hints key on (SR_TLS_TEXT_*). */
#ifndef SR_TRANSPORT_TLS_ERROR_H
#define SR_TRANSPORT_TLS_ERROR_H

#include <stddef.h>

enum {
  SR_TLS_FAILED = 0,    /* none of the below, or not known */
  SR_TLS_UNTRUSTED,     /* no trusted CA issued the certificate (self-signed, unknown CA) */
  SR_TLS_HOSTNAME,      /* trusted, but for other names */
  SR_TLS_EXPIRED,       /* outside its validity period */
  SR_TLS_NOT_TLS,       /* the port answered something that is not TLS (plain HTTP) */
  SR_TLS_REJECTED,      /* a certificate was rejected, reason unknown (lws) */
  SR_TLS_CA_FILE,       /* the CA file could not be read */
};

/* From libcurl: verify_result is CURLINFO_SSL_VERIFYRESULT (an X509_V_ERR_* number, 0: none),
 * text curl's error buffer; curl_code 77 (CURLE_SSL_CACERT_BADFILE) is SR_TLS_CA_FILE. */
int sr_tls_kind_curl(int curl_code, long verify_result, const char *text);
/* From libwebsockets: whether the certificate check ran and rejected one. */
int sr_tls_kind_lws(int cert_seen, int cert_rejected);

/* The message for a kind: what is wrong, then detail (the library's own text) in parentheses.
 * have_ca_file: the tls_ca_file option was set (the message names what did not trust it). */
void sr_tls_message(char *out, size_t n, int kind, int have_ca_file, const char *detail);

#endif
