// A tiny blocking HTTP/1.0 GET over a plain POSIX socket, for test helpers that only need
// to read a small answer from the local test server (e.g. /token, /redirect/loop/stats).
// http:// only; no redirects, no chunked encoding (HTTP/1.0 responses are never chunked).
#pragma once

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace srtest {

struct HttpReply {
  int status = 0;    // 0 when no response arrived
  std::string body;
  std::string error; // why it failed, when status is 0
};

// base: "http://host:port" (a path in it is ignored); path: "/token?user=alice".
inline HttpReply http_get(const std::string &base, const std::string &path, int timeout_ms = 5000) {
  HttpReply r;
  if (base.compare(0, 7, "http://") != 0) {
    r.error = "only http:// is supported";
    return r;
  }
  std::string hostport = base.substr(7);
  hostport = hostport.substr(0, hostport.find('/'));
  std::string host = hostport, port = "80";
  size_t colon = hostport.rfind(':');
  if (colon != std::string::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  addrinfo hints{}, *ai = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &ai) != 0 || !ai) {
    r.error = "cannot resolve " + hostport;
    return r;
  }
  int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
  if (fd < 0) {
    freeaddrinfo(ai);
    r.error = "socket() failed";
    return r;
  }
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(ai);
  if (rc != 0) {
    close(fd);
    r.error = "connect to " + hostport + " failed";
    return r;
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + hostport + "\r\nConnection: close\r\n\r\n";
  for (size_t off = 0; off < req.size();) {
    ssize_t n = send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      close(fd);
      r.error = "send failed";
      return r;
    }
    off += (size_t)n;
  }
  std::string resp;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, (size_t)n);
  }
  close(fd);
  size_t sp = resp.find(' ');
  size_t hdr_end = resp.find("\r\n\r\n");
  if (resp.compare(0, 5, "HTTP/") != 0 || sp == std::string::npos || hdr_end == std::string::npos) {
    r.error = "no HTTP response";
    return r;
  }
  r.status = std::atoi(resp.c_str() + sp + 1);
  r.body = resp.substr(hdr_end + 4);
  return r;
}

// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
inline int closed_local_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

}  // namespace srtest
