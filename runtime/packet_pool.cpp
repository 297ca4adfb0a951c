#include "netfront/packet_pool.hpp"

#include <rte_errno.h>

#include <atomic>

#include "netfront/dpdk_env.hpp"
#include "runtime/device_memory.hpp"
#include "runtime/mbuf_pool.hpp"

namespace netfront {

Result<PacketPool> PacketPool::create(const PacketPoolOptions& options) {
  if (auto started = DpdkEnv::start(); !started) return std::move(started).error();
  if (options.data_room <= RTE_PKTMBUF_HEADROOM)
    return Error::unknown(Error::Cause::BadArgument, "packet pool data room of " + std::to_string(options.data_room) +
                          " bytes leaves no space after the " + std::to_string(RTE_PKTMBUF_HEADROOM) + "-byte headroom");
  // rte_mempool names are global and short (RTE_MEMPOOL_NAMESIZE).
  static std::atomic<unsigned> serial{0};
  const std::string name = "nfpool" + std::to_string(serial.fetch_add(1));
  auto made = runtime::make_mbuf_pool(name, {.count = options.size, .cache = options.cache, .room = options.data_room,
                                              .align = RTE_CACHE_LINE_SIZE, .socket = options.socket});
  if (!made)
    return made.error().with_context("cannot create packet pool of " + std::to_string(options.size) + " buffers").to_error();
  return PacketPool(made->pool, std::make_unique<runtime::DeviceBlock>(std::move(made->rooms)));
}

PacketPool::PacketPool(rte_mempool* pool, std::unique_ptr<runtime::DeviceBlock> data_rooms) noexcept
    : pool_(pool), data_rooms_(std::move(data_rooms)) {}

PacketPool::PacketPool(PacketPool&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), data_rooms_(std::move(other.data_rooms_)) {}

void PacketPool::abandon() noexcept {
  pool_ = nullptr;
  if (data_rooms_) data_rooms_->abandon();
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

}  // namespace netfront
