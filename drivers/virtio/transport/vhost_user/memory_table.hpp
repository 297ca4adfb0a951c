// SET_MEM_TABLE's payload: the guest memory of vhost/guest_memory.hpp, each region a file
// descriptor the backend maps whole.
#pragma once

#include <vector>

#include "drivers/virtio/transport/vhost_user/protocol.hpp"
#include "drivers/virtio/transport/transport_error.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::transport::vhost_user {

struct MemoryMap {
  MemoryTable table{};
  std::vector<int> fds;  // one per region, owned by runtime::DeviceMemory (not closed here)
};

// F9: more than VHOST_MEMORY_MAX_NREGIONS regions is an error that says so.
Result<MemoryMap> collect_memory();

}  // namespace netfront::virtio::transport::vhost_user
