// The kernel's vhost interface (include/uapi/linux/vhost.h and vhost_types.h), spelled here:
// the kernel header pulls in linux/virtio_ring.h and virtio_config.h, whose macros collide with
// the names of virtio_spec.hpp and which do not compile as C++. The records of the rings are
// the ones vhost-user shares (vhost/vring.hpp).
#pragma once

#include <linux/ioctl.h>

#include <cstdint>

#include "drivers/virtio/transport/vhost/vring.hpp"

namespace netfront::virtio::transport::vhost_kernel {

struct VringFile {  // struct vhost_vring_file
  std::uint32_t index;
  int fd;  // -1: none (VHOST_FILE_UNBIND)
};

struct MemoryRegion {  // struct vhost_memory_region
  std::uint64_t guest_phys_addr;
  std::uint64_t memory_size;
  std::uint64_t userspace_addr;
  std::uint64_t flags_padding;
};

struct MemoryHeader {  // struct vhost_memory, without its regions[]
  std::uint32_t nregions;
  std::uint32_t padding;
};

// The table VHOST_SET_MEM_TABLE reads: the header, then its regions. At most 64 of them:
// vhost's default max_mem_regions.
inline constexpr unsigned kMaxMemoryRegions = 64;
struct MemoryTable {
  MemoryHeader header;
  MemoryRegion regions[kMaxMemoryRegions];
};

inline constexpr unsigned kVhostVirtio = 0xAF;
inline constexpr unsigned long VHOST_GET_FEATURES = _IOR(kVhostVirtio, 0x00, std::uint64_t);
inline constexpr unsigned long VHOST_SET_FEATURES = _IOW(kVhostVirtio, 0x00, std::uint64_t);
inline constexpr unsigned long VHOST_SET_OWNER = _IO(kVhostVirtio, 0x01);
inline constexpr unsigned long VHOST_RESET_OWNER = _IO(kVhostVirtio, 0x02);
inline constexpr unsigned long VHOST_SET_MEM_TABLE = _IOW(kVhostVirtio, 0x03, MemoryHeader);
inline constexpr unsigned long VHOST_SET_VRING_NUM = _IOW(kVhostVirtio, 0x10, vhost::VringState);
inline constexpr unsigned long VHOST_SET_VRING_ADDR = _IOW(kVhostVirtio, 0x11, vhost::VringAddress);
inline constexpr unsigned long VHOST_SET_VRING_BASE = _IOW(kVhostVirtio, 0x12, vhost::VringState);
inline constexpr unsigned long VHOST_SET_VRING_KICK = _IOW(kVhostVirtio, 0x20, VringFile);
inline constexpr unsigned long VHOST_SET_VRING_CALL = _IOW(kVhostVirtio, 0x21, VringFile);
inline constexpr unsigned long VHOST_NET_SET_BACKEND = _IOW(kVhostVirtio, 0x30, VringFile);

// Feature bits of vhost itself, not of the device.
inline constexpr unsigned VHOST_F_LOG_ALL = 26;
// Bit 27 is VIRTIO_F_ANY_LAYOUT to a driver but "vhost adds and strips the header" to vhost-net.
inline constexpr unsigned VHOST_NET_F_VIRTIO_NET_HDR = 27;
inline constexpr unsigned VIRTIO_F_NOTIFY_ON_EMPTY = 24;
inline constexpr unsigned VIRTIO_F_RING_RESET = 40;

}  // namespace netfront::virtio::transport::vhost_kernel
