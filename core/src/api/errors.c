#include <stdlib.h>

#include "signalr/signalr.h"

typedef struct {
  int code;
  const char *name;
  const char *text;
} error_entry;

/* Indexed by -code. Append only, like the codes themselves. */
static const error_entry ERRORS[] = {
    {SIGNALR_OK, "SIGNALR_OK", "success"},
    {SIGNALR_EINVAL, "SIGNALR_EINVAL", "invalid argument"},
    {SIGNALR_ENOMEM, "SIGNALR_ENOMEM", "out of memory"},
    {SIGNALR_EPROTO, "SIGNALR_EPROTO", "the peer broke the SignalR protocol"},
    {SIGNALR_ETOOBIG, "SIGNALR_ETOOBIG", "message larger than the configured maximum size"},
    {SIGNALR_EHANDSHAKE, "SIGNALR_EHANDSHAKE", "the server rejected the handshake"},
    {SIGNALR_ENEGOTIATE, "SIGNALR_ENEGOTIATE", "negotiation with the server failed"},
    {SIGNALR_ETRANSPORT, "SIGNALR_ETRANSPORT", "the transport failed"},
    {SIGNALR_ETIMEOUT, "SIGNALR_ETIMEOUT", "timed out"},
    {SIGNALR_ECLOSED, "SIGNALR_ECLOSED", "the connection is closed"},
    {SIGNALR_EHUB, "SIGNALR_EHUB", "the hub method failed on the server"},
    {SIGNALR_ECANCELED, "SIGNALR_ECANCELED", "the operation was canceled"},
    {SIGNALR_ESTATE, "SIGNALR_ESTATE", "not allowed in the connection's current state"},
    {SIGNALR_ERECURSIVE, "SIGNALR_ERECURSIVE", "blocking call made from inside a callback"},
    {SIGNALR_EUNSUPPORTED, "SIGNALR_EUNSUPPORTED", "not supported"},
    {SIGNALR_EHTTP, "SIGNALR_EHTTP", "unexpected HTTP status"},
    {SIGNALR_ETLS, "SIGNALR_ETLS", "TLS handshake or certificate verification failed"},
    {SIGNALR_ECONNREFUSED, "SIGNALR_ECONNREFUSED", "connection refused"},
    {SIGNALR_EAUTH, "SIGNALR_EAUTH", "authentication or authorization failed"},
    {SIGNALR_ENOTFOUND, "SIGNALR_ENOTFOUND", "not found (HTTP 404)"},
    {SIGNALR_EREDIRECT, "SIGNALR_EREDIRECT", "too many redirects, or an unexpected HTTP redirect"},
    {SIGNALR_EENCODING, "SIGNALR_EENCODING", "invalid JSON, MessagePack or UTF-8 in hub values"},
    {SIGNALR_EDEPTH, "SIGNALR_EDEPTH", "value nested too deeply"},
    {SIGNALR_EAGAIN, "SIGNALR_EAGAIN", "resource temporarily unavailable, try again"},
    {SIGNALR_ENOHANDLER, "SIGNALR_ENOHANDLER", "no handler for a server invocation"},
    {SIGNALR_ELEGACY, "SIGNALR_ELEGACY", "the server is an ASP.NET (non-Core) SignalR server"},
};

#define COUNT (sizeof ERRORS / sizeof ERRORS[0])
_Static_assert(COUNT == (size_t)(1 - SIGNALR_ERROR_LAST), "every error code needs a table entry");

static const error_entry *find(int code) {
  if (code > 0 || (size_t)(-(long long)code) >= COUNT) return NULL;
  return &ERRORS[-code];
}

const char *signalr_strerror(int code) {
  const error_entry *e = find(code);
  return e ? e->text : "unknown error";
}

const char *signalr_error_name(int code) {
  const error_entry *e = find(code);
  return e ? e->name : NULL;
}

int signalr_error_next(size_t *cursor, int *code, const char **name, const char **description) {
  if (!cursor || *cursor >= COUNT) return 0;
  const error_entry *e = &ERRORS[(*cursor)++];
  if (code) *code = e->code;
  if (name) *name = e->name;
  if (description) *description = e->text;
  return 1;
}
