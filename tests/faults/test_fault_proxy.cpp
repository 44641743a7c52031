// The fault proxy itself, against an echo server in this process: forwarding, every fault,
// the counters, stop, and the CLI. Timing assertions have tight lower bounds (the fault must
// really hold data that long) and loose upper bounds (a loaded 2-core machine, valgrind).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault_proxy.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long to wait for something that should happen promptly; only a failing test waits
// this long, so it can be generous.
constexpr auto kPatience = std::chrono::seconds(10);
// Allowed lateness on top of an intended duration.
constexpr auto kSlack = std::chrono::seconds(3);

int Connect(int port) {  // fd, or -errno
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

bool SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

struct ReadResult {
  std::string data;
  bool eof = false;
  int error = 0;  // errno the read ended with
};

// Reads until `want` bytes arrived, the stream ended, or `timeout` passed.
ReadResult ReadUpTo(int fd, size_t want, Clock::duration timeout) {
  ReadResult r;
  auto deadline = Clock::now() + timeout;
  while (r.data.size() < want) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd pfd{fd, POLLIN, 0};
    int rc = poll(&pfd, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) break;
    char buf[65536];
    ssize_t n = recv(fd, buf, std::min(sizeof buf, want - r.data.size()), 0);
    if (n > 0) {
      r.data.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      r.eof = true;
      break;
    } else if (errno != EINTR) {
      r.error = errno;
      break;
    }
  }
  return r;
}

// The counters are plain numbers with no notification, and the proxy updates them right
// after the socket call a test can already observe, so tests wait for them briefly.
template <class Pred>
bool WaitUntil(Pred pred, Clock::duration timeout = kPatience) {
  auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

std::string Pattern(size_t n, unsigned seed = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return s;
}

// Thread-per-connection echo server on 127.0.0.1 that remembers how each connection ended.
class EchoServer {
 public:
  struct Ended {
    std::string data;  // everything it received
    bool reset;        // ended with an error (ECONNRESET) rather than EOF
  };

  EchoServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        listen(listen_fd_, SOMAXCONN) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "echo server: " << strerror(errno);
      return;
    }
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~EchoServer() {
    if (acceptor_.joinable()) {
      shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
      acceptor_.join();
    }
    if (listen_fd_ >= 0) close(listen_fd_);
    std::vector<std::thread> workers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : open_) shutdown(fd, SHUT_RDWR);  // wakes recv()
      workers.swap(workers_);
    }
    for (auto& t : workers) t.join();
  }

  int port() const { return port_; }
  uint64_t received() const { return received_; }

  // Waits until n connections have ended; returns them in the order they ended.
  std::vector<Ended> WaitEnded(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, kPatience, [&] { return ended_.size() >= n; });
    return ended_;
  }

  // Sends s on every open connection, as a server push.
  void Push(const std::string& s) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : open_) SendAll(fd, s);
  }

 private:
  void AcceptLoop() {
    for (;;) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;  // shut down
      }
      std::lock_guard<std::mutex> lock(mu_);
      open_.push_back(fd);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    Ended e{{}, false};
    char buf[65536];
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        e.data.append(buf, static_cast<size_t>(n));
        received_ += static_cast<uint64_t>(n);
        // A failed echo shows up as a reset on the next recv(); it is not an end by itself.
        SendAll(fd, std::string(buf, static_cast<size_t>(n)));
      } else if (n == 0) {
        break;
      } else if (errno != EINTR) {
        e.reset = true;
        break;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    open_.erase(std::find(open_.begin(), open_.end(), fd));
    close(fd);
    ended_.push_back(std::move(e));
    cv_.notify_all();
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::atomic<uint64_t> received_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> open_;
  std::vector<std::thread> workers_;
  std::vector<Ended> ended_;
};

class FaultProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(echo_.port(), 0);
    proxy_ = fault_proxy_start("127.0.0.1", echo_.port());
    ASSERT_NE(proxy_, nullptr) << strerror(errno);
    port_ = fault_proxy_port(proxy_);
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
    fault_proxy_stop(proxy_);
  }

  int Open() {
    int fd = Connect(port_);
    EXPECT_GE(fd, 0) << strerror(-fd);
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }

  // Sends s and expects it back whole.
  void Echo(int fd, const std::string& s) {
    ASSERT_TRUE(SendAll(fd, s));
    ReadResult r = ReadUpTo(fd, s.size(), kPatience);
    ASSERT_EQ(r.data, s) << "eof=" << r.eof << " error=" << strerror(r.error);
  }

  uint64_t Active() const { return fault_proxy_connections_active(proxy_); }
  uint64_t Accepted() const { return fault_proxy_connections_accepted(proxy_); }
  uint64_t Bytes(int d) const { return fault_proxy_bytes(proxy_, d); }

  EchoServer echo_;
  fault_proxy* proxy_ = nullptr;
  int port_ = 0;
  std::vector<int> fds_;
};

TEST_F(FaultProxyTest, ForwardsBothWays) {
  int fd = Open();
  Echo(fd, "hello");
  Echo(fd, Pattern(100000));
  EXPECT_EQ(echo_.received(), 100005u);
}

TEST_F(FaultProxyTest, ForwardsBulkBothWaysConcurrently) {
  // Far more than the proxy's per-direction queue and the socket buffers, sent while the
  // echo comes back: exercises back-pressure without deadlock or reordering.
  const std::string data = Pattern(4 << 20, 3);
  int fd = Open();
  std::thread writer([&] { EXPECT_TRUE(SendAll(fd, data)); });
  ReadResult r = ReadUpTo(fd, data.size(), std::chrono::seconds(60));
  writer.join();
  ASSERT_EQ(r.data.size(), data.size());
  EXPECT_TRUE(r.data == data);
  EXPECT_TRUE(WaitUntil([&] { return Bytes(FAULT_TO_CLIENT) == data.size(); }));
  EXPECT_EQ(Bytes(FAULT_TO_SERVER), data.size());
}

TEST_F(FaultProxyTest, HalfCloseIsForwarded) {
  int fd = Open();
  ASSERT_TRUE(SendAll(fd, "last words"));
  ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
  // The server sees EOF (not a reset), echoes, closes; the client gets all of it, then EOF.
  auto ended = echo_.WaitEnded(1);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].data, "last words");
  EXPECT_FALSE(ended[0].reset);
  ReadResult r = ReadUpTo(fd, 100, kPatience);
  EXPECT_EQ(r.data, "last words");
  EXPECT_TRUE(r.eof);
  EXPECT_TRUE(WaitUntil([&] { return Active() == 0; }));
}

TEST_F(FaultProxyTest, CutResetsEveryConnectionAndNewOnesWork) {
  int a = Open(), b = Open();
  Echo(a, "a");
  Echo(b, "b");
  ASSERT_EQ(Active(), 2u);
  ASSERT_EQ(fault_proxy_cut(proxy_), 0);
  EXPECT_EQ(Active(), 0u);  // synchronous
  for (int fd : {a, b}) {
    ReadResult r = ReadUpTo(fd, 1, kPatience);
    EXPECT_EQ(r.error, ECONNRESET) << "eof=" << r.eof << " data=" << r.data;
  }
  auto ended = echo_.WaitEnded(2);
  ASSERT_EQ(ended.size(), 2u);
  EXPECT_TRUE(ended[0].reset);
  EXPECT_TRUE(ended[1].reset);

  int c = Open();
  Echo(c, "again");
  EXPECT_EQ(Accepted(), 3u);
  EXPECT_EQ(Active(), 1u);
}

