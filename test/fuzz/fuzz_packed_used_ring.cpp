// Fuzz target: the packed ring's used-descriptor consumer (§2.8) against a device that writes
// anything over the descriptor ring and the device event area. Input byte 0 picks
// IN_ORDER, indirect tables and how many chains to post; the rest overwrites the ring.
#include <algorithm>
#include <cstring>

#include "drivers/virtio/ring/packed_ring.hpp"
#include "ring_fuzz_support.hpp"

using namespace netfront;
using namespace netfront::virtio::ring;

extern "C" int LLVMFuzzerInitialize(int*, char***) { return fuzz::start_dpdk(); }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  constexpr std::uint16_t kSize = 8;
  RingOptions o;
  o.size = kSize;
  o.event_idx = data[0] & 1;
  o.in_order = data[0] & 2;
  o.indirect_max = (data[0] & 4) ? 4 : 0;
  auto ring = PackedRing::create(o);
  if (!ring) std::abort();
  fuzz::TokenLedger ledger;
  static std::uint64_t buffer[64];
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
  auto* desc = reinterpret_cast<std::byte*>(ring->addresses().desc);
  std::memcpy(desc, data + 1, std::min<std::size_t>(size - 1, kSize * sizeof(pvirtq_desc)));
  UsedChain c;
  for (int i = 0; i < 64 && ring->take_used(c); ++i) ledger.returned(c.token);
  ring->reset([&](std::uint64_t token) { ledger.returned(token); });
  ledger.expect_all_returned();
  return 0;
}
