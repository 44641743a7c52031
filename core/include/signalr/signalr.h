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

/* Windows: exported when building the DLL, imported by its consumers; a consumer of the
 * static library defines SIGNALR_STATIC (the CMake target signalr_static and pkg-config
 * --static do), as with libcurl's CURL_STATICLIB. */
#if defined(_WIN32)
#  if defined(SIGNALR_BUILDING)
#    define SIGNALR_API __declspec(dllexport)
#  elif defined(SIGNALR_STATIC)
#    define SIGNALR_API
#  else
#    define SIGNALR_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define SIGNALR_API __attribute__((visibility("default")))
#else
#  define SIGNALR_API
#endif

/* ---------------------------------------------------------------- version */

#define SIGNALR_VERSION_MAJOR 0
#define SIGNALR_VERSION_MINOR 2
#define SIGNALR_VERSION_PATCH 0
#define SIGNALR_VERSION_STRING "0.2.0"
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


/* ================================================================= connections
 *
 * Threading model. A signalr_context owns one I/O thread shared by its connections.
 * The I/O thread never runs application code unless the context was created with
 * SIGNALR_CONTEXT_DIRECT: events (handler calls, completions, stream items, lifecycle
 * events, logs) are queued and run by signalr_context_poll() on the application's thread.
 * signalr_context_wakeup_fd() becomes readable while events are waiting, for event loops.
 *
 * Every signalr_connection_* function is thread-safe. Inputs are copied before the call
 * returns. Values handed to a callback are borrowed for the duration of the callback.
 * Every operation with a completion (start, stop, invoke, stream) completes exactly once. */

typedef struct signalr_context signalr_context;
typedef struct signalr_builder signalr_builder;
typedef struct signalr_connection signalr_connection;
typedef struct signalr_error signalr_error;
typedef struct signalr_value signalr_value;

/* ------------------------------------------------------------------ context */

/* Flag for signalr_context_new: run callbacks directly on the I/O thread (lowest latency;
 * callbacks must not block, and blocking calls from them return SIGNALR_ERECURSIVE). */
#define SIGNALR_CONTEXT_DIRECT 1

/* Creates a context and starts its I/O thread. flags: 0 or SIGNALR_CONTEXT_DIRECT. */
SIGNALR_API int signalr_context_new(signalr_context **out, int flags);

/* Stops the I/O thread and frees the context. Every connection must have been freed first
 * (SIGNALR_ESTATE otherwise, and nothing is freed). Not callable from a callback
 * (SIGNALR_ERECURSIVE). Blocks until the I/O thread has exited. */
SIGNALR_API int signalr_context_free(signalr_context *ctx);

/* Runs queued callbacks on the calling thread, waiting up to timeout_ms (-1: until at least
 * one event or an interrupt; 0: do not wait) for the first one. Returns how many callbacks
 * ran (0 on timeout or interrupt), or SIGNALR_ERECURSIVE when called from a callback.
 * One call runs at most the poll budget (signalr_context_set_poll_budget, default 1024) of
 * the events queued when it started, so an event loop is never frozen by a backlog: when
 * more are waiting the wakeup fd stays readable. Call it from one thread at a time.
 *
 * While it waits (timeout_ms != 0, nothing queued yet), the calling thread runs the
 * context's I/O itself and the I/O thread stands by: an event is made on the thread that
 * runs it, with no hand-off between threads. Calls the callbacks make (send, invoke, ...)
 * are written before poll returns. The I/O thread takes its work back within a few ms
 * (at most 32 ms) after the application stops polling, at once when another thread calls
 * into a connection. While a poll runs the I/O this way, the wakeup fd is not made
 * readable for the events it takes itself.
 *
 * Receive flow control: each connection queues at most application_max_buffer_size bytes of
 * events (builder option); at that bound it stops reading from its socket (TCP pushes back on
 * the server; nothing is dropped) and reads again once polling has halved the backlog. Its
 * own pause never trips the server timeout. */
SIGNALR_API int signalr_context_poll(signalr_context *ctx, int32_t timeout_ms);

