// Bringing the device up (virtio 1.2 §3.1.1): feature negotiation, the configuration, the
// queue pairs and the control queue, DRIVER_OK. Also what a recovery repeats of it.
#include <algorithm>
#include <bit>

#include "drivers/virtio/net/features.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/net/virtio_net_device.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "runtime/log.hpp"
#include "runtime/rx_offload_field.hpp"

namespace netfront::virtio::net {

namespace {
// The data rooms a device's receive pool may take beyond four per receive entry.
constexpr unsigned kRxPoolRoomBytes = 16u << 20;
}  // namespace

// §3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK and its re-read.
Result<> VirtioNetDevice::negotiate() {
  transport::Transport& t = *transport_;
  if (auto r = t.reset(); !r) return r;
  t.set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
  t.set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
  const std::uint64_t offered = t.device_features() & ~options_.declined_features;
  auto chosen = negotiate_features(offered, {.access_platform = options_.access_platform,
                                              .accept_access_platform = options_.accept_access_platform,
                                              .offloads = options_.offloads,
                                              .vlan_filter = options_.vlan_filter,
                                              .hash_report = options_.hash_report,
                                              .legacy = t.legacy()});
  if (!chosen) return std::move(chosen).error();
  if (features_ != 0 && *chosen != features_)  // after a reset the device must still be the same device
    return Fault(DeviceError::Misbehaved, "device features changed across a reset: was " + describe_features(features_) + ", now " +
                          describe_features(*chosen));
  t.set_driver_features(*chosen);
  // §3.1.2 legacy interface: there is no FEATURES_OK step; the features written are taken.
  if (!t.legacy()) {
    t.set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
    if (!(t.status() & VIRTIO_CONFIG_S_FEATURES_OK))  // A1: the device refused our subset
      return Fault(DeviceError::Refused, "device did not accept features " + describe_features(*chosen));
  }
  const bool first = features_ == 0;
  features_ = *chosen;
  header_len_ = net_header_length(features_);
  if (first) receive_offloads_ = {.rx_checksum = has_feature(features_, VIRTIO_NET_F_GUEST_CSUM)};
  runtime::logger("net").debug("{}: offered {}; using {}", t.describe(), describe_features(offered),
                               describe_features(features_));
  return Ok{};
}

Result<> VirtioNetDevice::initialize() {
  auto r = negotiate();
  if (r) {
    auto c = read_net_config(*transport_, features_);
    if (c) {
      config_ = *c;
      device_mac_ = config_.mac;
      publish_mac();
    } else
      r = std::move(c).error();
  }
  if (r) r = choose_mtu();
  if (r) r = check_queue_pairs();
  if (r) r = create_queues();
  if (r) r = create_control_queue();
  if (r) r = start_queues();
  if (!r) {
    fail(r.error());
    return r;
  }
  return Ok{};
}

// §5.1.4.1: with VIRTIO_NET_F_MTU the device's MTU is the most the driver may send, so an id's
// mtu= above it is refused and one below it is used; without it the id's is the MTU.
Result<> VirtioNetDevice::choose_mtu() {
  const std::uint16_t asked = options_.mtu;
  if (asked != 0 && has_feature(features_, VIRTIO_NET_F_MTU) && asked > config_.mtu)
    return Fault(DeviceError::Refused, "mtu=" + std::to_string(asked) + " asked for, but the device's MTU is " +
                                           std::to_string(config_.mtu));
  mtu_ = asked != 0 ? asked : config_.mtu;
  return Ok{};
}

// §5.1.5: one queue pair unless MQ is negotiated, then up to max_virtqueue_pairs (D4: never
// more is asked of the device).
Result<> VirtioNetDevice::check_queue_pairs() const {
  const unsigned wanted = options_.queue_pairs;
  if (wanted == 1) return Ok{};
  if (!has_feature(features_, VIRTIO_NET_F_MQ))
    return Fault(DeviceError::Refused, std::to_string(wanted) + " queue pairs asked for, but the device offers no multiqueue "
                          "(VIRTIO_NET_F_MQ with a control queue): it has 1");
  if (wanted > config_.max_queue_pairs)
    return Fault(DeviceError::Refused, std::to_string(wanted) + " queue pairs asked for, but the device has at most " +
                          std::to_string(config_.max_queue_pairs));
  return Ok{};
}

template <typename RingConfig>
void VirtioNetDevice::set_ring_layout(RingConfig& c) const noexcept {
  c.packed = has_feature(features_, VIRTIO_F_RING_PACKED);
  c.event_idx = has_feature(features_, VIRTIO_F_EVENT_IDX);
  c.in_order = has_feature(features_, VIRTIO_F_IN_ORDER);
  c.address_mode = transport_->address_mode();
  c.socket = numa_node_;
  c.legacy_layout = transport_->legacy();
}

// The size queue `index` is set up with: at most `cap` and what the device offers; a power of
// two on a split ring (§2.7); Unknown for a queue the device does not offer (A11).
Result<std::uint16_t> VirtioNetDevice::queue_size(std::uint16_t index, std::uint16_t cap) const {
  const std::uint16_t max = transport_->queue_max_size(index);
  if (max == 0) return Fault(DeviceError::Refused, "device queue " + std::to_string(index) + " is not available");
  // §4.1.4.8: a legacy device's queue size is read-only: the ring is of exactly that size,
  // which must be one a split ring can have (§2.7).
  if (transport_->legacy()) {
    if (!std::has_single_bit(max))
      return Fault(DeviceError::Misbehaved, "legacy device queue " + std::to_string(index) + " has " + std::to_string(max) +
                                                " entries, not a power of two");
    return max;
  }
  const std::uint16_t size = std::min(max, cap);
  return has_feature(features_, VIRTIO_F_RING_PACKED) ? size : std::bit_floor(size);
}

Result<> VirtioNetDevice::create_control_queue() {
  if (!has_feature(features_, VIRTIO_NET_F_CTRL_VQ)) return Ok{};
  transport::Transport& t = *transport_;
  const std::uint32_t at = control_queue_index(features_, config_.max_queue_pairs);
  if (at > 0xffffu)
    return Fault(DeviceError::Misbehaved, "the control queue of " + std::to_string(config_.max_queue_pairs) + " queue pairs would be queue " +
                          std::to_string(at) + ", beyond the 16-bit queue numbers");
  const auto index = static_cast<std::uint16_t>(at);
  if (index >= t.queue_count())
    return Fault(DeviceError::Misbehaved, "device has " + std::to_string(t.queue_count()) + " queues, none for the control queue at " +
                          std::to_string(index));
  auto size = queue_size(index, 64);
  if (!size) return std::move(size).error();
  ControlQueueConfig cc;
  set_ring_layout(cc);
  cc.index = index;
  cc.size = *size;
  cc.timeout = options_.control_timeout;
  auto made = ControlQueue::create(cc, t);
  if (!made) return std::move(made).error();
  control_ = std::move(*made);
  return Ok{};
}

Result<> VirtioNetDevice::create_queues() {
  transport::Transport& t = *transport_;
  const unsigned pairs = options_.queue_pairs;
  if (t.queue_count() < 2 * pairs)
    return Fault(DeviceError::Refused, "device has " + std::to_string(t.queue_count()) + " queues, " + std::to_string(2 * pairs) +
                          " needed");
  // Receive buffers hold a whole frame plus the header (so MRG_RXBUF never has to merge for
  // frames within the MTU), rounded to a cache line: a frame of the device's MTU too, which it
  // may send whatever MTU the application chose (§5.1.6.3.1).
  const unsigned largest = std::max(mtu_, config_.mtu);
  const unsigned frame_room = ((std::max(2048u, largest + 14u + header_len_) + 63u) & ~63u);
  // Each queue its own size: a device may offer different maxima per queue.
  std::vector<std::pair<std::uint16_t, std::uint16_t>> sizes;  // rx, tx per pair
  unsigned rx_entries = 0, tx_entries = 0;
  for (unsigned pair = 0; pair < pairs; ++pair) {
    auto rx = queue_size(rx_queue_index(pair), options_.max_queue_size);
    if (!rx) return std::move(rx).error();
    auto tx = queue_size(tx_queue_index(pair), options_.max_queue_size);
    if (!tx) return std::move(tx).error();
    sizes.emplace_back(*rx, *tx);
    rx_entries += *rx;
    tx_entries += *tx;
  }
  if (!rx_pool_) {
    // Four buffers per receive entry at least (posted, held by the application, in the
    // per-core caches) and one per transmit entry (the pool is also the one fill-style writes
    // take their frames from, which wait on the transmit rings until the device is done), and
    // more up to 16 MiB of data rooms: 8191 of a standard frame's, but a jumbo MTU's rooms are
    // four times as large, and a pool of 8191 of those (77 MB at 9000) would not fit the
    // device memory a small guest has (a legal QEMU host_mtu=9000 refused).
    const unsigned budget = std::bit_floor(std::min(8191u, kRxPoolRoomBytes / frame_room) + 1) - 1;
    const unsigned mbufs = std::max(budget, 4u * rx_entries + tx_entries - 1);
    auto pool = PacketPool::create({.size = mbufs,
                                             .cache = 256,
                                             .data_room = static_cast<std::uint16_t>(RTE_PKTMBUF_HEADROOM + frame_room),
                                             .socket = numa_node_});
    if (!pool) return Fault(std::move(pool).error());
    rx_pool_.emplace(std::move(*pool));
  }
  if (has_feature(features_, VIRTIO_NET_F_GUEST_CSUM) || has_feature(features_, VIRTIO_NET_F_HASH_REPORT))
    if (auto r = runtime::register_rx_offload_field(); !r) return r;
  pairs_.clear();
  pair_loops_.reset(pairs);
  for (unsigned pair = 0; pair < pairs; ++pair) {
    QueuePairConfig qc;
    set_ring_layout(qc);
    qc.index = pair;
    qc.rx_size = sizes[pair].first;
    qc.tx_size = sizes[pair].second;
    qc.mrg_rxbuf = has_feature(features_, VIRTIO_NET_F_MRG_RXBUF);
    qc.indirect = has_feature(features_, VIRTIO_F_INDIRECT_DESC);
    qc.rx_checksum = has_feature(features_, VIRTIO_NET_F_GUEST_CSUM);
    qc.hash_report = has_feature(features_, VIRTIO_NET_F_HASH_REPORT);
    qc.hash_types = config_.rss.supported;
    qc.header_len = header_len_;
    qc.mtu = mtu_;
    qc.rx_pool = rx_pool_->get();
    auto qp = QueuePair::create(qc, t);
    if (!qp) return std::move(qp).error();
    (*qp)->set_sink(sink_);
    pairs_.push_back(std::move(*qp));
  }
  return Ok{};
}

// §3.1.1 steps 7-8: queues live, then DRIVER_OK.
Result<> VirtioNetDevice::start_queues() {
  for (auto& qp : pairs_)
    if (auto r = qp->start(); !r) return r;
  if (control_)
    if (auto r = control_->start(); !r) return r;
  const std::uint8_t features_ok = transport_->legacy() ? 0 : VIRTIO_CONFIG_S_FEATURES_OK;
  transport_->set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | features_ok | VIRTIO_CONFIG_S_DRIVER_OK);
  for (auto& qp : pairs_) qp->notify_receive_buffers();
  // §5.1.6.5.5: the device uses only the first pair until told otherwise; the queues are all
  // set up by now, as the spec wants before VQ_PAIRS_SET.
  if (pairs_.size() > 1)
    if (auto r = set_queue_pairs(*control_, static_cast<std::uint16_t>(pairs_.size())); !r) return r;
  // After a reset the device has every negotiated receive offload on again.
  if (control_ && receive_offloads_.rx_checksum != has_feature(features_, VIRTIO_NET_F_GUEST_CSUM))
    if (auto r = send_receive_offloads(); !r) return r;
  if (auto r = restore_filters(); !r) return r;
  if (auto r = send_rss(); !r) return r;
  state_ = State::Running;
  update_usable();
  watch_interrupts();
  runtime::logger("net").info("{}: up, {} ring, {} queue pair(s), mtu {}, link {}, numa node {}", transport_->describe(),
                              has_feature(features_, VIRTIO_F_RING_PACKED) ? "packed" : "split", pairs_.size(),
                              mtu_, link_status().to_string(), numa_node_);
  return Ok{};
}

}  // namespace netfront::virtio::net
