#include "drivers/virtio/net/pair_loops.hpp"

#include "runtime/log.hpp"

namespace netfront::virtio::net {

void PairLoops::hand_over(unsigned pair, QueuePair& qp, EventLoop& loop, const transport::Transport& t,
                          std::chrono::milliseconds stall_timeout, bool active) {
  owners_[pair] = &loop;
  pollers_[pair] = std::make_unique<PairPoller>(qp, stall_timeout, broken_);
  PairPoller* poller = pollers_[pair].get();
  poller->active = active;
  loop.post([poller, &loop, pair, &t] {
    loop.add_poller(*poller);
    poller->registered = true;
    if (auto watched = poller->watch_interrupts(loop, t, pair); !watched)
      runtime::logger("net").warn("queue pair {}: {}; its loop will keep polling", pair, watched.error().to_string());
  });
}

}  // namespace netfront::virtio::net
