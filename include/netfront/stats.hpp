// Statistics: `stats` of the NETWORK signature (rx_bytes, rx_pkts, tx_bytes, tx_pkts), kept per
// queue and summed. netfront widens the packet counters to 64 bits (Mirage uses int32) and
// adds the error counters a driver needs to be debuggable.
#pragma once

#include <cstdint>

namespace netfront {

// What get_stats_counters returns, for the device or for one queue pair.
struct Stats {
  std::uint64_t rx_bytes = 0;
  std::uint64_t rx_pkts = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t tx_pkts = 0;
  std::uint64_t rx_drops = 0;        // frames the device gave us that we could not deliver
  std::uint64_t tx_drops = 0;        // frames accepted by write that never reached the ring
  std::uint64_t tx_ring_full = 0;    // writes that had to wait for ring space
  std::uint64_t device_errors = 0;   // device misbehaviour seen (bad ids, lengths, indices)
  std::uint64_t tx_stalls = 0;       // times the device completed nothing sent for a whole watchdog period
  std::uint64_t rx_length_errors = 0;  // of rx_drops: frames beyond MTU + Ethernet header, or shorter than that header
  std::uint64_t tx_renotified = 0;     // transmit doorbells rung again: chains waited a whole watchdog look with nothing completed

  Stats& operator+=(const Stats& o) noexcept;
  friend Stats operator-(Stats a, const Stats& b) noexcept;
  friend bool operator==(const Stats&, const Stats&) = default;
};

}  // namespace netfront
