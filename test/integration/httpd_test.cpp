// netfront-httpd (lwIP on netfront) served to Linux's own TCP stack and real clients (curl,
// ab, ping) over a bridge: dpdk-testpmd forwards between its vhost-user port, netfront's
// backend, and a tap in a network namespace this test process makes for itself. The clients run
// in that namespace (forked from this process, or as sockets of its own).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tools/peers/testpmd_peer.hpp"

namespace {

using namespace std::chrono_literals;
using netfront::testing::TestpmdPeer;

constexpr const char* kServer = "10.9.0.2";
constexpr const char* kTap = "nfhttp0";
constexpr unsigned kMaxConnections = 160;
constexpr unsigned kStallTimeout = 3, kHeadTimeout = 2;  // seconds, given to the server

// Runs `command` with sh; its standard output, and the exit status in `status`.
std::string run(const std::string& command, int* status = nullptr) {
  std::string out;
  std::FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  char chunk[65536];
  for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, p)) > 0;) out.append(chunk, n);
  const int rc = ::pclose(p);
  if (status) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

// netfront-httpd as a child process: its console is a pipe ("stop"), its output a file.
class HttpdProcess {
 public:
  HttpdProcess(const std::string& dir, const std::vector<std::string>& args) : log_path_(dir + "/httpd.log") {
    int console[2];
    if (::pipe2(console, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(console[0], 0);
      const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      std::vector<std::string> a = args;
      std::vector<char*> argv;
      for (auto& s : a) argv.push_back(s.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      std::_Exit(127);
    }
    ::close(console[0]);
    console_ = console[1];
  }
  ~HttpdProcess() { stop(); }
  // "stop" on its console; SIGKILL after 10 s. Its exit status (-1: killed or never ran).
  int stop() {
    if (pid_ <= 0) return status_;
    if (console_ >= 0) {
      (void)!::write(console_, "stop\n", 5);
      ::close(console_);
      console_ = -1;
    }
    for (int i = 0; i < 500; ++i) {
      int st;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      std::this_thread::sleep_for(20ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return status_ = -1;
  }
  bool running() const {
    return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0;
  }
  std::string log() const {
    std::ifstream f(log_path_);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  int console_ = -1;
  int status_ = -1;
};

// A TCP socket connected to the server's port 80 (-1 on failure), with a receive buffer of
// `rcvbuf` bytes when given.
int connect_to_server(int rcvbuf = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  timeval tv{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(80);
  ::inet_pton(AF_INET, kServer, &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Everything the server sends until it closes (or 10 s of silence).
std::string read_to_close(int fd) {
  std::string got;
  char chunk[16384];
  for (ssize_t n; (n = ::recv(fd, chunk, sizeof chunk, 0)) > 0;) got.append(chunk, static_cast<std::size_t>(n));
  return got;
}

bool is_pattern(std::string_view bytes, std::uint64_t from) {
  for (std::size_t i = 0; i < bytes.size(); ++i)
    if (static_cast<unsigned char>(bytes[i]) != (from + i) % 251) return false;
  return true;
}

class HttpdBridgeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A network namespace of this process's own: the tap, the clients and their sockets live
    // there and go with the process, whatever becomes of it.
    if (::unshare(CLONE_NEWNET) != 0) {
      setup_error_ = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
      return;
    }
    dir_ = new std::string(netfront::testing::make_temp_dir());
    run("ip link set lo up");
    peer_ = new TestpmdPeer({.socket = *dir_ + "/vh.sock", .mode = "io", .tap = kTap});
    if (!peer_->error().empty()) {
      setup_error_ = "testpmd: " + peer_->error();
      return;
    }
    int st = 1;
    for (int i = 0; i < 100 && st != 0; ++i) {
      run(std::string("ip link show ") + kTap + " >/dev/null 2>&1", &st);
      if (st != 0) std::this_thread::sleep_for(50ms);
    }
    run(std::string("ip addr add 10.9.0.1/24 dev ") + kTap + " && ip link set " + kTap + " up", &st);
    if (st != 0) {
      setup_error_ = std::string("the tap ") + kTap + " did not come up:\n" + peer_->log();
      return;
    }
    const char* httpd = std::getenv("NETFRONT_HTTPD");
    if (!httpd) {
      setup_error_ = "NETFRONT_HTTPD (the netfront-httpd to test) is not set";
      return;
    }
    httpd_ = new HttpdProcess(*dir_, {httpd, "--device", "vhost-user:" + *dir_ + "/vh.sock", "--ip", std::string(kServer) + "/24",
                                      "--max-connections", std::to_string(kMaxConnections), "--head-timeout",
                                      std::to_string(kHeadTimeout), "--stall-timeout", std::to_string(kStallTimeout),
                                      "--idle-timeout", "5"});
    for (int i = 0; i < 200; ++i) {
      if (status_page().find("connections open") != std::string::npos) return;
      if (!httpd_->running()) break;
      std::this_thread::sleep_for(50ms);
    }
    setup_error_ = "netfront-httpd does not answer:\n" + httpd_->log();
  }
  static void TearDownTestSuite() {
    if (httpd_) {
      const int rc = httpd_->stop();
      const std::string log = httpd_->log();
      // Everything lwIP held went back when the server closed its connections.
      EXPECT_EQ(rc, 0) << log;
      EXPECT_NE(log.find("after close: pbufs held 0"), std::string::npos) << log;
      delete httpd_;
    }
    delete peer_;
    if (dir_) std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override { ASSERT_EQ(setup_error_, "") << (httpd_ ? httpd_->log() : ""); }
  void TearDown() override {
    if (HasFailure() && httpd_) std::cerr << "---- netfront-httpd ----\n" << httpd_->log().substr(0, 20000) << "\n";
  }

  static std::string status_page() { return run(std::string("curl -sS -m 5 http://") + kServer + "/ 2>/dev/null"); }
  // A number of the status page ("connections open 1").
  static long counter(const std::string& page, const std::string& name) {
    std::smatch m;
    if (!std::regex_search(page, m, std::regex(name + " ([0-9]+)"))) return -1;
    return std::stol(m[1]);
  }
  // Waits (up to `limit`) until only the status request itself is open and lwIP holds no
  // received frame: what every test leaves behind.
  static std::string wait_until_idle(std::chrono::seconds limit = 15s) {
    std::string page;
    for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end; std::this_thread::sleep_for(200ms)) {
      page = status_page();
      if (counter(page, "connections open") == 1 && counter(page, "pbufs held") == 0) break;
    }
    return page;
  }

  static inline std::string setup_error_;
  static inline std::string* dir_ = nullptr;
  static inline TestpmdPeer* peer_ = nullptr;
  static inline HttpdProcess* httpd_ = nullptr;
};

TEST_F(HttpdBridgeTest, CurlDownloadsAHundredMebibytesByteForByte) {
  constexpr std::uint64_t kBytes = 104857600;
  std::FILE* p = ::popen((std::string("curl -sS --fail -m 120 http://") + kServer + "/bytes/" + std::to_string(kBytes)).c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::uint64_t got = 0;
  bool intact = true;
  std::vector<char> chunk(1 << 20);
  for (std::size_t n; (n = std::fread(chunk.data(), 1, chunk.size(), p)) > 0; got += n)
    intact = intact && is_pattern(std::string_view(chunk.data(), n), got);
  EXPECT_EQ(::pclose(p), 0);
  EXPECT_EQ(got, kBytes);
  EXPECT_TRUE(intact) << "a byte differs from i % 251";
  // The largest count the server takes, 2^32, is announced; one beyond is refused.
  const std::string head = run(std::string("curl -sS -I -m 5 http://") + kServer + "/bytes/4294967296");
  EXPECT_NE(head.find("Content-Length: 4294967296"), std::string::npos) << head;
  EXPECT_NE(run(std::string("curl -sS -I -m 5 http://") + kServer + "/bytes/4294967297").find("400 Bad Request"), std::string::npos);
}

TEST_F(HttpdBridgeTest, EchoReturnsUploadsByteForByte) {
  std::mt19937 random(7);
  for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{65536}, std::size_t{20} << 20}) {
    const std::string up = *dir_ + "/up.bin", down = *dir_ + "/down.bin";
    std::string bytes(size, '\0');
    for (auto& b : bytes) b = static_cast<char>(random());
    std::ofstream(up, std::ios::binary) << bytes;
    int st = -1;
    run(std::string("curl -sS --fail -m 60 --data-binary @") + up + " -o " + down + " http://" + kServer + "/echo", &st);
    EXPECT_EQ(st, 0) << size;
    std::ifstream f(down, std::ios::binary);
    EXPECT_TRUE(std::string(std::istreambuf_iterator<char>(f), {}) == bytes) << "an echo of " << size << " bytes differs";
  }
}

TEST_F(HttpdBridgeTest, HundredKeepAliveConnectionsServeMixedRequests) {
  const std::string ab = run(std::string("ab -q -n 20000 -c 100 -k http://") + kServer + "/bytes/100 2>&1");
  EXPECT_NE(ab.find("Complete requests:      20000"), std::string::npos) << ab;
  EXPECT_NE(ab.find("Failed requests:        0"), std::string::npos) << ab;
  EXPECT_NE(ab.find("Keep-Alive requests:    20000"), std::string::npos) << ab;
  // Mixed sizes over up to 100 parallel connections, each body checked.
  std::ostringstream config;
  std::vector<std::uint64_t> sizes;
  for (unsigned i = 0; i < 300; ++i) {
    sizes.push_back(i % 3 == 0 ? 0 : (i * 7919u) % 300000);
    config << "url = \"http://" << kServer << "/bytes/" << sizes.back() << "\"\noutput = \"" << *dir_ << "/mixed" << i << "\"\n";
  }
  std::ofstream(*dir_ + "/mixed.conf") << config.str();
  int st = -1;
  run("curl -sS --no-progress-meter --fail -m 120 --parallel --parallel-max 100 -K " + *dir_ + "/mixed.conf", &st);
  EXPECT_EQ(st, 0);
  for (unsigned i = 0; i < sizes.size(); ++i) {
    std::ifstream f(*dir_ + "/mixed" + std::to_string(i), std::ios::binary);
    const std::string body(std::istreambuf_iterator<char>(f), {});
    EXPECT_EQ(body.size(), sizes[i]) << i;
    EXPECT_TRUE(is_pattern(body, 0)) << i;
  }
  const std::string page = wait_until_idle();
  EXPECT_EQ(counter(page, "connections open"), 1) << page;
  EXPECT_EQ(counter(page, "pbufs held"), 0) << page;
}

// Every echo answered, however late: with -w ping waits for all 20 replies until its deadline
// (with -W alone it gives up on the last ones two round trips after sending them, which a
// loaded machine's scheduler can outlast).
TEST_F(HttpdBridgeTest, PingIsAnsweredAtEverySize) {
  for (const int size : {0, 56, 1000, 1472}) {
    int st = -1;
    const std::string out = run("ping -n -q -c 20 -i 0.01 -w 30 -s " + std::to_string(size) + " " + kServer, &st);
    EXPECT_EQ(st, 0) << size << ":\n" << out;
    EXPECT_NE(out.find(" 0% packet loss"), std::string::npos) << size << ":\n" << out;
  }
}

// fe80::/64 with the interface identifier of `mac` (RFC 4291 appendix A, as lwIP makes it).
std::string link_local(const std::string& mac) {
  unsigned b[6];
  if (std::sscanf(mac.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) return "";
  char text[64];
  std::snprintf(text, sizeof text, "fe80::%x:%x:%x:%x", ((b[0] ^ 2) << 8) | b[1], (b[2] << 8) | 0xff, 0xfe00 | b[3], (b[4] << 8) | b[5]);
  return text;
}

TEST_F(HttpdBridgeTest, IPv6LinkLocalIsServedToo) {
  std::smatch m;
  const std::string page = status_page();
  ASSERT_TRUE(std::regex_search(page, m, std::regex("mac ([0-9a-f:]{17})"))) << page;
  const std::string address = link_local(m[1]);
  int st = -1;
  const std::string out = run("ping -6 -n -q -c 10 -i 0.01 -w 30 " + address + "%" + kTap, &st);
  EXPECT_EQ(st, 0) << out;
  const std::string body = run("curl -sS --fail -m 10 -g 'http://[" + address + "%25" + kTap + "]/bytes/5000'");
  EXPECT_EQ(body.size(), 5000u);
  EXPECT_TRUE(is_pattern(body, 0));
}

// SYNs to port 80 from addresses nobody answers for: lwIP keeps each in SYN_RCVD until it
// times out. Needs a raw socket (this process is root in its own namespace).
unsigned syn_flood(unsigned count) {
  const int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) return 0;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  ::inet_pton(AF_INET, kServer, &to.sin_addr);
  unsigned sent = 0;
  for (unsigned i = 0; i < count; ++i) {
    struct {
      iphdr ip;
      tcphdr tcp;
    } packet{};
    packet.ip.version = 4;
    packet.ip.ihl = 5;
    packet.ip.ttl = 64;
    packet.ip.protocol = IPPROTO_TCP;
    packet.ip.tot_len = htons(sizeof packet);
    packet.ip.saddr = htonl(0x0a090000u | (100 + i % 100));  // 10.9.0.100..199: absent
    packet.ip.daddr = to.sin_addr.s_addr;
    packet.tcp.source = htons(static_cast<std::uint16_t>(20000 + i));
    packet.tcp.dest = htons(80);
    packet.tcp.seq = htonl(i * 2654435761u);
    packet.tcp.doff = 5;
    packet.tcp.syn = 1;
    packet.tcp.window = htons(64240);
    // The TCP checksum over the pseudo-header (RFC 9293 §3.1); the kernel fills the IP one.
    std::uint32_t sum = (packet.ip.saddr >> 16) + (packet.ip.saddr & 0xffff) + (packet.ip.daddr >> 16) + (packet.ip.daddr & 0xffff) +
                        htons(IPPROTO_TCP) + htons(sizeof(tcphdr));
    const auto* words = reinterpret_cast<const std::uint16_t*>(&packet.tcp);
    for (std::size_t w = 0; w < sizeof(tcphdr) / 2; ++w) sum += words[w];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    packet.tcp.check = static_cast<std::uint16_t>(~sum);
    if (::sendto(fd, &packet, sizeof packet, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) == sizeof packet) ++sent;
  }
  ::close(fd);
  return sent;
}

TEST_F(HttpdBridgeTest, MisbehavingClientsLeaveTheServerServingOthers) {
  const std::string before = wait_until_idle();
  ASSERT_EQ(counter(before, "pbufs held"), 0) << before;
  const long timed_out_before = counter(before, "timed-out");

  // Heads that never end (a byte now and then is not enough), closed by the head timeout.
  std::vector<int> slow;
  for (int i = 0; i < 20; ++i) {
    const int fd = connect_to_server();
    ASSERT_GE(fd, 0);
    send_all(fd, "GET /bytes/10 HTTP/1.1\r\nHost: x\r\n");
    slow.push_back(fd);
  }
  // Peers that ask for 4 GiB and read nothing: the window closes, the stall timeout resets them.
  std::vector<int> stalled;
  for (int i = 0; i < 5; ++i) {
    const int fd = connect_to_server(4096);
    ASSERT_GE(fd, 0);
    send_all(fd, "GET /bytes/4294967296 HTTP/1.1\r\nHost: x\r\n\r\n");
    stalled.push_back(fd);
  }
  // Garbage, a head beyond 8 KiB, a bad version, chunked bodies: each refused and closed.
  auto answer_to = [](std::string_view request) {
    const int fd = connect_to_server();
    if (fd < 0) return std::string("no connection");
    send_all(fd, request);
    std::string got = read_to_close(fd);
    ::close(fd);
    return got;
  };
  std::mt19937 random(11);
  std::string garbage(3000, '\0');
  for (auto& c : garbage) c = static_cast<char>(random());
  EXPECT_EQ(answer_to(garbage + "\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(answer_to("GET / HTTP/1.1\r\nX: " + std::string(9000, 'a')).rfind("HTTP/1.1 431 ", 0), 0u);
  EXPECT_EQ(answer_to("GET / HTTP/2.0\r\n\r\n").rfind("HTTP/1.1 505 ", 0), 0u);
  EXPECT_EQ(answer_to("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").rfind("HTTP/1.1 501 ", 0), 0u);
  EXPECT_EQ(answer_to("GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 404 ", 0), 0u);
  // A client that half-closes after its request still gets the whole answer.
  {
    const int fd = connect_to_server();
    ASSERT_GE(fd, 0);
    send_all(fd, "GET /bytes/100000 HTTP/1.1\r\nHost: x\r\n\r\n");
    ::shutdown(fd, SHUT_WR);
    const std::string got = read_to_close(fd);
    ::close(fd);
    const std::size_t body = got.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos);
    EXPECT_EQ(got.size() - body - 4, 100000u);
    EXPECT_TRUE(is_pattern(std::string_view(got).substr(body + 4), 0));
  }
  // A flood of SYNs from nowhere, while a download goes on and must come through whole.
  std::atomic<unsigned> flooded{0};
  std::thread flood([&] { flooded = syn_flood(5000); });
  // (popen's sh is dash: the comparison runs under bash.)
  const std::string checked = run(std::string("bash -c \"curl -sS --fail -m 60 http://") + kServer +
                                  "/bytes/20000000 | cmp -n 20000000 - <(python3 -c 'import sys; b=bytes(i % 251 for i in range(251)); "
                                  "sys.stdout.buffer.write((b*79682)[:20000000])') && echo intact\"");
  flood.join();
  EXPECT_GT(flooded.load(), 4000u);
  EXPECT_NE(checked.find("intact"), std::string::npos) << checked;

  // The slow heads get 408 once their time is up; the stalled peers are reset.
  for (int fd : slow) {
    EXPECT_EQ(read_to_close(fd).rfind("HTTP/1.1 408 ", 0), 0u);
    ::close(fd);
  }
  std::this_thread::sleep_for(std::chrono::seconds(kStallTimeout + 2));
  for (int fd : stalled) ::close(fd);
  const std::string after = wait_until_idle();
  EXPECT_EQ(counter(after, "connections open"), 1) << after;
  EXPECT_EQ(counter(after, "pbufs held"), 0) << after;
  EXPECT_GE(counter(after, "timed-out") - timed_out_before, 25) << after;  // 20 heads, 5 stalls
}

TEST_F(HttpdBridgeTest, BeyondMaxConnectionsTheRestAreAnswered503) {
  wait_until_idle();
  std::vector<int> open;
  for (unsigned i = 0; i < kMaxConnections + 20; ++i) {
    const int fd = connect_to_server();
    ASSERT_GE(fd, 0) << i;
    open.push_back(fd);
    std::this_thread::sleep_for(1ms);  // accepted in order
  }
  unsigned busy = 0;
  for (unsigned i = 0; i < open.size(); ++i) {
    pollfd p{.fd = open[i], .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, i >= kMaxConnections ? 3000 : 0) == 1) {
      char chunk[256];
      const ssize_t n = ::recv(open[i], chunk, sizeof chunk, 0);
      if (n > 0 && std::string_view(chunk, static_cast<std::size_t>(n)).rfind("HTTP/1.1 503 ", 0) == 0) ++busy;
    }
  }
  EXPECT_EQ(busy, 20u);
  // The first ones are served as usual, and once all go a new one is too.
  send_all(open[0], "GET /bytes/5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(read_to_close(open[0]).find(std::string("\r\n\r\n\x00\x01\x02\x03\x04", 9)), std::string::npos);
  for (int fd : open) ::close(fd);
  const std::string page = wait_until_idle();
  EXPECT_EQ(counter(page, "connections open"), 1) << page;
}

// Segments this process makes itself go into a connection of a socket of its own: the socket
// is taken over with TCP_REPAIR (root in this namespace) for its sequence numbers, and the bytes
// the segments carry are marked sent there (in repair mode a write counts as sent and nothing
// leaves), so that the server's ACKs of them agree with what the kernel knows.
struct Sequence {
  std::uint16_t port = 0;     // the client's
  std::uint32_t send = 0;     // its next byte's sequence number, before `sent`
  std::uint32_t receive = 0;  // the next byte it expects
};

std::optional<Sequence> take_over(int fd, std::string_view sent) {
  Sequence s;
  sockaddr_in local{};
  socklen_t length = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return std::nullopt;
  s.port = ntohs(local.sin_port);
  const int buffer = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  int on = TCP_REPAIR_ON, off = TCP_REPAIR_OFF_NO_WP, send_queue = TCP_SEND_QUEUE, receive_queue = TCP_RECV_QUEUE;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) != 0) return std::nullopt;
  socklen_t n = sizeof s.receive;
  bool ok = ::setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &receive_queue, sizeof receive_queue) == 0 &&
            ::getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &s.receive, &n) == 0 &&
            ::setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &send_queue, sizeof send_queue) == 0 &&
            ::getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &s.send, &n) == 0;
  for (std::string_view rest = sent; ok && !rest.empty();) {
    const ssize_t written = ::send(fd, rest.data(), rest.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ok = written > 0;
    if (ok) rest.remove_prefix(static_cast<std::size_t>(written));
  }
  ok = ::setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof off) == 0 && ok;
  return ok ? std::optional(s) : std::nullopt;
}

