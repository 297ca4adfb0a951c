// The device's side of split (virtio 1.2 §2.7) and packed (§2.8) virtqueues, written from the
// spec for the tests of the driver's rings over plain memory (split_ring_test.cpp,
// packed_ring_plain_test.cpp), in the manner of rust-vmm vm-virtio's MockSplitQueue.
//
// It is on purpose independent of the driver's code and of drivers/virtio/device_side/ (the
// production device ring the loop device uses): a model that shared their code would share
// their mistakes. It knows only the addresses the driver gives a device (§4.1.4.3 queue_desc,
// queue_driver, queue_device), the queue size, and the spec's structures and constants, which
// it spells out again here. Device addresses are the driver's virtual addresses
// (AddressMode::VirtualAddress), so the model reads and writes the ring where they point.
//
// While it walks what the driver made available it checks the driver's requirements it can
// see (each failure is a gtest failure naming the clause), so every test also checks that the
// driver's rings are well-formed. It can also write what no honest device writes (any used
// index, id, or flags) for the tests of the driver's defences.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <ostream>
#include <set>
#include <span>
#include <stdexcept>
#include <vector>

#include "drivers/virtio/ring/chain.hpp"
#include "drivers/virtio/ring/dma_memory.hpp"
#include "drivers/virtio/ring/ring_error.hpp"
#include "drivers/virtio/ring/ring_options.hpp"

// gtest prints a RingError by the rule it names (found by argument-dependent lookup, so in
// the enum's namespace).
namespace netfront::virtio::ring {
inline void PrintTo(RingError e, std::ostream* os) { *os << describe(e); }
}  // namespace netfront::virtio::ring

namespace netfront::testing::ring_model {

// The spec's constants, not the driver's (ring_layout.hpp), so that a wrong one there fails.
namespace spec {
inline constexpr std::uint16_t DESC_F_NEXT = 1;        // §2.7.5
inline constexpr std::uint16_t DESC_F_WRITE = 2;       // §2.7.5
inline constexpr std::uint16_t DESC_F_INDIRECT = 4;    // §2.7.5
inline constexpr std::uint16_t DESC_F_AVAIL = 1 << 7;  // §2.8.1
inline constexpr std::uint16_t DESC_F_USED = 1 << 15;  // §2.8.1
inline constexpr std::uint16_t AVAIL_F_NO_INTERRUPT = 1;  // §2.7.6
inline constexpr std::uint16_t USED_F_NO_NOTIFY = 1;      // §2.7.8
inline constexpr std::uint16_t EVENT_FLAGS_ENABLE = 0;    // §2.8.10
inline constexpr std::uint16_t EVENT_FLAGS_DISABLE = 1;
inline constexpr std::uint16_t EVENT_FLAGS_DESC = 2;
}  // namespace spec

// §2.7.7.2 / §2.7.10.1: "the idx field ... (which determined where that descriptor index was
// placed) was equal to" the event index, for any entry placed while the index went from
// `old_idx` to `new_idx`: whether `event` is in [old_idx, new_idx) modulo 2^16. Stated as
// the spec states it, not as vring_need_event() computes it, so the tests can compare the two.
inline bool entry_placed_at(std::uint16_t event, std::uint16_t old_idx, std::uint16_t new_idx) {
  return static_cast<std::uint16_t>(event - old_idx) < static_cast<std::uint16_t>(new_idx - old_idx);
}

// Neither side touches buffer contents in the ring tests: a segment's address is a number the
// device must read back as the driver was given it.
inline constexpr std::uint64_t kBuffers = 0x7e5700000000;
inline virtio::ring::Segment readable(unsigned n, std::uint32_t len = 64) { return {kBuffers + 0x1000ull * n, len, false}; }
inline virtio::ring::Segment writable(unsigned n, std::uint32_t len = 2048) {
  return {kBuffers + 0x1000ull * n, len, true};
}

// A ring of either layout over the test's memory (refused memory is the test's bug: it throws).
template <typename Ring>
Ring make_ring(const virtio::ring::RingOptions& o, virtio::ring::DmaMemory mem, virtio::ring::DmaMemory tables) {
  auto r = Ring::over(o, std::move(mem), std::move(tables));
  if (!r) throw std::runtime_error(r.error().to_string());
  return std::move(*r);
}

// Every used chain the driver takes now, and their tokens.
template <typename Ring>
std::vector<virtio::ring::UsedChain> take_all(Ring& ring) {
  std::vector<virtio::ring::UsedChain> all;
  for (virtio::ring::UsedChain u; ring.take_used(u);) all.push_back(u);
  return all;
}
inline std::vector<std::uint64_t> tokens_of(const std::vector<virtio::ring::UsedChain>& used) {
  std::vector<std::uint64_t> t;
  for (const virtio::ring::UsedChain& u : used) t.push_back(u.token);
  return t;
}

// Whole fields at a device address, by memcpy: the model never forms a pointer of the
// driver's structure types.
template <typename T>
T load(std::uint64_t address) {
  T v;
  std::memcpy(&v, reinterpret_cast<const void*>(address), sizeof v);
  return v;
}
template <typename T>
void store(std::uint64_t address, T v) {
  std::memcpy(reinterpret_cast<void*>(address), &v, sizeof v);
}

// Page-aligned memory of the test's own (no DPDK), `fill` in every byte to begin with: what
// a ring is built over, known to the device by its virtual address.
class PlainMemory {
 public:
  explicit PlainMemory(std::size_t bytes, std::byte fill = std::byte{0})
      : pages_((bytes + sizeof(Page) - 1) / sizeof(Page)), size_(bytes) {
    if (size_ > 0) std::memset(data(), static_cast<int>(fill), size_);
  }
  std::byte* data() noexcept { return pages_.empty() ? nullptr : pages_.front().bytes; }
  std::size_t size() const noexcept { return size_; }
  std::uint64_t address() noexcept { return reinterpret_cast<std::uint64_t>(data()); }
  // Its bytes from `offset`, `size` of them (all the rest by default), as DMA memory.
  virtio::ring::DmaMemory dma(std::size_t offset = 0, std::size_t size = SIZE_MAX) noexcept {
    if (data() == nullptr) return {};
    const std::size_t n = std::min(size, size_ - offset);
    return virtio::ring::DmaMemory::over({data() + offset, n}, address() + offset);
  }

