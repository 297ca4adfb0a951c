// The virtio-net header of offloads (virtio 1.2 §5.1.6): made for a frame the application
// sends with a TxOffload, and checked on a received frame before anything of it is believed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "drivers/virtio/net/net_spec.hpp"
#include "netfront/buffer.hpp"
#include "netfront/offload.hpp"
#include "netfront/rss.hpp"

namespace netfront::virtio::net {

// §5.1.6.2: the header of a frame sent with `offload`, which drivers::check_tx_offload accepted.
virtio_net_hdr tx_header(std::span<const Buffer> pieces, const TxOffload& offload) noexcept;

// §5.1.6.4 "Processing of Incoming Packets", on a copy of a received header (C10), for a frame
// of `length` bytes on a device that agreed to receive checksums and no receive segmentation:
// what the header says, or nullopt when it breaks a rule (C6: a partial checksum outside the
// frame; C7: any segmentation type, none being negotiated). Unknown flag bits are ignored and
// hdr_len is never used (C8).
std::optional<RxOffload> rx_offload_of(const virtio_net_hdr& header, std::size_t length) noexcept;

// §5.1.6.4 "Hash reporting for incoming packets", on a copy of a received hash (C10): no hash
// (REPORT_NONE), a hash (then in `out`), or a lie (C9: a type beyond the spec's, or one the
// device does not support, `supported`). The value of a frame without hash and the padding
// are not looked at.
enum class ReportedHash : std::uint8_t { None, Present, Lie };
ReportedHash reported_hash_of(const virtio_net_hash& hash, HashTypes supported, RxHash& out) noexcept;

}  // namespace netfront::virtio::net
