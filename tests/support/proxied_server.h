// The TCP fault proxy (tests/faults) in front of the real test server, for tests that put
// network faults between the client and the server.
#pragma once

#include <chrono>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "fault_proxy.h"
#include "test_server.h"

namespace srtest {

inline int port_of(const std::string &url) { return std::atoi(url.substr(url.rfind(':') + 1).c_str()); }

struct Proxy {
  fault_proxy *p;
  Proxy() : p(fault_proxy_start("127.0.0.1", port_of(test_server().http))) { EXPECT_NE(p, nullptr); }
  ~Proxy() { fault_proxy_stop(p); }
  Proxy(const Proxy &) = delete;
  Proxy &operator=(const Proxy &) = delete;
  std::string url(const std::string &path) const {
    return "http://127.0.0.1:" + std::to_string(fault_proxy_port(p)) + path;
  }
};

inline double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace srtest