void put16(std::string& b, std::size_t at, std::uint32_t v) {
  b[at] = static_cast<char>(v >> 8);
  b[at + 1] = static_cast<char>(v);
}
void put32(std::string& b, std::size_t at, std::uint32_t v) {
  put16(b, at, v >> 16);
  put16(b, at + 2, v);
}

// The Internet checksum of `bytes` (RFC 1071).
std::uint16_t checksum(std::string_view bytes) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < bytes.size(); i += 2)
    sum += static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 8 |
           (i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) : 0u);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

// The client's segment on `s`'s connection with `data` at sequence number `seq`, ACK and PSH
// set, `options` (a multiple of 4 bytes) after the 20-byte header.
std::string tcp_segment(const Sequence& s, std::uint32_t seq, std::string_view data, std::string_view options = "") {
  std::string t(20, '\0');
  put16(t, 0, s.port);
  put16(t, 2, 80);
  put32(t, 4, seq);
  put32(t, 8, s.receive);
  t[12] = static_cast<char>((5 + options.size() / 4) << 4);
  t[13] = 0x18;  // ACK, PSH
  put16(t, 14, 0xffff);
  t.append(options).append(data);
  std::string pseudo(12, '\0');
  put32(pseudo, 0, 0x0a090001);  // 10.9.0.1, the tap's address and the socket's
  put32(pseudo, 4, 0x0a090002);
  put16(pseudo, 8, IPPROTO_TCP);
  put16(pseudo, 10, static_cast<std::uint32_t>(t.size()));
  put16(t, 16, checksum(pseudo + t));
  return t;
}

