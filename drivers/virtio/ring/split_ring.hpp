// The driver side of a split virtqueue (virtio 1.2 §2.7).
//
// Shared memory holds the descriptor table, the available ring and the used ring. The driver's
// own state (free descriptors, chain links, tokens, indices) is private: completion never
// re-reads a descriptor (B4), each used entry is read once and validated before use (B1-B3,
// B6, B7), and a violation marks the ring broken instead of touching memory out of bounds.
//
// add() places chains without exposing them; publish() exposes all of them with one index
// store and says whether the device wants a notification (one doorbell per burst).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "drivers/virtio/ring/chain.hpp"
#include "drivers/virtio/ring/dma_memory.hpp"
#include "drivers/virtio/ring/ring_core.hpp"
#include "drivers/virtio/ring/ring_layout.hpp"
#include "drivers/virtio/ring/ring_options.hpp"
#include "drivers/virtio/virtio_result.hpp"
#include "runtime/prefetch.hpp"

namespace netfront::virtio::ring {

class SplitRing : public RingCore {
 public:
  // A ring in device memory of its own.
  static Result<SplitRing> create(const RingOptions& options);
  // A ring in memory the caller provides and keeps for the ring's life: `ring` for the layout,
  // `indirect` for the tables when options.indirect_max > 0. What tests build rings on.
  static Result<SplitRing> over(const RingOptions& options, DmaMemory ring, DmaMemory indirect = {});

  std::uint16_t free_descriptors() const noexcept { return num_free_; }
  QueueAddresses addresses() const noexcept;

  // Places a chain (readable segments first, then writable ones). False when there are not
  // enough free descriptors or the ring is broken; nothing is changed then.
  bool add(std::span<const Segment> chain, std::uint64_t token) noexcept;
  // HOT PATH: one descriptor, the shape of nearly every frame and of every receive buffer.
  // Inline into the transmit and refill paths; private state is updated before the shared
  // stores, which the compiler must assume could alias it.
  [[gnu::always_inline]] bool add_one(const Segment& s, std::uint64_t token) noexcept {
    const std::uint16_t free = num_free_;
    if (broken() || free == 0) return false;
    const std::uint16_t head = free_head_;
    const std::uint16_t avail = avail_next_;
    free_head_ = next_[head];
    num_free_ = static_cast<std::uint16_t>(free - 1);
    avail_next_ = static_cast<std::uint16_t>(avail + 1);
    inflight_.start(head, token, 1);
    // Lines ahead asked for now (see runtime::prefetch_for_write), only while they hold
    // nothing in flight: the available ring's (every half line: its entries start 4 bytes into
    // one), and in order (the table used in sequence) the table's.
    if (avail % 16 == 0 && free > kWriteAheadEntries)
      runtime::prefetch_for_write(&avail_ring_[(avail + kWriteAheadEntries) & mask_]);
    if (in_order_ && head % kDescriptorsPerLine == 0 && free > kWriteAhead)
      runtime::prefetch_for_write(&desc_[(head + kWriteAhead) & mask_]);
    desc_[head] = {s.addr, s.len, static_cast<std::uint16_t>(s.device_writable ? VIRTQ_DESC_F_WRITE : 0), 0};
    avail_ring_[avail & mask_] = head;
    return true;
  }
  // §2.7.5.3: the chain as an indirect table, taking one ring descriptor. False when the ring
  // has no tables, the chain is longer than a table or no descriptor is free.
  bool add_indirect(std::span<const Segment> chain, std::uint64_t token) noexcept;
  // Exposes every chain added since the last call; returns whether to notify the device.
  bool publish() noexcept;
  // The next used chain, validated. False when there is none (check broken() for why).
  bool take_used(UsedChain& out) noexcept {
    // HOT PATH: in order, most chains come out of a batch whose used entry was already read
    // and checked; those are handed out here, inline, without another look at the ring.
    if (batch_left_ > 0 && !broken()) [[likely]] return take_from_batch(out);
    return take_next_used(out);
  }
  // HOT PATH (transmit completions): see RingCore::drain_used_of.
  template <typename Sink>
  unsigned drain_used(Sink&& sink) noexcept {
    return drain_used_of(*this, sink);
  }
  bool has_used() const noexcept;

  // Used-buffer notifications: off while polling; on (returning whether work is already
  // there, to close the race) before the loop sleeps (§2.7.7).
  void disable_notifications() noexcept;
  bool enable_notifications() noexcept;

  // After the device was reset: forget every chain in flight, calling drop(token) for each,
  // and start again from an empty ring.
  template <typename Drop>
  void reset(Drop&& drop) {
    inflight_.clear(drop);
    init_state();
  }

 private:
  SplitRing(const RingOptions& o, DmaMemory mem, DmaMemory indirect);
  friend class RingCore;  // drain_used_of: take_next_used, finish_batch
  void init_state() noexcept;
  // The rest of the in-order batch, tokens to sink.
  template <typename Sink>
  void finish_batch(Sink& sink) noexcept {
    const std::uint32_t descriptors = finish_batch_records(sink);
    num_free_ = static_cast<std::uint16_t>(num_free_ + descriptors);  // in order: nothing to relink
  }
  std::uint16_t alloc_descriptors(std::uint16_t n) noexcept;
  void free_chain(std::uint16_t head, std::uint16_t descriptors) noexcept;
  bool take_from_batch(UsedChain& out) noexcept {
    const CompletedChain c = take_batch_record(out.len, out.len_valid);
    num_free_ = static_cast<std::uint16_t>(num_free_ + c.descriptors);  // in order: nothing to relink
    out.token = c.token;
    return true;
  }
  bool take_next_used(UsedChain& out) noexcept;

  static_assert(sizeof(virtq_desc) * kDescriptorsPerLine == 64);
  static constexpr unsigned kWriteAheadEntries = 32;  // available ring: one line ahead

  std::uint16_t mask_;
  bool event_idx_;
  SplitLayout layout_;
  // Shared with the device:
  virtq_desc* desc_;
  std::uint16_t* avail_flags_;
  std::uint16_t* avail_idx_;
  std::uint16_t* avail_ring_;
  std::uint16_t* used_event_;
  const std::uint16_t* used_flags_;
  const std::uint16_t* used_idx_;
  const virtq_used_elem* used_ring_;
  const std::uint16_t* avail_event_;
  // Private:
  std::vector<std::uint16_t> next_;  // chain links and the free list
  std::uint16_t free_head_ = 0;       // out-of-order: free list head; in-order: next descriptor
  std::uint16_t num_free_ = 0;
  std::uint16_t avail_next_ = 0;       // index the next added chain gets
  std::uint16_t avail_published_ = 0;  // index the device has seen
  std::uint16_t last_used_ = 0;        // next used entry to consume
  std::uint16_t used_seen_ = 0;        // used->idx as last read
};

}  // namespace netfront::virtio::ring