/* The most events one signalr_context_poll runs (>= 1; SIGNALR_EINVAL otherwise).
 * Thread-safe, never blocks, callable from callbacks (takes effect at the next poll). */
SIGNALR_API int signalr_context_set_poll_budget(signalr_context *ctx, int max_events);

/* Makes a signalr_context_poll() that is waiting return at once. Thread-safe. */
SIGNALR_API int signalr_context_interrupt(signalr_context *ctx);

/* A file descriptor that is readable while events are queued (level-triggered; reading it
 * is not needed: poll drains it). Owned by the context. Thread-safe. */
SIGNALR_API int signalr_context_wakeup_fd(signalr_context *ctx);

/* ------------------------------------------------------------------ error detail */

/* Details of a failure, attached to completions and lifecycle events (borrowed there) or
 * returned through out-parameters (then owned by the caller: signalr_error_free). */
SIGNALR_API int signalr_error_code(const signalr_error *err);
/* The message: the server's text where there is one (hub errors, Close, handshake). */
SIGNALR_API const char *signalr_error_message(const signalr_error *err);
/* The HTTP status involved, or 0. */
SIGNALR_API int signalr_error_http_status(const signalr_error *err);
/* What to do about it, from the troubleshooting guide, or NULL. */
SIGNALR_API const char *signalr_error_hint(const signalr_error *err);
/* 1 when the server closed the connection and allowed the client to reconnect. */
SIGNALR_API int signalr_error_allow_reconnect(const signalr_error *err);
SIGNALR_API signalr_error *signalr_error_copy(const signalr_error *err);
SIGNALR_API void signalr_error_free(signalr_error *err);

/* ------------------------------------------------------------------ received values */

/* Received arguments (an array), a result or a stream item, in the wire's encoding.
 * Borrowed: valid during the callback that received it. */
SIGNALR_API int signalr_value_encoding(const signalr_value *v);
SIGNALR_API const uint8_t *signalr_value_data(const signalr_value *v, size_t *len);
/* The value as JSON text (NUL-terminated; converted on first use for MessagePack). */
SIGNALR_API int signalr_value_json(const signalr_value *v, const char **json, size_t *len);

/* ------------------------------------------------------------------ builder */

/* Options are string keys and values, listed by signalr_option_next. */
SIGNALR_API int signalr_builder_new(signalr_builder **out);
SIGNALR_API void signalr_builder_free(signalr_builder *b);

/* Sets an option. Errors: SIGNALR_EINVAL with the reason in errbuf (unknown key, bad value).
 * errbuf may be NULL. Not thread-safe for one builder. */
SIGNALR_API int signalr_builder_set(signalr_builder *b, const char *key, const char *value,
                                    char *errbuf, size_t errlen);

/* Iterates the option table: *cursor = 0 first; returns 1 with static strings, 0 at the end. */
SIGNALR_API int signalr_option_next(size_t *cursor, const char **name, const char **type,
                                    const char **default_value, const char **description);

/* Log levels (the official clients' names: trace, debug, information, warning, error,
 * critical, none). */
#define SIGNALR_LOG_TRACE 0
#define SIGNALR_LOG_DEBUG 1
#define SIGNALR_LOG_INFORMATION 2
#define SIGNALR_LOG_WARNING 3
#define SIGNALR_LOG_ERROR 4
#define SIGNALR_LOG_CRITICAL 5
#define SIGNALR_LOG_NONE 6

typedef void (*signalr_log_fn)(void *user_data, int level, const char *message);
/* Where logs go (queued to the application's thread like every event). */
SIGNALR_API int signalr_builder_set_log(signalr_builder *b, signalr_log_fn fn, void *user_data,
                                        void (*free_user_data)(void *));

/* Lifecycle events. */
#define SIGNALR_EVENT_CONNECTED 1    /* err NULL */
/* err NULL: stopped by the application, or the server sent a Close message without an error
 * (as the official clients report it; calls still pending fail with SIGNALR_ECLOSED). */
