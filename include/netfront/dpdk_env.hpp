// DPDK start-up. The application never passes EAL arguments or prepares hugepages: the first
// call to DpdkEnv::start() picks working defaults and initialises the EAL once per process.
//
// Memory: hugepages when the machine has enough free ones on a mounted hugetlbfs (one file
// per memseg list, unlinked at once, so nothing stale is left behind); otherwise anonymous
// memfd-backed 4 KiB pages (`--no-huge`). Both can be shared with a vhost-user backend by fd.
// Everything can be overridden: DpdkConfig fields, or the environment variables
// NETFRONT_MEMORY=auto|hugepages|memfd, NETFRONT_MEMORY_MB=N, NETFRONT_DEVICE_MEMORY_MB=N and
// NETFRONT_EAL_ARGS="..." (appended last, so they win). Hugepages are chosen when enough are
// free for both DPDK's memory and the device memory.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "netfront/result.hpp"

namespace netfront {

enum class MemoryBacking { Auto, Hugepages, Memfd };

struct DpdkConfig {
  MemoryBacking memory = MemoryBacking::Auto;
  // DPDK's own memory: mbuf headers, mempools, everything no device is given.
  unsigned memory_mb = 256;
  // Device memory per NUMA node: rings and the data rooms of every packet buffer, the only
  // memory a device is given (docs/reliability.md). Of the same backing as DPDK's.
  unsigned device_memory_mb = 256;
  // Pin the main lcore to this CPU; unset: it may run on any CPU the process is allowed.
  std::optional<unsigned> pin_cpu{};
  // DPDK's telemetry socket, where netfront devices and their counters are served
  // (docs/api.md); NETFRONT_TELEMETRY=1 or 0 overrides.
  bool telemetry = false;
  std::vector<std::string> extra_eal_args{};
};

struct DpdkEnvInfo {
  MemoryBacking memory = MemoryBacking::Auto;  // what was chosen (never Auto once started)
  unsigned memory_mb = 0;
  unsigned device_memory_mb = 0;
  std::vector<std::string> eal_args;
};

class DpdkEnv {
 public:
  // Initialises the EAL on the first call; later calls return the first call's outcome.
  static Result<> start(const DpdkConfig& config = {});
  static bool started() noexcept;
  // Valid after a successful start().
  static const DpdkEnvInfo& info() noexcept;
};

}  // namespace netfront
