// Working across event loops, for the rare moments when one thread must touch what another
// loop owns (a device reset while its queue pairs run on other cores). The data path never
// uses these: each loop owns its state, and these only stop or call into it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "netfront/event_loop.hpp"
#include "netfront/io.hpp"

namespace netfront::runtime {

// Holds other loops still: a task posted to each spins between two of its iterations until
// the LoopPause is destroyed, so the holder may touch their state meanwhile. After release,
// `after(loop)` runs on each loop's own thread (for work only the owner may do, such as
// resuming its coroutines), and the destructor returns only once every `after` has run.
// Waits are bounded by `limit`: a loop that never answers (not running) is logged, not waited
// for forever.
class LoopPause {
 public:
  LoopPause(std::vector<EventLoop*> loops, std::function<void(EventLoop&)> after,
            std::chrono::milliseconds limit = std::chrono::seconds(5));
  ~LoopPause();
  LoopPause(const LoopPause&) = delete;
  LoopPause& operator=(const LoopPause&) = delete;
  // Whether every loop is held (false only after a timeout).
  bool holding() const noexcept { return holding_; }

 private:
  struct Shared {
    std::atomic<unsigned> arrived{0};
    std::atomic<bool> released{false};
    std::atomic<unsigned> finished{0};
    std::function<void(EventLoop&)> after;
  };
  std::shared_ptr<Shared> shared_;
  unsigned count_;
  std::chrono::milliseconds limit_;
  bool holding_ = true;
};

// Runs `fn` on `target`'s thread and completes, on the calling thread's loop, once it has run.
io<void> call_on(EventLoop& target, std::function<void()> fn);

}  // namespace netfront::runtime
