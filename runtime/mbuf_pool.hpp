// A mempool of mbufs whose headers live in DPDK's memory and whose data rooms are slots of one
// block of device memory (runtime/device_memory.hpp): what PacketPool and PagePool are made of.
//
// To DPDK they are direct mbufs (no RTE_MBUF_F_EXTERNAL), so freeing one is the plain inline
// path, at no cost over an ordinary pool; only buf_addr and buf_iova name the slot instead of
// the bytes after the header. The one DPDK operation that assumes those bytes is detaching an
// indirect mbuf, which would point it back at its own header: an mbuf of these pools is never
// the indirect side of rte_pktmbuf_attach or rte_pktmbuf_clone (netfront shares a frame by its
// reference count, never by a clone).
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <string>

#include "netfront/result.hpp"
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

}  // namespace netfront::runtime
