#include "drivers/virtio/net/virtio_net_device.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include <sys/epoll.h>
#include <unistd.h>

#include "drivers/virtio/net/features.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "netfront/numa.hpp"
#include "runtime/cross_loop.hpp"
#include "runtime/log.hpp"
#include "runtime/scoped_flag.hpp"

namespace netfront::virtio::net {
namespace {
// Link status and DEVICE_NEEDS_RESET are looked at every this many polls (a few ms when busy).
constexpr std::uint64_t kStatusCheckInterval = 4096;

// The used-buffer notification fds of `pair`'s two queues, or none if either has none (one
// queue that cannot wake its loop keeps that loop polling).
std::vector<int> interrupt_fds_of(const transport::Transport& t, unsigned pair) {
  std::vector<int> fds;
  for (std::uint16_t index : {rx_queue_index(pair), tx_queue_index(pair)}) {
    const int fd = t.interrupt_fd(index);
    if (fd < 0) return {};
    fds.push_back(fd);
  }
  return fds;
}

// Watches an interrupt eventfd on `loop`: waking the loop is the point; reading resets it.
std::unique_ptr<FdWatch> drain_on_wake(EventLoop& loop, int fd) {
  return std::make_unique<FdWatch>(loop, fd, EPOLLIN, [fd](std::uint32_t) {
    std::uint64_t count;
    (void)!::read(fd, &count, sizeof count);
  });
}
}  // namespace

// Polls one handed-over pair on its new loop. `active` is written only while that loop is
// held still (LoopPause), so it needs no ordering of its own. When the transport gives the
// pair's queues interrupt fds, that loop may sleep too: the same arm/re-check as the device's.
class VirtioNetDevice::PairPoller final : public Poller {
 public:
  PairPoller(VirtioNetDevice& device, QueuePair& pair) : device_(device), pair_(pair) {}

  // On the owning loop's thread.
  void watch_interrupts(EventLoop& loop, unsigned pair) {
    watches_.clear();
    for (int fd : interrupt_fds_of(*device_.transport_, pair)) watches_.push_back(drain_on_wake(loop, fd));
  }
  void stop_watching() { watches_.clear(); }

  bool arm_wakeup() override {
    if (!active) return true;  // a failed or stopped device: nothing will happen here to wake for
    if (watches_.empty()) return false;
    if (pair_.enable_notifications()) return true;
    pair_.disable_notifications();
    return false;
  }
  void disarm_wakeup() override {
    if (active) pair_.disable_notifications();
  }
  // HOT PATH: once per iteration of the owning loop.
  unsigned poll() override {
    if (!active) return 0;
    const unsigned work = pair_.poll();
    if (++polls_ % kStatusCheckInterval == 0) [[unlikely]]
      pair_.watch_progress(std::chrono::steady_clock::now(), device_.options_.tx_stall_timeout);
    if (pair_.error() != ring::RingError::None) [[unlikely]] {
      active = false;  // the device's own loop stops the device (see VirtioNetDevice::poll)
      device_.foreign_pair_broken_.store(true, std::memory_order_release);
    }
    return work;
  }
  bool active = false;
  bool registered = false;  // added to the owning loop (set and cleared on that loop)

