/* What the last connect attempt saw, for diagnosis (signalr_connection_diagnostics, the CLI's
 * doctor): the negotiate requests and the server's answer, the redirects followed, the
 * transport and protocol chosen, how far the attempt got, and the pings the server sent.
 * Sans-I/O like the engine that fills it: times are the engine's `now`. One thread. */
#ifndef SR_ENGINE_DIAG_H
#define SR_ENGINE_DIAG_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* How far an attempt got. */
enum {
  SR_PHASE_NONE = 0,
  SR_PHASE_NEGOTIATE,  /* a negotiate request is out (or failed) */
  SR_PHASE_TRANSPORT,  /* the transport is connecting (or failed to) */
  SR_PHASE_HANDSHAKE,  /* the transport is open, the handshake is out (or was refused) */
  SR_PHASE_CONNECTED,  /* the handshake completed */
};

#define SR_DIAG_MAX_REDIRECTS 16 /* the redirect URLs kept (the count goes on) */

typedef struct sr_diag {
  uint32_t version;       /* bumped on every change: the API republishes its snapshot */
  int phase;
  unsigned negotiates;    /* negotiate requests in this attempt (redirects and fallbacks too) */
  int negotiate_status;   /* HTTP status of the last negotiate answer, 0: none (or no HTTP) */
  char *negotiate_url;    /* the last negotiate request's URL */
  char *negotiate_body;   /* the last negotiate answer's body (NUL-terminated), or NULL */
  size_t negotiate_body_len;
  unsigned redirect_count;
  char *redirects[SR_DIAG_MAX_REDIRECTS];
  int transport;          /* SR_TRANSPORT_* chosen, 0: none yet */
  int binary;             /* MessagePack */
  int stateful;           /* stateful reconnect negotiated */
  int64_t handshake_at;   /* when the handshake completed */
  unsigned pings;         /* Pings received since the handshake */
  int64_t last_ping_at;
  int64_t last_ping_gap;  /* ms between the last two pings (or handshake and first ping); -1: none */
  int64_t max_ping_gap;
} sr_diag;

void sr_diag_init(sr_diag *d);
void sr_diag_free(sr_diag *d);
/* A new connect attempt: forgets the last one's negotiate and transport. */
void sr_diag_attempt(sr_diag *d);
void sr_diag_negotiate_sent(sr_diag *d, const char *url);
/* Redirects follow the answer's own record (sr_diag_negotiate_answer first). */
void sr_diag_negotiate_answer(sr_diag *d, int status, const char *body, size_t len);
void sr_diag_redirect(sr_diag *d, const char *url);
void sr_diag_transport(sr_diag *d, int transport, int binary, int stateful);
void sr_diag_phase(sr_diag *d, int phase, int64_t now);
void sr_diag_ping(sr_diag *d, int64_t now);

/* The record as one JSON object (see signalr_connection_diagnostics in signalr.h), with the
 * configuration it is read against. Secrets are not in it: the connection token and a
 * redirect's access token read "(present)". A NUL-terminated string to free(), or NULL
 * (out of memory). */
char *sr_diag_json(const sr_diag *d, const char *url, int32_t server_timeout_ms, int32_t keep_alive_ms);

#endif
