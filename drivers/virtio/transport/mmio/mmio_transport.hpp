// virtio over MMIO (virtio 1.2 §4.2): a device's registers in one window of physical memory,
// which microVMs (QEMU's microvm machine, Firecracker) give their virtio devices instead of
// PCI functions. Version 2 is the modern interface (64-bit ring addresses, QueueReady,
// ConfigGeneration); version 1 the legacy one (§4.2.4: a page number per ring in the legacy
// layout, no FEATURES_OK, 32 feature bits). No interrupts are used: poll mode, as on PCI.
// There is no IOMMU and no bus mastering switch: the device is given physical addresses and,
// until it has confirmed a reset, may reach all of memory (revoke_dma() cannot cut it off).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "drivers/virtio/transport/pci/mmio.hpp"
#include "drivers/virtio/transport/probed_queues.hpp"
#include "drivers/virtio/transport/transport.hpp"

namespace netfront::virtio::transport::mmio {

// A device's register window as this process reaches it: mapped from /dev/mem, or a test's
// memory with a device model watching writes.
class RegisterWindow {
 public:
  virtual ~RegisterWindow() = default;
  virtual volatile std::byte* base() const noexcept = 0;
  virtual std::size_t size() const noexcept = 0;
  virtual std::uint64_t physical_address() const noexcept = 0;
  virtual pci::RegisterWriteObserver* observer() noexcept { return nullptr; }
};

// The window of the device at `physical` (page-aligned or not), mapped through /dev/mem.
Result<std::unique_ptr<RegisterWindow>> map_device_window(std::uint64_t physical);

// Whether the window holds a virtio device (magic, version 1 or 2) of type network: its
// version; the error says what it holds instead.
Result<std::uint32_t> check_virtio_net_window(RegisterWindow& window);

class MmioTransport final : public transport::Transport {
 public:
  static Result<std::unique_ptr<MmioTransport>> open(std::unique_ptr<RegisterWindow> window);
  ~MmioTransport() override;

  std::string describe() const override;
  ring::AddressMode address_mode() const noexcept override { return ring::AddressMode::Iova; }
  bool legacy() const noexcept override { return version_ == 1; }
  Result<> reset() override;
  bool revoke_dma() noexcept override { return false; }
  std::uint8_t status() override;
  void set_status(std::uint8_t status) override;
  std::uint64_t device_features() override;
  void set_driver_features(std::uint64_t features) override;
  std::uint32_t config_generation() override;
  std::size_t config_size() const override { return window_->size() - kConfigStart; }
  void read_config(std::size_t offset, std::span<std::byte> out) override;
  std::uint16_t queue_count() override;
  std::uint16_t queue_max_size(std::uint16_t index) override;
  Result<> enable_queue(const transport::QueueSetup& setup) override;
  bool notify(std::uint16_t index) noexcept override;

 private:
  static constexpr std::size_t kConfigStart = 0x100;
  MmioTransport(std::unique_ptr<RegisterWindow> window, std::uint32_t version);
  Result<> enable_legacy_queue(const transport::QueueSetup& setup, const std::string& queue);

  std::unique_ptr<RegisterWindow> window_;
  pci::Mmio regs_;
  std::uint32_t version_;
  // Probed when first asked after a reset or a feature change: a device may have more queues
  // with some features (QEMU's virtio-net: 2N+1 with MQ, 3 without).
  std::optional<std::uint16_t> queue_count_;
  ProbedQueues queues_;
  bool unresponsive_ = false;  // A12
};

}  // namespace netfront::virtio::transport::mmio
