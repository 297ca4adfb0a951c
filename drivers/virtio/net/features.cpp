#include "drivers/virtio/net/features.hpp"

#include <array>
#include <cstddef>
#include <utility>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"

namespace netfront::virtio::net {
namespace {

constexpr std::array<std::pair<unsigned, const char*>, 33> kNames{{
    {VIRTIO_NET_F_CSUM, "CSUM"},
    {VIRTIO_NET_F_GUEST_CSUM, "GUEST_CSUM"},
    {VIRTIO_NET_F_CTRL_GUEST_OFFLOADS, "CTRL_GUEST_OFFLOADS"},
    {VIRTIO_NET_F_GUEST_TSO6, "GUEST_TSO6"},
    {VIRTIO_NET_F_GUEST_ECN, "GUEST_ECN"},
    {VIRTIO_NET_F_HOST_TSO6, "HOST_TSO6"},
    {VIRTIO_NET_F_HOST_ECN, "HOST_ECN"},
    {VIRTIO_NET_F_HOST_USO, "HOST_USO"},
    {VIRTIO_NET_F_GUEST_USO4, "GUEST_USO4"},
    {VIRTIO_NET_F_GUEST_USO6, "GUEST_USO6"},
    {VIRTIO_NET_F_MTU, "MTU"},
    {VIRTIO_NET_F_MAC, "MAC"},
    {VIRTIO_NET_F_GUEST_TSO4, "GUEST_TSO4"},
    {VIRTIO_NET_F_HOST_TSO4, "HOST_TSO4"},
    {VIRTIO_NET_F_MRG_RXBUF, "MRG_RXBUF"},
    {VIRTIO_NET_F_STATUS, "STATUS"},
    {VIRTIO_NET_F_CTRL_VQ, "CTRL_VQ"},
    {VIRTIO_NET_F_CTRL_RX, "CTRL_RX"},
    {VIRTIO_NET_F_CTRL_VLAN, "CTRL_VLAN"},
    {VIRTIO_NET_F_CTRL_RX_EXTRA, "CTRL_RX_EXTRA"},
    {VIRTIO_NET_F_CTRL_MAC_ADDR, "CTRL_MAC_ADDR"},
    {VIRTIO_NET_F_GUEST_ANNOUNCE, "GUEST_ANNOUNCE"},
    {VIRTIO_NET_F_MQ, "MQ"},
    {VIRTIO_NET_F_RSS, "RSS"},
    {VIRTIO_F_ANY_LAYOUT, "ANY_LAYOUT"},
    {VIRTIO_F_INDIRECT_DESC, "INDIRECT_DESC"},
    {VIRTIO_F_EVENT_IDX, "EVENT_IDX"},
    {VIRTIO_F_VERSION_1, "VERSION_1"},
    {VIRTIO_F_ACCESS_PLATFORM, "ACCESS_PLATFORM"},
    {VIRTIO_F_RING_PACKED, "RING_PACKED"},
    {VIRTIO_F_IN_ORDER, "IN_ORDER"},
    {VIRTIO_NET_F_HASH_REPORT, "HASH_REPORT"},
    {VIRTIO_NET_F_SPEED_DUPLEX, "SPEED_DUPLEX"},
}};

// What the engine implements whatever the application asks. Offloads are added only as asked
// (offload_bits): without them the header stays all zeroes on transmit and is not looked at
// on receive; the VLAN filter only as asked, since under it the device drops tagged frames of
// every VLAN the application has not added. The receive modes and the MAC table change
// nothing until the application sets them. Receive segmentation (GUEST_TSO4/6, GUEST_USO4/6) is never taken: its frames
// outgrow what one mbuf holds. RSS is taken with multi-queue: netfront sends a default that
// spreads flows as automatic steering does. HASH_REPORT only as asked: it makes the header 20
// bytes (C9).
constexpr std::uint64_t kSupported = feature_bit(VIRTIO_F_VERSION_1) | feature_bit(VIRTIO_NET_F_MAC) |
                                     feature_bit(VIRTIO_NET_F_MTU) | feature_bit(VIRTIO_NET_F_STATUS) |
                                     feature_bit(VIRTIO_NET_F_MRG_RXBUF) | feature_bit(VIRTIO_F_EVENT_IDX) |
                                     feature_bit(VIRTIO_F_RING_PACKED) | feature_bit(VIRTIO_F_IN_ORDER) |
                                     feature_bit(VIRTIO_F_INDIRECT_DESC) | feature_bit(VIRTIO_NET_F_CTRL_VQ) |
                                     feature_bit(VIRTIO_NET_F_MQ) | feature_bit(VIRTIO_NET_F_GUEST_ANNOUNCE) |
                                     feature_bit(VIRTIO_NET_F_SPEED_DUPLEX) | feature_bit(VIRTIO_NET_F_CTRL_RX) |
                                     feature_bit(VIRTIO_NET_F_CTRL_RX_EXTRA) | feature_bit(VIRTIO_NET_F_CTRL_MAC_ADDR) |
                                     feature_bit(VIRTIO_NET_F_RSS);

// The feature bits of the offloads asked for.
constexpr std::uint64_t offload_bits(const Offloads& o) noexcept {
  std::uint64_t f = 0;
  if (o.tx_checksum) f |= feature_bit(VIRTIO_NET_F_CSUM);
  if (o.tso4) f |= feature_bit(VIRTIO_NET_F_HOST_TSO4);
  if (o.tso6) f |= feature_bit(VIRTIO_NET_F_HOST_TSO6);
  if (o.tso_ecn) f |= feature_bit(VIRTIO_NET_F_HOST_ECN);
  if (o.uso) f |= feature_bit(VIRTIO_NET_F_HOST_USO);
  // With the control queue, receive offloads can be turned off and on again at run time.
  if (o.rx_checksum) f |= feature_bit(VIRTIO_NET_F_GUEST_CSUM) | feature_bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS);
  return f;
}

}  // namespace

