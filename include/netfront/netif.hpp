// Netif: the NETWORK device of the MirageOS V1.NETWORK signature and of today's Mirage_net.S
// (mirage-net 4), side by side (docs/api.md maps each element).
//
//   auto dev = co_await Netif::connect("vhost-user:/tmp/vhost.sock");
//   if (!dev) { log(dev.error().to_string()); co_return; }
//   co_await dev->write(frame);                                            // V1
//   co_await dev->write(60, [](Buffer& f) { ...; return std::size_t{60}; });  // Mirage_net 4
//   co_await dev->listen([](Buffer frame) { ...; return make_ready_io(); });  // until disconnect
//
// A Netif belongs to the event loop of the thread that connected it: call it from that thread
// (queue pairs handed to other loops with queue(q).run_on are the exception, see NetifQueue).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "netfront/buffer.hpp"
#include "netfront/device_id.hpp"
#include "netfront/frame_limits.hpp"
#include "netfront/function_ref.hpp"
#include "netfront/io.hpp"
#include "netfront/link.hpp"
#include "netfront/mac_address.hpp"
#include "netfront/offload.hpp"
#include "netfront/result.hpp"
#include "netfront/rss.hpp"
#include "netfront/rx_filter.hpp"
#include "netfront/stats.hpp"

namespace netfront {

class EventLoop;
class Netif;
namespace drivers {
class NetDevice;
Netif attach(DeviceId id, std::unique_ptr<NetDevice> device);  // the device layer's hook
}

// Called with every received frame. The returned io is not awaited: a handler that needs to
// wait (to write a reply on a full ring, say) does so without holding up later frames.
using FrameHandler = std::function<io<void>(Buffer frame)>;

// Builds a frame in place (the fill-style write): given a zeroed buffer, writes the frame into
// it and returns its length. Called once, before write returns.
using FrameFill = FunctionRef<std::size_t(Buffer& frame)>;

class NetifQueue;

class Netif {
 public:
  // `connect id`: opens the device and brings it up. Errors: Unimplemented for a transport
  // this build does not have, Unknown with the reason otherwise.
  static io<Result<Netif>> connect(const DeviceId& id);
  // Parses `id` first (DeviceId::parse), so a malformed id is an Unknown error naming the fault.
  static io<Result<Netif>> connect(std::string_view id);

  // A Netif that is not connected (as a moved-from one is): writes and listens say
  // Disconnected, the accessors give empty values (a zero MAC, MTU 0, link down, no queues).
  Netif() noexcept;
  Netif(Netif&&) noexcept;
  Netif& operator=(Netif&&) noexcept;
  ~Netif();  // disconnects if still connected

  // False before connect's result was moved in and after this Netif was moved from;
  // disconnect() leaves it true (the device's identity and counters stay readable).
  bool connected() const noexcept { return state_ != nullptr; }

  const DeviceId& id() const noexcept;

  // Stops the device and releases its buffers; `listen` returns. Never fails; idempotent.
  io<void> disconnect();

  // One frame (Ethernet header included, no FCS) of 14 to mtu()+14 bytes, sent without copying
  // on queue pair 0 (queue(q).write for another).
  // Waits while the ring is full; Disconnected once disconnected. Pass the frame with
  // std::move when nothing else views it: the virtio header then goes into its headroom and
  // the frame takes one descriptor instead of two.
  io<Result<>> write(Buffer frame);
  // One frame from up to kMaxWritevPieces pieces, sent as one descriptor chain. Empty pieces
  // (zero-length views, default Buffers) are left out; at least one must hold bytes.
  io<Result<>> writev(std::span<const Buffer> pieces);
  // Mirage_net 4's `write ~size fill`: `fill` writes the frame into a zeroed buffer of `size`
  // bytes from the device's own pool and returns how many of them to send. The frame is built
  // where the device reads it from: no copy, and no pool of the application's own. A `size`
  // beyond mtu()+14 (fill is not called), or a returned length beyond `size` or below 14, is
  // InvalidLength and nothing is sent. Unknown when the device's pool has no buffer free.
  io<Result<>> write(std::size_t size, FrameFill fill);
  // Every length refusal of the three writes is InvalidLength; Disconnected once disconnected.

