// Our DMA-able memory as a vhost-user backend must see it: the DPDK memory segments, merged
// into as few regions as possible, each a file descriptor and an offset the backend maps.
// Guest addresses equal our virtual addresses, which is what descriptors carry.
#pragma once

#include <vector>

#include "drivers/virtio/transport/vhost_user/protocol.hpp"
#include "netfront/result.hpp"

namespace netfront::virtio::vhost_user {

struct MemoryMap {
  MemoryTable table{};
  std::vector<int> fds;  // one per region, owned by DPDK (not closed here)
};

// F9: more than VHOST_MEMORY_MAX_NREGIONS regions is an error that says so.
Result<MemoryMap> collect_memory();

}  // namespace netfront::virtio::vhost_user
