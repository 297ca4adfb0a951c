// Memory the device reaches by DMA (rings, shared headers, indirect tables): a zeroed, aligned
// block of device memory (runtime/device_memory.hpp), contiguous for the device, and known by
// the address the device must be given for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "netfront/result.hpp"
#include "runtime/device_memory.hpp"

namespace netfront::virtio {

// What a descriptor carries as an address. vhost-user backends map our memory and expect our
// virtual addresses; a PCI device behind an IOMMU or without one expects the IOVA DPDK assigned.
enum class AddressMode : std::uint8_t { VirtualAddress, Iova };

class DmaMemory {
 public:
  static Result<DmaMemory> allocate(std::size_t size, std::size_t align, AddressMode mode, int socket = -1);

  DmaMemory() noexcept = default;
  DmaMemory(DmaMemory&& o) noexcept : block_(std::move(o.block_)), device_addr_(std::exchange(o.device_addr_, 0)) {}
  DmaMemory& operator=(DmaMemory&& o) noexcept {
    DmaMemory(std::move(o)).swap(*this);
    return *this;
  }
  void swap(DmaMemory& o) noexcept {
    block_.swap(o.block_);
    std::swap(device_addr_, o.device_addr_);
  }

  std::byte* data() const noexcept { return block_.data(); }
  std::uint64_t device_address() const noexcept { return device_addr_; }
  std::size_t size() const noexcept { return block_.size(); }
  void zero() noexcept;
  // A12: a device that was not confirmed stopped may still use this memory. It stays allocated
  // for the rest of the process (never freed, never handed out again); this object lets go.
  void abandon() noexcept {
    block_.abandon();
    device_addr_ = 0;
  }

 private:
  runtime::DeviceBlock block_;
  std::uint64_t device_addr_ = 0;
};

}  // namespace netfront::virtio
