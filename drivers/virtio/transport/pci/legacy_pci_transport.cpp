#include "drivers/virtio/transport/pci/legacy_pci_transport.hpp"

#include <atomic>
#include <cstring>

#include "drivers/virtio/ring/ring_layout.hpp"
#include "drivers/virtio/transport/legacy_ring.hpp"
#include "drivers/virtio/transport/config_reads.hpp"
#include "drivers/virtio/transport/device_reset.hpp"
#include "drivers/virtio/transport/pci/capability_list.hpp"
#include "drivers/virtio/transport/pci/pci_spec.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::transport::pci {
namespace {

// The registers up to the device-specific configuration, which must fit in the BAR.
constexpr std::size_t kRegistersWithMsix = legacy::kDeviceConfigWithMsix;

// Whether the function's MSI-X capability (PCI 3.0 §6.8.2) is enabled, which moves the
// device-specific configuration 4 bytes further (§4.1.4.8). A malformed capability list
// (looping, outside the capability area) counts as no MSI-X: the device is then read as a
// device without it, as the kernel would have found it.
bool msix_enabled(std::span<const std::byte> config) {
  auto u8 = [&](std::size_t off) { return std::to_integer<unsigned>(config[off]); };
  for (const std::size_t at : capability_list(config).offsets)
    if (u8(at) == kPciCapabilityMsix) return ((u8(at + 2) | u8(at + 3) << 8) & kPciMsixControlEnable) != 0;
  return false;
}

}  // namespace

Result<std::unique_ptr<LegacyPciTransport>> LegacyPciTransport::open(std::unique_ptr<PciFunction> function) {
  std::byte config[kPciConfigSize];
  if (auto r = function->read_config(0, config); !r) return std::move(r).error();
  return open(std::move(function), config);
}

Result<std::unique_ptr<LegacyPciTransport>> LegacyPciTransport::open(std::unique_ptr<PciFunction> function,
                                                                     std::span<const std::byte> config) {
  const std::string name = function->address().to_string();
  if (function->kernel_driver() != KernelDriver::Uio)
    return Fault(TransportError::Unsupported, name + " is a legacy-only virtio device, which does not translate through an IOMMU: "
                                                     "bind it to uio_pci_generic, not vfio-pci");
  if (config.size() < kPciConfigSize) return Fault(TransportError::BadRequest, name + ": PCI configuration space shorter than 256 bytes");
  auto ports = function->io_bar(legacy::kBar);
  if (!ports) return ports.error().with_context(name + ": legacy virtio registers (I/O BAR0)");
  const std::size_t config_offset = msix_enabled(config) ? legacy::kDeviceConfigWithMsix : legacy::kDeviceConfig;
  if ((*ports)->size() < kRegistersWithMsix)
    return Fault(TransportError::ProtocolViolation, name + ": I/O BAR0 of " + std::to_string((*ports)->size()) +
                                                         " bytes cannot hold the legacy virtio registers");
  std::unique_ptr<LegacyPciTransport> t(new LegacyPciTransport(std::move(function), **ports, config_offset));
  t->numa_node_ = numa_node_of(t->function_->address());
  // Reset with bus mastering off, as on the modern interface.
  if (auto r = set_command_bits(*t->function_, kPciCommandIo, kPciCommandBusMaster); !r) return std::move(r).error();
  if (auto r = t->reset(); !r) return std::move(r).error();
  if (auto r = set_command_bits(*t->function_, kPciCommandBusMaster, 0); !r) return std::move(r).error();
  runtime::logger("pci").info("{}: legacy virtio interface, device configuration at +{}", t->describe(), config_offset);
  return t;
}

LegacyPciTransport::LegacyPciTransport(std::unique_ptr<PciFunction> function, PortIo& ports, std::size_t config_offset)
    : function_(std::move(function)), ports_(&ports), config_offset_(config_offset) {}

LegacyPciTransport::~LegacyPciTransport() {
  // Stop the device before DPDK's memory can be reused, then take away its right to DMA.
  (void)reset();
  (void)set_command_bits(*function_, 0, kPciCommandBusMaster);
}

std::uint16_t LegacyPciTransport::queue_count() {
  return queues_.count([&](std::uint16_t i) { return queue_max_size(i); });
}

Result<> LegacyPciTransport::reset() {
  // A queue's page number goes back to 0 with the reset: no doorbell until it is given again.
  queues_.reset();
  return reset_device(describe(), unresponsive_, [&] { ports_->write8(legacy::kDeviceStatus, 0); },
                      [&] { return ports_->read8(legacy::kDeviceStatus); });
}

bool LegacyPciTransport::revoke_dma() noexcept { return revoke_bus_mastering(*function_); }

std::uint8_t LegacyPciTransport::status() { return ports_->read8(legacy::kDeviceStatus); }
void LegacyPciTransport::set_status(std::uint8_t status) { ports_->write8(legacy::kDeviceStatus, status); }

std::uint64_t LegacyPciTransport::device_features() { return ports_->read32(legacy::kDeviceFeatures); }

// The engine never chooses a bit beyond the 32 a legacy device has (negotiate_features).
void LegacyPciTransport::set_driver_features(std::uint64_t features) {
  queues_.forget_count();
  ports_->write32(legacy::kDriverFeatures, static_cast<std::uint32_t>(features));
}

// As for the modern interface (§4.1.3.1, config_reads.hpp), after the registers.
void LegacyPciTransport::read_config(std::size_t offset, std::span<std::byte> out) {
  read_config_registers(*ports_, config_offset_, config_size(), offset, out);
}

std::uint16_t LegacyPciTransport::queue_max_size(std::uint16_t index) {
  if (index >= ProbedQueues::kMax) return 0;
  ports_->write16(legacy::kQueueSelect, index);
  const std::uint16_t size = ports_->read16(legacy::kQueueSize);
  if (size > ring::kMaxQueueSize) {
    runtime::logger("pci").warn("{}: queue {} claims {} entries, more than any ring may have; not using it", describe(), index, size);
    return 0;
  }
  return size;
}

// §4.1.4.8: the queue's size is the device's, and the ring is given as a page number.
Result<> LegacyPciTransport::enable_queue(const transport::QueueSetup& s) {
  const std::string queue = describe() + ": queue " + std::to_string(s.index);
  if (s.index >= queue_count()) return Fault(TransportError::Refused, queue + " does not exist");
  const std::uint16_t size = queue_max_size(s.index);  // also selects the queue
  if (s.size != size)
    return Fault(TransportError::BadRequest, queue + " has " + std::to_string(size) + " entries, fixed by the device; a ring of " +
                                                 std::to_string(s.size) + " was offered");
  auto page = legacy_ring_page(s, queue);
  if (!page) return std::move(page).error();
  ports_->write32(legacy::kQueueAddress, *page);
  queues_.enabled(s.index);
  return Ok{};
}

// §4.1.4.8: the queue index written to the notify register. The port write is an I/O
// instruction, which x86 orders after every earlier store; the fence keeps the compiler from
// moving ring writes past it.
bool LegacyPciTransport::notify(std::uint16_t index) noexcept {
  if (!queues_.may_notify(index)) return false;
  std::atomic_thread_fence(std::memory_order_release);
  ports_->write16(legacy::kQueueNotify, index);
  return true;
}

}  // namespace netfront::virtio::transport::pci