 private:
  struct alignas(4096) Page {
    std::byte bytes[4096];
  };
  std::vector<Page> pages_;
  std::size_t size_;
};

// ---------------------------------------------------------------------------------------------
// Split virtqueues (§2.7)

// §2.7.5 struct virtq_desc: addr at 0, len at 8, flags at 12, next at 14; 16 bytes.
struct SplitDescriptor {
  std::uint64_t addr;
  std::uint32_t len;
  std::uint16_t flags;
  std::uint16_t next;
};

// A chain as a device reads it after the driver made it available.
struct SplitChain {
  std::uint16_t head = 0;                 // the available ring's entry: the chain's id
  SplitDescriptor first{};                // the head's descriptor-table entry
  bool indirect = false;                  // the head refers to an indirect table (§2.7.5.3)
  std::vector<SplitDescriptor> elements;  // the buffer's elements in order (the table's, if indirect)
  std::vector<std::uint16_t> entries;     // descriptor-table entries the chain holds
};

class SplitDeviceModel {
 public:
  struct Features {
    bool event_idx = false;  // VIRTIO_F_EVENT_IDX
    bool in_order = false;   // VIRTIO_F_IN_ORDER
  };

  SplitDeviceModel(const virtio::ring::QueueAddresses& a, std::uint16_t size, Features f)
      : desc_(a.desc), avail_(a.driver), used_(a.device), size_(size), features_(f), held_(size), in_use_(size) {}

  // Available ring (§2.7.6): flags at 0, idx at 2, ring[size] at 4, used_event after it.
  std::uint16_t avail_flags() const { return load<std::uint16_t>(avail_); }
  std::uint16_t avail_idx() const { return load<std::uint16_t>(avail_ + 2); }
  std::uint16_t avail_ring(std::uint16_t i) const { return load<std::uint16_t>(avail_ + 4 + 2u * (i % size_)); }
  std::uint16_t used_event() const { return load<std::uint16_t>(avail_ + 4 + 2u * size_); }
  // Used ring (§2.7.8): flags at 0, idx at 2, ring[size] of {le32 id, le32 len} at 4, avail_event after.
  std::uint16_t used_flags() const { return load<std::uint16_t>(used_); }
  std::uint16_t used_idx() const { return load<std::uint16_t>(used_ + 2); }
  std::uint16_t avail_event() const { return load<std::uint16_t>(used_ + 4 + 8u * size_); }
  void set_used_flags(std::uint16_t f) { store(used_, f); }
  void set_used_idx(std::uint16_t idx) { store<std::uint16_t>(used_ + 2, idx); }
  void set_avail_event(std::uint16_t e) { store(used_ + 4 + 8u * size_, e); }
  // §2.7.10: VIRTQ_USED_F_NO_NOTIFY, the crude way to suppress available buffer notifications.
  void set_no_notify(bool on) { set_used_flags(on ? spec::USED_F_NO_NOTIFY : 0); }
  // A used element at ring position `idx` (mod size), whatever id and len.
  void write_used_elem(std::uint16_t idx, std::uint32_t id, std::uint32_t len) {
    const std::uint64_t e = used_ + 4 + 8u * (idx % size_);
    store(e, id);
    store(e + 4, len);
  }

