#include "runtime/device_memory.hpp"

#include <rte_eal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "netfront/dpdk_env.hpp"
#include "netfront/numa.hpp"
#include "runtime/log.hpp"

namespace netfront::runtime {

// One region: its memfd, its mapping, and what of it is free (offset -> length).
class DeviceRegionArena {
 public:
  int node = 0;
  int fd = -1;
  std::byte* base = nullptr;
  std::size_t size = 0;
  std::size_t page = 4096;
  bool physical = false;
  rte_iova_t iova_base = 0;           // with virtual addresses: the region's device address
  std::vector<rte_iova_t> page_iova;  // with physical addresses: each page's
  std::map<std::size_t, std::size_t> free;
  std::size_t used = 0;

  bool holds(const std::byte* p, std::size_t len) const noexcept {
    return p >= base && len <= size && static_cast<std::size_t>(p - base) <= size - len;
  }
  rte_iova_t iova(const std::byte* p) const noexcept {
    const auto off = static_cast<std::size_t>(p - base);
    return physical ? page_iova[off / page] + off % page : iova_base + off;
  }

  // First fit. With physical addresses a block of up to a page stays within one.
  std::optional<std::size_t> take(std::size_t len, std::size_t align, bool whole_pages) {
    if (whole_pages) {
      align = std::max(align, page);
      len = (len + page - 1) / page * page;
    }
    // Aligned as addresses, not as offsets: the region itself is only page-aligned.
    const auto at = reinterpret_cast<std::uintptr_t>(base);
    for (auto it = free.begin(); it != free.end(); ++it) {
      const auto [from, room] = *it;
      std::size_t start = ((at + from + align - 1) & ~(align - 1)) - at;
      if (physical && !whole_pages && start / page != (start + len - 1) / page) start = (start + page - 1) / page * page;
      if (start + len > from + room) continue;
      free.erase(it);
      if (start > from) free.emplace(from, start - from);
      if (from + room > start + len) free.emplace(start + len, from + room - (start + len));
      used += len;
      return start;
    }
    return std::nullopt;
  }

  void give(std::size_t off, std::size_t len) {
    used -= len;
    auto next = free.lower_bound(off);
    if (next != free.end() && off + len == next->first) {
      len += next->second;
      next = free.erase(next);
    }
    if (next != free.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == off) {
        prev->second += len;
        return;
      }
    }
    free.emplace(off, len);
  }
};

namespace {

struct State {
  std::mutex mutex;  // the arenas' free lists
  std::once_flag once;
  std::optional<Result<>> created;
  std::vector<std::unique_ptr<DeviceRegionArena>> arenas;  // one per node, in node order
  bool physical = false;
  std::size_t page = 4096;
};

State& state() {
  static State s;
  return s;
}

std::size_t default_hugepage_size() {
  const long kb = [] {
    FILE* f = std::fopen("/proc/meminfo", "r");
    long v = 0;
    if (!f) return v;
    char line[128];
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "Hugepagesize: %ld kB", &v) == 1) break;
    std::fclose(f);
    return v;
  }();
  return kb > 0 ? static_cast<std::size_t>(kb) * 1024 : 2u << 20;
}