TEST_F(FaultProxyTest, StallHoldsDataBothWaysThenReleasesItInOrder) {
  int fd = Open();
  Echo(fd, "warm");
  ASSERT_EQ(fault_proxy_stall(proxy_, 1), 0);

  ASSERT_TRUE(SendAll(fd, "one"));
  std::this_thread::sleep_for(milliseconds(20));  // separate chunks
  ASSERT_TRUE(SendAll(fd, "two"));
  echo_.Push("PUSH");  // server -> client is held too
  std::this_thread::sleep_for(milliseconds(20));
  ASSERT_TRUE(SendAll(fd, "three"));
  ASSERT_EQ(shutdown(fd, SHUT_WR), 0);  // not even a FIN gets through

  ReadResult held = ReadUpTo(fd, 1, milliseconds(250));
  EXPECT_EQ(held.data, "");
  EXPECT_FALSE(held.eof);
  EXPECT_EQ(held.error, 0);
  EXPECT_EQ(echo_.received(), 4u);
  EXPECT_EQ(echo_.WaitEnded(0).size(), 0u);
  EXPECT_EQ(Active(), 1u);

  ASSERT_EQ(fault_proxy_stall(proxy_, 0), 0);
  ReadResult r = ReadUpTo(fd, 100, kPatience);
  EXPECT_EQ(r.data, "PUSHonetwothree");
  EXPECT_TRUE(r.eof);
  auto ended = echo_.WaitEnded(1);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].data, "warmonetwothree");
  EXPECT_FALSE(ended[0].reset);
}

TEST_F(FaultProxyTest, StalledProxyStillAcceptsButCarriesNothing) {
  ASSERT_EQ(fault_proxy_stall(proxy_, 1), 0);
  int fd = Open();
  ASSERT_TRUE(SendAll(fd, "x"));
  EXPECT_EQ(ReadUpTo(fd, 1, milliseconds(200)).data, "");
  EXPECT_TRUE(WaitUntil([&] { return Accepted() == 1; }));
  EXPECT_EQ(echo_.received(), 0u);
  ASSERT_EQ(fault_proxy_stall(proxy_, 0), 0);
  EXPECT_EQ(ReadUpTo(fd, 1, kPatience).data, "x");
}

TEST_F(FaultProxyTest, DelayHoldsEveryChunkAtLeastThatLong) {
  int fd = Open();
  Echo(fd, "warm");  // connection set up outside the timing
  ASSERT_EQ(fault_proxy_delay(proxy_, 150), 0);

  auto t0 = Clock::now();
  Echo(fd, "ping");
  auto rtt = Clock::now() - t0;
  EXPECT_GE(rtt, milliseconds(300));  // 150 ms each way
  EXPECT_LT(rtt, milliseconds(300) + kSlack);

  // Chunks sent in a burst keep their order.
  for (const char* s : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(SendAll(fd, s));
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(ReadUpTo(fd, 4, kPatience).data, "abcd");

  ASSERT_EQ(fault_proxy_delay(proxy_, 0), 0);
  t0 = Clock::now();
  Echo(fd, "pong");
  EXPECT_LT(Clock::now() - t0, milliseconds(300));
}

TEST_F(FaultProxyTest, TruncateToClientGivesThePrefixThenEof) {
  int fd = Open();
  Echo(fd, "warm");
  ASSERT_EQ(fault_proxy_truncate_next(proxy_, FAULT_TO_CLIENT, 10), 0);
  const std::string msg = Pattern(100);
  ASSERT_TRUE(SendAll(fd, msg));
  ReadResult r = ReadUpTo(fd, msg.size(), kPatience);
  EXPECT_EQ(r.data, msg.substr(0, 10));
  EXPECT_TRUE(r.eof) << strerror(r.error);

  auto ended = echo_.WaitEnded(1);  // the sender (the server) is reset
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].data, "warm" + msg);
  EXPECT_TRUE(ended[0].reset);
  EXPECT_TRUE(WaitUntil([&] { return Active() == 0; }));
  EXPECT_EQ(Bytes(FAULT_TO_CLIENT), 4u + 10u);

  // One-shot: the next connection is whole.
  int again = Open();
  Echo(again, msg);
}