 private:
  VirtioNetDevice& device_;
  QueuePair& pair_;
  std::uint64_t polls_ = 0;
  std::vector<std::unique_ptr<FdWatch>> watches_;
};

template <typename Op>
void VirtioNetDevice::with_pairs_still(Op&& op) {
  std::vector<EventLoop*> loops;
  if (pause_depth_ == 0)
    for (EventLoop* owner : owners_)
      if (owner && std::find(loops.begin(), loops.end(), owner) == loops.end()) loops.push_back(owner);
  if (loops.empty()) {
    ++pause_depth_;
    op();
    --pause_depth_;
    return;
  }
  runtime::LoopPause pause(loops, [this](EventLoop& loop) { settle_pairs_of(loop); });
  ++pause_depth_;
  op();
  --pause_depth_;
}

// On `loop`'s own thread, after a pause: fail the writers the device failed, follow the device
// state, and leave the loop for good once the device is shut.
void VirtioNetDevice::settle_pairs_of(EventLoop& loop) {
  for (unsigned i = 0; i < pairs_.size(); ++i) {
    if (owners_[i] != &loop) continue;
    pairs_[i]->settle();
    PairPoller& poller = *pair_pollers_[i];
    poller.active = state_ == State::Running;
    if (state_ == State::Shut && poller.registered) {
      loop.remove_poller(poller);
      poller.stop_watching();
      poller.registered = false;
    }
  }
}

void VirtioNetDevice::fail_pair_writers(unsigned pair, const Error& why) {
  if (local(pair))
    pairs_[pair]->fail_writers(why);
  else
    pairs_[pair]->defer_failure(why);
}

Result<> VirtioNetDevice::hand_over(unsigned queue, EventLoop& loop) {
  if (queue >= pairs_.size()) return Error::unknown("no queue pair " + std::to_string(queue));
  if (&loop == &loop_) return Ok{};
  if (!local(queue)) return Error::unknown("queue pair " + std::to_string(queue) + " was handed over already");
  if (state_ == State::Shut) return Error::disconnected();
  if (pairs_[queue]->has_writers())
    return Error::unknown("queue pair " + std::to_string(queue) + " has writers waiting; hand it over before using it");
  owners_[queue] = &loop;
  pair_pollers_[queue] = std::make_unique<PairPoller>(*this, *pairs_[queue]);
  PairPoller* poller = pair_pollers_[queue].get();
  poller->active = state_ == State::Running;
  // Registered by the loop itself; anything posted later (a pause) runs after this.
  loop.post([poller, &loop, queue] {
    loop.add_poller(*poller);
    poller->registered = true;
    try {
      poller->watch_interrupts(loop, queue);
    } catch (const std::exception& e) {  // no fd watch: that loop keeps polling
      runtime::logger("net").warn("queue pair {}: {}; its loop will keep polling", queue, e.what());
      poller->stop_watching();
    }
  });
  watch_interrupts();  // our loop no longer sleeps on that pair's notifications
  runtime::logger("net").debug("{}: queue pair {} handed to another loop", transport_->describe(), queue);
  return Ok{};
}

Result<std::unique_ptr<VirtioNetDevice>> VirtioNetDevice::open(std::unique_ptr<transport::Transport> t,
                                                               const DeviceOptions& o) {
  EventLoop* loop = EventLoop::current();
  if (!loop) return Error::unknown("a device needs an event loop on the thread that opens it");
  if (o.queue_pairs < 1 || o.queue_pairs > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX)
    return Error::unknown("cannot use " + std::to_string(o.queue_pairs) + " queue pairs");
  std::unique_ptr<VirtioNetDevice> dev(new VirtioNetDevice(std::move(t), o, *loop));
  if (auto r = dev->initialize(); !r) return std::move(r).error();
  loop->add_poller(*dev);
  VirtioNetDevice* d = dev.get();
  dev->watchdog_.emplace(*loop, [d] {
    if (d->state_ != State::Running) return;
    const auto now = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < d->pairs_.size(); ++i)
      if (d->local(i)) d->pairs_[i]->watch_progress(now, d->options_.tx_stall_timeout);
  });
  dev->watchdog_->arm_periodic(std::max(std::chrono::milliseconds(10), o.tx_stall_timeout / 4));
  return dev;
}

VirtioNetDevice::VirtioNetDevice(std::unique_ptr<transport::Transport> t, const DeviceOptions& o, EventLoop& loop)
    : transport_(std::move(t)), options_(o), loop_(loop) {
  // The device's node if the transport knows it (PCI), else the opening thread's: that is
  // where its pairs' loops run unless handed elsewhere.
  numa_node_ = transport_->numa_node() >= 0 ? transport_->numa_node() : numa::current_node();
}

