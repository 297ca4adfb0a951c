// virtio over PCI, modern devices (virtio 1.2 §4.1): the §2 facilities as registers of the
// common configuration structure, doorbells in the notification area, the device-specific
// configuration in its own window, all found through the vendor capabilities and mapped from
// the BARs. Poll mode: no interrupt vectors are assigned (VIRTIO_MSI_NO_VECTOR).
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "drivers/virtio/transport/pci/mmio.hpp"
#include "drivers/virtio/transport/pci/pci_function.hpp"
#include "drivers/virtio/transport/pci/virtio_capabilities.hpp"
#include "drivers/virtio/transport/transport.hpp"

namespace netfront::virtio::transport::pci {

class VirtioPciTransport final : public transport::Transport {
 public:
  // Parses the capabilities, maps what they point at and turns on memory decoding and bus
  // mastering. Errors name what is wrong with the function.
  static Result<std::unique_ptr<VirtioPciTransport>> open(std::unique_ptr<PciFunction> function);
  // The same with the capabilities already parsed (by open_virtio_pci, which had to know).
  static Result<std::unique_ptr<VirtioPciTransport>> open(std::unique_ptr<PciFunction> function, const VirtioPciLayout& layout);
  ~VirtioPciTransport() override;

  std::string describe() const override { return "pci:" + function_->address().to_string(); }
  ring::AddressMode address_mode() const noexcept override { return ring::AddressMode::Iova; }
  KernelDriver kernel_driver() const noexcept { return function_->kernel_driver(); }
  // sysfs numa_node of the function (-1 there, or absent: unknown).
  int numa_node() const noexcept override { return numa_node_; }
  Result<> reset() override;
  bool revoke_dma() noexcept override;
  std::uint8_t status() override;
  void set_status(std::uint8_t status) override;
  std::uint64_t device_features() override;
  void set_driver_features(std::uint64_t features) override;
  std::uint32_t config_generation() override;
  std::size_t config_size() const override { return layout_.device.length; }
  void read_config(std::size_t offset, std::span<std::byte> out) override;
  std::uint16_t queue_count() override;
  std::uint16_t queue_max_size(std::uint16_t index) override;
  Result<> enable_queue(const transport::QueueSetup& setup) override;
  bool notify(std::uint16_t index) noexcept override;

 private:
  VirtioPciTransport(std::unique_ptr<PciFunction> function, const VirtioPciLayout& layout);
  Result<> map_regions();

  std::unique_ptr<PciFunction> function_;
  VirtioPciLayout layout_;
  Mmio common_;
  Mmio device_config_;
  volatile std::byte* notify_base_ = nullptr;
  std::vector<Doorbell> doorbells_;  // per queue index, valid once the queue is enabled
  // A12: the device once failed to complete a reset; it is not waited for again.
  bool unresponsive_ = false;
  int numa_node_ = -1;
};

}  // namespace netfront::virtio::transport::pci
