/*
 * libsignalr — a SignalR client for ASP.NET Core hubs and Azure SignalR Service.
 *
 * This is the one public header. Conventions (see DESIGN.md in the project docs):
 *  - every symbol starts with signalr_ / SIGNALR_; handles are opaque;
 *  - fallible functions return int: 0 on success, a negative SIGNALR_E* code on failure;
 *  - error codes are append-only: a code, once released, keeps its number and meaning;
 *  - lengths are size_t, times are int32_t milliseconds, no enums as parameter types.
 */
#ifndef SIGNALR_SIGNALR_H
#define SIGNALR_SIGNALR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  if defined(SIGNALR_BUILDING)
#    define SIGNALR_API __declspec(dllexport)
#  else
#    define SIGNALR_API
#  endif
#elif defined(__GNUC__)
#  define SIGNALR_API __attribute__((visibility("default")))
#else
#  define SIGNALR_API
#endif

/* ---------------------------------------------------------------- version */

#define SIGNALR_VERSION_MAJOR 0
#define SIGNALR_VERSION_MINOR 1
#define SIGNALR_VERSION_PATCH 0
#define SIGNALR_VERSION_STRING "0.1.0"
/* (major << 16) | (minor << 8) | patch, comparable at compile time. */
#define SIGNALR_VERSION_NUMBER \
  ((SIGNALR_VERSION_MAJOR << 16) | (SIGNALR_VERSION_MINOR << 8) | SIGNALR_VERSION_PATCH)

/* The version of the library actually loaded, as "major.minor.patch".
 * Thread-safe, never blocks, callable from callbacks. Returns a static string. */
SIGNALR_API const char *signalr_version(void);

/* The same as SIGNALR_VERSION_NUMBER, for the loaded library. Thread-safe. */
SIGNALR_API int signalr_version_number(void);

/* ---------------------------------------------------------------- errors */

/* Error codes. Append-only: never renumbered, never reused. */
#define SIGNALR_OK              0
#define SIGNALR_EINVAL        (-1)  /* invalid argument from the caller */
#define SIGNALR_ENOMEM        (-2)  /* out of memory */
#define SIGNALR_EPROTO        (-3)  /* the peer broke the SignalR protocol (malformed message) */
#define SIGNALR_ETOOBIG       (-4)  /* a message exceeds the configured maximum size */
#define SIGNALR_EHANDSHAKE    (-5)  /* the server rejected the handshake */
#define SIGNALR_ENEGOTIATE    (-6)  /* negotiate failed (error field, malformed response) */
#define SIGNALR_ETRANSPORT    (-7)  /* the transport failed (socket, HTTP, WebSocket) */
#define SIGNALR_ETIMEOUT      (-8)  /* a timeout elapsed (handshake, server timeout, call) */
#define SIGNALR_ECLOSED       (-9)  /* the connection is closed */
#define SIGNALR_EHUB         (-10)  /* the hub method failed on the server (hub error text) */
#define SIGNALR_ECANCELED    (-11)  /* the operation was canceled */
#define SIGNALR_ESTATE       (-12)  /* not allowed in the connection's current state */
#define SIGNALR_ERECURSIVE   (-13)  /* a blocking call made from inside a callback */
#define SIGNALR_EUNSUPPORTED (-14)  /* not supported (transport, protocol, server version) */
#define SIGNALR_EHTTP        (-15)  /* unexpected HTTP status */
#define SIGNALR_ETLS         (-16)  /* TLS handshake or certificate verification failed */
#define SIGNALR_ECONNREFUSED (-17)  /* the server refused the TCP connection */
#define SIGNALR_EAUTH        (-18)  /* authentication or authorization failed (401/403) */
#define SIGNALR_ENOTFOUND    (-19)  /* HTTP 404: wrong path, or the connection is gone */
#define SIGNALR_EREDIRECT    (-20)  /* too many negotiate redirects, or an HTTP redirect */
#define SIGNALR_EENCODING    (-21)  /* hub arguments are not valid JSON / MessagePack / UTF-8 */
#define SIGNALR_EDEPTH       (-22)  /* a value is nested deeper than the library accepts */
#define SIGNALR_EAGAIN       (-23)  /* would block: a buffer is full, try again later */
#define SIGNALR_ENOHANDLER   (-24)  /* no handler for a server invocation that wants a result */
#define SIGNALR_ELEGACY      (-25)  /* the server is an old ASP.NET (non-Core) SignalR server */
/* One past the most negative code; codes run from -1 down to SIGNALR_ERROR_LAST. */
#define SIGNALR_ERROR_LAST   (-25)

/* A human-readable description of an error code, e.g. "the peer broke the SignalR
 * protocol". Unknown codes give "unknown error". Static string; thread-safe. */
SIGNALR_API const char *signalr_strerror(int code);

/* The code's symbolic name, e.g. "SIGNALR_EPROTO", or NULL for an unknown code.
 * Static string; thread-safe. Bindings generate their error types from it. */
SIGNALR_API const char *signalr_error_name(int code);

/* Iterates the table of every error code, so bindings need not copy it.
 * Call with *cursor = 0; each call stores the next code, its name and description
 * (static strings; any out-pointer may be NULL) and returns 1, or returns 0 at the end.
 * Thread-safe. */
SIGNALR_API int signalr_error_next(size_t *cursor, int *code, const char **name,
                                   const char **description);

/* ------------------------------------------------------- value encodings */

/* How a buffer of hub values (arguments, a result, a stream item) is encoded. */
#define SIGNALR_ENCODING_JSON    1  /* UTF-8 JSON text */
#define SIGNALR_ENCODING_MSGPACK 2  /* MessagePack bytes */

/* Converts one JSON value (UTF-8 text) to MessagePack, following the official clients'
 * mapping (integers stay exact up to 64 bits; non-integral numbers become float64).
 * On success *out receives a buffer to release with signalr_free() and *out_len its length.
 * Errors: SIGNALR_EENCODING (not one valid JSON value, invalid UTF-8), SIGNALR_EDEPTH,
 * SIGNALR_EINVAL, SIGNALR_ENOMEM. Thread-safe, never blocks, callable from callbacks. */
SIGNALR_API int signalr_json_to_msgpack(const char *json, size_t json_len,
                                        uint8_t **out, size_t *out_len);

/* Converts one MessagePack value to JSON text (NUL-terminated; *out_len excludes the NUL):
 * binary becomes a base64 string (as the JSON protocol carries byte arrays), a timestamp
 * an ISO-8601 UTC string, NaN and infinities null. Release *out with signalr_free().
 * Errors as signalr_json_to_msgpack. Thread-safe, never blocks, callable from callbacks. */
SIGNALR_API int signalr_msgpack_to_json(const uint8_t *msgpack, size_t msgpack_len,
                                        char **out, size_t *out_len);

/* Releases memory the library handed to the caller. NULL is allowed. Thread-safe. */
SIGNALR_API void signalr_free(void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* SIGNALR_SIGNALR_H */
