/* Connects to a hub, invokes Echo, prints the result, stops. Build:
 *   cc hello.c $(pkg-config --cflags --libs signalr) -o hello && ./hello http://localhost:5000/hubs/test */
#include <stdio.h>

#include <signalr/signalr.h>

static int done;

static void on_result(void *ud, signalr_connection *conn, const signalr_value *result, const signalr_error *err) {
  (void)ud; (void)conn;
  const char *json;
  size_t len;
  if (err) fprintf(stderr, "Echo failed: %s\n", signalr_error_message(err));
  else if (signalr_value_json(result, &json, &len) == 0) printf("Echo answered %.*s\n", (int)len, json);
  done = err ? -1 : 1;
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "http://localhost:5000/hubs/test"; /* the bundled hub */
  signalr_context *ctx;
  if (signalr_context_new(&ctx, 0)) return 1; /* one I/O thread, shared by many connections */
  signalr_builder *b = NULL;
  signalr_connection *conn = NULL;
  char why[256] = "out of memory";
  int rc = signalr_builder_new(&b);
  if (!rc) rc = signalr_builder_set(b, "url", url, why, sizeof why);
  if (!rc) rc = signalr_builder_build(b, ctx, &conn, why, sizeof why);
  signalr_builder_free(b);
  if (rc) {
    fprintf(stderr, "bad configuration: %s\n", why);
    signalr_context_free(ctx);
    return 2;
  }
  signalr_error *err = NULL;
  if (signalr_connection_start_blocking(conn, 15000, &err)) {
    const char *hint = signalr_error_hint(err); /* NULL when there is none */
    fprintf(stderr, "could not connect: %s\n%s%s\n", signalr_error_message(err), hint ? "hint: " : "",
            hint ? hint : "");
    signalr_error_free(err);
  } else if (signalr_connection_invoke(conn, "Echo", "[\"hi\"]", 6, SIGNALR_ENCODING_JSON, on_result, NULL) == 0) {
    while (!done) signalr_context_poll(ctx, -1); /* callbacks run here, on this thread */
    signalr_connection_stop_blocking(conn, 5000);
  }
  signalr_connection_free(conn);
  signalr_context_free(ctx);
  return done == 1 ? 0 : 1;
}
