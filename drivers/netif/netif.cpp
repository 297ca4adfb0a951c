// The Netif front end: checks what the application hands in, keeps the listen/disconnect
// life cycle and the stats baseline, and leaves everything else to the NetDevice.
#include "netfront/netif.hpp"

#include "drivers/netif/attach.hpp"
#include "drivers/netif/device_registry.hpp"

#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include "drivers/netif/net_device.hpp"
#include "drivers/netif/offload_check.hpp"
#include "drivers/netif/rss_check.hpp"
#include "drivers/netif/telemetry.hpp"
#include "runtime/cross_loop.hpp"
#include "runtime/log.hpp"

namespace netfront {

namespace {
// What a freshly allocated buffer of `pool` holds behind its headroom.
std::size_t room_after_headroom(rte_mempool* pool) noexcept {
  const std::size_t room = rte_pktmbuf_data_room_size(pool);
  return room > RTE_PKTMBUF_HEADROOM ? room - RTE_PKTMBUF_HEADROOM : 0;
}
}  // namespace

struct Netif::State final : drivers::FrameSink, drivers::LinkObserver, drivers::TelemetrySource {
  State(DeviceId i, std::unique_ptr<drivers::NetDevice> d)
      : id(std::move(i)), device(std::move(d)), max_frame(std::size_t{device->mtu()} + kEthernetHeaderLength),
        frame_pool(device->frame_pool()),
        fill_limit(frame_pool ? std::min(max_frame, room_after_headroom(frame_pool)) : 0),
        queue_count(device->queue_pairs()), queue_listeners(queue_count), queue_owners(queue_count, nullptr),
        baseline(queue_count) {
    device->set_sink(this);
    device->set_link_observer(this);
    drivers::telemetry_publish(*this);
  }
  ~State() override { drivers::telemetry_withdraw(*this); }

  // One queue pair's counters since the last reset; safe from any thread.
  Stats stats(unsigned queue) const {
    std::lock_guard lock(baseline_mutex);
    return device->counters(queue).snapshot() - baseline[queue];
  }

  unsigned queues() const noexcept { return queue_count; }
  Error no_such_queue(unsigned queue) const {
    return Error::unknown(Error::Cause::BadArgument, "no queue pair " + std::to_string(queue) + " on " + id.to_string() + " (it has " +
                          std::to_string(queues()) + ")");
  }

  // TelemetrySource: asked on DPDK's telemetry thread; none of this changes after connect,
  // and the counters are made to be read from anywhere.
  std::string telemetry_id() const override { return id.to_string(); }
  MacAddress telemetry_mac() const override { return device->mac(); }
  std::uint16_t telemetry_mtu() const override { return device->mtu(); }
  unsigned telemetry_queues() const override { return queues(); }
  Stats telemetry_stats(unsigned queue) const override { return stats(queue); }

  // A listen: its handler and the io that completes at disconnect.
  struct Listener {
    FrameHandler handler;
    Promise<Result<>> done;
    std::size_t max_length = kAnyLength;  // frames longer than this are dropped (listen ~header_size)
  };

  // Hot path: one call per received frame. The handler's io is dropped on purpose (see
  // FrameHandler); an exception from the handler is the application's bug, logged, and must
  // not stop delivery of later frames.
  bool on_frame(unsigned queue, Buffer frame) override {
    // A pair handed to another loop delivers to its own listen only: the device's listen
    // belongs to this Netif's thread.
    Listener& l = queue_listeners[queue].handler || queue_owners[queue] ? queue_listeners[queue] : device_listener;
    // Nobody listens for this pair's frames, or this one is longer than its listen takes.
    if (!l.handler || frame.length() > l.max_length) [[unlikely]]
      return false;
    try {
      (void)l.handler(std::move(frame));
    } catch (const std::exception& e) {
      runtime::logger("netif").error("{}: listen handler threw: {}", id.to_string(), e.what());
    } catch (...) {
      runtime::logger("netif").error("{}: listen handler threw a non-exception", id.to_string());
    }
    return true;
  }

  // A link_change waiting for the status to differ from what its caller saw.
  struct LinkWaiter {
    LinkStatus seen;
    Promise<Result<LinkStatus>> done;
  };

