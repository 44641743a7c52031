/* A program that uses an installed libsignalr the way a user would. */
#include <signalr/signalr.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  const char *json = "[\"hello\",42]";
  uint8_t *mp = NULL;
  size_t mp_len = 0;
  int rc = signalr_json_to_msgpack(json, strlen(json), &mp, &mp_len);
  if (rc) {
    fprintf(stderr, "json_to_msgpack: %s\n", signalr_strerror(rc));
    return 1;
  }
  char *back = NULL;
  size_t back_len = 0;
  rc = signalr_msgpack_to_json(mp, mp_len, &back, &back_len);
  signalr_free(mp);
  if (rc || strcmp(back, json) != 0) {
    fprintf(stderr, "round trip failed: %s\n", rc ? signalr_strerror(rc) : back);
    return 1;
  }
  printf("libsignalr %s: %s round-trips through MessagePack\n", signalr_version(), back);
  signalr_free(back);
  return 0;
}
