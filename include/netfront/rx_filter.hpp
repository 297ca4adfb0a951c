// Receive filters: which frames the device hands over (virtio 1.2 §5.1.6.5.1-3), set through
// its control queue at run time with the Netif calls below.
//
//   co_await dev->set_rx_mode(RxMode::Promiscuous, false);     // only what is ours
//   co_await dev->set_mac_filter({}, std::array{mdns_group});  // and one multicast group
//   co_await dev->add_vlan(100);                               // (an id with vlan_filter)
//
// A device filters on a best-effort basis (the spec's words): a frame it should have kept out
// may still arrive. Each call is Unimplemented when the device cannot do it (it did not offer
// the feature, or the transport has no filtering device behind it: vhost-user backends take
// every frame); the filter then stays as it was. What the application set is sent again after
// a device reset, which clears the device's filters.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "netfront/mac_address.hpp"

namespace netfront {

// §5.1.6.5.1: the receive modes, each on or off. Promiscuous and AllMulticast need the device's
// VIRTIO_NET_F_CTRL_RX, the other four VIRTIO_NET_F_CTRL_RX_EXTRA. Promiscuous overrides all
// the others; NoMulticast overrides AllMulticast (not broadcast), NoUnicast AllUnicast, and
// NoBroadcast AllMulticast.
enum class RxMode : std::uint8_t { Promiscuous, AllMulticast, AllUnicast, NoMulticast, NoUnicast, NoBroadcast };
inline constexpr std::size_t kRxModes = 6;
std::string_view to_string(RxMode mode) noexcept;  // "promiscuous", "all-multicast", ...

// At most this many addresses in a MAC filter table, unicast and multicast together (what
// QEMU's virtio-net holds; a device given more may take all of a kind instead, §5.1.6.5.2).
inline constexpr std::size_t kMaxMacFilterEntries = 64;
// VLAN ids are the 12 bits of a tag's VID.
inline constexpr std::uint16_t kMaxVlanId = 4095;

// What the application has set, and so what netfront restores after a device reset.
struct RxFilter {
  // Each mode as last set; nullopt where the application never set it and the device's own
  // default holds (QEMU's virtio-net and the loop device start promiscuous).
  std::array<std::optional<bool>, kRxModes> modes{};
  // The MAC filter table (§5.1.6.5.2): addresses taken beside the device's own MAC.
  std::vector<MacAddress> unicast;
  std::vector<MacAddress> multicast;
  // The VLAN filter table (§5.1.6.5.3), ascending: with vlan_filter in the id, the device drops
  // tagged frames of other VLANs (when not promiscuous, which takes every frame).
  std::vector<std::uint16_t> vlans;

  std::optional<bool> mode(RxMode m) const noexcept {
    const auto i = static_cast<std::size_t>(m);
    return i < kRxModes ? modes[i] : std::nullopt;
  }
  friend bool operator==(const RxFilter&, const RxFilter&) = default;
};

}  // namespace netfront
