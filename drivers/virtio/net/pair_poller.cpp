#include "drivers/virtio/net/pair_poller.hpp"

#include "drivers/virtio/net/tx_watchdog.hpp"

namespace netfront::virtio::net {

Result<> PairPoller::watch_interrupts(EventLoop& loop, const transport::Transport& t, unsigned pair) {
  watches_.clear();
  auto watches = drain_on_wake(loop, interrupt_fds_of(t, pair));
  if (!watches) return std::move(watches).error();
  watches_ = std::move(*watches);
  watchdog_.emplace(loop, [this] {
    if (active) pair_.watch_progress(std::chrono::steady_clock::now(), stall_timeout_);
  });
  watchdog_->arm_periodic(TxWatchdog::look_period(stall_timeout_));
  return Ok{};
}

bool PairPoller::arm_wakeup() {
  if (!active) return true;  // a failed or stopped device: nothing will happen here to wake for
  if (watches_.empty()) return false;
  if (pair_.enable_notifications()) return true;
  pair_.disable_notifications();
  return false;
}

}  // namespace netfront::virtio::net
