// The engine's record of a connect attempt (engine/diag.c), behind
// signalr_connection_diagnostics: phases, negotiate answers with their secrets redacted,
// redirects followed, the transport chosen, and the gaps between the server's pings.
#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "../support/engine_fake.h"

using srtest::Fake;

namespace {

// The record as parsed JSON (owned by the caller: cJSON_Delete).
cJSON *diag(const Fake &f) {
  char *s = sr_diag_json(sr_engine_diag(&f.e), "http://h/hub", 30000, 15000);
  EXPECT_NE(s, nullptr);
  cJSON *j = cJSON_Parse(s);
  free(s);
  EXPECT_NE(j, nullptr);
  return j;
}

const cJSON *at(const cJSON *o, const char *a, const char *b = nullptr) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
  return b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

std::string str(const cJSON *v) { return cJSON_IsString(v) ? v->valuestring : "<not a string>"; }

}  // namespace

TEST(EngineDiag, PhasesFollowTheAttemptAndTheTokenIsRedacted) {
  Fake f;
  cJSON *j = diag(f);
  EXPECT_EQ(str(at(j, "phase")), "none");
  cJSON_Delete(j);
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  j = diag(f);
  EXPECT_EQ(str(at(j, "phase")), "negotiate");
  EXPECT_EQ(at(j, "negotiate", "requests")->valueint, 1);
  EXPECT_NE(str(at(j, "negotiate", "url")).find("/hub/negotiate?negotiateVersion=1"), std::string::npos);
  cJSON_Delete(j);
  f.negotiate_reply(200, Fake::kNegotiate);
  j = diag(f);
  EXPECT_EQ(str(at(j, "phase")), "transport");
  EXPECT_EQ(str(at(j, "transport")), "WebSockets");
  EXPECT_EQ(at(j, "negotiate", "status")->valueint, 200);
  const cJSON *resp = at(j, "negotiate", "response");
  EXPECT_EQ(str(at(resp, "connectionToken")), "(present)");  // the token itself never leaves
  EXPECT_EQ(str(at(resp, "connectionId")), "cid");
  cJSON_Delete(j);
  sr_engine_on_open(&f.e, f.now);
  j = diag(f);
  EXPECT_EQ(str(at(j, "phase")), "handshake");
  cJSON_Delete(j);
  f.data("{}\x1e");
  j = diag(f);
  EXPECT_EQ(str(at(j, "phase")), "connected");
  EXPECT_EQ(at(j, "server_pings", "count")->valueint, 0);
  EXPECT_EQ(at(j, "server_pings", "max_gap_ms")->valueint, -1);
  cJSON_Delete(j);
}

TEST(EngineDiag, PingGapsAreMeasuredBetweenPings) {
  Fake f;
  f.connect();
  uint32_t v = sr_engine_diag(&f.e)->version;
  f.now += 700;
  f.data("{\"type\":6}\x1e");  // the first gap runs from the handshake: not an interval
  f.now += 1000;
  f.data("{\"type\":6}\x1e");
  f.now += 1200;
  f.data("{\"type\":6}\x1e");
  EXPECT_NE(sr_engine_diag(&f.e)->version, v);  // the API republishes on a change
  cJSON *j = diag(f);
  EXPECT_EQ(at(j, "server_pings", "count")->valueint, 3);
  EXPECT_EQ(at(j, "server_pings", "last_gap_ms")->valueint, 1200);
  EXPECT_EQ(at(j, "server_pings", "max_gap_ms")->valueint, 1200);
  cJSON_Delete(j);
}

TEST(EngineDiag, RedirectsAreListedAndTheirAccessTokenRedacted) {
  Fake f;
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  f.negotiate_reply(200, "{\"url\":\"http://a/hub\",\"accessToken\":\"secret\"}");
  f.negotiate_reply(200, "{\"url\":\"http://b/hub\",\"accessToken\":\"secret2\"}");
  // The third is refused (not http/https/ws/wss): its answer stays the last one recorded.
  f.negotiate_reply(200, "{\"url\":\"ftp://c/hub\",\"accessToken\":\"secret3\"}");
  cJSON *j = diag(f);
  EXPECT_EQ(at(j, "negotiate", "redirect_count")->valueint, 2);
  EXPECT_EQ(at(j, "negotiate", "requests")->valueint, 3);
  EXPECT_EQ(at(j, "negotiate", "status")->valueint, 200);
  EXPECT_EQ(str(cJSON_GetArrayItem(at(j, "negotiate", "redirects"), 1)), "http://b/hub");
  EXPECT_EQ(str(at(at(j, "negotiate", "response"), "accessToken")), "(present)");
  cJSON_Delete(j);
  char *s = sr_diag_json(sr_engine_diag(&f.e), "http://h/hub", 30000, 15000);
  EXPECT_EQ(std::string(s).find("secret"), std::string::npos);
  free(s);
}

TEST(EngineDiag, AFailedNegotiateKeepsItsStatusAndTextAndANewAttemptStartsOver) {
  Fake f;
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  f.negotiate_reply(404, "<html>Not Found</html>");
  cJSON *j = diag(f);
  EXPECT_EQ(str(at(j, "phase")), "negotiate");
  EXPECT_EQ(at(j, "negotiate", "status")->valueint, 404);
  EXPECT_EQ(str(at(j, "negotiate", "response")), "<html>Not Found</html>");  // not JSON: the text
  cJSON_Delete(j);
  ASSERT_EQ(sr_engine_start(&f.e, f.now), 0);
  j = diag(f);
  EXPECT_EQ(at(j, "negotiate", "requests")->valueint, 1);
  EXPECT_EQ(at(j, "negotiate", "status")->valueint, 0);
  EXPECT_TRUE(cJSON_IsNull(at(j, "negotiate", "response")));
  cJSON_Delete(j);
}