  // The same writes with offloads (offload.hpp): the device completes the checksum, or cuts
  // the frame (up to 64 KiB with segmentation) into segments of the MTU. A request the device
  // did not agree to (offloads()) is Unknown with cause BadArgument; one that points outside
  // the frame, or makes segments beyond the MTU, InvalidLength. Nothing is sent then.
  io<Result<>> write(Buffer frame, const TxOffload& offload);
  io<Result<>> writev(std::span<const Buffer> pieces, const TxOffload& offload);
  // The offloads agreed with the device: those the id asked for that the device offered.
  Offloads offloads() const noexcept;
  // Turns the receive offloads of `on` on and the others off (CTRL_GUEST_OFFLOADS): only
  // offloads that were agreed can be turned on. Unimplemented when the device cannot change
  // them at run time; Unknown when it refuses.
  io<Result<>> set_receive_offloads(const Offloads& on);

  // Receive filters (rx_filter.hpp), through the device's control queue: each completes once
  // the device took the change. Unimplemented when the device cannot filter so; Unknown when
  // it refused or did not answer (rx_filter() then says what holds); Disconnected once
  // disconnected. A bad argument is Unknown with cause BadArgument and nothing is sent.
  // One receive mode on or off (§5.1.6.5.1).
  io<Result<>> set_rx_mode(RxMode mode, bool on);
  // The device's own MAC (§5.1.6.5.2, VIRTIO_NET_F_CTRL_MAC_ADDR): what it receives for, and
  // what mac() and announcements say from then on. It must be unicast and non-zero. Where the
  // device has no MAC of its own (vhost-user backends), netfront's changes without asking it.
  io<Result<>> set_mac(const MacAddress& mac);
  // Replaces the MAC filter table: unicast addresses received beside mac(), and multicast
  // groups received without AllMulticast. InvalidLength beyond kMaxMacFilterEntries in all.
  io<Result<>> set_mac_filter(std::span<const MacAddress> unicast, std::span<const MacAddress> multicast);
  // Adds a VLAN id (0..kMaxVlanId) to the VLAN filter, or removes it (§5.1.6.5.3). Needs
  // vlan_filter in the id; adding one twice, or removing one not added, is no error.
  io<Result<>> add_vlan(std::uint16_t vlan);
  io<Result<>> remove_vlan(std::uint16_t vlan);
  // What the application has set; sent to the device again after it resets.
  RxFilter rx_filter() const;

  // RSS and the hash report (rss.hpp). What the device can do (all zero when neither was
  // negotiated).
  RssCapabilities rss_capabilities() const noexcept;
  // Replaces the hashing and steering configuration, checked first against rss_capabilities()
  // and queue_pairs(): a hash type the device does not support, a pair beyond queue_pairs(),
  // or an indirection table without steering is Unknown with cause BadArgument; a key or
  // table of a wrong length InvalidLength. Unimplemented without RSS or hash report; Unknown
  // when the device refuses (rss_config() then says what holds).
  io<Result<>> set_rss(const RssConfig& config);
  // The configuration in effect: the application's, netfront's default, or empty (no hashing:
  // the device refused the default, or has neither feature).
  RssConfig rss_config() const;

  // Calls `handler` with every received frame until disconnect; then completes with Ok.
  // Frames of a queue pair that has a listen of its own (queue(q).listen) go there instead.
  // Disconnected if already disconnected; Unknown if another listen is running.
  io<Result<>> listen(FrameHandler handler);
  // Mirage_net 4's `listen ~header_size`: the same, for frames of at most header_size + mtu()
  // bytes; a longer frame is dropped and counted (rx_drops), never handed over.
  io<Result<>> listen(std::size_t header_size, FrameHandler handler);

  // Queue pair `queue` alone (0 <= queue < queue_pairs(), as `queues=N` in the id asked).
  NetifQueue queue(unsigned queue) noexcept;

  MacAddress mac() const noexcept;
  std::uint16_t mtu() const noexcept;
  bool link_up() const noexcept;
  // The link as the device last reported it: up or down, speed and duplex, announcements
  // (link.hpp). Down once disconnected.
  LinkStatus link_status() const noexcept;
  // Completes with the link's status once it differs from `seen` (at once if it does
  // already), so that no change between two calls is missed: pass what the last call (or
  // link_status()) gave. Disconnected once disconnected.
  io<Result<LinkStatus>> link_change(LinkStatus seen);
  unsigned queue_pairs() const noexcept;
  // The NUMA node the device's rings and buffers were placed on (-1: not known): pin the loop
  // threads of handed-over queue pairs to CPUs of this node (numa::cpus_of_node).
  int numa_node() const noexcept;

