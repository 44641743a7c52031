#include "util/url.h"

#include <strings.h>

int sr_url_encode_component(sr_buf *out, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '~';
    int rc;
    if (plain) rc = sr_buf_putc(out, c);
    else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      rc = sr_buf_append(out, e, 3);
    }
    if (rc) return rc;
  }
  return 0;
}

void sr_url_split(const char *url, size_t len, size_t *query, size_t *frag) {
  size_t q = len, f = len;
  for (size_t i = 0; i < len; i++) {
    if (url[i] == '#') { f = i; break; }
    if (url[i] == '?' && q == len) q = i;
  }
  if (q > f) q = f;
  *query = q;
  *frag = f;
}

int sr_url_query_has(const char *query, size_t len, const char *key) {
  size_t kl = strlen(key), i = 0;
  if (len && query[0] == '?') i = 1;
  while (i < len) {
    size_t j = i;
    while (j < len && query[j] != '&') j++;
    size_t e = i;
    while (e < j && query[e] != '=') e++;
    if (e - i == kl && strncasecmp(query + i, key, kl) == 0) return 1;
    i = j + 1;
  }
  return 0;
}

int sr_url_scheme(const char *url) {
  static const struct {
    const char *prefix;
    size_t len;
    int scheme;
  } schemes[] = {{"http://", 7, SR_URL_HTTP}, {"https://", 8, SR_URL_HTTPS}, {"ws://", 5, SR_URL_WS},
                 {"wss://", 6, SR_URL_WSS}};
  for (size_t i = 0; url && i < sizeof schemes / sizeof schemes[0]; i++)
    if (!strncasecmp(url, schemes[i].prefix, schemes[i].len)) return schemes[i].scheme;
  return 0;
}