Result<std::unique_ptr<DeviceRegionArena>> make_arena(int node, std::size_t bytes, bool huge, bool physical,
                                                      rte_iova_t iova_base) {
  auto a = std::make_unique<DeviceRegionArena>();
  a->node = node;
  a->iova_base = iova_base;
  a->page = huge ? default_hugepage_size() : 4096;
  a->size = (bytes + a->page - 1) / a->page * a->page;
  a->physical = physical;
  const std::string name = "netfront-device-" + std::to_string(node);
  a->fd = ::memfd_create(name.c_str(), MFD_CLOEXEC | (huge ? MFD_HUGETLB : 0u));
  if (a->fd < 0) return Fault(RuntimeError::System, "memfd_create for device memory: " + std::string(std::strerror(errno)));
  auto fail = [&](RuntimeError code, const std::string& what) {
    const std::string why = what + ": " + std::strerror(errno);
    if (a->base) ::munmap(a->base, a->size);
    ::close(a->fd);
    return Fault(code, "device memory of " + std::to_string(a->size >> 20) + " MiB on node " + std::to_string(node) +
                          ": " + why);
  };
  if (::ftruncate(a->fd, static_cast<off_t>(a->size)) != 0) return fail(RuntimeError::System, "ftruncate");
  // A hugetlb mapping reserves its pages here (and fails if they are not free), so nothing
  // faults for want of one later.
  void* p = ::mmap(nullptr, a->size, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd, 0);
  if (p == MAP_FAILED) return fail(huge ? RuntimeError::NoHugepages : RuntimeError::Exhausted, huge ? "mmap (are enough hugepages free?)" : "mmap");
  a->base = static_cast<std::byte*>(p);
  numa::bind_memory(a->base, a->size, node);
  if (physical) {
    // Physical addresses exist once the pages do; hugetlb pages then never move.
    a->page_iova.resize(a->size / a->page);
    for (std::size_t i = 0; i < a->page_iova.size(); ++i) {
      std::byte* page = a->base + i * a->page;
      *reinterpret_cast<volatile std::byte*>(page) = std::byte{0};
      a->page_iova[i] = rte_mem_virt2phy(page);
      if (a->page_iova[i] == RTE_BAD_IOVA) return fail(RuntimeError::System, "no physical address for device memory (root, /proc/self/pagemap?)");
    }
  }
  a->free.emplace(0, a->size);
  return a;
}

Result<> create_regions(State& s) {
  if (auto started = DpdkEnv::start(); !started) return Fault(std::move(started).error());
  const DpdkEnvInfo& env = DpdkEnv::info();
  const bool huge = env.memory == MemoryBacking::Hugepages;
  s.physical = rte_eal_iova_mode() == RTE_IOVA_PA;
  if (s.physical && !huge)
    return Fault(RuntimeError::NoHugepages, "devices that take physical addresses need hugepage-backed device memory (DPDK runs on 4 KiB pages)");
  const int nodes = std::max(1, numa::nodes());
  // Device addresses a PCI function behind an IOMMU is given: its IOMMU domain holds nothing
  // but these regions, so they need not be our virtual addresses, which lie above what an
  // IOMMU may translate (QEMU's intel-iommu: 39 bits). From 4 GiB up, one region after
  // another on 1 GiB boundaries (clear of the interrupt window below 4 GiB).
  rte_iova_t next_iova = rte_iova_t{1} << 32;
  for (int node = 0; node < nodes; ++node) {
    auto a = make_arena(node, std::size_t{env.device_memory_mb} << 20, huge, s.physical, next_iova);
    if (!a) return std::move(a).error();
    s.page = (*a)->page;
    next_iova += ((*a)->size + (rte_iova_t{1} << 30) - 1) & ~((rte_iova_t{1} << 30) - 1);
    s.arenas.push_back(std::move(*a));
  }
  detail::first_region_size.store(s.arenas[0]->size, std::memory_order_relaxed);
  detail::first_region_base.store(reinterpret_cast<std::uintptr_t>(s.arenas[0]->base), std::memory_order_release);
  logger("runtime").info("device memory: {} MiB of {} per NUMA node, {} node(s), {} addresses", env.device_memory_mb,
                         huge ? "hugepages" : "4 KiB pages", nodes, s.physical ? "physical" : "virtual");
  return Ok{};
}

Result<> ensure_regions() {
  State& s = state();
  std::call_once(s.once, [&] { s.created.emplace(create_regions(s)); });
  return *s.created;
}

DeviceRegionArena* arena_of(const void* p, std::size_t len) noexcept {
  for (auto& a : state().arenas)
    if (a->holds(static_cast<const std::byte*>(p), len)) return a.get();
  return nullptr;
}

}  // namespace

