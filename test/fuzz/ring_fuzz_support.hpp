// What the ring fuzz targets share: DPDK started once (memfd memory, nothing on disk), the
// bookkeeping that checks the one promise a ring makes whatever the device writes (every
// token comes back at most once, only if it was posted, and reset() returns the rest), and
// the run itself, the same for either layout but for the memory the device scribbles on.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <span>

#include "drivers/virtio/ring/chain.hpp"
#include "drivers/virtio/ring/ring_options.hpp"

#include "netfront/dpdk_env.hpp"
#include "runtime/log.hpp"

namespace netfront::fuzz {

inline int start_dpdk() {
  DpdkConfig c;
  c.memory = MemoryBacking::Memfd;
  c.memory_mb = 64;
  if (!DpdkEnv::start(c)) std::abort();
  runtime::logger("net").set_level(spdlog::level::off);  // broken rings are the point here
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

// Input byte 0 picks EVENT_IDX, IN_ORDER, indirect tables and how many chains to post on an
// 8-entry ring; `device_area(ring)` names the memory the device then overwrites with the rest
// of the input before the driver consumes it.
template <typename Ring, typename DeviceArea>
int fuzz_used_ring(const std::uint8_t* data, std::size_t size, DeviceArea device_area) {
  using namespace virtio::ring;
  if (size < 1) return 0;
  constexpr std::uint16_t kSize = 8;
  RingOptions o;
  o.size = kSize;
  o.event_idx = data[0] & 1;
  o.in_order = data[0] & 2;
  o.indirect_max = (data[0] & 4) ? 4 : 0;
  auto ring = Ring::create(o);
  if (!ring) std::abort();
  TokenLedger ledger;
  static std::uint64_t buffer[64];  // what descriptors point at; never touched by the ring
  const unsigned chains = 1 + (data[0] >> 4) % kSize;
  for (unsigned i = 0; i < chains; ++i) {
    const Segment two[2] = {{reinterpret_cast<std::uint64_t>(&buffer[i]), 8, false},
                            {reinterpret_cast<std::uint64_t>(&buffer[i + 8]), 8, true}};
    const std::uint64_t token = (i + 1) * 2;
    const bool ok = (i % 3 == 0) ? ring->add_one(two[0], token)
                  : (i % 3 == 1 && ring->has_indirect()) ? ring->add_indirect(two, token)
                                                          : ring->add(two, token);
    if (ok) ledger.posted(token);
  }
  ring->publish();
  // The device's turn: whatever it likes over its part of the ring.
  const std::span<std::byte> area = device_area(*ring);
  std::memcpy(area.data(), data + 1, std::min(size - 1, area.size()));
  UsedChain c;
  for (int i = 0; i < 64 && ring->take_used(c); ++i) ledger.returned(c.token);
  ring->reset([&](std::uint64_t token) { ledger.returned(token); });
  ledger.expect_all_returned();
  return 0;
}

}  // namespace netfront::fuzz
