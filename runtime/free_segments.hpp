// Giving many mbufs back to their pools at once, inline.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstddef>

#include "runtime/mbuf_pool.hpp"

namespace netfront::runtime {

// Lets go of mbufs[0, n), each as rte_pktmbuf_free_seg would (prefree_segment: a segment still
// viewed elsewhere only loses a reference), and returns each run from one pool with one
// rte_mempool_put_bulk. The array is reused to gather them. This is rte_pktmbuf_free_bulk's
// work done inline: DPDK's function lives in its shared library.
inline void free_segments(rte_mbuf** mbufs, unsigned n) noexcept {
  // Indices as wide as pointers: a store through mbufs[gathered] then needs no widening first.
  std::size_t gathered = 0;  // mbufs[0, gathered): let go of, all from `pool`; never ahead of i
  rte_mempool* pool = nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    rte_mbuf* m = prefree_segment(mbufs[i]);
    if (m == nullptr) continue;  // another reference keeps it
    if (m->pool != pool) [[unlikely]] {  // a run from another pool starts (the first one too)
      if (gathered > 0) rte_mempool_put_bulk(pool, reinterpret_cast<void* const*>(mbufs), static_cast<unsigned>(gathered));
      gathered = 0;
      pool = m->pool;
    }
    mbufs[gathered++] = m;
  }
  if (gathered > 0) rte_mempool_put_bulk(pool, reinterpret_cast<void* const*>(mbufs), static_cast<unsigned>(gathered));
}

}  // namespace netfront::runtime
