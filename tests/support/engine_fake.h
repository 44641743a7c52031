// A sans-I/O engine with a fake transport and a fake clock, shared by the engine tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "vector_check.h"

extern "C" {
#include "engine/engine.h"
}

namespace srtest {

struct Ev {
  int type;
  int code;
  std::string message;
  std::string hint;
  int http;
  int allow_reconnect;
  uint64_t call;
  std::string target, id, payload, error;
};

struct Fake {
  sr_engine e;
  int64_t now = 1000;
  std::vector<std::string> negotiated, opened, sent;
  std::vector<std::string> bearers;
  int open_transport = 0, open_binary = -1, closes = 0;
  std::vector<Ev> events;
  std::vector<uint32_t> retry_attempts; /* asked of a custom policy */
  int sent_fail = 0;                    /* send returns this (0: ok) */

  static Fake *self(void *ud) { return static_cast<Fake *>(ud); }
  static int negotiate(void *ud, const char *url, const char *bearer) {
    self(ud)->negotiated.push_back(url);
    self(ud)->bearers.push_back(bearer ? bearer : "");
    return 0;
  }
  static int open(void *ud, int transport, const char *url, const char *bearer, int binary) {
    self(ud)->opened.push_back(url);
    self(ud)->bearers.push_back(bearer ? bearer : "");
    self(ud)->open_transport = transport;
    self(ud)->open_binary = binary;
    return 0;
  }
  static int send(void *ud, const uint8_t *d, size_t n) {
    if (self(ud)->sent_fail) return self(ud)->sent_fail;
    self(ud)->sent.emplace_back((const char *)d, n);
    return 0;
  }
  static int retry(void *ud, uint32_t attempt, int64_t, const sr_error_info *) {
    self(ud)->retry_attempts.push_back(attempt);
    return 0;
  }
  static void close(void *ud) { self(ud)->closes++; }
  static void event(void *ud, const sr_engine_event *ev) {
    Ev e{ev->type, 0, "", "", 0, 0, ev->call, "", "", "", ""};
    if (ev->error) {
      e.code = ev->error->code;
      e.message = ev->error->message;
      e.hint = ev->error->hint ? ev->error->hint : "";
      e.http = ev->error->http_status;
      e.allow_reconnect = ev->error->allow_reconnect;
    }
    if (ev->msg) {
      e.target = srtest::str(ev->msg->target);
      e.id = srtest::str(ev->msg->invocation_id);
      e.error = srtest::str(ev->msg->error);
      const sr_payload &p = ev->type == SR_EV_INVOCATION ? ev->msg->arguments
                            : ev->type == SR_EV_STREAM_ITEM ? ev->msg->item : ev->msg->result;
      e.payload = srtest::payload_json(p);
    }
    self(ud)->events.push_back(e);
  }

  explicit Fake(const char *url = "http://h/hub", int protocol = SIGNALR_ENCODING_JSON, int skip = 0,
                int transports = 0, const std::function<void(sr_engine_config &)> &tweak = nullptr) {
    sr_engine_config c;
    sr_engine_config_defaults(&c);
    c.url = const_cast<char *>(url);
    c.protocol = protocol;
    c.skip_negotiation = skip;
    c.transports = transports;
    if (tweak) tweak(c);
    sr_engine_io io{this, negotiate, open, send, close, event, retry};
    EXPECT_EQ(sr_engine_init(&e, &c, &io), 0);
  }
  int count(int type) const {
    int n = 0;
    for (auto &ev : events) n += ev.type == type;
    return n;
  }
  ~Fake() { sr_engine_free(&e); }

  void data(const std::string &s) { sr_engine_on_data(&e, now, (const uint8_t *)s.data(), s.size()); }
  void negotiate_reply(int status, const std::string &body) {
    sr_engine_on_negotiate(&e, now, status, body.data(), body.size(), nullptr);
  }
  void advance(int64_t ms) {
    int64_t until = now + ms;
    while (sr_engine_deadline(&e) <= until) {
      now = std::max(now, sr_engine_deadline(&e));
      sr_engine_on_timer(&e, now);
    }
    now = until;
  }
  // Negotiate + open + handshake: a connected engine.
  void connect() {
    ASSERT_EQ(sr_engine_start(&e, now), 0);
    negotiate_reply(200, kNegotiate);
    sr_engine_on_open(&e, now);
    data("{}\x1e");
    ASSERT_EQ(e.state, SR_STATE_CONNECTED);
    sent.clear();
    events.clear();
  }
  static constexpr const char *kNegotiate =
      "{\"negotiateVersion\":1,\"connectionId\":\"cid\",\"connectionToken\":\"tok/1\","
      "\"availableTransports\":[{\"transport\":\"WebSockets\",\"transferFormats\":[\"Text\",\"Binary\"]},"
      "{\"transport\":\"LongPolling\",\"transferFormats\":[\"Text\",\"Binary\"]}]}";
  sr_payload args(const char *json) { return sr_payload{(const uint8_t *)json, strlen(json), SIGNALR_ENCODING_JSON}; }
};

}  // namespace srtest
