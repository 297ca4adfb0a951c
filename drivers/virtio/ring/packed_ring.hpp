// The driver side of a packed virtqueue (virtio 1.2 §2.8).
//
// One descriptor ring is shared both ways: the driver marks descriptors available with its
// wrap counter, the device overwrites them as used. The driver keeps its own record of every
// chain by buffer id (token, descriptor count) and advances past a used chain by that record,
// never by anything the device wrote (B5); a used descriptor is read once and validated (B1,
// B2, B7), and in-order batches are checked against what is in flight (B6).
//
// A chain becomes visible when its first descriptor's flags are written. add() writes every
// flag but the first of the batch since the last publish(), and publish() writes that one,
// exposing the batch at once (as the split ring's index does), then decides whether the
// device wants a notification for it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "drivers/virtio/ring/chain.hpp"
#include "drivers/virtio/ring/dma_memory.hpp"
#include "drivers/virtio/ring/ring_core.hpp"
#include "drivers/virtio/ring/ring_layout.hpp"
#include "drivers/virtio/ring/ring_options.hpp"
#include "drivers/virtio/ring/shared_memory.hpp"
#include "drivers/virtio/virtio_result.hpp"
#include "runtime/prefetch.hpp"

namespace netfront::virtio::ring {

class PackedRing : public RingCore {
 public:
  // A ring in device memory of its own.
  static Result<PackedRing> create(const RingOptions& options);
  // A ring in memory the caller provides and keeps for the ring's life: `ring` for the layout,
  // `indirect` for the tables when options.indirect_max > 0. What tests build rings on.
  static Result<PackedRing> over(const RingOptions& options, DmaMemory ring, DmaMemory indirect = {});

  std::uint16_t free_descriptors() const noexcept { return num_free_; }
  QueueAddresses addresses() const noexcept;

  bool add(std::span<const Segment> chain, std::uint64_t token) noexcept;
  // HOT PATH: one descriptor, the shape of nearly every frame (the header rides in its
  // headroom) and of every receive buffer. Inline into the transmit and refill paths, and the
  // ring's own state is read into locals and written back before the descriptor is touched:
  // a 16-bit store into the descriptor could alias the 16-bit members, and the compiler would
  // otherwise load them all again after it.
  [[gnu::always_inline]] bool add_one(const Segment& s, std::uint64_t token) noexcept {
    const std::uint16_t free = num_free_;
    if (broken() || free == 0) return false;
    const std::uint16_t slot = next_avail_;
    const bool wrap = avail_wrap_;
    const std::uint16_t id = take_id(slot);
    num_free_ = static_cast<std::uint16_t>(free - 1);
    if (slot + 1 == size_) {
      next_avail_ = 0;
      avail_wrap_ = !wrap;
    } else {
      next_avail_ = static_cast<std::uint16_t>(slot + 1);
    }
    inflight_.start(id, token, 1);
    // The descriptor line kWriteAhead slots on, asked for now: once per line, and only while
    // that slot is free (one in flight is still the device's to read).
    if (slot % kDescriptorsPerLine == 0 && free > kWriteAhead) {
      unsigned ahead = slot + kWriteAhead;
      if (ahead >= size_) ahead -= size_;
      runtime::prefetch_for_write(&desc_[ahead]);
    }
    const auto flags = static_cast<std::uint16_t>((s.device_writable ? VIRTQ_DESC_F_WRITE : 0) |
                                                  (wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED));
    pvirtq_desc& d = desc_[slot];
    d.addr = s.addr;
    make_available(d, s.len, id, flags);
    return true;
  }
  // §2.8.19: the chain as an indirect table, taking one ring slot. False when the ring has no
  // tables, the chain is longer than a table or no slot is free.
  bool add_indirect(std::span<const Segment> chain, std::uint64_t token) noexcept;
  bool publish() noexcept;
  bool take_used(UsedChain& out) noexcept {
    // HOT PATH: in order, most chains come out of a batch whose used descriptor was already
    // read and checked; those are handed out here, inline, without another look at the ring.
    if (batch_left_ > 0 && !broken()) [[likely]] return take_from_batch(out);
    return take_next_used(out);
  }
  // HOT PATH (transmit completions): see RingCore::drain_used_of.
  template <typename Sink>
  unsigned drain_used(Sink&& sink) noexcept {
    return drain_used_of(*this, sink);
  }
  bool has_used() const noexcept;

  void disable_notifications() noexcept;
  bool enable_notifications() noexcept;

