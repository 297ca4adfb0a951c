// Where a received frame's offload state lives: the mbuf's own checksum flags (ol_flags) say
// whether the device checked the checksum or left it partial, a dynamic flag says netfront set
// them, and a dynamic mbuf field holds the partial checksum's positions. A reported hash is in
// hash.rss under RTE_MBUF_F_RX_RSS_HASH, its type in a dynamic field of its own. Written by
// the driver once the header was checked, read by netfront::rx_offload() and rx_hash(); a
// frame whose flags say nothing costs no read of the fields.
#pragma once

#include <rte_mbuf.h>

#include "netfront/offload.hpp"
#include "netfront/rss.hpp"
#include "runtime/fault.hpp"
#include "runtime/runtime_error.hpp"

namespace netfront::runtime {

// Registers the fields (once per process; again is a no-op). Before the first store.
Result<> register_rx_offload_field();

// Records `o` on a received frame's mbuf (after register_rx_offload_field()).
void store_rx_offload(rte_mbuf* m, const RxOffload& o) noexcept;
// Records the device's reported hash on it (likewise).
void store_rx_hash(rte_mbuf* m, const RxHash& h) noexcept;

}  // namespace netfront::runtime
