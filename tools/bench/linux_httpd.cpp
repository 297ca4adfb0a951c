// linux-httpd: netfront-httpd's /bytes/N on Linux's own TCP stack (epoll, one thread), the
// other side of tools/bench/httpd_vs_linux.py: the same request heads (the appliance's
// parser), the same keep-alive rules, the same bytes (i % 251), so a client measures two
// stacks and nothing else.
//
//   linux-httpd PORT
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <variant>

#include "tools/httpd/http_request.hpp"

namespace {

using netfront::httpd::RequestHead;

struct Client {
  std::string in;
  std::string out;         // head not yet sent
  std::uint64_t left = 0;  // body bytes not yet sent
  std::uint64_t at = 0;
  bool close_after = false;
};

const std::array<char, 65536 + 251>& pattern() {
  static const auto t = [] {
    std::array<char, 65536 + 251> a{};
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<char>(i % 251);
    return a;
  }();
  return t;
}

// Writes what the client is owed; false once the connection is to go.
bool flush(int fd, Client& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | (c.left ? MSG_MORE : 0));
    if (n < 0) return errno == EAGAIN;
    c.out.erase(0, static_cast<std::size_t>(n));
  }
  while (c.left > 0) {
    const std::size_t want = c.left < 65536 ? static_cast<std::size_t>(c.left) : 65536;
    const ssize_t n = ::send(fd, pattern().data() + c.at % 251, want, MSG_NOSIGNAL | (c.left > want ? MSG_MORE : 0));
    if (n < 0) return errno == EAGAIN;
    c.at += static_cast<std::uint64_t>(n);
    c.left -= static_cast<std::uint64_t>(n);
  }
  return !c.close_after;
}

// Answers every complete head in the input (pipelined ones too) while nothing is owed.
bool answer(Client& c) {
  while (c.out.empty() && c.left == 0) {
    const auto end = netfront::httpd::head_end(c.in);
    if (!end) return c.in.size() <= netfront::httpd::kMaxHeadBytes;
    auto parsed = netfront::httpd::parse_request_head(std::string_view(c.in).substr(0, *end));
    c.in.erase(0, *end);
    const auto* head = std::get_if<RequestHead>(&parsed);
    std::uint64_t n = 0;
    const std::string_view target = head ? std::string_view(head->target) : "";
    const bool ok = head && head->method == netfront::httpd::Method::Get && target.rfind("/bytes/", 0) == 0 &&
                    std::from_chars(target.data() + 7, target.data() + target.size(), n).ec == std::errc{};
    c.close_after = !ok || !head->keep_alive;
    c.out = std::string(ok ? "HTTP/1.1 200 OK" : "HTTP/1.1 400 Bad Request") + "\r\nServer: linux-httpd\r\nContent-Length: " +
            std::to_string(ok ? n : 0) + "\r\nContent-Type: application/octet-stream\r\n" +
            (c.close_after ? "Connection: close\r\n" : head->minor_version == 0 ? "Connection: keep-alive\r\n" : "") + "\r\n";
    c.left = ok ? n : 0;
    c.at = 0;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return std::fprintf(stderr, "usage: linux-httpd PORT\n"), 2;
  const int listener = ::socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int on = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(static_cast<std::uint16_t>(std::atoi(argv[1])));
  if (::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener, 1024) != 0)
    return std::perror("linux-httpd: bind/listen"), 1;
  const int ep = ::epoll_create1(0);
  epoll_event ev{.events = EPOLLIN, .data = {.fd = listener}};
  ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  std::unordered_map<int, Client> clients;
  std::printf("linux-httpd: serving port %s\n", argv[1]);
  std::fflush(stdout);
  std::array<epoll_event, 256> events;
  char chunk[65536];
  for (;;) {
    const int n = ::epoll_wait(ep, events.data(), events.size(), -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        for (int c; (c = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
          epoll_event cev{.events = EPOLLIN | EPOLLOUT | EPOLLET, .data = {.fd = c}};
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          clients[c];
        }
        continue;
      }
      Client& c = clients[fd];
      bool keep = true;
      for (;;) {  // edge-triggered: read until the socket has nothing more
        const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
        if (got > 0) {
          c.in.append(chunk, static_cast<std::size_t>(got));
          continue;
        }
        keep = got < 0 && errno == EAGAIN;  // 0: the peer is done
        break;
      }
      // Answer, send, and answer what the sent response uncovered, until blocked.
      while (keep && answer(c)) {
        const bool owed_before = !c.out.empty() || c.left > 0;
        keep = flush(fd, c);
        if (!owed_before || !c.out.empty() || c.left > 0) break;
      }
      if (!keep || c.in.size() > netfront::httpd::kMaxHeadBytes) {
        ::close(fd);
        clients.erase(fd);
      }
    }
  }
}
