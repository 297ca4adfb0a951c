#include "drivers/virtio/transport/vhost_user/memory_table.hpp"

#include "drivers/virtio/transport/vhost/guest_memory.hpp"

namespace netfront::virtio::transport::vhost_user {

Result<MemoryMap> collect_memory() {
  auto regions = vhost::guest_memory(VHOST_MEMORY_MAX_NREGIONS, "vhost-user backend");
  if (!regions) return std::move(regions).error();
  MemoryMap m;
  m.table.num_regions = static_cast<std::uint32_t>(regions->size());
  for (std::size_t i = 0; i < regions->size(); ++i) {
    const vhost::GuestRegion& r = (*regions)[i];
    m.table.regions[i] = {r.guest_address, r.size, r.user_address, 0};
    m.fds.push_back(r.fd);
  }
  return m;
}

}  // namespace netfront::virtio::transport::vhost_user
