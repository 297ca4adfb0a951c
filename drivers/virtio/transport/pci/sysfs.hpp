// Reading a PCI function's facts from sysfs (/sys/bus/pci/devices/<address>/): identity,
// bound driver, BAR sizes. Shared by the uio and VFIO ways in.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "netfront/device_id.hpp"

namespace netfront::virtio::transport::pci::sysfs {

std::string device_dir(const PciAddress& a);
// A numeric attribute such as "vendor" ("0x1af4"); nullopt if absent or not a number.
std::optional<std::uint64_t> read_number(const std::string& path);
// Name of the bound kernel driver ("vfio-pci"), "" if none.
std::string bound_driver(const PciAddress& a);
// Sizes of the memory BARs from the "resource" file (I/O-port BARs count as 0).
std::array<std::uint64_t, 6> memory_bar_sizes(const PciAddress& a);
// An I/O-port BAR's first port and size; nullopt if the BAR is absent or in memory space.
struct PortRange {
  std::uint64_t base = 0;
  std::uint64_t size = 0;
};
std::optional<PortRange> io_bar(const PciAddress& a, unsigned bar);

}  // namespace netfront::virtio::transport::pci::sysfs
