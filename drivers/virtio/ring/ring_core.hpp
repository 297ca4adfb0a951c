// What split and packed rings share on the driver side: the ring's memory and indirect tables,
// the private record of chains in flight, the "broken" state, and the checks every used entry
// must pass whatever the layout (checklist B1, B2, B6). Each layout adds its own memory format
// on top.
#pragma once

#include <cstdint>
#include <utility>

#include "drivers/virtio/ring/chain.hpp"
#include "drivers/virtio/ring/dma_memory.hpp"
#include "drivers/virtio/ring/inflight.hpp"
#include "drivers/virtio/ring/ring_error.hpp"
#include "drivers/virtio/ring/ring_options.hpp"

namespace netfront::virtio::ring {

class RingCore {
 public:
  std::uint16_t size() const noexcept { return size_; }
  std::uint16_t in_flight() const noexcept { return inflight_.count(); }
  bool broken() const noexcept { return error_ != RingError::None; }
  RingError error() const noexcept { return error_; }
  void mark_broken(RingError why) noexcept {
    if (error_ == RingError::None) error_ = why;
  }
  bool has_indirect() const noexcept { return indirect_max_ > 0; }
  // After a reset the device did not confirm (A12): the ring's memory and every chain in
  // flight stay the device's for good. Nothing is freed or reused; the ring is not used again.
  void abandon() noexcept {
    inflight_.clear([](std::uint64_t) {});
    mem_.abandon();
    indirect_.abandon();
  }

 protected:
  RingCore(const RingOptions& o, DmaMemory mem, DmaMemory indirect)
      : size_(o.size), in_order_(o.in_order), inflight_(o.size), mem_(std::move(mem)),
        indirect_(std::move(indirect)), indirect_max_(o.indirect_max) {}

  void reset_core() noexcept {
    error_ = RingError::None;
    batch_left_ = 0;
  }

  // B1, B2: a used id must name a chain that is in flight. Marks the ring broken otherwise.
  bool used_id_valid(std::uint32_t id) noexcept {
    if (id >= size_) {
      mark_broken(RingError::IdOutOfRange);
      return false;
    }
    if (!inflight_.outstanding(id)) {
      mark_broken(RingError::IdNotOutstanding);
      return false;
    }
    return true;
  }

  // In order (§2.7.9, §2.8.8), one used entry naming `id` completes every chain up to it;
  // that batch may not exceed `limit` chains (B6). On success the chains are handed out one
  // at a time by the layout's take_from_batch(), the last one with `len`.
  bool start_batch(std::uint16_t id, std::uint32_t len, std::uint16_t limit) noexcept {
    const std::uint16_t batch = inflight_.batch_ending_at(id);
    if (batch == 0 || batch > limit) {
      mark_broken(RingError::InOrderBatchInvalid);
      return false;
    }
    batch_left_ = batch;
    batch_len_ = len;
    return true;
  }

  // The next chain of the current batch: its record, and the length to report.
  CompletedChain take_batch_record(std::uint32_t& len, bool& len_valid) noexcept {
    const CompletedChain c = inflight_.finish_oldest();
    --batch_left_;
    len_valid = batch_left_ == 0;
    len = len_valid ? batch_len_ : 0;
    return c;
  }

  // Hands each used chain's token to `sink`, in order, and the rest of an in-order batch in
  // one loop (its length means nothing on transmit, C3). Returns how many chains were taken.
  // The layout supplies take_next_used() and finish_batch().
  template <typename Layout, typename Sink>
  static unsigned drain_used_of(Layout& ring, Sink& sink) noexcept {
    unsigned n = 0;
    for (UsedChain u;;) {
      if (ring.batch_left_ > 0 && !ring.broken()) {
        n += ring.batch_left_;
        ring.finish_batch(sink);
        continue;
      }
      if (!ring.take_next_used(u)) return n;
      sink(u.token);
      ++n;
    }
  }

  // The rest of the current in-order batch, oldest first, in one loop: chain(token) for each. Returns how many descriptors the chains held. Lengths are not reported.
  template <typename Chain>
  std::uint32_t finish_batch_records(Chain&& chain) noexcept {
    const std::uint16_t k = batch_left_;
    batch_left_ = 0;
    std::uint32_t descriptors = 0;
    inflight_.finish_oldest(k, [&](const CompletedChain& c) {
      descriptors += c.descriptors;
      chain(c.token);
    });
    return descriptors;
  }

  // add_one() asks for the descriptor line this far ahead (see runtime::prefetch_for_write):
  // far enough that the line has arrived when the store comes, near enough that it is still
  // in the cache (docs/benchmarks.md). Both layouts' descriptors are 16 bytes, four to a line.
  static constexpr unsigned kDescriptorsPerLine = 4;
  static constexpr unsigned kWriteAhead = 16;

  std::uint16_t size_;
  bool in_order_;
  InflightTracker inflight_;
  std::uint16_t batch_left_ = 0;  // in-order: chains of the current batch still to hand out
  DmaMemory mem_;                 // the ring itself, in the layout's format
  DmaMemory indirect_;            // one table of indirect_max_ descriptors per ring entry or buffer id
  std::uint16_t indirect_max_ = 0;

 private:
  RingError error_ = RingError::None;
  std::uint32_t batch_len_ = 0;  // in-order: len of the batch's last chain
};

}  // namespace netfront::virtio::ring
