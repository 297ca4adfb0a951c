// A PCI function bound to vfio-pci behind an IOMMU. Its group gets a VFIO container of its own
// (not DPDK's default one, into which DPDK maps all of its memory), and into it go the device
// memory regions and nothing else (runtime/device_memory.hpp): the device reaches the rings
// and the packet data rooms, never an mbuf header or DPDK's allocator. rte_vfio_setup_device()
// then adds the group to that container and hands back the device fd; configuration space and
// BARs are regions of that fd (linux/vfio.h).
#include <rte_vfio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "drivers/virtio/transport/pci/function_impl.hpp"
#include "runtime/device_memory.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::transport::pci {
namespace {

constexpr const char* kSysfsDevices = "/sys/bus/pci/devices";

struct Region {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  bool mappable = false;
};

std::optional<Region> region_info(int fd, unsigned index) {
  vfio_region_info info{};
  info.argsz = sizeof info;
  info.index = index;
  if (::ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &info) != 0) return std::nullopt;
  return Region{info.offset, info.size, (info.flags & VFIO_REGION_INFO_FLAG_MMAP) != 0};
}

class VfioFunction final : public PciFunction {
 public:
  VfioFunction(const PciAddress& a, int container, int fd, Region config, std::array<Region, 6> bars)
      : address_(a), name_(a.to_string()), container_(container), fd_(fd), config_(config), bars_(bars) {
    for (unsigned i = 0; i < 6; ++i) sizes_[i] = bars_[i].size;
  }
  ~VfioFunction() override {
    for (unsigned i = 0; i < 6; ++i)
      if (maps_[i]) ::munmap(const_cast<std::byte*>(maps_[i]), bars_[i].size);
    rte_vfio_release_device(kSysfsDevices, name_.c_str(), fd_);
    rte_vfio_container_destroy(container_);  // its mappings go with it
  }
  KernelDriver kernel_driver() const noexcept override { return KernelDriver::Vfio; }
  const PciAddress& address() const noexcept override { return address_; }
  Result<> read_config(std::size_t offset, std::span<std::byte> out) override {
    if (offset + out.size() > config_.size) return Fault(TransportError::BadRequest, "PCI configuration read beyond the region");
    return checked_io(::pread(fd_, out.data(), out.size(), static_cast<off_t>(config_.offset + offset)), out.size(), "read");
  }
  Result<> write_config(std::size_t offset, std::span<const std::byte> in) override {
    if (offset + in.size() > config_.size) return Fault(TransportError::BadRequest, "PCI configuration write beyond the region");
    return checked_io(::pwrite(fd_, in.data(), in.size(), static_cast<off_t>(config_.offset + offset)), in.size(), "write");
  }
  const std::array<std::uint64_t, 6>& bar_sizes() const noexcept override { return sizes_; }
  Result<volatile std::byte*> map_bar(unsigned bar) override {
    if (bar >= 6 || sizes_[bar] == 0) return Fault(TransportError::BadRequest, "BAR " + std::to_string(bar) + " is not a memory BAR");
    if (maps_[bar]) return maps_[bar];
    if (!bars_[bar].mappable) return Fault(TransportError::System, "VFIO does not let BAR " + std::to_string(bar) + " be mapped");
    void* p = ::mmap(nullptr, bars_[bar].size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, static_cast<off_t>(bars_[bar].offset));
    if (p == MAP_FAILED) return Fault(TransportError::System, "mmap of BAR " + std::to_string(bar) + ": " + std::strerror(errno));
    maps_[bar] = static_cast<volatile std::byte*>(p);
    return maps_[bar];
  }

 private:
  Result<> checked_io(ssize_t done, std::size_t wanted, const char* what) {
    if (done == static_cast<ssize_t>(wanted)) return Ok{};
    return Fault(TransportError::System, std::string("PCI configuration ") + what + " on " + name_ + " failed" +
                          (done < 0 ? std::string(": ") + std::strerror(errno) : std::string(" (short)")));
  }
  PciAddress address_;
  std::string name_;
  int container_;
  int fd_;
  Region config_;
  std::array<Region, 6> bars_;
  std::array<std::uint64_t, 6> sizes_{};
  std::array<volatile std::byte*, 6> maps_{};
};

}  // namespace

