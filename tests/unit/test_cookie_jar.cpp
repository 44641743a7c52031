// The connection's cookie jar (libcurl's cookie engine) and the Cookie header it gives the
// WebSocket upgrade, which does not go through libcurl: RFC 6265 matching of domain, path,
// Secure and expiry, longer paths first. (What the server sets reaches the jar through
// libcurl's own Set-Cookie parsing: tests/interop/test_api.cpp Cookies.*.)
#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "transport/cookie_jar.h"
}

namespace {

struct Jar {
  sr_cookie_jar *jar = sr_cookie_jar_new();
  ~Jar() { sr_cookie_jar_free(jar); }
  // domain, tailmatch (a Domain attribute was given), path, secure, expires (0: session), name, value
  void add(const std::string &domain, bool tail, const std::string &path, bool secure, long long expires,
           const std::string &name, const std::string &value) {
    std::string line = domain + "\t" + (tail ? "TRUE" : "FALSE") + "\t" + path + "\t" + (secure ? "TRUE" : "FALSE") +
                       "\t" + std::to_string(expires) + "\t" + name + "\t" + value;
    ASSERT_EQ(sr_cookie_jar_store(jar, line.c_str()), 0) << line;
  }
  void set_cookie(const std::string &header) {
    ASSERT_EQ(sr_cookie_jar_store(jar, ("Set-Cookie: " + header).c_str()), 0) << header;
  }
  std::string header(const char *url) {
    sr_buf b = SR_BUF_INIT;
    int rc = sr_cookie_jar_header(jar, url, &b);
    std::string out = rc == 1 ? std::string((const char *)b.data) : rc == 0 ? "" : "error " + std::to_string(rc);
    sr_buf_free(&b);
    return out;
  }
};

TEST(CookieJar, HostOnlyAndDomainCookies) {
  Jar j;
  ASSERT_NE(j.jar, nullptr);
  j.add("www.example.com", false, "/", false, 0, "host", "1"); // no Domain attribute: that host only
  j.add(".example.com", true, "/", false, 0, "dom", "2");      // Domain=example.com: it and below
  EXPECT_EQ(j.header("wss://www.example.com/hub"), "Cookie: host=1; dom=2");
  EXPECT_EQ(j.header("wss://WWW.Example.COM/hub"), "Cookie: host=1; dom=2"); // hosts ignore case
  EXPECT_EQ(j.header("wss://a.www.example.com/hub"), "Cookie: dom=2");
  EXPECT_EQ(j.header("wss://example.com/hub"), "Cookie: dom=2");
  EXPECT_EQ(j.header("wss://badexample.com/hub"), ""); // not a subdomain: no dot before
  EXPECT_EQ(j.header("wss://other.org/hub"), "");
  EXPECT_EQ(j.header("wss://www.example.com:8443/hub"), "Cookie: host=1; dom=2"); // ports do not matter
}

TEST(CookieJar, PathsMatchOnSegmentsAndLongerComeFirst) {
  Jar j;
  j.add("h.test", false, "/", false, 0, "root", "r");
  j.add("h.test", false, "/hubs/api", false, 0, "hub", "h");
  j.add("h.test", false, "/hubs/", false, 0, "slash", "s");
  EXPECT_EQ(j.header("ws://h.test/hubs/api?id=1"), "Cookie: hub=h; slash=s; root=r");
  EXPECT_EQ(j.header("ws://h.test/hubs/api/x"), "Cookie: hub=h; slash=s; root=r");
  EXPECT_EQ(j.header("ws://h.test/hubs/apifoo"), "Cookie: slash=s; root=r"); // not a segment
  EXPECT_EQ(j.header("ws://h.test/hubs"), "Cookie: root=r");
  EXPECT_EQ(j.header("ws://h.test/"), "Cookie: root=r");
}

TEST(CookieJar, SecureOnlyOverTlsOrToALoopbackHost) {
  Jar j;
  j.add("s.test", false, "/", true, 0, "sec", "1");
  j.add("s.test", false, "/", false, 0, "plain", "2");
  EXPECT_EQ(j.header("wss://s.test/"), "Cookie: sec=1; plain=2");
  EXPECT_EQ(j.header("https://s.test/"), "Cookie: sec=1; plain=2");
  EXPECT_EQ(j.header("ws://s.test/"), "Cookie: plain=2");
  j.add("127.0.0.1", false, "/", true, 0, "lo", "1");
  EXPECT_EQ(j.header("ws://127.0.0.1:5000/"), "Cookie: lo=1"); // libcurl's rule (RFC 6265bis)
}

TEST(CookieJar, ExpiredOnesAreNotSentAndServersReplaceAndDelete) {
  Jar j;
  j.add("d.test", false, "/", false, 1, "old", "x");           // expired in 1970
  j.add("d.test", false, "/", false, 4102444800LL, "new", "y"); // 2100
  EXPECT_EQ(j.header("ws://d.test/"), "Cookie: new=y");
  j.set_cookie("a=1; domain=d.test; path=/");
  EXPECT_EQ(j.header("ws://d.test/"), "Cookie: new=y; a=1");
  j.set_cookie("a=2; domain=d.test; path=/"); // replaced
  EXPECT_EQ(j.header("ws://d.test/"), "Cookie: new=y; a=2");
  j.set_cookie("a=; expires=Thu, 01 Jan 1970 00:00:00 GMT; domain=d.test; path=/"); // ASP.NET Core's delete
  EXPECT_EQ(j.header("ws://d.test/"), "Cookie: new=y");
}

TEST(CookieJar, BadUrlsAndEmptyJar) {
  Jar j;
  EXPECT_EQ(j.header("ws://e.test/"), "");
  sr_buf b = SR_BUF_INIT;
  EXPECT_LT(sr_cookie_jar_header(j.jar, "not a url", &b), 0);
  EXPECT_EQ(sr_cookie_jar_header(nullptr, "ws://e.test/", &b), 0);
  EXPECT_EQ(b.len, 0u);
  sr_buf_free(&b);
}

}  // namespace
