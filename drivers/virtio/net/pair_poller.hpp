// Polls one queue pair handed over to another thread's loop (VirtioNetDevice::hand_over).
// `active` is written only while that loop is held still (runtime::LoopPause), so it needs no
// ordering of its own. When the transport gives the pair's queues notification fds, that loop
// may sleep too: the same arm and re-check as the device's own. A pair that catches the device
// breaking a ring rule stops here and raises `broken`; the device's own loop does the rest.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "drivers/virtio/net/interrupt_watch.hpp"
#include "drivers/virtio/net/queue_pair.hpp"
#include "drivers/virtio/transport/transport.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/poller.hpp"

namespace netfront::virtio::net {

class PairPoller final : public Poller {
 public:
  // Progress and device status are looked at every this many polls (a few ms when busy).
  static constexpr std::uint64_t kCheckInterval = 4096;

  PairPoller(QueuePair& pair, std::chrono::milliseconds stall_timeout, std::atomic<bool>& broken)
      : pair_(pair), stall_timeout_(stall_timeout), broken_(broken) {}

  // On the owning loop's thread. On failure nothing is watched and that loop keeps polling.
  // With the watches that loop may sleep, and a sleeping loop does not poll: a timer of its own
  // then runs the pair's watchdog (F10), as the device's does for the pairs of its own loop.
  Result<> watch_interrupts(EventLoop& loop, const transport::Transport& t, unsigned pair);
  // On the owning loop's thread.
  void stop_watching() {
    watches_.clear();
    watchdog_.reset();
  }

  bool arm_wakeup() override;
  void disarm_wakeup() override {
    if (active) pair_.disable_notifications();
  }
  // HOT PATH: once per iteration of the owning loop.
  unsigned poll() override {
    if (!active) return 0;
    const unsigned work = pair_.poll();
    if (++polls_ % kCheckInterval == 0) [[unlikely]]
      pair_.watch_progress(std::chrono::steady_clock::now(), stall_timeout_);
    if (pair_.error() != ring::RingError::None) [[unlikely]] {
      active = false;
      broken_.store(true, std::memory_order_release);
    }
    return work;
  }

  bool active = false;
  bool registered = false;  // added to the owning loop (set and cleared on that loop)

 private:
  QueuePair& pair_;
  std::chrono::milliseconds stall_timeout_;
  std::atomic<bool>& broken_;
  std::uint64_t polls_ = 0;
  InterruptWatches watches_;
  std::optional<Timer> watchdog_;
};

}  // namespace netfront::virtio::net
