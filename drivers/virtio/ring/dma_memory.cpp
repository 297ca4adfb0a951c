#include "drivers/virtio/ring/dma_memory.hpp"

#include <rte_errno.h>
#include <rte_memzone.h>

#include <atomic>
#include <cstring>
#include <string>

#include "runtime/dpdk_env.hpp"

namespace netfront::virtio {

// A memzone rather than rte_malloc: RTE_MEMZONE_IOVA_CONTIG guarantees the device sees one
// contiguous range even when DPDK runs on 4 KiB pages with IOVA = physical address.
Result<DmaMemory> DmaMemory::allocate(std::size_t size, std::size_t align, AddressMode mode, int socket) {
  if (auto started = runtime::DpdkEnv::start(); !started) return std::move(started).error();
  static std::atomic<unsigned> serial{0};
  const std::string name = "nfdma" + std::to_string(serial.fetch_add(1));
  const rte_memzone* mz = rte_memzone_reserve_aligned(name.c_str(), size, socket < 0 ? SOCKET_ID_ANY : socket,
                                                      RTE_MEMZONE_IOVA_CONTIG, static_cast<unsigned>(align));
  // DPDK may have no memory on that node (a single-node machine, memfd memory): anywhere will do.
  if (!mz && socket >= 0)
    mz = rte_memzone_reserve_aligned(name.c_str(), size, SOCKET_ID_ANY, RTE_MEMZONE_IOVA_CONTIG, static_cast<unsigned>(align));
  if (!mz)
    return Error::unknown("cannot reserve " + std::to_string(size) + " bytes of DMA memory: " + rte_strerror(rte_errno));
  DmaMemory m;
  m.zone_ = mz;
  m.size_ = size;
  m.device_addr_ = mode == AddressMode::VirtualAddress ? reinterpret_cast<std::uint64_t>(mz->addr) : mz->iova;
  m.zero();
  return m;
}

DmaMemory::~DmaMemory() {
  if (zone_) rte_memzone_free(zone_);
}

std::byte* DmaMemory::data() const noexcept { return zone_ ? static_cast<std::byte*>(zone_->addr) : nullptr; }

void DmaMemory::zero() noexcept {
  if (zone_) std::memset(zone_->addr, 0, size_);
}

}  // namespace netfront::virtio