Result<std::unique_ptr<PciFunction>> open_vfio_function(const PciAddress& a) {
  const std::string name = a.to_string();
  if (!rte_vfio_is_enabled("vfio_pci") && !rte_vfio_is_enabled("vfio"))
    return Fault(TransportError::Unsupported, "VFIO is not enabled in DPDK (load vfio-pci before netfront starts)");
  // Without an IOMMU VFIO confines nothing, and its device addresses would be taken for
  // physical ones: that is uio's case, with its own path (and its warning).
  if (rte_vfio_noiommu_is_enabled() == 1)
    return Fault(TransportError::Unsupported, "VFIO is in no-IOMMU mode: nothing confines the device; bind " + name +
                          " to uio_pci_generic instead (netfront then says so at connect)");
  int group = -1;
  if (rte_vfio_get_group_num(kSysfsDevices, name.c_str(), &group) != 1)
    return Fault(TransportError::Unsupported, name + " has no IOMMU group (is the IOMMU on?)");
  // Device memory exists before the container, so what is mapped covers every later pool.
  const std::vector<runtime::DeviceRegion> regions = runtime::DeviceMemory::regions();
  if (regions.empty()) return Fault(TransportError::NoMemory, "no device memory to map for " + name);
  const int container = rte_vfio_container_create();
  if (container < 0) return Fault(TransportError::System, "cannot create a VFIO container for " + name);
  auto give_up = [&](const std::string& why, int fd = -1) {
    if (fd >= 0) rte_vfio_release_device(kSysfsDevices, name.c_str(), fd);
    rte_vfio_container_destroy(container);
    return Fault(TransportError::System, why);
  };
  if (rte_vfio_container_group_bind(container, group) < 0)
    return give_up("cannot bind IOMMU group " + std::to_string(group) + " of " + name + " to its container");
  int fd = -1;
  vfio_device_info info{};
  info.argsz = sizeof info;
  if (rte_vfio_setup_device(kSysfsDevices, name.c_str(), &fd, &info) != 0 || fd < 0)
    return give_up("VFIO set-up of " + name + " failed (is its IOMMU group viable and the IOMMU on?)");
  // Mapped once the container has its IOMMU type (set by the device set-up). With physical
  // device addresses each page is mapped at its own; otherwise a region is one range.
  const bool physical = runtime::DeviceMemory::physical();
  const std::size_t page = runtime::DeviceMemory::page_size();
  std::size_t mapped = 0;
  for (const runtime::DeviceRegion& r : regions) {
    for (std::size_t off = 0; off < r.size; off += physical ? page : r.size) {
      const std::size_t len = physical ? page : r.size;
      const auto va = reinterpret_cast<std::uint64_t>(r.base + off);
      if (rte_vfio_container_dma_map(container, va, runtime::DeviceMemory::iova(r.base + off), len) != 0)
        return give_up("cannot map device memory for " + name + " into its IOMMU domain", fd);
      mapped += len;
    }
  }
  runtime::logger("pci").info("{}: IOMMU domain of its own, {} MiB of device memory mapped (rings and packet data only)", name,
                              mapped >> 20);
  auto config = region_info(fd, VFIO_PCI_CONFIG_REGION_INDEX);
  std::array<Region, 6> bars{};
  for (unsigned i = 0; i < 6 && i < info.num_regions; ++i)
    if (auto r = region_info(fd, VFIO_PCI_BAR0_REGION_INDEX + i)) bars[i] = *r;
  if (!config || config->size < 256) {
    return give_up("VFIO gives no configuration space for " + name, fd);
  }
  return std::unique_ptr<PciFunction>(new VfioFunction(a, container, fd, *config, bars));
}

}  // namespace netfront::virtio::transport::pci
