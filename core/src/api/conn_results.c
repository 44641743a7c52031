/* Client results: running the handlers of a server call on the application's thread, and
 * sending its answer, at once (the handler's return) or later (defer, then answer from any
 * thread). An answer is only ever sent on the server connection the call came on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/connection_internal.h"

/* The server call whose handlers this thread is running: what signalr_connection_defer_result
 * acts on. Handlers do not nest (polling from a callback is refused), but saving the outer
 * frame keeps it right even if they did. */
enum { OPEN = 0, NO_RESULT_WANTED, FAILED, ANSWERED, DEFERRED };

typedef struct handler_frame {
  signalr_connection *c;
  const sr_app_event *ev;
  int settled; /* once not OPEN, later handlers' returns are ignored */
} handler_frame;

static _Thread_local handler_frame *current;

/* Sends a Completion for invocation id on the I/O thread, if `session` is still the engine's. */
static int post_answer(signalr_connection *c, const char *id, uint32_t session, const void *result, size_t len,
                       int encoding, const char *error) {
  if (atomic_load(&c->freed)) return SIGNALR_ECLOSED;
  sr_app_event *cmd = sr_conn_command(c, CMD_RESULT, id, result, len, encoding, error);
  if (!cmd) return SIGNALR_ENOMEM;
  cmd->u.session = session;
  return sr_conn_post_command(c, cmd);
}

void sr_conn_run_handlers(sr_app_event *ev) {
  signalr_connection *c = ev->conn;
  const char *target = (const char *)ev->target.data;
  const char *id = ev->invocation_id.len ? (const char *)ev->invocation_id.data : NULL;
  uint32_t session = ev->u.session;
  /* Snapshot the matching handlers: a handler may call on/off. All of them run, however many
   * (on the stack up to 16, else in one allocation). */
  sr_callback *small[16], **cbs = small;
  size_t n = 0;
  uint32_t hash = sr_handler_hash(target);
  pthread_mutex_lock(&c->mu);
  size_t first = sr_handler_find(c, hash), end = first;
  while (end < c->handler_count && c->handlers[end].hash == hash) end++;
  if (end - first > sizeof small / sizeof small[0] && !(cbs = malloc((end - first) * sizeof *cbs))) {
    pthread_mutex_unlock(&c->mu);
    sr_conn_log(c, SIGNALR_LOG_ERROR, "out of memory: dropped the server's call to '%s'", target);
    if (id) post_answer(c, id, session, NULL, 0, SIGNALR_ENCODING_JSON, "The client ran out of memory.");
    return;
  }
  for (size_t i = first; i < end; i++)
    if (!strcasecmp(c->handlers[i].method, target)) cbs[n++] = sr_callback_ref(c->handlers[i].cb);
  pthread_mutex_unlock(&c->mu);
  signalr_value v = {ev->value.data, ev->value.len, ev->encoding, SR_BUF_INIT};
  handler_frame frame = {c, ev, id ? OPEN : NO_RESULT_WANTED}, *outer = current;
  current = &frame;
  const char *error = NULL;
  char errbuf[256];
  for (size_t i = 0; i < n; i++) {
    const void *r = NULL;
    size_t rl = 0;
    int re = SIGNALR_ENCODING_JSON;
    const char *e = NULL;
    int rc = ((signalr_handler_fn)cbs[i]->fn)(cbs[i]->user_data, c, &v, &r, &rl, &re, &e);
    if (frame.settled || atomic_load(&c->freed)) continue;
    if (rc < 0) {
      snprintf(errbuf, sizeof errbuf, "%s", e ? e : signalr_strerror(rc));
      error = errbuf;
      frame.settled = FAILED;
    } else if (r) {
      /* The result must be copied before the next handler runs. */
      post_answer(c, id, session, r, rl, re, NULL);
      frame.settled = ANSWERED;
    }
  }
  current = outer;
  for (size_t i = 0; i < n; i++) sr_callback_unref(cbs[i]);
  if (cbs != small) free(cbs);
  sr_buf_free(&v.json);
  if (!n) sr_conn_log(c, SIGNALR_LOG_WARNING, "no handler for the server's call to '%s'", target);
  if (id && frame.settled != ANSWERED && frame.settled != DEFERRED && !atomic_load(&c->freed))
    post_answer(c, id, session, NULL, 0, SIGNALR_ENCODING_JSON, error ? error : "Client didn't provide a result.");
}

int signalr_connection_defer_result(signalr_connection *c, uint64_t *ticket) {
  if (!c || !ticket) return SIGNALR_EINVAL;
  handler_frame *f = current;
  if (!f || f->c != c || f->settled) return SIGNALR_ESTATE;
  uint32_t session = f->ev->u.session;
  char *id = strdup((const char *)f->ev->invocation_id.data);
  if (!id) return SIGNALR_ENOMEM;
  int rc = 0;
  pthread_mutex_lock(&c->mu);
  /* Deferrals from an earlier server connection can never be sent: drop them here, so
   * answers an application never gives do not pile up across reconnects. */
  size_t kept = 0;
  for (size_t i = 0; i < c->deferred_count; i++) {
    if (c->deferred[i].session == session) c->deferred[kept++] = c->deferred[i];
    else free(c->deferred[i].invocation_id);
  }
  c->deferred_count = kept;
  struct deferred_result *grown = realloc(c->deferred, (kept + 1) * sizeof *grown);
  if (!grown) rc = SIGNALR_ENOMEM;
  else {
    c->deferred = grown;
    *ticket = ++c->next_ticket;
    grown[c->deferred_count++] = (struct deferred_result){*ticket, session, id};
    f->settled = DEFERRED;
  }
  pthread_mutex_unlock(&c->mu);
  if (rc) free(id);
  return rc;
}

int signalr_connection_answer_result(signalr_connection *c, uint64_t ticket, const void *result, size_t len,
                                     int encoding, const char *error) {
  if (!c || (result && encoding != SIGNALR_ENCODING_JSON && encoding != SIGNALR_ENCODING_MSGPACK) ||
      (result && !len))
    return SIGNALR_EINVAL;
  struct deferred_result d = {0};
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->deferred_count; i++) {
    if (c->deferred[i].ticket != ticket) continue;
    d = c->deferred[i];
    c->deferred[i] = c->deferred[--c->deferred_count];
    break;
  }
  pthread_mutex_unlock(&c->mu);
  if (!d.ticket) return SIGNALR_ESTATE;
  if (!result && !error) { /* no value: the method's result is null */
    result = "null";
    len = 4;
    encoding = SIGNALR_ENCODING_JSON;
  }
  int rc = post_answer(c, d.invocation_id, d.session, error ? NULL : result, error ? 0 : len, encoding, error);
  free(d.invocation_id);
  return rc;
}
