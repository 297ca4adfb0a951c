// Memory a device may reach: the virtqueues and the data rooms of packet buffers, and nothing
// else. Everything else netfront keeps (mbuf headers, mempool and allocator structures, the
// driver's own records) lives in DPDK's memory, which no device is given: a device, or a
// vhost-user backend, that writes wherever it can reach changes packet bytes and ring
// entries, which netfront validates, and never a pointer netfront follows.
//
// One region per NUMA node, each a memfd of its own mapped once for the life of the process:
// a vhost-user backend is handed exactly these fds (a backend given an fd can map all of its
// file, so the file must hold nothing else), a VFIO container maps exactly these ranges. The
// regions follow DPDK's memory: hugepages when DPDK runs on hugepages (MFD_HUGETLB), 4 KiB
// pages otherwise, allocated as they are first touched. Their size is fixed at start
// (DpdkConfig::device_memory_mb, NETFRONT_DEVICE_MEMORY_MB), so what a backend was given at
// connect covers every pool made later.
//
// Device addresses (iova(): what a PCI function is given; a vhost-user backend and the loop
// device take our virtual addresses instead): behind an IOMMU, addresses in a domain that
// holds only these regions, from 4 GiB up (our virtual addresses lie above what an IOMMU can
// translate); with physical addresses (uio, no IOMMU) the page's physical address, which
// only hugepages keep contiguous beyond 4 KiB: a block never crosses a page there, and pools
// are laid out page by page.
#pragma once

#include <rte_memory.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "runtime/fault.hpp"
#include "runtime/runtime_error.hpp"

namespace netfront::runtime {

// One region as a device is given it.
struct DeviceRegion {
  std::byte* base = nullptr;
  std::size_t size = 0;
  int fd = -1;  // the memfd behind it (the region is all of it, from offset 0)
};

class DeviceRegionArena;

// A piece of device memory, given back to its region when destroyed (unless abandoned).
class DeviceBlock {
 public:
  DeviceBlock() noexcept = default;
  DeviceBlock(DeviceBlock&& o) noexcept
      : arena_(std::exchange(o.arena_, nullptr)), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  DeviceBlock& operator=(DeviceBlock&& o) noexcept {
    DeviceBlock(std::move(o)).swap(*this);
    return *this;
  }
  ~DeviceBlock();
  void swap(DeviceBlock& o) noexcept {
    std::swap(arena_, o.arena_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
  }

  explicit operator bool() const noexcept { return data_ != nullptr; }
  std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  // The device address of byte `offset` (see the file comment).
  rte_iova_t iova(std::size_t offset = 0) const noexcept;
  // A12: a device not confirmed stopped may still use these bytes: they are never given back
  // nor handed out again; this object lets go of them.
  void abandon() noexcept;

 private:
  friend class DeviceMemory;
  DeviceBlock(DeviceRegionArena* a, std::byte* d, std::size_t s) noexcept : arena_(a), data_(d), size_(s) {}
  DeviceRegionArena* arena_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

namespace detail {
// The first region (with one NUMA node, all of device memory), for holds() to check inline.
// Set once, when the regions are made.
inline std::atomic<std::uintptr_t> first_region_base{0};
inline std::atomic<std::size_t> first_region_size{0};
}  // namespace detail

class DeviceMemory {
 public:
  // `size` bytes aligned to `align` (a power of two), on NUMA node `node` (-1: the calling
  // thread's), zeroed. With physical addresses a block of up to a page never crosses one;
  // `page_chunked` says the caller lays the block out page by page itself (packet pools), and
  // gets whole pages.
  static Result<DeviceBlock> allocate(std::size_t size, std::size_t align, int node = -1, bool page_chunked = false);

  // Every region (created at the first allocation, one per node): what a backend or an IOMMU
  // is given.
  static std::vector<DeviceRegion> regions();
  // Whether all of [p, p + len) lies in one region: what a device may touch.
  static bool contains(const void* p, std::size_t len) noexcept;
  // contains(), with the first region checked inline: once per written frame.
  [[gnu::always_inline]] static bool holds(const void* p, std::size_t len) noexcept {
    const std::uintptr_t off = reinterpret_cast<std::uintptr_t>(p) - detail::first_region_base.load(std::memory_order_relaxed);
    const std::size_t size = detail::first_region_size.load(std::memory_order_relaxed);
    if (off <= size && len <= size - off) [[likely]]
      return true;
    return contains(p, len);
  }
  // The device address of `p`, which must lie in a region.
  static rte_iova_t iova(const void* p) noexcept;
  // Whether device addresses are physical ones (DPDK in IOVA-as-PA mode).
  static bool physical() noexcept;
  // The regions' page size: where a physically addressed block may not cross.
  static std::size_t page_size() noexcept;
  // Bytes handed out and not given back (abandoned ones included), over all regions.
  static std::size_t in_use() noexcept;
  // The blocks handed out now, as [start, start + size): everything of ours a device can
  // reach (what the loop device scribbles on to play a device gone bad).
  static std::vector<std::pair<std::byte*, std::size_t>> blocks();
};

}  // namespace netfront::runtime
