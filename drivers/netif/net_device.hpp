// NetDevice: what a device driver gives the Netif front end. A virtio-net device over any
// transport implements it; tests implement it to check the API layer alone.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "netfront/buffer.hpp"
#include "netfront/device_id.hpp"
#include "netfront/io.hpp"
#include "netfront/link.hpp"
#include "netfront/mac_address.hpp"
#include "netfront/offload.hpp"
#include "netfront/result.hpp"
#include "netfront/rss.hpp"
#include "netfront/rx_filter.hpp"
#include "drivers/netif/queue_counters.hpp"
#include "netfront/stats.hpp"

namespace netfront {
class EventLoop;
}

namespace netfront::drivers {

// Where received frames go. on_frame is called on the device's loop thread; it returns false
// when nobody takes frames of that queue (the frame is then freed, and counted as a drop).
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual bool on_frame(unsigned queue, Buffer frame) = 0;
};

// Told when a device's link status may have changed (see NetDevice::set_link_observer).
class LinkObserver {
 public:
  virtual ~LinkObserver() = default;
  virtual void on_link_change() = 0;
};

class NetDevice {
 public:
  virtual ~NetDevice() = default;

  virtual MacAddress mac() const noexcept = 0;
  virtual std::uint16_t mtu() const noexcept = 0;
  virtual bool link_up() const noexcept = 0;
  // The link as the device last reported it (up is link_up()).
  virtual LinkStatus link_status() const noexcept { return {.up = link_up()}; }
  // Told, on the device's loop, whenever link_status() may have changed: the link went down
  // or up, its speed changed, the device asked to be announced, the device failed or closed
  // (nullptr: nobody is told).
  virtual void set_link_observer(LinkObserver* observer) noexcept { (void)observer; }
  virtual unsigned queue_pairs() const noexcept = 0;
  // The NUMA node its memory was placed on (-1: not known).
  virtual int numa_node() const noexcept { return -1; }
  virtual const QueueCounters& counters(unsigned queue) const noexcept = 0;

  // Sends one frame (already checked by Netif against the MTU). The device takes `frame`'s
  // reference: if it is the only one, the device may write its header into the headroom.
  // Completes when the frame is on the ring, not when it is sent.
  virtual io<Result<>> transmit(unsigned queue, Buffer&& frame) = 0;
  // Sends one frame made of `pieces` (1..kMaxWritevPieces, none of them empty: checked by
  // Netif); the device takes references of its own before it returns.
  virtual io<Result<>> transmit_chain(unsigned queue, std::span<const Buffer> pieces) = 0;

  // The offloads agreed with the device (none unless the id asked for them).
  virtual Offloads offloads() const noexcept { return {}; }
  // Sends one frame of `pieces` (as transmit_chain) with `offload`, which Netif checked against
  // offloads() and the frame.
  virtual io<Result<>> transmit_offloaded(unsigned queue, std::span<const Buffer> pieces, const TxOffload& offload) {
    (void)queue;
    (void)pieces;
    (void)offload;
    return make_ready_io(Result<>(Error::unimplemented("this device has no transmit offloads")));
  }
  // Turns the receive offloads of `on` on and the others off, at run time.
  virtual io<Result<>> set_receive_offloads(const Offloads& on) {
    (void)on;
    return make_ready_io(Result<>(Error::unimplemented("this device cannot change its receive offloads")));
  }

  // Receive filters (rx_filter.hpp), each checked by Netif for its arguments. Unimplemented
  // where the device cannot filter so.
  virtual io<Result<>> set_rx_mode(RxMode mode, bool on) {
    (void)mode;
    (void)on;
    return make_ready_io(Result<>(Error::unimplemented("this device has no receive modes")));
  }
  virtual io<Result<>> set_mac(const MacAddress& mac) {
    (void)mac;
    return make_ready_io(Result<>(Error::unimplemented("this device cannot change its MAC address")));
  }
  virtual io<Result<>> set_mac_filter(std::span<const MacAddress> unicast, std::span<const MacAddress> multicast) {
    (void)unicast;
    (void)multicast;
    return make_ready_io(Result<>(Error::unimplemented("this device has no MAC filter table")));
  }
  virtual io<Result<>> set_vlan(std::uint16_t vlan, bool member) {
    (void)vlan;
    (void)member;
    return make_ready_io(Result<>(Error::unimplemented("this device has no VLAN filter")));
  }
  virtual RxFilter rx_filter() const { return {}; }

  // RSS and the hash report (rss.hpp): what the device can do, and its configuration, checked
  // by Netif against those capabilities.
  virtual RssCapabilities rss_capabilities() const noexcept { return {}; }
  virtual io<Result<>> set_rss(const RssConfig& config) {
    (void)config;
    return make_ready_io(Result<>(Error::unimplemented("this device has no RSS or hash report")));
  }
  virtual RssConfig rss_config() const { return {}; }

  // The pool the fill-style write builds frames in (the device's own, in memory it reaches;
  // safe to take buffers from on any loop a pair was handed to). Null: the device has none.
  virtual rte_mempool* frame_pool() const noexcept { return nullptr; }
  // Received frames go to `sink` (nullptr: received frames are dropped and counted).
  virtual void set_sink(FrameSink* sink) noexcept = 0;

  // Stops the data path and gives back every buffer: after it completes the device touches no
  // memory of ours and no buffer of ours is in flight. Never fails.
  virtual io<void> close() = 0;

  // Hands queue pair `queue` to `loop` (another thread's): from then on that loop polls it, and
  // its transmits and frames happen on that thread. Called on the device's thread, before the
  // pair carries traffic.
  virtual Result<> hand_over(unsigned queue, EventLoop& loop) {
    (void)queue;
    (void)loop;
    return Error::unimplemented("this device cannot hand its queues to other loops");
  }
};

}  // namespace netfront::drivers
