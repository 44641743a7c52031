// Where the real ASP.NET Core test server runs: the state file tests/harness/testserver.py
// writes at $SIGNALR_SERVER_STATE (set by the CTest fixture).
#pragma once

#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace srtest {

struct TestServer {
  std::string skipped, error, http, https, cert;
  bool ok() const { return skipped.empty() && error.empty() && !http.empty(); }
};

inline const TestServer &test_server() {
  static TestServer s = [] {
    TestServer r;
    const char *path = std::getenv("SIGNALR_SERVER_STATE");
    if (!path || !*path) {
      r.error = "SIGNALR_SERVER_STATE is not set (run through ctest: the server_start fixture)";
      return r;
    }
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    cJSON *doc = cJSON_Parse(ss.str().c_str());
    if (!doc) {
      r.error = std::string("cannot read the server state file ") + path;
      return r;
    }
    auto str = [&](const char *k) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, k);
      return cJSON_IsString(v) ? std::string(v->valuestring) : std::string();
    };
    if (cJSON_HasObjectItem(doc, "skipped")) r.skipped = str("skipped").empty() ? "skipped" : str("skipped");
    r.http = str("http");
    r.https = str("https");
    r.cert = str("cert");
    if (r.skipped.empty() && r.http.empty()) r.error = "the server state has no http URL";
    cJSON_Delete(doc);
    return r;
  }();
  return s;
}

inline bool server_required() {
  const char *v = std::getenv("SIGNALR_REQUIRE_SERVER");
  return v && *v && std::string(v) != "0";
}

}  // namespace srtest

// Skips the test loudly when there is no server, or fails it when one is required.
#define SIGNALR_NEED_SERVER()                                                                  \
  do {                                                                                         \
    const auto &srv_ = srtest::test_server();                                                  \
    if (!srv_.ok()) {                                                                          \
      std::string why_ = srv_.error.empty() ? srv_.skipped : srv_.error;                       \
      if (srtest::server_required() || !srv_.error.empty()) FAIL() << "no test server: " << why_; \
      GTEST_SKIP() << "*** SKIPPED: no ASP.NET Core test server (" << why_ << ") ***";       \
    }                                                                                          \
  } while (0)
