// A virtio-mmio device's registers from userspace: /dev/mem, mapped uncached (O_SYNC). Debian's
// kernel is built with CONFIG_IO_STRICT_DEVMEM, so this works only while no kernel driver
// holds the region: virtio_mmio must stay unloaded (it is a module, and under QEMU's microvm
// the devices are ACPI platform devices LNRO0005 that nothing else claims).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "drivers/virtio/transport/mmio/mmio_spec.hpp"
#include "drivers/virtio/transport/mmio/mmio_transport.hpp"
#include "netfront/device_id.hpp"

namespace netfront::virtio::transport::mmio {
namespace {

class DevMemWindow final : public RegisterWindow {
 public:
  DevMemWindow(void* map, std::size_t map_len, std::size_t offset, std::uint64_t physical)
      : map_(map), map_len_(map_len), offset_(offset), physical_(physical) {}
  ~DevMemWindow() override { ::munmap(map_, map_len_); }
  volatile std::byte* base() const noexcept override { return static_cast<volatile std::byte*>(map_) + offset_; }
  std::size_t size() const noexcept override { return kWindowSize; }
  std::uint64_t physical_address() const noexcept override { return physical_; }

 private:
  void* map_;
  std::size_t map_len_, offset_;
  std::uint64_t physical_;
};

}  // namespace

Result<std::unique_ptr<RegisterWindow>> map_device_window(std::uint64_t physical) {
  const std::string at = MmioAddress{physical}.to_string();
  if (physical % 4 != 0) return Fault(TransportError::BadRequest, std::string("virtio-mmio window at ") + at + " is not 4-byte aligned");
  const int fd = ::open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
  if (fd < 0) return Fault(TransportError::System, std::string("open /dev/mem: ") + std::strerror(errno) + " (netfront needs root for virtio-mmio)");
  const std::uint64_t page = physical & ~std::uint64_t{kPageSize - 1};
  const std::size_t offset = static_cast<std::size_t>(physical - page);
  const std::size_t len = (offset + kWindowSize + kPageSize - 1) & ~(kPageSize - 1);
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(page));
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED)
    return Fault(TransportError::System, std::string("mapping the virtio-mmio window at ") + at + " from /dev/mem: " + std::strerror(err) +
                                             (err == EPERM ? " (a kernel driver holds it: is virtio_mmio loaded?)" : ""));
  return std::unique_ptr<RegisterWindow>(new DevMemWindow(p, len, offset, physical));
}

}  // namespace netfront::virtio::transport::mmio
