// The device half of receive filtering (virtio 1.2 §5.1.6.5.1-3), for the devices netfront
// plays itself (the loop device): the state the driver's CTRL_RX, CTRL_MAC and CTRL_VLAN
// commands set, and which received frames it lets through. It starts as QEMU's virtio-net
// does after a reset: promiscuous, empty tables, the device's own MAC.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "netfront/mac_address.hpp"

namespace netfront::virtio::device_side {

class RxFilterModel {
 public:
  // More addresses of a kind than this and the device takes all of that kind (§5.1.6.5.2
  // allows it), as QEMU's virtio-net does.
  static constexpr std::size_t kTableEntries = 64;

  // The answer to a command of class CTRL_RX, CTRL_MAC or CTRL_VLAN, as the negotiated
  // `features` allow it: VIRTIO_NET_OK, or VIRTIO_NET_ERR for a command the features do not
  // allow or whose data is malformed (the state is then unchanged). nullopt for another class.
  std::optional<std::uint8_t> command(std::uint64_t features, std::uint8_t cls, std::uint8_t command,
                                      std::span<const std::byte> data);
  // Whether a frame received from the wire reaches the driver, the device's own MAC being
  // `own` unless the driver set another.
  bool accepts(std::uint64_t features, std::span<const std::byte> frame, const MacAddress& own) const noexcept;
  // The MAC the driver set with MAC_ADDR_SET, if it did.
  const std::optional<MacAddress>& mac() const noexcept { return mac_; }
  bool promiscuous() const noexcept { return promiscuous_; }
  bool has_vlan(std::uint16_t vlan) const noexcept { return vlan < vlans_.size() && vlans_.test(vlan); }
  std::size_t unicast_entries() const noexcept { return unicast_.size(); }
  std::size_t multicast_entries() const noexcept { return multicast_.size(); }
  // As after a device reset.
  void reset() { *this = RxFilterModel{}; }

 private:
  std::uint8_t rx_command(std::uint64_t features, std::uint8_t command, std::span<const std::byte> data);
  std::uint8_t mac_command(std::uint64_t features, std::uint8_t command, std::span<const std::byte> data);
  std::uint8_t vlan_command(std::uint64_t features, std::uint8_t command, std::span<const std::byte> data);

  bool promiscuous_ = true;
  bool all_multicast_ = false;
  bool all_unicast_ = false;
  bool no_multicast_ = false;
  bool no_unicast_ = false;
  bool no_broadcast_ = false;
  std::optional<MacAddress> mac_;
  std::vector<MacAddress> unicast_, multicast_;
  bool unicast_overflow_ = false, multicast_overflow_ = false;
  std::bitset<4096> vlans_;
};

}  // namespace netfront::virtio::device_side
