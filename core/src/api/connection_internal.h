/* signalr_connection's parts: the public calls (any thread, connection.c / conn_calls.c)
 * become commands for the I/O thread (conn_commands.c), where the engine runs against the
 * real transports (conn_io.c); the engine's events become queued events for the
 * application's thread (conn_events.c). */
#ifndef SR_API_CONNECTION_INTERNAL_H
#define SR_API_CONNECTION_INTERNAL_H

#include "api/internal.h"
#include "runtime/loop.h"
#include "transport/http.h"
#include "transport/transport.h"

/* Handlers are kept sorted by (hash of the lower-cased name, handle): a server call finds
 * its handlers by binary search, in registration order (handles only grow). */
typedef struct handler {
  uint32_t hash;
  uint64_t handle;
  char *method; /* lower case: names are case-insensitive */
  sr_callback *cb;
} handler;

/* FNV-1a over the ASCII-lower-cased name (what SignalR's case-insensitive match folds). */
uint32_t sr_handler_hash(const char *name);
/* Under c->mu: the index of the first handler with that hash (or where it would go). */
size_t sr_handler_find(const signalr_connection *c, uint32_t hash);

/* An invoke's or a stream's completion, carried through the engine as the call token.
 * Pooled on the I/O thread (free list), so calls allocate nothing in steady state. */
/* call_record.internal: 1, or this (a waiter that must not pass the events queued before it) */
#define SR_REC_ORDERED 2

typedef struct call_record {
  signalr_completion_fn fn;
  void *ud;
  int internal;         /* a blocking call's waiter: runs on the I/O thread, never queued;
                         * SR_REC_ORDERED: queued after the events ahead of it, if any */
  signalr_item_fn item; /* streams */
  uint64_t handle;      /* streams: what signalr_connection_stream_cancel names */
  struct call_record *next_free;
} call_record;

/* An upload stream attached to a call: the application's handle and the engine's id. */
typedef struct upload_slot {
  uint64_t handle;
  char id[24];
} upload_slot;

/* What a token request resumes once the provider answers. */
enum { TOKEN_FOR_NONE = 0, TOKEN_FOR_NEGOTIATE, TOKEN_FOR_OPEN };

