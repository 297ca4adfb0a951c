// One PCI function as a userspace driver reaches it: its configuration space and its memory
// BARs mapped into the process. Two kernel drivers give that access: vfio-pci (behind an
// IOMMU; DMA addresses are IOVAs DPDK mapped into the VFIO container) and uio_pci_generic
// (no IOMMU; DMA addresses are physical). open_pci_function() picks by what the function is
// bound to, after checking it is a virtio network device at all.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "drivers/virtio/transport/pci/mmio.hpp"
#include "drivers/virtio/transport/pci/port_io.hpp"
#include "netfront/device_id.hpp"
#include "drivers/virtio/transport/transport_error.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::transport::pci {

enum class KernelDriver { Vfio, Uio };

class PciFunction {
 public:
  virtual ~PciFunction() = default;
  virtual KernelDriver kernel_driver() const noexcept = 0;
  virtual const PciAddress& address() const noexcept = 0;

  // Configuration space. A short read or write is an error (the function went away).
  virtual Result<> read_config(std::size_t offset, std::span<std::byte> out) = 0;
  virtual Result<> write_config(std::size_t offset, std::span<const std::byte> in) = 0;

  // Size of each memory BAR (0: none, or an I/O-port BAR, which netfront never uses).
  virtual const std::array<std::uint64_t, 6>& bar_sizes() const noexcept = 0;
  // The BAR mapped into this process (mapped on first use, unmapped with the function).
  virtual Result<volatile std::byte*> map_bar(unsigned bar) = 0;
  // An I/O-port BAR's ports (opened on first use, closed with the function): where a legacy
  // device's registers are. Only uio gives them to netfront: through VFIO a legacy device
  // cannot be driven at all (it does not translate through the IOMMU, §4.1.4.8 has no
  // ACCESS_PLATFORM).
  virtual Result<PortIo*> io_bar(unsigned bar) {
    (void)bar;
    return Fault(TransportError::Unsupported, "this way into the PCI function gives no I/O-port access");
  }
  // Whom register writes are reported to (see RegisterWriteObserver): a fake function's
  // device model; hardware needs nobody.
  virtual RegisterWriteObserver* register_observer() noexcept { return nullptr; }
};

// Looks the function up in sysfs and opens it through the kernel driver it is bound to.
// Errors name the problem: absent, not virtio, not a network device, bound to
// another driver, or DPDK's addressing does not suit the kernel driver.
Result<std::unique_ptr<PciFunction>> open_pci_function(const PciAddress& address);

// PCI 3.0 §6.2.2 Command register bits set and cleared (read, modified, written back).
Result<> set_command_bits(PciFunction& function, std::uint16_t set, std::uint16_t clear);
// Bus Master Enable cleared and read back clear: the function can no longer reach memory.
bool revoke_bus_mastering(PciFunction& function) noexcept;
// sysfs numa_node of the function; -1 there, or absent: unknown.
int numa_node_of(const PciAddress& address);

// Exposed for tests: whether a (vendor, device, subsystem) triple is a virtio network device,
// and if not, why (the error text).
Result<> check_virtio_net_identity(std::uint16_t vendor, std::uint16_t device, std::uint16_t subsystem);

}  // namespace netfront::virtio::transport::pci
