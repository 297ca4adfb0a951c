#include "drivers/virtio/net/pair_poller.hpp"

#include "drivers/virtio/net/interrupt_watch.hpp"

namespace netfront::virtio::net {

void PairPoller::watch_interrupts(EventLoop& loop, const transport::Transport& t, unsigned pair) {
  watches_.clear();
  for (int fd : interrupt_fds_of(t, pair)) watches_.push_back(drain_on_wake(loop, fd));
}

bool PairPoller::arm_wakeup() {
  if (!active) return true;  // a failed or stopped device: nothing will happen here to wake for
  if (watches_.empty()) return false;
  if (pair_.enable_notifications()) return true;
  pair_.disable_notifications();
  return false;
}

}  // namespace netfront::virtio::net
