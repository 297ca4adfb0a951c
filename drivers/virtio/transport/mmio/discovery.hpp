// Where a machine's virtio-mmio devices are: the firmware describes them (ACPI devices
// LNRO0005 under QEMU's microvm; "virtio-mmio" regions from the kernel command line, as
// Firecracker passes them), and /proc/iomem lists their windows (to root: to others the
// addresses read as zero).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "drivers/virtio/transport/transport_error.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::transport::mmio {

// The start of every window /proc/iomem's `text` lists for a virtio-mmio device, in order.
std::vector<std::uint64_t> listed_windows(std::string_view iomem);

// The first window of this machine that holds a virtio network device.
Result<std::uint64_t> find_virtio_net_window();

}  // namespace netfront::virtio::transport::mmio