// An IPv4 packet from the tap's address to the server; `fragment` is the flags and offset field.
std::string ipv4_packet(std::string_view payload, std::uint16_t id, std::uint16_t fragment = 0) {
  std::string h(20, '\0');
  h[0] = 0x45;
  put16(h, 2, static_cast<std::uint32_t>(20 + payload.size()));
  put16(h, 4, id);
  put16(h, 6, fragment);
  h[8] = 64;
  h[9] = IPPROTO_TCP;
  put32(h, 12, 0x0a090001);
  put32(h, 16, 0x0a090002);
  put16(h, 10, checksum(h));
  return h.append(payload);
}

class RawSocket {
 public:
  RawSocket() : fd_(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW)) {}
  ~RawSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool send(std::string_view packet) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    ::inet_pton(AF_INET, kServer, &to.sin_addr);
    return ::sendto(fd_, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
           static_cast<ssize_t>(packet.size());
  }

 private:
  int fd_;
};

// Reads what the server sends into `got` until it holds a whole head and `body` bytes after it
// (or 10 s of silence, or the end).
void read_response(int fd, std::string& got, std::size_t body) {
  char chunk[16384];
  for (;;) {
    const std::size_t end = got.find("\r\n\r\n");
    if (end != std::string::npos && got.size() >= end + 4 + body) return;
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return;
    got.append(chunk, static_cast<std::size_t>(n));
  }
}

