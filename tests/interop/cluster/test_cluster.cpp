// The client against a scale-out cluster (tests/harness/cluster.py, CTest fixture
// tests/server/cluster.cmake): three ASP.NET Core servers on one Redis backplane
// (Microsoft.AspNetCore.SignalR.StackExchangeRedis), a round-robin proxy without stickiness,
// a sticky one (cookie), and an Azure-SignalR-style app server that redirects negotiate to the
// sticky proxy's /client/?hub=NAME with a JWT. Exact counts, through the public C API.
#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../../support/api_client.h"
#include "../../support/http_get.h"

using srtest::ApiClient;
using srtest::CallResult;

namespace {

struct ClusterState {
  std::string skipped, error, proxy, sticky, app;
  std::vector<std::string> nodes;
  bool ok() const { return skipped.empty() && error.empty() && nodes.size() >= 2; }
};

const ClusterState &cluster() {
  static ClusterState s = [] {
    ClusterState r;
    cJSON *doc = srtest::read_state_file("SIGNALR_CLUSTER_STATE", "cluster_start", "cluster", r.error);
    if (!doc) return r;
    r.skipped = srtest::state_skipped(doc);
    r.proxy = srtest::state_str(doc, "proxy");
    r.sticky = srtest::state_str(doc, "sticky_proxy");
    r.app = srtest::state_str(doc, "app");
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(doc, "nodes");
    const cJSON *n;
    cJSON_ArrayForEach(n, nodes) {
      const cJSON *h = cJSON_GetObjectItemCaseSensitive(n, "http");
      if (cJSON_IsString(h)) r.nodes.push_back(h->valuestring);
    }
    if (r.skipped.empty() && r.nodes.size() < 2) r.error = "the cluster state names fewer than 2 nodes";
    cJSON_Delete(doc);
    return r;
  }();
  return s;
}

#define SIGNALR_NEED_CLUSTER() SIGNALR_NEED_STATE(cluster(), "no test cluster", "no Redis-backed test cluster")

// A unique tag per test run, so concurrent runs on one cluster never count each other's messages.
std::string unique_tag(const char *what) {
  static int seq = 0;
  return std::string(what) + "-" + std::to_string(::getpid()) + "-" + std::to_string(++seq);
}

// Counts every message of one method, keyed by its first string argument's JSON.
struct Member {
  std::unique_ptr<ApiClient> client;
  std::string node, user;
  struct Sink {
    Member *m;
    std::string method;
  };
  std::vector<std::unique_ptr<Sink>> sinks;
  std::map<std::string, std::map<std::string, int>> got;  // method -> args JSON -> times

  static int on_msg(void *ud, signalr_connection *, const signalr_value *args, const void **, size_t *, int *,
                    const char **) {
    auto *s = static_cast<Sink *>(ud);
    s->m->got[s->method][srtest::value_json(args)]++;
    return 0;
  }
  void listen(const char *method) {
    sinks.push_back(std::unique_ptr<Sink>(new Sink{this, method}));
    ASSERT_EQ(signalr_connection_on(client->conn, method, on_msg, sinks.back().get(), nullptr, nullptr), 0);
  }
  int total(const std::string &method, const std::string &tag) const {
    auto it = got.find(method);
    int t = 0;
    if (it == got.end()) return 0;
    for (auto &kv : it->second) t += kv.first.find(tag) != std::string::npos ? kv.second : 0;
    return t;
  }
};

// Polls every member's context until pred() holds or ms elapse.
bool poll_all(std::vector<std::unique_ptr<Member>> &ms, const std::function<bool()> &pred, int ms_total = 20000) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms_total);
  while (!pred() && std::chrono::steady_clock::now() < until)
    for (auto &m : ms) signalr_context_poll(m->client->ctx, 2);
  return pred();
}

std::string jstr(const std::string &s) { return "\"" + s + "\""; }

class Delivery : public ::testing::TestWithParam<const char *> {
 protected:
  void SetUp() override { SIGNALR_NEED_CLUSTER(); }
};

}  // namespace

