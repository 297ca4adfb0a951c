// The queues of a device whose interface has no queue count (the legacy PCI interface,
// §4.1.4.8; virtio-mmio, §4.2): numbered from 0 while their size reads non-zero, counted when
// first asked after a reset or a feature change (§3.1.1 step 7: a device may have more with
// some features; QEMU's virtio-net has 2N+1 with MQ, 3 without), and which of them were given
// a ring since the last reset, so that only those are notified.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace netfront::virtio::transport {

class ProbedQueues {
 public:
  // QEMU's VIRTIO_QUEUE_MAX: a device claiming more is not believed beyond.
  static constexpr std::uint16_t kMax = 1024;

  // `max_size(i)`: queue i's size as the device shows it, 0 if it has none.
  template <typename MaxSize>
  std::uint16_t count(MaxSize&& max_size) {
    if (!count_) {
      std::uint16_t n = 0;
      while (n < kMax && max_size(n) != 0) ++n;
      count_ = n;
    }
    return *count_;
  }
  // The features changed: the count may have.
  void forget_count() noexcept { count_.reset(); }
  // The device was reset: its rings are gone, and the count is asked again.
  void reset() noexcept {
    enabled_.assign(enabled_.size(), false);
    count_.reset();
  }
  void enabled(std::uint16_t index) {
    if (enabled_.size() <= index) enabled_.resize(index + 1u);
    enabled_[index] = true;
  }
  bool may_notify(std::uint16_t index) const noexcept { return index < enabled_.size() && enabled_[index]; }

 private:
  std::optional<std::uint16_t> count_;
  std::vector<bool> enabled_;
};

}  // namespace netfront::virtio::transport
