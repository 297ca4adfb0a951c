// What a ring is created with, for either layout, and the memory its indirect tables take.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "drivers/virtio/ring/dma_memory.hpp"
#include "drivers/virtio/ring/ring_error.hpp"
#include "drivers/virtio/ring/ring_layout.hpp"
#include "drivers/virtio/virtio_result.hpp"

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
  // The transport is a legacy one (§2.7.2): a split ring's used ring at a 4096-byte boundary.
  bool legacy_layout = false;
};

inline std::size_t used_ring_align(const RingOptions& o) noexcept { return o.legacy_layout ? kLegacyRingAlign : 4; }

inline std::size_t indirect_tables_size(const RingOptions& o, std::size_t descriptor_size) noexcept {
  return std::size_t{o.size} * o.indirect_max * descriptor_size;
}

// What a ring built over given memory needs of it: room for its layout and its tables, on
// descriptor (16-byte) boundaries (§2.7 and §2.8 alignment tables).
inline Result<> check_ring_memory(const RingOptions& o, const DmaMemory& ring, std::size_t ring_size,
                                      const DmaMemory& indirect, std::size_t descriptor_size) {
  const auto aligned = [](const DmaMemory& m) {
    return reinterpret_cast<std::uintptr_t>(m.data()) % 16 == 0 && m.device_address() % 16 == 0;
  };
  if (ring.data() == nullptr || ring.size() < ring_size || !aligned(ring))
    return Fault(RingError::BadMemory, "ring memory of " + std::to_string(ring.size()) + " bytes cannot hold a ring of " +
                          std::to_string(o.size) + " (" + std::to_string(ring_size) + " bytes, 16-byte aligned)");
  const std::size_t tables = indirect_tables_size(o, descriptor_size);
  if (tables > 0 && (indirect.data() == nullptr || indirect.size() < tables || !aligned(indirect)))
    return Fault(RingError::BadMemory, "indirect table memory of " + std::to_string(indirect.size()) + " bytes is short of " +
                          std::to_string(tables) + " bytes, 16-byte aligned");
  return Ok{};
}

// One table per ring entry, so a table is owned by exactly one chain in flight and needs no
// allocator of its own. Empty when the ring has no indirect tables.
inline Result<DmaMemory> allocate_indirect_tables(const RingOptions& o, std::size_t descriptor_size) {
  if (o.indirect_max == 0) return DmaMemory{};
  return DmaMemory::allocate(indirect_tables_size(o, descriptor_size), 64, o.address_mode, o.socket);
}

}  // namespace netfront::virtio::ring
