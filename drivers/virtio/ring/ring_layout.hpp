// The in-memory layout of virtqueues, exactly as the spec gives it: split virtqueues
// (virtio 1.2 §2.7) and packed virtqueues (§2.8). Everything here is little-endian on the
// wire; netfront only runs on little-endian hosts (see Buffer).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace netfront::virtio::ring {

// §2.7.5 The Virtqueue Descriptor Table
inline constexpr std::uint16_t VIRTQ_DESC_F_NEXT = 1;
inline constexpr std::uint16_t VIRTQ_DESC_F_WRITE = 2;
inline constexpr std::uint16_t VIRTQ_DESC_F_INDIRECT = 4;
// §2.8.1 packed ring availability bits
inline constexpr std::uint16_t VIRTQ_DESC_F_AVAIL = 1 << 7;
inline constexpr std::uint16_t VIRTQ_DESC_F_USED = 1 << 15;

// §2.7.6 / §2.7.8 notification suppression flags
inline constexpr std::uint16_t VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
inline constexpr std::uint16_t VIRTQ_USED_F_NO_NOTIFY = 1;

// §2.8.10 event suppression flags
inline constexpr std::uint16_t RING_EVENT_FLAGS_ENABLE = 0x0;
inline constexpr std::uint16_t RING_EVENT_FLAGS_DISABLE = 0x1;
inline constexpr std::uint16_t RING_EVENT_FLAGS_DESC = 0x2;

// Split rings hold at most 2^15 entries, a power of two (§2.7); packed rings at most 2^15 (§2.8).
inline constexpr std::uint16_t kMaxQueueSize = 32768;

struct virtq_desc {  // §2.7.5
  std::uint64_t addr;
  std::uint32_t len;
  std::uint16_t flags;
  std::uint16_t next;
};
static_assert(sizeof(virtq_desc) == 16);

struct virtq_used_elem {  // §2.7.8
  std::uint32_t id;
  std::uint32_t len;
};
static_assert(sizeof(virtq_used_elem) == 8);

struct pvirtq_desc {  // §2.8.13
  std::uint64_t addr;
  std::uint32_t len;
  std::uint16_t id;
  std::uint16_t flags;
};
static_assert(sizeof(pvirtq_desc) == 16);

// A packed descriptor's len, id and flags as one 64-bit word (the ring is little-endian, as
// is every host netfront builds for): one aligned store writes all three and makes them
// visible at once, which satisfies §2.8.6's "flags after the rest" without three stores.
// A release store: addr, written before it, is visible first.
static_assert(offsetof(pvirtq_desc, len) == 8 && offsetof(pvirtq_desc, id) == 12 && offsetof(pvirtq_desc, flags) == 14);
static_assert(std::endian::native == std::endian::little);
inline void write_len_id_flags_release(pvirtq_desc& d, std::uint32_t len, std::uint16_t id, std::uint16_t flags) noexcept {
  typedef std::uint64_t __attribute__((may_alias)) Tail;
  const std::uint64_t tail = std::uint64_t{len} | std::uint64_t{id} << 32 | std::uint64_t{flags} << 48;
  __atomic_store_n(reinterpret_cast<Tail*>(&d.len), tail, __ATOMIC_RELEASE);
}

struct pvirtq_event_suppress {  // §2.8.14
  std::uint16_t off_wrap;  // desc_event_off : 15, desc_event_wrap : 1
  std::uint16_t flags;     // desc_event_flags : 2
};
static_assert(sizeof(pvirtq_event_suppress) == 4);

// §2.7.2 legacy interfaces: a legacy device is told one page number for the whole ring and
// finds the used ring at the next 4096-byte boundary after the available ring.
inline constexpr std::size_t kLegacyRingAlign = 4096;

// Split ring parts, with the spec's alignments (§2.7 table): descriptor table 16, available
// ring 2, used ring 4. netfront lays them out in one block: table, avail, used (at 4-aligned,
// or at the legacy 4096 boundary: `used_align`).
struct SplitLayout {
  std::size_t desc_offset, avail_offset, used_offset, total;
  static constexpr SplitLayout of(std::uint16_t n, std::size_t used_align = 4) noexcept {
    const std::size_t desc = 16u * n;
    const std::size_t avail = 2 * (3u + n);  // flags, idx, ring[n], used_event
    const std::size_t used_at = (desc + avail + used_align - 1) & ~(used_align - 1);
    const std::size_t used = 2 * 3u + 8u * n;  // flags, idx, ring[n], avail_event
    return {0, desc, used_at, used_at + used};
  }
};

// Packed ring parts: descriptor ring (16-aligned), driver and device event suppression (4).
struct PackedLayout {
  std::size_t desc_offset, driver_event_offset, device_event_offset, total;
  static constexpr PackedLayout of(std::uint16_t n) noexcept {
    const std::size_t desc = 16u * n;
    return {0, desc, desc + 4, desc + 8};
  }
};

// Both sides' test for "should this event be signalled" with event indices (§2.7.7, §2.7.10):
// true when new_idx has moved past event_idx since old_idx, modulo 2^16.
constexpr bool vring_need_event(std::uint16_t event_idx, std::uint16_t new_idx, std::uint16_t old_idx) noexcept {
  return static_cast<std::uint16_t>(new_idx - event_idx - 1) < static_cast<std::uint16_t>(new_idx - old_idx);
}

}  // namespace netfront::virtio::ring
