// The vhost-user protocol as the frontend speaks it (QEMU docs/interop/vhost-user.rst):
// message header, request codes, payloads. Names follow the document.
#pragma once

#include <cstdint>

#include "drivers/virtio/transport/vhost/vring.hpp"

namespace netfront::virtio::transport::vhost_user {

enum Request : std::uint32_t {
  VHOST_USER_GET_FEATURES = 1,
  VHOST_USER_SET_FEATURES = 2,
  VHOST_USER_SET_OWNER = 3,
  VHOST_USER_RESET_OWNER = 4,
  VHOST_USER_SET_MEM_TABLE = 5,
  VHOST_USER_SET_VRING_NUM = 8,
  VHOST_USER_SET_VRING_ADDR = 9,
  VHOST_USER_SET_VRING_BASE = 10,
  VHOST_USER_GET_VRING_BASE = 11,
  VHOST_USER_SET_VRING_KICK = 12,
  VHOST_USER_SET_VRING_CALL = 13,
  VHOST_USER_GET_PROTOCOL_FEATURES = 15,
  VHOST_USER_SET_PROTOCOL_FEATURES = 16,
  VHOST_USER_GET_QUEUE_NUM = 17,
  VHOST_USER_SET_VRING_ENABLE = 18,
  VHOST_USER_SET_STATUS = 39,
  VHOST_USER_GET_STATUS = 40,
};

// Header flags: bits 0-1 the version (1), bit 2 "this is a reply", bit 3 "reply wanted".
inline constexpr std::uint32_t VHOST_USER_VERSION = 0x1;
inline constexpr std::uint32_t VHOST_USER_VERSION_MASK = 0x3;
inline constexpr std::uint32_t VHOST_USER_REPLY_MASK = 0x1 << 2;
inline constexpr std::uint32_t VHOST_USER_NEED_REPLY_MASK = 0x1 << 3;

// A feature bit of GET_FEATURES that is about the protocol, not the device.
inline constexpr unsigned VHOST_USER_F_PROTOCOL_FEATURES = 30;
inline constexpr unsigned VHOST_F_LOG_ALL = 26;

// Protocol feature bits (GET/SET_PROTOCOL_FEATURES).
inline constexpr unsigned VHOST_USER_PROTOCOL_F_MQ = 0;
inline constexpr unsigned VHOST_USER_PROTOCOL_F_REPLY_ACK = 3;
inline constexpr unsigned VHOST_USER_PROTOCOL_F_STATUS = 16;

// SET_VRING_KICK/CALL payload: bits 0-7 the ring, bit 8 "no file descriptor attached".
inline constexpr std::uint64_t VHOST_USER_VRING_NOFD_MASK = 0x1 << 8;

// At most this many memory regions fit a SET_MEM_TABLE (and as many fds a message).
inline constexpr unsigned VHOST_MEMORY_MAX_NREGIONS = 8;

struct MessageHeader {
  std::uint32_t request;
  std::uint32_t flags;
  std::uint32_t size;  // payload bytes that follow
};
static_assert(sizeof(MessageHeader) == 12);

// The ring records are the kernel's vhost ioctls' too (transport/vhost/vring.hpp).
using vhost::VringAddress;
using vhost::VringState;

struct MemoryRegion {
  std::uint64_t guest_address;
  std::uint64_t size;
  std::uint64_t user_address;
  std::uint64_t mmap_offset;
};

struct MemoryTable {
  std::uint32_t num_regions;
  std::uint32_t padding;
  MemoryRegion regions[VHOST_MEMORY_MAX_NREGIONS];
};

// The largest payload netfront sends or accepts.
inline constexpr std::uint32_t kMaxPayload = sizeof(MemoryTable);

}  // namespace netfront::virtio::transport::vhost_user