struct signalr_connection {
  signalr_context *ctx;
  atomic_int refs;
  atomic_int freed;
  atomic_int state;            /* mirror of the engine's, for signalr_connection_state */
  atomic_int token_outstanding; /* a provider answer is awaited (signalr_connection_answer_token) */
  atomic_size_t unacked;       /* mirror of sr_engine_unacked_bytes, for backpressure */
  /* Flow control, shared by the application's threads and the I/O thread. */
  atomic_size_t queued_bytes;  /* cost of this connection's events waiting for the application */
  atomic_int rx_paused;        /* the I/O thread stopped reading (queued_bytes at the bound) */
  atomic_int resume_posted;    /* a CMD_RESUME is on its way */
  atomic_size_t out_pending;   /* bytes of message commands accepted, not yet given to the transport */
  atomic_size_t out_transport; /* mirror of sr_transport_queued_bytes */
  atomic_int want_writable;    /* an EAGAIN was returned: SIGNALR_EVENT_WRITABLE is owed */
  atomic_uint_fast64_t next_stream_handle;
  sr_settings s;
  pthread_mutex_t mu; /* handlers, connection_id, open uploads, deferred results */
  handler *handlers;
  size_t handler_count;
  uint64_t next_handle;
  char connection_id[128];
  struct open_upload {         /* opened and not completed */
    uint64_t handle;
    int attached;              /* to a call already */
  } *open_uploads;
  size_t open_upload_count;
  /* Upload items travel in batches: the first item posts a CMD_UPLOAD_BATCH, the next ones
   * join it (under mu) until the I/O thread takes it, it is full, or another command is
   * posted after it (so items never pass what was called after them). */
  sr_app_event *upload_batch;
  atomic_int upload_batch_open; /* upload_batch != NULL, readable without mu */
  struct deferred_result {     /* client results the application will answer later */
    uint64_t ticket;
    uint32_t session;          /* the engine's session the server's call came on */
    char *invocation_id;
  } *deferred;
  size_t deferred_count;
  uint64_t next_ticket;
  /* I/O thread only */
  sr_engine engine;
  int engine_ready;
  sr_transport *transport;
  sr_http *http;
  sr_timer *timer;
  int64_t timer_at;
  call_record start_done;
  int start_waiting;
  call_record *stop_done; /* the completions of the stops waiting (any number of them) */
  int stop_waiting, stop_cap;
  struct sr_cookie_jar *jar; /* the connection's cookies (libcurl's engine), made on first use */
  call_record *free_records;
  upload_slot *uploads;        /* attached uploads: handle -> the engine's stream id */
  size_t upload_count, upload_cap;
  sr_app_event *parked, *parked_tail; /* message commands waiting for room, in order */
  signalr_connection *settle_next;     /* in the context's list of connections to settle */
  /* The sizes of the messages handed to the transport and maybe not written yet, oldest
   * first (a ring; SR_SENT_APP marks a send or an upload item, which SEND_FAILED reports
   * one by one if the transport closes with them unwritten). */
  uint32_t *sent;
  size_t sent_head, sent_len, sent_cap, sent_bytes;
  int sending_app;                     /* the engine's next io.send is such a message */
  int settle_queued;
  int io_paused;               /* receive paused on the current transport */
  char *token;                 /* the provider's latest answer */
  int token_for;               /* TOKEN_FOR_*: the request waiting for it */
  int pending_transport, pending_binary;
  sr_buf pending_url;
  /* signalr_connection_diagnostics: the engine's record as JSON, republished by the I/O thread
   * when it changed (diag_json under mu; diag_version I/O thread only). */
  char *diag_json;
  uint32_t diag_version;
};

/* Commands: the kinds of the pooled sr_app_event objects posted to the I/O thread. */
enum {
  CMD_START = SR_APP_COMMAND,
  CMD_STOP,
  CMD_SEND,
  CMD_INVOKE,
  CMD_STREAM,
  CMD_CANCEL,
  CMD_RESULT,
  CMD_UPLOAD_BATCH,            /* upload items: sr_upload_batch_* records in value */
  CMD_UPLOAD_DONE,
  CMD_TOKEN,
  CMD_RETRY,
  CMD_FREE,
  CMD_RESUME,                  /* the application drained: read again */
  CMD_CANCEL_CALL,             /* signalr_call_cancel: handle names the invoke; never waits its turn */
  CMD_SET_URL,                 /* signalr_connection_set_url: the URL in target */
  CMD_SET_TIMEOUTS,            /* signalr_connection_set_timeouts: u.timeouts */
  CMD_SEND_RAW,                /* signalr_connection_send_raw: the bytes in value */
};

/* What signalr_connection_free collects from the I/O thread: the completions of every pending
 * operation, run with SIGNALR_ECLOSED on the freeing thread. */
typedef struct sr_free_wait {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  call_record *recs;
  size_t count, cap;
} sr_free_wait;

void sr_free_wait_add(sr_free_wait *w, const call_record *rec);
/* Runs every collected completion with SIGNALR_ECLOSED (then empties the list). */
void sr_free_wait_run(sr_free_wait *w, signalr_connection *c);
/* The I/O thread's work after any callback of the connection (a transport's, a timer's, a
 * command's): commands that waited for room, the writable notification, receive flow
 * control, the state mirror and the engine's timer. */
void sr_conn_settle(signalr_connection *c);
/* After a command: settles the connection once at the end of the loop turn (a batch of
 * commands, such as a burst of upload items, pays for one settle, not one each). */
void sr_conn_settle_later(signalr_connection *c);

