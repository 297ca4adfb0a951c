// Fuzz target: reading a vhost-user reply from an untrusted backend (checklist F2-F4). Input
// byte 0 picks the request the driver waits a reply to (and so the payload size it expects),
// byte 1 how the "backend" writes (in one piece or two, a file descriptor attached or not);
// the rest is what it writes on the socket before hanging up.
//
// Oracle: a reference reading of the same bytes, written from vhost-user.rst alone. A reply is
// a 12-byte header (request, flags, size) and `size` payload bytes; the one a frontend waits
// for names its request, has flags of version 1 with the reply bit and nothing else, and
// carries exactly the payload the request's reply has. The channel must accept exactly the
// inputs the reference accepts, with the payload the reference reads, and fail on the others;
// it must never read past what arrived (the sanitizers), nor wait once the peer has hung up,
// nor keep a file descriptor the backend attached.
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "drivers/virtio/transport/vhost_user/channel.hpp"
#include "drivers/virtio/transport/vhost_user/fd_passing.hpp"
#include "runtime/log.hpp"

using namespace netfront::virtio::transport::vhost_user;

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

unsigned open_fds() {
  unsigned n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// Writes `bytes` on `fd` as the backend would: at once, or in two parts with a pause between
// (so the reply arrives over several reads), with an eventfd attached to the first part if
// asked (a descriptor nobody asked for), then hangs up.
void backend_writes(int fd, std::span<const std::uint8_t> bytes, std::size_t split, bool attach) {
  auto send = [&](std::span<const std::uint8_t> part, bool with_fd) {
    if (part.empty()) return;
    const iovec iov{const_cast<std::uint8_t*>(part.data()), part.size()};
    const int extra = with_fd ? ::eventfd(0, EFD_CLOEXEC) : -1;
    const auto sent = send_with_fds(fd, std::span(&iov, 1), std::span(&extra, extra >= 0 ? 1 : 0));
    if (sent != static_cast<ssize_t>(part.size())) std::abort();
    if (extra >= 0) ::close(extra);
  };
  send(bytes.first(split), attach);
  if (split < bytes.size()) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    send(bytes.subspan(split), attach && split == 0);
  }
  ::shutdown(fd, SHUT_WR);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  netfront::runtime::logger("vhost").set_level(spdlog::level::off);
  return 0;
}

// Input: byte 0 the request waited for; byte 1 how the backend writes (bits 0-5: where the
// bytes are split in two writes, 0 for one; bit 6: a file descriptor attached); then the bytes.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  struct Expect {
    Request request;
    std::size_t payload;
  };
  static constexpr Expect kExpect[] = {{VHOST_USER_GET_FEATURES, 8}, {VHOST_USER_GET_PROTOCOL_FEATURES, 8},
                                       {VHOST_USER_GET_QUEUE_NUM, 8}, {VHOST_USER_GET_VRING_BASE, 8},
                                       {VHOST_USER_GET_STATUS, 8}, {VHOST_USER_SET_MEM_TABLE, 8}};
  const Expect e = kExpect[data[0] % (sizeof kExpect / sizeof kExpect[0])];
  // Small enough to fit the socket buffer.
  const std::span<const std::uint8_t> bytes(data + 2, std::min<std::size_t>(size - 2, 4096));
  const std::size_t split = std::min<std::size_t>(data[1] & 0x3f, bytes.size());
  const bool attach = data[1] & 0x40;
  const auto expected = reference_reply(e.request, e.payload, bytes);
  const unsigned fds_before = open_fds();
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  {
    std::thread backend(backend_writes, fds[1], bytes, split, attach);
    Channel channel(fds[0]);
    // Far longer than any input takes: a channel that waits for more once the peer has hung up
    // shows as a call of seconds.
    channel.set_timeout(std::chrono::seconds(5));
    std::byte out[8];
    std::memset(out, 0xa5, sizeof out);
    const auto start = std::chrono::steady_clock::now();
    const auto got = channel.receive_reply(e.request, std::span(out, e.payload));
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(1)) std::abort();
    if (got.ok() != expected.has_value()) std::abort();
    if (expected && std::memcmp(out, expected->data(), e.payload) != 0) std::abort();
    backend.join();
  }
  ::close(fds[1]);
  // Whatever the backend attached, none of it is kept (F4).
  if (open_fds() != fds_before) std::abort();
  return 0;
}