std::string body_of(const std::string& response) {
  const std::size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : response.substr(end + 4);
}

// A body segment in two IP fragments, the first ending where the TCP header does: lwIP passes
// the data on behind a pbuf of no bytes (tcp_input hid the header that filled the first).
TEST_F(HttpdBridgeTest, ABodySegmentInFragmentsIsEchoed) {
  const int fd = connect_to_server();
  ASSERT_GE(fd, 0);
  send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n");
  std::string got;
  read_response(fd, got, 0);  // the answer's head comes before the body
  ASSERT_EQ(got.rfind("HTTP/1.1 200 ", 0), 0u) << got;
  const std::string body = "01234567";
  const auto s = take_over(fd, body);
  ASSERT_TRUE(s) << std::strerror(errno);
  const std::string segment = tcp_segment(*s, s->send, body, "\x01\x01\x01\x01");  // a header of 24 bytes, 3 units of 8
  RawSocket raw;
  EXPECT_TRUE(raw.send(ipv4_packet(segment.substr(0, 24), 0x4242, 0x2000)));  // more fragments, offset 0
  EXPECT_TRUE(raw.send(ipv4_packet(segment.substr(24), 0x4242, 24 / 8)));
  read_response(fd, got, body.size());
  ::close(fd);
  EXPECT_EQ(body_of(got), body);
  const std::string page = wait_until_idle();
  EXPECT_EQ(counter(page, "connections open"), 1) << "the server does not answer: " << page;
}