Offloads offloads_of(std::uint64_t f) noexcept {
  return {.tx_checksum = has_feature(f, VIRTIO_NET_F_CSUM),
          .tso4 = has_feature(f, VIRTIO_NET_F_HOST_TSO4),
          .tso6 = has_feature(f, VIRTIO_NET_F_HOST_TSO6),
          .tso_ecn = has_feature(f, VIRTIO_NET_F_HOST_ECN),
          .uso = has_feature(f, VIRTIO_NET_F_HOST_USO),
          .rx_checksum = has_feature(f, VIRTIO_NET_F_GUEST_CSUM)};
}

std::uint16_t net_header_length(std::uint64_t f) noexcept {
  if (has_feature(f, VIRTIO_NET_F_HASH_REPORT)) return kHashHeaderLength;
  if (!has_feature(f, VIRTIO_F_VERSION_1) && !has_feature(f, VIRTIO_NET_F_MRG_RXBUF))
    return static_cast<std::uint16_t>(offsetof(virtio_net_hdr, num_buffers));
  return sizeof(virtio_net_hdr);
}

Result<std::uint64_t> negotiate_features(std::uint64_t offered, const FeatureRequest& request) {
  std::uint64_t wanted = kSupported | offload_bits(request.offloads);
  if (request.legacy) {
    // §4.1.4.8: a legacy device has 32 feature bits. Every receive buffer and every frame
    // sent carries the header and the frame in one descriptor, which a legacy device takes
    // only with ANY_LAYOUT (§2.6.4.3); QEMU has offered it since 2.4.
    offered &= 0xffffffffu;
    if (!has_feature(offered, VIRTIO_F_ANY_LAYOUT))
      return Fault(DeviceError::Refused, "legacy device does not offer VIRTIO_F_ANY_LAYOUT (it would want each virtio-net "
                                         "header in a descriptor of its own)");
    wanted |= feature_bit(VIRTIO_F_ANY_LAYOUT);
  } else if (!has_feature(offered, VIRTIO_F_VERSION_1)) {
    // A3: §6: over the modern interface a driver MUST NOT accept a device without VERSION_1.
    return Fault(DeviceError::Refused, "device does not offer VIRTIO_F_VERSION_1 over the modern interface");
  }
  if (request.vlan_filter) wanted |= feature_bit(VIRTIO_NET_F_CTRL_VLAN);
  if (request.hash_report) wanted |= feature_bit(VIRTIO_NET_F_HASH_REPORT);
  if (request.access_platform) {
    // A3: behind an IOMMU the device must promise to use IOVAs, or it could reach any memory.
    if (!has_feature(offered, VIRTIO_F_ACCESS_PLATFORM))
      return Fault(DeviceError::Refused, "device does not offer VIRTIO_F_ACCESS_PLATFORM, required behind an IOMMU");
    wanted |= feature_bit(VIRTIO_F_ACCESS_PLATFORM);
  } else if (request.accept_access_platform) {
    wanted |= feature_bit(VIRTIO_F_ACCESS_PLATFORM);
  }
  // A2 (§5.1.3.1): a feature whose prerequisite is missing is never accepted: MQ and
  // GUEST_ANNOUNCE need the control queue to be turned on, GUEST_ANNOUNCE the status field.
  std::uint64_t chosen = offered & wanted;
  // Segmentation needs the checksum offload, ECN segmentation; run-time receive offloads need
  // a receive offload and the control queue.
  if (!has_feature(chosen, VIRTIO_NET_F_CTRL_VQ))
    chosen &= ~(feature_bit(VIRTIO_NET_F_MQ) | feature_bit(VIRTIO_NET_F_GUEST_ANNOUNCE) |
                feature_bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | feature_bit(VIRTIO_NET_F_CTRL_RX) |
                feature_bit(VIRTIO_NET_F_CTRL_RX_EXTRA) | feature_bit(VIRTIO_NET_F_CTRL_VLAN) |
                feature_bit(VIRTIO_NET_F_CTRL_MAC_ADDR) | feature_bit(VIRTIO_NET_F_RSS) |
                feature_bit(VIRTIO_NET_F_HASH_REPORT));
  // RSS is taken with MQ only: its queues are MQ's (netfront does not size pairs by RSS alone).
  if (!has_feature(chosen, VIRTIO_NET_F_MQ)) chosen &= ~feature_bit(VIRTIO_NET_F_RSS);
  // §5.1.6.5.2: MAC class commands, MAC_ADDR_SET among them, may be sent only with CTRL_RX.
  if (!has_feature(chosen, VIRTIO_NET_F_CTRL_RX)) chosen &= ~feature_bit(VIRTIO_NET_F_CTRL_MAC_ADDR);
  if (!has_feature(chosen, VIRTIO_NET_F_STATUS)) chosen &= ~feature_bit(VIRTIO_NET_F_GUEST_ANNOUNCE);
  if (!has_feature(chosen, VIRTIO_NET_F_CSUM))
    chosen &= ~(feature_bit(VIRTIO_NET_F_HOST_TSO4) | feature_bit(VIRTIO_NET_F_HOST_TSO6) | feature_bit(VIRTIO_NET_F_HOST_USO));
  if (!has_feature(chosen, VIRTIO_NET_F_HOST_TSO4) && !has_feature(chosen, VIRTIO_NET_F_HOST_TSO6))
    chosen &= ~feature_bit(VIRTIO_NET_F_HOST_ECN);
  if (!has_feature(chosen, VIRTIO_NET_F_GUEST_CSUM)) chosen &= ~feature_bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS);
  return chosen;
}

std::string describe_features(std::uint64_t features) {
  std::string s;
  for (const auto& [bit, name] : kNames)
    if (has_feature(features, bit)) s += (s.empty() ? "" : " ") + std::string(name);
  return s.empty() ? "(none)" : s;
}

}  // namespace netfront::virtio::net
