// A device's receive filters at run time (virtio 1.2 §5.1.6.5.1-3): set through the control
// queue, remembered, and sent again after a reset, which clears them on the device (its MAC
// table and VLAN table start empty, its MAC is its own again).
#include <algorithm>
#include <string>

#include "drivers/virtio/net/filter_commands.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/net/virtio_net_device.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::net {
namespace {
io<netfront::Result<>> ready(netfront::Result<> r) { return make_ready_io(std::move(r)); }
}  // namespace

// Why a filter command cannot be sent, if it cannot: the feature was not negotiated, or the
// device is not running.
std::optional<netfront::Error> VirtioNetDevice::filter_refusal(unsigned feature, const char* what) const {
  if (!control_ || !has_feature(features_, feature)) return Error::unimplemented(std::string("the device has no ") + what);
  if (state_ != State::Running) return Error::disconnected("the device is not running");
  return std::nullopt;
}

// D2: on any failure the device's filter is not known to have changed; ours does not.
io<netfront::Result<>> VirtioNetDevice::set_rx_mode(RxMode mode, bool on) {
  const bool extra = rx_mode_is_extra(mode);
  if (auto no = filter_refusal(extra ? VIRTIO_NET_F_CTRL_RX_EXTRA : VIRTIO_NET_F_CTRL_RX,
                               extra ? "extra receive modes (VIRTIO_NET_F_CTRL_RX_EXTRA)" : "receive modes (VIRTIO_NET_F_CTRL_RX)"))
    return ready(std::move(*no));
  if (auto r = send_rx_mode(*control_, mode, on); !r) return ready(runtime::to_api(std::move(r)));
  rx_filter_.modes[static_cast<std::size_t>(mode)] = on;
  runtime::logger("net").info("{}: {} {}", transport_->describe(), to_string(mode), on ? "on" : "off");
  return ready(Ok{});
}

io<netfront::Result<>> VirtioNetDevice::set_mac(const MacAddress& mac) {
  if (state_ != State::Running) return ready(Error::disconnected("the device is not running"));
  if (has_feature(features_, VIRTIO_NET_F_MAC)) {
    // The device receives for the MAC it has: only MAC_ADDR_SET changes that.
    if (auto no = filter_refusal(VIRTIO_NET_F_CTRL_MAC_ADDR, "way to change its MAC (VIRTIO_NET_F_CTRL_MAC_ADDR)"))
      return ready(std::move(*no));
    if (auto r = send_mac_address(*control_, mac); !r) return ready(runtime::to_api(std::move(r)));
  }
  // Without VIRTIO_NET_F_MAC the MAC is netfront's own choice (A6), which the device never
  // filters on.
  config_.mac = mac;
  mac_set_ = true;
  runtime::logger("net").info("{}: MAC now {}", transport_->describe(), mac.to_string());
  return ready(Ok{});
}

io<netfront::Result<>> VirtioNetDevice::set_mac_filter(std::span<const MacAddress> unicast, std::span<const MacAddress> multicast) {
  if (auto no = filter_refusal(VIRTIO_NET_F_CTRL_RX, "MAC filter table (VIRTIO_NET_F_CTRL_RX)")) return ready(std::move(*no));
  if (auto r = send_mac_table(*control_, unicast, multicast); !r) return ready(runtime::to_api(std::move(r)));
  rx_filter_.unicast.assign(unicast.begin(), unicast.end());
  rx_filter_.multicast.assign(multicast.begin(), multicast.end());
  runtime::logger("net").info("{}: MAC filter table of {} unicast and {} multicast addresses", transport_->describe(),
                              unicast.size(), multicast.size());
  return ready(Ok{});
}

io<netfront::Result<>> VirtioNetDevice::set_vlan(std::uint16_t vlan, bool member) {
  if (auto no = filter_refusal(VIRTIO_NET_F_CTRL_VLAN,
                               "VLAN filter negotiated (vlan_filter in the id asks for it, of a device with VIRTIO_NET_F_CTRL_VLAN)"))
    return ready(std::move(*no));
  if (auto r = send_vlan(*control_, vlan, member); !r) return ready(runtime::to_api(std::move(r)));
  auto& vlans = rx_filter_.vlans;
  const auto at = std::lower_bound(vlans.begin(), vlans.end(), vlan);
  const bool there = at != vlans.end() && *at == vlan;
  if (member && !there) vlans.insert(at, vlan);
  if (!member && there) vlans.erase(at);
  runtime::logger("net").info("{}: VLAN {} {}", transport_->describe(), vlan, member ? "added" : "removed");
  return ready(Ok{});
}

// After a reset the device filters as it did when new: what the application set goes back.
Result<> VirtioNetDevice::restore_filters() {
  if (!control_) return Ok{};
  if (mac_set_ && has_feature(features_, VIRTIO_NET_F_CTRL_MAC_ADDR))
    if (auto r = send_mac_address(*control_, config_.mac); !r) return r;
  for (std::size_t m = 0; m < kRxModes; ++m)
    if (rx_filter_.modes[m])
      if (auto r = send_rx_mode(*control_, static_cast<RxMode>(m), *rx_filter_.modes[m]); !r) return r;
  if (!rx_filter_.unicast.empty() || !rx_filter_.multicast.empty())
    if (auto r = send_mac_table(*control_, rx_filter_.unicast, rx_filter_.multicast); !r) return r;
  for (std::uint16_t vlan : rx_filter_.vlans)
    if (auto r = send_vlan(*control_, vlan, true); !r) return r;
  return Ok{};
}

}  // namespace netfront::virtio::net
