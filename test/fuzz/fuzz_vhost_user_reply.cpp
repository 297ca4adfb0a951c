// Fuzz target: reading a vhost-user reply from an untrusted backend (checklist F2-F4). Input
// byte 0 picks the request the driver waits a reply to (and so the payload size it expects);
// the rest is what the "backend" writes on the socket before hanging up. The channel must
// accept only a well-formed reply of exactly the expected size, and otherwise fail: never
// read past what arrived, never block past its timeout.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "drivers/virtio/transport/vhost_user/channel.hpp"
#include "runtime/log.hpp"

using namespace netfront::virtio::vhost_user;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  netfront::runtime::logger("vhost").set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  struct Expect {
    Request request;
    std::size_t payload;
  };
  static constexpr Expect kExpect[] = {{VHOST_USER_GET_FEATURES, 8}, {VHOST_USER_GET_PROTOCOL_FEATURES, 8},
                                       {VHOST_USER_GET_QUEUE_NUM, 8}, {VHOST_USER_GET_VRING_BASE, 8},
                                       {VHOST_USER_GET_STATUS, 8}};
  const Expect e = kExpect[data[0] % (sizeof kExpect / sizeof kExpect[0])];
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  // Small enough to fit the socket buffer: written in full before the reader starts.
  const std::size_t n = std::min<std::size_t>(size - 1, 4096);
  if (n > 0 && ::write(fds[1], data + 1, n) != static_cast<ssize_t>(n)) std::abort();
  ::shutdown(fds[1], SHUT_WR);
  {
    Channel channel(fds[0]);
    channel.set_timeout(std::chrono::milliseconds(20));
    std::byte out[8];
    std::memset(out, 0xa5, sizeof out);
    (void)channel.receive_reply(e.request, std::span(out, e.payload));
  }
  ::close(fds[1]);
  return 0;
}
