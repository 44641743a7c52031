/* The hub connection state machine, sans-I/O: it takes bytes, transport events and the
 * time, and answers with bytes to send, transport requests and events. It never touches a
 * socket or reads a clock, so every protocol rule and timer path is testable with a fake
 * transport and a fake clock.
 *
 * Threading: an engine is used from one thread at a time (the runtime's I/O thread). */
#ifndef SR_ENGINE_ENGINE_H
#define SR_ENGINE_ENGINE_H

#include <stdint.h>

#include "engine/call_table.h"
#include "engine/diag.h"
#include "engine/error_info.h"
#include "engine/replay.h"
#include "protocol/framing.h"
#include "protocol/hub_message.h"
#include "protocol/negotiate.h"

enum {
  SR_STATE_DISCONNECTED = 0,
  SR_STATE_CONNECTING = 1,
  SR_STATE_CONNECTED = 2,
  SR_STATE_RECONNECTING = 3,
  SR_STATE_DISCONNECTING = 4,
};

typedef struct sr_engine_config {
  char *url;
  int transports;   /* SR_TRANSPORT_* bits; 0 = all */
  int protocol;     /* SIGNALR_ENCODING_JSON or SIGNALR_ENCODING_MSGPACK */
  int skip_negotiation;
  int allow_insecure_redirect; /* follow an https:// negotiate's redirect to http:// (cleartext) */
  int32_t handshake_timeout_ms;
  int32_t server_timeout_ms;
  int32_t keep_alive_interval_ms;
  size_t max_message_size;
  /* Automatic reconnect: with custom_retry the engine asks io->retry for each delay, else it
   * walks reconnect_delays (owned by the config's owner) and gives up after the last. */
  int reconnect;
  int32_t *reconnect_delays;
  size_t reconnect_delay_count;
  double reconnect_jitter;    /* 0..1: each delay is scaled by a random factor in [1-j, 1+j] */
  int reconnect_on_start;     /* the first start retries with the same policy */
  int custom_retry;
  int stateful_reconnect;
  size_t stateful_buffer_size; /* bytes of unacknowledged messages kept for replay */
  uint64_t random_seed;        /* for jitter; any value */
  /* A raw connection (the official clients' HttpConnection): negotiate and a transport, no hub
   * protocol. No handshake, pings, acks or Close message; each transport message is handed
   * over as it came (SR_EV_RAW); protocol MSGPACK means the binary transfer format. */
  int raw;
} sr_engine_config;

void sr_engine_config_defaults(sr_engine_config *c);

enum {
  SR_EV_START_COMPLETED = 1, /* error NULL: connected */
  SR_EV_CLOSED,              /* error NULL: stopped by the application */
  SR_EV_SLOW,                /* nothing received for 2/3 of the server timeout */
  SR_EV_INVOCATION,          /* the server calls a client method (msg) */
  SR_EV_COMPLETION,          /* a call ended: msg (result or hub error) or error (closed...) */
  SR_EV_STREAM_ITEM,         /* msg->item for the stream `call` */
  SR_EV_RECONNECTING,        /* error: why the connection was lost; retries begin */
  SR_EV_RECONNECTED,         /* connected again (a new connection id) */
  SR_EV_RAW,                 /* raw connection: msg->arguments holds the bytes of one transport message */
};

typedef struct sr_engine_event {
  int type;
  const sr_error_info *error;
  uint64_t call;              /* COMPLETION / STREAM_ITEM: the caller's token */
  const sr_hub_message *msg;  /* borrowed for the duration of the event */
} sr_engine_event;

/* What the engine asks of the runtime. Each returns 0 or a SIGNALR_E* code. Answers come
 * back through the sr_engine_on_* entry points, later (never from inside these calls). */
typedef struct sr_engine_io {
  void *ud;
  /* POST url (negotiate). bearer: a token to use instead of the configured one (a
   * negotiate redirect's accessToken), or NULL. Answer: sr_engine_on_negotiate. */
  int (*negotiate)(void *ud, const char *url, const char *bearer);
  /* Opens the transport. Answer: sr_engine_on_open, or sr_engine_on_closed on failure. */
  int (*open)(void *ud, int transport, const char *url, const char *bearer, int binary);
  int (*send)(void *ud, const uint8_t *data, size_t len);
  /* Closes the transport or cancels the negotiate in flight; sr_engine_on_closed follows
   * for an open or opening transport. */
  void (*close)(void *ud);
  void (*event)(void *ud, const sr_engine_event *ev);
  /* Only with cfg.custom_retry: asks for the delay before retry `attempt` (from 1).
   * Answer: sr_engine_on_retry_delay. A non-zero return gives up at once. */
  int (*retry)(void *ud, uint32_t attempt, int64_t elapsed_ms, const sr_error_info *last);
} sr_engine_io;