  SplitDescriptor descriptor(std::uint16_t i) const { return read_descriptor(desc_ + 16u * i); }
  void write_descriptor(std::uint16_t i, const SplitDescriptor& d) { write_descriptor_at(desc_ + 16u * i, d); }

  std::uint16_t last_avail() const { return last_avail_; }
  // Chains the device took and has not given back.
  std::size_t held() const { return order_.size(); }

  // §2.7.13, from the device's end: the next chain the available index exposes, walked
  // through NEXT and INDIRECT; nothing when the index has not moved.
  std::optional<SplitChain> pop() {
    const std::uint16_t idx = avail_idx();
    const auto pending = static_cast<std::uint16_t>(idx - last_avail_);
    if (pending == 0) return std::nullopt;
    // §2.7.13: "the ring buffer is the same size as the descriptor table", so the index can
    // never run more than a ring ahead of what the device took.
    if (pending > size_) {
      ADD_FAILURE() << "§2.7.13: avail idx " << idx << " is " << pending << " entries ahead of the device";
      return std::nullopt;
    }
    SplitChain c;
    c.head = avail_ring(last_avail_);
    ++last_avail_;
    if (c.head >= size_) {
      ADD_FAILURE() << "§2.7.6: available ring entry " << c.head << " is not a descriptor of a queue of " << size_;
      return c;
    }
    if (features_.in_order && c.head != next_in_order_)
      ADD_FAILURE() << "§2.7.5: in order, chains start where the last ended: head " << c.head << ", expected "
                    << next_in_order_;
    c.first = descriptor(c.head);
    std::uint16_t i = c.head;
    bool writable_seen = false;
    for (unsigned n = 0;; ++n) {
      // §2.7.5.3.1 "A driver MUST NOT create a descriptor chain longer than the Queue Size";
      // §2.7.5.2: loops are forbidden.
      if (n == size_) {
        ADD_FAILURE() << "§2.7.5.2: chain from " << c.head << " is longer than the queue (a loop?)";
        break;
      }
      hold(i, c);
      const SplitDescriptor d = descriptor(i);
      if (d.flags & spec::DESC_F_INDIRECT) {
        if (d.flags & spec::DESC_F_NEXT)
          ADD_FAILURE() << "§2.7.5.3.1: a driver MUST NOT set both INDIRECT and NEXT (descriptor " << i << ")";
        c.indirect = true;
        read_indirect_table(d, c, writable_seen);
        break;
      }
      add_element(d, c, writable_seen);
      if (!(d.flags & spec::DESC_F_NEXT)) break;
      if (d.next >= size_) {
        ADD_FAILURE() << "§2.7.5: next " << d.next << " of descriptor " << i << " is outside the table";
        break;
      }
      // §2.7.5.2: in order, "next to 0 for the last descriptor in the table ... and to x + 1
      // for the rest".
      if (features_.in_order && d.next != (i + 1u) % size_)
        ADD_FAILURE() << "§2.7.5.2: in order, descriptor " << i << " must chain to " << (i + 1u) % size_
                      << ", not " << d.next;
      i = d.next;
    }
    next_in_order_ = static_cast<std::uint16_t>((i + 1u) % size_);
    order_.push_back(c.head);
    return c;
  }
  std::vector<SplitChain> pop_all() {
    std::vector<SplitChain> all;
    while (auto c = pop()) all.push_back(std::move(*c));
    return all;
  }

