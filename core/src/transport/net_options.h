/* The network options one connection's requests all carry: the caller's headers, TLS, the
 * proxy and the connect timeout (the builder's header, ca_file, insecure, proxy, client_cert,
 * client_key options and the handshake timeout). One type for the WebSocket client, the HTTP
 * client and the transports built on them, so each option is declared and passed in one
 * place. Strings are borrowed; the layer that keeps them past a call copies them. */
#ifndef SR_TRANSPORT_NET_OPTIONS_H
#define SR_TRANSPORT_NET_OPTIONS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sr_net_options {
  const char *const *headers; /* "Name: value", NULL-terminated, may be NULL; on every request */
  const char *ca_file;        /* PEM CA bundle; NULL: the system trust store */
  int insecure;               /* 1: skip TLS certificate and host name verification */
  const char *proxy;          /* NULL or "": none configured (libcurl and lws then follow the
                               * http_proxy environment variables); else an HTTP proxy URL,
                               * "[http://][user:password@]host[:port]" (port 1080 if absent).
                               * libcurl also takes https:// and socks5:// proxies; the WebSocket
                               * client refuses them with SIGNALR_EINVAL. */
  const char *client_cert;    /* PEM client certificate file for TLS, or NULL */
  const char *client_key;     /* PEM private key file; NULL: the key is in client_cert */
  int32_t connect_timeout_ms; /* TCP + TLS (+ proxy) connect, and for a transport until it is
                               * open; <= 0: the layer's default (see there) */
  struct sr_cookie_jar *cookies; /* HTTP requests store and send cookies through this jar
                                  * (cookie_jar.h); borrowed; NULL: no cookie engine. The
                                  * WebSocket client ignores it (its caller adds the header). */
} sr_net_options;

#ifdef __cplusplus
}
#endif

#endif
