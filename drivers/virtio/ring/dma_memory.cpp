#include "drivers/virtio/ring/dma_memory.hpp"

#include <cstring>

namespace netfront::virtio::ring {

Result<DmaMemory> DmaMemory::allocate(std::size_t size, std::size_t align, AddressMode mode, int socket) {
  auto block = runtime::DeviceMemory::allocate(size, align, socket);
  if (!block)
    return block.error().with_context("cannot reserve " + std::to_string(size) + " bytes of DMA memory");
  DmaMemory m;
  m.device_addr_ = mode == AddressMode::VirtualAddress ? reinterpret_cast<std::uint64_t>(block->data()) : block->iova();
  m.data_ = block->data();
  m.size_ = block->size();
  m.block_ = std::move(*block);
  return m;
}

void DmaMemory::zero() noexcept {
  if (data_ != nullptr) std::memset(data_, 0, size_);
}

}  // namespace netfront::virtio::ring
