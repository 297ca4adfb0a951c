// A mempool of mbufs whose headers live in DPDK's memory and whose data rooms are slots of one
// block of device memory (runtime/device_memory.hpp): what PacketPool and PagePool are made of.
//
// Each mbuf is a pinned external buffer in DPDK's own terms (RTE_MBUF_F_EXTERNAL, a pool
// flagged RTE_PKTMBUF_POOL_F_PINNED_EXT_BUF, a shared-info block right after the header, in
// DPDK's memory too), so every DPDK operation treats it rightly: a clone or an attach counts
// references in that shared info, never in memory the device can write. Freeing one through
// DPDK takes its external-buffer path, out of line; free_segment() below is that path inline
// for the common case.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "runtime/fault.hpp"
#include "runtime/runtime_error.hpp"
#include "runtime/device_memory.hpp"

namespace netfront::runtime {

struct MbufPoolSpec {
  unsigned count = 0;        // mbufs
  unsigned cache = 0;        // per-lcore cache
  std::uint16_t room = 0;    // each data room's bytes (buf_len)
  std::size_t align = 64;    // where each data room starts (a power of two; a page for PagePool)
  int socket = SOCKET_ID_ANY;
};

struct MbufPool {
  rte_mempool* pool = nullptr;
  DeviceBlock rooms;  // the data rooms; freed after the pool
};

// `name` must be unique among mempools (RTE_MEMPOOL_NAMESIZE).
Result<MbufPool> make_mbuf_pool(const std::string& name, const MbufPoolSpec& spec);

// The free callback of these pools' data rooms (what DPDK calls once the last mbuf attached
// to one lets go): the mbuf that owns the room goes back to its pool.
void return_pinned_room(void* room, void* owner);

// Whether `m` is the owner of one of these pools' data rooms, `s` its shared info: the shared
// info names this file's free callback (not a room of anyone else's) and `m` as the room's
// owner (a clone attached to the room, in any pool, shares its owner's shared info).
[[gnu::always_inline]] inline bool owns_pinned_room(const rte_mbuf* m, const rte_mbuf_ext_shared_info* s) noexcept {
  return s->free_cb == &return_pinned_room && s->fcb_opaque == m;
}

// rte_pktmbuf_prefree_seg(m) out of line: everything but the common case below.
rte_mbuf* prefree_segment_slowly(rte_mbuf* m) noexcept;

// rte_pktmbuf_prefree_seg(m), with the case of these pools' mbufs inline: the last reference
// to an mbuf whose room nothing else is attached to is reset as DPDK's pinned path would and
// returned for its pool; anything else goes to DPDK. Null while references remain.
[[gnu::always_inline]] inline rte_mbuf* prefree_segment(rte_mbuf* m) noexcept {
  // A frame without offload flags (the usual one) needs its flags neither masked nor stored.
  const std::uint64_t flags = m->ol_flags;
  const bool plain = flags == RTE_MBUF_F_EXTERNAL;
  // The reference count and the segment count lie side by side (in rte_mbuf's rearm_data):
  // one load sees both at 1. The head of a chain (more segments) takes DPDK's path. A plain
  // load, as DPDK's own vector drivers read rearm_data: the count can only read 1 once no
  // other view is left to change it, and four bytes within one cache line are never torn.
  static_assert(offsetof(rte_mbuf, nb_segs) == offsetof(rte_mbuf, refcnt) + sizeof(std::uint16_t));
  std::uint32_t counts;
  std::memcpy(&counts, reinterpret_cast<const char*>(m) + offsetof(rte_mbuf, refcnt), sizeof counts);
  constexpr std::uint32_t kOneAndOne = 1u | (1u << 16);  // the same in either byte order
  if (counts == kOneAndOne &&
      (plain || (flags & (RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT)) == RTE_MBUF_F_EXTERNAL)) [[likely]] {
    const rte_mbuf_ext_shared_info* s = m->shinfo;
    if (owns_pinned_room(m, s) && rte_mbuf_ext_refcnt_read(s) == 1) [[likely]] {
      if (!plain) [[unlikely]]
        m->ol_flags = RTE_MBUF_F_EXTERNAL;  // offload flags go
      if (m->next != nullptr) m->next = nullptr;
      return m;
    }
  }
  return prefree_segment_slowly(m);
}

// rte_pktmbuf_free_seg(m) by way of prefree_segment.
inline void free_segment(rte_mbuf* m) noexcept {
  if (rte_mbuf* done = prefree_segment(m)) rte_mempool_put(done->pool, done);
}

}  // namespace netfront::runtime
