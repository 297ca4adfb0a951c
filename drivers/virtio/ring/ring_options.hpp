// What a ring is created with, for either layout, and the memory its indirect tables take.
#pragma once

#include <cstddef>
#include <cstdint>

#include "drivers/virtio/ring/dma_memory.hpp"
#include "netfront/result.hpp"

namespace netfront::virtio::ring {

struct RingOptions {
  std::uint16_t size = 256;
  bool event_idx = false;  // VIRTIO_F_EVENT_IDX negotiated
  bool in_order = false;   // VIRTIO_F_IN_ORDER negotiated
  AddressMode address_mode = AddressMode::VirtualAddress;
  int socket = -1;
  // VIRTIO_F_INDIRECT_DESC negotiated: room for an indirect table of this many descriptors
  // per ring entry (0: no indirect tables).
  std::uint16_t indirect_max = 0;
};

// One table per ring entry, so a table is owned by exactly one chain in flight and needs no
// allocator of its own. Empty when the ring has no indirect tables.
inline Result<DmaMemory> allocate_indirect_tables(const RingOptions& o, std::size_t descriptor_size) {
  if (o.indirect_max == 0) return DmaMemory{};
  return DmaMemory::allocate(std::size_t{o.size} * o.indirect_max * descriptor_size, 64, o.address_mode, o.socket);
}

}  // namespace netfront::virtio::ring
