// The device at run time: polling its pairs, handing pairs to other loops, failing and
// closing it (bring-up and recovery are in files of their own).
#include "drivers/virtio/net/virtio_net_device.hpp"

#include <algorithm>
#include <cstring>

#include "drivers/virtio/net/interrupt_watch.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/net/pair_poller.hpp"
#include "drivers/virtio/net/tx_watchdog.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "netfront/numa.hpp"
#include "runtime/cross_loop.hpp"
#include "runtime/log.hpp"
#include "runtime/scoped_flag.hpp"

namespace netfront::virtio::net {
namespace {
// Link status and DEVICE_NEEDS_RESET are looked at every this many polls (a few ms when busy).
constexpr std::uint64_t kStatusCheckInterval = PairPoller::kCheckInterval;
}  // namespace

// On `loop`'s own thread, after a pause: fail the writers the device failed, follow the device
// state, and leave the loop for good once the device is shut.
void VirtioNetDevice::settle_pairs_of(EventLoop& loop) {
  pair_loops_.for_each_of(loop, [&](unsigned pair, PairPoller& poller) {
    pairs_[pair]->settle();
    poller.active = state_ == State::Running;
    if (state_ == State::Shut && poller.registered) {
      loop.remove_poller(poller);
      poller.stop_watching();
      poller.registered = false;
    }
  });
}

void VirtioNetDevice::fail_pair_writers(unsigned pair, const Error& why) {
  if (local(pair))
    pairs_[pair]->fail_writers(why);
  else
    pairs_[pair]->defer_failure(why);
}

netfront::Result<> VirtioNetDevice::hand_over(unsigned queue, EventLoop& loop) {
  return runtime::to_api(hand_over_pair(queue, loop));
}

Result<> VirtioNetDevice::hand_over_pair(unsigned queue, EventLoop& loop) {
  if (queue >= pairs_.size()) return Fault(DeviceError::BadArgument, "no queue pair " + std::to_string(queue));
  if (&loop == &loop_) return Ok{};
  if (!local(queue)) return Fault(DeviceError::BadArgument, "queue pair " + std::to_string(queue) + " was handed over already");
  if (state_ == State::Shut) return Fault(DeviceError::Closed);
  if (pairs_[queue]->has_writers())
    return Fault(DeviceError::BadArgument, "queue pair " + std::to_string(queue) + " has writers waiting; hand it over before using it");
  pair_loops_.hand_over(queue, *pairs_[queue], loop, *transport_, options_.tx_stall_timeout, state_ == State::Running);
  watch_interrupts();  // our loop no longer sleeps on that pair's notifications
  runtime::logger("net").debug("{}: queue pair {} handed to another loop", transport_->describe(), queue);
  return Ok{};
}

Result<std::unique_ptr<VirtioNetDevice>> VirtioNetDevice::open(std::unique_ptr<transport::Transport> t,
                                                               const DeviceOptions& o) {
  EventLoop* loop = EventLoop::current();
  if (!loop) return Fault(DeviceError::BadArgument, "a device needs an event loop on the thread that opens it");
  if (o.queue_pairs < 1 || o.queue_pairs > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX)
    return Fault(DeviceError::BadArgument, "cannot use " + std::to_string(o.queue_pairs) + " queue pairs");
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
  dev->watchdog_->arm_periodic(TxWatchdog::look_period(o.tx_stall_timeout));
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
  pair_loops_.drop_pollers();
  pairs_.clear();
  // Frames the application still holds point into the receive pool: it must outlive them.
  if (rx_pool_ && rx_pool_->in_use() > 0) {
    runtime::logger("net").debug("{}: {} received frames still held; keeping their pool", transport_->describe(),
                                 rx_pool_->in_use());
    rx_pool_->abandon();
  }
}

// §3.1.1: on failure the driver sets FAILED; nothing of ours stays with the device.
void VirtioNetDevice::fail(const Fault& why) {
  runtime::logger("net").error("{}: {}", transport_->describe(), why.message());
  const Error told = why.to_error();  // what the application's writes are answered with
  with_pairs_still([&] {
    reset_device(&told);
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
      // What later writes get: Disconnected, whatever stopped the device, with its cause.
      if (why) pairs_[i]->set_usable(false, Error::disconnected(why->cause(), why->message()));
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
  const bool usable = state_ == State::Running && config_.link.up;
  const Error down = Fault(DeviceError::LinkDown).to_error();
  with_pairs_still([&] {
    for (unsigned i = 0; i < pairs_.size(); ++i) {
      pairs_[i]->set_usable(usable, down);
      if (!usable) fail_pair_writers(i, down);
    }
  });
  if (link_observer_) link_observer_->on_link_change();
}

LinkStatus VirtioNetDevice::link_status() const noexcept {
  return {.up = link_up(), .speed_mbps = config_.link.speed_mbps, .duplex = config_.link.duplex, .announcements = announcements_};
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
  if (pair_loops_.take_broken()) [[unlikely]] {
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
    const Error gone = Fault(DeviceError::Closed).to_error();
    close_now(&gone);
    close_done_.set_value();
  }
  return work;
}

// B1-B9: the device broke a ring rule. Stop it; the application sees Disconnected.
void VirtioNetDevice::fail(ring::RingError e) {
  broken_by_ = e;
  runtime::logger("net").error("{}: queue broken: {}", transport_->describe(), ring::describe(e));
  fail(Fault(e, std::string("device broke the ring protocol: ") + std::string(ring::describe(e))));
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
  auto watches = drain_on_wake(loop_, fds);
  if (!watches) {
    runtime::logger("net").warn("{}: {}; the loop will keep polling", transport_->describe(), watches.error().to_string());
    return;
  }
  interrupt_watches_ = std::move(*watches);
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

// D1 at run time: a command the device did not answer in time may still be carried out by it
// later, and leaves the control queue stuck. The device is reset (at the next look at it, the
// next poll or before the loop sleeps), which ends both: what the application set is sent
// again, and the command that failed is not among it.
void VirtioNetDevice::after_control_failure() {
  if (!control_ || !control_->stuck() || state_ != State::Running) return;
  runtime::logger("net").warn("{}: a control command went unanswered; resetting the device", transport_->describe());
  reset_wanted_ = true;
  polls_ = (polls_ / kStatusCheckInterval + 1) * kStatusCheckInterval - 1;  // the next poll looks
}

void VirtioNetDevice::publish_mac() noexcept {
  std::uint64_t bits = 0;
  std::memcpy(&bits, config_.mac.bytes.data(), 6);
  published_mac_.store(bits, std::memory_order_relaxed);
}

MacAddress VirtioNetDevice::published_mac() const noexcept {
  const std::uint64_t bits = published_mac_.load(std::memory_order_relaxed);
  MacAddress m;
  std::memcpy(m.bytes.data(), &bits, 6);
  return m;
}

void VirtioNetDevice::disarm_wakeup() {
  for (unsigned i = 0; i < pairs_.size(); ++i)
    if (local(i)) pairs_[i]->disable_notifications();
}

io<void> VirtioNetDevice::close() {
  if (state_ == State::Shut) return make_ready_io();
  if (in_poll_) {
    // Called from a frame handler, inside our own poll: finish the round first.
    close_requested_ = true;
    return close_done_.get_io();
  }
  const Error gone = Fault(DeviceError::Closed).to_error();
  close_now(&gone);
  return make_ready_io();
}

// Stops the device for good; writers still waiting fail with `why` if set.
void VirtioNetDevice::close_now(const Error* why) {
  with_pairs_still([&] {
    reset_device(why);
    state_ = State::Shut;  // the pairs' loops let go of them (settle_pairs_of)
  });
  pair_loops_.let_go();  // the other loops have let go of their pairs (settle_pairs_of)
  transport_->close();
}

}  // namespace netfront::virtio::net
