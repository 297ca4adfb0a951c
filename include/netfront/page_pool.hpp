// The `page_aligned_buffer` of V1.NETWORK (Io_page.t) and the pool that makes them.
#pragma once

#include <cstddef>
#include <memory>

#include "netfront/buffer.hpp"
#include "netfront/detail/dpdk.hpp"
#include "netfront/result.hpp"

namespace netfront {

namespace runtime {
class DeviceBlock;
}

// The `page_aligned_buffer` (Io_page.t): whole 4 KiB pages, page-aligned, in DMA-able memory.
// Made by a PagePool; as_buffer() is the Io_page.to_cstruct view, sharing the same pages.
class PageAlignedBuffer {
 public:
  static constexpr std::size_t kPageSize = 4096;

  PageAlignedBuffer() noexcept = default;
  std::size_t pages() const noexcept { return view_.length() / kPageSize; }
  std::size_t length() const noexcept { return view_.length(); }
  std::byte* data() const noexcept { return view_.data(); }
  const Buffer& as_buffer() const noexcept { return view_; }

 private:
  friend class PagePool;
  explicit PageAlignedBuffer(Buffer view) noexcept : view_(std::move(view)) {}
  Buffer view_;
};

// A pool of page-aligned buffers of a fixed number of pages: mbufs whose data rooms are
// page-aligned slots of device memory.
class PagePool {
 public:
  static Result<PagePool> create(std::size_t pages_per_buffer, unsigned count);
  PagePool(PagePool&& other) noexcept;
  PagePool& operator=(PagePool&& other) noexcept;
  ~PagePool();

  // Io_page.get: `pages_per_buffer` pages, contents unspecified.
  Result<PageAlignedBuffer> get();
  // A moved-from pool has none in use, and get() fails.
  unsigned in_use() const noexcept { return pool_ ? rte_mempool_in_use_count(pool_) : 0; }

 private:
  PagePool(rte_mempool* pool, std::unique_ptr<runtime::DeviceBlock> memory, std::size_t bytes) noexcept;
  rte_mempool* pool_ = nullptr;
  std::unique_ptr<runtime::DeviceBlock> memory_;  // the data rooms, freed after the pool
  std::size_t bytes_ = 0;
};

}  // namespace netfront
