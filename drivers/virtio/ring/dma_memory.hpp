// Memory the device reaches by DMA (rings, shared headers): a DPDK memzone, zeroed, aligned,
// IOVA-contiguous, and known by the address the device must be given for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "netfront/result.hpp"

struct rte_memzone;

namespace netfront::virtio {

// What a descriptor carries as an address. vhost-user backends map our memory and expect our
// virtual addresses; a PCI device behind an IOMMU or without one expects the IOVA DPDK assigned.
enum class AddressMode : std::uint8_t { VirtualAddress, Iova };

class DmaMemory {
 public:
  static Result<DmaMemory> allocate(std::size_t size, std::size_t align, AddressMode mode, int socket = -1);

  DmaMemory() noexcept = default;
  DmaMemory(DmaMemory&& o) noexcept
      : zone_(std::exchange(o.zone_, nullptr)), device_addr_(std::exchange(o.device_addr_, 0)), size_(std::exchange(o.size_, 0)) {}
  DmaMemory& operator=(DmaMemory&& o) noexcept {
    DmaMemory(std::move(o)).swap(*this);
    return *this;
  }
  ~DmaMemory();
  void swap(DmaMemory& o) noexcept {
    std::swap(zone_, o.zone_);
    std::swap(device_addr_, o.device_addr_);
    std::swap(size_, o.size_);
  }

  std::byte* data() const noexcept;
  std::uint64_t device_address() const noexcept { return device_addr_; }
  std::size_t size() const noexcept { return size_; }
  void zero() noexcept;
  // A12: a device that was not confirmed stopped may still use this memory. It stays allocated
  // for the rest of the process (never freed, never handed out again); this object lets go.
  void abandon() noexcept {
    zone_ = nullptr;
    device_addr_ = 0;
    size_ = 0;
  }

 private:
  const rte_memzone* zone_ = nullptr;
  std::uint64_t device_addr_ = 0;
  std::size_t size_ = 0;
};

}  // namespace netfront::virtio