DeviceBlock::~DeviceBlock() {
  if (!arena_) return;
  std::lock_guard lock(state().mutex);
  arena_->give(static_cast<std::size_t>(data_ - arena_->base), size_);
}

rte_iova_t DeviceBlock::iova(std::size_t offset) const noexcept { return arena_->iova(data_ + offset); }

void DeviceBlock::abandon() noexcept {
  arena_ = nullptr;
  data_ = nullptr;
  size_ = 0;
}

Result<DeviceBlock> DeviceMemory::allocate(std::size_t size, std::size_t align, int node, bool page_chunked) {
  if (auto r = ensure_regions(); !r) return std::move(r).error();
  State& s = state();
  if (size == 0) size = 1;
  if (align == 0 || (align & (align - 1)) != 0) return Fault(RuntimeError::BadRequest, "device memory alignment must be a power of two");
  if (s.physical && !page_chunked && size > s.page)
    return Fault(RuntimeError::BadRequest, "a block of " + std::to_string(size) + " bytes is not contiguous for a device that takes physical "
                          "addresses (pages of " + std::to_string(s.page) + " bytes)");
  if (node < 0 || static_cast<std::size_t>(node) >= s.arenas.size()) node = numa::current_node();
  if (node < 0 || static_cast<std::size_t>(node) >= s.arenas.size()) node = 0;
  DeviceRegionArena* a = s.arenas[static_cast<std::size_t>(node)].get();
  std::optional<std::size_t> off;
  std::size_t taken = size;
  {
    std::lock_guard lock(s.mutex);
    off = a->take(size, align, page_chunked && s.physical);
    if (page_chunked && s.physical) taken = (size + a->page - 1) / a->page * a->page;
  }
  if (!off)
    return Fault(RuntimeError::Exhausted, "device memory exhausted: " + std::to_string(size) + " bytes wanted on node " + std::to_string(node) +
                          ", " + std::to_string((a->size - a->used) >> 10) + " KiB free of " + std::to_string(a->size >> 20) +
                          " MiB (DpdkConfig::device_memory_mb, NETFRONT_DEVICE_MEMORY_MB)");
  std::memset(a->base + *off, 0, taken);
  return DeviceBlock(a, a->base + *off, taken);
}

std::vector<DeviceRegion> DeviceMemory::regions() {
  std::vector<DeviceRegion> out;
  if (!ensure_regions()) return out;
  for (auto& a : state().arenas) out.push_back({a->base, a->size, a->fd});
  return out;
}

bool DeviceMemory::contains(const void* p, std::size_t len) noexcept { return arena_of(p, len) != nullptr; }

rte_iova_t DeviceMemory::iova(const void* p) noexcept {
  const DeviceRegionArena* a = arena_of(p, 1);
  return a ? a->iova(static_cast<const std::byte*>(p)) : RTE_BAD_IOVA;
}

bool DeviceMemory::physical() noexcept {
  (void)ensure_regions();
  return state().physical;
}

std::size_t DeviceMemory::page_size() noexcept {
  (void)ensure_regions();
  return state().page;
}

std::vector<std::pair<std::byte*, std::size_t>> DeviceMemory::blocks() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  std::vector<std::pair<std::byte*, std::size_t>> out;
  for (auto& a : s.arenas) {
    std::size_t at = 0;
    for (auto [off, len] : a->free) {
      if (off > at) out.emplace_back(a->base + at, off - at);
      at = off + len;
    }
    if (at < a->size) out.emplace_back(a->base + at, a->size - at);
  }
  return out;
}

std::size_t DeviceMemory::in_use() noexcept {
  State& s = state();
  std::lock_guard lock(s.mutex);
  std::size_t n = 0;
  for (auto& a : s.arenas) n += a->used;
  return n;
}

}  // namespace netfront::runtime
