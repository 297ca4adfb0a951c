#include "tools/appliance/http_check.hpp"

#include "tools/appliance/udp_echo_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <thread>
#include <vector>

namespace netfront::appliance {
namespace {

using Clock = std::chrono::steady_clock;

class Connection {
 public:
  explicit Connection(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) return;
    timeval tv{.tv_sec = 30, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // A response's status and its body, handed to `body` in pieces as they arrive.
  template <typename Body>
  std::optional<unsigned> response(Body&& body) {
    std::size_t end;
    while ((end = buffered_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return std::nullopt;
    const std::string head = buffered_.substr(0, end + 4);
    buffered_.erase(0, end + 4);
    unsigned status = 0;
    if (std::sscanf(head.c_str(), "HTTP/1.1 %u", &status) != 1) return std::nullopt;
    if (status == 100) return response(body);  // 100 Continue: the real answer follows
    std::uint64_t length = 0;
    if (const auto at = head.find("Content-Length: "); at != std::string::npos) length = std::stoull(head.substr(at + 16));
    while (length > 0) {
      if (buffered_.empty() && !fill()) return std::nullopt;
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(length, buffered_.size()));
      body(std::string_view(buffered_).substr(0, n));
      buffered_.erase(0, n);
      length -= n;
    }
    return status;
  }

 private:
  bool fill() {
    char chunk[1 << 16];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffered_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  int fd_;
  std::string buffered_;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string line(const char* fmt, auto... args) {
  char text[256];
  std::snprintf(text, sizeof text, fmt, args...);
  return std::string(text) + "\n";
}

}  // namespace

std::uint16_t free_tcp_port() { return free_loopback_port(SOCK_STREAM); }

HttpCheckResult run_http_check(const HttpCheckOptions& o) {
  HttpCheckResult r;
  auto fail = [&](const std::string& why) {
    r.report += "FAILED: " + why + "\n";
    return r;
  };
  Connection c(o.port);
  if (!c.ok()) return fail("no connection to 127.0.0.1:" + std::to_string(o.port));

  std::string page;
  if (!c.send("GET / HTTP/1.1\r\nHost: appliance\r\n\r\n")) return fail("GET / not sent");
  auto status = c.response([&](std::string_view b) { page += b; });
  if (status != 200 || page.find("netfront-httpd on") == std::string::npos) return fail("GET / answered " + page);
  r.report += line("GET /: 200, %zu bytes", page.size());

  auto t = Clock::now();
  std::uint64_t got = 0, wrong = 0;
  if (!c.send("GET /bytes/" + std::to_string(o.download_bytes) + " HTTP/1.1\r\nHost: appliance\r\n\r\n")) return fail("GET /bytes not sent");
  status = c.response([&](std::string_view b) {
    for (unsigned char byte : b) wrong += byte != (got++ % 251);
  });
  if (status != 200 || got != o.download_bytes || wrong != 0)
    return fail("GET /bytes/" + std::to_string(o.download_bytes) + ": " + std::to_string(got) + " bytes, " + std::to_string(wrong) + " wrong");
  const double download_s = seconds_since(t);
  r.report += line("GET /bytes/%llu: every byte right, %.2f s (%.1f Mbit/s)", static_cast<unsigned long long>(o.download_bytes),
                   download_s, o.download_bytes * 8 / download_s / 1e6);

  std::string up(o.echo_bytes, '\0');
  std::mt19937 random(1);
  for (auto& b : up) b = static_cast<char>(random());
  t = Clock::now();
  // Sent from a thread of its own: the echo comes back while the body is still going out.
  std::thread sender([&] {
    (void)c.send("POST /echo HTTP/1.1\r\nHost: appliance\r\nContent-Length: " + std::to_string(up.size()) + "\r\n\r\n");
    (void)c.send(up);
  });
  std::string back;
  status = c.response([&](std::string_view b) { back += b; });
  sender.join();
  if (status != 200 || back != up) return fail("POST /echo of " + std::to_string(up.size()) + " bytes: " + std::to_string(back.size()) + " back, differing");
  r.report += line("POST /echo: %zu bytes back byte for byte, %.2f s", up.size(), seconds_since(t));

  t = Clock::now();
  for (unsigned i = 0; i < o.keep_alive_requests; ++i) {
    std::uint64_t n = 0, bad = 0;
    if (!c.send("GET /bytes/1000 HTTP/1.1\r\nHost: appliance\r\n\r\n")) return fail("keep-alive request " + std::to_string(i) + " not sent");
    status = c.response([&](std::string_view b) {
      for (unsigned char byte : b) bad += byte != (n++ % 251);
    });
    if (status != 200 || n != 1000 || bad) return fail("keep-alive request " + std::to_string(i));
  }
  r.report += line("%u requests on one keep-alive connection: %.0f requests/s", o.keep_alive_requests,
                   o.keep_alive_requests / seconds_since(t));
  r.ok = true;
  return r;
}

}  // namespace netfront::appliance