// The last segment of a request carries the FIN too (TCP_CORK holds the bytes until shutdown
// tacks the FIN on). lwIP counts the FIN in its window only once the data's callback returns:
// a close made in that callback finds a byte unread, and lwIP resets the connection instead,
// the answer with it.
TEST_F(HttpdBridgeTest, ARequestThatBringsItsFinIsAnsweredWhole) {
  for (const std::string request : {"GET /bytes/10 HTTP/1.0\r\n\r\n", "GET /bytes/10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                    "GET / HTTP/2.0\r\n\r\n"}) {
    const int fd = connect_to_server();
    ASSERT_GE(fd, 0);
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
    send_all(fd, request);
    ::shutdown(fd, SHUT_WR);
    const std::string got = read_to_close(fd);
    ::close(fd);
    if (request.find("2.0") != std::string::npos) {
      EXPECT_EQ(got.rfind("HTTP/1.1 505 ", 0), 0u) << request << got;
    } else {
      EXPECT_EQ(got.rfind("HTTP/1.1 200 ", 0), 0u) << request << got;
      EXPECT_EQ(body_of(got).size(), 10u) << request << got;
      EXPECT_TRUE(is_pattern(body_of(got), 0)) << request;
    }
  }
}

// RFC 9110 §10.1.1: an HTTP/1.0 client's Expect is ignored; it would read a 100 as the answer.
TEST_F(HttpdBridgeTest, AnHttp10ClientIsNotSent100Continue) {
  const int fd = connect_to_server();
  ASSERT_GE(fd, 0);
  send_all(fd, "POST /echo HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc");
  const std::string got = read_to_close(fd);
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
  EXPECT_EQ(body_of(got), "abc") << got;
}

// A peer that asks for 4 GiB, reads nothing, and sends a byte now and then: the bytes are not
// what the server waits for (they wait behind the answer), so the stall timeout resets it still.
TEST_F(HttpdBridgeTest, AStalledReaderThatKeepsSendingIsResetToo) {
  wait_until_idle();
  const int fd = connect_to_server(4096);
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /bytes/4294967296 HTTP/1.1\r\nHost: x\r\n\r\n");
  RawSocket raw;
  std::uint16_t id = 1;
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(kStallTimeout + 3); std::chrono::steady_clock::now() < end;) {
    std::this_thread::sleep_for(250ms);
    const auto s = take_over(fd, "x");
    if (s) raw.send(ipv4_packet(tcp_segment(*s, s->send, "x"), id++));
  }
  const std::string page = status_page();
  EXPECT_EQ(counter(page, "connections open"), 1) << "the stalled reader is still served: " << page;
  ::close(fd);
  wait_until_idle();
}

