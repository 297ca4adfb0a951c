#include "runtime/mbuf_pool.hpp"

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>

#include <algorithm>
#include <cstring>

namespace netfront::runtime {
namespace {

// Where mbuf `i`'s data room is in the block: one after another, or, with physical device
// addresses, page by page with none across a page boundary (a page is what is contiguous for
// the device).
struct Slots {
  MbufPool* made;
  std::size_t stride, per_page, page;
  std::uint16_t room;
  std::size_t offset(unsigned i) const { return per_page ? (i / per_page) * page + (i % per_page) * stride : i * stride; }
};

// rte_pktmbuf_pool_create_extbuf's initialisation of a pinned external buffer, with the data
// room at the slot and the shared info right after the header.
void init_mbuf(rte_mempool* mp, void* arg, void* obj, unsigned i) {
  const Slots& s = *static_cast<const Slots*>(arg);
  auto* m = static_cast<rte_mbuf*>(obj);
  const std::size_t off = s.offset(i);
  std::memset(m, 0, sizeof *m);
  m->buf_addr = s.made->rooms.data() + off;
  rte_mbuf_iova_set(m, s.made->rooms.iova(off));
  m->buf_len = s.room;
  m->data_off = std::min<std::uint16_t>(RTE_PKTMBUF_HEADROOM, s.room);
  m->pool = mp;
  m->nb_segs = 1;
  m->port = RTE_MBUF_PORT_INVALID;
  m->ol_flags = RTE_MBUF_F_EXTERNAL;
  rte_mbuf_refcnt_set(m, 1);
  m->next = nullptr;
  auto* shinfo = reinterpret_cast<rte_mbuf_ext_shared_info*>(m + 1);
  shinfo->free_cb = return_pinned_room;
  shinfo->fcb_opaque = m;
  rte_mbuf_ext_refcnt_set(shinfo, 1);
  m->shinfo = shinfo;
}

// rte_mempool refuses a per-lcore cache beyond RTE_MEMPOOL_CACHE_MAX_SIZE or one whose flush
// threshold (1.5 times the cache) exceeds the pool: a small pool gets the largest cache it
// can have instead of an error.
unsigned usable_cache(unsigned wanted, unsigned count) noexcept {
  return std::min({wanted, static_cast<unsigned>(RTE_MEMPOOL_CACHE_MAX_SIZE), count * 2 / 3});
}

rte_mempool* make_headers(const std::string& name, const MbufPoolSpec& spec, int socket) {
  rte_mempool* mp = rte_mempool_create_empty(name.c_str(), spec.count, sizeof(rte_mbuf) + sizeof(rte_mbuf_ext_shared_info),
                                             usable_cache(spec.cache, spec.count), sizeof(rte_pktmbuf_pool_private),
                                             socket, 0);
  if (!mp) return nullptr;
  // What rte_pktmbuf_pool_init records, for data rooms that are not in the element.
  auto* priv = static_cast<rte_pktmbuf_pool_private*>(rte_mempool_get_priv(mp));
  priv->mbuf_data_room_size = spec.room;
  priv->mbuf_priv_size = 0;
  priv->flags = RTE_PKTMBUF_POOL_F_PINNED_EXT_BUF;
  if (rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), nullptr) != 0 || rte_mempool_populate_default(mp) < 0) {
    rte_mempool_free(mp);
    return nullptr;
  }
  return mp;
}

}  // namespace

// As DPDK's own callback for pinned rooms (rte_pktmbuf_free_pinned_extmem, which it does not
// export): the owner is whole again.
void return_pinned_room(void*, void* owner) {
  auto* m = static_cast<rte_mbuf*>(owner);
  rte_mbuf_ext_refcnt_set(m->shinfo, 1);
  m->ol_flags = RTE_MBUF_F_EXTERNAL;
  if (m->next != nullptr) m->next = nullptr;
  if (m->nb_segs != 1) m->nb_segs = 1;
  rte_mbuf_raw_free(m);
}

rte_mbuf* prefree_segment_slowly(rte_mbuf* m) noexcept { return rte_pktmbuf_prefree_seg(m); }

Result<MbufPool> make_mbuf_pool(const std::string& name, const MbufPoolSpec& spec) {
  const std::size_t stride = (std::size_t{spec.room} + spec.align - 1) & ~(spec.align - 1);
  const bool by_page = DeviceMemory::physical();
  const std::size_t page = DeviceMemory::page_size();
  const std::size_t per_page = by_page ? page / stride : 0;
  if (by_page && per_page == 0)
    return Fault(RuntimeError::BadRequest, "a data room of " + std::to_string(stride) + " bytes is larger than a device page");
  const std::size_t bytes = by_page ? (spec.count + per_page - 1) / per_page * page : spec.count * stride;
  MbufPool made;
  auto rooms = DeviceMemory::allocate(bytes, spec.align, spec.socket, /*page_chunked=*/by_page);
  if (!rooms) return std::move(rooms).error();
  made.rooms = std::move(*rooms);
  made.pool = make_headers(name, spec, spec.socket);
  // No DPDK memory on the asked node (a single-node machine, memfd memory): anywhere will do.
  if (!made.pool && spec.socket != SOCKET_ID_ANY) made.pool = make_headers(name, spec, SOCKET_ID_ANY);
  if (!made.pool) return Fault(RuntimeError::Exhausted, rte_strerror(rte_errno));
  Slots slots{&made, stride, per_page, page, spec.room};
  rte_mempool_obj_iter(made.pool, init_mbuf, &slots);
  return made;
}

}  // namespace netfront::runtime
