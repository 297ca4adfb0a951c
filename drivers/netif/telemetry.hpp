// netfront devices in DPDK's telemetry (rte_telemetry): every connected Netif is listed and its
// per-queue counters can be read from outside the process, e.g. with dpdk-telemetry.py:
//   /netfront/list          {"0": "vhost-user:/tmp/vh.sock,queues=2", ...}
//   /netfront/info,N        id, mac, mtu, queue_pairs of device N
//   /netfront/stats,N       the summed counters, and q0, q1, ... with each queue pair's
// Requests are answered on DPDK's telemetry thread: only what is safe to read from another
// thread is served (the counters are, by design; the rest never changes after connect).
#pragma once

#include <cstdint>
#include <string>

#include "netfront/mac_address.hpp"
#include "netfront/stats.hpp"

namespace netfront::drivers {

class TelemetrySource {
 public:
  virtual ~TelemetrySource() = default;
  virtual std::string telemetry_id() const = 0;
  virtual MacAddress telemetry_mac() const = 0;
  virtual std::uint16_t telemetry_mtu() const = 0;
  virtual unsigned telemetry_queues() const = 0;
  virtual Stats telemetry_stats(unsigned queue) const = 0;
};

// A source is visible between these two calls; withdraw() returns only once no request reads
// it any more. Both are safe from any thread.
void telemetry_publish(TelemetrySource& source);
void telemetry_withdraw(TelemetrySource& source);

}  // namespace netfront::drivers