void sr_conn_ref(signalr_connection *c);

/* A command carrying a copy of the call. method: target or invocation id; error: an error
 * text (CMD_RESULT / CMD_UPLOAD_DONE) or NULL. */
sr_app_event *sr_conn_command(signalr_connection *c, int type, const char *method, const void *data, size_t len,
                              int encoding, const char *error);
/* Upload item records in a CMD_UPLOAD_BATCH's value: header, then the item's bytes. */
typedef struct sr_upload_record {
  uint64_t handle;
  uint32_t len;
  int32_t encoding;
} sr_upload_record;
#define SR_UPLOAD_BATCH_MAX 4096 /* bytes of records per batch (what the event pool keeps) */
/* Posts it to the I/O thread (0), or releases it and returns the error. */
int sr_conn_post_command(signalr_connection *c, sr_app_event *cmd);
/* Both, for the common case. */
int sr_conn_post(signalr_connection *c, int type, const char *method, const void *data, size_t len, int encoding,
                 signalr_completion_fn fn, void *ud, const char *error);

/* signalr_connection_invoke with an internal completion (a blocking invoke's waiter);
 * internal: 1 or SR_REC_ORDERED (see call_record). */
/* SIGNALR_EAGAIN when sends are at their bound (and SIGNALR_EVENT_WRITABLE is then owed). */
int sr_conn_backpressure(signalr_connection *c);
/* Posts the cancel of the invoke with that handle (see signalr_call_cancel). */
int sr_conn_cancel_call(signalr_connection *c, uint64_t handle);
int sr_conn_invoke_internal(signalr_connection *c, const char *method, const void *args, size_t len, int encoding,
                            signalr_completion_fn cb, void *ud, int internal, uint64_t *handle);

/* I/O thread. */
void sr_conn_log(signalr_connection *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void sr_conn_push_completion(signalr_connection *c, call_record rec, const sr_error_info *err, const sr_payload *result);
void sr_conn_push_item(signalr_connection *c, const call_record *rec, const sr_payload *item);
void sr_conn_push_lifecycle(signalr_connection *c, int what, const sr_error_info *err);
void sr_conn_push_handler(signalr_connection *c, const sr_hub_message *m);
/* Raw connection: one received message for the raw_receive callback. */
void sr_conn_push_raw(signalr_connection *c, const sr_payload *data);
/* Application thread: runs the handlers of a server call and answers it (conn_results.c). */
void sr_conn_run_handlers(sr_app_event *ev);
void sr_conn_push_token_request(signalr_connection *c);
void sr_conn_push_retry_request(signalr_connection *c, uint32_t attempt, int64_t elapsed, const sr_error_info *err);
void sr_conn_arm_timer(signalr_connection *c);
void sr_conn_mirror(signalr_connection *c);
/* Republishes the diagnostics snapshot when the engine's record changed (conn_diag.c). */
void sr_conn_publish_diag(signalr_connection *c);
call_record *sr_conn_record_new(signalr_connection *c, const call_record *from);
void sr_conn_record_free(signalr_connection *c, call_record *rec);
sr_engine_io sr_conn_engine_io(signalr_connection *c);
/* The provider answered (token NULL: none; error < 0: failed): resumes the waiting request. */
void sr_conn_token_answered(signalr_connection *c, const char *token, int error);
/* Tears down what runs on the I/O thread (signalr_connection_free); the completions of what
 * was pending go to w (NULL: they run here, with SIGNALR_ECLOSED). */
void sr_conn_teardown(signalr_connection *c, sr_free_wait *w);
/* A message command that waited for room runs now (conn_commands.c). */
void sr_conn_run_parked(signalr_connection *c);
/* The engine's stream id of an attached upload, or NULL. */
const char *sr_conn_upload_id(signalr_connection *c, uint64_t handle);
void sr_conn_upload_forget(signalr_connection *c, uint64_t handle);

#endif
