// Fuzz target: the split ring's used-ring consumer (§2.7.8) against a device that writes
// anything over the used ring (flags, idx, entries) before the driver consumes it.
#include "drivers/virtio/ring/split_ring.hpp"
#include "ring_fuzz_support.hpp"

using namespace netfront;
using namespace netfront::virtio::ring;

extern "C" int LLVMFuzzerInitialize(int*, char***) { return fuzz::start_dpdk(); }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz::fuzz_used_ring<SplitRing>(data, size, [](SplitRing& ring) {
    const SplitLayout layout = SplitLayout::of(ring.size());
    return std::span(reinterpret_cast<std::byte*>(ring.addresses().device), layout.total - layout.used_offset);
  });
}
