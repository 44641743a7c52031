// A small client over the public C API for interop tests: a context polled by the test's
// thread, a connection built from options, lifecycle events and handler calls recorded.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "signalr/signalr.h"
#include "test_server.h"

namespace srtest {

using Options = std::vector<std::pair<const char *, std::string>>;

struct CallResult {
  bool done = false;
  int code = 0, http = 0, allow_reconnect = 0;
  std::string json, message, hint;
};

// A value's JSON text ("" when it has none).
inline std::string value_json(const signalr_value *v) {
  const char *j;
  size_t n;
  return v && signalr_value_json(v, &j, &n) == 0 ? std::string(j, n) : std::string();
}

inline void record_result(void *ud, signalr_connection *, const signalr_value *v, const signalr_error *e) {
  auto *r = static_cast<CallResult *>(ud);
  r->done = true;
  r->code = signalr_error_code(e);
  if (e) {
    r->message = signalr_error_message(e);
    r->hint = signalr_error_hint(e) ? signalr_error_hint(e) : "";
    r->http = signalr_error_http_status(e);
    r->allow_reconnect = signalr_error_allow_reconnect(e);
  }
  r->json = value_json(v);
}

struct ApiClient {
  signalr_context *ctx = nullptr;
  signalr_connection *conn = nullptr;
  struct Life {
    int event;
    int code;
    std::string message;
  };
  std::vector<Life> lifecycle;
  std::vector<std::pair<std::string, std::string>> calls;  // handler name, args JSON

  static void on_life(void *ud, signalr_connection *, int event, const signalr_error *e) {
    static_cast<ApiClient *>(ud)->lifecycle.push_back(
        {event, signalr_error_code(e), e ? signalr_error_message(e) : ""});
  }

  // url: a path on the test server or a full URL. Extra builder calls go in `extra`.
  explicit ApiClient(const std::string &url, const Options &opts = {},
                     const std::function<void(signalr_builder *)> &extra = nullptr) {
    EXPECT_EQ(signalr_context_new(&ctx, 0), 0);
    signalr_builder *b;
    EXPECT_EQ(signalr_builder_new(&b), 0);
    char err[256];
    std::string full = url.rfind("http", 0) == 0 ? url : test_server().http + url;
    EXPECT_EQ(signalr_builder_set(b, "url", full.c_str(), err, sizeof err), 0) << err;
    for (auto &o : opts) EXPECT_EQ(signalr_builder_set(b, o.first, o.second.c_str(), err, sizeof err), 0) << o.first << ": " << err;
    signalr_builder_set_lifecycle(b, on_life, this, nullptr);
    if (const char *lvl = std::getenv("SIGNALR_TEST_LOG")) {  // e.g. SIGNALR_TEST_LOG=debug
      signalr_builder_set(b, "log_level", lvl, err, sizeof err);
      signalr_builder_set_log(b, [](void *, int level, const char *m) { std::fprintf(stderr, "[%d] %s\n", level, m); },
                              nullptr, nullptr);
    }
    if (extra) extra(b);
    EXPECT_EQ(signalr_builder_build(b, ctx, &conn, err, sizeof err), 0) << err;
    signalr_builder_free(b);
  }
  ~ApiClient() {
    signalr_connection_free(conn);
    signalr_context_poll(ctx, 0);
    EXPECT_EQ(signalr_context_free(ctx), 0);
  }

  // Polls until pred() holds or ms elapse; returns pred().
  bool poll_until(const std::function<bool()> &pred, int ms = 10000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!pred() && std::chrono::steady_clock::now() < until) signalr_context_poll(ctx, 20);
    return pred();
  }

  CallResult start() {
    CallResult r;
    EXPECT_EQ(signalr_connection_start(conn, record_result, &r), 0);
    EXPECT_TRUE(poll_until([&] { return r.done; }, 30000)) << "start did not complete";
    return r;
  }

  CallResult invoke(const char *method, const std::string &args, int ms = 10000) {
    CallResult r;
    int rc = signalr_connection_invoke(conn, method, args.data(), args.size(), SIGNALR_ENCODING_JSON,
                                       record_result, &r);
    if (rc) {
      r.done = true;
      r.code = rc;
      return r;
    }
    EXPECT_TRUE(poll_until([&] { return r.done; }, ms)) << method << " did not complete";
    return r;
  }

  static int record_call(void *ud, signalr_connection *, const signalr_value *args, const void **, size_t *, int *,
                         const char **) {
    auto *self = static_cast<ApiClient *>(ud);
    self->calls.emplace_back(self->current, value_json(args));
    return 0;
  }
  std::string current;
  // Records every call of `method` in `calls`.
  void listen(const char *method) {
    current = method;
    ASSERT_EQ(signalr_connection_on(conn, method, record_call, this, nullptr, nullptr), 0);
  }

  int count(int event) const {
    int n = 0;
    for (auto &l : lifecycle) n += l.event == event;
    return n;
  }

  std::string id() const {
    char buf[128];
    return signalr_connection_id(conn, buf, sizeof buf) == 0 ? buf : "";
  }
};

}  // namespace srtest
