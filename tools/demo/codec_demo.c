/* Shows the protocol layer at work, with no network: what libsignalr puts on the wire for
 * a hub call in each protocol, and how it reads a server's reply back. */
#include <stdio.h>
#include <string.h>

#include "protocol/framing.h"
#include "protocol/handshake.h"
#include "protocol/json_protocol.h"
#include "protocol/msgpack_protocol.h"
#include "protocol/negotiate.h"
#include "protocol/transcode.h"
#include "signalr/signalr.h"

static void print_text(const char *label, const uint8_t *p, size_t n) {
  printf("  %-22s ", label);
  for (size_t i = 0; i < n; i++) {
    if (p[i] == 0x1e) fputs("<RS>", stdout);
    else putchar(p[i]);
  }
  putchar('\n');
}

static void print_hex(const char *label, const uint8_t *p, size_t n) {
  printf("  %-22s", label);
  for (size_t i = 0; i < n; i++) printf(" %02x", p[i]);
  putchar('\n');
}

static int show_reply(const char *title, int msgpack, const uint8_t *wire, size_t n) {
  sr_framer f;
  sr_decoder d;
  sr_framer_init(&f, msgpack ? SR_FRAMING_BINARY : SR_FRAMING_TEXT, 0);
  sr_decoder_init(&d);
  sr_framer_feed(&f, wire, n);
  const uint8_t *msg;
  size_t len;
  int rc;
  printf("%s\n", title);
  while ((rc = sr_framer_next(&f, &msg, &len)) == 1) {
    sr_hub_message m;
    rc = msgpack ? sr_msgpack_decode(&d, msg, len, &m) : sr_json_decode(&d, msg, len, &m);
    if (rc) {
      printf("  decode failed: %s (%s)\n", signalr_strerror(rc), d.error);
      break;
    }
    sr_buf json = SR_BUF_INIT;
    const sr_payload *p = m.type == SR_MSG_COMPLETION ? &m.result : &m.arguments;
    if (p->data) sr_json_write_payload(&json, p);
    printf("  %-10s id=%.*s %s%.*s\n", sr_message_type_name(m.type), (int)m.invocation_id.len,
           m.invocation_id.ptr ? m.invocation_id.ptr : "", p->data ? "value as JSON: " : "",
           (int)json.len, json.data ? (char *)json.data : "");
    sr_buf_free(&json);
  }
  sr_decoder_free(&d);
  sr_framer_free(&f);
  return rc < 0 ? rc : 0;
}

int main(void) {
  printf("libsignalr %s — protocol layer demo (no network)\n\n", signalr_version());

  sr_buf b = SR_BUF_INIT;
  sr_negotiate_url(&b, "http://127.0.0.1:5000/hubs/chat", 1, 0);
  printf("Negotiate:\n  POST %s\n", (char *)b.data);
  b.len = 0;
  sr_transport_url(&b, "http://127.0.0.1:5000/hubs/chat", "tok+en/1=", SR_TRANSPORT_WEBSOCKETS);
  printf("  then connect to %s\n\n", (char *)b.data);

  const char *args = "[\"héllo\", 42, {\"nested\": [true, null]}]";
  sr_hub_message m = {0};
  m.type = SR_MSG_INVOCATION;
  m.invocation_id = (sr_str){"1", 1};
  m.target = (sr_str){"Echo", 4};
  m.arguments = (sr_payload){(const uint8_t *)args, strlen(args), SIGNALR_ENCODING_JSON};
  printf("invoke Echo with arguments %s\n", args);

  b.len = 0;
  sr_handshake_write_request(&b, "json", 1);
  print_text("json handshake:", b.data, b.len);
  b.len = 0;
  int rc = sr_json_encode(&b, &m);
  if (rc) return fprintf(stderr, "encode: %s\n", signalr_strerror(rc)), 1;
  print_text("json invocation:", b.data, b.len);
  b.len = 0;
  sr_handshake_write_request(&b, "messagepack", 1);
  print_text("msgpack handshake:", b.data, b.len);
  b.len = 0;
  rc = sr_msgpack_encode(&b, &m);
  if (rc) return fprintf(stderr, "encode: %s\n", signalr_strerror(rc)), 1;
  print_hex("msgpack invocation:", b.data, b.len);
  putchar('\n');

  /* A server reply: handshake response, a ping and the completion, in one chunk. */
  static const char json_reply[] =
      "{}\x1e{\"type\":6}\x1e{\"type\":3,\"invocationId\":\"1\",\"result\":[\"h\xc3\xa9llo\",42,{\"nested\":[true,null]}]}\x1e";
  size_t used = 0;
  sr_handshake_response hs;
  rc = sr_handshake_parse_response((const uint8_t *)json_reply, sizeof json_reply - 1, 1 << 20, &used, &hs, NULL, 0);
  printf("json reply: handshake %s\n", rc == 1 && !hs.has_error ? "accepted" : "rejected");
  sr_handshake_response_clear(&hs);
  rc = show_reply("json reply messages:", 0, (const uint8_t *)json_reply + used, sizeof json_reply - 1 - used);

  b.len = 0;
  sr_hub_message c = {0};
  c.type = SR_MSG_COMPLETION;
  c.invocation_id = (sr_str){"1", 1};
  c.completion_kind = SR_COMPLETION_RESULT;
  c.result = m.arguments;
  sr_msgpack_encode(&b, &c);
  if (!rc) rc = show_reply("msgpack reply messages:", 1, b.data, b.len);
  sr_buf_free(&b);
  return rc ? 1 : 0;
}