  // Sums over all queue pairs since the last reset; safe to call from any thread.
  Stats get_stats_counters() const noexcept;
  Stats get_stats_counters(unsigned queue) const noexcept;
  void reset_stats_counters() noexcept;

 private:
  friend class NetifQueue;
  friend Netif drivers::attach(DeviceId id, std::unique_ptr<drivers::NetDevice> device);
  struct State;
  static constexpr std::size_t kAnyLength = ~std::size_t{0};
  static std::size_t listen_bound(std::size_t header_size, std::size_t mtu) noexcept {
    return header_size > kAnyLength - mtu ? kAnyLength : header_size + mtu;
  }
  explicit Netif(std::unique_ptr<State> state) noexcept;
  bool frame_ok(std::size_t pieces, std::size_t length) const noexcept;
  Error frame_error(std::size_t pieces, std::size_t length, unsigned queue) const;
  [[gnu::cold, gnu::noinline]] io<Result<>> refuse_write(std::size_t pieces, std::size_t length, unsigned queue) const;
  io<Result<>> write_on(unsigned queue, Buffer&& frame);
  io<Result<>> writev_on(unsigned queue, std::span<const Buffer> pieces);
  io<Result<>> set_vlan(std::uint16_t vlan, bool member);
  io<Result<>> offloaded_on(unsigned queue, std::span<const Buffer> pieces, const TxOffload& offload);
  [[gnu::noinline]] io<Result<>> writev_without_empty(unsigned queue, std::span<const Buffer> pieces);
  io<Result<>> fill_on(unsigned queue, std::size_t size, FrameFill fill);
  [[gnu::cold, gnu::noinline]] io<Result<>> refuse_fill(std::size_t size, std::size_t filled, unsigned queue) const;
  io<Result<>> listen_on(unsigned queue, std::size_t max_length, FrameHandler&& handler);
  Result<> run_queue_on(unsigned queue, EventLoop& loop);
  std::unique_ptr<State> state_;
};

// One queue pair of a Netif: the same write, writev and listen, on this pair's rings only. A
// view: valid while its Netif is; cheap to copy.
class NetifQueue {
 public:
  unsigned index() const noexcept { return queue_; }
  io<Result<>> write(Buffer frame) { return netif_->write_on(queue_, std::move(frame)); }
  io<Result<>> writev(std::span<const Buffer> pieces) { return netif_->writev_on(queue_, pieces); }
  io<Result<>> write(Buffer frame, const TxOffload& offload) {
    return netif_->offloaded_on(queue_, std::span<const Buffer>(&frame, 1), offload);
  }
  io<Result<>> writev(std::span<const Buffer> pieces, const TxOffload& offload) {
    return netif_->offloaded_on(queue_, pieces, offload);
  }
  io<Result<>> write(std::size_t size, FrameFill fill) { return netif_->fill_on(queue_, size, fill); }
  // This pair's frames, until disconnect. Unknown if this pair has a listen running already.
  io<Result<>> listen(FrameHandler handler) { return netif_->listen_on(queue_, Netif::kAnyLength, std::move(handler)); }
  io<Result<>> listen(std::size_t header_size, FrameHandler handler) {
    return netif_->listen_on(queue_, Netif::listen_bound(header_size, netif_->mtu()), std::move(handler));
  }
  Stats get_stats_counters() const noexcept { return netif_->get_stats_counters(queue_); }

  // Hands this pair to `loop`, another thread's, before it carries traffic: that loop polls
  // it from then on, and this pair's write, writev and listen must be called on that thread
  // (its frames arrive there, to this pair's own listen only). Called on the Netif's thread.
  // `loop` must keep running until disconnect has completed.
  Result<> run_on(EventLoop& loop) { return netif_->run_queue_on(queue_, loop); }

 private:
  friend class Netif;
  NetifQueue(Netif& netif, unsigned queue) noexcept : netif_(&netif), queue_(queue) {}
  Netif* netif_;
  unsigned queue_;
};

}  // namespace netfront
