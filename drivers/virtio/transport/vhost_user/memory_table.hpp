// Our memory as a vhost-user backend must see it: the device memory regions (rings and packet
// data rooms, runtime/device_memory.hpp) and nothing else, each a file descriptor the backend
// maps whole. DPDK's own memory (mbuf headers, mempools) is never shared. Guest addresses
// equal our virtual addresses, which is what descriptors carry.
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
