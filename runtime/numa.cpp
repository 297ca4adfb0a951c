#include "runtime/numa.hpp"

#include <numa.h>
#include <sched.h>

#include <algorithm>

namespace netfront::runtime::numa {

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

std::vector<unsigned> cpus_of_node(int node) {
  std::vector<unsigned> cpus;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed) && node_of_cpu(static_cast<unsigned>(c)) == node) cpus.push_back(static_cast<unsigned>(c));
  return cpus;
}

}  // namespace netfront::runtime::numa
