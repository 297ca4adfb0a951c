// A pool of packet buffers (rte_mempool of rte_mbuf), the memory every frame lives in.
// Creating one starts DPDK if the application has not.
//
// The mbufs' data rooms are the device's to reach and nothing else is: they are slots of
// device memory, while the mbuf headers (buf_addr, data_off, pool, refcnt...) and the mempool
// itself stay in DPDK's memory, which no device is given. A device that writes wherever it can
// thus changes frame bytes, never a pointer netfront follows (docs/reliability.md).
#pragma once

#include <memory>
#include <string>

#include "netfront/detail/dpdk.hpp"
#include "netfront/result.hpp"

namespace netfront {

namespace runtime {
class DeviceBlock;
}

struct PacketPoolOptions {
  unsigned size = 8191;       // mbufs; 2^n - 1 is the rte_mempool sweet spot
  unsigned cache = 256;       // per-lcore cache (at most two-thirds of size are used)
  std::uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE;  // headroom + data
  int socket = SOCKET_ID_ANY;
};

class PacketPool {
 public:
  static Result<PacketPool> create(const PacketPoolOptions& options = {});

  PacketPool(PacketPool&& other) noexcept;
  PacketPool& operator=(PacketPool&& other) noexcept;
  ~PacketPool();

  rte_mempool* get() const noexcept { return pool_; }
  // Buffers handed out and not yet returned (per-lcore caches count as returned).
  // A moved-from or abandoned pool has no rte_mempool: get() is nullptr, the counts are 0.
  unsigned in_use() const noexcept { return pool_ ? rte_mempool_in_use_count(pool_) : 0; }
  unsigned capacity() const noexcept { return pool_ ? pool_->size : 0; }
  std::uint16_t data_room() const noexcept { return pool_ ? rte_pktmbuf_data_room_size(pool_) : 0; }
  // Lets go of the pool without freeing it: for a pool whose buffers may still be in use
  // somewhere when its owner goes away (freeing it then would leave them dangling).
  void abandon() noexcept;

 private:
  PacketPool(rte_mempool* pool, std::unique_ptr<runtime::DeviceBlock> data_rooms) noexcept;
  rte_mempool* pool_;
  std::unique_ptr<runtime::DeviceBlock> data_rooms_;  // freed after the pool
};

}  // namespace netfront
