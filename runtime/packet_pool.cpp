#include "runtime/packet_pool.hpp"

#include <rte_errno.h>

#include <atomic>

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
  rte_mempool* mp = rte_pktmbuf_pool_create(name.c_str(), options.size, options.cache, 0, options.data_room, options.socket);
  // No DPDK memory on the asked node (a single-node machine, memfd memory): anywhere will do.
  if (!mp && options.socket != SOCKET_ID_ANY)
    mp = rte_pktmbuf_pool_create(name.c_str(), options.size, options.cache, 0, options.data_room, SOCKET_ID_ANY);
  if (!mp)
    return Error::unknown("cannot create packet pool of " + std::to_string(options.size) + " buffers: " +
                          rte_strerror(rte_errno));
  return PacketPool(mp);
}

PacketPool& PacketPool::operator=(PacketPool&& other) noexcept {
  if (this != &other) {
    rte_mempool_free(pool_);
    pool_ = std::exchange(other.pool_, nullptr);
  }
  return *this;
}

PacketPool::~PacketPool() { rte_mempool_free(pool_); }

}  // namespace netfront::runtime