typedef struct sr_engine {
  sr_engine_config cfg;
  sr_engine_io io;
  int state;
  int transport;         /* the one in use */
  int binary;            /* MessagePack */
  int handshake_done;
  int transport_open;
  int negotiating;
  int stopping;          /* the application asked to stop */
  int server_closed;      /* a Close message without allowReconnect came: no reconnect */
  int clean_close;        /* the close reason is a Close message without error: CLOSED(NULL) */
  int transport_active;  /* io.open succeeded and sr_engine_on_closed has not come yet */
  int redirects;
  char *base_url;        /* after redirects */
  char *bearer;          /* a redirect's access token */
  char *connection_id;
  uint64_t next_id;      /* invocation and stream ids share one counter */
  uint32_t session;       /* counts handshakes: a server connection, kept across stateful re-dials */
  sr_call_table calls;
  sr_framer framer;
  sr_decoder decoder;
  sr_buf out;            /* reused for every outgoing message */
  sr_buf scratch;        /* URLs and short texts */
  int64_t handshake_deadline;
  int64_t last_sent;
  int64_t last_received;
  int slow_warned;
  int rx_paused;         /* the runtime stopped reading (receive flow control) */
  sr_error_info close_reason; /* why the connection is closing (code 0: stopped) */
  int start_pending;          /* SR_EV_START_COMPLETED not yet emitted */
  /* Fallback: transports that failed to connect in this attempt, and why. */
  int tried;
  sr_buf failures;
  /* Retries (automatic reconnect, or the first start with reconnect_on_start). */
  uint32_t attempt;           /* retries asked for so far */
  int64_t retry_started;
  int64_t retry_at;           /* when to make the next attempt; INT64_MAX: none */
  int awaiting_retry;         /* io.retry asked, no answer yet */
  sr_error_info last_failure;
  uint64_t rng;
  /* Stateful reconnect. */
  int stateful;               /* negotiated for this connection */
  int redialing;              /* the socket dropped: a new one is being opened */
  int redial_attempts;        /* re-dials that failed since the drop */
  int64_t redial_at;          /* the next re-dial; INT64_MAX: none waiting */
  char *connection_token;
  sr_replay replay;           /* what we sent and the server has not acknowledged */
  int64_t recv_next;          /* the id the next sequenced message from the server has */
  int64_t recv_highest;       /* the highest id processed */
  int64_t acked;              /* the highest id we acknowledged */
  int awaiting_sequence;      /* after a re-dial: drop everything until the server's Sequence */
  int64_t ack_at;             /* when to send an Ack; INT64_MAX: none due */
  sr_diag diag;               /* what the last attempt saw (signalr_connection_diagnostics) */
} sr_engine;

int sr_engine_init(sr_engine *e, const sr_engine_config *cfg, const sr_engine_io *io);
void sr_engine_free(sr_engine *e);

/* Application side. */
int sr_engine_start(sr_engine *e, int64_t now);
int sr_engine_stop(sr_engine *e, int64_t now);
/* Invocation without id (send), with id (invoke: kind SR_CALL_INVOKE) or a server stream
 * (kind SR_CALL_STREAM). args: the arguments array; stream_ids: upload streams to attach. */
int sr_engine_send(sr_engine *e, int64_t now, const char *target, const sr_payload *args,
                   const sr_str *stream_ids, size_t stream_count);
int sr_engine_invoke(sr_engine *e, int64_t now, int kind, const char *target,
                     const sr_payload *args, const sr_str *stream_ids, size_t stream_count,
                     uint64_t token);
/* Cancels a server stream: CancelInvocation is sent and no further event comes for it
 * except its SR_EV_COMPLETION with SIGNALR_ECANCELED. */
