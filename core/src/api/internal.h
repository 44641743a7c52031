/* The objects behind the public handles. */
#ifndef SR_API_INTERNAL_H
#define SR_API_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/engine.h"
#include "runtime/loop.h"
#include "signalr/signalr.h"
#include "util/buf.h"

struct signalr_error {
  sr_error_info info;
};

struct signalr_value {
  const uint8_t *data;
  size_t len;
  int encoding;
  sr_buf json; /* the JSON view, made on first use */
};

signalr_error *sr_error_new(const sr_error_info *info);

/* The User-Agent value in the official clients' format (user_agent.c); binding is the
 * builder's binding option ("Python 3.11.2"; NULL: the C library). */
void sr_format_user_agent(char *buf, size_t len, const char *binding);

/* A callback with its user_data, shared by a builder and the connections built from it:
 * free_user_data runs once, when the last holder lets go. */
typedef struct sr_callback {
  atomic_int refs;
  void (*fn)(void);
  void *user_data;
  void (*free_user_data)(void *);
} sr_callback;

sr_callback *sr_callback_new(void (*fn)(void), void *ud, void (*free_ud)(void *));
sr_callback *sr_callback_ref(sr_callback *cb);
void sr_callback_unref(sr_callback *cb);

/* The settings a connection copies from its builder. */
typedef struct sr_settings {
  sr_engine_config engine;   /* engine.url is owned */
  char *access_token;
  char **headers;            /* "Name: value" */
  size_t header_count;
  char *ca_file;
  int insecure;
  char *client_cert;         /* PEM paths */
  char *client_key;
  char *proxy;               /* http(s)://host:port */
  char *binding;             /* for the User-Agent */
  int32_t close_timeout_ms;
  size_t app_buffer_bytes;   /* application_max_buffer_size: events queued before reading pauses */
  size_t send_buffer_bytes;  /* transport_max_buffer_size: outgoing bytes before sends get EAGAIN */
  int log_level;
  sr_callback *log;
  sr_callback *lifecycle;
  sr_callback *token_provider;
  sr_callback *retry_policy;  /* set: the engine asks through sr_engine_io.retry */
  sr_callback *raw_receive;   /* raw connection: each message the transport received */
} sr_settings;

void sr_settings_init(sr_settings *s);
int sr_settings_copy(sr_settings *dst, const sr_settings *src);
void sr_settings_free(sr_settings *s);

struct signalr_builder {
  sr_settings s;
};

#endif

/* ------------------------------------------------------------ events and the context */

typedef struct sr_loop sr_loop;

enum {
  SR_APP_COMPLETION = 1, /* start / stop / invoke completion */
  SR_APP_LIFECYCLE,      /* connected, closed, slow ... */
  SR_APP_HANDLER,        /* the server calls a client method */
  SR_APP_LOG,
  SR_APP_ITEM,           /* a server stream's item */
  SR_APP_TOKEN,          /* ask the access-token provider */
  SR_APP_RETRY,          /* ask the retry policy (u.attempt, elapsed: ms) */
  SR_APP_FREED,          /* signalr_connection_free's wait for the I/O thread (internal) */
  SR_APP_RAW,            /* raw connection: a received message (value, encoding) */
  SR_APP_COMMAND = 100,  /* from here on: commands for the I/O thread (connection module) */
};

/* The most upload streams one call can carry. */
#define SR_MAX_UPLOADS 16

/* One event for the application's thread. Recycled through the context's free list, with
 * its buffers, so the steady state allocates nothing per message. */