TEST_F(FaultProxyTest, TruncateToServerGivesThePrefixThenEof) {
  int fd = Open();
  Echo(fd, "warm");
  ASSERT_EQ(fault_proxy_truncate_next(proxy_, FAULT_TO_SERVER, 10), 0);
  const std::string msg = Pattern(100);
  ASSERT_TRUE(SendAll(fd, msg));

  auto ended = echo_.WaitEnded(1);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].data, "warm" + msg.substr(0, 10));
  EXPECT_FALSE(ended[0].reset);
  ReadResult r = ReadUpTo(fd, msg.size(), kPatience);  // the sender (the client) is reset
  EXPECT_EQ(r.data, "");
  EXPECT_EQ(r.error, ECONNRESET) << "eof=" << r.eof;
  EXPECT_TRUE(WaitUntil([&] { return Active() == 0; }));
  EXPECT_EQ(Bytes(FAULT_TO_SERVER), 4u + 10u);

  int again = Open();
  Echo(again, msg);
}

TEST_F(FaultProxyTest, TruncateToZeroDropsTheChunk) {
  int fd = Open();
  ASSERT_EQ(fault_proxy_truncate_next(proxy_, FAULT_TO_SERVER, 0), 0);
  ASSERT_TRUE(SendAll(fd, "gone"));
  auto ended = echo_.WaitEnded(1);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].data, "");
  EXPECT_FALSE(ended[0].reset);
}

TEST_F(FaultProxyTest, RefuseGivesEconnrefusedThenAcceptsOnTheSamePort) {
  int a = Open();
  Echo(a, "before");
  auto t0 = Clock::now();
  ASSERT_EQ(fault_proxy_refuse(proxy_, 300), 0);
  EXPECT_EQ(Connect(port_), -ECONNREFUSED);
  Echo(a, "during");  // current connections are not touched

  int fd;
  while ((fd = Connect(port_)) == -ECONNREFUSED && Clock::now() - t0 < kPatience)
    std::this_thread::sleep_for(milliseconds(10));
  auto waited = Clock::now() - t0;
  ASSERT_GE(fd, 0) << strerror(-fd);
  fds_.push_back(fd);
  EXPECT_GE(waited, milliseconds(300));
  EXPECT_LT(waited, milliseconds(300) + kSlack);
  Echo(fd, "after");
  EXPECT_EQ(fault_proxy_port(proxy_), port_);
  EXPECT_EQ(Accepted(), 2u);  // refused attempts are not connections

  // A new call replaces the period; 0 ends it at once.
  ASSERT_EQ(fault_proxy_refuse(proxy_, 10000), 0);
  EXPECT_EQ(Connect(port_), -ECONNREFUSED);
  ASSERT_EQ(fault_proxy_refuse(proxy_, 0), 0);
  Echo(Open(), "now");
}

TEST_F(FaultProxyTest, CountersAreExact) {
  EXPECT_EQ(Accepted(), 0u);
  EXPECT_EQ(Active(), 0u);
  const size_t sizes[] = {1, 1000, 70000};
  uint64_t total = 0;
  std::vector<int> fds;
  for (size_t i = 0; i < 3; i++) {
    fds.push_back(Open());
    Echo(fds.back(), Pattern(sizes[i], static_cast<unsigned>(i)));
    total += sizes[i];
  }
  EXPECT_EQ(Accepted(), 3u);
  EXPECT_EQ(Active(), 3u);
  EXPECT_TRUE(WaitUntil([&] { return Bytes(FAULT_TO_CLIENT) == total; }))
      << Bytes(FAULT_TO_CLIENT);
  EXPECT_EQ(Bytes(FAULT_TO_SERVER), total);

  ASSERT_EQ(shutdown(fds[0], SHUT_WR), 0);
  EXPECT_TRUE(WaitUntil([&] { return Active() == 2; })) << Active();
  EXPECT_EQ(Accepted(), 3u);
  EXPECT_EQ(fault_proxy_bytes(proxy_, 7), 0u);
}

