// A pool of packet buffers (rte_mempool of rte_mbuf), the memory every frame lives in.
// Creating one starts DPDK if the application has not.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <string>

#include "netfront/result.hpp"

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

  PacketPool(PacketPool&& other) noexcept : pool_(std::exchange(other.pool_, nullptr)) {}
  PacketPool& operator=(PacketPool&& other) noexcept;
  ~PacketPool();

  rte_mempool* get() const noexcept { return pool_; }
  // Buffers handed out and not yet returned (per-lcore caches count as returned).
  unsigned in_use() const noexcept { return rte_mempool_in_use_count(pool_); }
  unsigned capacity() const noexcept { return pool_->size; }
  std::uint16_t data_room() const noexcept { return rte_pktmbuf_data_room_size(pool_); }
  // Lets go of the pool without freeing it: for a pool whose buffers may still be in use
  // somewhere when its owner goes away (freeing it then would leave them dangling).
  void abandon() noexcept { pool_ = nullptr; }

 private:
  explicit PacketPool(rte_mempool* pool) noexcept : pool_(pool) {}
  rte_mempool* pool_;
};

}  // namespace netfront::runtime
