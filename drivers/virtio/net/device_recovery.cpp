// Following the device once it runs: its link status, its requests to be announced, and its
// requests to be reset (A13), after which it is brought up again with what it says then.
#include <rte_mbuf.h>

#include <cstring>

#include "drivers/netif/rss_check.hpp"
#include "drivers/virtio/net/announce.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/net/virtio_net_device.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::net {

void VirtioNetDevice::check_device() {
  if (reset_wanted_ || (transport_->status() & VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET)) {
    reset_wanted_ = false;
    recover();
    return;
  }
  if (!has_feature(features_, VIRTIO_NET_F_STATUS)) return;
  auto read = read_link_config(*transport_, features_);
  if (!read) return;
  const LinkConfig& now = *read;
  // An announcement is asked for by the bit being set: answered once per setting seen (a
  // device that never clears it is not answered again and again).
  const bool announce = now.announce && !announce_answered_;
  if (!now.announce) announce_answered_ = false;
  const LinkStatus before = link_status();
  config_.link = now;
  if (link_status() != before) {
    runtime::logger("net").info("{}: link {}", transport_->describe(), link_status().to_string());
    update_usable();
  }
  if (announce) this->announce();
}

// §5.1.6.5.4: a RARP for our MAC on the first pair this loop polls, then the acknowledgement,
// then the application is told (LinkStatus::announcements).
void VirtioNetDevice::announce() {
  auto& log = runtime::logger("net");
  if (state_ != State::Running || !control_) return;
  for (unsigned pair = 0; pair < pairs_.size(); ++pair) {
    if (!local(pair)) continue;
    // Set up here rather than by Buffer::copy_from: a library call of that would be one more
    // caller of Buffer::create, which LTO then stops inlining into applications' frame loops.
    const auto frame = rarp_frame(config_.mac);
    rte_mbuf* m = rte_pktmbuf_alloc(rx_pool());
    char* room = m ? rte_pktmbuf_append(m, frame.size()) : nullptr;
    if (room) {
      std::memcpy(room, frame.data(), frame.size());
      (void)pairs_[pair]->transmit(Buffer::adopt(m));  // not awaited: it goes out once there is room
    } else {
      if (m) rte_pktmbuf_free(m);
      log.warn("{}: no buffer for the announcement", transport_->describe());
    }
    break;
  }
  if (auto r = control_->execute(VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, {}); !r)
    log.warn("{}: announcement not acknowledged: {}", transport_->describe(), r.error().to_string());
  announce_answered_ = true;
  ++announcements_;
  log.info("{}: announced {} ({} time(s))", transport_->describe(), config_.mac.to_string(), announcements_);
  if (link_observer_) link_observer_->on_link_change();
}

// A13: the device asked to be reset. Whatever was in flight is gone (counted as drops);
// writers waiting for space keep waiting and go out once the device is back.
void VirtioNetDevice::recover() {
  with_pairs_still([&] {
    auto& log = runtime::logger("net");
    log.warn("{}: device needs a reset; resetting", transport_->describe());
    state_ = State::Down;
    update_usable();
    reset_device(nullptr);
    if (abandoned_) {
      fail(Fault(DeviceError::NoAnswer, "device did not confirm its reset; it is not used again"));
      return;
    }
    Result<> r = negotiate();
    if (r) r = follow_config();
    if (r) r = start_queues();
    if (!r && r.error().is_disconnected()) {
      // The device went away while we reset it (a vhost-user backend that died again): keep
      // waiting with the link down; it may come back and ask for another reset.
      log.warn("{}: device gone during reset: {}", transport_->describe(), r.error().message());
      state_ = State::Running;
      config_.link.up = false;
      update_usable();
      return;
    }
    if (!r) {
      fail(r.error());
      return;
    }
    log.info("{}: back after reset", transport_->describe());
  });
}

// After a reset the configuration is read again: a restarted vhost-user backend may have
// another number of queue pairs, which moves the control queue (§5.1.2). The pairs in use stay
// where they are if the device still has them; the control queue follows to its new index, so
// no ring of ours ever stands where the device expects another. A new MTU would change what
// the receive buffers must hold, and is refused; so are new hash types; new RSS limits are
// followed.
Result<> VirtioNetDevice::follow_config() {
  auto c = read_net_config(*transport_, features_);
  if (!c) return std::move(c).error();
  if (c->mtu != config_.mtu)
    return Fault(DeviceError::Misbehaved, "device MTU changed across a reset: was " + std::to_string(config_.mtu) + ", now " +
                          std::to_string(c->mtu));
  // The receive queues check each reported hash against the types the device said it
  // supports: those may not change under them (C9), as the MTU may not.
  if (has_feature(features_, VIRTIO_NET_F_HASH_REPORT) && c->rss.supported != config_.rss.supported)
    return Fault(DeviceError::Misbehaved, "device hash types changed across a reset: were " + config_.rss.supported.to_string() +
                                              ", now " + c->rss.supported.to_string());
  // Its key and table limits may: the configuration held is sent again (send_rss) only where
  // it still fits them, else netfront's default for the new limits.
  config_.rss = c->rss;
  if (rss_set_ && !drivers::check_rss_config(rss_, config_.rss, static_cast<unsigned>(pairs_.size()))) {
    runtime::logger("net").warn("{}: the RSS configuration set does not fit the device's limits after its reset; the default holds",
                                transport_->describe());
    rss_ = {};
    rss_set_ = false;
  }
  config_.link = c->link;
  announce_answered_ = false;  // a request the device shows after its reset is a new one
  if (c->max_queue_pairs == config_.max_queue_pairs) return Ok{};
  runtime::logger("net").info("{}: the device has {} queue pairs now, {} before", transport_->describe(), c->max_queue_pairs,
                              config_.max_queue_pairs);
  config_.max_queue_pairs = c->max_queue_pairs;
  if (auto r = check_queue_pairs(); !r) return r;
  control_.reset();
  return create_control_queue();
}

}  // namespace netfront::virtio::net
