// Fuzz target: reading a vhost-user reply from an untrusted backend (checklist F2-F4). Input
// byte 0 picks the request the driver waits a reply to (and so the payload size it expects);
// the rest is what the "backend" writes on the socket before hanging up.
//
// Oracle: a reference reading of the same bytes, written from vhost-user.rst alone. A reply is
// a 12-byte header (request, flags, size) and `size` payload bytes; the one a frontend waits
// for names its request, has flags of version 1 with the reply bit and nothing else, and
// carries exactly the payload the request's reply has. The channel must accept exactly the
// inputs the reference accepts, with the payload the reference reads, and fail on the others;
// it must never read past what arrived (the sanitizers) nor wait once the peer has hung up.
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "drivers/virtio/transport/vhost_user/channel.hpp"
#include "runtime/log.hpp"

using namespace netfront::virtio::vhost_user;

namespace {

// The reference: the payload of the one well-formed reply to `request` of `size` bytes that
// `bytes` start with, if they do.
std::optional<std::vector<std::byte>> reference_reply(std::uint32_t request, std::size_t size, std::span<const std::uint8_t> bytes) {
  auto le32 = [&](std::size_t at) {
    return static_cast<std::uint32_t>(bytes[at]) | static_cast<std::uint32_t>(bytes[at + 1]) << 8 |
           static_cast<std::uint32_t>(bytes[at + 2]) << 16 | static_cast<std::uint32_t>(bytes[at + 3]) << 24;
  };
  if (bytes.size() < 12) return std::nullopt;
  const std::uint32_t req = le32(0), flags = le32(4), len = le32(8);
  if (req != request || flags != (0x1u | 0x4u) || len != size || bytes.size() < 12 + size) return std::nullopt;
  std::vector<std::byte> payload(size);
  std::memcpy(payload.data(), bytes.data() + 12, size);
  return payload;
}

}  // namespace

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
                                       {VHOST_USER_GET_STATUS, 8}, {VHOST_USER_SET_MEM_TABLE, 8}};
  const Expect e = kExpect[data[0] % (sizeof kExpect / sizeof kExpect[0])];
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  // Small enough to fit the socket buffer: written in full before the reader starts.
  const std::size_t n = std::min<std::size_t>(size - 1, 4096);
  if (n > 0 && ::write(fds[1], data + 1, n) != static_cast<ssize_t>(n)) std::abort();
  ::shutdown(fds[1], SHUT_WR);
  const auto expected = reference_reply(e.request, e.payload, std::span(data + 1, n));
  {
    Channel channel(fds[0]);
    constexpr auto kTimeout = std::chrono::milliseconds(20);
    channel.set_timeout(kTimeout);
    std::byte out[8];
    std::memset(out, 0xa5, sizeof out);
    const auto start = std::chrono::steady_clock::now();
    const auto got = channel.receive_reply(e.request, std::span(out, e.payload));
    // The peer hung up after writing: no read may wait for more (a generous bound).
    if (std::chrono::steady_clock::now() - start > 10 * kTimeout) std::abort();
    if (got.ok() != expected.has_value()) std::abort();
    if (expected && std::memcmp(out, expected->data(), e.payload) != 0) std::abort();
  }
  ::close(fds[1]);
  return 0;
}