// Two clients on every node; one client on node0 sends M broadcasts, M group messages and M
// messages to a user that half of the clients (one per node) are: every client counts each
// message exactly once, across nodes, through Redis.
TEST_P(Delivery, BroadcastGroupAndUserReachEveryNodeExactlyOnce) {
  const auto &cl = cluster();
  const int per_node = 2, M = 20;
  std::string tag = unique_tag(GetParam());
  std::string group = tag + "-group", even = tag + "-even", odd = tag + "-odd";
  std::vector<std::unique_ptr<Member>> ms;
  for (size_t i = 0; i < cl.nodes.size(); i++) {
    for (int k = 0; k < per_node; k++) {
      auto m = std::make_unique<Member>();
      m->user = k == 0 ? even : odd;
      m->client.reset(new ApiClient(cl.nodes[i] + "/hubs/test?userId=" + m->user, {{"transports", GetParam()}}));
      m->listen("Broadcast");
      m->listen("GroupMessage");
      m->listen("UserMessage");
      CallResult st = m->client->start();
      ASSERT_EQ(st.code, 0) << st.message;
      m->node = m->client->invoke("GetNode", "[]").json;
      EXPECT_EQ(m->node, jstr("node" + std::to_string(i)));
      EXPECT_EQ(m->client->invoke("GetUserIdentifier", "[]").json, jstr(m->user));
      ASSERT_EQ(m->client->invoke("JoinGroup", "[" + jstr(group) + "]").code, 0);
      ms.push_back(std::move(m));
    }
  }
  ApiClient &sender = *ms[0]->client;
  for (int j = 0; j < M; j++) {
    std::string n = std::to_string(j);
    ASSERT_EQ(sender.invoke("Broadcast", "[" + jstr(tag + "-b-" + n) + "]").code, 0);
    ASSERT_EQ(sender.invoke("SendToGroup", "[" + jstr(group) + "," + jstr(tag + "-g-" + n) + "]").code, 0);
    ASSERT_EQ(sender.invoke("SendToUser", "[" + jstr(even) + "," + jstr(tag + "-u-" + n) + "]").code, 0);
  }
  auto all_arrived = [&] {
    for (auto &m : ms) {
      if (m->total("Broadcast", tag + "-b-") < M || m->total("GroupMessage", tag + "-g-") < M) return false;
      if (m->user == even && m->total("UserMessage", tag + "-u-") < M) return false;
    }
    return true;
  };
  ASSERT_TRUE(poll_all(ms, all_arrived)) << "not every message reached every node's clients";
  // Fences, one per Redis channel (order holds within one): when a client has the fence,
  // anything duplicated before it has arrived too.
  ASSERT_EQ(sender.invoke("Broadcast", "[" + jstr(tag + "-fence") + "]").code, 0);
  ASSERT_EQ(sender.invoke("SendToGroup", "[" + jstr(group) + "," + jstr(tag + "-fence") + "]").code, 0);
  ASSERT_EQ(sender.invoke("SendToUser", "[" + jstr(odd) + "," + jstr(tag + "-fence") + "]").code, 0);
  ASSERT_EQ(sender.invoke("SendToUser", "[" + jstr(even) + "," + jstr(tag + "-fence") + "]").code, 0);
  ASSERT_TRUE(poll_all(ms, [&] {
    for (auto &m : ms)
      if (m->total("Broadcast", tag + "-fence") < 1 || m->total("GroupMessage", tag + "-fence") < 1 ||
          m->total("UserMessage", tag + "-fence") < 1)
        return false;
    return true;
  }));
  int deliveries = 0;
  std::set<std::string> nodes;
  for (auto &m : ms) {
    nodes.insert(m->node);
    for (int j = 0; j < M; j++) {
      std::string n = std::to_string(j);
      EXPECT_EQ(m->got["Broadcast"]["[" + jstr(tag + "-b-" + n) + "]"], 1) << m->node << " broadcast " << j;
      EXPECT_EQ(m->got["GroupMessage"]["[" + jstr(group) + "," + jstr(tag + "-g-" + n) + "]"], 1) << m->node;
      EXPECT_EQ(m->got["UserMessage"]["[" + jstr(tag + "-u-" + n) + "]"], m->user == even ? 1 : 0) << m->node;
    }
    EXPECT_EQ(m->total("Broadcast", tag), M + 1);
    EXPECT_EQ(m->total("GroupMessage", tag), M + 1);
    EXPECT_EQ(m->total("UserMessage", tag), m->user == even ? M + 1 : 1);
    deliveries += m->total("Broadcast", tag + "-b-") + m->total("GroupMessage", tag + "-g-") +
                  m->total("UserMessage", tag + "-u-");
  }
  EXPECT_EQ(nodes.size(), cl.nodes.size());
  const int clients = static_cast<int>(ms.size());
  EXPECT_EQ(deliveries, clients * M * 2 + (clients / per_node) * M);
  std::printf("[cluster] %s: %d clients on %zu nodes, %d messages of each kind from node0: %d deliveries "
              "(broadcast %d + group %d + user %d), none missing or duplicated\n",
              GetParam(), clients, nodes.size(), M, deliveries, clients * M, clients * M, (clients / per_node) * M);
  for (auto &m : ms) EXPECT_EQ(signalr_connection_stop_blocking(m->client->conn, 10000), 0);
}

