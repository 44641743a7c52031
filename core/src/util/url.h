#ifndef SR_UTIL_URL_H
#define SR_UTIL_URL_H

#include "util/buf.h"

/* Appends s percent-encoded: everything but the RFC 3986 unreserved set (A-Z a-z 0-9 - . _ ~). */
int sr_url_encode_component(sr_buf *out, const char *s, size_t n);

/* Splits a URL into [0, *query) path part, [*query, *frag) query (starting with '?', may be
 * empty) and [*frag, len) fragment (starting with '#', may be empty). */
void sr_url_split(const char *url, size_t len, size_t *query, size_t *frag);

/* 1 when the query part ("?a=1&b=2" or "") has the key, compared case-insensitively as the
 * ASP.NET query collection does. */
int sr_url_query_has(const char *query, size_t len, const char *key);

/* The URL's scheme, compared case-insensitively: one of the bits below, 0 for any other. */
enum { SR_URL_HTTP = 1, SR_URL_HTTPS = 2, SR_URL_WS = 4, SR_URL_WSS = 8 };
#define SR_URL_TLS (SR_URL_HTTPS | SR_URL_WSS)
int sr_url_scheme(const char *url);

#endif
