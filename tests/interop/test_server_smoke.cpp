// Smoke test of the ASP.NET Core SignalR interop test server (tests/server), using libcurl
// and cJSON directly (not libsignalr). Reads the server description written by
// tests/harness/testserver.py at $SIGNALR_SERVER_STATE.

#include "../support/test_server.h"
#include <gtest/gtest.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

// The server's state file is read by tests/support/test_server.h.
using Server = srtest::TestServer;
const Server& server() { return srtest::test_server(); }
bool require_server() { return srtest::server_required(); }

struct Response {
  long status = 0;
  std::string body;
  std::vector<std::string> headers;
  std::string curl_error;
};

size_t on_body(char* p, size_t sz, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, sz * n);
  return sz * n;
}
size_t on_header(char* p, size_t sz, size_t n, void* ud) {
  static_cast<std::vector<std::string>*>(ud)->emplace_back(p, sz * n);
  return sz * n;
}

Response http_request(const std::string& url, const char* method = "POST",
                      const std::vector<std::string>& extra_headers = {}, const std::string& cafile = {}) {
  Response r;
  CURL* c = curl_easy_init();
  if (!c) {
    r.curl_error = "curl_easy_init failed";
    return r;
  }
  curl_slist* hdrs = nullptr;
  for (const auto& h : extra_headers) hdrs = curl_slist_append(hdrs, h.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (std::string(method) == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
  }
  if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  if (!cafile.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, cafile.c_str());
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) r.curl_error = curl_easy_strerror(rc);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return r;
}

struct Json {
  cJSON* doc = nullptr;
  explicit Json(const std::string& s) : doc(cJSON_Parse(s.c_str())) {}
  ~Json() { cJSON_Delete(doc); }
  Json(const Json&) = delete;
  Json& operator=(const Json&) = delete;
  const cJSON* get(const char* k) const { return cJSON_GetObjectItemCaseSensitive(doc, k); }
  std::string str(const char* k) const {
    const cJSON* v = get(k);
    return cJSON_IsString(v) ? v->valuestring : "";
  }
};

std::vector<std::string> transports_of(const Json& j) {
  std::vector<std::string> out;
  const cJSON* arr = j.get("availableTransports");
  const cJSON* t = nullptr;
  cJSON_ArrayForEach(t, arr) {
    const cJSON* name = cJSON_GetObjectItemCaseSensitive(t, "transport");
    if (cJSON_IsString(name)) out.emplace_back(name->valuestring);
  }
  return out;
}

const std::vector<std::string> kAll = {"WebSockets", "ServerSentEvents", "LongPolling"};

class ServerSmoke : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  static void TearDownTestSuite() { curl_global_cleanup(); }
  void SetUp() override {
    const Server& s = server();
    if (!s.skipped.empty()) {
      std::fprintf(stderr, "\n*** SKIPPING interop tests: %s ***\n", s.skipped.c_str());
      if (require_server()) {
        FAIL() << "SignalR test server was skipped (" << s.skipped << ") but SIGNALR_REQUIRE_SERVER=1";
      }
      GTEST_SKIP() << "*** SKIPPING interop tests: " << s.skipped << " ***";
    }
    ASSERT_TRUE(s.ok()) << s.error;
  }
  const std::string& http() const { return server().http; }
  Response negotiate(const std::string& path, const std::string& query = "negotiateVersion=1",
                     const std::vector<std::string>& headers = {}) {
    return http_request(http() + path + "/negotiate?" + query, "POST", headers);
  }
};

struct EndpointCase {
  const char* path;
  std::vector<std::string> transports;
};

TEST_F(ServerSmoke, HubEndpointsAdvertiseExactTransports) {
  const std::vector<EndpointCase> cases = {
      {"/hubs/test", kAll},
      {"/hubs/test-nodetail", kAll},
      {"/hubs/no-websockets", {"ServerSentEvents", "LongPolling"}},
      {"/hubs/longpolling", {"LongPolling"}},
      {"/hubs/sse", {"ServerSentEvents"}},
      {"/hubs/websockets", {"WebSockets"}},
      {"/hubs/stateful", kAll},
      {"/hubs/stateful-smallbuffer", kAll},
      {"/hubs/short-timeout", kAll},
      {"/hubs/silent", kAll},
      {"/hubs/ws-rejected", kAll},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    Response r = negotiate(c.path);
    ASSERT_EQ(r.curl_error, "");
    ASSERT_EQ(r.status, 200) << r.body;
    Json j(r.body);
    ASSERT_NE(j.doc, nullptr) << r.body;
    EXPECT_EQ(cJSON_GetNumberValue(j.get("negotiateVersion")), 1.0);
    EXPECT_FALSE(j.str("connectionId").empty());
    EXPECT_FALSE(j.str("connectionToken").empty());
    EXPECT_EQ(transports_of(j), c.transports);
  }
}