VirtioNetDevice::~VirtioNetDevice() {
  loop_.remove_poller(*this);
  if (state_ != State::Shut) close_now(nullptr);
  pair_pollers_.clear();
  pairs_.clear();
  // Frames the application still holds point into the receive pool: it must outlive them.
  if (rx_pool_ && rx_pool_->in_use() > 0) {
    runtime::logger("net").debug("{}: {} received frames still held; keeping their pool", transport_->describe(),
                                 rx_pool_->in_use());
    rx_pool_->abandon();
  }
}

// §3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK and its re-read.
Result<> VirtioNetDevice::negotiate() {
  transport::Transport& t = *transport_;
  if (auto r = t.reset(); !r) return r;
  t.set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
  t.set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
  const std::uint64_t offered = t.device_features() & ~options_.declined_features;
  auto chosen = negotiate_features(offered, {.access_platform = options_.access_platform, .accept_access_platform = options_.accept_access_platform});
  if (!chosen) return std::move(chosen).error();
  if (features_ != 0 && *chosen != features_)  // after a reset the device must still be the same device
    return Error::unknown("device features changed across a reset: was " + describe_features(features_) + ", now " +
                          describe_features(*chosen));
  t.set_driver_features(*chosen);
  t.set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
  if (!(t.status() & VIRTIO_CONFIG_S_FEATURES_OK))  // A1: the device refused our subset
    return Error::unknown("device did not accept features " + describe_features(*chosen));
  features_ = *chosen;
  runtime::logger("net").debug("{}: offered {}; using {}", t.describe(), describe_features(offered),
                               describe_features(features_));
  return Ok{};
}