INSTANTIATE_TEST_SUITE_P(Transports, Delivery, ::testing::Values("websockets", "serversentevents", "longpolling"));

// ------------------------------------------------------------------ stickiness
namespace {
class NoSticky : public ::testing::TestWithParam<const char *> {
 protected:
  void SetUp() override { SIGNALR_NEED_CLUSTER(); }
};
}  // namespace

// Negotiate lands on one node, the transport's first request on the next one, which does not
// know the connection id: a 404 whose hint names the missing sticky sessions.
TEST_P(NoSticky, NegotiateOnOneNodeConnectOnAnotherFailsWithTheHint) {
  ApiClient c(cluster().proxy + "/hubs/test", {{"transports", GetParam()}});
  CallResult r = c.start();
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.code, SIGNALR_ENOTFOUND) << r.message;
  EXPECT_EQ(r.http, 404) << r.message;
  EXPECT_NE(r.hint.find("sticky sessions"), std::string::npos) << r.hint;
  EXPECT_NE(r.hint.find("skip_negotiation"), std::string::npos) << r.hint;
  EXPECT_EQ(c.count(SIGNALR_EVENT_CONNECTED), 0);
  std::printf("[cluster] %s without stickiness: %s\n  hint: %s\n", GetParam(), r.message.c_str(), r.hint.c_str());
}

INSTANTIATE_TEST_SUITE_P(Transports, NoSticky, ::testing::Values("serversentevents", "longpolling", "websockets"));

TEST(NoStickyWebSockets, SkipNegotiationWorksThroughTheRoundRobinProxy) {
  SIGNALR_NEED_CLUSTER();
  std::set<std::string> nodes;
  for (size_t i = 0; i < cluster().nodes.size(); i++) {
    ApiClient c(cluster().proxy + "/hubs/test", {{"transports", "websockets"}, {"skip_negotiation", "true"}});
    ASSERT_EQ(c.start().code, 0);
    std::string node = c.invoke("GetNode", "[]").json;
    for (int k = 0; k < 5; k++) EXPECT_EQ(c.invoke("GetNode", "[]").json, node) << "one socket, one node";
    EXPECT_EQ(c.invoke("Echo", "[\"x\"]").json, "\"x\"");
    nodes.insert(node);
    EXPECT_EQ(signalr_connection_stop_blocking(c.conn, 10000), 0);
  }
  EXPECT_EQ(nodes.size(), cluster().nodes.size()) << "round robin spreads the sockets over every node";
}

namespace {
class Sticky : public ::testing::TestWithParam<const char *> {
 protected:
  void SetUp() override { SIGNALR_NEED_CLUSTER(); }
};
}  // namespace

// The sticky proxy pins a client to the node of its first request (cookie): every transport
// works, every request of the connection (negotiate, polls, sends) reaching that node.
TEST_P(Sticky, EveryTransportWorksThroughTheStickyProxy) {
  std::set<std::string> nodes;
  for (size_t i = 0; i < cluster().nodes.size(); i++) {
    ApiClient c(cluster().sticky + "/hubs/test", {{"transports", GetParam()}});
    c.listen("Callback");
    CallResult r = c.start();
    ASSERT_EQ(r.code, 0) << r.message << " / " << r.hint;
    std::string node = c.invoke("GetNode", "[]").json;
    for (int k = 0; k < 10; k++) {
      EXPECT_EQ(c.invoke("Echo", "[\"" + std::to_string(k) + "\"]").json, "\"" + std::to_string(k) + "\"");
      ASSERT_EQ(signalr_connection_send(c.conn, "Callback", "[\"s\"]", 5, SIGNALR_ENCODING_JSON), 0);
    }
    ASSERT_TRUE(c.poll_until([&] { return c.calls.size() == 10; }));
    EXPECT_EQ(c.invoke("GetNode", "[]").json, node);
    nodes.insert(node);
    EXPECT_EQ(signalr_connection_stop_blocking(c.conn, 10000), 0);
  }
  EXPECT_GE(nodes.size(), 2u) << "new clients are still balanced";
}

INSTANTIATE_TEST_SUITE_P(Transports, Sticky, ::testing::Values("websockets", "serversentevents", "longpolling"));

