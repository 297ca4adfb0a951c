// Page-aligned buffers (Io_page.t): mbufs whose data rooms are page-aligned slots of device
// memory (runtime/mbuf_pool.hpp).
#include <rte_errno.h>

#include <atomic>
#include <string>

#include "netfront/dpdk_env.hpp"
#include "netfront/page_pool.hpp"
#include "runtime/mbuf_pool.hpp"

namespace netfront {

Result<PagePool> PagePool::create(std::size_t pages_per_buffer, unsigned count) {
  if (auto started = DpdkEnv::start(); !started) return std::move(started).error();
  const std::size_t elt = pages_per_buffer * PageAlignedBuffer::kPageSize;
  if (pages_per_buffer == 0 || elt > UINT16_MAX + 1u - PageAlignedBuffer::kPageSize)
    return Error::unknown(Error::Cause::BadArgument, "page-aligned buffers hold 1 to 15 pages, not " + std::to_string(pages_per_buffer));
  if (count == 0) return Error::unknown(Error::Cause::BadArgument, "a page pool needs at least one buffer");

  static std::atomic<unsigned> serial{0};
  const std::string name = "nfpage" + std::to_string(serial.fetch_add(1));
  auto made = runtime::make_mbuf_pool(name, {.count = count, .cache = 0, .room = static_cast<std::uint16_t>(elt),
                                             .align = PageAlignedBuffer::kPageSize, .socket = SOCKET_ID_ANY});
  if (!made) return made.error().with_context("cannot create page pool").to_error();
  return PagePool(made->pool, std::make_unique<runtime::DeviceBlock>(std::move(made->rooms)), elt);
}

PagePool::PagePool(rte_mempool* pool, std::unique_ptr<runtime::DeviceBlock> memory, std::size_t bytes) noexcept
    : pool_(pool), memory_(std::move(memory)), bytes_(bytes) {}

PagePool::PagePool(PagePool&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), memory_(std::move(other.memory_)), bytes_(other.bytes_) {}

PagePool& PagePool::operator=(PagePool&& other) noexcept {
  if (this != &other) {
    rte_mempool_free(pool_);
    pool_ = std::exchange(other.pool_, nullptr);
    memory_ = std::move(other.memory_);
    bytes_ = other.bytes_;
  }
  return *this;
}

PagePool::~PagePool() { rte_mempool_free(pool_); }

Result<PageAlignedBuffer> PagePool::get() {
  if (!pool_) return Error::unknown(Error::Cause::BadArgument, "page pool moved from");
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) return Error::unknown(Error::Cause::NoResources, "page pool exhausted");
  // The whole data room, from its page-aligned start: no headroom in an Io_page.
  m->data_off = 0;
  m->data_len = static_cast<std::uint16_t>(bytes_);
  m->pkt_len = static_cast<std::uint32_t>(bytes_);
  return PageAlignedBuffer(Buffer::adopt(m));
}

}  // namespace netfront