#define SIGNALR_EVENT_CLOSED 2
#define SIGNALR_EVENT_SLOW 3         /* nothing received for 2/3 of server_timeout_ms */
#define SIGNALR_EVENT_RECONNECTING 4 /* err: why the connection was lost */
#define SIGNALR_EVENT_RECONNECTED 5
/* Sending has room again: a send or upload write returned SIGNALR_EAGAIN since the last
 * such event, and the outgoing backlog has fallen to half of transport_max_buffer_size (and,
 * with stateful reconnect, below its buffer). err NULL. Bindings wait for it instead of
 * retrying on a timer. */
#define SIGNALR_EVENT_WRITABLE 6
/* A message accepted by signalr_connection_send (without a completion) could not be sent:
 * err says which method and why (the connection was lost before it was written, say).
 * Also, once per message, for sends, sends with a completion and upload items that the
 * transport had taken but not written when it closed (a stop aborted at close_timeout_ms, a
 * lost connection; not with stateful reconnect, which replays them): err then says how many
 * and why, not the method. Nothing the API accepted is dropped silently. */
#define SIGNALR_EVENT_SEND_FAILED 7

typedef void (*signalr_lifecycle_fn)(void *user_data, signalr_connection *conn, int event,
                                     const signalr_error *err);
SIGNALR_API int signalr_builder_set_lifecycle(signalr_builder *b, signalr_lifecycle_fn fn,
                                              void *user_data, void (*free_user_data)(void *));

/* Access-token provider: asked for a token before each negotiate and each transport connect
 * (again on every reconnect), except that after a negotiate redirect carrying an accessToken
 * that token is used. Runs like any event: on the application's thread through
 * signalr_context_poll (on the I/O thread in direct mode). Return 0 with *token set to a
 * NUL-terminated token, copied as soon as the provider returns (NULL or "" sends none);
 * or SIGNALR_EAGAIN to answer later, from any thread, with signalr_connection_answer_token
 * (for asynchronous sources); or another negative code to fail the connect attempt with it.
 * The provider replaces the access_token option. */
typedef int (*signalr_token_fn)(void *user_data, signalr_connection *conn, const char **token);
SIGNALR_API int signalr_builder_set_token_provider(signalr_builder *b, signalr_token_fn fn,
                                                   void *user_data, void (*free_user_data)(void *));

/* Retry policy for automatic reconnect (and for the first start with reconnect_on_start):
 * attempt counts from 1, elapsed_ms is the time since the connection was lost (or since the
 * start began), err the last failure (borrowed). Return the delay in milliseconds before the
 * next attempt, or a negative value to give up (the connection then closes with err).
 * Runs like any event (application thread unless direct). Setting it turns automatic
 * reconnect on and replaces the reconnect_delays_ms option. */
typedef int32_t (*signalr_retry_fn)(void *user_data, uint32_t attempt, int64_t elapsed_ms,
                                    const signalr_error *err);
SIGNALR_API int signalr_builder_set_retry_policy(signalr_builder *b, signalr_retry_fn fn,
                                                 void *user_data, void (*free_user_data)(void *));

/* Creates a connection (disconnected) on ctx with a copy of the builder's options; the
 * builder can be reused or freed. errbuf may be NULL. */
SIGNALR_API int signalr_builder_build(signalr_builder *b, signalr_context *ctx,
                                      signalr_connection **out, char *errbuf, size_t errlen);

/* ------------------------------------------------------------------ connection */

#define SIGNALR_STATE_DISCONNECTED 0
#define SIGNALR_STATE_CONNECTING 1
#define SIGNALR_STATE_CONNECTED 2
#define SIGNALR_STATE_RECONNECTING 3
#define SIGNALR_STATE_DISCONNECTING 4

/* Completion of start, stop and invoke: result is the invoke's return value (NULL for start,
 * stop, void methods, and on error); err NULL on success (a hub method's exception arrives
 * as SIGNALR_EHUB with the server's text). */
typedef void (*signalr_completion_fn)(void *user_data, signalr_connection *conn,
                                      const signalr_value *result, const signalr_error *err);

/* Starts connecting; cb (may be NULL) runs once when connected or failed.
 *
 * Completions, all of them (start, stop, invoke, stream, send with a completion): each runs
 * exactly once. signalr_connection_free completes every pending one with SIGNALR_ECLOSED on
 * the freeing thread before it returns (no other callback of the connection runs then), so
 * bindings need no table of their own to release what they handed over. */
