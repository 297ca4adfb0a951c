// A FIFO of trivially copyable items on a power-of-two ring that only grows. The loop's run
// queue uses it so that steady-state scheduling never allocates (std::deque frees and
// reallocates its blocks as it drains and refills).
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>

namespace netfront::detail {

template <typename T>
class RingQueue {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  explicit RingQueue(std::size_t capacity = 256) : items_(new T[round_up(capacity)]), mask_(round_up(capacity) - 1) {}

  bool empty() const noexcept { return head_ == tail_; }
  std::size_t size() const noexcept { return tail_ - head_; }

  void push(T item) {
    if (size() == mask_ + 1) grow();
    items_[tail_++ & mask_] = item;
  }
  T pop() noexcept { return items_[head_++ & mask_]; }

 private:
  static std::size_t round_up(std::size_t n) {
    std::size_t p = 1;
    while (p < n) p <<= 1;
    return p;
  }
  void grow() {
    const std::size_t cap = mask_ + 1, n = size();
    std::unique_ptr<T[]> bigger(new T[cap * 2]);
    for (std::size_t i = 0; i < n; ++i) bigger[i] = items_[(head_ + i) & mask_];
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
