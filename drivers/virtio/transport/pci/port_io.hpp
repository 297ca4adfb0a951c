// Accesses to a device's I/O-port BAR, where a legacy virtio device keeps its registers
// (virtio 1.2 §4.1.4.8: transitional devices expose the legacy interface in BAR0, in I/O
// space). Unlike a memory BAR it cannot be mapped: each access is an in or out instruction,
// here made by the kernel for any thread of the process (or a fake device model's answer in a
// test). Offsets are from the BAR's start, checked by the caller against size().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "drivers/virtio/transport/transport_error.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::transport::pci {

class PortIo {
 public:
  virtual ~PortIo() = default;
  virtual std::size_t size() const noexcept = 0;
  virtual std::uint8_t read8(std::size_t off) noexcept = 0;
  virtual std::uint16_t read16(std::size_t off) noexcept = 0;
  virtual std::uint32_t read32(std::size_t off) noexcept = 0;
  virtual void write8(std::size_t off, std::uint8_t v) noexcept = 0;
  virtual void write16(std::size_t off, std::uint16_t v) noexcept = 0;
  virtual void write32(std::size_t off, std::uint32_t v) noexcept = 0;
};

// The `size` ports of an I/O BAR through its sysfs resource file (root). Errors say why not.
Result<std::unique_ptr<PortIo>> open_ports(const std::string& resource_file, std::size_t size);

}  // namespace netfront::virtio::transport::pci