SIGNALR_API int signalr_connection_start(signalr_connection *conn, signalr_completion_fn cb,
                                         void *user_data);
/* Starts and waits up to timeout_ms (-1: no limit). *err (may be NULL) receives the detail
 * of a failure, to free with signalr_error_free; for SIGNALR_ETIMEOUT it names the step the
 * start had reached (negotiate, transport, handshake), and the start goes on.
 * SIGNALR_ERECURSIVE from a callback. */
SIGNALR_API int signalr_connection_start_blocking(signalr_connection *conn, int32_t timeout_ms,
                                                  signalr_error **err);
/* Stops: sends Close, closes the transport; pending invocations complete with
 * SIGNALR_ECLOSED. cb (may be NULL) runs once stopped, within close_timeout_ms (builder
 * option, default 5000) of the transport's close plus a margin: a server that does not read
 * or does not answer the close is aborted, not waited for. */
SIGNALR_API int signalr_connection_stop(signalr_connection *conn, signalr_completion_fn cb,
                                        void *user_data);
SIGNALR_API int signalr_connection_stop_blocking(signalr_connection *conn, int32_t timeout_ms);

/* SIGNALR_STATE_*. */
SIGNALR_API int signalr_connection_state(signalr_connection *conn);
/* Copies the connection id into buf: empty when there is none (skip_negotiation, or not
 * connected: closed or reconnecting, as the official clients' ConnectionId is null then). */
SIGNALR_API int signalr_connection_id(signalr_connection *conn, char *buf, size_t buflen);

/* Calls a hub method without waiting for a result. args: an array, as JSON text or
 * MessagePack bytes (encoding: SIGNALR_ENCODING_*). Thread-safe, never blocks.
 * Send backpressure: bytes accepted and not yet written are bounded by
 * transport_max_buffer_size (builder option, default 1 MiB; with stateful reconnect also by
 * its buffer of unacknowledged bytes). At the bound it returns SIGNALR_EAGAIN and accepts
 * nothing; SIGNALR_EVENT_WRITABLE follows when there is room. SIGNALR_ESTATE when the
 * connection is not connected (the official clients throw then). A message accepted (0) is
 * written, or its failure arrives as SIGNALR_EVENT_SEND_FAILED: never only a log line. */
SIGNALR_API int signalr_connection_send(signalr_connection *conn, const char *method,
                                        const void *args, size_t args_len, int encoding);
/* signalr_connection_send with a completion, like the official clients' SendAsync: cb runs
 * once, err NULL when the message was handed to the transport (or, with stateful reconnect,
 * buffered for replay), else with the failure. Returns as signalr_connection_send; cb runs
 * only when it returned 0. */
SIGNALR_API int signalr_connection_send_with_completion(signalr_connection *conn, const char *method,
                                                        const void *args, size_t args_len,
                                                        int encoding, signalr_completion_fn cb,
                                                        void *user_data);
/* Calls a hub method; cb runs once with its result or error. An invoke (and a stream) that
 * meets a full outgoing buffer or a full stateful-reconnect buffer is not refused: it waits
 * for room on the I/O thread, in order, and completes later, as the official clients await. */
SIGNALR_API int signalr_connection_invoke(signalr_connection *conn, const char *method,
                                          const void *args, size_t args_len, int encoding,
                                          signalr_completion_fn cb, void *user_data);
/* Calls a hub method and waits up to timeout_ms (-1: no limit) for its result, like an
 * awaited InvokeAsync of the official clients. Blocking; thread-safe; SIGNALR_ERECURSIVE from
 * a callback. On 0, *result (when result is not NULL) receives a copy of the result in the
 * call's encoding (JSON text, not NUL-terminated, or MessagePack bytes), to free with
 * signalr_free (a method that returns nothing gives null, as the completion of
 * signalr_connection_invoke has it; NULL with *result_len 0 only when the server's completion
 * carried no value at all). Otherwise the
 * call's error, as the completion of signalr_connection_invoke would have it, with *err (may
 * be NULL) to free with signalr_error_free; SIGNALR_ETIMEOUT when the time ran out (the call
 * is then canceled as by signalr_call_cancel: released, a late result dropped). In a poll-mode context the waiting
 * thread runs the connection's I/O itself while no other thread does (as a waiting
 * signalr_context_poll does): a call in a loop costs no hand-off between threads. Callbacks
 * of other operations are not run by it: they stay queued for signalr_context_poll. */
