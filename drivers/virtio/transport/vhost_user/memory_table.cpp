#include "drivers/virtio/transport/vhost_user/memory_table.hpp"

#include <rte_memory.h>

#include <string>

namespace netfront::virtio::vhost_user {
namespace {

struct Walk {
  struct Span {
    int fd;
    std::uint64_t va, len, offset;
  };
  std::vector<Span> spans;
  bool missing_fd = false;
};

int add_segment(const rte_memseg_list*, const rte_memseg* ms, void* arg) {
  auto& w = *static_cast<Walk*>(arg);
  const int fd = rte_memseg_get_fd_thread_unsafe(ms);
  std::size_t offset = 0;
  if (fd < 0 || rte_memseg_get_fd_offset_thread_unsafe(ms, &offset) < 0) {
    w.missing_fd = true;
    return 1;  // stop
  }
  const auto va = reinterpret_cast<std::uint64_t>(ms->addr);
  if (!w.spans.empty()) {
    Walk::Span& last = w.spans.back();
    // Extend the previous region when this segment continues it in memory and in the file.
    if (last.fd == fd && last.va + last.len == va && last.offset + last.len == offset) {
      last.len += ms->len;
      return 0;
    }
  }
  w.spans.push_back({fd, va, ms->len, offset});
  return 0;
}

}  // namespace

Result<MemoryMap> collect_memory() {
  Walk w;
  rte_memseg_walk(add_segment, &w);
  if (w.missing_fd)
    return Error::unknown("DPDK memory is not backed by files that can be shared (run with memfd or hugepages "
                          "with --single-file-segments)");
  if (w.spans.empty()) return Error::unknown("no DPDK memory to share");
  if (w.spans.size() > VHOST_MEMORY_MAX_NREGIONS)
    return Error::unknown("DPDK memory is in " + std::to_string(w.spans.size()) + " regions; a vhost-user backend takes " +
                          std::to_string(VHOST_MEMORY_MAX_NREGIONS));
  MemoryMap m;
  m.table.num_regions = static_cast<std::uint32_t>(w.spans.size());
  for (std::size_t i = 0; i < w.spans.size(); ++i) {
    const auto& s = w.spans[i];
    m.table.regions[i] = {s.va, s.len, s.va, s.offset};
    m.fds.push_back(s.fd);
  }
  return m;
}

}  // namespace netfront::virtio::vhost_user