TEST_F(FaultProxyTest, BadArgumentsAreRejected) {
  errno = 0;
  EXPECT_EQ(fault_proxy_truncate_next(proxy_, 2, 1), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(fault_proxy_delay(proxy_, -1), -1);
  EXPECT_EQ(fault_proxy_refuse(proxy_, -1), -1);
  errno = 0;
  EXPECT_EQ(fault_proxy_start(nullptr, 1), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(fault_proxy_start("127.0.0.1", 0), nullptr);
  EXPECT_EQ(fault_proxy_start("127.0.0.1", 65536), nullptr);
}

TEST_F(FaultProxyTest, CommandsFromManyThreadsWhileForwarding) {
  int fd = Open();
  std::atomic<bool> go{true};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50 && go; i++) {
        fault_proxy_stall(proxy_, 1);
        fault_proxy_delay(proxy_, 1);
        fault_proxy_stall(proxy_, 0);
        fault_proxy_delay(proxy_, 0);
        (void)Bytes(FAULT_TO_SERVER);
      }
    });
  }
  for (int i = 0; i < 20; i++) Echo(fd, Pattern(1000, static_cast<unsigned>(i)));
  go = false;
  for (auto& t : threads) t.join();
  Echo(fd, "settled");
}

TEST(FaultProxyTarget, UnreachableTargetResetsTheClient) {
  // A bound socket that does not listen: connects to its port are refused, and nobody else
  // can take the port while we hold it.
  int hold = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(hold, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(getsockname(hold, reinterpret_cast<sockaddr*>(&a), &len), 0);

  fault_proxy* p = fault_proxy_start("127.0.0.1", ntohs(a.sin_port));
  ASSERT_NE(p, nullptr);
  int fd = Connect(fault_proxy_port(p));
  ASSERT_GE(fd, 0);
  ReadResult r = ReadUpTo(fd, 1, kPatience);
  EXPECT_EQ(r.error, ECONNRESET) << "eof=" << r.eof;
  EXPECT_TRUE(WaitUntil([&] { return fault_proxy_connections_active(p) == 0; }));
  EXPECT_EQ(fault_proxy_connections_accepted(p), 1u);
  close(fd);
  fault_proxy_stop(p);
  close(hold);
}

TEST(FaultProxyTarget, ResolvesHostNames) {
  // Where "localhost" resolves to ::1 first (the echo server listens on 127.0.0.1 only),
  // this also covers falling back to the next address.
  EchoServer echo;
  fault_proxy* p = fault_proxy_start("localhost", echo.port());
  ASSERT_NE(p, nullptr) << strerror(errno);
  int fd = Connect(fault_proxy_port(p));
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "hi"));
  EXPECT_EQ(ReadUpTo(fd, 2, kPatience).data, "hi");
  close(fd);
  fault_proxy_stop(p);
}

TEST(FaultProxyStop, WithOpenAndHeldConnectionsReturnsPromptly) {
  EchoServer echo;
  fault_proxy* p = fault_proxy_start("127.0.0.1", echo.port());
  ASSERT_NE(p, nullptr);
  std::vector<int> fds;
  for (int i = 0; i < 3; i++) {
    int fd = Connect(fault_proxy_port(p));
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, "x"));
    ASSERT_EQ(ReadUpTo(fd, 1, kPatience).data, "x");
    fds.push_back(fd);
  }
  ASSERT_EQ(fault_proxy_delay(p, 100000), 0);
  ASSERT_TRUE(SendAll(fds[0], "held by delay"));
  ASSERT_EQ(fault_proxy_stall(p, 1), 0);
  ASSERT_TRUE(SendAll(fds[1], "held by stall"));

  auto t0 = Clock::now();
  fault_proxy_stop(p);
  EXPECT_LT(Clock::now() - t0, kSlack);
  for (int fd : fds) {
    ReadResult r = ReadUpTo(fd, 100, kPatience);
    EXPECT_EQ(r.data, "");
    EXPECT_TRUE(r.eof || r.error) << "connection still open after stop";
    close(fd);
  }
}