// ------------------------------------------------------------------ Azure-SignalR-style flow
namespace {
int stat_of(const std::string &base, const char *key) {
  srtest::HttpReply r = srtest::http_get(base, "/cluster/stats");
  cJSON *doc = cJSON_Parse(r.body.c_str());
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
  int n = cJSON_IsNumber(v) ? v->valueint : -1;
  cJSON_Delete(doc);
  return n;
}
}  // namespace

// The app server's negotiate answers {url, accessToken}; the client follows it to the service
// (the sticky proxy's /client/?hub=test) and presents the token there.
TEST(AzureStyle, RedirectIsFollowedWithTheToken) {
  SIGNALR_NEED_CLUSTER();
  int before = stat_of(cluster().app, "appNegotiates");
  for (const char *t : {"websockets", "serversentevents", "longpolling"}) {
    ApiClient c(cluster().app + "/app?hub=test&user=carol", {{"transports", t}});
    CallResult r = c.start();
    ASSERT_EQ(r.code, 0) << t << ": " << r.message << " / " << r.hint;
    EXPECT_EQ(c.invoke("GetUserIdentifier", "[]").json, "\"carol\"") << t;
    EXPECT_EQ(c.invoke("GetNode", "[]").json.rfind("\"node", 0), 0u) << "served by a service node";
    EXPECT_EQ(signalr_connection_stop_blocking(c.conn, 10000), 0);
  }
  EXPECT_EQ(stat_of(cluster().app, "appNegotiates"), before + 3);
}

// Without the app server's token the service refuses: 401, with the auth hint.
TEST(AzureStyle, ServiceRequiresTheToken) {
  SIGNALR_NEED_CLUSTER();
  ApiClient c(cluster().sticky + "/client/?hub=test");
  CallResult r = c.start();
  EXPECT_EQ(r.code, SIGNALR_EAUTH) << r.message;
  EXPECT_EQ(r.http, 401);
}

// Tokens live 2 s: after they expired, a reconnect must go through the app server again for a
// new one (the expired token would get a 401 from the service).
TEST(AzureStyle, ReconnectFetchesAFreshTokenThroughTheAppServer) {
  SIGNALR_NEED_CLUSTER();
  ApiClient c(cluster().app + "/app?hub=test&user=dave&ttl=2", {{"transports", "websockets"}, {"reconnect", "true"}});
  ASSERT_EQ(c.start().code, 0);
  int negotiates = stat_of(cluster().app, "appNegotiates");
  // The token's lifetime is wall-clock time by definition: wait it out.
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  EXPECT_EQ(c.invoke("Echo", "[\"still\"]").json, "\"still\"") << "an open connection outlives its token";
  EXPECT_EQ(c.invoke("CloseWithReconnect", "[]").json, "true");
  ASSERT_TRUE(c.poll_until([&] { return c.count(SIGNALR_EVENT_RECONNECTED) == 1; }, 20000))
      << "no reconnect; last event code " << (c.lifecycle.empty() ? 0 : c.lifecycle.back().code) << " "
      << (c.lifecycle.empty() ? "" : c.lifecycle.back().message);
  EXPECT_EQ(c.invoke("GetUserIdentifier", "[]").json, "\"dave\"");
  EXPECT_GT(stat_of(cluster().app, "appNegotiates"), negotiates) << "the reconnect did not ask the app server";
  EXPECT_EQ(c.count(SIGNALR_EVENT_CLOSED), 0);
}

// The app server bounces negotiate to itself N times before it redirects to the service: 99
// bounces + the service = 100 redirects, the client's limit, are followed; one more is refused
// (SIGNALR_EREDIRECT, with the loop hint), and nothing connected.
TEST(AzureStyle, RedirectLimit) {
  SIGNALR_NEED_CLUSTER();
  {
    ApiClient c(cluster().app + "/app?hub=test&user=erin&bounce=99");
    CallResult r = c.start();
    ASSERT_EQ(r.code, 0) << r.message;
    EXPECT_EQ(c.invoke("GetUserIdentifier", "[]").json, "\"erin\"");
  }
  ApiClient c(cluster().app + "/app?hub=test&bounce=100");
  CallResult r = c.start();
  EXPECT_EQ(r.code, SIGNALR_EREDIRECT) << r.message;
  EXPECT_NE(r.hint.find("100"), std::string::npos) << r.hint;
  EXPECT_EQ(c.count(SIGNALR_EVENT_CONNECTED), 0);
}