Result<> VirtioNetDevice::initialize() {
  auto r = negotiate();
  if (r) {
    auto c = read_net_config(*transport_, features_);
    if (c)
      config_ = *c;
    else
      r = std::move(c).error();
  }
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

// §5.1.5: one queue pair unless MQ is negotiated, then up to max_virtqueue_pairs (D4: never
// more is asked of the device).
Result<> VirtioNetDevice::check_queue_pairs() const {
  const unsigned wanted = options_.queue_pairs;
  if (wanted == 1) return Ok{};
  if (!has_feature(features_, VIRTIO_NET_F_MQ))
    return Error::unknown(std::to_string(wanted) + " queue pairs asked for, but the device offers no multiqueue "
                          "(VIRTIO_NET_F_MQ with a control queue): it has 1");
  if (wanted > config_.max_queue_pairs)
    return Error::unknown(std::to_string(wanted) + " queue pairs asked for, but the device has at most " +
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
}

// The size queue `index` is set up with: at most `cap` and what the device offers; a power of
// two on a split ring (§2.7); Unknown for a queue the device does not offer (A11).
Result<std::uint16_t> VirtioNetDevice::queue_size(std::uint16_t index, std::uint16_t cap) const {
  const std::uint16_t max = transport_->queue_max_size(index);
  if (max == 0) return Error::unknown("device queue " + std::to_string(index) + " is not available");
  const std::uint16_t size = std::min(max, cap);
  return has_feature(features_, VIRTIO_F_RING_PACKED) ? size : std::bit_floor(size);
}

Result<> VirtioNetDevice::create_control_queue() {
  if (!has_feature(features_, VIRTIO_NET_F_CTRL_VQ)) return Ok{};
  transport::Transport& t = *transport_;
  const std::uint32_t at = control_queue_index(features_, config_.max_queue_pairs);
  if (at > 0xffffu)
    return Error::unknown("the control queue of " + std::to_string(config_.max_queue_pairs) + " queue pairs would be queue " +
                          std::to_string(at) + ", beyond the 16-bit queue numbers");
  const auto index = static_cast<std::uint16_t>(at);
  if (index >= t.queue_count())
    return Error::unknown("device has " + std::to_string(t.queue_count()) + " queues, none for the control queue at " +
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
    return Error::unknown("device has " + std::to_string(t.queue_count()) + " queues, " + std::to_string(2 * pairs) +
                          " needed");
  // Receive buffers hold a whole frame plus the header (so MRG_RXBUF never has to merge for
  // frames within the MTU), rounded to a cache line.
  const unsigned frame_room = ((std::max(2048u, config_.mtu + 14u + header_len_) + 63u) & ~63u);
  // Each queue its own size: a device may offer different maxima per queue.
  std::vector<std::pair<std::uint16_t, std::uint16_t>> sizes;  // rx, tx per pair
  unsigned rx_entries = 0;
  for (unsigned pair = 0; pair < pairs; ++pair) {
    auto rx = queue_size(rx_queue_index(pair), options_.max_queue_size);
    if (!rx) return std::move(rx).error();
    auto tx = queue_size(tx_queue_index(pair), options_.max_queue_size);
    if (!tx) return std::move(tx).error();
    sizes.emplace_back(*rx, *tx);
    rx_entries += *rx;
  }
  if (!rx_pool_) {
    const unsigned mbufs = std::max(8191u, 4u * rx_entries - 1);
    auto pool = PacketPool::create({.size = mbufs,
                                             .cache = 256,
                                             .data_room = static_cast<std::uint16_t>(RTE_PKTMBUF_HEADROOM + frame_room),
                                             .socket = numa_node_});
    if (!pool) return std::move(pool).error();
    rx_pool_.emplace(std::move(*pool));
  }
  pairs_.clear();
  owners_.assign(pairs, nullptr);
  pair_pollers_.clear();
  pair_pollers_.resize(pairs);
  for (unsigned pair = 0; pair < pairs; ++pair) {
    QueuePairConfig qc;
    set_ring_layout(qc);
    qc.index = pair;
    qc.rx_size = sizes[pair].first;
    qc.tx_size = sizes[pair].second;
    qc.mrg_rxbuf = has_feature(features_, VIRTIO_NET_F_MRG_RXBUF);
    qc.indirect = has_feature(features_, VIRTIO_F_INDIRECT_DESC);
    qc.header_len = header_len_;
    qc.mtu = config_.mtu;
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
  transport_->set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
                         VIRTIO_CONFIG_S_DRIVER_OK);
  // §5.1.6.5.5: the device uses only the first pair until told otherwise; the queues are all
  // set up by now, as the spec wants before VQ_PAIRS_SET.
  if (pairs_.size() > 1)
    if (auto r = set_queue_pairs(*control_, static_cast<std::uint16_t>(pairs_.size())); !r) return r;
  state_ = State::Running;
  update_usable();
  watch_interrupts();
  runtime::logger("net").info("{}: up, {} ring, {} queue pair(s), mtu {}, link {}, numa node {}", transport_->describe(),
                              has_feature(features_, VIRTIO_F_RING_PACKED) ? "packed" : "split", pairs_.size(),
                              config_.mtu, config_.link_up ? "up" : "down", numa_node_);
  return Ok{};
}

// §3.1.1: on failure the driver sets FAILED; nothing of ours stays with the device.
void VirtioNetDevice::fail(const Error& why) {
  runtime::logger("net").error("{}: {}", transport_->describe(), why.message());
  with_pairs_still([&] {
    reset_device(&why);
    transport_->set_status(VIRTIO_CONFIG_S_FAILED);  // after the reset, so it is what the device sees last
    state_ = State::Broken;
  });
}

// Device Cleanup (§3.3): reset first, so the device stops touching our memory, then take our
// buffers back. A12: a device that does not confirm the reset is cut off from our memory if
// the transport can do that; if it cannot, the rings and every buffer it holds are left to it
// (never freed or reused) and the device is not started again.
void VirtioNetDevice::reset_device(const Error* why) {
  // A device already left to itself is not reset again; its pairs only fail their writers.
  if (auto r = abandoned_ ? Result<>(Ok{}) : transport_->reset(); !r) {
    abandoned_ = !transport_->revoke_dma();
    runtime::logger("net").error("{}: reset failed: {}; {}", transport_->describe(), r.error().message(),
                                 abandoned_ ? "it may still use our memory: its rings and buffers are left to it"
                                            : "its access to our memory is revoked");
  }
  with_pairs_still([&] {
    for (unsigned i = 0; i < pairs_.size(); ++i) {
      if (abandoned_)
        pairs_[i]->abandon(local(i) ? why : nullptr);
      else
        pairs_[i]->reset(local(i) ? why : nullptr);
      if (why && !local(i)) pairs_[i]->defer_failure(*why);
    }
  });
  if (control_) {
    if (abandoned_)
      control_->abandon();
    else
      control_->reset();
  }
}

void VirtioNetDevice::update_usable() {
  const bool usable = state_ == State::Running && config_.link_up;
  const Error down = Error::disconnected("link down");
  with_pairs_still([&] {
    for (unsigned i = 0; i < pairs_.size(); ++i) {
      pairs_[i]->set_usable(usable);
      if (!usable) fail_pair_writers(i, down);
    }
  });
}

void VirtioNetDevice::set_sink(drivers::FrameSink* sink) noexcept {
  sink_ = sink;
  with_pairs_still([&] {
    for (auto& qp : pairs_) qp->set_sink(sink);
  });
}

// Polls the pairs this loop owns until one finds the device broke a rule; returns that rule.
ring::RingError VirtioNetDevice::poll_local_pairs(unsigned& work) {
  for (unsigned i = 0; i < pairs_.size(); ++i) {
    if (!local(i)) continue;  // its own loop polls it
    QueuePair& qp = *pairs_[i];
    work += qp.poll();
    if (const auto e = qp.error(); e != ring::RingError::None) {
      qp.note_device_error();
      return e;
    }
  }
  return ring::RingError::None;
}

unsigned VirtioNetDevice::poll() {
  if (state_ != State::Running) return 0;
  unsigned work = 0;
  ring::RingError broken = ring::RingError::None;
  {
    // Frame handlers run in here: a shutdown one of them asks for waits until this ends.
    runtime::ScopedFlag polling(in_poll_);
    broken = poll_local_pairs(work);
  }
  if (broken != ring::RingError::None) {
    fail(broken);
    return work;
  }
  // A plain load first: the exchange is a locked instruction, too dear for every poll.
  if (foreign_pair_broken_.load(std::memory_order_relaxed) &&
      foreign_pair_broken_.exchange(false, std::memory_order_acquire)) [[unlikely]] {
    // A pair on another loop caught the device; its loop stopped polling it and left the rest
    // to us.
    ring::RingError e = ring::RingError::None;
    with_pairs_still([&] {
      for (auto& qp : pairs_)
        if (qp->error() != ring::RingError::None) {
          e = qp->error();
          qp->note_device_error();
        }
    });
    fail(e);
    return work;
  }
  if (++polls_ % kStatusCheckInterval == 0) {
    runtime::ScopedFlag polling(in_poll_);
    check_device();
  }
  if (close_requested_) {
    close_requested_ = false;
    const Error gone = Error::disconnected();
    close_now(&gone);
    close_done_.set_value();
  }
  return work;
}

// B1-B9: the device broke a ring rule. Stop it; the application sees Disconnected.
void VirtioNetDevice::fail(ring::RingError e) {
  broken_by_ = e;
  runtime::logger("net").error("{}: queue broken: {}", transport_->describe(), ring::to_string(e));
  fail(Error::disconnected(std::string("device broke the ring protocol: ") + std::string(ring::to_string(e))));
}

void VirtioNetDevice::watch_interrupts() {
  interrupt_watches_.clear();
  std::vector<int> fds;
  for (unsigned pair = 0; pair < pairs_.size(); ++pair) {
    if (!local(pair)) continue;  // its own loop watches it (PairPoller::watch_interrupts)
    const std::vector<int> of_pair = interrupt_fds_of(*transport_, pair);
    if (of_pair.empty()) return;  // a pair that cannot wake us keeps the loop polling
    fds.insert(fds.end(), of_pair.begin(), of_pair.end());
  }
  try {
    for (int fd : fds) interrupt_watches_.push_back(drain_on_wake(loop_, fd));
  } catch (const std::exception& e) {
    runtime::logger("net").warn("{}: {}; the loop will keep polling", transport_->describe(), e.what());
    interrupt_watches_.clear();
  }
}

// The loop is about to sleep. Asleep we do not poll, so the device's status is looked at now
// (a pending reset or link change must not wait for the wake-up), then notifications go on.
bool VirtioNetDevice::arm_wakeup() {
  if (state_ == State::Shut || state_ == State::Broken) return true;  // nothing more will happen here
  if (state_ != State::Running || interrupt_watches_.empty() || close_requested_) return false;
  check_device();
  if (state_ != State::Running) return false;
  for (unsigned i = 0; i < pairs_.size(); ++i) {
    if (local(i) && !pairs_[i]->enable_notifications()) {
      disarm_wakeup();
      return false;
    }
  }
  return true;
}

void VirtioNetDevice::disarm_wakeup() {
  for (unsigned i = 0; i < pairs_.size(); ++i)
    if (local(i)) pairs_[i]->disable_notifications();
}

void VirtioNetDevice::check_device() {
  if (transport_->status() & VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET) {
    recover();
    return;
  }
  if (has_feature(features_, VIRTIO_NET_F_STATUS)) {
    std::byte raw[2];
    if (read_config_consistent(*transport_, kConfigStatus, raw)) {
      std::uint16_t status;
      std::memcpy(&status, raw, 2);
      const bool up = status & VIRTIO_NET_S_LINK_UP;
      if (up != config_.link_up) {
        config_.link_up = up;
        runtime::logger("net").info("{}: link {}", transport_->describe(), up ? "up" : "down");
        update_usable();
      }
    }
  }
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
      fail(Error::unknown("device did not confirm its reset; it is not used again"));
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
      config_.link_up = false;
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
// the receive buffers must hold, and is refused.
Result<> VirtioNetDevice::follow_config() {
  auto c = read_net_config(*transport_, features_);
  if (!c) return std::move(c).error();
  if (c->mtu != config_.mtu)
    return Error::unknown("device MTU changed across a reset: was " + std::to_string(config_.mtu) + ", now " +
                          std::to_string(c->mtu));
  config_.link_up = c->link_up;
  if (c->max_queue_pairs == config_.max_queue_pairs) return Ok{};
  runtime::logger("net").info("{}: the device has {} queue pairs now, {} before", transport_->describe(), c->max_queue_pairs,
                              config_.max_queue_pairs);
  config_.max_queue_pairs = c->max_queue_pairs;
  if (auto r = check_queue_pairs(); !r) return r;
  control_.reset();
  return create_control_queue();
}

io<void> VirtioNetDevice::close() {
  if (state_ == State::Shut) return make_ready_io();
  if (in_poll_) {
    // Called from a frame handler, inside our own poll: finish the round first.
    close_requested_ = true;
    return close_done_.get_io();
  }
  const Error gone = Error::disconnected();
  close_now(&gone);
  return make_ready_io();
}

// Stops the device for good; writers still waiting fail with `why` if set.
void VirtioNetDevice::close_now(const Error* why) {
  with_pairs_still([&] {
    reset_device(why);
    state_ = State::Shut;  // the pairs' loops let go of them (settle_pairs_of)
  });
  // The other loops have let go of their pairs (settle_pairs_of): nothing of ours runs there
  // any more, and those loops may end.
  owners_.assign(owners_.size(), nullptr);
}

}  // namespace netfront::virtio::net