int sr_engine_cancel(sr_engine *e, int64_t now, uint64_t token);
/* A new upload-stream id (decimal text in out, NUL-terminated). */
int sr_engine_new_stream_id(sr_engine *e, char *out, size_t outlen);
int sr_engine_stream_item(sr_engine *e, int64_t now, const char *stream_id, const sr_payload *item);
int sr_engine_stream_complete(sr_engine *e, int64_t now, const char *stream_id, const char *error);
/* Replies to a server invocation that carried an id (client results). */
int sr_engine_client_result(sr_engine *e, int64_t now, const sr_str *invocation_id,
                            const sr_payload *result, const char *error);

/* Bytes of sequenced messages waiting for the server's Ack (stateful reconnect), for
 * backpressure: sends fail with SIGNALR_EAGAIN once it reaches stateful_buffer_size. */
size_t sr_engine_unacked_bytes(const sr_engine *e);

/* What the runtime reads of the engine (it never reads or writes its fields). */
int sr_engine_state(const sr_engine *e);                 /* SR_STATE_* */
const char *sr_engine_connection_id(const sr_engine *e); /* "" before the first handshake */
uint32_t sr_engine_session(const sr_engine *e);          /* counts the server connections made */
int sr_engine_is_stateful(const sr_engine *e);           /* stateful reconnect was negotiated */
const sr_diag *sr_engine_diag(const sr_engine *e);       /* what the last connect attempt saw */
/* The token of the pending server stream that match(ud, token) picks, or 0. */
uint64_t sr_engine_find_stream(const sr_engine *e, int (*match)(void *ud, uint64_t token), void *ud);
/* The URL the next connect attempt starts from (the start, or a reconnect attempt not yet
 * begun); a negotiate redirect chain starts over from it. 0 or SIGNALR_ENOMEM. */
int sr_engine_set_url(sr_engine *e, const char *url);
/* Changes the server timeout and keep-alive interval (< 0: unchanged, 0: off) at once: the
 * deadlines count from the last message received and sent, as sr_engine_deadline tells. */
void sr_engine_set_timeouts(sr_engine *e, int32_t server_timeout_ms, int32_t keep_alive_ms);
/* Raw connection: writes bytes to the transport as they are. SIGNALR_ESTATE when not connected. */
int sr_engine_send_raw(sr_engine *e, int64_t now, const uint8_t *data, size_t len);
/* The same for calls of kind (SR_CALL_INVOKE, SR_CALL_STREAM). */
uint64_t sr_engine_find_call(const sr_engine *e, int kind, int (*match)(void *ud, uint64_t token), void *ud);
/* Takes the call out of the table and completes it with err (SR_EV_COMPLETION): the server's
 * answer, if it comes, finds no call and is dropped. Nothing is sent. SIGNALR_EINVAL: no such
 * call (it completed already). */
int sr_engine_forget_call(sr_engine *e, uint64_t token, const sr_error_info *err);
/* Takes the pending calls one by one (a teardown completes them); 0 when none is left. */
int sr_engine_take_call(sr_engine *e, uint64_t *token);
/* The engine reports no more events (a teardown: they would reach a connection being freed). */
void sr_engine_mute(sr_engine *e);

/* Receive flow control: while the runtime does not read (the application is behind), silence
 * from the server is ours, not the server's: no server timeout and no slow warning; the quiet
 * time counts again from the resume. */
void sr_engine_pause_receive(sr_engine *e, int64_t now, int paused);

/* Runtime side. */
/* The answer to io.retry: the delay before the next attempt, or < 0 to give up. */
void sr_engine_on_retry_delay(sr_engine *e, int64_t now, int32_t delay_ms);
void sr_engine_on_negotiate(sr_engine *e, int64_t now, int status, const char *body, size_t len,
                            const sr_error_info *failure);
void sr_engine_on_open(sr_engine *e, int64_t now);
void sr_engine_on_data(sr_engine *e, int64_t now, const uint8_t *data, size_t len);
/* The transport closed (failure NULL: cleanly). */
void sr_engine_on_closed(sr_engine *e, int64_t now, const sr_error_info *failure);
void sr_engine_on_timer(sr_engine *e, int64_t now);
/* When sr_engine_on_timer must next be called (INT64_MAX: no timer). */
int64_t sr_engine_deadline(const sr_engine *e);

#endif
