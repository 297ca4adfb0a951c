// The driver's private record of chains it gave the device, by chain id (split: head
// descriptor index; packed: buffer id). Everything needed to complete a chain lives here, in
// driver memory, never re-read from the ring (checklist B4): the caller's token, how many
// descriptors the chain holds, and, for VIRTIO_F_IN_ORDER, the order chains were made available
// so that one used entry can complete a whole batch (§2.7.9, §2.8.11).
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
  // `in_order`: chains complete in the order they were posted (VIRTIO_F_IN_ORDER), so the
  // order is recorded and completion goes through finish_oldest().
  InflightTracker(std::uint16_t n, bool in_order) : slots_(n), order_(in_order ? n : 0) {}

  std::uint16_t count() const noexcept { return count_; }
  bool outstanding(std::uint32_t id) const noexcept { return id < slots_.size() && slots_[id].outstanding(); }
  std::uint16_t descriptors_of(std::uint16_t id) const noexcept { return slots_[id].descriptors(); }

  // HOT PATH: once per posted chain. `descriptors` is at least 1.
  [[gnu::always_inline]] void start(std::uint16_t id, std::uint64_t token, std::uint16_t descriptors) noexcept {
    std::uint32_t position = 0;
    if (!order_.empty()) {
      position = static_cast<std::uint32_t>(order_index(count_));
      order_[position] = id;
    }
    slots_[id] = Slot{token, descriptors | position << 16};
    ++count_;
  }

  // The oldest chain still in flight (in-order devices complete from here).
  std::uint16_t oldest() const noexcept { return order_[first_]; }

  // How many chains, oldest first, an in-order used entry naming `id` completes; 0 if `id`
  // is not in flight. O(1): each chain remembers where it stands in the order.
  std::uint16_t batch_ending_at(std::uint16_t id) const noexcept {
    if (!outstanding(id)) return 0;
    const std::size_t position = slots_[id].position();
    const std::size_t k = position >= first_ ? position - first_ : position + order_.size() - first_;
    return k < count_ ? static_cast<std::uint16_t>(k + 1) : 0;
  }

  // Completes the oldest chain (in-order mode).
  CompletedChain finish_oldest() noexcept {
    const std::uint16_t id = oldest();
    if (++first_ == order_.size()) first_ = 0;
    return finish_slot(id);
  }

  // Completes the k oldest chains (in-order mode, k <= count()), calling f(id, chain) for
  // each: one loop with the position in a register, for a whole used batch.
  template <typename F>
  void finish_oldest(std::uint16_t k, F&& f) noexcept {
    std::size_t first = first_;
    const std::size_t n = order_.size();
    for (std::uint16_t i = 0; i < k; ++i) {
      const std::uint16_t id = order_[first];
      if (++first == n) first = 0;
      Slot& s = slots_[id];
      const CompletedChain c{s.token, s.descriptors()};
      s.shape = 0;
      f(id, c);
    }
    first_ = static_cast<std::uint16_t>(first);
    count_ = static_cast<std::uint16_t>(count_ - k);
  }

  // Completes `id`, which must be outstanding (out-of-order mode).
  CompletedChain finish(std::uint16_t id) noexcept { return finish_slot(id); }

  // Forgets everything (after a device reset); calls drop(token) for each chain in flight.
  template <typename Drop>
  void clear(Drop&& drop) {
    for (auto& s : slots_) {
      if (s.outstanding()) drop(s.token);
      s.shape = 0;
    }
    count_ = 0;
    first_ = 0;
  }

 private:
  // Two words, so that starting a chain is two stores (on the transmit path every store
  // waits its turn in the store buffer behind the frame's and the descriptor's).
  struct Slot {
    std::uint64_t token = 0;
    std::uint32_t shape = 0;  // descriptors | position << 16; 0: not in flight (a chain has >= 1)
    std::uint16_t descriptors() const noexcept { return static_cast<std::uint16_t>(shape); }
    std::uint16_t position() const noexcept { return static_cast<std::uint16_t>(shape >> 16); }  // in order_
    bool outstanding() const noexcept { return descriptors() != 0; }
  };
  // Where the k-th oldest chain's id is kept (k < size). A compare, not a `%`: a queue size
  // need not be a power of two (packed rings), and a division costs tens of cycles per frame.
  std::size_t order_index(std::uint16_t k) const noexcept {
    const std::size_t i = std::size_t{first_} + k;
    return i < order_.size() ? i : i - order_.size();
  }
  CompletedChain finish_slot(std::uint16_t id) noexcept {
    Slot& s = slots_[id];
    const CompletedChain c{s.token, s.descriptors()};
    s.shape = 0;
    --count_;
    return c;
  }

  std::vector<Slot> slots_;
  std::vector<std::uint16_t> order_;  // in-order mode: ids in the order they were made available
  std::uint16_t first_ = 0;
  std::uint16_t count_ = 0;
};

}  // namespace netfront::virtio::ring
