#include "drivers/virtio/transport/pci/pci_function.hpp"

#include <rte_eal.h>
#include <unistd.h>

#include <cstdio>

#include "drivers/virtio/transport/pci/function_impl.hpp"
#include "drivers/virtio/transport/pci/pci_spec.hpp"
#include "drivers/virtio/transport/pci/sysfs.hpp"

namespace netfront::virtio::transport::pci {
namespace {

std::string hex4(unsigned v) {
  char s[8];
  std::snprintf(s, sizeof s, "%04x", v & 0xffff);
  return s;
}

}  // namespace

// §4.1.2: modern ids are 0x1040 + device type; transitional ids 0x1000..0x103f carry the
// type in the subsystem device id. netfront drives network devices (type 1) only.
Result<> check_virtio_net_identity(std::uint16_t vendor, std::uint16_t device, std::uint16_t subsystem) {
  const std::string ids = hex4(vendor) + ":" + hex4(device);
  if (vendor != kVirtioVendor) return Fault(TransportError::NoSuchDevice, "PCI function " + ids + " is not a virtio device (vendor is not 1af4)");
  if (device >= kVirtioModernFirst && device <= kVirtioModernLast) {
    if (device == kVirtioNetModernId) return Ok{};
    return Fault(TransportError::NoSuchDevice, "virtio PCI function " + ids + " is not a network device (virtio type " +
                          std::to_string(device - kVirtioModernFirst) + ")");
  }
  if (device >= kVirtioTransitionalFirst && device <= kVirtioTransitionalLast) {
    if (device == kVirtioNetTransitionalId && subsystem == 1) return Ok{};  // modern capabilities are checked later
    return Fault(TransportError::NoSuchDevice, "virtio PCI function " + ids + " (subsystem " + hex4(subsystem) + ") is not a network device");
  }
  return Fault(TransportError::NoSuchDevice, "PCI function " + ids + " has a device id outside the virtio ranges");
}

Result<> set_command_bits(PciFunction& function, std::uint16_t set, std::uint16_t clear) {
  std::byte raw[2];
  if (auto r = function.read_config(kPciCommand, raw); !r) return r;
  std::uint16_t command = static_cast<std::uint16_t>(std::to_integer<unsigned>(raw[0]) | std::to_integer<unsigned>(raw[1]) << 8);
  command = static_cast<std::uint16_t>((command | set) & ~clear);
  raw[0] = static_cast<std::byte>(command & 0xff);
  raw[1] = static_cast<std::byte>(command >> 8);
  return function.write_config(kPciCommand, raw);
}

// With Bus Master Enable clear the function may not issue memory requests, so it can no
// longer read or write our memory whatever state it is in. The bit is read back: a function
// that keeps it set has not been cut off.
bool revoke_bus_mastering(PciFunction& function) noexcept {
  if (!set_command_bits(function, 0, kPciCommandBusMaster)) return false;
  std::byte raw[2];
  if (!function.read_config(kPciCommand, raw)) return false;
  return (std::to_integer<unsigned>(raw[0]) & kPciCommandBusMaster) == 0;
}

int numa_node_of(const PciAddress& a) {
  // "-1" (read back as a huge number) when the platform has no NUMA information.
  const auto node = sysfs::read_number(sysfs::device_dir(a) + "/numa_node");
  return node && *node < 1024 ? static_cast<int>(*node) : -1;
}

Result<std::unique_ptr<PciFunction>> open_pci_function(const PciAddress& a) {
  const std::string dir = sysfs::device_dir(a);
  const std::string name = a.to_string();
  if (::access(dir.c_str(), F_OK) != 0) return Fault(TransportError::NoSuchDevice, "no PCI function " + name + " on this machine");
  const auto vendor = sysfs::read_number(dir + "/vendor");
  const auto device = sysfs::read_number(dir + "/device");
  const auto subsystem = sysfs::read_number(dir + "/subsystem_device");
  if (!vendor || !device) return Fault(TransportError::System, "cannot read the identity of PCI function " + name);
  if (auto ok = check_virtio_net_identity(static_cast<std::uint16_t>(*vendor), static_cast<std::uint16_t>(*device),
                                          static_cast<std::uint16_t>(subsystem.value_or(0)));
      !ok)
    return ok.error().with_context(name);

  const std::string driver = sysfs::bound_driver(a);
  if (driver == "vfio-pci") return open_vfio_function(a);
  if (driver == "uio_pci_generic") {
    // No IOMMU: the device is given physical addresses, which DPDK only knows with hugepages.
    if (rte_eal_iova_mode() != RTE_IOVA_PA)
      return Fault(TransportError::Unsupported, name + " is bound to uio_pci_generic, which needs physical addresses, but DPDK runs in "
                                   "IOVA-as-VA mode (hugepages are needed, as root)");
    return open_uio_function(a);
  }
  if (driver.empty())
    return Fault(TransportError::Unsupported, name + " is not bound to a driver; bind it to vfio-pci (with an IOMMU) or uio_pci_generic");
  return Fault(TransportError::Unsupported, name + " is bound to " + driver + "; unbind it and bind vfio-pci or uio_pci_generic");
}

}  // namespace netfront::virtio::transport::pci
