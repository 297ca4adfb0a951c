#include "runtime/lwip/buffer_pbuf.hpp"

#include <cstddef>
#include <memory>
#include <type_traits>
#include <vector>

namespace netfront::lwip {
namespace {

struct BufferPbuf {
  pbuf_custom custom;  // first: lwIP gives back &custom.pbuf, which is this record's address
  Buffer bytes;
  BufferPbuf* next_free = nullptr;
};
static_assert(std::is_standard_layout_v<BufferPbuf>, "a pbuf pointer is converted back to its BufferPbuf");

// Records are made in blocks and never given back to the heap: lwIP holds pbufs for as long as
// the process runs (a TCP connection's queues), so the free list has to outlive any one user.
class FreeList {
 public:
  BufferPbuf* take() {
    if (!head_) grow();
    BufferPbuf* r = head_;
    head_ = r->next_free;
    r->next_free = nullptr;
    ++held_;
    return r;
  }
  void give_back(BufferPbuf* r) noexcept {
    r->next_free = head_;
    head_ = r;
    --held_;
  }
  std::uint64_t held() const noexcept { return held_; }

 private:
  static constexpr std::size_t kBlock = 256;
  void grow() {
    blocks_.push_back(std::make_unique<BufferPbuf[]>(kBlock));
    for (std::size_t i = 0; i < kBlock; ++i) give_back_new(&blocks_.back()[i]);
  }
  void give_back_new(BufferPbuf* r) noexcept {
    r->next_free = head_;
    head_ = r;
  }
  std::vector<std::unique_ptr<BufferPbuf[]>> blocks_;
  BufferPbuf* head_ = nullptr;
  std::uint64_t held_ = 0;
};

FreeList& free_list() {
  static thread_local FreeList list;
  return list;
}

void free_buffer_pbuf(pbuf* p) {
  auto* r = reinterpret_cast<BufferPbuf*>(p);
  r->bytes = Buffer{};  // the mbuf goes back to its pool now
  free_list().give_back(r);
}

}  // namespace

pbuf* wrap(Buffer&& bytes) noexcept {
  if (bytes.empty() || bytes.length() > 0xFFFF) return nullptr;
  BufferPbuf* r;
  try {
    r = free_list().take();
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
  const auto length = static_cast<u16_t>(bytes.length());
  void* payload = bytes.data();
  r->bytes = std::move(bytes);
  r->custom.custom_free_function = free_buffer_pbuf;
  return pbuf_alloced_custom(PBUF_RAW, length, PBUF_REF, &r->custom, payload, length);
}

const Buffer* buffer_of(const pbuf* p) noexcept {
  if (!(p->flags & PBUF_FLAG_IS_CUSTOM)) return nullptr;
  const auto* custom = reinterpret_cast<const pbuf_custom*>(p);
  if (custom->custom_free_function != free_buffer_pbuf) return nullptr;
  return &reinterpret_cast<const BufferPbuf*>(p)->bytes;
}

std::uint64_t held() noexcept { return free_list().held(); }

}  // namespace netfront::lwip
