// A PCI function bound to uio_pci_generic: configuration space through sysfs' "config" file,
// BARs by mmap of the "resourceN" files. There is no IOMMU on this path, so the device must be
// given physical addresses: DPDK has to run in IOVA-as-PA mode (hugepages, root). Nor is there
// anything to confine the device: it can reach all of the machine's memory, not only
// netfront's device memory, which the log says at connect (docs/reliability.md).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "drivers/virtio/transport/pci/function_impl.hpp"
#include "drivers/virtio/transport/pci/sysfs.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::transport::pci {
namespace {

class UioFunction final : public PciFunction {
 public:
  UioFunction(const PciAddress& a, int config_fd) : address_(a), config_fd_(config_fd), sizes_(sysfs::memory_bar_sizes(a)) {}
  ~UioFunction() override {
    for (unsigned i = 0; i < maps_.size(); ++i)
      if (maps_[i]) ::munmap(const_cast<std::byte*>(maps_[i]), sizes_[i]);
    ::close(config_fd_);
  }
  KernelDriver kernel_driver() const noexcept override { return KernelDriver::Uio; }
  const PciAddress& address() const noexcept override { return address_; }
  Result<> read_config(std::size_t offset, std::span<std::byte> out) override {
    return checked_io(::pread(config_fd_, out.data(), out.size(), static_cast<off_t>(offset)), out.size(), "read");
  }
  Result<> write_config(std::size_t offset, std::span<const std::byte> in) override {
    return checked_io(::pwrite(config_fd_, in.data(), in.size(), static_cast<off_t>(offset)), in.size(), "write");
  }
  const std::array<std::uint64_t, 6>& bar_sizes() const noexcept override { return sizes_; }
  Result<volatile std::byte*> map_bar(unsigned bar) override {
    if (bar >= 6 || sizes_[bar] == 0) return Fault(TransportError::BadRequest, "BAR " + std::to_string(bar) + " is not a memory BAR");
    if (maps_[bar]) return maps_[bar];
    const std::string path = sysfs::device_dir(address_) + "/resource" + std::to_string(bar);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Fault(TransportError::System, "open " + path + ": " + std::strerror(errno));
    void* p = ::mmap(nullptr, sizes_[bar], PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const int err = errno;
    ::close(fd);
    if (p == MAP_FAILED) return Fault(TransportError::System, "mmap " + path + ": " + std::strerror(err));
    maps_[bar] = static_cast<volatile std::byte*>(p);
    return maps_[bar];
  }
  Result<PortIo*> io_bar(unsigned bar) override {
    if (bar >= 6) return Fault(TransportError::BadRequest, "BAR " + std::to_string(bar) + " does not exist");
    if (ports_[bar]) return ports_[bar].get();
    const auto range = sysfs::io_bar(address_, bar);
    if (!range) return Fault(TransportError::ProtocolViolation, "BAR " + std::to_string(bar) + " is not an I/O-port BAR");
    auto ports = open_ports(sysfs::device_dir(address_) + "/resource" + std::to_string(bar), range->size);
    if (!ports) return std::move(ports).error();
    ports_[bar] = std::move(*ports);
    return ports_[bar].get();
  }

 private:
  Result<> checked_io(ssize_t done, std::size_t wanted, const char* what) {
    if (done == static_cast<ssize_t>(wanted)) return Ok{};
    return Fault(TransportError::System, std::string("PCI configuration ") + what + " on " + address_.to_string() + " failed" +
                          (done < 0 ? std::string(": ") + std::strerror(errno) : std::string(" (short)")));
  }
  PciAddress address_;
  int config_fd_;
  std::array<std::uint64_t, 6> sizes_;
  std::array<volatile std::byte*, 6> maps_{};
  std::array<std::unique_ptr<PortIo>, 6> ports_;
};

}  // namespace

Result<std::unique_ptr<PciFunction>> open_uio_function(const PciAddress& a) {
  const std::string path = sysfs::device_dir(a) + "/config";
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Fault(TransportError::System, "open " + path + ": " + std::strerror(errno) + " (netfront needs root for uio)");
  runtime::logger("pci").warn("{}: uio_pci_generic has no IOMMU: the device can reach all of this machine's memory, not only "
                              "netfront's rings and packet buffers (bind it to vfio-pci behind an IOMMU to confine it)",
                              a.to_string());
  return std::unique_ptr<PciFunction>(new UioFunction(a, fd));
}

}  // namespace netfront::virtio::transport::pci
