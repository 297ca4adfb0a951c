#include "tools/appliance/udp_echo_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

namespace netfront::appliance {
namespace {

using Clock = std::chrono::steady_clock;

// Datagram i's bytes: its index in the first four (when there is room), then a pattern
// that differs per datagram and per position, so a swapped or shifted byte is caught.
std::vector<std::uint8_t> payload(unsigned i, std::size_t size) {
  std::vector<std::uint8_t> p(size);
  for (std::size_t j = 0; j < size; ++j) p[j] = static_cast<std::uint8_t>(i * 131u + j * 7u + (j >> 8));
  if (size >= 4) std::memcpy(p.data(), &i, 4);
  return p;
}

struct InFlight {
  Clock::time_point sent_at;
  unsigned tries = 0;
};

}  // namespace

std::size_t echo_datagram_size(unsigned i, const EchoRunOptions& o) {
  if (i == 0) return o.min_size;
  if (i + 1 == o.count) return o.max_size;
  return o.min_size + (static_cast<std::size_t>(i) * 7919u) % (o.max_size - o.min_size + 1);
}

EchoRunResult run_udp_echo(const EchoRunOptions& o) {
  EchoRunResult r;
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(o.port);
  to.sin_addr.s_addr = htonl(o.address);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    r.error = std::string("socket: ") + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return r;
  }
  const auto start = Clock::now();
  std::map<unsigned, InFlight> in_flight;
  std::vector<bool> done(o.count, false);
  unsigned next = 0;
  auto transmit = [&](unsigned i) {
    const auto p = payload(i, echo_datagram_size(i, o));
    (void)::send(fd, p.data(), p.size(), 0);  // a refused send shows up as a missing echo
    InFlight& f = in_flight[i];
    f.sent_at = Clock::now();
    ++f.tries;
  };
  // Which datagram an echo answers: by the index it carries, or (1-3 bytes) by its content.
  auto identify = [&](const std::uint8_t* data, std::size_t n) -> long {
    if (n >= 4) {
      unsigned i;
      std::memcpy(&i, data, 4);
      return i < o.count ? static_cast<long>(i) : -1;
    }
    for (const auto& [i, f] : in_flight)
      if (payload(i, echo_datagram_size(i, o)) == std::vector<std::uint8_t>(data, data + n)) return i;
    return -2;  // a late duplicate of a short one already answered, or garbage
  };

  std::uint8_t buf[2048];
  while (r.echoed + r.lost + r.mismatched < o.count) {
    // Short datagrams carry no index: send them alone so an echo is never ambiguous.
    while (next < o.count && in_flight.size() < o.window &&
           (echo_datagram_size(next, o) >= 4 || in_flight.empty())) {
      transmit(next++);
      ++r.sent;
    }
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 20);
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) break;
      const long id = identify(buf, static_cast<std::size_t>(n));
      if (id < 0) {
        if (id == -1) ++r.mismatched;
        continue;
      }
      const unsigned i = static_cast<unsigned>(id);
      if (done[i]) continue;  // the echo of a retransmission
      if (payload(i, echo_datagram_size(i, o)) != std::vector<std::uint8_t>(buf, buf + n)) {
        ++r.mismatched;
      } else {
        ++r.echoed;
        r.bytes += static_cast<std::size_t>(n);
      }
      done[i] = true;
      in_flight.erase(i);
    }
    const auto now = Clock::now();
    for (auto it = in_flight.begin(); it != in_flight.end();) {
      if (now - it->second.sent_at < o.retry_after) {
        ++it;
      } else if (it->second.tries >= o.max_tries) {
        ++r.lost;
        done[it->first] = true;
        it = in_flight.erase(it);
      } else {
        ++r.retransmits;
        transmit((it++)->first);
      }
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  return r;
}

std::uint16_t free_udp_port() { return free_loopback_port(SOCK_DGRAM); }

std::uint16_t free_loopback_port(int socket_type) {
  const int fd = ::socket(AF_INET, socket_type | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (fd >= 0) ::close(fd);
  return ok ? ntohs(a.sin_port) : 0;
}

}  // namespace netfront::appliance
