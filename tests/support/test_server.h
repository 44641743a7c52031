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

// Reads the JSON state file a tests/harness script wrote for a CTest fixture, at $env: the
// document (the caller cJSON_Deletes it), or null with `error` saying why.
inline cJSON *read_state_file(const char *env, const char *fixture, const char *what, std::string &error) {
  const char *path = std::getenv(env);
  if (!path || !*path) {
    error = std::string(env) + " is not set (run through ctest: the " + fixture + " fixture)";
    return nullptr;
  }
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  cJSON *doc = cJSON_Parse(ss.str().c_str());
  if (!doc) error = std::string("cannot read the ") + what + " state file " + path;
  return doc;
}

// A string member of a state document ("" when it is absent or not a string).
inline std::string state_str(const cJSON *doc, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, k);
  return cJSON_IsString(v) ? std::string(v->valuestring) : std::string();
}

// Why the harness skipped starting (its "skipped" member), or "" when it did not.
inline std::string state_skipped(const cJSON *doc) {
  if (!cJSON_HasObjectItem(doc, "skipped")) return "";
  std::string why = state_str(doc, "skipped");
  return why.empty() ? "skipped" : why;
}

inline const TestServer &test_server() {
  static TestServer s = [] {
    TestServer r;
    cJSON *doc = read_state_file("SIGNALR_SERVER_STATE", "server_start", "server", r.error);
    if (!doc) return r;
    r.skipped = state_skipped(doc);
    r.http = state_str(doc, "http");
    r.https = state_str(doc, "https");
    r.cert = state_str(doc, "cert");
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

// Skips the test loudly when `state` (a TestServer-like struct: ok(), error, skipped) is not
// there, or fails it when one is required or its state file is broken.
#define SIGNALR_NEED_STATE(state, none, missing)                                                 \
  do {                                                                                           \
    const auto &st_ = (state);                                                                   \
    if (!st_.ok()) {                                                                             \
      std::string why_ = st_.error.empty() ? st_.skipped : st_.error;                            \
      if (srtest::server_required() || !st_.error.empty()) FAIL() << none << ": " << why_;       \
      GTEST_SKIP() << "*** SKIPPED: " << missing << " (" << why_ << ") ***";                    \
    }                                                                                            \
  } while (0)

// Skips the test loudly when there is no server, or fails it when one is required.
#define SIGNALR_NEED_SERVER() SIGNALR_NEED_STATE(srtest::test_server(), "no test server", "no ASP.NET Core test server")
