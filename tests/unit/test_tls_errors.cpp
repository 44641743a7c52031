// TLS failures said in words (transport/tls_error.c) and the hint each gets
// (sr_error_hint_for): untrusted issuer, another host name, expired, a port that does not speak
// TLS, a certificate libwebsockets rejected without saying why, an unreadable CA file. The
// texts are libcurl's and OpenSSL's as they come (CURLINFO_SSL_VERIFYRESULT numbers are
// OpenSSL's X509_V_ERR_*).
#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "engine/error_info.h"
#include "signalr/signalr.h"
#include "transport/tls_error.h"
}

namespace {

struct Case {
  int curl_code;
  long verify;
  const char *text;
  int kind;
};

std::string hint_of(int kind, int have_ca_file, const char *detail) {
  sr_error_info e;
  char msg[400];
  sr_tls_message(msg, sizeof msg, kind, have_ca_file, detail);
  sr_error_set(&e, SIGNALR_ETLS, 0, "negotiate failed: %s", msg);
  const char *h = sr_error_hint_for(SR_STAGE_NEGOTIATE, &e);
  return h ? h : "";
}

}  // namespace

TEST(TlsErrors, CurlFailuresAreClassified) {
  const Case cases[] = {
      {60, 18, "SSL certificate problem: self-signed certificate", SR_TLS_UNTRUSTED},
      {60, 20, "SSL certificate problem: unable to get local issuer certificate", SR_TLS_UNTRUSTED},
      {60, 19, "SSL certificate problem: self-signed certificate in certificate chain", SR_TLS_UNTRUSTED},
      {60, 10, "SSL certificate problem: certificate has expired", SR_TLS_EXPIRED},
      {60, 9, "SSL certificate problem: certificate is not yet valid", SR_TLS_EXPIRED},
      {60, 0, "SSL: no alternative certificate subject name matches target host name '127.0.0.1'",
       SR_TLS_HOSTNAME},
      {60, 62, "SSL certificate problem: hostname mismatch", SR_TLS_HOSTNAME},
      {35, 0, "OpenSSL/3.0.19: error:0A00010B:SSL routines::wrong version number", SR_TLS_NOT_TLS},
      {35, 0, "error:1408F10B:SSL routines:ssl3_get_record:wrong version number", SR_TLS_NOT_TLS},
      {35, 0, "OpenSSL/3.0.19: error:0A000126:SSL routines::unexpected eof while reading", SR_TLS_FAILED},
      {77, 0, "error setting certificate file: /nonexistent.pem", SR_TLS_CA_FILE},
  };
  for (const Case &c : cases) EXPECT_EQ(sr_tls_kind_curl(c.curl_code, c.verify, c.text), c.kind) << c.text;
}

TEST(TlsErrors, WebSocketFailuresSayWhetherACertificateWasRejected) {
  EXPECT_EQ(sr_tls_kind_lws(1, 1), SR_TLS_REJECTED);
  EXPECT_EQ(sr_tls_kind_lws(0, 0), SR_TLS_NOT_TLS);  // broken before any certificate came
  EXPECT_EQ(sr_tls_kind_lws(1, 0), SR_TLS_FAILED);
}

TEST(TlsErrors, EachKindHasItsOwnHint) {
  EXPECT_NE(hint_of(SR_TLS_UNTRUSTED, 0, "x").find("set tls_ca_file"), std::string::npos);
  // A host name mismatch is not solved by a CA file: the hint must not send the reader there.
  std::string name = hint_of(SR_TLS_HOSTNAME, 1, "x");
  EXPECT_NE(name.find("subjectAltName"), std::string::npos) << name;
  EXPECT_EQ(name.find("set tls_ca_file"), std::string::npos) << name;
  EXPECT_NE(hint_of(SR_TLS_EXPIRED, 1, "x").find("renew"), std::string::npos);
  EXPECT_NE(hint_of(SR_TLS_NOT_TLS, 0, "x").find("http://"), std::string::npos);
  EXPECT_NE(hint_of(SR_TLS_REJECTED, 0, "x").find("signalr doctor"), std::string::npos);
  EXPECT_NE(hint_of(SR_TLS_CA_FILE, 1, "x").find("PEM"), std::string::npos);
  // Unclassified: the generic TLS hint, which names every cause.
  std::string other = hint_of(SR_TLS_FAILED, 0, "x");
  EXPECT_NE(other.find("host name"), std::string::npos) << other;
  EXPECT_NE(other.find("expired"), std::string::npos) << other;
}

TEST(TlsErrors, MessagesSayWhatDidNotTrustTheCertificateAndKeepTheDetail) {
  char msg[400];
  sr_tls_message(msg, sizeof msg, SR_TLS_UNTRUSTED, 1, "self-signed certificate");
  EXPECT_STREQ(msg, "TLS: the server's certificate is not trusted by the CA file given (tls_ca_file) "
                    "(self-signed certificate)");
  sr_tls_message(msg, sizeof msg, SR_TLS_UNTRUSTED, 0, "self-signed certificate");
  EXPECT_NE(std::string(msg).find("this system's CA store"), std::string::npos) << msg;
  sr_tls_message(msg, sizeof msg, SR_TLS_NOT_TLS, 0, nullptr);
  EXPECT_STREQ(msg, "TLS: the server at this port does not speak TLS (no detail)");
}

// The other failures below HTTP that carry their own sentence: a name that does not resolve, an
// answer that is not HTTP (negotiate, or the WebSocket upgrade).
TEST(ConnectErrors, DnsAndNotHttpHaveTheirHints) {
  struct {
    int code;
    const char *message;
    const char *hint;
  } cases[] = {
      {SIGNALR_ETRANSPORT, "negotiate failed: " SR_TEXT_DNS " (Could not resolve host: x.invalid)", "host name"},
      {SIGNALR_ETRANSPORT, "WebSockets failed to connect: " SR_TEXT_DNS " (x.invalid: Name or service not known)",
       "/etc/hosts"},
      {SIGNALR_EPROTO, "negotiate failed: " SR_TEXT_NOT_HTTP " (Received HTTP/0.9 when not allowed)",
       "does not speak HTTP"},
      {SIGNALR_ETRANSPORT, SR_TEXT_NO_UPGRADE_ANSWER " (libwebsockets: read failed)", "does not speak HTTP"},
  };
  for (auto &c : cases) {
    sr_error_info e;
    sr_error_set(&e, c.code, 0, "%s", c.message);
    const char *h = sr_error_hint_for(SR_STAGE_TRANSPORT, &e);
    ASSERT_NE(h, nullptr) << c.message;
    EXPECT_NE(std::string(h).find(c.hint), std::string::npos) << h;
  }
  // Without such a sentence the code's own hint stays.
  sr_error_info refused;
  sr_error_set(&refused, SIGNALR_ECONNREFUSED, 0, "Couldn't connect to server");
  EXPECT_STREQ(sr_error_hint_for(SR_STAGE_NEGOTIATE, &refused),
               sr_error_hint(SR_STAGE_NEGOTIATE, SIGNALR_ECONNREFUSED, 0));
}
