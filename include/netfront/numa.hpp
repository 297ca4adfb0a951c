// Where memory and threads should live: the NUMA facts netfront places things by, from
// libnuma. On a machine without NUMA (or where libnuma says it is unavailable) everything is
// node 0 and every CPU belongs to it, so callers need no special case.
#pragma once

#include <cstddef>
#include <vector>

namespace netfront::numa {

// Whether the kernel reports NUMA at all (libnuma's numa_available()).
bool available() noexcept;
// Number of configured nodes (1 without NUMA).
int nodes() noexcept;
// The node of `cpu`; 0 without NUMA or for a CPU libnuma does not know.
int node_of_cpu(unsigned cpu) noexcept;
// The node of the CPU the calling thread runs on now.
int current_node() noexcept;
// The CPUs this process may run on, as they were when it started (before DPDK or a
// LoopThread pinned any thread), in ascending order.
const std::vector<unsigned>& allowed_cpus();
// The CPUs of `node` among those, in ascending order (all of them without NUMA).
std::vector<unsigned> cpus_of_node(int node);
// Pages of [start, start + size) not yet touched come from `node` (nothing without NUMA or
// with a single node).
void bind_memory(void* start, std::size_t size, int node) noexcept;

}  // namespace netfront::numa
