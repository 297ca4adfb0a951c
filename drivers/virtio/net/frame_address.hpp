// Where the device finds a byte of a packet buffer: our virtual address for a vhost-user
// backend or the loop device, the buffer's IOVA for a PCI function (see ring::AddressMode).
#pragma once

#include <rte_mbuf.h>

#include <cstddef>
#include <cstdint>

#include "drivers/virtio/ring/dma_memory.hpp"

namespace netfront::virtio::net {

[[gnu::always_inline]] inline std::uint64_t device_address(ring::AddressMode mode, const std::byte* p, const rte_mbuf* m) noexcept {
  if (mode == ring::AddressMode::VirtualAddress) return reinterpret_cast<std::uint64_t>(p);
  return m->buf_iova + static_cast<std::uint64_t>(p - static_cast<const std::byte*>(m->buf_addr));
}

}  // namespace netfront::virtio::net