  // §2.7.8: a used element {id, len} where used idx points, then idx + 1. The chain named is
  // given back (its descriptors are the driver's again).
  void push(std::uint32_t id, std::uint32_t len) {
    const std::uint16_t idx = used_idx();
    write_used_elem(idx, id, len);
    release(id);
    set_used_idx(static_cast<std::uint16_t>(idx + 1));
  }
  void push(const SplitChain& c, std::uint32_t len) { push(c.head, len); }
  // §2.7.9, in order: one used element with the id of the batch's last chain, at the offset
  // of the batch's first, and used idx moved by the batch size. The batch is every chain
  // taken and not given back, up to and including `last_id`.
  void push_batch(std::uint32_t last_id, std::uint32_t len) {
    std::uint16_t batch = 0;
    while (!order_.empty()) {
      const std::uint16_t head = order_.front();
      ++batch;
      release(head);
      if (head == last_id) break;
    }
    const std::uint16_t idx = used_idx();
    write_used_elem(idx, last_id, len);
    set_used_idx(static_cast<std::uint16_t>(idx + batch));
  }

  // §2.7.7.2: whether the device must send a used buffer notification after moving used idx
  // from `old_idx` to `new_idx`, checking on the way that the driver keeps the flags as
  // §2.7.7.1 says.
  bool must_notify_driver(std::uint16_t old_idx, std::uint16_t new_idx) const {
    const std::uint16_t flags = avail_flags();
    if (features_.event_idx) {
      EXPECT_EQ(flags, 0u) << "§2.7.7.1: with VIRTIO_F_EVENT_IDX the driver MUST set flags to 0";
      return entry_placed_at(used_event(), old_idx, new_idx);
    }
    EXPECT_LE(flags, 1u) << "§2.7.7.1: the driver MUST set flags to 0 or 1";
    return flags == 0;
  }
  // §2.7.10.1: whether the driver must notify the device after moving avail idx from
  // `old_idx` to `new_idx`, as the device asked.
  bool driver_must_notify(std::uint16_t old_idx, std::uint16_t new_idx) const {
    if (features_.event_idx) return entry_placed_at(avail_event(), old_idx, new_idx);  // flags' low bit ignored
    return !(used_flags() & spec::USED_F_NO_NOTIFY);  // avail_event ignored
  }

 private:
  static SplitDescriptor read_descriptor(std::uint64_t a) {
    return {load<std::uint64_t>(a), load<std::uint32_t>(a + 8), load<std::uint16_t>(a + 12), load<std::uint16_t>(a + 14)};
  }
  static void write_descriptor_at(std::uint64_t a, const SplitDescriptor& d) {
    store(a, d.addr);
    store(a + 8, d.len);
    store(a + 12, d.flags);
    store(a + 14, d.next);
  }
  // §2.7.13.1 "Get the next free descriptor table entry": a descriptor in a chain the device
  // still holds is not free.
  void hold(std::uint16_t i, SplitChain& c) {
    if (in_use_[i]) ADD_FAILURE() << "§2.7.13.1: descriptor " << i << " is made available while the device holds it";
    in_use_[i] = true;
    c.entries.push_back(i);
    held_[c.head] = c.entries;
  }
  void release(std::uint32_t id) {
    if (id >= size_) return;  // garbage a test asked for
    for (const std::uint16_t i : held_[id]) in_use_[i] = false;
    held_[id].clear();
    const auto it = std::find(order_.begin(), order_.end(), id);
    if (it != order_.end()) order_.erase(it);
  }
  // §2.7.4.2 "The driver MUST place any device-writable descriptor elements after any
  // device-readable descriptor elements."
  static void add_element(const SplitDescriptor& d, SplitChain& c, bool& writable_seen) {
    const bool writable = d.flags & spec::DESC_F_WRITE;
    if (writable_seen && !writable) ADD_FAILURE() << "§2.7.4.2: a device-readable element after a device-writable one";
    writable_seen = writable_seen || writable;
    c.elements.push_back(d);
  }
  // §2.7.5.3: a table of len / 16 descriptors from index 0, chained by next.
  void read_indirect_table(const SplitDescriptor& ring, SplitChain& c, bool& writable_seen) {
    if (ring.len == 0 || ring.len % 16 != 0) {
      ADD_FAILURE() << "§2.7.5.3: indirect table of " << ring.len << " bytes is not a whole number of descriptors";
      return;
    }
    const std::uint32_t entries = ring.len / 16;
    std::uint32_t j = 0;
    for (std::uint32_t n = 0;; ++n) {
      if (n == entries) {
        ADD_FAILURE() << "§2.7.5.3: indirect chain longer than its table (a loop?)";
        return;
      }
      const SplitDescriptor d = read_descriptor(ring.addr + 16u * j);
      if (d.flags & spec::DESC_F_INDIRECT)
        ADD_FAILURE() << "§2.7.5.3.1: INDIRECT within an indirect descriptor (only one table per descriptor)";
      add_element(d, c, writable_seen);
      if (!(d.flags & spec::DESC_F_NEXT)) return;
      if (d.next >= entries) {
        ADD_FAILURE() << "§2.7.5.3: next " << d.next << " is outside the indirect table of " << entries;
        return;
      }
      // §2.7.5.3.1: in order, "next taking the value of 1 for the 1st descriptor, 2 for the 2nd".
      if (features_.in_order && d.next != j + 1)
        ADD_FAILURE() << "§2.7.5.3.1: in order, indirect descriptor " << j << " must chain to " << j + 1;
      j = d.next;
    }
  }

