// Per-thread recycling of coroutine frames (see detail::frame_allocate in netfront/io.hpp).
// Frames are rounded up to 64-byte classes; a freed frame goes onto its class's free list and
// is handed out again, so a loop that keeps calling the same coroutines stops allocating after
// the first round. Frames larger than the biggest class go straight to the heap.
#include <array>
#include <cstddef>
#include <new>

#include "netfront/io.hpp"

namespace netfront::detail {
namespace {

constexpr std::size_t kGranule = 64;
constexpr std::size_t kClasses = 64;  // up to 4 KiB frames are recycled

struct FreeFrame {
  FreeFrame* next;
};

class FramePool {
 public:
  ~FramePool() {
    for (FreeFrame*& head : free_)
      while (head) ::operator delete(std::exchange(head, head->next));
  }
  void* allocate(std::size_t size) {
    const std::size_t c = class_of(size);
    if (c >= kClasses) return ::operator new(size);
    if (FreeFrame* f = free_[c]) {
      free_[c] = f->next;
      return f;
    }
    return ::operator new((c + 1) * kGranule);
  }
  void free(void* p, std::size_t size) noexcept {
    const std::size_t c = class_of(size);
    if (c >= kClasses) return ::operator delete(p);
    free_[c] = new (p) FreeFrame{free_[c]};
  }

 private:
  static std::size_t class_of(std::size_t size) noexcept { return (size + kGranule - 1) / kGranule - 1; }
  std::array<FreeFrame*, kClasses> free_{};
};

FramePool& pool() {
  thread_local FramePool p;
  return p;
}

}  // namespace

void* frame_allocate(std::size_t size) { return pool().allocate(size); }
void frame_free(void* frame, std::size_t size) noexcept { pool().free(frame, size); }

}  // namespace netfront::detail