SIGNALR_API int signalr_connection_invoke_blocking(signalr_connection *conn, const char *method,
                                                  const void *args, size_t args_len, int encoding,
                                                  int32_t timeout_ms, void **result, size_t *result_len,
                                                  signalr_error **err);

/* The same call, waited for in as many steps as the caller likes: signalr_connection_invoke_call
 * sends it and returns a handle; signalr_call_wait waits for it (running the connection's I/O on
 * the waiting thread as signalr_connection_invoke_blocking does) and can be called again after
 * SIGNALR_EAGAIN, so a binding can wait in slices and look for Ctrl-C between them without
 * losing the result. */
typedef struct signalr_call signalr_call;

/* Calls a hub method; *call (to free with signalr_call_free) is its handle. Thread-safe, never
 * blocks, callable from callbacks (waiting is not). The errors of signalr_connection_invoke,
 * and SIGNALR_EINVAL for unknown flags. flags: 0, or SIGNALR_CALL_ORDERED. */
SIGNALR_API int signalr_connection_invoke_call(signalr_connection *conn, const char *method, const void *args,
                                               size_t args_len, int encoding, int flags, signalr_call **call);
/* The outcome passes no event queued before it: signalr_call_wait returns once the callbacks
 * of what arrived first (handlers, say) have run, as an awaited InvokeAsync of the official
 * clients sees them. Those run on the thread that polls the context: one must. Without it
 * the outcome may overtake them (they stay queued for the next poll). */
#define SIGNALR_CALL_ORDERED 1
/* Waits up to timeout_ms (-1: no limit; 0: only looks) for the call's outcome. SIGNALR_EAGAIN:
 * not complete yet, call again (an invoke's own outcome is never EAGAIN: it waits for room).
 * Otherwise the outcome, once, as signalr_connection_invoke_blocking reports it (*result,
 * *result_len and *err, each may be NULL, with the same ownership); a later call gives
 * SIGNALR_ESTATE. Blocking; one thread at a time per call; SIGNALR_ERECURSIVE from a callback. */
SIGNALR_API int signalr_call_wait(signalr_call *call, int32_t timeout_ms, void **result, size_t *result_len,
                                  signalr_error **err);
/* Releases the handle; a call still pending is canceled as by signalr_call_cancel (its result,
 * if the server still sends one, is dropped). NULL is a no-op. Any thread, also from callbacks;
 * never blocks. Before the context's free. */
SIGNALR_API void signalr_call_free(signalr_call *call);

/* One item of a server-to-client stream, in the wire's encoding (borrowed for the call). */
typedef void (*signalr_item_fn)(void *user_data, signalr_connection *conn, const signalr_value *item);

/* Starts a server-to-client stream (the hub method returns IAsyncEnumerable or a
 * ChannelReader). item runs for each item in order; done runs once at the end: err NULL when
 * the stream completed, SIGNALR_EHUB with the server's text when it failed, SIGNALR_ECANCELED
 * after signalr_connection_stream_cancel, SIGNALR_ECLOSED when the connection closed.
 * *handle (may be NULL) identifies the stream for cancel. Thread-safe. */
SIGNALR_API int signalr_connection_stream(signalr_connection *conn, const char *method,
                                          const void *args, size_t args_len, int encoding,
                                          signalr_item_fn item, signalr_completion_fn done,
                                          void *user_data, uint64_t *handle);
/* Cancels a stream: CancelInvocation goes to the server, items it sends later are dropped
 * (items already queued for the application still run), and done
 * runs with SIGNALR_ECANCELED (unless the stream had already ended). Thread-safe. */
