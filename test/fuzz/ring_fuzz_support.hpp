// What the ring fuzz targets share: DPDK started once (memfd memory, nothing on disk), and the
// bookkeeping that checks the one promise a ring makes whatever the device writes: every
// token comes back at most once, only if it was posted, and reset() returns the rest.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <set>

#include "runtime/dpdk_env.hpp"
#include "runtime/log.hpp"

namespace netfront::fuzz {

inline int start_dpdk() {
  runtime::DpdkConfig c;
  c.memory = runtime::MemoryBacking::Memfd;
  c.memory_mb = 64;
  if (!runtime::DpdkEnv::start(c)) std::abort();
  runtime::logger("ring").set_level(spdlog::level::off);  // broken rings are the point here
  return 0;
}

class TokenLedger {
 public:
  void posted(std::uint64_t token) { outstanding_.insert(token); }
  // A token the ring handed back, by take_used or by reset.
  void returned(std::uint64_t token) {
    if (outstanding_.erase(token) != 1) std::abort();  // never posted, or returned twice
  }
  void expect_all_returned() const {
    if (!outstanding_.empty()) std::abort();
  }

 private:
  std::set<std::uint64_t> outstanding_;
};

}  // namespace netfront::fuzz
