#include "drivers/virtio/device_side/rx_filter_model.hpp"

#include <algorithm>
#include <cstring>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"

namespace netfront::virtio::device_side {

using namespace virtio::net;

namespace {

MacAddress mac_at(std::span<const std::byte> bytes) {
  MacAddress m;
  std::memcpy(m.bytes.data(), bytes.data(), 6);
  return m;
}

// One struct virtio_net_ctrl_mac from the front of `data`, which then starts after it; false
// when `data` is shorter than it says.
bool take_mac_table(std::span<const std::byte>& data, std::vector<MacAddress>& out) {
  std::uint32_t entries = 0;
  if (data.size() < sizeof entries) return false;
  std::memcpy(&entries, data.data(), sizeof entries);
  data = data.subspan(sizeof entries);
  if (entries > data.size() / 6) return false;
  out.clear();
  for (std::uint32_t i = 0; i < entries; ++i) out.push_back(mac_at(data.subspan(6 * i, 6)));
  data = data.subspan(6 * std::size_t{entries});
  return true;
}

}  // namespace

std::optional<std::uint8_t> RxFilterModel::command(std::uint64_t features, std::uint8_t cls, std::uint8_t command,
                                                   std::span<const std::byte> data) {
  switch (cls) {
    case VIRTIO_NET_CTRL_RX: return rx_command(features, command, data);
    case VIRTIO_NET_CTRL_MAC: return mac_command(features, command, data);
    case VIRTIO_NET_CTRL_VLAN: return vlan_command(features, command, data);
    default: return std::nullopt;
  }
}

// §5.1.6.5.1: one byte, 0 or 1; PROMISC and ALLMULTI with CTRL_RX, the rest with CTRL_RX_EXTRA.
std::uint8_t RxFilterModel::rx_command(std::uint64_t features, std::uint8_t command, std::span<const std::byte> data) {
  if (data.size() != 1 || std::to_integer<std::uint8_t>(data[0]) > 1) return VIRTIO_NET_ERR;
  const bool on = std::to_integer<std::uint8_t>(data[0]) == 1;
  const bool basic = command == VIRTIO_NET_CTRL_RX_PROMISC || command == VIRTIO_NET_CTRL_RX_ALLMULTI;
  if (!has_feature(features, basic ? VIRTIO_NET_F_CTRL_RX : VIRTIO_NET_F_CTRL_RX_EXTRA)) return VIRTIO_NET_ERR;
  switch (command) {
    case VIRTIO_NET_CTRL_RX_PROMISC: promiscuous_ = on; break;
    case VIRTIO_NET_CTRL_RX_ALLMULTI: all_multicast_ = on; break;
    case VIRTIO_NET_CTRL_RX_ALLUNI: all_unicast_ = on; break;
    case VIRTIO_NET_CTRL_RX_NOMULTI: no_multicast_ = on; break;
    case VIRTIO_NET_CTRL_RX_NOUNI: no_unicast_ = on; break;
    case VIRTIO_NET_CTRL_RX_NOBCAST: no_broadcast_ = on; break;
    default: return VIRTIO_NET_ERR;
  }
  return VIRTIO_NET_OK;
}

// §5.1.6.5.2: the MAC class needs CTRL_RX; ADDR_SET CTRL_MAC_ADDR too.
std::uint8_t RxFilterModel::mac_command(std::uint64_t features, std::uint8_t command, std::span<const std::byte> data) {
  if (!has_feature(features, VIRTIO_NET_F_CTRL_RX)) return VIRTIO_NET_ERR;
  if (command == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
    if (!has_feature(features, VIRTIO_NET_F_CTRL_MAC_ADDR) || data.size() != 6) return VIRTIO_NET_ERR;
    const MacAddress m = mac_at(data);
    if (!m.valid_unicast()) return VIRTIO_NET_ERR;
    mac_ = m;
    return VIRTIO_NET_OK;
  }
  if (command != VIRTIO_NET_CTRL_MAC_TABLE_SET) return VIRTIO_NET_ERR;
  std::vector<MacAddress> unicast, multicast;
  if (!take_mac_table(data, unicast) || !take_mac_table(data, multicast) || !data.empty()) return VIRTIO_NET_ERR;
  unicast_overflow_ = unicast.size() > kTableEntries;
  multicast_overflow_ = multicast.size() > kTableEntries;
  unicast_ = unicast_overflow_ ? std::vector<MacAddress>{} : std::move(unicast);
  multicast_ = multicast_overflow_ ? std::vector<MacAddress>{} : std::move(multicast);
  return VIRTIO_NET_OK;
}

// §5.1.6.5.3: a le16 VLAN id of 12 bits.
std::uint8_t RxFilterModel::vlan_command(std::uint64_t features, std::uint8_t command, std::span<const std::byte> data) {
  std::uint16_t vlan = 0;
  if (!has_feature(features, VIRTIO_NET_F_CTRL_VLAN) || data.size() != sizeof vlan) return VIRTIO_NET_ERR;
  std::memcpy(&vlan, data.data(), sizeof vlan);
  if (vlan >= vlans_.size()) return VIRTIO_NET_ERR;
  if (command == VIRTIO_NET_CTRL_VLAN_ADD)
    vlans_.set(vlan);
  else if (command == VIRTIO_NET_CTRL_VLAN_DEL)
    vlans_.reset(vlan);
  else
    return VIRTIO_NET_ERR;
  return VIRTIO_NET_OK;
}

bool RxFilterModel::accepts(std::uint64_t features, std::span<const std::byte> frame, const MacAddress& own) const noexcept {
  if (frame.size() < 14) return false;
  // Promiscuous takes everything, whatever else is on (§5.1.6.5.1).
  if (promiscuous_) return true;
  // §5.1.6.5.3: with the VLAN filter, a tagged frame of a VLAN not in the table stays out.
  const auto byte = [&](std::size_t i) { return std::to_integer<unsigned>(frame[i]); };
  if (has_feature(features, VIRTIO_NET_F_CTRL_VLAN) && byte(12) == 0x81 && byte(13) == 0x00) {
    if (frame.size() < 16 || !vlans_.test(((byte(14) << 8) | byte(15)) & 0x0fff)) return false;
  }
  const MacAddress to = mac_at(frame.first(6));
  if (to.bytes == MacAddress{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}.bytes) return !no_broadcast_;
  if (to.is_multicast()) {
    if (no_multicast_) return false;
    return all_multicast_ || multicast_overflow_ || std::find(multicast_.begin(), multicast_.end(), to) != multicast_.end();
  }
  if (no_unicast_) return false;
  return all_unicast_ || unicast_overflow_ || to == mac_.value_or(own) ||
         std::find(unicast_.begin(), unicast_.end(), to) != unicast_.end();
}

}  // namespace netfront::virtio::device_side
