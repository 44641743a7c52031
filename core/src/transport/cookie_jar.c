/* A connection's cookie jar on libcurl's cookie engine. See cookie_jar.h. */
#include "transport/cookie_jar.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "signalr/signalr.h"

struct sr_cookie_jar {
  CURLSH *share;
  CURL *reader; /* attached to the share: CURLINFO_COOKIELIST reads the jar through it */
};

sr_cookie_jar *sr_cookie_jar_new(void) {
  sr_cookie_jar *jar = calloc(1, sizeof *jar);
  if (!jar) return NULL;
  jar->share = curl_share_init();
  jar->reader = curl_easy_init();
  if (!jar->share || !jar->reader ||
      curl_share_setopt(jar->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE) != CURLSHE_OK ||
      sr_cookie_jar_attach(jar, jar->reader)) {
    sr_cookie_jar_free(jar);
    return NULL;
  }
  return jar;
}

void sr_cookie_jar_free(sr_cookie_jar *jar) {
  if (!jar) return;
  if (jar->reader) curl_easy_cleanup(jar->reader); /* every user detaches before the share goes */
  if (jar->share) curl_share_cleanup(jar->share);
  free(jar);
}

int sr_cookie_jar_attach(sr_cookie_jar *jar, void *curl_easy) {
  CURL *e = curl_easy;
  if (curl_easy_setopt(e, CURLOPT_SHARE, jar->share) != CURLE_OK) return SIGNALR_ETRANSPORT;
  /* "" turns the engine on for this handle without reading a file */
  if (curl_easy_setopt(e, CURLOPT_COOKIEFILE, "") != CURLE_OK) return SIGNALR_ETRANSPORT;
  return 0;
}

int sr_cookie_jar_store(sr_cookie_jar *jar, const char *line) {
  if (!jar || !line) return SIGNALR_EINVAL;
  return curl_easy_setopt(jar->reader, CURLOPT_COOKIELIST, line) == CURLE_OK ? 0 : SIGNALR_EINVAL;
}

size_t sr_cookie_jar_count(sr_cookie_jar *jar) {
  struct curl_slist *list = NULL;
  if (!jar || curl_easy_getinfo(jar->reader, CURLINFO_COOKIELIST, &list) != CURLE_OK) return 0;
  size_t n = 0;
  for (struct curl_slist *p = list; p; p = p->next) n++;
  curl_slist_free_all(list);
  return n;
}

/* One line of curl's Netscape cookie format, split in place:
 * domain \t tailmatch \t path \t secure \t expires \t name \t value. */
typedef struct cookie {
  const char *domain, *path, *name, *value;
  int tailmatch, secure;
  long long expires; /* 0: a session cookie */
} cookie;

static int split(char *line, cookie *c) {
  char *f[7];
  for (int i = 0; i < 7; i++) {
    f[i] = line;
    char *tab = strchr(line, '\t');
    if (i < 6) {
      if (!tab) return 0;
      *tab = 0;
      line = tab + 1;
    }
  }
  c->domain = f[0];
  if (!strncmp(c->domain, "#HttpOnly_", 10)) c->domain += 10; /* (HttpOnly does not matter here) */
  if (*c->domain == '.') c->domain++;
  c->tailmatch = !strcmp(f[1], "TRUE");
  c->path = f[2];
  c->secure = !strcmp(f[3], "TRUE");
  c->expires = strtoll(f[4], NULL, 10);
  c->name = f[5];
  c->value = f[6];
  return 1;
}

/* RFC 6265 5.1.3: the host is the domain, or (a Domain attribute was given) ends in "." domain. */
static int domain_match(const char *host, const cookie *c) {
  if (!strcasecmp(host, c->domain)) return 1;
  if (!c->tailmatch) return 0;
  size_t h = strlen(host), d = strlen(c->domain);
  return h > d && host[h - d - 1] == '.' && !strcasecmp(host + h - d, c->domain);
}

/* RFC 6265 5.1.4. */
static int path_match(const char *path, const char *cpath) {
  size_t n = strlen(cpath);
  if (strncmp(path, cpath, n)) return 0;
  return path[n] == 0 || (n && cpath[n - 1] == '/') || path[n] == '/';
}

/* RFC 6265 5.4 step 2: longer paths first; otherwise the jar's order (stable: insertion). */
static void sort_by_path(cookie *c, size_t n) {
  for (size_t i = 1; i < n; i++) {
    cookie x = c[i];
    size_t len = strlen(x.path), j = i;
    for (; j > 0 && strlen(c[j - 1].path) < len; j--) c[j] = c[j - 1];
    c[j] = x;
  }
}

int sr_cookie_jar_header(sr_cookie_jar *jar, const char *url, sr_buf *out) {
  if (!jar) return 0;
  CURLU *u = curl_url();
  if (!u) return SIGNALR_ENOMEM;
  char *host = NULL, *path = NULL;
  /* ws and wss are not schemes curl 7.x knows: parse as their HTTP twins */
  int secure = !strncasecmp(url, "wss://", 6) || !strncasecmp(url, "https://", 8);
  const char *rest = strstr(url, "://");
  sr_buf http = SR_BUF_INIT;
  int rc = SIGNALR_EINVAL;
  if (!rest || sr_buf_puts(&http, secure ? "https" : "http") || sr_buf_puts(&http, rest) || sr_buf_terminate(&http)) {
    rc = rest ? SIGNALR_ENOMEM : SIGNALR_EINVAL;
    goto done;
  }
  if (curl_url_set(u, CURLUPART_URL, (const char *)http.data, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
    goto done;
  struct curl_slist *list = NULL;
  if (curl_easy_getinfo(jar->reader, CURLINFO_COOKIELIST, &list) != CURLE_OK) {
    rc = SIGNALR_ENOMEM;
    goto done;
  }
  size_t n = 0;
  for (struct curl_slist *p = list; p; p = p->next) n++;
  cookie *match = n ? malloc(n * sizeof *match) : NULL;
  size_t m = 0;
  long long now = (long long)time(NULL);
  /* as libcurl decides for its own requests (RFC 6265bis "potentially trustworthy"): a
   * loopback host is a secure context too, so both paths send the same cookies */
  if (!strcasecmp(host, "localhost") || !strcmp(host, "127.0.0.1") || !strcmp(host, "[::1]") || !strcmp(host, "::1"))
    secure = 1;
  for (struct curl_slist *p = list; match && p; p = p->next) {
    cookie c;
    if (!split(p->data, &c)) continue;
    if (c.expires && c.expires <= now) continue; /* expired (a server deletes with a past date) */
    if (c.secure && !secure) continue;
    if (!domain_match(host, &c) || !path_match(path, c.path)) continue;
    match[m++] = c;
  }
  rc = 0;
  if (n && !match) rc = SIGNALR_ENOMEM;
  if (m) {
    sort_by_path(match, m);
    int bad = sr_buf_puts(out, "Cookie: ");
    for (size_t i = 0; i < m && !bad; i++) {
      if (i) bad |= sr_buf_puts(out, "; ");
      bad |= sr_buf_puts(out, match[i].name);
      bad |= sr_buf_putc(out, '=');
      bad |= sr_buf_puts(out, match[i].value);
    }
    bad |= sr_buf_putc(out, 0);
    rc = bad ? SIGNALR_ENOMEM : 1;
  }
  free(match);
  curl_slist_free_all(list);
done:
  sr_buf_free(&http);
  curl_free(host);
  curl_free(path);
  curl_url_cleanup(u);
  return rc;
}
