// Page-aligned buffers (Io_page.t): mbufs whose data rooms are pinned, page-aligned chunks of
// device memory.
//
// rte_pktmbuf_pool_create_extbuf is still marked experimental in DPDK 22.11; it is the one
// public way to get mbufs over memory we lay out ourselves, so this file opts in.
#define ALLOW_EXPERIMENTAL_API 1

#include <rte_errno.h>

#include <atomic>
#include <string>
#include <vector>

#include "netfront/buffer.hpp"
#include "runtime/device_memory.hpp"
#include "runtime/dpdk_env.hpp"

namespace netfront {

Result<PagePool> PagePool::create(std::size_t pages_per_buffer, unsigned count) {
  if (auto started = runtime::DpdkEnv::start(); !started) return std::move(started).error();
  const std::size_t elt = pages_per_buffer * PageAlignedBuffer::kPageSize;
  if (pages_per_buffer == 0 || elt > UINT16_MAX + 1u - PageAlignedBuffer::kPageSize)
    return Error::unknown("page-aligned buffers hold 1 to 15 pages, not " + std::to_string(pages_per_buffer));
  if (count == 0) return Error::unknown("a page pool needs at least one buffer");

  // With physical device addresses no buffer may cross a device page (see PacketPool).
  using runtime::DeviceMemory;
  const bool by_page = DeviceMemory::physical();
  const std::size_t page = DeviceMemory::page_size();
  const std::size_t per_page = by_page ? page / elt : 0;
  const std::size_t bytes = by_page ? (count + per_page - 1) / per_page * page : elt * count;
  auto memory = DeviceMemory::allocate(bytes, PageAlignedBuffer::kPageSize, -1, /*page_chunked=*/by_page);
  if (!memory) return Error::unknown("cannot reserve " + std::to_string(bytes) + " bytes of page memory: " + memory.error().message());

  std::vector<rte_pktmbuf_extmem> ext;
  for (std::size_t off = 0; off < bytes; off += by_page ? page : bytes)
    ext.push_back({memory->data() + off, memory->iova(off), by_page ? page : bytes, static_cast<std::uint16_t>(elt)});
  static std::atomic<unsigned> serial{0};
  const std::string pool_name = "nfpage" + std::to_string(serial.fetch_add(1));
  rte_mempool* pool = rte_pktmbuf_pool_create_extbuf(pool_name.c_str(), count, 0, 0, static_cast<std::uint16_t>(elt),
                                                     SOCKET_ID_ANY, ext.data(), static_cast<unsigned>(ext.size()));
  if (!pool) return Error::unknown("cannot create page pool: " + std::string(rte_strerror(rte_errno)));
  return PagePool(pool, std::make_unique<runtime::DeviceBlock>(std::move(*memory)), elt);
}

PagePool::PagePool(rte_mempool* pool, std::unique_ptr<runtime::DeviceBlock> memory, std::size_t bytes) noexcept
    : pool_(pool), memory_(std::move(memory)), bytes_(bytes) {}

PagePool::PagePool(PagePool&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), memory_(std::move(other.memory_)), bytes_(other.bytes_) {}

PagePool::~PagePool() { rte_mempool_free(pool_); }

Result<PageAlignedBuffer> PagePool::get() {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) return Error::unknown("page pool exhausted");
  // The whole data room, from its page-aligned start: no headroom in an Io_page.
  m->data_off = 0;
  m->data_len = static_cast<std::uint16_t>(bytes_);
  m->pkt_len = static_cast<std::uint32_t>(bytes_);
  return PageAlignedBuffer(Buffer::adopt(m));
}

}  // namespace netfront
