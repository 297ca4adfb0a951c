// RSS and the hash report at run time (virtio 1.2 §5.1.6.5, "Receive-side scaling (RSS)" and
// "Hash calculation"): netfront's default sent at bring-up, the application's configuration
// sent when it sets one, and whichever holds sent again after a reset (which turns hashing
// off on the device).
#include <string>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/net/rss_commands.hpp"
#include "drivers/virtio/net/virtio_net_device.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::net {

Result<> VirtioNetDevice::send_rss_config(const RssConfig& c) {
  if (config_.rss.steering) return net::send_rss_config(*control_, c, static_cast<std::uint16_t>(pairs_.size()));
  return send_hash_config(*control_, c);
}

// At bring-up: the application's configuration if it set one (a refusal then costs it, as a
// filter's does), else the default. A device that refuses the default (QEMU
// refuses RSS over a vhost backend without its eBPF program) keeps steering by itself: a
// warning, not a failure.
Result<> VirtioNetDevice::send_rss() {
  if (!has_rss()) return Ok{};
  if (rss_set_) {
    auto r = send_rss_config(rss_);
    if (r || !tolerated(r.error(), "the RSS configuration")) return r;
    rss_ = {};  // the device steers by itself now, as after a refused default
    rss_set_ = false;
    return Ok{};
  }
  const RssConfig d = default_rss_config(config_.rss, static_cast<unsigned>(pairs_.size()));
  if (auto r = send_rss_config(d); !r) {
    // A device that does not answer, or answers garbage, fails the bring-up (D1, D2).
    if (!tolerated(r.error(), "netfront's default RSS")) return r;
    rss_ = {};  // the device steers by itself
    return Ok{};
  }
  rss_ = d;
  return Ok{};
}

// D2: on any failure the device's configuration is not known to have changed; ours does not.
io<netfront::Result<>> VirtioNetDevice::set_rss(const RssConfig& c) {
  if (!has_rss())
    return make_ready_io(netfront::Result<>(
        Error::unimplemented("the device has no RSS (VIRTIO_NET_F_RSS) or hash report (hash_report in the id)")));
  if (state_ != State::Running) return make_ready_io(netfront::Result<>(Error::disconnected("the device is not running")));
  if (auto r = send_rss_config(c); !r) {
    after_control_failure();
    // A device may drop what it held on a refused command (QEMU's virtio-net turns RSS off):
    // what held is sent again, and if that is refused too, nothing holds.
    if (r.error().is(DeviceError::Refused) && rss_ != RssConfig{} && !send_rss_config(rss_)) {
      rss_ = {};
      rss_set_ = false;
    }
    return make_ready_io(runtime::to_api(std::move(r)));
  }
  rss_ = c;
  rss_set_ = true;
  runtime::logger("net").info("{}: RSS hash types {}, key of {} bytes, indirection table of {} entries", transport_->describe(),
                              c.hash_types.empty() ? "none" : c.hash_types.to_string(), c.key.size(), c.indirection_table.size());
  return make_ready_io(netfront::Result<>(Ok{}));
}

}  // namespace netfront::virtio::net
