/* One connection's cookies, kept by libcurl's cookie engine (RFC 6265: expiry, replacement,
 * domain and path matching, Secure) instead of by hand.
 *
 * The jar is a curl share (CURLSH with CURL_LOCK_DATA_COOKIE): every HTTP request of the
 * connection that carries it in sr_net_options.cookies (negotiate, Server-Sent Events, Long
 * Polling) stores what the server sets and sends what matches, as curl does for any URL. The
 * WebSocket upgrade does not go through curl: sr_cookie_jar_header gives the Cookie header for
 * its URL from the same jar. I/O thread only (the share has no lock callbacks: one thread). */
#ifndef SR_TRANSPORT_COOKIE_JAR_H
#define SR_TRANSPORT_COOKIE_JAR_H

#include "util/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sr_cookie_jar sr_cookie_jar;

/* An empty jar, or NULL (out of memory, or libcurl without cookie support). */
sr_cookie_jar *sr_cookie_jar_new(void);
void sr_cookie_jar_free(sr_cookie_jar *jar); /* NULL ignored; no request may still use it */

/* Attaches the jar to a curl easy handle (a CURL *): it then reads and writes the jar's
 * cookies. 0 or SIGNALR_ETRANSPORT. */
int sr_cookie_jar_attach(sr_cookie_jar *jar, void *curl_easy);

/* Appends "Cookie: a=1; b=2" (NUL-terminated) to out for the cookies a request to url
 * (ws://, wss://, http:// or https://) would carry by RFC 6265 section 5.4: not expired, domain-
 * and path-matching, Secure ones only over TLS or to a loopback host (libcurl's rule, RFC 6265bis),
 * longer paths first. Returns 1 when a header was appended, 0 when no cookie matches (out unchanged), or
 * SIGNALR_ENOMEM / SIGNALR_EINVAL (a URL curl cannot parse). */
int sr_cookie_jar_header(sr_cookie_jar *jar, const char *url, sr_buf *out);

/* Stores one cookie line as libcurl's CURLOPT_COOKIELIST takes it: a Netscape cookie-file line
 * (domain, tailmatch, path, secure, expires, name, value, tab-separated) or "Set-Cookie: ..."
 * with an explicit Domain (curl has no request URL for it: no host check, no default domain).
 * For tests. 0 or SIGNALR_EINVAL. */
int sr_cookie_jar_store(sr_cookie_jar *jar, const char *line);

/* The number of cookies in the jar (expired ones included until curl drops them). */
size_t sr_cookie_jar_count(sr_cookie_jar *jar);

#ifdef __cplusplus
}
#endif

#endif
