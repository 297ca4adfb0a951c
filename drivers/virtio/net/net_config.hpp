// The virtio-net configuration space (virtio 1.2 §5.1.4), read consistently and validated:
// values a device got wrong are replaced by safe ones and logged, never used as they came.
#pragma once

#include <cstdint>

#include "drivers/virtio/transport/transport.hpp"
#include "netfront/link.hpp"
#include "netfront/mac_address.hpp"
#include "netfront/rss.hpp"
#include "drivers/virtio/net/device_error.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::net {

// The fields that change while the device runs: status, speed and duplex.
struct LinkConfig {
  bool up = true;
  bool announce = false;  // VIRTIO_NET_S_ANNOUNCE, with GUEST_ANNOUNCE negotiated
  std::uint32_t speed_mbps = 0;  // 0: not known
  Duplex duplex = Duplex::Unknown;
};

struct NetConfig {
  MacAddress mac;
  bool mac_from_device = false;
  std::uint16_t mtu = 1500;
  LinkConfig link;
  std::uint16_t max_queue_pairs = 1;
  RssCapabilities rss;  // with RSS or HASH_REPORT negotiated
};

// Reads [offset, offset + out.size()) with the generation counter loop of §2.5.1; fails if the
// generation never settles (A8).
Result<> read_config_consistent(transport::Transport& t, std::size_t offset, std::span<std::byte> out);

// The fields netfront uses, for the negotiated `features`.
Result<NetConfig> read_net_config(transport::Transport& t, std::uint64_t features);
// The link's fields alone, as the device shows them now.
Result<LinkConfig> read_link_config(transport::Transport& t, std::uint64_t features);

}  // namespace netfront::virtio::net
