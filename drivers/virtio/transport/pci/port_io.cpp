#include "drivers/virtio/transport/pci/port_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netfront::virtio::transport::pci {
namespace {

// sysfs' resourceN file of an I/O BAR: a read or write of 1, 2 or 4 bytes at an offset is the
// kernel's in or out of that width at the BAR's port plus the offset. Unlike ioperm, which
// opens the ports to the calling thread only, the file serves every thread of the process
// (queue pairs may run on loops of their own threads). Little-endian like the legacy
// registers on x86 (§4.1.4.8: guest endianness). A failed access reads as all ones, what a
// bus gives for a device that went away.
class SysfsPorts final : public PortIo {
 public:
  SysfsPorts(int fd, std::size_t size) : fd_(fd), size_(size) {}
  ~SysfsPorts() override { ::close(fd_); }
  std::size_t size() const noexcept override { return size_; }
  std::uint8_t read8(std::size_t off) noexcept override { return in<std::uint8_t>(off); }
  std::uint16_t read16(std::size_t off) noexcept override { return in<std::uint16_t>(off); }
  std::uint32_t read32(std::size_t off) noexcept override { return in<std::uint32_t>(off); }
  void write8(std::size_t off, std::uint8_t v) noexcept override { out(off, v); }
  void write16(std::size_t off, std::uint16_t v) noexcept override { out(off, v); }
  void write32(std::size_t off, std::uint32_t v) noexcept override { out(off, v); }

 private:
  template <typename T>
  T in(std::size_t off) noexcept {
    T v;
    if (::pread(fd_, &v, sizeof v, static_cast<off_t>(off)) != static_cast<ssize_t>(sizeof v)) return static_cast<T>(~T{0});
    return v;
  }
  template <typename T>
  void out(std::size_t off, T v) noexcept {
    (void)!::pwrite(fd_, &v, sizeof v, static_cast<off_t>(off));
  }
  int fd_;
  std::size_t size_;
};

}  // namespace

Result<std::unique_ptr<PortIo>> open_ports(const std::string& resource_file, std::size_t size) {
  // An I/O BAR is at most 256 bytes (PCI 3.0 §6.2.5.1).
  if (size == 0 || size > 256)
    return Fault(TransportError::ProtocolViolation, "I/O BAR of " + std::to_string(size) + " bytes is not one a PCI function may have");
  const int fd = ::open(resource_file.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return Fault(TransportError::System, "open " + resource_file + ": " + std::strerror(errno) + " (netfront needs root for a legacy device)");
  return std::unique_ptr<PortIo>(new SysfsPorts(fd, size));
}

}  // namespace netfront::virtio::transport::pci
