/* C side of the cgo binding: the callbacks libsignalr calls, each forwarding to an exported
 * Go function, and thin wrappers that take user data as uintptr_t (a cgo.Handle) and method
 * names as pointer + length, so Go passes neither unsafe.Pointer-from-uintptr conversions
 * (go vet) nor a C.CString allocation per call.
 *
 * Every callback runs inside signalr_context_poll on the connection's event goroutine (a
 * poll-mode context), or inside signalr_connection_free on the freeing goroutine: always on
 * a thread Go created, never on the library's I/O thread. No free_user_data is registered:
 * the library may release user data on its I/O thread, so the Go side deletes its handles
 * itself once the connection and its context are freed. */
#include <stdlib.h>
#include <string.h>

#include "_cgo_export.h"
#include "trampolines.h"

/* NUL-terminated copy of a Go string: on the stack when short (method names), else malloc. */
#define NAME_STACK 128
#define WITH_NAME(p, n, var, body)                                  \
  do {                                                             \
    char stack_[NAME_STACK];                                       \
    char *var = (n) < NAME_STACK ? stack_ : malloc((n) + 1);        \
    if (!var) return SIGNALR_ENOMEM;                               \
    if (n) memcpy(var, (p), (n));                                      \
    var[(n)] = 0;                                                  \
    body;                                                          \
    if (var != stack_) free(var);                                  \
  } while (0)

static void on_completion(void *ud, signalr_connection *c, const signalr_value *result,
                          const signalr_error *err) {
  (void)c;
  goCompletion((uintptr_t)ud, (signalr_value *)result, (signalr_error *)err);
}

static void on_item(void *ud, signalr_connection *c, const signalr_value *item) {
  (void)c;
  goItem((uintptr_t)ud, (signalr_value *)item);
}

/* The handler's result buffer must outlive the call (the library copies it after we return):
 * it is kept here, per thread, and freed when the next handler starts on that thread. At
 * most one buffer per thread stays allocated. */
static _Thread_local void *handler_result;
static _Thread_local char *handler_error;

static int on_handler(void *ud, signalr_connection *c, const signalr_value *args, const void **result,
                      size_t *result_len, int *result_encoding, const char **error) {
  (void)c;
  free(handler_result);
  free(handler_error);
  handler_result = NULL;
  handler_error = NULL;
  void *buf = NULL;
  size_t len = 0;
  int enc = 0;
  char *msg = NULL;
  int rc = goHandler((uintptr_t)ud, (signalr_value *)args, &buf, &len, &enc, &msg);
  handler_result = buf;
  handler_error = msg;
  if (rc < 0) {
    *error = msg;
    return rc;
  }
  if (buf) {
    *result = buf;
    *result_len = len;
    *result_encoding = enc;
  }
  return 0;
}

static void on_lifecycle(void *ud, signalr_connection *c, int event, const signalr_error *err) {
  (void)c;
  goLifecycle((uintptr_t)ud, event, (signalr_error *)err);
}

static void on_log(void *ud, int level, const char *message) {
  goLog((uintptr_t)ud, level, (char *)message);
}

static int on_token(void *ud, signalr_connection *c, const char **token) {
  (void)c;
  (void)token;
  return goToken((uintptr_t)ud);
}

static int32_t on_retry(void *ud, uint32_t attempt, int64_t elapsed_ms, const signalr_error *err) {
  return goRetry((uintptr_t)ud, attempt, elapsed_ms, (signalr_error *)err);
}

int gosr_start(signalr_connection *c, uintptr_t h) {
  return signalr_connection_start(c, on_completion, (void *)h);
}

int gosr_stop(signalr_connection *c, uintptr_t h) {
  return signalr_connection_stop(c, h ? on_completion : NULL, (void *)h);
}

int gosr_invoke(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len,
                int enc, uintptr_t h) {
  int rc;
  WITH_NAME(m, mlen, name, rc = signalr_connection_invoke(c, name, args, len, enc, on_completion, (void *)h));
  return rc;
}

int gosr_invoke_call(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len, int enc,
                     int flags, signalr_call **call) {
  int rc;
  WITH_NAME(m, mlen, name, rc = signalr_connection_invoke_call(c, name, args, len, enc, flags, call));
  return rc;
}

int gosr_send(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len, int enc,
              uintptr_t h) {
  int rc;
  WITH_NAME(m, mlen, name,
            rc = signalr_connection_send_with_completion(c, name, args, len, enc, on_completion, (void *)h));
  return rc;
}

int gosr_stream(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len, int enc,
                uintptr_t h, uint64_t *handle) {
  int rc;
  WITH_NAME(m, mlen, name,
            rc = signalr_connection_stream(c, name, args, len, enc, on_item, on_completion, (void *)h, handle));
  return rc;
}

int gosr_invoke_uploads(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len,
                        int enc, const uint64_t *uploads, size_t n, uintptr_t h) {
  int rc;
  WITH_NAME(m, mlen, name,
            rc = signalr_connection_invoke_with_uploads(c, name, args, len, enc, uploads, n, on_completion,
                                                        (void *)h));
  return rc;
}

int gosr_send_uploads(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len,
                      int enc, const uint64_t *uploads, size_t n) {
  int rc;
  WITH_NAME(m, mlen, name, rc = signalr_connection_send_with_uploads(c, name, args, len, enc, uploads, n));
  return rc;
}

int gosr_stream_uploads(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len,
                        int enc, const uint64_t *uploads, size_t n, uintptr_t h, uint64_t *handle) {
  int rc;
  WITH_NAME(m, mlen, name,
            rc = signalr_connection_stream_with_uploads(c, name, args, len, enc, uploads, n, on_item,
                                                        on_completion, (void *)h, handle));
  return rc;
}

int gosr_on(signalr_connection *c, const char *m, size_t mlen, uintptr_t h, uint64_t *handle) {
  int rc;
  WITH_NAME(m, mlen, name, rc = signalr_connection_on(c, name, on_handler, (void *)h, NULL, handle));
  return rc;
}

int gosr_set_lifecycle(signalr_builder *b, uintptr_t h) {
  return signalr_builder_set_lifecycle(b, on_lifecycle, (void *)h, NULL);
}

int gosr_set_log(signalr_builder *b, uintptr_t h) {
  return signalr_builder_set_log(b, on_log, (void *)h, NULL);
}

int gosr_set_token(signalr_builder *b, uintptr_t h) {
  return signalr_builder_set_token_provider(b, on_token, (void *)h, NULL);
}

int gosr_set_retry(signalr_builder *b, uintptr_t h) {
  return signalr_builder_set_retry_policy(b, on_retry, (void *)h, NULL);
}
