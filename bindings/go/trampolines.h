/* Wrappers in trampolines.c: user data is a cgo.Handle (uintptr_t), names are pointer + length. */
#ifndef GOSR_TRAMPOLINES_H
#define GOSR_TRAMPOLINES_H
#include <stdint.h>
#include <signalr/signalr.h>

int gosr_start(signalr_connection *c, uintptr_t h);
int gosr_stop(signalr_connection *c, uintptr_t h);
int gosr_invoke(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len,
                int enc, uintptr_t h);
int gosr_invoke_call(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len, int enc,
                     int flags, signalr_call **call);
int gosr_send(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len, int enc,
              uintptr_t h);
int gosr_stream(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len, int enc,
                uintptr_t h, uint64_t *handle);
int gosr_invoke_uploads(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len,
                        int enc, const uint64_t *uploads, size_t n, uintptr_t h);
int gosr_send_uploads(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len,
                      int enc, const uint64_t *uploads, size_t n);
int gosr_stream_uploads(signalr_connection *c, const char *m, size_t mlen, const void *args, size_t len,
                        int enc, const uint64_t *uploads, size_t n, uintptr_t h, uint64_t *handle);
int gosr_on(signalr_connection *c, const char *m, size_t mlen, uintptr_t h, uint64_t *handle);
int gosr_set_lifecycle(signalr_builder *b, uintptr_t h);
int gosr_set_log(signalr_builder *b, uintptr_t h);
int gosr_set_token(signalr_builder *b, uintptr_t h);
int gosr_set_retry(signalr_builder *b, uintptr_t h);
#endif
