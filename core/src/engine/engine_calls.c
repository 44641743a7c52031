/* Hub operations: what the application sends (invocations, stream items, client results,
 * cancels). */
#include <stdio.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "signalr/signalr.h"

/* ---------------------------------------------------------------- hub operations */

static int format_id(uint64_t id, char *out, size_t outlen) {
  int n = snprintf(out, outlen, "%llu", (unsigned long long)id);
  return n > 0 && (size_t)n < outlen ? 0 : SIGNALR_EINVAL;
}

static int check_target(const char *target) { return target && *target ? 0 : SIGNALR_EINVAL; }

int sr_engine_send(sr_engine *e, int64_t now, const char *target, const sr_payload *args,
                   const sr_str *stream_ids, size_t stream_count) {
  if (check_target(target) || !args) return SIGNALR_EINVAL;
  if (!sr_engine_can_send(e)) return SIGNALR_ESTATE;
  sr_hub_message m = {0};
  m.type = SR_MSG_INVOCATION;
  m.target = (sr_str){target, strlen(target)};
  m.arguments = *args;
  m.stream_ids = stream_ids;
  m.stream_id_count = stream_count;
  return sr_engine_send_message(e, now, &m, 1);
}

int sr_engine_invoke(sr_engine *e, int64_t now, int kind, const char *target, const sr_payload *args,
                     const sr_str *stream_ids, size_t stream_count, uint64_t token) {
  if (check_target(target) || !args || (kind != SR_CALL_INVOKE && kind != SR_CALL_STREAM)) return SIGNALR_EINVAL;
  if (!sr_engine_can_send(e)) return SIGNALR_ESTATE;
  uint64_t id = e->next_id++;
  char ids[24];
  format_id(id, ids, sizeof ids);
  sr_hub_message m = {0};
  m.type = kind == SR_CALL_STREAM ? SR_MSG_STREAM_INVOCATION : SR_MSG_INVOCATION;
  m.invocation_id = (sr_str){ids, strlen(ids)};
  m.target = (sr_str){target, strlen(target)};
  m.arguments = *args;
  m.stream_ids = stream_ids;
  m.stream_id_count = stream_count;
  int rc = sr_call_table_put(&e->calls, id, token, kind);
  if (rc) return rc;
  rc = sr_engine_send_message(e, now, &m, 1);
  if (rc) {
    sr_call c;
    sr_call_table_take(&e->calls, id, &c);
  }
  return rc;
}

int sr_engine_cancel(sr_engine *e, int64_t now, uint64_t token) {
  for (size_t i = 0; i < e->calls.cap; i++) {
    sr_call *c = &e->calls.slots[i];
    if (!c->id || c->token != token) continue;
    if (c->kind != SR_CALL_STREAM) return SIGNALR_EINVAL;
    sr_call call;
    sr_call_table_take(&e->calls, c->id, &call);
    char ids[24];
    format_id(call.id, ids, sizeof ids);
    sr_hub_message m = {0};
    m.type = SR_MSG_CANCEL_INVOCATION;
    m.invocation_id = (sr_str){ids, strlen(ids)};
    int rc = sr_engine_send_message(e, now, &m, 0);
    sr_error_info err;
    sr_error_set(&err, SIGNALR_ECANCELED, 0, "The stream was canceled.");
    sr_engine_emit(e, SR_EV_COMPLETION, &err, call.token, NULL);
    return rc;
  }
  return SIGNALR_EINVAL;
}

int sr_engine_new_stream_id(sr_engine *e, char *out, size_t outlen) {
  return format_id(e->next_id++, out, outlen);
}

int sr_engine_stream_item(sr_engine *e, int64_t now, const char *stream_id, const sr_payload *item) {
  if (!stream_id || !item) return SIGNALR_EINVAL;
  if (!sr_engine_can_send(e)) return SIGNALR_ESTATE;
  sr_hub_message m = {0};
  m.type = SR_MSG_STREAM_ITEM;
  m.invocation_id = (sr_str){stream_id, strlen(stream_id)};
  m.item = *item;
  return sr_engine_send_message(e, now, &m, 1);
}

int sr_engine_stream_complete(sr_engine *e, int64_t now, const char *stream_id, const char *error) {
  if (!stream_id) return SIGNALR_EINVAL;
  if (!sr_engine_can_send(e)) return SIGNALR_ESTATE;
  sr_hub_message m = {0};
  m.type = SR_MSG_COMPLETION;
  m.invocation_id = (sr_str){stream_id, strlen(stream_id)};
  m.completion_kind = error ? SR_COMPLETION_ERROR : SR_COMPLETION_VOID;
  if (error) m.error = (sr_str){error, strlen(error)};
  return sr_engine_send_message(e, now, &m, 1);
}

int sr_engine_client_result(sr_engine *e, int64_t now, const sr_str *invocation_id, const sr_payload *result,
                            const char *error) {
  if (!invocation_id || !invocation_id->ptr) return SIGNALR_EINVAL;
  if (!sr_engine_can_send(e)) return SIGNALR_ESTATE;
  sr_hub_message m = {0};
  m.type = SR_MSG_COMPLETION;
  m.invocation_id = *invocation_id;
  if (error) {
    m.completion_kind = SR_COMPLETION_ERROR;
    m.error = (sr_str){error, strlen(error)};
  } else {
    m.completion_kind = SR_COMPLETION_RESULT;
    if (result) m.result = *result;
  }
  return sr_engine_send_message(e, now, &m, 0);
}
