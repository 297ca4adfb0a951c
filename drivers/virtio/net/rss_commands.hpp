// The RSS and hash commands of the virtio-net control queue (virtio 1.2 §5.1.6.5, "Receive-side
// scaling (RSS)" and "Hash calculation"), as the driver sends them, and netfront's default
// configuration.
#pragma once

#include <cstdint>
#include <vector>

#include "drivers/virtio/net/control_queue.hpp"
#include "netfront/rss.hpp"

namespace netfront::virtio::net {

// VIRTIO_NET_CTRL_MQ_RSS_CONFIG of `c` for a device using `pairs` pairs: the indirection table
// and the unclassified queue name pairs (the spec's rss_rq_id, bits 1-16 of a receive queue's
// index), and every pair's transmit queue may be used (max_tx_vq). `c` was checked against the
// device's limits (drivers::check_rss_config).
Result<> send_rss_config(ControlQueue& control, const RssConfig& c, std::uint16_t pairs);
// VIRTIO_NET_CTRL_MQ_HASH_CONFIG: the hash report's types and key, where the device steers by
// itself (HASH_REPORT without RSS).
Result<> send_hash_config(ControlQueue& control, const RssConfig& c);
// The command-specific data of each, as laid out on the wire (little-endian fields).
std::vector<std::byte> rss_config_data(const RssConfig& c, std::uint16_t pairs);
std::vector<std::byte> hash_config_data(const RssConfig& c);

// What netfront asks for until the application says otherwise: every hash type the device
// supports, a key of 0x6d5a repeated (a symmetric key: a flow's two directions hash alike, so
// a connection's frames meet on one pair whichever way they travel), and, with steering, the
// longest table up to kMaxIndirectionTable, of the pairs in turn.
RssConfig default_rss_config(const RssCapabilities& caps, unsigned pairs);

}  // namespace netfront::virtio::net
