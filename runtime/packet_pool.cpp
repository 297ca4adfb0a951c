// rte_pktmbuf_pool_create_extbuf is still marked experimental in DPDK 22.11; it is the one
// public way to get mbufs over memory laid out by the caller, so this file opts in.
#define ALLOW_EXPERIMENTAL_API 1

#include "runtime/packet_pool.hpp"

#include <rte_errno.h>

#include <atomic>
#include <vector>

#include "runtime/dpdk_env.hpp"

namespace netfront::runtime {

Result<PacketPool> PacketPool::create(const PacketPoolOptions& options) {
  if (auto started = DpdkEnv::start(); !started) return std::move(started).error();
  if (options.data_room <= RTE_PKTMBUF_HEADROOM)
    return Error::unknown("packet pool data room of " + std::to_string(options.data_room) +
                          " bytes leaves no space after the " + std::to_string(RTE_PKTMBUF_HEADROOM) + "-byte headroom");
  // rte_mempool names are global and short (RTE_MEMPOOL_NAMESIZE).
  static std::atomic<unsigned> serial{0};
  const std::string name = "nfpool" + std::to_string(serial.fetch_add(1));
  // Data rooms one after another, each a whole number of cache lines. With physical device
  // addresses they are laid out page by page, none across a page boundary (a page is what
  // is contiguous for the device); with virtual ones the whole block is.
  const std::size_t elt = (std::size_t{options.data_room} + RTE_CACHE_LINE_SIZE - 1) & ~std::size_t{RTE_CACHE_LINE_SIZE - 1};
  if (elt > UINT16_MAX) return Error::unknown("packet pool data room of " + std::to_string(options.data_room) + " bytes is too large");
  const bool by_page = DeviceMemory::physical();
  const std::size_t page = DeviceMemory::page_size();
  const std::size_t per_page = by_page ? page / elt : 0;
  if (by_page && per_page == 0)
    return Error::unknown("packet pool data room of " + std::to_string(elt) + " bytes is larger than a device page");
  const std::size_t bytes = by_page ? (options.size + per_page - 1) / per_page * page : options.size * elt;
  auto rooms = DeviceMemory::allocate(bytes, RTE_CACHE_LINE_SIZE, options.socket, /*page_chunked=*/by_page);
  if (!rooms) return Error::unknown("cannot create packet pool of " + std::to_string(options.size) + " buffers: " +
                                    rooms.error().message());
  std::vector<rte_pktmbuf_extmem> ext;
  for (std::size_t off = 0; off < bytes; off += by_page ? page : bytes)
    ext.push_back({rooms->data() + off, rooms->iova(off), by_page ? page : bytes, static_cast<std::uint16_t>(elt)});
  auto make = [&](int socket) {
    return rte_pktmbuf_pool_create_extbuf(name.c_str(), options.size, options.cache, 0, static_cast<std::uint16_t>(elt), socket,
                                          ext.data(), static_cast<unsigned>(ext.size()));
  };
  rte_mempool* mp = make(options.socket);
  // No DPDK memory on the asked node (a single-node machine, memfd memory): anywhere will do.
  if (!mp && options.socket != SOCKET_ID_ANY) mp = make(SOCKET_ID_ANY);
  if (!mp)
    return Error::unknown("cannot create packet pool of " + std::to_string(options.size) + " buffers: " +
                          rte_strerror(rte_errno));
  return PacketPool(mp, std::move(*rooms));
}

PacketPool& PacketPool::operator=(PacketPool&& other) noexcept {
  if (this != &other) {
    rte_mempool_free(pool_);
    pool_ = std::exchange(other.pool_, nullptr);
    data_rooms_ = std::move(other.data_rooms_);
  }
  return *this;
}

PacketPool::~PacketPool() { rte_mempool_free(pool_); }

}  // namespace netfront::runtime
