#include "drivers/virtio/transport/pci/virtio_pci_transport.hpp"

#include <atomic>
#include <cstring>

#include "drivers/virtio/transport/config_reads.hpp"
#include "drivers/virtio/transport/device_reset.hpp"
#include "drivers/virtio/transport/pci/pci_spec.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::transport::pci {
namespace {
constexpr std::uint16_t kMaxQueueSize = 32768;  // §2.7 / §2.8: the largest ring either layout allows
}  // namespace

Result<std::unique_ptr<VirtioPciTransport>> VirtioPciTransport::open(std::unique_ptr<PciFunction> function) {
  std::byte config[kPciConfigSize];
  if (auto r = function->read_config(0, config); !r) return std::move(r).error();
  auto layout = find_virtio_capabilities(config, function->bar_sizes());
  if (!layout) return layout.error().with_context(function->address().to_string());
  return open(std::move(function), *layout);
}

Result<std::unique_ptr<VirtioPciTransport>> VirtioPciTransport::open(std::unique_ptr<PciFunction> function,
                                                                     const VirtioPciLayout& layout) {
  std::unique_ptr<VirtioPciTransport> t(new VirtioPciTransport(std::move(function), layout));
  t->numa_node_ = numa_node_of(t->function_->address());
  if (auto r = t->map_regions(); !r) return std::move(r).error();
  // The device is reset while it cannot reach memory: one a previous driver left running
  // (with bus mastering on: uio_pci_generic clears nothing) would otherwise go on using rings
  // that are no longer anyone's while it resets.
  if (auto r = set_command_bits(*t->function_, kPciCommandMemory, kPciCommandBusMaster); !r) return std::move(r).error();
  if (auto r = t->reset(); !r) return std::move(r).error();
  if (auto r = set_command_bits(*t->function_, kPciCommandBusMaster, 0); !r) return std::move(r).error();
  return t;
}

VirtioPciTransport::VirtioPciTransport(std::unique_ptr<PciFunction> function, const VirtioPciLayout& layout)
    : function_(std::move(function)), layout_(layout) {}

VirtioPciTransport::~VirtioPciTransport() {
  // Stop the device before DPDK's memory can be reused, then take away its right to DMA.
  if (common_.valid()) (void)reset();
  (void)set_command_bits(*function_, 0, kPciCommandBusMaster);
}

Result<> VirtioPciTransport::map_regions() {
  auto map = [&](const BarRegion& r) -> Result<volatile std::byte*> {
    auto base = function_->map_bar(r.bar);
    if (!base) return std::move(base).error();
    return *base + r.offset;
  };
  auto common = map(layout_.common);
  if (!common) return std::move(common).error();
  common_ = Mmio(*common, function_->register_observer());
  auto notify = map(layout_.notify);
  if (!notify) return std::move(notify).error();
  notify_base_ = *notify;
  if (layout_.device.length > 0) {
    auto device = map(layout_.device);
    if (!device) return std::move(device).error();
    device_config_ = Mmio(*device, function_->register_observer());
  }
  return Ok{};
}

Result<> VirtioPciTransport::reset() {
  doorbells_.clear();
  return reset_device(describe(), unresponsive_, [&] { common_.write8(common::kDeviceStatus, 0); },
                      [&] { return common_.read8(common::kDeviceStatus); });
}

// PCI 3.0 §6.2.2 (Command register).
bool VirtioPciTransport::revoke_dma() noexcept { return revoke_bus_mastering(*function_); }

std::uint8_t VirtioPciTransport::status() { return common_.read8(common::kDeviceStatus); }
void VirtioPciTransport::set_status(std::uint8_t status) { common_.write8(common::kDeviceStatus, status); }

std::uint64_t VirtioPciTransport::device_features() {
  std::uint64_t features = 0;
  for (std::uint32_t word = 0; word < 2; ++word) {
    common_.write32(common::kDeviceFeatureSelect, word);
    features |= std::uint64_t{common_.read32(common::kDeviceFeature)} << (32 * word);
  }
  return features;
}

void VirtioPciTransport::set_driver_features(std::uint64_t features) {
  for (std::uint32_t word = 0; word < 2; ++word) {
    common_.write32(common::kDriverFeatureSelect, word);
    common_.write32(common::kDriverFeature, static_cast<std::uint32_t>(features >> (32 * word)));
  }
}

std::uint32_t VirtioPciTransport::config_generation() { return common_.read8(common::kConfigGeneration); }

// §4.1.3.1 (config_reads.hpp).
void VirtioPciTransport::read_config(std::size_t offset, std::span<std::byte> out) {
  if (!device_config_.valid()) {
    std::memset(out.data(), 0, out.size());
    return;
  }
  read_config_registers(device_config_, 0, layout_.device.length, offset, out);
}

std::uint16_t VirtioPciTransport::queue_count() { return common_.read16(common::kNumQueues); }

std::uint16_t VirtioPciTransport::queue_max_size(std::uint16_t index) {
  if (index >= queue_count()) return 0;
  common_.write16(common::kQueueSelect, index);
  const std::uint16_t size = common_.read16(common::kQueueSize);
  if (size > kMaxQueueSize) {
    runtime::logger("pci").warn("{}: queue {} claims {} entries, more than any ring may have; not using it", describe(),
                                index, size);
    return 0;
  }
  return size;
}

// §4.1.5.1.3 virtqueue configuration.
Result<> VirtioPciTransport::enable_queue(const transport::QueueSetup& s) {
  const std::uint16_t max = queue_max_size(s.index);  // also selects the queue
  if (max == 0 || s.size == 0 || s.size > max)
    return Fault(max == 0 ? TransportError::Refused : TransportError::BadRequest,
                          describe() + ": queue " + std::to_string(s.index) + " cannot take " + std::to_string(s.size) +
                          " entries (device allows " + std::to_string(max) + ")");
  common_.write16(common::kQueueSize, s.size);
  common_.write16(common::kQueueMsixVector, kNoMsiVector);  // poll mode: no interrupts
  common_.write64_halves(common::kQueueDesc, s.addresses.desc);
  common_.write64_halves(common::kQueueDriver, s.addresses.driver);
  common_.write64_halves(common::kQueueDevice, s.addresses.device);
  // §4.1.4.4: the doorbell is at cap.offset + queue_notify_off * multiplier, and the device
  // must keep it inside the notification area; a device that does not is not written to.
  const std::uint64_t at = std::uint64_t{common_.read16(common::kQueueNotifyOff)} * layout_.notify_off_multiplier;
  if (at + 2 > layout_.notify.length)
    return Fault(TransportError::ProtocolViolation, describe() + ": queue " + std::to_string(s.index) + " doorbell at +" + std::to_string(at) +
                          " is outside the notification area of " + std::to_string(layout_.notify.length) + " bytes");
  if (doorbells_.size() <= s.index) doorbells_.resize(s.index + 1u);
  doorbells_[s.index] = Doorbell(notify_base_ + at);
  common_.write16(common::kQueueEnable, 1);
  return Ok{};
}

// §4.1.5.2: the queue index written to the queue's doorbell. Ring writes must reach memory
// before the device can see the doorbell: a release fence orders them (a compiler barrier on
// x86, where stores are not reordered with a later uncached store).
bool VirtioPciTransport::notify(std::uint16_t index) noexcept {
  if (index >= doorbells_.size() || !doorbells_[index].valid()) return false;
  std::atomic_thread_fence(std::memory_order_release);
  doorbells_[index].ring(index);
  return true;
}

}  // namespace netfront::virtio::transport::pci