  std::uint64_t desc_, avail_, used_;
  std::uint16_t size_;
  Features features_;
  std::uint16_t last_avail_ = 0;     // the next available ring entry the device reads
  std::uint16_t next_in_order_ = 0;  // in order: where the next chain must start
  std::vector<std::vector<std::uint16_t>> held_;  // by head: the entries of chains the device holds
  std::vector<bool> in_use_;                      // by descriptor: in a chain the device holds
  std::deque<std::uint16_t> order_;               // heads held, in the order they were taken
};

// ---------------------------------------------------------------------------------------------
// Packed virtqueues (§2.8)

// §2.8.13 struct pvirtq_desc: addr at 0, len at 8, id at 12, flags at 14; 16 bytes.
struct PackedDescriptor {
  std::uint64_t addr;
  std::uint32_t len;
  std::uint16_t id;
  std::uint16_t flags;
};

// A buffer as a device reads it after the driver made it available.
struct PackedChain {
  std::uint16_t id = 0;                    // Buffer ID, from the last descriptor (§2.8.6)
  std::uint16_t slot = 0;                  // where its first descriptor lies
  bool wrap = true;                        // the wrap counter it was made available with
  std::uint16_t descriptors = 0;           // ring descriptors it takes (what a used one skips)
  bool indirect = false;                   // its descriptor refers to an indirect table (§2.8.7)
  PackedDescriptor first{};                // its first ring descriptor as read
  std::vector<PackedDescriptor> ring;      // its ring descriptors as read
  std::vector<PackedDescriptor> elements;  // the buffer's elements in order (the table's, if indirect)
};

class PackedDeviceModel {
 public:
  PackedDeviceModel(const virtio::ring::QueueAddresses& a, std::uint16_t size)
      : desc_(a.desc), driver_(a.driver), device_(a.device), size_(size) {}

  PackedDescriptor descriptor(std::uint16_t slot) const { return read_descriptor(desc_ + 16u * slot); }
  void write_descriptor(std::uint16_t slot, const PackedDescriptor& d) {
    const std::uint64_t a = desc_ + 16u * slot;
    store(a, d.addr);
    store(a + 8, d.len);
    store(a + 12, d.id);
    store(a + 14, d.flags);  // §2.8.21.1: flags last
  }
  // §2.8.1: available in wrap `w`: AVAIL equal to w, USED its inverse.
  static bool available_in(std::uint16_t flags, bool w) {
    return static_cast<bool>(flags & spec::DESC_F_AVAIL) == w && static_cast<bool>(flags & spec::DESC_F_USED) != w;
  }
  // §2.8.1 "To mark a descriptor as used, the device sets the VIRTQ_DESC_F_USED bit in Flags
  // to match the internal Device Ring Wrap Counter. It also sets the VIRTQ_DESC_F_AVAIL bit
  // to match the same value."
  static std::uint16_t used_flags(bool w) { return w ? spec::DESC_F_AVAIL | spec::DESC_F_USED : 0; }

  // Driver Event Suppression (§2.8.14; read-only for the device): off_wrap at 0, flags at 2.
  std::uint16_t driver_event_off_wrap() const { return load<std::uint16_t>(driver_); }
  std::uint16_t driver_event_flags() const { return load<std::uint16_t>(driver_ + 2); }
  // Device Event Suppression (written by the device).
  void set_device_event(std::uint16_t flags, std::uint16_t off = 0, bool wrap = false) {
    store<std::uint16_t>(device_, static_cast<std::uint16_t>(off | (wrap ? 0x8000 : 0)));
    store<std::uint16_t>(device_ + 2, flags);
  }

