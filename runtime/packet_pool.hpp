// A pool of packet buffers (rte_mempool of rte_mbuf), the memory every frame lives in.
// Creating one starts DPDK if the application has not.
//
// The mbufs' data rooms are the device's to reach and nothing else is: they are slots of
// device memory (runtime/device_memory.hpp, runtime/mbuf_pool.hpp), while the mbuf headers
// (buf_addr, data_off, pool, refcnt...) and the mempool itself stay in DPDK's memory, which
// no device is given. A device that writes wherever it can thus changes frame bytes, never a
// pointer netfront follows.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <string>

#include "netfront/result.hpp"
#include "runtime/device_memory.hpp"

namespace netfront::runtime {

struct PacketPoolOptions {
  unsigned size = 8191;       // mbufs; 2^n - 1 is the rte_mempool sweet spot
  unsigned cache = 256;       // per-lcore cache
  std::uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE;  // headroom + data
  int socket = SOCKET_ID_ANY;
};

class PacketPool {
 public:
  static Result<PacketPool> create(const PacketPoolOptions& options = {});

  PacketPool(PacketPool&& other) noexcept
      : pool_(std::exchange(other.pool_, nullptr)), data_rooms_(std::move(other.data_rooms_)) {}
  PacketPool& operator=(PacketPool&& other) noexcept;
  ~PacketPool();

  rte_mempool* get() const noexcept { return pool_; }
  // Buffers handed out and not yet returned (per-lcore caches count as returned).
  unsigned in_use() const noexcept { return rte_mempool_in_use_count(pool_); }
  unsigned capacity() const noexcept { return pool_->size; }
  std::uint16_t data_room() const noexcept { return rte_pktmbuf_data_room_size(pool_); }
  // Lets go of the pool without freeing it: for a pool whose buffers may still be in use
  // somewhere when its owner goes away (freeing it then would leave them dangling).
  void abandon() noexcept {
    pool_ = nullptr;
    data_rooms_.abandon();
  }

 private:
  PacketPool(rte_mempool* pool, DeviceBlock data_rooms) noexcept : pool_(pool), data_rooms_(std::move(data_rooms)) {}
  rte_mempool* pool_;
  DeviceBlock data_rooms_;  // freed after the pool
};

}  // namespace netfront::runtime