// ------------------------------------------------------------------------------ the CLI

class Cli {
 public:
  explicit Cli(int target_port) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    std::string port = std::to_string(target_port);
    char* argv[] = {const_cast<char*>(FAULT_PROXY_CLI), const_cast<char*>("127.0.0.1"),
                    const_cast<char*>(port.c_str()), nullptr};
    if (posix_spawn(&pid_, FAULT_PROXY_CLI, &fa, nullptr, argv, environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~Cli() {
    if (to_ >= 0) close(to_);
    if (from_ >= 0) close(from_);
    if (pid_ > 0 && !waited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  bool running() const { return pid_ > 0; }

  // One line of output, without the newline ("" on timeout or EOF).
  std::string ReadLine() {
    auto deadline = Clock::now() + kPatience;
    for (;;) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      pollfd pfd{from_, POLLIN, 0};
      if (left <= 0 || poll(&pfd, 1, static_cast<int>(left)) <= 0) return "";
      char b[256];
      ssize_t n = read(from_, b, sizeof b);
      if (n <= 0) return "";
      buf_.append(b, static_cast<size_t>(n));
    }
  }

  bool Send(const std::string& line) {
    std::string l = line + "\n";
    return write(to_, l.data(), l.size()) == static_cast<ssize_t>(l.size());
  }

  std::string Command(const std::string& line) { return Send(line) ? ReadLine() : ""; }

  // Closes its input and returns its exit status (-1: did not exit in time).
  int CloseAndWait() {
    close(to_);
    to_ = -1;
    auto deadline = Clock::now() + kPatience;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(milliseconds(10));
    }
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  bool waited_ = false;
  std::string buf_;
};

TEST(FaultProxyCli, DrivenThroughStdin) {
  EchoServer echo;
  Cli cli(echo.port());
  ASSERT_TRUE(cli.running());
  int port = std::atoi(cli.ReadLine().c_str());
  ASSERT_GT(port, 0);

  int fd = Connect(port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "hello"));
  ASSERT_EQ(ReadUpTo(fd, 5, kPatience).data, "hello");
  EXPECT_TRUE(WaitUntil([&] {
    return cli.Command("stats") == "accepted=1 active=1 to_server=5 to_client=5";
  }));

  EXPECT_EQ(cli.Command("delay 0"), "ok");
  EXPECT_EQ(cli.Command("stall on"), "ok");
  EXPECT_EQ(cli.Command("stall off"), "ok");
  EXPECT_EQ(cli.Command("truncate to_client 2"), "ok");
  ASSERT_TRUE(SendAll(fd, "world"));
  ReadResult r = ReadUpTo(fd, 5, kPatience);
  EXPECT_EQ(r.data, "wo");
  EXPECT_TRUE(r.eof);
  close(fd);

  EXPECT_EQ(cli.Command("refuse 10000"), "ok");
  EXPECT_EQ(Connect(port), -ECONNREFUSED);
  EXPECT_EQ(cli.Command("refuse 0"), "ok");
  fd = Connect(port);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(cli.Command("cut"), "ok");
  EXPECT_EQ(ReadUpTo(fd, 1, kPatience).error, ECONNRESET);
  close(fd);

  // A blank line gets no answer, so the next line answers the next command.
  ASSERT_TRUE(cli.Send(""));
  EXPECT_EQ(cli.Command("stats").rfind("accepted=2 active=0 ", 0), 0u);
  EXPECT_EQ(cli.Command("stall sideways"), "error: unknown command or bad arguments: stall");
  EXPECT_EQ(cli.Command("truncate up 1"), "error: unknown command or bad arguments: truncate");
  EXPECT_EQ(cli.Command("delay -5"), "error: unknown command or bad arguments: delay");
  EXPECT_EQ(cli.Command("cut now please"), "error: unknown command or bad arguments: cut");
  EXPECT_EQ(cli.CloseAndWait(), 0);
}

}  // namespace