  std::uint16_t next_avail() const { return avail_slot_; }
  bool avail_wrap() const { return avail_wrap_; }
  std::uint16_t next_used() const { return used_slot_; }
  bool used_wrap() const { return used_wrap_; }

  // §2.8.2, §2.8.12: the device polls the next descriptor in ring order; when it is available
  // in the device's wrap, the buffer is it and the descriptors chained to it by NEXT.
  std::optional<PackedChain> pop() {
    std::uint16_t slot = avail_slot_;
    bool wrap = avail_wrap_;
    PackedDescriptor d = descriptor(slot);
    if (!available_in(d.flags, wrap)) return std::nullopt;
    PackedChain c;
    c.slot = slot;
    c.wrap = wrap;
    c.first = d;
    bool writable_seen = false;
    for (unsigned n = 0;; ++n) {
      if (n == size_) {  // §2.8.17 "MUST NOT create a descriptor list longer than the Queue Size"
        ADD_FAILURE() << "§2.8.17: list from slot " << c.slot << " is longer than the queue";
        return std::nullopt;
      }
      if (n > 0) {
        d = descriptor(slot);
        // §2.8.17 "A driver MUST NOT make the first descriptor in the list available before
        // all subsequent descriptors comprising the list are made available."
        if (!available_in(d.flags, wrap)) {
          ADD_FAILURE() << "§2.8.17: slot " << slot << " of the list from " << c.slot << " is not available yet";
          return std::nullopt;
        }
      }
      c.ring.push_back(d);
      ++c.descriptors;
      if (++slot == size_) {  // §2.8.1: the counter changes after the last descriptor of the ring
        slot = 0;
        wrap = !wrap;
      }
      if (d.flags & spec::DESC_F_INDIRECT) {
        // §2.8.19 "A driver MUST NOT write direct descriptors with DESC_F_INDIRECT set in a
        // scatter-gather list linked by VIRTQ_DESC_F_NEXT."
        if (n > 0 || (d.flags & spec::DESC_F_NEXT))
          ADD_FAILURE() << "§2.8.19: an indirect descriptor in a list linked by NEXT (slot " << c.slot << ")";
        c.indirect = true;
        read_indirect_table(d, c, writable_seen);
        c.id = d.id;
        break;
      }
      add_element(d, c, writable_seen);
      if (!(d.flags & spec::DESC_F_NEXT)) {
        c.id = d.id;  // §2.8.6 "Buffer ID is included in the last descriptor in the list."
        break;
      }
    }
    // §2.8.21.1 "Get the next free buffer id value": not one the device still holds.
    if (!outstanding_.insert(c.id).second)
      ADD_FAILURE() << "§2.8.21.1: buffer id " << c.id << " made available while the device holds it";
    avail_slot_ = slot;
    avail_wrap_ = wrap;
    order_.push_back(c);
    return c;
  }
  std::vector<PackedChain> pop_all() {
    std::vector<PackedChain> all;
    while (auto c = pop()) all.push_back(std::move(*c));
    return all;
  }