  template <typename Drop>
  void reset(Drop&& drop) {
    inflight_.clear(drop);
    init_state();
  }

 private:
  PackedRing(const RingOptions& o, DmaMemory mem, DmaMemory indirect);
  static_assert(sizeof(pvirtq_desc) * kDescriptorsPerLine == 64);
  friend class RingCore;  // drain_used_of: take_next_used, finish_batch
  void init_state() noexcept;
  // The rest of the in-order batch, tokens to sink.
  template <typename Sink>
  void finish_batch(Sink& sink) noexcept {
    const std::uint32_t descriptors = finish_batch_records(sink);
    advance_used(static_cast<std::uint16_t>(descriptors));  // at most a ring's worth
    num_free_ = static_cast<std::uint16_t>(num_free_ + descriptors);
  }
  // The buffer id for a chain starting at `slot`: in order the slot itself (see
  // InflightTracker), out of order one off the free stack.
  std::uint16_t take_id(std::uint16_t slot) noexcept { return in_order_ ? slot : free_ids_[--free_top_]; }
  void return_free_id(std::uint16_t id) noexcept { free_ids_[free_top_++] = id; }
  bool take_next_used(UsedChain& out) noexcept;
  void advance_used(std::uint16_t n) noexcept {
    next_used_ = static_cast<std::uint16_t>(next_used_ + n);
    if (next_used_ >= size_) {
      next_used_ = static_cast<std::uint16_t>(next_used_ - size_);
      used_wrap_ = !used_wrap_;
    }
  }
  bool complete(const CompletedChain& c, std::uint32_t len, bool len_valid, UsedChain& out) noexcept {
    advance_used(c.descriptors);  // B5: by our own record of the chain, not by device data
    num_free_ = static_cast<std::uint16_t>(num_free_ + c.descriptors);
    out = {c.token, len, len_valid};
    return true;
  }
  bool take_from_batch(UsedChain& out) noexcept {
    std::uint32_t len;
    bool len_valid;
    const CompletedChain c = take_batch_record(len, len_valid);
    return complete(c, len, len_valid, out);
  }
  // §2.8.21.1: a batch of buffers may go live at once, the first descriptor's flags written
  // after all the others. The device takes descriptors in ring order, so it cannot use the
  // rest before the first: until publish() it sees nothing of the batch, and then it sees all
  // of it. A device polling the ring would otherwise read each new descriptor's cache line as
  // soon as it is written, and take it from the driver's CPU once per descriptor instead of
  // once per line.
  // Writes len and id of `d` (its addr is written already) and makes it available, or, as the
  // batch's first, keeps its flags for publish().
  void make_available(pvirtq_desc& d, std::uint32_t len, std::uint16_t id, std::uint16_t flags) noexcept {
    if (batch_first_ == nullptr) {
      d.len = len;
      d.id = id;
      batch_first_ = &d;
      batch_first_flags_ = flags;
    } else {
      write_len_id_flags_release(d, len, id, flags);  // §2.8.6: live with its flags, after addr
    }
  }
  // Whether the next slot to look at for a used descriptor holds a chain the device may have
  // used: one of ours in flight, and published (an unpublished first descriptor still shows
  // the flags of the lap before, which can look used).
  bool used_slot_live() const noexcept { return inflight_.count() > 0 && batch_first_ != &desc_[next_used_]; }

  bool event_idx_;
  // Shared with the device:
  pvirtq_desc* desc_;
  pvirtq_event_suppress* driver_event_;
  const pvirtq_event_suppress* device_event_;
  // Private (§2.8.1: both wrap counters start at 1):
  // Out of order: buffer ids not in flight, a stack: free_ids_[0, free_top_). Never empty
  // while a descriptor is free, since every chain in flight holds at least one descriptor.
  std::vector<std::uint16_t> free_ids_;
  std::uint16_t free_top_ = 0;
  std::uint16_t num_free_ = 0;       // free descriptor slots
  std::uint16_t next_avail_ = 0;
  bool avail_wrap_ = true;
  std::uint16_t next_used_ = 0;
  bool used_wrap_ = true;
  std::uint16_t published_avail_ = 0;  // next_avail_ at the last publish()
  bool published_wrap_ = true;
  // The first descriptor added since the last publish(), whose flags publish() writes.
  pvirtq_desc* batch_first_ = nullptr;
  std::uint16_t batch_first_flags_ = 0;
};

}  // namespace netfront::virtio::ring
