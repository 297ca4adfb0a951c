#include "drivers/virtio/net/offload_header.hpp"

#include "drivers/netif/offload_check.hpp"

namespace netfront::virtio::net {

virtio_net_hdr tx_header(std::span<const Buffer> pieces, const TxOffload& o) noexcept {
  virtio_net_hdr h{};
  if (o.checksum.requested) {
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.csum_start = o.checksum.start;
    h.csum_offset = o.checksum.offset;
  }
  switch (o.gso) {
    case Gso::None: return h;  // num_buffers stays 0 on transmit (§5.1.6.2)
    case Gso::Tcp4: h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4; break;
    case Gso::Tcp6: h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6; break;
    case Gso::Udp: h.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4; break;
  }
  if (o.ecn) h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
  h.gso_size = o.segment_size;
  // Without GUEST_HDRLEN a hint, "not less than the length of the headers": their exact length.
  h.hdr_len = static_cast<std::uint16_t>(drivers::segment_header_end(pieces, o));  // below the MTU: checked
  return h;
}

std::optional<RxOffload> rx_offload_of(const virtio_net_hdr& h, std::size_t length) noexcept {
  // C7: no receive segmentation is negotiated, so a segmented frame is the device's fault.
  if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) return std::nullopt;
  if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
    // C6 (CVE-2024-11614): the sum's start and the place it goes, both inside the frame.
    if (std::size_t{h.csum_start} + h.csum_offset + 2 > length) return std::nullopt;
    return RxOffload{.checksum = RxChecksum::Partial, .csum_start = h.csum_start, .csum_offset = h.csum_offset};
  }
  if (h.flags & VIRTIO_NET_HDR_F_DATA_VALID) return RxOffload{.checksum = RxChecksum::Valid};
  return RxOffload{};
}

ReportedHash reported_hash_of(const virtio_net_hash& h, HashTypes supported, RxHash& out) noexcept {
  if (h.hash_report == VIRTIO_NET_HASH_REPORT_NONE) return ReportedHash::None;
  // C9: HASH_TYPE_x is bit (REPORT_x - 1); a report of no known type, or of a type the device
  // cannot compute, is a lie.
  if (h.hash_report > VIRTIO_NET_HASH_REPORT_UDPv6_EX) return ReportedHash::Lie;
  const auto type = static_cast<HashType>(h.hash_report - 1);
  if (!supported.has(type)) return ReportedHash::Lie;
  out = {.value = h.hash_value, .type = type};
  return ReportedHash::Present;
}

}  // namespace netfront::virtio::net