SIGNALR_API int signalr_connection_stream_cancel(signalr_connection *conn, uint64_t handle);

/* Client-to-server (upload) streams. A hub method that takes a ChannelReader<T> or an
 * IAsyncEnumerable<T> receives one upload stream per such parameter; the official clients'
 * "Subject"/"ChannelWriter" arguments. Open a stream, attach it to exactly one call with the
 * *_with_uploads functions (the hub method receives the streams after args, in the given
 * order), then write items and complete it. Thread-safe; inputs are copied.
 *
 * signalr_connection_upload_open: a new stream handle (not yet attached).
 * signalr_connection_upload_write: one item, a single value as JSON text or MessagePack bytes.
 *   SIGNALR_ESTATE before the stream is attached to a call or after it completed;
 *   SIGNALR_EAGAIN when the connection's outgoing buffer is full: nothing accepted; write it
 *   again after SIGNALR_EVENT_WRITABLE;
 *   SIGNALR_ECLOSED when the connection is not connected.
 * signalr_connection_upload_complete: ends the stream; error NULL completes it normally, else
 *   the hub method observes the stream failing with that message. The handle is released. */
SIGNALR_API int signalr_connection_upload_open(signalr_connection *conn, uint64_t *stream);
SIGNALR_API int signalr_connection_upload_write(signalr_connection *conn, uint64_t stream,
                                                const void *item, size_t item_len, int encoding);
SIGNALR_API int signalr_connection_upload_complete(signalr_connection *conn, uint64_t stream,
                                                   const char *error);
/* signalr_connection_send / _invoke with upload streams attached (uploads: handles from
 * signalr_connection_upload_open, each attached to one call only: SIGNALR_ESTATE otherwise). */
SIGNALR_API int signalr_connection_send_with_uploads(signalr_connection *conn, const char *method,
                                                     const void *args, size_t args_len, int encoding,
                                                     const uint64_t *uploads, size_t upload_count);
SIGNALR_API int signalr_connection_invoke_with_uploads(signalr_connection *conn, const char *method,
                                                       const void *args, size_t args_len,
                                                       int encoding, const uint64_t *uploads,
                                                       size_t upload_count,
                                                       signalr_completion_fn cb, void *user_data);
/* signalr_connection_stream with upload streams attached (the hub method both receives
 * uploads and returns a stream). */
SIGNALR_API int signalr_connection_stream_with_uploads(signalr_connection *conn, const char *method,
                                                       const void *args, size_t args_len,
                                                       int encoding, const uint64_t *uploads,
                                                       size_t upload_count, signalr_item_fn item,
                                                       signalr_completion_fn done, void *user_data,
                                                       uint64_t *handle);

/* Answers a token provider that returned SIGNALR_EAGAIN: token (copied; NULL or "" for none),
 * or error < 0 (token ignored) to fail the connect attempt with that code. Thread-safe, never
 * blocks, callable from callbacks. SIGNALR_ESTATE when no token request is outstanding. */
SIGNALR_API int signalr_connection_answer_token(signalr_connection *conn, const char *token,
                                                int error);

/* A handler for a client method the server calls. To answer a server invocation that
 * expects a result (client results), set result, result_len and result_encoding to a buffer
 * the library copies after the call, or return a negative code with *error set to a message
 * (copied) to send an error. Returning 0 without a result to a call that expects one sends
 * "Client didn't provide a result." To answer later (the result needs I/O, or another
 * thread), call signalr_connection_defer_result before returning. With several handlers for
 * one method, the first that answers, fails or defers decides; the others still run. */
typedef int (*signalr_handler_fn)(void *user_data, signalr_connection *conn,
                                  const signalr_value *args, const void **result,
                                  size_t *result_len, int *result_encoding, const char **error);

