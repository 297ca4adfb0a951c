// A FIFO on a power-of-two ring that only grows, so that steady-state use never allocates
// (std::deque frees and reallocates its blocks as it drains and refills). Two ways to use it:
// as a queue of values (push, pop), as the event loop's run queue does; or as a queue of
// reused slots (push_slot, front, pop_front): a slot's object is not destroyed when it leaves
// the queue, so what it owns (a vector's capacity, say) serves the next item put there, as
// the queue of writers waiting for ring space does.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

namespace netfront::detail {

template <typename T>
class RingQueue {
 public:
  explicit RingQueue(std::size_t capacity = 256) : items_(new T[round_up(capacity)]), mask_(round_up(capacity) - 1) {}

  bool empty() const noexcept { return head_ == tail_; }
  std::size_t size() const noexcept { return tail_ - head_; }

  void push(T item) { push_slot() = std::move(item); }
  T pop() noexcept { return std::move(items_[head_++ & mask_]); }

  // The slot after the last item, now the last item: it holds whatever was last put there.
  T& push_slot() {
    if (size() == mask_ + 1) grow();
    return items_[tail_++ & mask_];
  }
  T& front() noexcept { return items_[head_ & mask_]; }
  void pop_front() noexcept { ++head_; }

 private:
  static std::size_t round_up(std::size_t n) {
    std::size_t p = 1;
    while (p < n) p <<= 1;
    return p;
  }
  void grow() {
    const std::size_t cap = mask_ + 1, n = size();
    std::unique_ptr<T[]> bigger(new T[cap * 2]);
    for (std::size_t i = 0; i < n; ++i) bigger[i] = std::move(items_[(head_ + i) & mask_]);
    items_ = std::move(bigger);
    mask_ = cap * 2 - 1;
    head_ = 0;
    tail_ = n;
  }

  std::unique_ptr<T[]> items_;
  std::size_t mask_;
  std::size_t head_ = 0, tail_ = 0;
};

}  // namespace netfront::detail
