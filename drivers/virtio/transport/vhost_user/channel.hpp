// The vhost-user control channel: one unix stream socket to the backend, messages with file
// descriptors attached. The backend is not trusted (checklist F): every reply is checked for
// version, reply flag, request code and exact size before its payload is used, a reply that
// does not come within the timeout is an error (F3), as is a send the backend does not take
// within it, and file descriptors nobody asked for are closed on arrival (F4).
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "drivers/virtio/transport/vhost_user/protocol.hpp"
#include "drivers/virtio/transport/transport_error.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::transport::vhost_user {

class Channel {
 public:
  Channel() = default;
  explicit Channel(int fd) : fd_(fd) { apply_send_timeout(); }
  Channel(Channel&& o) noexcept : fd_(std::exchange(o.fd_, -1)), timeout_(o.timeout_) {}
  Channel& operator=(Channel&& o) noexcept;
  ~Channel();

  // Client mode: connect to a backend listening on `path`, retrying until `timeout` (0: one
  // try) and never waiting past it, not even on a listener that does not accept.
  static Result<Channel> connect(const std::string& path, std::chrono::milliseconds timeout);

  bool open() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }
  void close() noexcept;

  // Sends a request with `payload` and `fds` attached.
  Result<> send(Request request, std::span<const std::byte> payload, std::span<const int> fds = {},
                bool need_reply = false);
  // Waits for the reply to `request`, whose payload must be exactly `out.size()` bytes.
  Result<> receive_reply(Request request, std::span<std::byte> out);
  // Request and reply in one.
  Result<> call(Request request, std::span<const std::byte> payload, std::span<std::byte> reply);

  // What the socket holds while no reply is awaited (checked without blocking): nothing, the
  // end of the connection, or bytes nobody asked for.
  enum class Unasked { Nothing, Closed, Bytes };
  Unasked unasked();

  // For replies and for sends alike: a backend that stops reading (its socket buffer full) is
  // as late as one that does not answer.
  void set_timeout(std::chrono::milliseconds t) noexcept {
    timeout_ = t;
    apply_send_timeout();
  }

 private:
  void apply_send_timeout() noexcept;
  int fd_ = -1;
  std::chrono::milliseconds timeout_{5000};
};

std::string_view request_name(std::uint32_t request) noexcept;

}  // namespace netfront::virtio::transport::vhost_user
