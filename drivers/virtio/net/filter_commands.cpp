#include "drivers/virtio/net/filter_commands.hpp"

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "drivers/virtio/net/net_spec.hpp"

namespace netfront::virtio::net {

std::uint8_t rx_mode_command(RxMode mode) noexcept {
  switch (mode) {
    case RxMode::Promiscuous: return VIRTIO_NET_CTRL_RX_PROMISC;
    case RxMode::AllMulticast: return VIRTIO_NET_CTRL_RX_ALLMULTI;
    case RxMode::AllUnicast: return VIRTIO_NET_CTRL_RX_ALLUNI;
    case RxMode::NoMulticast: return VIRTIO_NET_CTRL_RX_NOMULTI;
    case RxMode::NoUnicast: return VIRTIO_NET_CTRL_RX_NOUNI;
    case RxMode::NoBroadcast: return VIRTIO_NET_CTRL_RX_NOBCAST;
  }
  return VIRTIO_NET_CTRL_RX_PROMISC;
}

bool rx_mode_is_extra(RxMode mode) noexcept { return mode != RxMode::Promiscuous && mode != RxMode::AllMulticast; }

Result<> send_rx_mode(ControlQueue& control, RxMode mode, bool on) {
  const std::array<std::byte, 1> data{std::byte{on ? std::uint8_t{1} : std::uint8_t{0}}};
  auto r = control.execute(VIRTIO_NET_CTRL_RX, rx_mode_command(mode), data);
  if (!r) return r.error().with_context(std::string("turning ") + std::string(to_string(mode)) + (on ? " on" : " off"));
  return Ok{};
}

Result<> send_mac_address(ControlQueue& control, const MacAddress& mac) {
  auto r = control.execute(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, std::as_bytes(std::span(mac.bytes)));
  if (!r) return r.error().with_context("setting the MAC address " + mac.to_string());
  return Ok{};
}

Result<> send_mac_table(ControlQueue& control, std::span<const MacAddress> unicast, std::span<const MacAddress> multicast) {
  if (unicast.size() + multicast.size() > kMaxMacFilterEntries)
    return Fault(DeviceError::BadArgument, std::to_string(unicast.size() + multicast.size()) + " MAC filter entries, more than " +
                                               std::to_string(kMaxMacFilterEntries));
  // Two struct virtio_net_ctrl_mac back to back: le32 entries, then the addresses.
  std::vector<std::byte> data;
  data.reserve(8 + 6 * (unicast.size() + multicast.size()));
  for (std::span<const MacAddress> table : {unicast, multicast}) {
    const auto entries = static_cast<std::uint32_t>(table.size());  // le32, on a little-endian host
    const auto* e = reinterpret_cast<const std::byte*>(&entries);
    data.insert(data.end(), e, e + sizeof entries);
    for (const MacAddress& mac : table) {
      const auto b = std::as_bytes(std::span(mac.bytes));
      data.insert(data.end(), b.begin(), b.end());
    }
  }
  auto r = control.execute(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, data);
  if (!r)
    return r.error().with_context("setting a MAC filter table of " + std::to_string(unicast.size()) + " unicast and " +
                                  std::to_string(multicast.size()) + " multicast addresses");
  return Ok{};
}

Result<> send_vlan(ControlQueue& control, std::uint16_t vlan, bool member) {
  if (vlan > kMaxVlanId) return Fault(DeviceError::BadArgument, "VLAN id " + std::to_string(vlan) + " is beyond " + std::to_string(kMaxVlanId));
  std::array<std::byte, 2> data;
  std::memcpy(data.data(), &vlan, 2);  // le16
  auto r = control.execute(VIRTIO_NET_CTRL_VLAN, member ? VIRTIO_NET_CTRL_VLAN_ADD : VIRTIO_NET_CTRL_VLAN_DEL, data);
  if (!r) return r.error().with_context((member ? "adding VLAN " : "removing VLAN ") + std::to_string(vlan));
  return Ok{};
}

}  // namespace netfront::virtio::net