TEST_F(ServerSmoke, StatefulReconnectOffered) {
  Response r = negotiate("/hubs/stateful", "negotiateVersion=1&useStatefulReconnect=true");
  ASSERT_EQ(r.status, 200) << r.curl_error;
  Json j(r.body);
  EXPECT_TRUE(cJSON_IsTrue(j.get("useStatefulReconnect"))) << r.body;
  Response r2 = negotiate("/hubs/test", "negotiateVersion=1&useStatefulReconnect=true");
  Json j2(r2.body);
  EXPECT_EQ(j2.get("useStatefulReconnect"), nullptr) << r2.body;
}

TEST_F(ServerSmoke, NegotiateV0HasNoConnectionToken) {
  Response r = negotiate("/hubs/v0");
  ASSERT_EQ(r.status, 200) << r.curl_error;
  Json j(r.body);
  EXPECT_EQ(cJSON_GetNumberValue(j.get("negotiateVersion")), 0.0);
  EXPECT_EQ(j.get("connectionToken"), nullptr);
  EXPECT_FALSE(j.str("connectionId").empty());
}

TEST_F(ServerSmoke, RedirectsErrorsAndLegacy) {
  {
    Json j(negotiate("/redirect/url").body);
    EXPECT_EQ(j.str("url"), http() + "/hubs/test?redirects=1");
    EXPECT_EQ(j.get("accessToken"), nullptr);
  }
  {
    Json j(negotiate("/redirect/token").body);
    EXPECT_EQ(j.str("url"), http() + "/hubs/auth?redirects=1");
    std::string token = j.str("accessToken");
    ASSERT_FALSE(token.empty());
    EXPECT_EQ(negotiate("/hubs/auth", "redirects=1&negotiateVersion=1").status, 401);
    EXPECT_EQ(negotiate("/hubs/auth", "redirects=1&negotiateVersion=1", {"Authorization: Bearer " + token}).status,
              200);
  }
  {
    Json j(negotiate("/redirect/loop").body);
    EXPECT_EQ(j.str("url"), http() + "/redirect/loop?hop=1");
  }
  {
    Json j(negotiate("/negotiate-error").body);
    EXPECT_EQ(j.str("error"), "This connection is not allowed.");
  }
  {
    Json j(negotiate("/legacy").body);
    EXPECT_NE(j.get("ProtocolVersion"), nullptr);
  }
}

TEST_F(ServerSmoke, AuthTokenEndpoint) {
  EXPECT_EQ(negotiate("/hubs/auth").status, 401);
  Response t = http_request(http() + "/token?user=alice", "GET");
  ASSERT_EQ(t.status, 200) << t.curl_error;
  ASSERT_FALSE(t.body.empty());
  Response ok = negotiate("/hubs/auth", "negotiateVersion=1", {"Authorization: Bearer " + t.body});
  EXPECT_EQ(ok.status, 200);
  Json j(ok.body);
  EXPECT_EQ(transports_of(j), kAll);
  Response q = negotiate("/hubs/auth", "negotiateVersion=1&access_token=" + t.body);
  EXPECT_EQ(q.status, 200);
  EXPECT_EQ(negotiate("/hubs/auth", "negotiateVersion=1", {"Authorization: Bearer nope"}).status, 401);
}

TEST_F(ServerSmoke, ErrorStatuses) {
  EXPECT_EQ(negotiate("/does-not-exist").status, 404);
  EXPECT_EQ(http_request(http() + "/hubs/test/negotiate", "GET").status, 405);
  EXPECT_EQ(negotiate("/status/503").status, 503);
  EXPECT_EQ(negotiate("/hubs/test", "negotiateVersion=1", {"Authorization: Bearer " + std::string(65536, 'a')}).status,
            431);
}

TEST_F(ServerSmoke, HttpsWithGeneratedCertificate) {
  const Server& s = server();
  ASSERT_FALSE(s.https.empty());
  Response r = http_request(s.https + "/hubs/test/negotiate?negotiateVersion=1", "POST", {}, s.cert);
  ASSERT_EQ(r.curl_error, "");
  EXPECT_EQ(r.status, 200);
  Json j(r.body);
  EXPECT_EQ(transports_of(j), kAll);

  Response redir = negotiate("/https-redirect/hubs/test");
  EXPECT_EQ(redir.status, 307);
  bool found = false;
  for (const auto& h : redir.headers) {
    if (h.rfind("Location: ", 0) == 0 || h.rfind("location: ", 0) == 0) {
      found = h.find(s.https + "/hubs/test/negotiate?negotiateVersion=1") != std::string::npos;
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