/* Client results answered after the handler returned.
 *
 * signalr_connection_defer_result: only from inside a handler of conn, for a server call that
 *   expects a result and that no earlier handler answered: *ticket names the call for
 *   signalr_connection_answer_result, and what the handler returns is then ignored.
 *   SIGNALR_ESTATE elsewhere (outside a handler, a call without result, already answered).
 * signalr_connection_answer_result: sends the answer: result (copied; NULL: a null result),
 *   or error (copied; not NULL: the server's caller gets a HubException with it). Each ticket
 *   is answered once (SIGNALR_ESTATE after). If the server connection the call came on is gone
 *   (a reconnect that was not stateful), the answer is dropped with a warning in the log: the
 *   server has already failed that call. Thread-safe, never blocks, callable from callbacks.
 *   An application that never answers a deferred call leaves the server's caller waiting;
 *   the tickets of an old server connection are released at the next deferral or at free. */
SIGNALR_API int signalr_connection_defer_result(signalr_connection *conn, uint64_t *ticket);
SIGNALR_API int signalr_connection_answer_result(signalr_connection *conn, uint64_t ticket,
                                                 const void *result, size_t result_len,
                                                 int encoding, const char *error);

/* Registers a handler (method names are case-insensitive; several handlers per method run
 * in registration order). *handle identifies it for signalr_connection_off. */
SIGNALR_API int signalr_connection_on(signalr_connection *conn, const char *method,
                                      signalr_handler_fn fn, void *user_data,
                                      void (*free_user_data)(void *), uint64_t *handle);
SIGNALR_API int signalr_connection_off(signalr_connection *conn, uint64_t handle);

/* Frees the connection: stops it if needed (aborting the transport), drops its queued events
 * and handlers, and completes every pending operation (start, stop, invoke, stream, send with
 * a completion, including those whose result was queued but not yet run) once with
 * SIGNALR_ECLOSED, on the calling thread, before it returns. Safe from any thread, also from
 * inside its own callbacks; blocks only for the I/O thread to hand the pending operations
 * over (never for the network). After it returns no new callback for the connection starts.
 * Exception: called on the I/O thread (a callback in SIGNALR_CONTEXT_DIRECT mode), the pending
 * completions run on the I/O thread right after that callback returns. */
SIGNALR_API void signalr_connection_free(signalr_connection *conn);

/* What the connection's last connect attempt (a start, or a reconnect's) saw, for diagnosis:
 * one JSON object (UTF-8, NUL-terminated; *out_len, which may be NULL, excludes the NUL), to
 * free with signalr_free. Members (more may be added; none is removed):
 *   "url"         the configured URL;
 *   "phase"       how far the attempt got: "none" (not started), "negotiate", "transport"
 *                 (connecting it), "handshake" (transport open, handshake sent), "connected";
 *                 a failed start stops at the phase that failed;
 *   "negotiate"   {"requests": negotiate POSTs made in the attempt (redirects and transport
 *                 fallbacks count), "status": the last one's HTTP status (0: none, or it failed
 *                 below HTTP), "url": its URL, "redirect_count", "redirects": the URLs followed
 *                 (Azure SignalR-style url + accessToken answers; the first 16), "response": the
 *                 last answer (a JSON object as the server sent it, the connection token and any
 *                 access token replaced by "(present)"; the text, cut to 2 KB, when it was not
 *                 JSON; null when none)};
 *   "transport"   the transport chosen ("WebSockets", "ServerSentEvents", "LongPolling") or null;
 *   "protocol"    "json" or "messagepack"; "stateful_reconnect": negotiated and in use;
 *   "server_pings" {"count": Pings received since the handshake, "last_gap_ms": between the
 *                 last two (the first from the handshake), "max_gap_ms": the longest between two
 *                 pings; -1: none}, to compare with the server's KeepAliveInterval;
 *   "server_timeout_ms", "keep_alive_interval_ms": the client's settings.
 * Thread-safe, never blocks (a snapshot the I/O thread keeps current), callable from callbacks.
 * Errors: SIGNALR_EINVAL (conn or out NULL), SIGNALR_ENOMEM. */
SIGNALR_API int signalr_connection_diagnostics(signalr_connection *conn, char **out, size_t *out_len);

/* ---------------------------------------------------------------- added after 0.2.0 (append only) */

