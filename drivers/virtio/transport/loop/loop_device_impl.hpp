// The loop device's code, for the two builds of it: loop_device.cpp (the device as it
// behaves, in the library) and test/support/faulty_loop_device.cpp (with fault switches).
// Every switch is read under `if constexpr (kFaulty)`, so the first build has none of them.
#pragma once

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "drivers/virtio/device_side/offload_engine.hpp"
#include "drivers/virtio/transport/loop/loop_device.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/ring/ring_layout.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "netfront/mac_address.hpp"
#include "runtime/device_memory.hpp"

namespace netfront::virtio::transport::loop {

using namespace virtio::net;

namespace detail {
constexpr unsigned kBurst = 64;

// Writes `bytes` into the writable segments of `chain` from byte `offset` on; returns how many fit.
inline std::size_t write_chain(const DeviceChain& chain, std::size_t offset, std::span<const std::byte> bytes) {
  std::size_t done = 0;
  for (const DeviceSegment& s : chain.segments) {
    if (!s.writable) continue;
    if (offset >= s.len) {
      offset -= s.len;
      continue;
    }
    const std::size_t n = std::min<std::size_t>(s.len - offset, bytes.size() - done);
    std::memcpy(s.data + offset, bytes.data() + done, n);
    done += n;
    offset = 0;
    if (done == bytes.size()) break;
  }
  return done;
}
}  // namespace detail

template <class Faults>
std::size_t BasicLoopDevice<Faults>::room_of(const DeviceChain& c) const noexcept {
  const std::size_t room = c.writable_bytes();
  if constexpr (kFaulty)
    if (faults_.rx_chunk) return std::min<std::size_t>(room, *faults_.rx_chunk);
  return room;
}

template <class Faults>
struct BasicLoopDevice<Faults>::Pair {
  explicit Pair(unsigned n) : number(n) {}
  unsigned number;
  std::unique_ptr<DeviceRing> rx, tx;
  std::uint16_t rx_size = 0, tx_size = 0;
  // Receive chains taken from the ring but not filled yet: a device holds on to buffers.
  std::vector<DeviceChain> rx_ready;
  std::size_t rx_first = 0, rx_count = 0, rx_capacity = 0;
  DeviceChain tx_chain;
  // In-order transmit completions of this round, written as one batch.
  UsedWrite batch_last{};
  std::uint16_t batch_chains = 0, batch_descriptors = 0;
  // LoopFaults::tx_loses_doorbell and rx_loses_doorbell; cleared by a doorbell, which a pair
  // polled by another thread rings from there.
  std::atomic<bool> tx_waits_for_doorbell{false}, rx_waits_for_doorbell{false};
};

template <class Faults>
BasicLoopDevice<Faults>::BasicLoopDevice(const LoopOptions& options, unsigned queue_pairs, EventLoop* loop)
    : options_(options), pairs_(queue_pairs), loop_(loop), pair_counters_(queue_pairs), scratch_(kScratch) {
  for (unsigned i = 0; i < pairs_; ++i) queues_.push_back(std::make_unique<Pair>(i));
  if (loop_) loop_->add_poller(*this);
}

template <class Faults>
BasicLoopDevice<Faults>::~BasicLoopDevice() {
  if (loop_) loop_->remove_poller(*this);
}

template <class Faults>
std::string BasicLoopDevice<Faults>::describe() const { return "loop device"; }

template <class Faults>
Result<> BasicLoopDevice<Faults>::reset() {
  if constexpr (kFaulty) {
    if (faults_.status_log) faults_.status_log->push_back(0);
    if (faults_.reset_never_completes) return Fault(TransportError::NoAnswer, "loop device did not complete its reset");
  }
  status_ = 0;
  driver_ok_.store(false, std::memory_order_relaxed);
  driver_features_ = 0;
  guest_offloads_ = 0;
  for (auto& p : queues_) p = std::make_unique<Pair>(p->number);
  control_.reset();
  filter_.reset();
  rss_.reset();
  ring_areas_.clear();
  active_pairs_ = 1;  // §5.1.6.5.5: multiqueue is off until the driver turns it on
  ++counters_.resets;
  return Ok{};
}

template <class Faults>
bool BasicLoopDevice<Faults>::revoke_dma() noexcept {
  if constexpr (kFaulty)
    if (faults_.dma_not_revocable) return false;
  cut_off_ = true;
  return true;
}

template <class Faults>
void BasicLoopDevice<Faults>::set_status(std::uint8_t status) {
  if (status == 0) {
    (void)reset();
    return;
  }
  if constexpr (kFaulty) {
    if (faults_.status_log) faults_.status_log->push_back(status);
    if (faults_.reject_features_ok) status &= static_cast<std::uint8_t>(~VIRTIO_CONFIG_S_FEATURES_OK);
  }
  status_ = static_cast<std::uint8_t>(status | (status_ & VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET));
  driver_ok_.store(status_ & VIRTIO_CONFIG_S_DRIVER_OK, std::memory_order_relaxed);
}

template <class Faults>
std::uint64_t BasicLoopDevice<Faults>::device_features() {
  std::uint64_t f = feature_bit(VIRTIO_NET_F_MAC) | feature_bit(VIRTIO_NET_F_MTU) | feature_bit(VIRTIO_NET_F_STATUS) |
                    // Offloads a real device offers; the driver must decline them cleanly.
                    // Offloads: those netfront takes when asked, and receive segmentation, which
                    // it must decline.
                    feature_bit(VIRTIO_NET_F_CSUM) | feature_bit(VIRTIO_NET_F_GUEST_CSUM) |
                    feature_bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | feature_bit(VIRTIO_NET_F_HOST_TSO4) |
                    feature_bit(VIRTIO_NET_F_HOST_TSO6) | feature_bit(VIRTIO_NET_F_HOST_ECN) |
                    feature_bit(VIRTIO_NET_F_HOST_USO) | feature_bit(VIRTIO_NET_F_GUEST_TSO4) |
                    feature_bit(VIRTIO_NET_F_GUEST_TSO6) | feature_bit(VIRTIO_NET_F_GUEST_USO4) |
                    feature_bit(VIRTIO_F_VERSION_1) | feature_bit(VIRTIO_NET_F_CTRL_VQ) |
                    feature_bit(VIRTIO_NET_F_GUEST_ANNOUNCE) | feature_bit(VIRTIO_NET_F_SPEED_DUPLEX) |
                    feature_bit(VIRTIO_NET_F_CTRL_RX) | feature_bit(VIRTIO_NET_F_CTRL_RX_EXTRA) |
                    feature_bit(VIRTIO_NET_F_CTRL_VLAN) | feature_bit(VIRTIO_NET_F_CTRL_MAC_ADDR) |
                    feature_bit(VIRTIO_NET_F_HASH_REPORT) | (pairs_ > 1 ? feature_bit(VIRTIO_NET_F_MQ) : 0);
  if (options_.rss && pairs_ > 1) f |= feature_bit(VIRTIO_NET_F_RSS);
  if (options_.mrg_rxbuf) f |= feature_bit(VIRTIO_NET_F_MRG_RXBUF);
  if (options_.event_idx) f |= feature_bit(VIRTIO_F_EVENT_IDX);
  if (options_.packed) f |= feature_bit(VIRTIO_F_RING_PACKED);
  if (options_.in_order) f |= feature_bit(VIRTIO_F_IN_ORDER);
  if (options_.indirect) f |= feature_bit(VIRTIO_F_INDIRECT_DESC);
  // §4.1.4.8: a legacy device has 32 feature bits, and takes any descriptor layout.
  if (options_.legacy) f = (f & 0xffffffffu) | feature_bit(VIRTIO_F_ANY_LAYOUT);
  if constexpr (kFaulty) {
    if (faults_.no_version_1) f &= ~feature_bit(VIRTIO_F_VERSION_1);
    if (faults_.mq_without_ctrl_vq) f = (f & ~feature_bit(VIRTIO_NET_F_CTRL_VQ)) | feature_bit(VIRTIO_NET_F_MQ);
    f &= ~faults_.withdraw_features;
  }
  return f;
}

template <class Faults>
std::uint32_t BasicLoopDevice<Faults>::config_generation() {
  if constexpr (kFaulty)
    if (faults_.unstable_config_generation) ++generation_;
  return generation_;
}

template <class Faults>
std::size_t BasicLoopDevice<Faults>::config_size() const { return kConfigSize; }

template <class Faults>
void BasicLoopDevice<Faults>::read_config(std::size_t offset, std::span<std::byte> out) {
  std::byte config[kConfigSize]{};
  const MacAddress mac = this->mac();
  auto pairs = static_cast<std::uint16_t>(pairs_);
  std::uint16_t mtu = kMtu;
  if constexpr (kFaulty) {
    pairs = faults_.max_virtqueue_pairs.value_or(pairs);
    mtu = faults_.mtu.value_or(mtu);
  }
  std::memcpy(config + kConfigMac, mac.bytes.data(), 6);
  const std::uint16_t status = (link_up_ ? VIRTIO_NET_S_LINK_UP : 0) | (announce_ ? VIRTIO_NET_S_ANNOUNCE : 0);
  std::memcpy(config + kConfigStatus, &status, 2);
  std::memcpy(config + kConfigMaxVirtqueuePairs, &pairs, 2);
  std::memcpy(config + kConfigMtu, &mtu, 2);
  std::memcpy(config + kConfigSpeed, &speed_, 4);
  std::memcpy(config + kConfigDuplex, &duplex_, 1);
  auto key_size = static_cast<std::uint8_t>(device_side::RssModel::kMaxKeySize);
  const auto table = static_cast<std::uint16_t>(device_side::RssModel::kMaxIndirectionTable);
  std::uint32_t hash_types = device_side::RssModel::kSupported.bits;
  if constexpr (kFaulty) {
    key_size = faults_.rss_max_key_size.value_or(key_size);
    hash_types = faults_.rss_hash_types.value_or(hash_types);
  }
  std::memcpy(config + kConfigRssMaxKeySize, &key_size, 1);
  std::memcpy(config + kConfigRssMaxIndirectionTableLength, &table, 2);
  std::memcpy(config + kConfigSupportedHashTypes, &hash_types, 4);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = offset + i < kConfigSize ? config[offset + i] : std::byte{0};
}

template <class Faults>
MacAddress BasicLoopDevice<Faults>::own_mac() const noexcept {
  const MacAddress own{{0x52, 0x54, 0x00, 0x00, 0x00, 0x01}};
  if constexpr (kFaulty) return faults_.mac.value_or(own);
  return own;
}

// §5.1.6.5.2: MAC_ADDR_SET shows in the configuration space.
template <class Faults>
MacAddress BasicLoopDevice<Faults>::mac() const noexcept { return filter_.mac().value_or(own_mac()); }

template <class Faults>
std::uint16_t BasicLoopDevice<Faults>::queue_max_size(std::uint16_t index) {
  if (index >= queue_count()) return 0;
  if constexpr (kFaulty)
    if (const auto smaller = faults_.queue_max_sizes.find(index); smaller != faults_.queue_max_sizes.end())
      return smaller->second;
  return static_cast<std::uint16_t>(options_.queue_size);
}

template <class Faults>
std::uint32_t BasicLoopDevice<Faults>::control_index() const noexcept { return control_queue_index(driver_features_, pairs_); }

template <class Faults>
Result<> BasicLoopDevice<Faults>::enable_queue(const transport::QueueSetup& setup) {
  if (setup.index >= queue_count() || setup.size == 0 || setup.size > queue_max_size(setup.index))
    return Fault(TransportError::BadRequest, "loop device: queue " + std::to_string(setup.index) + " of size " + std::to_string(setup.size) +
                          " cannot be set up");
  if (options_.legacy) {
    // §4.1.4.8, §2.7.2: a legacy device's queue has the size it says, and it is told one page
    // number: the rest of the ring is where the legacy layout puts it.
    const auto layout = ring::SplitLayout::of(setup.size, ring::kLegacyRingAlign);
    const ring::QueueAddresses& a = setup.addresses;
    if (setup.size != queue_max_size(setup.index) || a.desc % ring::kLegacyRingAlign != 0 ||
        a.driver != a.desc + layout.avail_offset || a.device != a.desc + layout.used_offset)
      return Fault(TransportError::BadRequest, "loop device (legacy): queue " + std::to_string(setup.index) +
                                                   " not of its fixed size in the legacy layout");
  }
  auto ring = device_side::make_device_ring(driver_features_, setup.size, setup.addresses);
  ring->request_notifications();
  if constexpr (kFaulty) {  // where the scribble switch may write, or must not
    auto area = [](std::uint64_t a) { return reinterpret_cast<std::byte*>(a); };
    if (has_feature(driver_features_, VIRTIO_F_RING_PACKED)) {
      ring_areas_.emplace_back(area(setup.addresses.desc), sizeof(ring::pvirtq_desc) * setup.size);
      ring_areas_.emplace_back(area(setup.addresses.driver), sizeof(ring::pvirtq_event_suppress));
      ring_areas_.emplace_back(area(setup.addresses.device), sizeof(ring::pvirtq_event_suppress));
    } else {
      ring_areas_.emplace_back(area(setup.addresses.desc), sizeof(ring::virtq_desc) * setup.size);
      ring_areas_.emplace_back(area(setup.addresses.driver), 6u + 2u * setup.size);
      ring_areas_.emplace_back(area(setup.addresses.device), 6u + sizeof(ring::virtq_used_elem) * setup.size);
    }
  }
  const bool control = has_feature(driver_features_, VIRTIO_NET_F_CTRL_VQ) && setup.index == control_index();
  if (control) {
    control_ = std::make_unique<device_side::NetControlServer>(
        std::move(ring), [this](std::uint8_t cls, std::uint8_t command, std::span<const std::byte> data) {
          return control_command(cls, command, data);
        });
    return Ok{};
  }
  if (setup.index >= control_index())  // the data queues come before the control queue (§5.1.2)
    return Fault(TransportError::BadRequest, "loop device: queue " + std::to_string(setup.index) + " does not exist with these features");
  Pair& p = *queues_[setup.index / 2];
  if (setup.index % 2 == 0) {
    p.rx = std::move(ring);
    p.rx_size = setup.size;
    p.rx_ready.assign(setup.size, DeviceChain{});
    for (auto& c : p.rx_ready) c.segments.reserve(4);
    p.rx_first = p.rx_count = p.rx_capacity = 0;
  } else {
    p.tx = std::move(ring);
    p.tx_size = setup.size;
    p.tx_chain.segments.reserve(detail::kBurst + 1);
  }
  return Ok{};
}

template <class Faults>
bool BasicLoopDevice<Faults>::notify(std::uint16_t index) noexcept {
  counters_.notifications.fetch_add(1, std::memory_order_relaxed);
  // §3.1.1: the driver MUST NOT notify the device before setting DRIVER_OK.
  if (!driver_ok_.load(std::memory_order_relaxed)) counters_.early_notifications.fetch_add(1, std::memory_order_relaxed);
  // Like a device whose control queue is served when its doorbell rings.
  if (control_ && index == control_index()) serve_control();
  if constexpr (kFaulty) {
    if (index < control_index() && index / 2 < queues_.size()) {
      std::atomic<bool>& waits = index % 2 ? queues_[index / 2]->tx_waits_for_doorbell : queues_[index / 2]->rx_waits_for_doorbell;
      if (waits.load(std::memory_order_relaxed)) waits.store(false, std::memory_order_relaxed);
    }
    return !faults_.notify_fails;
  }
  return true;
}

template <class Faults>
unsigned BasicLoopDevice<Faults>::serve_control() {
  if (!control_ || !(status_ & VIRTIO_CONFIG_S_DRIVER_OK) || cut_off_) return 0;
  if constexpr (kFaulty)
    if (faults_.stall || faults_.control_no_answer) return 0;
  return control_->serve();
}

template <class Faults>
std::uint8_t BasicLoopDevice<Faults>::control_command(std::uint8_t cls, std::uint8_t command, std::span<const std::byte> data) {
  ++counters_.control_commands;
  if constexpr (kFaulty) {
    if (faults_.control_ack) return *faults_.control_ack;
    if (faults_.refuse_command == std::pair{cls, command}) {
      if (cls == VIRTIO_NET_CTRL_MQ) rss_.disable();  // as its own refusal of an RSS command does
      return VIRTIO_NET_ERR;
    }
  }
  if (auto filtering = filter_.command(driver_features_, cls, command, data)) return *filtering;
  if (cls == VIRTIO_NET_CTRL_MQ)
    if (auto hashing = rss_.command(driver_features_, command, data, pairs_)) {
      // "Receive-side scaling (RSS)": max_tx_vq says how many pairs are in use.
      if (*hashing == VIRTIO_NET_OK && command == VIRTIO_NET_CTRL_MQ_RSS_CONFIG) active_pairs_ = rss_.transmit_pairs();
      return *hashing;
    }
  // §5.1.6.5.4: an announcement acknowledged clears the request.
  // §5.1.6.5.6: only negotiated receive offloads may be turned on.
  if (cls == VIRTIO_NET_CTRL_GUEST_OFFLOADS && has_feature(driver_features_, VIRTIO_NET_F_CTRL_GUEST_OFFLOADS)) {
    std::uint64_t bits = 0;
    if (command != VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET || data.size() != sizeof bits) return VIRTIO_NET_ERR;
    std::memcpy(&bits, data.data(), sizeof bits);
    if ((bits & ~(driver_features_ & kGuestOffloadFeatures)) != 0) return VIRTIO_NET_ERR;
    guest_offloads_ = bits;
    return VIRTIO_NET_OK;
  }
  if (cls == VIRTIO_NET_CTRL_ANNOUNCE && has_feature(driver_features_, VIRTIO_NET_F_GUEST_ANNOUNCE)) {
    if (command != VIRTIO_NET_CTRL_ANNOUNCE_ACK || !data.empty()) return VIRTIO_NET_ERR;
    ++counters_.announcements_acked;
    if (announce_) ++generation_;
    announce_ = false;
    return VIRTIO_NET_OK;
  }
  // VQ_PAIRS_SET, only with MQ negotiated.
  const auto pairs = has_feature(driver_features_, VIRTIO_NET_F_MQ) ? device_side::vq_pairs_requested(cls, command, data, pairs_)
                                                                    : std::nullopt;
  if (!pairs) return VIRTIO_NET_ERR;
  active_pairs_ = *pairs;
  rss_.disable();  // as QEMU's virtio-net: automatic steering again
  return VIRTIO_NET_OK;
}

// The scribble switch: what a device that holds the driver's memory table can do at any time.
template <class Faults>
void BasicLoopDevice<Faults>::scribble() {
  if constexpr (kFaulty) {
    auto next = [this] {
      random_ ^= random_ << 13;
      random_ ^= random_ >> 7;
      random_ ^= random_ << 17;
      return random_;
    };
    auto garble = [&](std::byte* p, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::byte>(next());
      ++counters_.scribbles;
    };
    auto in_rings = [&](const std::byte* p, std::size_t n) {
      for (auto [a, len] : ring_areas_)
        if (p < a + len && a < p + n) return true;
      return false;
    };
    // Half of what it just handed the driver: headers (num_buffers, flags) and frame bytes.
    for (auto [p, n] : just_used_)
      if (next() % 2 == 0) {
        const std::size_t off = next() % std::min<std::size_t>(n, 64);
        garble(p + off, std::min<std::size_t>(1 + next() % 16, n - off));
      }
    const auto blocks = runtime::DeviceMemory::blocks();
    std::size_t total = 0;
    for (auto [p, n] : blocks) total += n;
    for (unsigned i = 0; i < faults_.scribble && total > 0; ++i) {
      std::size_t at = next() % total;
      for (auto [p, n] : blocks) {
        if (at >= n) {
          at -= n;
          continue;
        }
        const std::size_t len = std::min<std::size_t>(1 + next() % 64, n - at);
        if (faults_.scribble_rings || !in_rings(p + at, len)) garble(p + at, len);
        break;
      }
      if (faults_.scribble_rings && !ring_areas_.empty()) {
        auto [a, len] = ring_areas_[next() % ring_areas_.size()];
        const std::size_t off = next() % len;
        garble(a + off, std::min<std::size_t>(1 + next() % 8, len - off));
      }
    }
  }
}

template <class Faults>
unsigned BasicLoopDevice<Faults>::poll() {
  if constexpr (kFaulty) {
    if (std::exchange(faults_.needs_reset, false)) status_ |= VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET;
    if (faults_.stall) return 0;
  }
  if (!(status_ & VIRTIO_CONFIG_S_DRIVER_OK) || (status_ & VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET) || cut_off_) return 0;
  unsigned work = serve_control();
  // §5.1.6.5.5: only the enabled pairs carry traffic.
  for (unsigned i = 0; i < active_pairs_; ++i) work += work_tx(*queues_[i]);
  if constexpr (kFaulty) {
    // After its turn, so the driver finds the garbage in what it was just given.
    if (faults_.scribble) scribble();
    just_used_.clear();
  }
  return work;
}

// Takes receive chains off the ring until `bytes` fit (mergeable) or the first chain alone
// holds them (not mergeable).
template <class Faults>
bool BasicLoopDevice<Faults>::ensure_rx(Pair& p, std::size_t bytes) {
  if (!p.rx) return false;
  if constexpr (kFaulty)
    if (p.rx_waits_for_doorbell.load(std::memory_order_relaxed)) return false;
  const bool mrg = has_feature(driver_features_, VIRTIO_NET_F_MRG_RXBUF);
  auto enough = [&] {
    if (p.rx_count == 0) return false;
    return mrg ? p.rx_capacity >= bytes : room_of(p.rx_ready[p.rx_first]) >= bytes;
  };
  while (!enough() && p.rx_count < p.rx_size) {
    DeviceChain& slot = p.rx_ready[(p.rx_first + p.rx_count) % p.rx_size];
    if (!p.rx->pop(slot)) break;
    ++p.rx_count;
    p.rx_capacity += room_of(slot);
  }
  return enough();
}

// Takes receive chains off the ring until `count` are held (or the ring has no more).
template <class Faults>
bool BasicLoopDevice<Faults>::ensure_rx_chains(Pair& p, std::size_t count) {
  if (!p.rx) return false;
  if constexpr (kFaulty)
    if (p.rx_waits_for_doorbell.load(std::memory_order_relaxed)) return false;
  while (p.rx_count < count && p.rx_count < p.rx_size) {
    DeviceChain& slot = p.rx_ready[(p.rx_first + p.rx_count) % p.rx_size];
    if (!p.rx->pop(slot)) break;
    ++p.rx_count;
    p.rx_capacity += room_of(slot);
  }
  return p.rx_count >= count;
}

template <class Faults>
bool BasicLoopDevice<Faults>::deliver(Pair& p, std::span<const std::byte> frame, const virtio_net_hdr& header) {
  // The header as the driver negotiated it: with HASH_REPORT, the frame's hash after it.
  std::array<std::byte, kHashHeaderLength> head{};
  const std::size_t header_length = this->header_length();
  std::memcpy(head.data(), &header, sizeof header);
  if (header_length > sizeof header) {
    const auto c = rss_.classify(frame);
    virtio_net_hash hash{.hash_value = c.report ? c.hash : 0, .hash_report = c.report};
    if constexpr (kFaulty)
      if (faults_.rx_hash) hash = *faults_.rx_hash;
    std::memcpy(head.data() + sizeof header, &hash, sizeof hash);
  }
  const std::size_t total = header_length + frame.size();
  if (!ensure_rx(p, total)) {
    ++counters_.dropped;
    return false;
  }
  // §5.1.6.4: fill whole buffers, the last one partly; num_buffers says how many.
  std::size_t written = 0;
  std::uint16_t buffers = 0;
  const std::size_t first = p.rx_first;
  while (written < total) {
    DeviceChain& c = p.rx_ready[(p.rx_first + buffers) % p.rx_size];
    const std::size_t room = room_of(c);
    const std::size_t n = std::min(room, total - written);
    // The header is the stream's first bytes; the frame follows.
    std::size_t at = 0;
    if (written < header_length) at = detail::write_chain(c, 0, std::span(head.data(), header_length));
    const std::size_t from = written + at - header_length;
    detail::write_chain(c, at, frame.subspan(from, n - at));
    written += n;
    ++buffers;
  }
  std::uint16_t num_buffers = buffers;
  if constexpr (kFaulty) {
    if (std::exchange(faults_.rx_num_buffers_zero, false)) num_buffers = 0;
    if (std::exchange(faults_.rx_num_buffers_too_many, false)) num_buffers = 1000;
  }
  // A legacy header without MRG_RXBUF has no num_buffers (§5.1.6.1): the frame starts there.
  if (header_length > offsetof(virtio_net_hdr, num_buffers))
    detail::write_chain(p.rx_ready[first], offsetof(virtio_net_hdr, num_buffers), std::as_bytes(std::span(&num_buffers, 1)));

  written = 0;
  for (std::uint16_t b = 0; b < buffers; ++b) {
    DeviceChain& c = p.rx_ready[p.rx_first];
    const std::size_t room = room_of(c);
    auto len = static_cast<std::uint32_t>(std::min(room, total - written));
    written += len;
    if constexpr (kFaulty) len = faulty_rx_len(c, b, len);
    p.rx->push_used({c.id, len}, c.descriptors);
    if constexpr (kFaulty)
      if (faults_.scribble)
        for (const DeviceSegment& s : c.segments)
          if (s.writable) just_used_.emplace_back(s.data, s.len);
    p.rx_capacity -= room;
    p.rx_first = (p.rx_first + 1) % p.rx_size;
    --p.rx_count;
  }
  p.rx->publish_used();
  ++counters_.rx_frames;
  ++pair_counters_[p.number].rx_frames;
  return true;
}

// The used length of receive buffer `b` of a frame, as a device that lies writes it.
template <class Faults>
std::uint32_t BasicLoopDevice<Faults>::faulty_rx_len(const DeviceChain& c, std::uint16_t b, std::uint32_t len) {
  if constexpr (kFaulty) {
    // Beyond what the driver posted, whatever share of it this device fills.
    const auto too_long = static_cast<std::uint32_t>(c.writable_bytes() + 100);
    // Switches set together all fire on this frame; the last one's length is written.
    if (b == 0 && std::exchange(faults_.rx_len_too_long, false)) len = too_long;
    if (b == 0 && std::exchange(faults_.rx_len_too_short, false)) len = static_cast<std::uint32_t>(header_length() + 5);
    if (b == 0 && std::exchange(faults_.rx_len_without_header, false)) len = 5;
    if (b == 1 && std::exchange(faults_.rx_follower_len_too_long, false)) len = too_long;
  }
  return len;
}

// Writes a transmit chain's completion the way a device that lies does; whether it did.
template <class Faults>
bool BasicLoopDevice<Faults>::complete_tx_faultily(Pair& p, const DeviceChain& chain, std::uint32_t len) {
  if constexpr (kFaulty) {
    if (!faults_.used_id_out_of_range && !faults_.used_id_not_outstanding && !faults_.used_index_jump) return false;
    if (p.batch_chains) push_tx_batch(p, p.batch_chains);  // what came before, as it was
    if (std::exchange(faults_.used_id_out_of_range, false)) {
      p.tx->push_used({static_cast<std::uint32_t>(p.tx_size + 3), len}, chain.descriptors);
      return true;
    }
    p.tx->push_used({chain.id, len}, chain.descriptors);
    if (std::exchange(faults_.used_id_not_outstanding, false))
      p.tx->push_used({chain.id, len}, chain.descriptors);  // the same chain completed twice
    if (std::exchange(faults_.used_index_jump, false)) {
      // A broken device: it corrupts the ring and stops, so nothing it does later hides it.
      p.tx->corrupt_used_index(static_cast<std::uint16_t>(p.tx_size + 1));
      faults_.stall = true;
    }
    return true;
  }
  return false;
}

template <class Faults>
void BasicLoopDevice<Faults>::push_tx_batch(Pair& p, std::uint16_t chains) {
  p.tx->push_used_batch(p.batch_last, chains, p.batch_descriptors);
  p.batch_chains = p.batch_descriptors = 0;
}

template <class Faults>
void BasicLoopDevice<Faults>::flush_tx_batch(Pair& p) {
  if (!p.batch_chains) return;
  std::uint16_t chains = p.batch_chains;
  if constexpr (kFaulty)
    if (faults_.in_order_batch_overreach && chains > 1) {
      // The entry names the batch's last chain, but the used index moves by one: a broken
      // device, which stops (its ring is out of step now).
      faults_.in_order_batch_overreach = false;
      faults_.stall = true;
      chains = 1;
    }
  push_tx_batch(p, chains);
}

template <class Faults>
void BasicLoopDevice<Faults>::complete_tx(Pair& p, const DeviceChain& chain) {
  std::uint32_t len = 0;
  if constexpr (kFaulty) {
    if (faults_.tx_used_len_garbage) len = 0xfffffff0u;  // C3: TX len means nothing
    if (complete_tx_faultily(p, chain, len)) return;
  }
  if (has_feature(driver_features_, VIRTIO_F_IN_ORDER)) {
    p.batch_last = {chain.id, len};
    ++p.batch_chains;
    p.batch_descriptors = static_cast<std::uint16_t>(p.batch_descriptors + chain.descriptors);
    return;
  }
  p.tx->push_used({chain.id, len}, chain.descriptors);
}

template <class Faults>
unsigned BasicLoopDevice<Faults>::work_tx(Pair& p) {
  if (!p.tx || !p.rx) return 0;
  if constexpr (kFaulty)
    if (p.tx_waits_for_doorbell.load(std::memory_order_relaxed)) return 0;
  std::size_t mtu = kMtu;
  if constexpr (kFaulty) mtu = faults_.mtu.value_or(kMtu);
  const std::size_t header_length = this->header_length();
  const std::size_t max_frame = header_length + mtu + 14;
  const bool segmenting = (driver_features_ & kHostSegmentationFeatures) != 0;
  unsigned n = 0;
  for (; n < detail::kBurst; ++n) {
    if constexpr (kFaulty)
      if (faults_.stall) break;
    // Echo is lossless: a frame stays on the transmit ring until a receive buffer can take it,
    // or, where the driver may ask for segmentation, the buffers of a frame's segments.
    if (options_.echo && !ensure_rx(p, max_frame)) break;
    if (options_.echo && segmenting && !ensure_rx_chains(p, std::min<std::size_t>(p.rx_size, kSegmentsAtOnce))) break;
    if (!p.tx->pop(p.tx_chain)) break;
    if constexpr (kFaulty)
      if (std::exchange(faults_.scribble_descriptors, false)) p.tx->scribble_last_chain();
    std::size_t len = 0;
    for (const DeviceSegment& s : p.tx_chain.segments) {
      if (s.writable || len + s.len > scratch_.size()) continue;
      std::memcpy(scratch_.data() + len, s.data, s.len);
      len += s.len;
    }
    complete_tx(p, p.tx_chain);
    ++counters_.tx_frames;
    ++pair_counters_[p.number].tx_frames;
    if (p.tx_chain.indirect) ++counters_.tx_indirect;
    if (len < header_length) {
      ++counters_.dropped;
      continue;
    }
    if (!options_.echo) {
      ++counters_.dropped;
      continue;
    }
    virtio_net_hdr header;
    std::memcpy(&header, scratch_.data(), std::min(sizeof header, header_length));
    echo(p, std::span(scratch_.data() + header_length, len - header_length), header);
    if (header.gso_type != VIRTIO_NET_HDR_GSO_NONE) {  // one per turn: the driver takes its segments in between
      ++n;
      break;
    }
  }
  flush_tx_batch(p);
  p.tx->publish_used();
  if constexpr (kFaulty) {
    if (n > 0 && std::exchange(faults_.rx_loses_doorbell, false)) p.rx_waits_for_doorbell.store(true, std::memory_order_relaxed);
    if (n > 0 && std::exchange(faults_.tx_loses_doorbell, false)) {
      p.tx_waits_for_doorbell.store(true, std::memory_order_relaxed);  // and the event index stays behind what it took
      return n;
    }
  }
  p.tx->request_notifications();
  return n;
}

// A transmitted frame back to the driver, with what its header asked done (§5.1.6.2): a
// partial checksum passed on to a driver that has GUEST_CSUM on (as between two guests of one
// host), completed for one that has not; a segmentation request cut into its segments.
template <class Faults>
void BasicLoopDevice<Faults>::echo(Pair& from, std::span<std::byte> frame, const virtio_net_hdr& sent) {
  if (filtered_out(frame)) return;
  Pair& p = steered(from, frame);
  const bool partial_ok = has_feature(guest_offloads_, VIRTIO_NET_F_GUEST_CSUM);
  const bool needs_csum = has_feature(driver_features_, VIRTIO_NET_F_CSUM) && (sent.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
  virtio_net_hdr back{};
  if (sent.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
    if (partial_ok) back.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    bool all = true;
    const bool cut = needs_csum && device_side::segment(frame, sent, [&](std::span<const std::byte> s) {
      ++counters_.segments;
      all = deliver(p, s, back) && all;
    });
    if (!cut) ++counters_.bad_offloads;
    if (!cut || !all) ++counters_.dropped;
    return;
  }
  if (needs_csum) {
    if (partial_ok) {
      back.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      back.csum_start = sent.csum_start;
      back.csum_offset = sent.csum_offset;
    } else if (device_side::complete_checksum(frame, sent.csum_start, sent.csum_offset)) {
      ++counters_.checksums_completed;
    } else {
      ++counters_.bad_offloads;
      ++counters_.dropped;
      return;
    }
  }
  if (!deliver(p, frame, back)) ++counters_.dropped;
}

template <class Faults>
bool BasicLoopDevice<Faults>::inject(unsigned pair, std::span<const std::byte> frame, const virtio_net_hdr& header) {
  if (pair >= active_pairs_ || !(status_ & VIRTIO_CONFIG_S_DRIVER_OK) || cut_off_) return false;
  if (filtered_out(frame)) return false;
  return deliver(steered(*queues_[pair], frame), frame, header);
}

// With RSS steering on, the pair its indirection table gives the frame's hash (a frame's
// segments share its addresses and ports); else the pair it came for.
template <class Faults>
typename BasicLoopDevice<Faults>::Pair& BasicLoopDevice<Faults>::steered(Pair& p, std::span<const std::byte> frame) {
  if (!rss_.steering()) return p;
  const auto c = rss_.classify(frame);
  return c.pair && *c.pair < active_pairs_ ? *queues_[*c.pair] : p;
}

// The receive filters, before a frame takes receive buffers (its segments share its address).
template <class Faults>
bool BasicLoopDevice<Faults>::filtered_out(std::span<const std::byte> frame) {
  if (filter_.accepts(driver_features_, frame, own_mac())) return false;
  ++counters_.filtered;
  return true;
}

}  // namespace netfront::virtio::transport::loop