  LinkStatus link_status() const noexcept { return disconnected ? LinkStatus{} : device->link_status(); }

  io<Result<LinkStatus>> link_change(const LinkStatus& seen) {
    if (disconnected) return make_ready_io(Result<LinkStatus>(Error::disconnected()));
    const LinkStatus now = link_status();
    if (now != seen) return make_ready_io(Result<LinkStatus>(now));
    return link_waiters.emplace_back(LinkWaiter{seen, {}}).done.get_io();
  }

  // LinkObserver, on the device's loop (this Netif's thread).
  void on_link_change() override {
    const LinkStatus now = link_status();
    std::erase_if(link_waiters, [&](LinkWaiter& w) {
      if (w.seen == now) return false;
      w.done.set_value(now);
      return true;
    });
  }

  io<Result<>> listen(Listener& l, std::size_t max_length, FrameHandler&& handler) {
    if (disconnected) return make_ready_io(Result<>(Error::disconnected()));
    if (l.handler) return make_ready_io(Result<>(Error::unknown(Error::Cause::BadArgument, "listen is already running on this device or queue")));
    if (!handler) return make_ready_io(Result<>(Error::unknown(Error::Cause::BadArgument, "listen needs a handler")));
    l.handler = std::move(handler);
    l.max_length = max_length;
    return l.done.get_io();
  }

  // The first call does the work; a later one, while that is still under way, waits for it to
  // end (so whoever holds the state last can let it go only then).
  io<void> disconnect() {
    if (disconnected.exchange(true, std::memory_order_relaxed)) {
      if (disconnect_done) co_return;
      co_await disconnect_waiters.emplace_back().get_io();
      co_return;
    }
    device->set_sink(nullptr);
    device->set_link_observer(nullptr);
    for (LinkWaiter& w : std::exchange(link_waiters, {})) w.done.set_value(Error::disconnected());
    co_await device->close();
    finish(device_listener);
    for (std::size_t q = 0; q < queue_listeners.size(); ++q) {
      Listener* l = &queue_listeners[q];
      if (!queue_owners[q]) {
        finish(*l);
        continue;
      }
      // Its listen is a coroutine of that loop: completed there, and awaited here so this
      // state outlives it.
      io<void> finished = runtime::call_on(*queue_owners[q], [l] { finish(*l); });
      co_await finished;
    }
    disconnect_done = true;
    for (Promise<void>& w : std::exchange(disconnect_waiters, {})) w.set_value();
  }

  static void finish(Listener& l) {
    if (!l.handler) return;
    l.handler = nullptr;
    l.done.set_value(Ok{});
  }

