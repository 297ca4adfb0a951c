// virtio over PCI through the legacy interface (virtio 1.2 §4.1.4.8, the 0.9.5 layout): a
// device with disable-modern=on, or one of an older hypervisor, has no virtio capabilities,
// only registers in I/O BAR0: 32 feature bits, a status byte, one page number per queue for a
// ring the device lays out itself (§2.7.2), queue sizes it fixes, and a doorbell register.
// Reached through uio only: a legacy device does not translate through an IOMMU, so behind
// VFIO the addresses it would be given are not the ones it uses. Poll mode: MSI-X is left as
// the kernel driver left it (off under uio), no vectors are assigned.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "drivers/virtio/transport/pci/pci_function.hpp"
#include "drivers/virtio/transport/probed_queues.hpp"
#include "drivers/virtio/transport/transport.hpp"

namespace netfront::virtio::transport::pci {

class LegacyPciTransport final : public transport::Transport {
 public:
  // Opens BAR0's ports and turns on I/O decoding and bus mastering. Errors name what is wrong.
  static Result<std::unique_ptr<LegacyPciTransport>> open(std::unique_ptr<PciFunction> function);
  // The same with the configuration space already read (by open_virtio_pci): at least 256 bytes.
  static Result<std::unique_ptr<LegacyPciTransport>> open(std::unique_ptr<PciFunction> function,
                                                          std::span<const std::byte> config);
  ~LegacyPciTransport() override;

  std::string describe() const override { return "pci:" + function_->address().to_string() + " (legacy)"; }
  ring::AddressMode address_mode() const noexcept override { return ring::AddressMode::Iova; }
  bool legacy() const noexcept override { return true; }
  int numa_node() const noexcept override { return numa_node_; }
  Result<> reset() override;
  bool revoke_dma() noexcept override;
  std::uint8_t status() override;
  void set_status(std::uint8_t status) override;
  std::uint64_t device_features() override;
  void set_driver_features(std::uint64_t features) override;
  std::uint32_t config_generation() override { return 0; }  // none: see read_config_consistent
  std::size_t config_size() const override { return ports_->size() - config_offset_; }
  void read_config(std::size_t offset, std::span<std::byte> out) override;
  std::uint16_t queue_count() override;
  std::uint16_t queue_max_size(std::uint16_t index) override;
  Result<> enable_queue(const transport::QueueSetup& setup) override;
  bool notify(std::uint16_t index) noexcept override;

 private:
  LegacyPciTransport(std::unique_ptr<PciFunction> function, PortIo& ports, std::size_t config_offset);

  std::unique_ptr<PciFunction> function_;
  PortIo* ports_;
  std::size_t config_offset_;
  // Probed when first asked after a reset or a feature change (QEMU's virtio-net has 2N+1
  // queues with MQ, 3 without).
  std::optional<std::uint16_t> queue_count_;
  ProbedQueues queues_;
  bool unresponsive_ = false;  // A12, as for the modern interface
  int numa_node_ = -1;
};

}  // namespace netfront::virtio::transport::pci