// Bytes a segment each, 12000 of them (lwIP's window takes 65535), behind an answer the peer
// does not read: lwIP holds them all, unread, and the device's pool has 8191 buffers. Others
// are served meanwhile, and the server holds no more than half of the pool.
TEST_F(HttpdBridgeTest, ABytePerSegmentLeavesTheDeviceBuffersForOthers) {
  wait_until_idle();
  const int fd = connect_to_server(4096);
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /bytes/4294967296 HTTP/1.1\r\nHost: x\r\n\r\n");
  std::this_thread::sleep_for(500ms);  // the peer's window closes
  const std::string bytes(12000, 'x');
  const auto s = take_over(fd, bytes);
  ASSERT_TRUE(s) << std::strerror(errno);
  RawSocket raw;
  unsigned sent = 0;
  for (std::uint32_t i = 0; i < bytes.size(); ++i) {
    sent += raw.send(ipv4_packet(tcp_segment(*s, s->send + i, "x"), static_cast<std::uint16_t>(i + 1)));
    if (i % 32 == 31) std::this_thread::sleep_for(200us);
  }
  EXPECT_EQ(sent, bytes.size());
  std::this_thread::sleep_for(100ms);
  int st = -1;
  const std::string other = run(std::string("curl -sS --fail -m 2 http://") + kServer + "/bytes/100000", &st);
  EXPECT_EQ(st, 0);
  EXPECT_EQ(other.size(), 100000u);
  const std::string page = status_page();
  EXPECT_GE(counter(page, "pbufs held"), 0) << page;
  EXPECT_LE(counter(page, "pbufs held"), 4095) << page;
  ::close(fd);
  const std::string after = wait_until_idle();
  EXPECT_EQ(counter(after, "connections open"), 1) << after;
  EXPECT_EQ(counter(after, "pbufs held"), 0) << after;
}

}  // namespace
