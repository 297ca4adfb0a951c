// Page-aligned buffers (Io_page.t): mbufs whose data rooms are pinned, page-aligned chunks of
// one IOVA-contiguous memory zone.
//
// rte_pktmbuf_pool_create_extbuf is still marked experimental in DPDK 22.11; it is the one
// public way to get mbufs over memory we lay out ourselves, so this file opts in.
#define ALLOW_EXPERIMENTAL_API 1

#include <rte_errno.h>
#include <rte_memzone.h>

#include <atomic>
#include <string>

#include "netfront/buffer.hpp"
#include "runtime/dpdk_env.hpp"

namespace netfront {


Result<PagePool> PagePool::create(std::size_t pages_per_buffer, unsigned count) {
  if (auto started = runtime::DpdkEnv::start(); !started) return std::move(started).error();
  const std::size_t elt = pages_per_buffer * PageAlignedBuffer::kPageSize;
  if (pages_per_buffer == 0 || elt > UINT16_MAX + 1u - PageAlignedBuffer::kPageSize)
    return Error::unknown("page-aligned buffers hold 1 to 15 pages, not " + std::to_string(pages_per_buffer));
  if (count == 0) return Error::unknown("a page pool needs at least one buffer");

  static std::atomic<unsigned> serial{0};
  const unsigned id = serial.fetch_add(1);
  const std::string zone_name = "nfpagez" + std::to_string(id), pool_name = "nfpage" + std::to_string(id);
  const std::size_t bytes = elt * count;
  const rte_memzone* zone = rte_memzone_reserve_aligned(zone_name.c_str(), bytes, SOCKET_ID_ANY,
                                                        RTE_MEMZONE_IOVA_CONTIG, PageAlignedBuffer::kPageSize);
  if (!zone) return Error::unknown("cannot reserve " + std::to_string(bytes) + " bytes of page memory: " + rte_strerror(rte_errno));

  rte_pktmbuf_extmem ext{};
  ext.buf_ptr = zone->addr;
  ext.buf_iova = zone->iova;
  ext.buf_len = bytes;
  ext.elt_size = static_cast<std::uint16_t>(elt);
  rte_mempool* pool =
      rte_pktmbuf_pool_create_extbuf(pool_name.c_str(), count, 0, 0, static_cast<std::uint16_t>(elt), SOCKET_ID_ANY, &ext, 1);
  if (!pool) {
    const std::string why = rte_strerror(rte_errno);
    rte_memzone_free(zone);
    return Error::unknown("cannot create page pool: " + why);
  }
  return PagePool(pool, zone, elt);
}

PagePool::PagePool(PagePool&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), zone_(std::exchange(other.zone_, nullptr)), bytes_(other.bytes_) {}

PagePool::~PagePool() {
  rte_mempool_free(pool_);
  if (zone_) rte_memzone_free(zone_);
}

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
