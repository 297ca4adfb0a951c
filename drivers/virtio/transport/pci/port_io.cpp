#include "drivers/virtio/transport/pci/port_io.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <sys/io.h>
#endif

namespace netfront::virtio::transport::pci {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// Little-endian like the registers of a legacy device on x86 (§4.1.4.8: guest endianness).
class MachinePorts final : public PortIo {
 public:
  MachinePorts(std::uint16_t base, std::size_t size) : base_(base), size_(size) {}
  ~MachinePorts() override { (void)::ioperm(base_, size_, 0); }
  std::size_t size() const noexcept override { return size_; }
  std::uint8_t read8(std::size_t off) noexcept override { return ::inb(port(off)); }
  std::uint16_t read16(std::size_t off) noexcept override { return ::inw(port(off)); }
  std::uint32_t read32(std::size_t off) noexcept override { return ::inl(port(off)); }
  void write8(std::size_t off, std::uint8_t v) noexcept override { ::outb(v, port(off)); }
  void write16(std::size_t off, std::uint16_t v) noexcept override { ::outw(v, port(off)); }
  void write32(std::size_t off, std::uint32_t v) noexcept override { ::outl(v, port(off)); }

 private:
  std::uint16_t port(std::size_t off) const noexcept { return static_cast<std::uint16_t>(base_ + off); }
  std::uint16_t base_;
  std::size_t size_;
};
#endif

}  // namespace

Result<std::unique_ptr<PortIo>> open_ports(std::uint64_t base, std::size_t size) {
#if defined(__x86_64__) || defined(__i386__)
  // ioperm reaches the 64 Ki ports of x86; an I/O BAR is never larger than 256 bytes.
  if (size == 0 || size > 256 || base + size > 0x10000)
    return Fault(TransportError::ProtocolViolation, "I/O BAR of " + std::to_string(size) + " bytes at port " + std::to_string(base) +
                                                        " is not one a PCI function may have");
  if (::ioperm(static_cast<unsigned long>(base), size, 1) != 0)
    return Fault(TransportError::System, "ioperm for the legacy virtio registers: " + std::string(std::strerror(errno)) +
                                             " (netfront needs root for a legacy device)");
  return std::unique_ptr<PortIo>(new MachinePorts(static_cast<std::uint16_t>(base), size));
#else
  (void)base;
  (void)size;
  return Fault(TransportError::Unsupported, "port I/O (legacy virtio devices) is only implemented for x86");
#endif
}

}  // namespace netfront::virtio::transport::pci
