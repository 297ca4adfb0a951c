// Fuzz target: the packed ring's used-descriptor consumer (§2.8) against a device that writes
// anything over the descriptor ring before the driver consumes it.
#include "drivers/virtio/ring/packed_ring.hpp"
#include "ring_fuzz_support.hpp"

using namespace netfront;
using namespace netfront::virtio::ring;

extern "C" int LLVMFuzzerInitialize(int*, char***) { return fuzz::start_dpdk(); }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz::fuzz_used_ring<PackedRing>(data, size, [](PackedRing& ring) {
    return std::span(reinterpret_cast<std::byte*>(ring.addresses().desc), ring.size() * sizeof(pvirtq_desc));
  });
}
