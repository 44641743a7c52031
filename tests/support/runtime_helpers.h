// Helpers for the runtime-level interop tests (tests/runtime): running code on the loop's
// I/O thread, plain HTTP requests over sr_http, and the raw SignalR JSON the tests exchange.
#pragma once

#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "http_get.h"

extern "C" {
#include "runtime/loop.h"
#include "transport/http.h"
}

namespace srtest {
namespace rt {

using Fn = std::function<void()>;

inline void run_fn(void* arg) {
  auto* f = static_cast<Fn*>(arg);
  (*f)();
  delete f;
}

// Runs f on the loop's thread, later.
inline void post(sr_loop* loop, Fn f) { ASSERT_EQ(sr_loop_post(loop, run_fn, new Fn(std::move(f))), 0); }

// Runs f on the loop's thread and waits for it.
inline void run_sync(sr_loop* loop, Fn f) {
  std::promise<void> p;
  auto fut = p.get_future();
  post(loop, [&] {
    f();
    p.set_value();
  });
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(30)), std::future_status::ready);
}

template <class Pred>
bool wait_until(std::mutex& mu, std::condition_variable& cv, Pred pred, int ms = 15000) {
  std::unique_lock<std::mutex> lk(mu);
  return cv.wait_for(lk, std::chrono::milliseconds(ms), pred);
}

// A TCP port nobody listens on.
inline int closed_port() { return closed_local_port(); }

struct HttpResult {
  int status = 0;
  int error_code = 0;
  std::string error_text, body, location, content_type;
  std::vector<std::string> cookies;
};

// One request over sr_http, waited for.
inline HttpResult http(sr_loop* loop, const std::string& method, const std::string& url,
                       std::vector<std::string> headers = {}, const std::string& ca_file = {},
                       int32_t timeout_ms = 20000, size_t max_bytes = 0) {
  struct Ctx {
    std::promise<HttpResult> p;
    int calls = 0;
  } ctx;
  auto fut = ctx.p.get_future();
  std::vector<const char*> hv;
  for (auto& h : headers) hv.push_back(h.c_str());
  hv.push_back(nullptr);
  run_sync(loop, [&] {
    sr_http_request_cfg cfg{};
    cfg.method = method.c_str();
    cfg.url = url.c_str();
    cfg.net.headers = hv.data();
    cfg.net.ca_file = ca_file.empty() ? nullptr : ca_file.c_str();
    cfg.timeout_ms = timeout_ms;
    cfg.max_response_bytes = max_bytes;
    int rc = sr_http_start(
        loop, &cfg,
        [](void* ud, const sr_http_response* r) {
          auto* c = static_cast<Ctx*>(ud);
          HttpResult out;
          out.status = r->status;
          out.error_code = r->error_code;
          out.error_text = r->error_text;
          out.body.assign(reinterpret_cast<const char*>(r->body), r->body_len);
          if (r->location) out.location = r->location;
          if (r->content_type) out.content_type = r->content_type;
          for (auto p = r->set_cookies; *p; p++) out.cookies.emplace_back(*p);
          if (c->calls++ == 0) c->p.set_value(out);
        },
        &ctx, nullptr);
    if (rc != 0) {
      HttpResult out;
      out.error_code = rc;
      out.error_text = "sr_http_start failed";
      ctx.p.set_value(out);
    }
  });
  if (fut.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    ADD_FAILURE() << "HTTP request did not complete";
    return {};
  }
  return fut.get();
}

// A string member of a JSON object, or "".
inline std::string json_str(const std::string& body, const char* key) {
  cJSON* d = cJSON_Parse(body.c_str());
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(d, key);
  std::string s = cJSON_IsString(v) ? v->valuestring : "";
  cJSON_Delete(d);
  return s;
}

// A JSON Invocation record (id "" for a send).
inline std::string invocation(const std::string& id, const std::string& target, const std::string& args_json) {
  std::string idpart = id.empty() ? "" : "\"invocationId\":\"" + id + "\",";
  return "{\"type\":1," + idpart + "\"target\":\"" + target + "\",\"arguments\":" + args_json + "}\x1e";
}

// A Completion's result as text: strings as is, integers in decimal, null as "<null>".
inline std::string result_string(const std::string& completion) {
  cJSON* d = cJSON_Parse(completion.c_str());
  if (!d) return "<no completion>";
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(d, "result");
  std::string s = cJSON_IsString(v)   ? v->valuestring
                  : cJSON_IsNull(v)   ? "<null>"
                  : cJSON_IsNumber(v) ? std::to_string((long long)v->valuedouble)
                                      : "<not a string>";
  cJSON_Delete(d);
  return s;
}

}  // namespace rt
}  // namespace srtest
