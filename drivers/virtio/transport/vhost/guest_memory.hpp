// Our memory as a vhost backend must see it: the device memory regions (rings and packet data
// rooms, runtime/device_memory.hpp) and nothing else; DPDK's own memory (mbuf headers,
// mempools) is never shared. Guest addresses equal our virtual addresses, which is what
// descriptors carry (AddressMode::VirtualAddress). A vhost-user backend maps each region by
// its file descriptor; the kernel's vhost reaches it through our page tables.
#pragma once

#include <cstdint>
#include <vector>

#include "drivers/virtio/transport/transport_error.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::transport::vhost {

struct GuestRegion {
  std::uint64_t guest_address;
  std::uint64_t size;
  std::uint64_t user_address;
  int fd;  // all of the region, from offset 0; owned by runtime::DeviceMemory
};

// F9: at most `max_regions` (what the backend takes), or an error that says so.
Result<std::vector<GuestRegion>> guest_memory(unsigned max_regions, const char* backend);

}  // namespace netfront::virtio::transport::vhost
