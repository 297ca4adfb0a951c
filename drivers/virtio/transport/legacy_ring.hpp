// How a legacy interface is told where a ring is (virtio 1.2 §2.7.2, §4.1.4.8, §4.2.4): one
// page number, from which the device finds the available ring right after the descriptor
// table and the used ring at the next 4096-byte boundary. A ring netfront did not lay out so,
// or beyond what a 32-bit page number reaches, is refused before the device is told, since
// the device would read and write it elsewhere.
#pragma once

#include <cstdint>
#include <string>

#include "drivers/virtio/ring/ring_layout.hpp"
#include "drivers/virtio/transport/transport.hpp"

namespace netfront::virtio::transport {

inline constexpr unsigned kLegacyPageShift = 12;  // 4096-byte pages (VIRTIO_PCI_QUEUE_ADDR_SHIFT, GuestPageSize)

// The page number to give the device for `s`; `queue` names the queue in the error.
inline Result<std::uint32_t> legacy_ring_page(const QueueSetup& s, const std::string& queue) {
  const auto layout = ring::SplitLayout::of(s.size, ring::kLegacyRingAlign);
  const ring::QueueAddresses& a = s.addresses;
  if (a.desc % ring::kLegacyRingAlign != 0 || a.driver != a.desc + layout.avail_offset || a.device != a.desc + layout.used_offset)
    return Fault(TransportError::BadRequest, queue + ": ring not in the legacy layout (table page-aligned, used ring at a 4096 boundary)");
  const std::uint64_t page = a.desc >> kLegacyPageShift;
  if (page == 0 || page > 0xffffffffu)
    return Fault(TransportError::BadRequest, queue + ": ring address beyond what a legacy page number reaches");
  return static_cast<std::uint32_t>(page);
}

}  // namespace netfront::virtio::transport
