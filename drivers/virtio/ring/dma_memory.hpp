// Memory the device reaches by DMA (rings, shared headers, indirect tables), known by the
// address the device must be given for it. Either a zeroed, aligned block of device memory
// (runtime/device_memory.hpp) that this object owns, or bytes the caller owns and keeps for as
// long as this object is used (over()): what tests build rings on, with no DPDK running.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "drivers/virtio/virtio_result.hpp"
#include "runtime/device_memory.hpp"

namespace netfront::virtio::ring {

// What a descriptor carries as an address. vhost-user backends map our memory and expect our
// virtual addresses; a PCI device behind an IOMMU or without one expects the IOVA DPDK assigned.
enum class AddressMode : std::uint8_t { VirtualAddress, Iova };

class DmaMemory {
 public:
  static Result<DmaMemory> allocate(std::size_t size, std::size_t align, AddressMode mode, int socket = -1);

  // Bytes the caller owns, which the device knows at `device_address`.
  static DmaMemory over(std::span<std::byte> bytes, std::uint64_t device_address) noexcept {
    DmaMemory m;
    m.data_ = bytes.data();
    m.size_ = bytes.size();
    m.device_addr_ = device_address;
    return m;
  }

  DmaMemory() noexcept = default;
  DmaMemory(DmaMemory&& o) noexcept
      : block_(std::move(o.block_)), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)),
        device_addr_(std::exchange(o.device_addr_, 0)) {}
  DmaMemory& operator=(DmaMemory&& o) noexcept {
    DmaMemory(std::move(o)).swap(*this);
    return *this;
  }
  void swap(DmaMemory& o) noexcept {
    block_.swap(o.block_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(device_addr_, o.device_addr_);
  }

  std::byte* data() const noexcept { return data_; }
  std::uint64_t device_address() const noexcept { return device_addr_; }
  std::size_t size() const noexcept { return size_; }
  void zero() noexcept;
  // A12: a device that was not confirmed stopped may still use this memory. It stays allocated
  // for the rest of the process (never freed, never handed out again); this object lets go.
  void abandon() noexcept {
    block_.abandon();
    data_ = nullptr;
    size_ = 0;
    device_addr_ = 0;
  }

 private:
  runtime::DeviceBlock block_;  // empty for memory the caller owns
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::uint64_t device_addr_ = 0;
};

}  // namespace netfront::virtio::ring
