/* signalr_error: the public face of sr_error_info. */
#include "api/internal.h"

#include <stdlib.h>
#include <string.h>

signalr_error *sr_error_new(const sr_error_info *info) {
  signalr_error *e = malloc(sizeof *e);
  if (e) {
    e->info.full = NULL;
    sr_error_assign(&e->info, info); /* its own reference to a long text */
  }
  return e;
}

int signalr_error_code(const signalr_error *err) { return err ? err->info.code : SIGNALR_OK; }
const char *signalr_error_message(const signalr_error *err) { return err ? sr_error_text(&err->info) : ""; }
int signalr_error_http_status(const signalr_error *err) { return err ? err->info.http_status : 0; }
const char *signalr_error_hint(const signalr_error *err) { return err ? err->info.hint : NULL; }
int signalr_error_allow_reconnect(const signalr_error *err) { return err ? err->info.allow_reconnect : 0; }
signalr_error *signalr_error_copy(const signalr_error *err) { return err ? sr_error_new(&err->info) : NULL; }
void signalr_error_free(signalr_error *err) {
  if (!err) return;
  sr_error_release(&err->info);
  free(err);
}
