#include "drivers/virtio/transport/vhost/guest_memory.hpp"

#include <string>

#include "runtime/device_memory.hpp"

namespace netfront::virtio::transport::vhost {

Result<std::vector<GuestRegion>> guest_memory(unsigned max_regions, const char* backend) {
  const std::vector<runtime::DeviceRegion> regions = runtime::DeviceMemory::regions();
  if (regions.empty()) return Fault(TransportError::NoMemory, "no device memory to share");
  if (regions.size() > max_regions)
    return Fault(TransportError::Unsupported, "device memory is in " + std::to_string(regions.size()) +
                                                  " regions (one per NUMA node); a " + backend + " takes " +
                                                  std::to_string(max_regions));
  std::vector<GuestRegion> out;
  for (const runtime::DeviceRegion& r : regions) {
    const auto va = reinterpret_cast<std::uint64_t>(r.base);
    out.push_back({va, r.size, va, r.fd});
  }
  return out;
}

}  // namespace netfront::virtio::transport::vhost
