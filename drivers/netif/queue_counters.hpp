// Where a queue pair counts what it moved: the source of the Stats the API reports.
#pragma once

#include <atomic>
#include <cstdint>

#include "netfront/stats.hpp"

namespace netfront::drivers {

// One queue pair's counters. Written only by the queue's own loop thread, read from anywhere:
// each counter is a relaxed atomic updated with a plain load and store (no locked instruction
// on the data path), and a reader sees each counter whole, never torn.
class QueueCounters {
 public:
  class Counter {
   public:
    [[gnu::always_inline]] void add(std::uint64_t n) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    std::uint64_t read() const noexcept { return v_.load(std::memory_order_relaxed); }

   private:
    std::atomic<std::uint64_t> v_{0};
  };

  Counter rx_bytes, rx_pkts, tx_bytes, tx_pkts, rx_drops, tx_drops, tx_ring_full, device_errors, tx_stalls,
      tx_renotified, rx_length_errors;

  Stats snapshot() const noexcept;
};

}  // namespace netfront::drivers