typedef struct sr_app_event {
  struct sr_app_event *next;
  sr_post post;                 /* a command's node in the loop's queue */
  atomic_int claimed;           /* taken by the dispatcher or by a connection's free: runs once */
  size_t cost;                  /* an event: bytes counted against the receive bound; a command:
                                 * bytes counted in out_pending (send backpressure) */
  int kind;
  int internal;                 /* runs on the I/O thread: library code, never the app's */
  signalr_connection *conn;     /* holds a reference */
  signalr_completion_fn done;   /* SR_APP_COMPLETION */
  signalr_item_fn item;         /* SR_APP_ITEM */
  void *done_ud;
  void (*internal_fn)(struct sr_app_event *ev);
  int lifecycle;                /* SIGNALR_EVENT_* */
  int level;                    /* SR_APP_LOG */
  int has_error;
  sr_error_info error;
  int has_value;
  int encoding;
  sr_buf value;                 /* payload bytes, or the log text */
  sr_buf target;                /* SR_APP_HANDLER: the method (NUL-terminated) */
  sr_buf invocation_id;         /* SR_APP_HANDLER: non-empty when a result is expected */
  /* Commands (the same pooled objects carry the application's calls to the I/O thread). */
  int rec_internal;             /* `done` is library code that runs on the I/O thread */
  uint64_t handle;              /* a stream's or upload's handle */
  union {                       /* what one kind carries, by its name */
    uint32_t session;           /* SR_APP_HANDLER, CMD_RESULT: the server connection of the call */
    uint32_t attempt;           /* SR_APP_RETRY: the reconnect attempt to ask the policy about */
    int32_t delay_ms;           /* CMD_RETRY: the policy's answer (< 0: give up) */
    int token_rc;               /* CMD_TOKEN: the provider's code (0: the token in target) */
    struct {                    /* CMD_SET_TIMEOUTS (< 0: unchanged) */
      int32_t server_timeout_ms, keep_alive_ms;
    } timeouts;
  } u;
  int64_t elapsed;              /* SR_APP_RETRY: ms since the connection was lost */
  size_t upload_count;
  uint64_t uploads[SR_MAX_UPLOADS];
} sr_app_event;

/* The events default budget of one signalr_context_poll. */
#define SR_POLL_BUDGET_DEFAULT 1024

struct signalr_context {
  sr_loop *loop;
  int flags;
  int wake_fd;
  pthread_mutex_t mu;
  /* under mu: the queue, the batch a poll is running (its events are released together at
   * the end, so the chain stays walkable for a connection's free), and the shared free list */
  sr_app_event *head, *tail, *running, *free_list;
  size_t queued, free_count;
  /* I/O thread only: events made during this loop turn (handed over in one go at its end) and
   * a private free list, refilled from the shared one a whole list at a time */
  sr_app_event *turn_head, *turn_tail, *io_free;
  size_t io_free_count;
  signalr_connection *settle_head; /* I/O thread only: connections to settle at the turn's end */
  atomic_int poll_budget;
  atomic_int interrupted;
  int fd_signaled; /* under mu: wake_fd was written since poll last read it */
  atomic_int connections;
};

sr_app_event *sr_event_alloc(signalr_context *ctx);
/* Queues ev for the application (or runs it now in direct mode / when internal). */
void sr_event_push(signalr_context *ctx, sr_app_event *ev);
void sr_event_release(signalr_context *ctx, sr_app_event *ev);
/* 1 when events are queued or running (an ordered completion then queues behind them). */
int sr_event_backlog(signalr_context *ctx);
/* I/O thread: hands the events of this turn over now (normally done at the turn's end). */
void sr_event_flush(signalr_context *ctx);
/* Claims every queued, not yet running event of conn (under the queue's lock): completions
 * are handed to take(ud, ev) (to complete with SIGNALR_ECLOSED), the rest are dropped. */
void sr_event_claim_connection(signalr_context *ctx, signalr_connection *conn,
                               void (*take)(void *ud, const sr_app_event *ev), void *ud);
/* Runs fn on the application's thread bookkeeping: marks the thread as inside a callback. */
int sr_enter_callback(void);
void sr_leave_callback(int was);

/* 1 while this thread runs a callback of the library (blocking calls then refuse). */
int sr_in_callback(void);

/* Runs the event's callback; defined by the connection module. */
void sr_connection_dispatch(sr_app_event *ev);
/* After an event of the connection ran or was dropped (application thread): its cost leaves
 * the receive bound, and reading resumes when the backlog has halved. */
void sr_connection_consumed(sr_app_event *ev);
void sr_connection_unref(signalr_connection *conn);
/* I/O thread, at the end of a turn: settles the connections whose commands ran in it. */
void sr_conn_settle_turn(signalr_context *ctx);