/* Cancels a pending call (signalr_connection_invoke_call): its outcome becomes SIGNALR_ECANCELED,
 * once (signalr_call_wait returns it), and the connection forgets the call: a result the server
 * sends later is dropped, nothing stays allocated for it. Nothing is sent to the server (SignalR
 * has no cancel for an invocation; the hub method runs on), as with a canceled InvokeAsync of the
 * official clients. An invoke still waiting for room to be sent is not sent. A call that has its
 * outcome already keeps it (0, nothing changes). Returns 0, SIGNALR_EINVAL (NULL) or
 * SIGNALR_ENOMEM. Thread-safe (also while another thread waits in signalr_call_wait), never
 * blocks, callable from callbacks; the handle stays the caller's (signalr_call_free). */
SIGNALR_API int signalr_call_cancel(signalr_call *call);

/* Changes the hub URL (http, https, ws or wss; copied) for the connection's next connect
 * attempt, as the official clients' baseUrl: allowed while disconnected (before a start) and
 * while reconnecting, typically from the SIGNALR_EVENT_RECONNECTING callback to reconnect
 * elsewhere; SIGNALR_ESTATE otherwise, SIGNALR_EINVAL for a URL of another scheme. A reconnect
 * attempt already under way keeps its URL: from the RECONNECTING callback the change reaches the
 * first attempt when that waits for the application (a retry policy set with
 * signalr_builder_set_retry_policy: it is asked after the event) or has a delay (the default
 * first delay is 0 ms: the change may reach the second attempt only). A negotiate redirect
 * chain starts over from the new URL. Thread-safe, never blocks, callable from callbacks. */
SIGNALR_API int signalr_connection_set_url(signalr_connection *conn, const char *url);

/* Changes the server timeout and the keep-alive interval of a connection, also while it is
 * connected (the builder's server_timeout_ms and keep_alive_interval_ms; -1 leaves one as it
 * is, 0 turns it off), as the official clients' serverTimeoutInMilliseconds and
 * keepAliveIntervalInMilliseconds. In effect at once, counted from the last message received
 * (a server timeout shorter than the silence so far closes the connection with
 * SIGNALR_ETIMEOUT now) and the last message sent. SIGNALR_EINVAL below -1. Thread-safe, never
 * blocks, callable from callbacks. */
SIGNALR_API int signalr_connection_set_timeouts(signalr_connection *conn, int32_t server_timeout_ms,
                                                int32_t keep_alive_interval_ms);

/* Raw connections: the official clients' HttpConnection, for an ASP.NET Core ConnectionHandler
 * (MapConnectionHandler) rather than a hub. Build with the option raw=text or raw=binary (the
 * transfer format negotiate asks for; binary excludes Server-Sent Events): negotiate and the
 * transport run as for a hub, with no handshake, pings or hub messages; start completes when
 * the transport is open, stop closes it; lifecycle events, reconnect and the options (headers,
 * token, TLS, cookies, transports) work as for a hub.
 *
 * signalr_builder_set_raw_receive: fn runs for each message the transport received, with its
 *   bytes (borrowed for the call) and binary = 1 for the binary transfer format. Messages are
 *   what the transport delivered: one WebSocket message, one SSE event, one poll's body; a
 *   server that writes twice may arrive as one message or two (a byte stream, as the official
 *   HttpConnection's). Runs like any event (signalr_context_poll's thread unless direct).
 * signalr_connection_send_raw: sends bytes (copied) as they are, in order with other sends;
 *   backpressure and failures as signalr_connection_send (SIGNALR_EAGAIN at the bound, then
 *   SIGNALR_EVENT_WRITABLE; a message that cannot go out: SIGNALR_EVENT_SEND_FAILED).
 *   SIGNALR_EINVAL on a connection that is not raw, SIGNALR_ESTATE when not connected.
 *   Thread-safe, never blocks, callable from callbacks. */
typedef void (*signalr_raw_fn)(void *user_data, signalr_connection *conn, const uint8_t *data,
                               size_t len, int binary);
SIGNALR_API int signalr_builder_set_raw_receive(signalr_builder *b, signalr_raw_fn fn, void *user_data,
                                                void (*free_user_data)(void *));
SIGNALR_API int signalr_connection_send_raw(signalr_connection *conn, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SIGNALR_SIGNALR_H */
