// Where a modern virtio PCI function keeps its registers: the vendor-specific capabilities of
// virtio 1.2 §4.1.4 point into its memory BARs. The parser works on a copy of configuration
// space and the BAR sizes only, so it is the same code for sysfs, VFIO, a fake device in a
// test and a fuzzer. Nothing the device wrote is believed before it is checked: the list must
// end, stay inside configuration space and not loop; each region must lie inside its BAR.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "drivers/virtio/transport/transport_error.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::transport::pci {

struct BarRegion {
  std::uint8_t bar = 0;
  std::uint32_t offset = 0;
  std::uint32_t length = 0;
};

struct VirtioPciLayout {
  BarRegion common;
  BarRegion notify;
  std::uint32_t notify_off_multiplier = 0;
  BarRegion isr;
  BarRegion device;  // length 0: the device has no device-specific configuration
};

// `config`: configuration space from offset 0 (at least the first 256 bytes); `bar_sizes`:
// the size of each memory BAR, 0 where there is none. Errors say why the function cannot be
// driven as a modern virtio device (no capabilities: legacy-only).
Result<VirtioPciLayout> find_virtio_capabilities(std::span<const std::byte> config,
                                                 const std::array<std::uint64_t, 6>& bar_sizes);

}  // namespace netfront::virtio::transport::pci
