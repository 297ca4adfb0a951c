#include "netfront/numa.hpp"

#include <numa.h>
#include <sched.h>

#include <algorithm>

namespace netfront::numa {

bool available() noexcept { return numa_available() >= 0; }

int nodes() noexcept { return available() ? std::max(1, numa_num_configured_nodes()) : 1; }

int node_of_cpu(unsigned cpu) noexcept {
  if (!available()) return 0;
  const int node = numa_node_of_cpu(static_cast<int>(cpu));
  return node < 0 ? 0 : node;
}

int current_node() noexcept {
  const int cpu = sched_getcpu();
  return cpu < 0 ? 0 : node_of_cpu(static_cast<unsigned>(cpu));
}

const std::vector<unsigned>& allowed_cpus() {
  static const std::vector<unsigned> cpus = [] {
    std::vector<unsigned> v;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) v.push_back(static_cast<unsigned>(c));
    return v;
  }();
  return cpus;
}

namespace {
// Read while the process starts, before any thread is pinned: a thread asking later may itself
// be pinned (the main lcore, say), and its mask is not the process's.
[[maybe_unused]] const bool kAllowedReadAtStart = !allowed_cpus().empty();
}  // namespace

void bind_memory(void* start, std::size_t size, int node) noexcept {
  if (nodes() > 1 && node >= 0) numa_tonode_memory(start, size, node);
}

std::vector<unsigned> cpus_of_node(int node) {
  std::vector<unsigned> cpus;
  for (unsigned c : allowed_cpus())
    if (node_of_cpu(c) == node) cpus.push_back(c);
  return cpus;
}

}  // namespace netfront::numa
