/* Negotiate: the POST that opens a connection (connection id and token, transports) or
 * redirects it (Azure SignalR Service: url + accessToken). Sans-I/O: URLs and bodies in,
 * URLs and parsed responses out. */
#ifndef SR_PROTOCOL_NEGOTIATE_H
#define SR_PROTOCOL_NEGOTIATE_H

#include <stddef.h>

#include "util/buf.h"

/* Transport bits, as the official clients number them. */
#define SR_TRANSPORT_WEBSOCKETS 1
#define SR_TRANSPORT_SSE 2
#define SR_TRANSPORT_LONG_POLLING 4

/* Transfer-format bits. */
#define SR_FORMAT_TEXT 1
#define SR_FORMAT_BINARY 2

/* The most negotiate redirects followed before giving up (the official clients' limit). */
#define SR_MAX_NEGOTIATE_REDIRECTS 100

/* Appends the negotiate URL for base: "/negotiate" added to the path, the query kept,
 * negotiateVersion=<version> unless the caller's URL has one, and
 * useStatefulReconnect=true when asked for (unless present). NUL-terminates. */
int sr_negotiate_url(sr_buf *out, const char *base, int version, int stateful);

/* Appends the URL a transport connects to: base plus id=<percent-encoded token> (no id
 * when token is NULL: skip_negotiation); for WebSockets http(s) becomes ws(s).
 * NUL-terminates. */
int sr_transport_url(sr_buf *out, const char *base, const char *token, int transport);

/* The transport bit for a name from availableTransports, or 0 for one we do not know. */
int sr_transport_from_name(const char *name);
const char *sr_transport_name(int transport);

enum { SR_NEGOTIATE_OK = 1, SR_NEGOTIATE_REDIRECT = 2, SR_NEGOTIATE_SERVER_ERROR = 3 };

typedef struct sr_negotiate_transport {
  char *name;    /* as the server wrote it */
  int transport; /* SR_TRANSPORT_* or 0 when unknown to this client */
  int formats;   /* SR_FORMAT_* bits */
} sr_negotiate_transport;

typedef struct sr_negotiate_response {
  int kind;
  int negotiate_version;
  char *connection_id;
  char *connection_token; /* equals connection_id for version 0 servers */
  int use_stateful_reconnect;
  sr_negotiate_transport *transports; /* in the server's order */
  size_t transport_count;
  char *url;          /* redirect */
  char *access_token; /* redirect, may be NULL */
  char *error;        /* server error text */
} sr_negotiate_response;

/* Parses a negotiate response body (HTTP 200). Returns 0 with out->kind set;
 * SIGNALR_ELEGACY for an old ASP.NET SignalR server; SIGNALR_ENEGOTIATE (reason in
 * errbuf) for a malformed response; SIGNALR_ENOMEM. Unknown fields are ignored.
 * Free with sr_negotiate_response_clear in every case. */
int sr_negotiate_parse(const char *body, size_t len, sr_negotiate_response *out, char *errbuf,
                       size_t errlen);
void sr_negotiate_response_clear(sr_negotiate_response *r);

#endif
