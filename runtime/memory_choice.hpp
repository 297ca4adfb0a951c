// Which memory DpdkEnv::start takes for a given hugepage situation, apart so that it can be
// tested without one.
#pragma once

#include "netfront/dpdk_env.hpp"

namespace netfront::runtime {

// Hugepages when `memory_mb` of them are free on a mounted hugetlbfs; Auto (meaning: refuse)
// when hugepages were required and that is not so; memfd otherwise.
MemoryBacking choose_memory(MemoryBacking requested, unsigned memory_mb, unsigned long long free_huge_bytes,
                            bool hugetlbfs_mounted) noexcept;

}  // namespace netfront::runtime
