// Fuzz target: the virtio PCI capability parser. Input: 256 bytes of configuration space,
// then up to six BAR sizes as powers of two (one byte each: the exponent, 0 = no BAR).
// Whatever the bytes, the parser ends, and any layout it returns lies inside its BARs.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "drivers/virtio/transport/pci/virtio_capabilities.hpp"

using namespace netfront::virtio::pci;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::array<std::byte, 256> config{};
  std::memcpy(config.data(), data, std::min<std::size_t>(size, config.size()));
  std::array<std::uint64_t, 6> bars{};
  for (std::size_t i = 0; i < 6 && 256 + i < size; ++i) {
    const unsigned shift = data[256 + i] % 48;
    bars[i] = shift == 0 ? 0 : std::uint64_t{1} << shift;
  }
  auto layout = find_virtio_capabilities(config, bars);
  if (!layout) return 0;
  for (const BarRegion* r : {&layout->common, &layout->notify}) {
    if (r->bar >= 6 || std::uint64_t{r->offset} + r->length > bars[r->bar]) std::abort();
  }
  if (layout->common.length < 56 || layout->notify.length < 2) std::abort();
  return 0;
}
