// virtio-net constants and layouts (virtio 1.2 §5.1 "Network Device").
#pragma once

#include <cstddef>
#include <cstdint>

#include "drivers/virtio/virtio_spec.hpp"

namespace netfront::virtio::net {

// §5.1.3 feature bits
inline constexpr unsigned VIRTIO_NET_F_CSUM = 0;
inline constexpr unsigned VIRTIO_NET_F_GUEST_CSUM = 1;
inline constexpr unsigned VIRTIO_NET_F_CTRL_GUEST_OFFLOADS = 2;
inline constexpr unsigned VIRTIO_NET_F_MTU = 3;
inline constexpr unsigned VIRTIO_NET_F_MAC = 5;
inline constexpr unsigned VIRTIO_NET_F_GUEST_TSO4 = 7;
inline constexpr unsigned VIRTIO_NET_F_GUEST_TSO6 = 8;
inline constexpr unsigned VIRTIO_NET_F_GUEST_UFO = 10;
inline constexpr unsigned VIRTIO_NET_F_GUEST_ECN = 9;
inline constexpr unsigned VIRTIO_NET_F_HOST_TSO4 = 11;
inline constexpr unsigned VIRTIO_NET_F_HOST_TSO6 = 12;
inline constexpr unsigned VIRTIO_NET_F_HOST_ECN = 13;
inline constexpr unsigned VIRTIO_NET_F_HOST_UFO = 14;
inline constexpr unsigned VIRTIO_NET_F_MRG_RXBUF = 15;
inline constexpr unsigned VIRTIO_NET_F_STATUS = 16;
inline constexpr unsigned VIRTIO_NET_F_CTRL_VQ = 17;
inline constexpr unsigned VIRTIO_NET_F_CTRL_RX = 18;
inline constexpr unsigned VIRTIO_NET_F_CTRL_VLAN = 19;
inline constexpr unsigned VIRTIO_NET_F_CTRL_RX_EXTRA = 20;
inline constexpr unsigned VIRTIO_NET_F_GUEST_ANNOUNCE = 21;
inline constexpr unsigned VIRTIO_NET_F_MQ = 22;
inline constexpr unsigned VIRTIO_NET_F_CTRL_MAC_ADDR = 23;
inline constexpr unsigned VIRTIO_NET_F_GUEST_USO4 = 54;
inline constexpr unsigned VIRTIO_NET_F_GUEST_USO6 = 55;
inline constexpr unsigned VIRTIO_NET_F_HOST_USO = 56;
inline constexpr unsigned VIRTIO_NET_F_HASH_REPORT = 57;
inline constexpr unsigned VIRTIO_NET_F_RSS = 60;
inline constexpr unsigned VIRTIO_NET_F_SPEED_DUPLEX = 63;

// The receive offloads CTRL_GUEST_OFFLOADS switches (§5.1.6.5.6), all on after negotiation.
inline constexpr std::uint64_t kGuestOffloadFeatures =
    feature_bit(VIRTIO_NET_F_GUEST_CSUM) | feature_bit(VIRTIO_NET_F_GUEST_TSO4) | feature_bit(VIRTIO_NET_F_GUEST_TSO6) |
    feature_bit(VIRTIO_NET_F_GUEST_ECN) | feature_bit(VIRTIO_NET_F_GUEST_UFO) | feature_bit(VIRTIO_NET_F_GUEST_USO4) |
    feature_bit(VIRTIO_NET_F_GUEST_USO6);
// The transmit segmentation offloads.
inline constexpr std::uint64_t kHostSegmentationFeatures =
    feature_bit(VIRTIO_NET_F_HOST_TSO4) | feature_bit(VIRTIO_NET_F_HOST_TSO6) | feature_bit(VIRTIO_NET_F_HOST_UFO) |
    feature_bit(VIRTIO_NET_F_HOST_USO);

// §5.1.4 config space status bits
inline constexpr std::uint16_t VIRTIO_NET_S_LINK_UP = 1;
inline constexpr std::uint16_t VIRTIO_NET_S_ANNOUNCE = 2;
// speed and duplex (VIRTIO_NET_F_SPEED_DUPLEX): Mbit/s from 0 to 0x7fffffff, or unknown
inline constexpr std::uint32_t VIRTIO_NET_SPEED_UNKNOWN = 0xffffffff;
inline constexpr std::uint8_t VIRTIO_NET_DUPLEX_HALF = 0x00;
inline constexpr std::uint8_t VIRTIO_NET_DUPLEX_FULL = 0x01;
inline constexpr std::uint8_t VIRTIO_NET_DUPLEX_UNKNOWN = 0xff;

// §5.1.4 struct virtio_net_config field offsets
inline constexpr std::size_t kConfigMac = 0;
inline constexpr std::size_t kConfigStatus = 6;
inline constexpr std::size_t kConfigMaxVirtqueuePairs = 8;
inline constexpr std::size_t kConfigMtu = 10;
inline constexpr std::size_t kConfigSpeed = 12;
inline constexpr std::size_t kConfigDuplex = 16;
// With RSS or HASH_REPORT (rss_max_indirection_table_length with RSS only).
inline constexpr std::size_t kConfigRssMaxKeySize = 17;
inline constexpr std::size_t kConfigRssMaxIndirectionTableLength = 18;
inline constexpr std::size_t kConfigSupportedHashTypes = 20;
inline constexpr std::size_t kConfigSize = 24;  // the fields netfront reads

// §5.1.6 struct virtio_net_hdr. With VIRTIO_F_VERSION_1 num_buffers is always there, so the
// header is 12 bytes unless HASH_REPORT makes it 20 (virtio_net_hash follows it, C9), in both
// directions.
struct virtio_net_hdr {
  std::uint8_t flags = 0;
  std::uint8_t gso_type = 0;
  std::uint16_t hdr_len = 0;
  std::uint16_t gso_size = 0;
  std::uint16_t csum_start = 0;
  std::uint16_t csum_offset = 0;
  std::uint16_t num_buffers = 0;
};
static_assert(sizeof(virtio_net_hdr) == 12);
// With HASH_REPORT, after virtio_net_hdr: what the device computed (§5.1.6.4, "Hash reporting
// for incoming packets"); zero on transmit.
struct virtio_net_hash {
  std::uint32_t hash_value = 0;
  std::uint16_t hash_report = 0;
  std::uint16_t padding_reserved = 0;
};
static_assert(sizeof(virtio_net_hash) == 8);
inline constexpr std::uint16_t kHashHeaderLength = sizeof(virtio_net_hdr) + sizeof(virtio_net_hash);
// hash_report values: VIRTIO_NET_HASH_REPORT_NONE, or the hash type's bit number + 1.
inline constexpr std::uint16_t VIRTIO_NET_HASH_REPORT_NONE = 0;
inline constexpr std::uint16_t VIRTIO_NET_HASH_REPORT_UDPv6_EX = 9;  // the last
// §5.1.6 flags and gso_type values
inline constexpr std::uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
inline constexpr std::uint8_t VIRTIO_NET_HDR_F_DATA_VALID = 2;
inline constexpr std::uint8_t VIRTIO_NET_HDR_F_RSC_INFO = 4;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_UDP = 3;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_TCPV6 = 4;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
inline constexpr std::uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;

// §5.1.6.5 control queue: struct virtio_net_ctrl is class, command, command-specific data
// (all device-readable), then one device-writable ack byte.
inline constexpr std::uint8_t VIRTIO_NET_OK = 0;
inline constexpr std::uint8_t VIRTIO_NET_ERR = 1;
// §5.1.6.5.1 packet receive filtering: each command takes one byte, 0 (off) or 1 (on).
// PROMISC and ALLMULTI need CTRL_RX, the other four CTRL_RX_EXTRA.
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX = 0;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX_PROMISC = 0;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX_ALLMULTI = 1;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX_ALLUNI = 2;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX_NOMULTI = 3;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX_NOUNI = 4;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_RX_NOBCAST = 5;
// §5.1.6.5.2 MAC address filtering (only with CTRL_RX): TABLE_SET takes two struct
// virtio_net_ctrl_mac { le32 entries; u8 macs[entries][6]; }, unicast then multicast;
// ADDR_SET (CTRL_MAC_ADDR) the six bytes of the default MAC.
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MAC = 1;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MAC_TABLE_SET = 0;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MAC_ADDR_SET = 1;
// §5.1.6.5.3 VLAN filtering (CTRL_VLAN): a le16 VLAN id, of the 12 bits a tag carries.
inline constexpr std::uint8_t VIRTIO_NET_CTRL_VLAN = 2;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_VLAN_ADD = 0;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_VLAN_DEL = 1;
// §5.1.6.5.4 gratuitous packet sending: the driver acknowledges an announcement request
inline constexpr std::uint8_t VIRTIO_NET_CTRL_ANNOUNCE = 3;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_ANNOUNCE_ACK = 0;
// §5.1.6.5.6 offloads state configuration: the receive offloads on, as a u64 of GUEST_* bits
inline constexpr std::uint8_t VIRTIO_NET_CTRL_GUEST_OFFLOADS = 5;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET = 0;
// §5.1.6.5.5 automatic receive steering in multiqueue mode
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MQ = 4;
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET = 0;
inline constexpr std::uint16_t VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN = 1;
inline constexpr std::uint16_t VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX = 0x8000;
// "Receive-side scaling (RSS)": struct virtio_net_rss_config { le32 hash_types; le16
// indirection_table_mask; le16 unclassified_queue; le16 indirection_table[mask + 1]; le16
// max_tx_vq; u8 hash_key_length; u8 hash_key_data[]; }. The queues are rss_rq_id: bits 1-16
// of a receive queue's index, that is, its pair's number.
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MQ_RSS_CONFIG = 1;
// "Hash calculation" (HASH_REPORT without RSS): struct virtio_net_hash_config { le32
// hash_types; le16 reserved[4]; u8 hash_key_length; u8 hash_key_data[]; }.
inline constexpr std::uint8_t VIRTIO_NET_CTRL_MQ_HASH_CONFIG = 2;
// The device's minimums when it offers RSS or HASH_REPORT (§5.1.4 device requirements).
inline constexpr std::size_t kMinRssKeySize = 40;
inline constexpr std::size_t kMinRssIndirectionTableLength = 128;

// §5.1.2: queue 2N is receiveqN+1's, 2N+1 transmitqN+1's; the control queue comes last.
constexpr std::uint16_t rx_queue_index(unsigned pair) noexcept { return static_cast<std::uint16_t>(2 * pair); }
constexpr std::uint16_t tx_queue_index(unsigned pair) noexcept { return static_cast<std::uint16_t>(2 * pair + 1); }
// The control queue follows the last possible pair: max_virtqueue_pairs with MQ negotiated,
// else the first (§5.1.2). In 32 bits: with the spec's largest max_virtqueue_pairs (0x8000)
// it is 65536, which no 16-bit queue number reaches (a device that says so has no control
// queue to give), and must not wrap to queue 0.
constexpr std::uint32_t control_queue_index(std::uint64_t features, unsigned max_pairs) noexcept {
  return 2u * (has_feature(features, VIRTIO_NET_F_MQ) ? max_pairs : 1u);
}
// How many queues N pairs and a control queue take, saturated at what 16 bits can count.
constexpr std::uint16_t queue_count_of(unsigned pairs) noexcept {
  const std::uint32_t n = 2u * pairs + 1u;
  return static_cast<std::uint16_t>(n > 0xffffu ? 0xffffu : n);
}

}  // namespace netfront::virtio::net
