// What the two vhost protocols share about a ring: the kernel's vhost ioctls
// (linux/vhost.h) and vhost-user's messages (docs/interop/vhost-user.rst) carry the same
// state and address records, laid out alike.
#pragma once

#include <cstdint>

namespace netfront::virtio::transport::vhost {

// SET_VRING_NUM, SET_VRING_BASE, GET_VRING_BASE, SET_VRING_ENABLE (struct vhost_vring_state).
struct VringState {
  std::uint32_t index;
  std::uint32_t num;
};
static_assert(sizeof(VringState) == 8);

// SET_VRING_ADDR (struct vhost_vring_addr): the frontend's virtual addresses.
struct VringAddress {
  std::uint32_t index;
  std::uint32_t flags;
  std::uint64_t descriptor;
  std::uint64_t used;
  std::uint64_t available;
  std::uint64_t log;
};
static_assert(sizeof(VringAddress) == 40);

// Where the backend starts working a fresh ring: index 0, and on a packed ring both wrap
// counters at 1 (bit 15 of the base, virtio 1.2 §2.8.1).
constexpr std::uint32_t initial_vring_base(bool packed) noexcept { return packed ? 1u << 15 : 0u; }

}  // namespace netfront::virtio::transport::vhost
