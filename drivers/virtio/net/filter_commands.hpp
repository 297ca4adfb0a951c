// The receive filter commands of the virtio-net control queue (virtio 1.2 §5.1.6.5.1-3), as
// the driver sends them: each checks its arguments, encodes them as the spec lays them out and
// waits for the device's ack (ControlQueue::execute).
#pragma once

#include <cstdint>
#include <span>

#include "drivers/virtio/net/control_queue.hpp"
#include "netfront/mac_address.hpp"
#include "netfront/rx_filter.hpp"

namespace netfront::virtio::net {

// §5.1.6.5.1: the CTRL_RX command of `mode`.
std::uint8_t rx_mode_command(RxMode mode) noexcept;
// Whether `mode` needs CTRL_RX_EXTRA rather than CTRL_RX.
bool rx_mode_is_extra(RxMode mode) noexcept;

Result<> send_rx_mode(ControlQueue& control, RxMode mode, bool on);
// §5.1.6.5.2 VIRTIO_NET_CTRL_MAC_ADDR_SET.
Result<> send_mac_address(ControlQueue& control, const MacAddress& mac);
// §5.1.6.5.2 VIRTIO_NET_CTRL_MAC_TABLE_SET: at most kMaxMacFilterEntries addresses in all.
Result<> send_mac_table(ControlQueue& control, std::span<const MacAddress> unicast, std::span<const MacAddress> multicast);
// §5.1.6.5.3 VIRTIO_NET_CTRL_VLAN_ADD (member) or _DEL, of a VLAN id up to kMaxVlanId.
Result<> send_vlan(ControlQueue& control, std::uint16_t vlan, bool member);

}  // namespace netfront::virtio::net
