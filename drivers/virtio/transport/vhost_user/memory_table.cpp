#include "drivers/virtio/transport/vhost_user/memory_table.hpp"

#include <string>

#include "runtime/device_memory.hpp"

namespace netfront::virtio::transport::vhost_user {

Result<MemoryMap> collect_memory() {
  const std::vector<runtime::DeviceRegion> regions = runtime::DeviceMemory::regions();
  if (regions.empty()) return Fault(TransportError::NoMemory, "no device memory to share");
  if (regions.size() > VHOST_MEMORY_MAX_NREGIONS)
    return Fault(TransportError::Unsupported, "device memory is in " + std::to_string(regions.size()) + " regions (one per NUMA node); a vhost-user "
                          "backend takes " + std::to_string(VHOST_MEMORY_MAX_NREGIONS));
  MemoryMap m;
  m.table.num_regions = static_cast<std::uint32_t>(regions.size());
  for (std::size_t i = 0; i < regions.size(); ++i) {
    const auto va = reinterpret_cast<std::uint64_t>(regions[i].base);
    // Guest addresses are our virtual addresses, which is what descriptors carry; each region
    // is all of its memfd, from offset 0.
    m.table.regions[i] = {va, regions[i].size, va, 0};
    m.fds.push_back(regions[i].fd);
  }
  return m;
}

}  // namespace netfront::virtio::transport::vhost_user