  DeviceId id;
  std::unique_ptr<drivers::NetDevice> device;
  std::size_t max_frame;  // MTU + Ethernet header; a device's MTU is read once, at bring-up
  rte_mempool* frame_pool;  // where the fill-style write builds frames (the device's own pool)
  std::size_t fill_limit;   // the largest frame it builds: max_frame, or less if the pool's rooms are smaller
  unsigned queue_count;   // fixed at bring-up; checked on every write
  // Written on the Netif's thread, read by writers on the loops of handed-over pairs, which
  // may be writing while disconnect begins (relaxed: the device's own pause orders the rest).
  std::atomic<bool> disconnected{false};
  bool disconnect_done = false;                   // ... and everything it does is done
  std::vector<Promise<void>> disconnect_waiters;  // later disconnect() calls, waiting for that
  Listener device_listener;
  std::vector<LinkWaiter> link_waiters;
  std::vector<Listener> queue_listeners;
  std::vector<EventLoop*> queue_owners;  // per pair: where it was handed, or nullptr
  mutable std::mutex baseline_mutex;  // reset/get may come from another thread
  std::vector<Stats> baseline;
};

Netif::Netif() noexcept = default;
Netif::Netif(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}
Netif::Netif(Netif&&) noexcept = default;
Netif& Netif::operator=(Netif&& other) noexcept {
  if (this != &other) {
    Netif old(std::move(*this));
    state_ = std::move(other.state_);
  }
  return *this;
}

Netif::~Netif() {
  if (!state_ || state_->disconnect_done) return;
  // The shutdown may have to wait for the device, or a disconnect() already under way for a
  // loop that holds a queue pair: the coroutine owns the state until that is done.
  (void)[](std::unique_ptr<State> s) -> io<void> { co_await s->disconnect(); }(std::move(state_));
}

Netif drivers::attach(DeviceId id, std::unique_ptr<NetDevice> device) {
  return Netif(std::make_unique<Netif::State>(std::move(id), std::move(device)));
}

io<Result<Netif>> Netif::connect(const DeviceId& id) {
  auto opened = co_await drivers::open_device(id);
  if (!opened) co_return std::move(opened).error();
  runtime::logger("netif").info("{}: connected, mac {}, mtu {}, {} queue pair(s)", id.to_string(),
                                (*opened)->mac().to_string(), (*opened)->mtu(), (*opened)->queue_pairs());
  co_return drivers::attach(id, std::move(*opened));
}

io<Result<Netif>> Netif::connect(std::string_view id) {
  auto parsed = DeviceId::parse(id);
  if (!parsed) return make_ready_io(Result<Netif>(std::move(parsed).error()));
  return connect(*parsed);
}

const DeviceId& Netif::id() const noexcept {
  static const DeviceId none;
  return state_ ? state_->id : none;
}

io<void> Netif::disconnect() {
  if (!state_) return make_ready_io();
  return state_->disconnect();
}

// E1 of the reliability checklist: bad frames are refused before anything touches the ring.
// HOT PATH: the success case is two comparisons; the error is built out of line.
bool Netif::frame_ok(std::size_t pieces, std::size_t length) const noexcept {
  return state_ && !state_->disconnected.load(std::memory_order_relaxed) && pieces - 1 < kMaxWritevPieces && length >= kEthernetHeaderLength &&
         length <= state_->max_frame;
}

Error Netif::frame_error(std::size_t pieces, std::size_t length, unsigned queue) const {
  if (!state_ || state_->disconnected) return Error::disconnected();
  if (queue >= state_->queues()) return state_->no_such_queue(queue);
  if (pieces == 0 || pieces > kMaxWritevPieces)
    return Error::invalid_length("a frame takes 1 to " + std::to_string(kMaxWritevPieces) + " pieces, not " +
                                 std::to_string(pieces));
  const std::size_t max = state_->max_frame;  // the bound frame_ok checked, not a second reading
  return Error::invalid_length("frame of " + std::to_string(length) + " bytes is outside " +
                        std::to_string(kEthernetHeaderLength) + ".." + std::to_string(max) + " (MTU " +
                        std::to_string(max - kEthernetHeaderLength) + " + Ethernet header)");
}

io<Result<>> Netif::write(Buffer frame) { return write_on(0, std::move(frame)); }
io<Result<>> Netif::write(Buffer frame, const TxOffload& offload) {
  return offloaded_on(0, std::span<const Buffer>(&frame, 1), offload);
}
io<Result<>> Netif::writev(std::span<const Buffer> pieces, const TxOffload& offload) {
  return offloaded_on(0, pieces, offload);
}
Offloads Netif::offloads() const noexcept { return state_ ? state_->device->offloads() : Offloads{}; }

io<Result<>> Netif::set_receive_offloads(const Offloads& on) {
  if (!state_ || state_->disconnected) return make_ready_io(Result<>(Error::disconnected()));
  if (on.tx_checksum || on.tso4 || on.tso6 || on.tso_ecn || on.uso)
    return make_ready_io(Result<>(Error::unknown(Error::Cause::BadArgument,
                                                 "set_receive_offloads takes receive offloads only (rx_checksum)")));
  if (on.rx_checksum && !offloads().rx_checksum)
    return make_ready_io(Result<>(Error::unknown(Error::Cause::BadArgument,
                                                 "receive checksum offload was not agreed with the device (offloads=rx_csum)")));
  return state_->device->set_receive_offloads(on);
}
namespace {
io<Result<>> refuse(Error e) { return make_ready_io(Result<>(std::move(e))); }
Error bad_argument(std::string why) { return Error::unknown(Error::Cause::BadArgument, std::move(why)); }
}  // namespace

io<Result<>> Netif::set_rx_mode(RxMode mode, bool on) {
  if (!state_ || state_->disconnected) return refuse(Error::disconnected());
  if (static_cast<std::size_t>(mode) >= kRxModes) return refuse(bad_argument("no such receive mode"));
  return state_->device->set_rx_mode(mode, on);
}

io<Result<>> Netif::set_mac(const MacAddress& mac) {
  if (!state_ || state_->disconnected) return refuse(Error::disconnected());
  if (!mac.valid_unicast())
    return refuse(bad_argument(mac.to_string() + " is " + (mac.is_zero() ? "zero" : "a multicast address") + ", not a device's own MAC"));
  return state_->device->set_mac(mac);
}

io<Result<>> Netif::set_mac_filter(std::span<const MacAddress> unicast, std::span<const MacAddress> multicast) {
  if (!state_ || state_->disconnected) return refuse(Error::disconnected());
  if (unicast.size() + multicast.size() > kMaxMacFilterEntries)
    return refuse(Error::invalid_length(std::to_string(unicast.size() + multicast.size()) + " MAC filter entries, more than the " +
                                        std::to_string(kMaxMacFilterEntries) + " a table holds"));
  for (const MacAddress& m : unicast)
    if (!m.valid_unicast()) return refuse(bad_argument(m.to_string() + " in the unicast table is not a unicast address"));
  for (const MacAddress& m : multicast)
    if (!m.is_multicast()) return refuse(bad_argument(m.to_string() + " in the multicast table is not a multicast address"));
  return state_->device->set_mac_filter(unicast, multicast);
}

RssCapabilities Netif::rss_capabilities() const noexcept {
  return state_ ? state_->device->rss_capabilities() : RssCapabilities{};
}

io<Result<>> Netif::set_rss(const RssConfig& config) {
  if (!state_ || state_->disconnected) return refuse(Error::disconnected());
  const RssCapabilities caps = rss_capabilities();
  if (!caps.steering && !caps.hash_report)
    return refuse(Error::unimplemented("the device has no RSS (VIRTIO_NET_F_RSS) or hash report (hash_report in the id)"));
  if (auto r = drivers::check_rss_config(config, caps, queue_pairs()); !r) return refuse(std::move(r).error());
  return state_->device->set_rss(config);
}

RssConfig Netif::rss_config() const { return state_ ? state_->device->rss_config() : RssConfig{}; }

io<Result<>> Netif::add_vlan(std::uint16_t vlan) { return set_vlan(vlan, true); }
io<Result<>> Netif::remove_vlan(std::uint16_t vlan) { return set_vlan(vlan, false); }

io<Result<>> Netif::set_vlan(std::uint16_t vlan, bool member) {
  if (!state_ || state_->disconnected) return refuse(Error::disconnected());
  if (vlan > kMaxVlanId) return refuse(bad_argument("VLAN id " + std::to_string(vlan) + " is beyond " + std::to_string(kMaxVlanId)));
  return state_->device->set_vlan(vlan, member);
}

RxFilter Netif::rx_filter() const { return state_ ? state_->device->rx_filter() : RxFilter{}; }

io<Result<>> Netif::writev(std::span<const Buffer> pieces) { return writev_on(0, pieces); }
io<Result<>> Netif::write(std::size_t size, FrameFill fill) { return fill_on(0, size, fill); }
io<Result<>> Netif::listen(FrameHandler handler) {
  if (!state_) return make_ready_io(Result<>(Error::disconnected()));
  return state_->listen(state_->device_listener, kAnyLength, std::move(handler));
}
io<Result<>> Netif::listen(std::size_t header_size, FrameHandler handler) {
  if (!state_) return make_ready_io(Result<>(Error::disconnected()));
  return state_->listen(state_->device_listener, listen_bound(header_size, mtu()), std::move(handler));
}

NetifQueue Netif::queue(unsigned queue) noexcept { return NetifQueue(*this, queue); }

Result<> Netif::run_queue_on(unsigned queue, EventLoop& loop) {
  if (!state_ || state_->disconnected) return Error::disconnected();
  if (queue >= state_->queues()) return state_->no_such_queue(queue);
  if (state_->queue_listeners[queue].handler)
    return Error::unknown(Error::Cause::BadArgument, "queue pair " + std::to_string(queue) + " has a listen running; hand it over before using it");
  // Where its frames go is known before the pair is posted to that loop, whose first frame
  // may come at once (on_frame reads queue_owners there).
  if (state_->queue_owners[queue])
    return Error::unknown(Error::Cause::BadArgument, "queue pair " + std::to_string(queue) + " was handed over already");
  const bool foreign = &loop != EventLoop::current();
  if (foreign) state_->queue_owners[queue] = &loop;
  if (auto r = state_->device->hand_over(queue, loop); !r) {
    if (foreign) state_->queue_owners[queue] = nullptr;
    return r;
  }
  return Ok{};
}

// HOT PATH: one call per written frame. A refusal is made out of line (refuse_write), so the
// accepted frame's way through here is a few comparisons and one call.
io<Result<>> Netif::write_on(unsigned queue, Buffer&& frame) {
  if (frame_ok(1, frame.length()) && queue < state_->queues()) [[likely]]
    return state_->device->transmit(queue, std::move(frame));
  return refuse_write(1, frame.length(), queue);
}

io<Result<>> Netif::refuse_write(std::size_t pieces, std::size_t length, unsigned queue) const {
  return make_ready_io(Result<>(frame_error(pieces, length, queue)));
}

io<Result<>> Netif::writev_on(unsigned queue, std::span<const Buffer> pieces) {
  std::size_t length = 0, empty = 0;
  for (const Buffer& piece : pieces) {
    length += piece.length();
    empty += piece.empty();
  }
  if (!frame_ok(pieces.size() - empty, length) || queue >= state_->queues())
    return refuse_write(pieces.size() - empty, length, queue);
  if (empty > 0) [[unlikely]]
    return writev_without_empty(queue, pieces);
  return state_->device->transmit_chain(queue, pieces);
}

// A frame with offloads: the pieces checked as writev's, but against the bound the request
// allows (a segmented frame may be beyond the MTU), then the request itself.
io<Result<>> Netif::offloaded_on(unsigned queue, std::span<const Buffer> pieces, const TxOffload& offload) {
  std::array<Buffer, kMaxWritevPieces> kept;
  std::size_t n = 0, length = 0;
  if (!state_ || state_->disconnected || queue >= state_->queues()) return refuse_write(1, 0, queue);
  for (const Buffer& piece : pieces) {
    if (piece.empty()) continue;
    if (n == kMaxWritevPieces) return refuse_write(pieces.size(), length, queue);
    kept[n++] = piece;
    length += piece.length();
  }
  if (n == 0 || length < kEthernetHeaderLength) return refuse_write(n, length, queue);
  const std::span<const Buffer> frame(kept.data(), n);
  if (offload == TxOffload{}) return writev_on(queue, frame);
  if (auto refused = drivers::check_tx_offload(frame, length, offload, offloads(), state_->max_frame))
    return make_ready_io(Result<>(std::move(*refused)));
  return state_->device->transmit_offloaded(queue, frame, offload);
}

// Empty pieces (a default Buffer, a zero-length slice) carry nothing and are left out: a
// zero-length descriptor is a fault to some devices (QEMU answers it with virtio_error, a
// device reset), and an empty Buffer has no memory to point a descriptor at. The device takes
// references of its own before transmit_chain returns, so the copies here may go after it.
io<Result<>> Netif::writev_without_empty(unsigned queue, std::span<const Buffer> pieces) {
  std::array<Buffer, kMaxWritevPieces> kept;
  std::size_t n = 0;
  for (const Buffer& piece : pieces)
    if (!piece.empty()) kept[n++] = piece;
  return state_->device->transmit_chain(queue, std::span<const Buffer>(kept.data(), n));
}

// Mirage_net 4's write ~size fill. HOT PATH: one call per frame built in place. The frame is
// a buffer of the device's own pool, set up here rather than by Buffer::create (no Result to
// build and move), and goes straight to the device: every bound write() checks is checked
// here already.
io<Result<>> Netif::fill_on(unsigned queue, std::size_t size, FrameFill fill) {
  if (!state_ || state_->disconnected.load(std::memory_order_relaxed) || queue >= state_->queues() ||
      size < kEthernetHeaderLength || size > state_->fill_limit) [[unlikely]]
    return refuse_fill(size, 0, queue);
  rte_mbuf* m = rte_pktmbuf_alloc(state_->frame_pool);
  if (!m) [[unlikely]]
    return make_ready_io(Result<>(Error::unknown(Error::Cause::NoResources, "the device's packet pool has no buffer free")));
  std::memset(rte_pktmbuf_mtod(m, void*), 0, size);
  m->data_len = static_cast<std::uint16_t>(size);
  m->pkt_len = static_cast<std::uint32_t>(size);
  Buffer frame = Buffer::adopt(m);
  const std::size_t filled = fill(frame);
  // fill may have cut or replaced its view: what is sent is at most what the view holds.
  if (filled > size || filled > frame.length() || filled < kEthernetHeaderLength) [[unlikely]]
    return refuse_fill(size, filled, queue);
  // ... and may have disconnected this Netif, or moved it away.
  State* s = state_.get();
  if (!s || s->disconnected.load(std::memory_order_relaxed)) [[unlikely]]
    return make_ready_io(Result<>(Error::disconnected()));
  return s->device->transmit(queue, std::move(frame).first(filled));
}

io<Result<>> Netif::refuse_fill(std::size_t size, std::size_t filled, unsigned queue) const {
  if (!state_ || state_->disconnected || queue >= state_->queues() || size < kEthernetHeaderLength ||
      size > state_->max_frame)
    return refuse_write(1, size, queue);
  if (!state_->frame_pool)
    return make_ready_io(Result<>(Error::unimplemented("this device has no pool to build frames in")));
  if (size > state_->fill_limit)
    return make_ready_io(Result<>(Error::invalid_length("a frame of " + std::to_string(size) +
                                                        " bytes does not fit a buffer of the device's pool (" +
                                                        std::to_string(state_->fill_limit) + " bytes)")));
  return make_ready_io(Result<>(Error::invalid_length("fill returned " + std::to_string(filled) + " bytes for a buffer of " +
                                                      std::to_string(size) + " (a frame is " +
                                                      std::to_string(kEthernetHeaderLength) + " bytes to the buffer's size)")));
}

io<Result<>> Netif::listen_on(unsigned queue, std::size_t max_length, FrameHandler&& handler) {
  if (!state_) return make_ready_io(Result<>(Error::disconnected()));
  if (queue >= state_->queues()) return make_ready_io(Result<>(state_->no_such_queue(queue)));
  return state_->listen(state_->queue_listeners[queue], max_length, std::move(handler));
}

MacAddress Netif::mac() const noexcept { return state_ ? state_->device->mac() : MacAddress{}; }
std::uint16_t Netif::mtu() const noexcept { return state_ ? state_->device->mtu() : 0; }
bool Netif::link_up() const noexcept { return state_ && !state_->disconnected && state_->device->link_up(); }
LinkStatus Netif::link_status() const noexcept { return state_ ? state_->link_status() : LinkStatus{}; }
io<Result<LinkStatus>> Netif::link_change(LinkStatus seen) {
  if (!state_) return make_ready_io(Result<LinkStatus>(Error::disconnected()));
  return state_->link_change(seen);
}
unsigned Netif::queue_pairs() const noexcept { return state_ ? state_->queues() : 0; }
int Netif::numa_node() const noexcept { return state_ ? state_->device->numa_node() : -1; }

Stats Netif::get_stats_counters(unsigned queue) const noexcept {
  if (!state_ || queue >= state_->queues()) return {};
  return state_->stats(queue);
}

Stats Netif::get_stats_counters() const noexcept {
  Stats sum;
  for (unsigned q = 0; q < queue_pairs(); ++q) sum += get_stats_counters(q);
  return sum;
}

// Counters only ever grow (one writer, no locked instructions); a reset moves the baseline.
void Netif::reset_stats_counters() noexcept {
  if (!state_) return;
  std::lock_guard lock(state_->baseline_mutex);
  for (unsigned q = 0; q < state_->baseline.size(); ++q) state_->baseline[q] = state_->device->counters(q).snapshot();
}

}  // namespace netfront
