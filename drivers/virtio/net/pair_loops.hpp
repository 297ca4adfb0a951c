// Which event loop polls each queue pair: the device's own, or another thread's after
// NetifQueue::run_on (docs/architecture.md, "Threads and the event loop"). A pair handed over
// is polled there by a PairPoller; whatever the device does to all its pairs (fail, reset,
// recover, close) happens with those loops held still between two iterations, after which
// each loop settles its own pairs on its own thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "drivers/virtio/net/pair_poller.hpp"
#include "drivers/virtio/net/queue_pair.hpp"
#include "drivers/virtio/transport/transport.hpp"
#include "netfront/event_loop.hpp"
#include "runtime/cross_loop.hpp"
#include "runtime/scoped_flag.hpp"

namespace netfront::virtio::net {

class PairLoops {
 public:
  // Every pair on the device's own loop (before the pairs are made).
  void reset(unsigned pairs) {
    owners_.assign(pairs, nullptr);
    pollers_.clear();
    pollers_.resize(pairs);
  }
  bool local(unsigned pair) const noexcept { return owners_[pair] == nullptr; }

  // `loop` polls pair `pair` from now on. Its poller is registered by that loop itself, so
  // anything posted there later (a pause) runs after it; it starts polling if `active`.
  void hand_over(unsigned pair, QueuePair& qp, EventLoop& loop, const transport::Transport& t,
                 std::chrono::milliseconds stall_timeout, bool active);

  // Runs `op` with every pair still: the loops that own pairs are held by a LoopPause (unless
  // an outer call holds them already), and each runs `settle` on its own thread after.
  template <typename Op>
  void hold_still(Op&& op, const std::function<void(EventLoop&)>& settle);

  // Calls fn(pair, poller) for each pair `loop` polls.
  template <typename Fn>
  void for_each_of(const EventLoop& loop, Fn&& fn) {
    for (unsigned i = 0; i < owners_.size(); ++i)
      if (owners_[i] == &loop) fn(i, *pollers_[i]);
  }

  // Whether a pair on another loop caught the device breaking a ring rule since last asked.
  // HOT PATH (every poll of the device): a plain load first, the exchange being a locked
  // instruction.
  bool take_broken() noexcept {
    return broken_.load(std::memory_order_relaxed) && broken_.exchange(false, std::memory_order_acquire);
  }

  // After close: the other loops have let go of their pairs (nothing of ours runs there any
  // more, and those loops may end); every pair counts as ours again.
  void let_go() { owners_.assign(owners_.size(), nullptr); }
  // Before the pairs themselves go.
  void drop_pollers() { pollers_.clear(); }

 private:
  std::vector<EventLoop*> owners_;  // per pair: the loop it was handed to, or nullptr (ours)
  std::vector<std::unique_ptr<PairPoller>> pollers_;
  std::atomic<bool> broken_{false};  // set by a pair's own loop, acted on by the device's
  unsigned pause_depth_ = 0;
};

template <typename Op>
void PairLoops::hold_still(Op&& op, const std::function<void(EventLoop&)>& settle) {
  std::vector<EventLoop*> loops;
  if (pause_depth_ == 0)
    for (EventLoop* owner : owners_)
      if (owner && std::find(loops.begin(), loops.end(), owner) == loops.end()) loops.push_back(owner);
  std::optional<runtime::LoopPause> pause;
  if (!loops.empty()) pause.emplace(std::move(loops), settle);
  runtime::ScopedDepth held(pause_depth_);
  op();
}

}  // namespace netfront::virtio::net
