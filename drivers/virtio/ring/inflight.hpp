// The driver's private record of chains it gave the device, by chain id (split: head
// descriptor index; packed: buffer id). Everything needed to complete a chain lives here, in
// driver memory, never re-read from the ring (checklist B4): the caller's token, how many
// descriptors the chain holds, and, for VIRTIO_F_IN_ORDER, where it stands in the order chains
// were made available, so that one used entry can complete a whole batch (§2.7.9, §2.8.8).
//
// In order, a chain's id is where it starts in the ring: both layouts use their descriptors
// in ring order then (§2.7.5: the split table sequentially; the packed ring always, and its
// buffer id is the head slot), so each chain's id is the one before's plus that chain's
// descriptors, from 0. The oldest chain is found from the one before it, with no list of ids
// kept: a chain posted is one record store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace netfront::virtio::ring {

struct CompletedChain {
  std::uint64_t token;     // what the caller attached when it posted the chain
  std::uint16_t descriptors;
};

class InflightTracker {
 public:
  // Ids 0 to n - 1. With VIRTIO_F_IN_ORDER, ids are assigned as the file comment says and
  // chains complete through finish_oldest(); otherwise through finish(id).
  explicit InflightTracker(std::uint16_t n) : slots_(n) {}

  std::uint16_t count() const noexcept { return count_; }
  bool outstanding(std::uint32_t id) const noexcept { return id < slots_.size() && slots_[id].outstanding(); }

  // HOT PATH: once per posted chain. `descriptors` is at least 1. The chain's place in the
  // posting order (counted from the oldest's, 16 bits) is recorded whatever the mode: a store
  // either way, and no branch.
  [[gnu::always_inline]] void start(std::uint16_t id, std::uint64_t token, std::uint16_t descriptors) noexcept {
    const auto sequence = static_cast<std::uint16_t>(oldest_sequence_ + count_);
    slots_[id] = Slot{token, descriptors | std::uint32_t{sequence} << 16};
    ++count_;
  }

  // How many chains, oldest first, an in-order used entry naming `id` completes; 0 if `id`
  // is not in flight. O(1): each chain remembers its place in the order.
  std::uint16_t batch_ending_at(std::uint16_t id) const noexcept {
    if (!outstanding(id)) return 0;
    const auto k = static_cast<std::uint16_t>(slots_[id].sequence() - oldest_sequence_);
    return k < count_ ? static_cast<std::uint16_t>(k + 1) : 0;
  }

  // Completes the oldest chain still in flight (in-order mode: devices complete from here).
  CompletedChain finish_oldest() noexcept {
    const std::uint16_t id = oldest_;
    const CompletedChain c = finish_slot(id);
    oldest_ = after(id, c.descriptors);
    ++oldest_sequence_;
    return c;
  }

  // Completes the k oldest chains (in-order mode, k <= count()), calling f(chain) for each:
  // one loop with the oldest id in a register, for a whole used batch.
  template <typename F>
  void finish_oldest(std::uint16_t k, F&& f) noexcept {
    std::uint16_t id = oldest_;
    for (std::uint16_t i = 0; i < k; ++i) {
      Slot& s = slots_[id];
      const CompletedChain c{s.token, s.descriptors()};
      s.shape = 0;
      f(c);
      id = after(id, c.descriptors);
    }
    oldest_ = id;
    oldest_sequence_ = static_cast<std::uint16_t>(oldest_sequence_ + k);
    count_ = static_cast<std::uint16_t>(count_ - k);
  }

  // Completes `id`, which must be outstanding (out-of-order mode).
  CompletedChain finish(std::uint16_t id) noexcept { return finish_slot(id); }

  // Forgets everything (after a device reset); calls drop(token) for each chain in flight.
  // The next chain's id is 0 again, as the rings start over from their first entry.
  template <typename Drop>
  void clear(Drop&& drop) {
    for (auto& s : slots_) {
      if (s.outstanding()) drop(s.token);
      s.shape = 0;
    }
    count_ = 0;
    oldest_ = 0;
    oldest_sequence_ = 0;
  }

 private:
  // Two words, so that starting a chain is two stores (on the transmit path every store
  // waits its turn in the store buffer behind the frame's and the descriptor's).
  struct Slot {
    std::uint64_t token = 0;
    std::uint32_t shape = 0;  // descriptors | sequence << 16; 0: not in flight (a chain has >= 1)
    std::uint16_t descriptors() const noexcept { return static_cast<std::uint16_t>(shape); }
    std::uint16_t sequence() const noexcept { return static_cast<std::uint16_t>(shape >> 16); }
    bool outstanding() const noexcept { return descriptors() != 0; }
  };
  // The id of the chain posted after chain `id` of `descriptors` (in order). A compare, not a
  // `%`: a queue size need not be a power of two (packed rings), and a division costs tens of
  // cycles per frame.
  std::uint16_t after(std::uint16_t id, std::uint16_t descriptors) const noexcept {
    const std::size_t next = std::size_t{id} + descriptors;
    return static_cast<std::uint16_t>(next < slots_.size() ? next : next - slots_.size());
  }
  CompletedChain finish_slot(std::uint16_t id) noexcept {
    Slot& s = slots_[id];
    const CompletedChain c{s.token, s.descriptors()};
    s.shape = 0;
    --count_;
    return c;
  }

  std::vector<Slot> slots_;
  std::uint16_t oldest_ = 0;           // in order: the id of the oldest chain in flight (or the next posted)
  std::uint16_t oldest_sequence_ = 0;  // in order: its place in the posting order
  std::uint16_t count_ = 0;
};

}  // namespace netfront::virtio::ring
