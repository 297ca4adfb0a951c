#include "runtime/cross_loop.hpp"

#include <thread>

#include "runtime/log.hpp"

namespace netfront::runtime {
namespace {
template <typename Done>
bool wait_for(Done&& done, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}
}  // namespace

LoopPause::LoopPause(std::vector<EventLoop*> loops, std::function<void(EventLoop&)> after, std::chrono::milliseconds limit)
    : shared_(std::make_shared<Shared>()), count_(static_cast<unsigned>(loops.size())), limit_(limit) {
  shared_->after = std::move(after);
  for (EventLoop* loop : loops) {
    loop->post([s = shared_, loop] {
      s->arrived.fetch_add(1, std::memory_order_acq_rel);
      while (!s->released.load(std::memory_order_acquire)) std::this_thread::yield();
      if (s->after) s->after(*loop);
      s->finished.fetch_add(1, std::memory_order_acq_rel);
    });
  }
  holding_ = wait_for([&] { return shared_->arrived.load(std::memory_order_acquire) == count_; }, limit_);
  if (!holding_)
    logger("runtime").error("{} of {} event loops did not stop within {} ms; a loop that owns a queue must keep running",
                            count_ - shared_->arrived.load(), count_, limit_.count());
}

LoopPause::~LoopPause() {
  shared_->released.store(true, std::memory_order_release);
  if (!wait_for([&] { return shared_->finished.load(std::memory_order_acquire) == shared_->arrived.load(); }, limit_))
    logger("runtime").error("event loops did not finish their part after a pause within {} ms", limit_.count());
}

io<void> call_on(EventLoop& target, std::function<void()> fn) {
  EventLoop* home = EventLoop::current();
  if (home == &target) {
    fn();
    co_return;
  }
  auto done = std::make_shared<Promise<void>>();
  auto finished = done->get_io();
  target.post([home, done, fn = std::move(fn)] {
    fn();
    home->post([done] { done->set_value(); });
  });
  co_await finished;
}

}  // namespace netfront::runtime
