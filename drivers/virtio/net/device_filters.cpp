// A device's receive filters at run time (virtio 1.2 §5.1.6.5.1-3): set through the control
// queue, remembered, and sent again after a reset, which clears them on the device (its MAC
// table and VLAN table start empty, its MAC is its own again).
#include <algorithm>
#include <string>
#include <vector>

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
  if (auto r = send_rx_mode(*control_, mode, on); !r) {
    after_control_failure();
    return ready(runtime::to_api(std::move(r)));
  }
  rx_filter_.modes[static_cast<std::size_t>(mode)] = on;
  runtime::logger("net").info("{}: {} {}", transport_->describe(), to_string(mode), on ? "on" : "off");
  return ready(Ok{});
}

// §5.1.6.5.2: with CTRL_MAC_ADDR the device is told, whether its MAC came from it or from
// netfront (A6): it receives for the MAC it has.
io<netfront::Result<>> VirtioNetDevice::set_mac(const MacAddress& mac) {
  if (state_ != State::Running) return ready(Error::disconnected("the device is not running"));
  if (control_ && has_feature(features_, VIRTIO_NET_F_CTRL_MAC_ADDR)) {
    if (auto r = send_mac_address(*control_, mac); !r) {
      after_control_failure();
      return ready(runtime::to_api(std::move(r)));
    }
  } else if (has_feature(features_, VIRTIO_NET_F_MAC)) {
    return ready(Error::unimplemented("the device has no way to change its MAC (VIRTIO_NET_F_CTRL_MAC_ADDR)"));
  }
  // Without either the MAC is netfront's own choice (A6), which the device never filters on.
  config_.mac = mac;
  mac_set_ = true;
  publish_mac();
  runtime::logger("net").info("{}: MAC now {}", transport_->describe(), mac.to_string());
  return ready(Ok{});
}

io<netfront::Result<>> VirtioNetDevice::set_mac_filter(std::span<const MacAddress> unicast, std::span<const MacAddress> multicast) {
  if (auto no = filter_refusal(VIRTIO_NET_F_CTRL_RX, "MAC filter table (VIRTIO_NET_F_CTRL_RX)")) return ready(std::move(*no));
  if (auto r = send_mac_table(*control_, unicast, multicast); !r) {
    after_control_failure();
    return ready(runtime::to_api(std::move(r)));
  }
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
  if (auto r = send_vlan(*control_, vlan, member); !r) {
    after_control_failure();
    return ready(runtime::to_api(std::move(r)));
  }
  auto& vlans = rx_filter_.vlans;
  const auto at = std::lower_bound(vlans.begin(), vlans.end(), vlan);
  const bool there = at != vlans.end() && *at == vlan;
  if (member && !there) vlans.insert(at, vlan);
  if (!member && there) vlans.erase(at);
  runtime::logger("net").info("{}: VLAN {} {}", transport_->describe(), vlan, member ? "added" : "removed");
  return ready(Ok{});
}

// A refusal while the filters go back after a reset costs that filter, not the device:
// filtering is best-effort (§5.1.6.5.1), and rx_filter() then says what holds. A device that
// does not answer, or answers garbage, is another matter (D1, D2): not tolerated.
bool VirtioNetDevice::tolerated(const Fault& why, const char* what) const {
  if (!why.is(DeviceError::Refused)) return false;
  runtime::logger("net").warn("{}: {} not restored: {}", transport_->describe(), what, why.to_string());
  return true;
}

// After a reset the device filters as it did when new: what the application set goes back,
// and a MAC of netfront's own (no VIRTIO_NET_F_MAC) is told to it for the first time.
Result<> VirtioNetDevice::restore_filters() {
  if (!control_) return Ok{};
  if ((mac_set_ || !config_.mac_from_device) && has_feature(features_, VIRTIO_NET_F_CTRL_MAC_ADDR)) {
    if (auto r = send_mac_address(*control_, config_.mac); !r) {
      if (!tolerated(r.error(), "the MAC")) return r;
      if (has_feature(features_, VIRTIO_NET_F_MAC)) {
        config_.mac = device_mac_;  // the device receives for its own again
        mac_set_ = false;
        publish_mac();
      }
    }
  }
  for (std::size_t m = 0; m < kRxModes; ++m) {
    auto& mode = rx_filter_.modes[m];
    if (!mode) continue;
    if (auto r = send_rx_mode(*control_, static_cast<RxMode>(m), *mode); !r) {
      if (!tolerated(r.error(), "a receive mode")) return r;
      mode.reset();
    }
  }
  if (!rx_filter_.unicast.empty() || !rx_filter_.multicast.empty()) {
    if (auto r = send_mac_table(*control_, rx_filter_.unicast, rx_filter_.multicast); !r) {
      if (!tolerated(r.error(), "the MAC filter table")) return r;
      rx_filter_.unicast.clear();
      rx_filter_.multicast.clear();
    }
  }
  std::vector<std::uint16_t> kept;
  for (std::uint16_t vlan : rx_filter_.vlans) {
    if (auto r = send_vlan(*control_, vlan, true); !r) {
      if (!tolerated(r.error(), "a VLAN")) return r;
      continue;
    }
    kept.push_back(vlan);
  }
  rx_filter_.vlans = std::move(kept);
  return Ok{};
}

}  // namespace netfront::virtio::net
