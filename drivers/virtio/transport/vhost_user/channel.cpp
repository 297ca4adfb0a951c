#include "drivers/virtio/transport/vhost_user/channel.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "drivers/virtio/transport/vhost_user/fd_passing.hpp"

namespace netfront::virtio::transport::vhost_user {
namespace {

std::string errno_text() { return std::strerror(errno); }

// Reads exactly out.size() bytes; any file descriptors that come along are closed, since
// no reply netfront asks for carries one (F4).
Result<> read_exact(int fd, std::span<std::byte> out, std::chrono::milliseconds timeout, bool& eof) {
  std::size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got < out.size()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count())));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return Fault(TransportError::NoAnswer, "backend did not answer within " + std::to_string(timeout.count()) + " ms");
    iovec iov{out.data() + got, out.size() - got};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * VHOST_MEMORY_MAX_NREGIONS)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int unexpected;
        std::memcpy(&unexpected, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        ::close(unexpected);
      }
    }
    if (n < 0) return Fault(TransportError::System, "reading from backend: " + errno_text());
    if (n == 0) {
      eof = true;
      return Fault(TransportError::BackendClosed, "backend closed the connection");
    }
    got += static_cast<std::size_t>(n);
  }
  return Ok{};
}

}  // namespace

std::string_view request_name(std::uint32_t r) noexcept {
  switch (r) {
    case VHOST_USER_GET_FEATURES: return "GET_FEATURES";
    case VHOST_USER_SET_FEATURES: return "SET_FEATURES";
    case VHOST_USER_SET_OWNER: return "SET_OWNER";
    case VHOST_USER_RESET_OWNER: return "RESET_OWNER";
    case VHOST_USER_SET_MEM_TABLE: return "SET_MEM_TABLE";
    case VHOST_USER_SET_VRING_NUM: return "SET_VRING_NUM";
    case VHOST_USER_SET_VRING_ADDR: return "SET_VRING_ADDR";
    case VHOST_USER_SET_VRING_BASE: return "SET_VRING_BASE";
    case VHOST_USER_GET_VRING_BASE: return "GET_VRING_BASE";
    case VHOST_USER_SET_VRING_KICK: return "SET_VRING_KICK";
    case VHOST_USER_SET_VRING_CALL: return "SET_VRING_CALL";
    case VHOST_USER_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
    case VHOST_USER_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
    case VHOST_USER_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
    case VHOST_USER_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
    case VHOST_USER_SET_STATUS: return "SET_STATUS";
    case VHOST_USER_GET_STATUS: return "GET_STATUS";
  }
  return "unknown request";
}

Channel& Channel::operator=(Channel&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
    timeout_ = o.timeout_;
  }
  return *this;
}

Channel::~Channel() { close(); }

void Channel::close() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

Result<Channel> Channel::connect(const std::string& path, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return Fault(TransportError::BadRequest, "socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // Non-blocking for the connect alone: a listener that does not accept, its backlog full,
    // holds a blocking connect() for as long as it likes (net/unix/af_unix.c
    // unix_wait_for_peer, bounded only by a send timeout the socket does not have yet); this
    // one says EAGAIN at once, and the deadline is ours. The channel itself is used blocking.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return Fault(TransportError::System, "socket: " + errno_text());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      if (const int flags = ::fcntl(fd, F_GETFL); flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        const std::string why = errno_text();
        ::close(fd);
        return Fault(TransportError::System, "fcntl: " + why);
      }
      return Channel(fd);
    }
    const int err = errno;
    ::close(fd);
    // A backend that is still starting has no socket yet, or does not accept yet (refused, or
    // its backlog full).
    const bool not_yet = err == ENOENT || err == ECONNREFUSED || err == EAGAIN;
    if (!not_yet || std::chrono::steady_clock::now() >= deadline)
      return Fault(not_yet ? TransportError::NoBackend : TransportError::System,
                   "cannot connect to vhost-user backend at " + path + ": " +
                       (err == EAGAIN ? std::string("it does not accept connections") : std::string(std::strerror(err))));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Channel::apply_send_timeout() noexcept {
  if (fd_ < 0) return;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>(timeout_.count() % 1000 * 1000);
  (void)::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

Result<> Channel::send(Request request, std::span<const std::byte> payload, std::span<const int> fds, bool need_reply) {
  if (fd_ < 0) return Fault(TransportError::BackendClosed, "no connection to the backend");
  // Bytes already waiting would be taken for this request's reply: they were sent unasked.
  if (unasked() == Unasked::Bytes)
    return Fault(TransportError::ProtocolViolation, std::string("backend sent bytes nobody asked for, before ") + std::string(request_name(request)));
  MessageHeader h{request, VHOST_USER_VERSION | (need_reply ? VHOST_USER_NEED_REPLY_MASK : 0u),
                  static_cast<std::uint32_t>(payload.size())};
  const iovec iov[2] = {{&h, sizeof h}, {const_cast<std::byte*>(payload.data()), payload.size()}};
  const std::size_t total = sizeof h + payload.size();
  const ssize_t n = send_with_fds(fd_, std::span(iov, payload.empty() ? 1 : 2), fds);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return Fault(TransportError::NoAnswer, std::string("backend did not take ") + std::string(request_name(request)) + " within " +
                          std::to_string(timeout_.count()) + " ms");
  if (n < 0) return Fault(TransportError::BackendClosed, std::string("sending ") + std::string(request_name(request)) + ": " + errno_text());
  if (static_cast<std::size_t>(n) != total)
    return Fault(TransportError::NoAnswer, std::string("short write of ") + std::string(request_name(request)));
  return Ok{};
}

// F2: version, reply flag, request code and size must all be what we asked for. The flags are
// version 1 and "reply" and nothing else (as DPDK's virtio-user wants them): need_reply in a
// reply, or a reserved bit, is a backend speaking another protocol.
Result<> Channel::receive_reply(Request request, std::span<std::byte> out) {
  if (fd_ < 0) return Fault(TransportError::BackendClosed, "no connection to the backend");
  MessageHeader h{};
  bool eof = false;
  if (auto r = read_exact(fd_, std::as_writable_bytes(std::span(&h, 1)), timeout_, eof); !r) return r;
  const std::string what = std::string(request_name(request)) + " reply";
  if (h.flags != (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK)) {
    char flags[16];
    std::snprintf(flags, sizeof flags, "0x%x", h.flags);
    return Fault(TransportError::ProtocolViolation, what + " has bad flags " + flags);
  }
  if (h.request != request) return Fault(TransportError::ProtocolViolation, what + " answers request " + std::to_string(h.request));
  if (h.size != out.size())
    return Fault(TransportError::ProtocolViolation, what + " has " + std::to_string(h.size) + " payload bytes, expected " + std::to_string(out.size()));
  return read_exact(fd_, out, timeout_, eof);
}

Result<> Channel::call(Request request, std::span<const std::byte> payload, std::span<std::byte> reply) {
  if (auto r = send(request, payload); !r) return r;
  return receive_reply(request, reply);
}

Channel::Unasked Channel::unasked() {
  if (fd_ < 0) return Unasked::Closed;
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return Unasked::Nothing;
  if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return Unasked::Closed;
  std::byte b;
  const ssize_t n = ::recv(fd_, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return Unasked::Closed;
  return n > 0 ? Unasked::Bytes : Unasked::Nothing;
}


}  // namespace netfront::virtio::transport::vhost_user