  // §2.8.6: one used descriptor for a buffer, written over the next used slot (§2.8.12 "in
  // the order in which they complete"), then the device skips the `skip` descriptors the
  // buffer took. Len and id are written before the flags (§2.8.15: the device changes nothing
  // after the USED bit). WRITE says whether the device wrote anything (§2.8.3).
  void push(std::uint16_t id, std::uint32_t len, std::uint16_t skip) {
    PackedDescriptor d = descriptor(used_slot_);
    d.len = len;
    d.id = id;
    d.flags = static_cast<std::uint16_t>(used_flags(used_wrap_) | (len > 0 ? spec::DESC_F_WRITE : 0));
    write_descriptor(used_slot_, d);
    outstanding_.erase(id);
    order_.erase(std::remove_if(order_.begin(), order_.end(), [&](const PackedChain& c) { return c.id == id; }),
                 order_.end());
    advance_used(skip);
  }
  void push(const PackedChain& c, std::uint32_t len) { push(c.id, len, c.descriptors); }
  // §2.8.8, in order: "a single used descriptor with the Buffer ID corresponding to the last
  // descriptor in the batch", "overwriting the first available descriptor in the batch"; the
  // device then skips the whole batch. The batch: every buffer taken and not given back, up
  // to and including `last_id`.
  void push_batch(std::uint16_t last_id, std::uint32_t len) {
    std::uint16_t skip = 0;
    while (!order_.empty()) {
      const PackedChain c = order_.front();
      order_.pop_front();
      outstanding_.erase(c.id);
      skip = static_cast<std::uint16_t>(skip + c.descriptors);
      if (c.id == last_id) break;
    }
    PackedDescriptor d = descriptor(used_slot_);
    d.len = len;
    d.id = last_id;
    d.flags = static_cast<std::uint16_t>(used_flags(used_wrap_) | (len > 0 ? spec::DESC_F_WRITE : 0));
    write_descriptor(used_slot_, d);
    advance_used(skip);
  }
  // What no honest device writes: a descriptor at the next used slot with any id, len and
  // flags. The device's positions do not move.
  void write_next_used(std::uint16_t id, std::uint32_t len, std::uint16_t flags) {
    PackedDescriptor d = descriptor(used_slot_);
    d.len = len;
    d.id = id;
    d.flags = flags;
    write_descriptor(used_slot_, d);
  }

  // §2.8.10 from the device's end: whether the driver asked for a used buffer notification
  // now, checking that it writes only what §2.8.14 defines.
  bool driver_wants_used_notification() const {
    const std::uint16_t flags = driver_event_flags();
    EXPECT_EQ(flags & ~0x3u, 0u) << "§2.8.14: reserved bits of the driver event flags are set";
    EXPECT_NE(flags & 0x3u, 0x3u) << "§2.8.10: event flags value 0x3 is reserved";
    return (flags & 0x3) == spec::EVENT_FLAGS_ENABLE;  // DESC is not used by netfront's driver
  }

 private:
  static PackedDescriptor read_descriptor(std::uint64_t a) {
    return {load<std::uint64_t>(a), load<std::uint32_t>(a + 8), load<std::uint16_t>(a + 12), load<std::uint16_t>(a + 14)};
  }
  void advance_used(std::uint16_t n) {
    for (std::uint16_t i = 0; i < n; ++i)
      if (++used_slot_ == size_) {  // §2.8.1: after marking the last descriptor of the ring used
        used_slot_ = 0;
        used_wrap_ = !used_wrap_;
      }
  }
  // §2.8.17 "The driver MUST place any device-writable descriptor elements after any
  // device-readable descriptor elements."
  static void add_element(const PackedDescriptor& d, PackedChain& c, bool& writable_seen) {
    const bool writable = d.flags & spec::DESC_F_WRITE;
    if (writable_seen && !writable) ADD_FAILURE() << "§2.8.17: a device-readable element after a device-writable one";
    writable_seen = writable_seen || writable;
    c.elements.push_back(d);
  }
  // §2.8.7: a table of len / 16 descriptors, read in order from its start.
  static void read_indirect_table(const PackedDescriptor& ring, PackedChain& c, bool& writable_seen) {
    if (ring.len == 0 || ring.len % 16 != 0) {
      ADD_FAILURE() << "§2.8.7: indirect table of " << ring.len << " bytes is not a whole number of descriptors";
      return;
    }
    for (std::uint32_t j = 0; j < ring.len / 16; ++j) {
      const PackedDescriptor d = read_descriptor(ring.addr + 16u * j);
      // §2.8.19 "The driver MUST NOT set any flags except DESC_F_WRITE within an indirect descriptor."
      if (d.flags & ~spec::DESC_F_WRITE)
        ADD_FAILURE() << "§2.8.19: indirect descriptor " << j << " has flags " << d.flags << " besides WRITE";
      add_element(d, c, writable_seen);
    }
  }

  std::uint64_t desc_, driver_, device_;
  std::uint16_t size_;
  // §2.8.1: the Device Ring Wrap Counter starts at 1; the device reads available descriptors
  // at one place and writes used ones at another, and keeps the counter for each.
  std::uint16_t avail_slot_ = 0;
  bool avail_wrap_ = true;
  std::uint16_t used_slot_ = 0;
  bool used_wrap_ = true;
  std::set<std::uint16_t> outstanding_;  // buffer ids the device holds
  std::deque<PackedChain> order_;        // buffers held, in the order they were taken
};

}  // namespace netfront::testing::ring_model
