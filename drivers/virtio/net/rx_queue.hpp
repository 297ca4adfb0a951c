// The receive queue of a queue pair (virtio 1.2 §5.1.6.3, §5.1.6.4): keeps the ring full of
// packet buffers and hands each received frame on as a Buffer over the mbuf the device wrote.
//
// Buffers are posted in bursts, with the virtio-net header landing in the mbuf headroom so the
// frame starts where an mbuf's data normally starts. A used buffer is checked before anything
// of it is believed (C1, C2, C4, C5); with VIRTIO_NET_F_MRG_RXBUF the buffers of one frame are
// assembled into its first.
//
// What it receives and drops is counted in the pair's counters, passed with each call that
// counts (see TxQueue).
#pragma once

#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "drivers/netif/net_device.hpp"
#include "drivers/netif/queue_counters.hpp"
#include "drivers/virtio/net/frame_address.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/net/offload_header.hpp"
#include "drivers/virtio/net/queue_pair.hpp"
#include "drivers/virtio/ring/chain.hpp"
#include "drivers/virtio/ring/virtqueue.hpp"
#include "drivers/virtio/transport/transport.hpp"
#include "netfront/buffer.hpp"
#include "netfront/frame_limits.hpp"
#include "runtime/free_segments.hpp"
#include "runtime/rx_offload_field.hpp"

namespace netfront::virtio::net {

template <ring::Virtqueue Ring>
class RxQueue {
 public:
  static constexpr unsigned kBurst = 64;        // used buffers taken per poll
  static constexpr unsigned kRefillBurst = 32;  // buffers posted per allocation

  RxQueue(const QueuePairConfig& c, transport::Transport& t, Ring ring)
      : ring_(std::move(ring)), transport_(t), pool_(c.rx_pool), pair_(c.index),
        header_len_(c.header_len), address_mode_(c.address_mode),
        mergeable_(c.mrg_rxbuf), checksums_(c.rx_checksum), hash_report_(c.hash_report),
        header_fields_(c.rx_checksum || c.hash_report), hash_types_(c.hash_types),
        max_frame_(std::size_t{c.mtu} + kEthernetHeaderLength),
        posted_len_(static_cast<std::uint32_t>(rte_pktmbuf_data_room_size(c.rx_pool) - RTE_PKTMBUF_HEADROOM +
                                               c.header_len)) {}

  Ring& ring() noexcept { return ring_; }
  const Ring& ring() const noexcept { return ring_; }

  // Posts buffers in bursts of up to kRefillBurst, and never waits for more free slots than a
  // small ring can have. A pool that is out of buffers is tried again at the next poll.
  // `notify` false: before DRIVER_OK, when the device may not be notified yet (§3.1.1); the
  // buffers are announced once it is (notify_posted).
  void refill(bool notify = true) noexcept {
    bool added = false;
    const unsigned threshold = std::min<unsigned>(kRefillBurst, ring_.size());
    while (ring_.free_descriptors() >= threshold && !ring_.broken()) {
      const unsigned n = std::min<unsigned>(kRefillBurst, ring_.free_descriptors());
      std::array<rte_mbuf*, kRefillBurst> mbufs;
      if (rte_pktmbuf_alloc_bulk(pool_, mbufs.data(), n) != 0) break;
      for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = mbufs[i];
        const ring::Segment s{device_address(address_mode_, posted_start(m), m), posted_len_, true};
        ring_.add_one(s, reinterpret_cast<std::uint64_t>(m));
      }
      added = true;
    }
    if (added && ring_.publish() && notify) notify_posted();
  }
  void notify_posted() noexcept {
    if (!transport_.notify(rx_queue_index(pair_))) ring_.mark_broken(ring::RingError::NotifyFailed);
  }

  // Takes up to kBurst used buffers and hands the frames they hold to `sink`. Two passes over
  // the burst: first the used buffers are taken and each one's header line is asked for, then
  // they are looked at. The device's CPU has just written those lines; read one frame at a
  // time, each read would wait its turn for a line to cross between the CPUs.
  unsigned receive(drivers::FrameSink* sink, drivers::QueueCounters& counters) noexcept {
    const Delivery to{sink, counters};
    std::array<ring::UsedChain, kBurst> used;
    unsigned n = 0;
    while (n < kBurst && ring_.take_used(used[n])) {
      __builtin_prefetch(posted_start(reinterpret_cast<rte_mbuf*>(used[n].token)));
      ++n;
    }
    for (unsigned i = 0; i < n; ++i) {
      const ring::UsedChain& u = used[i];
      auto* m = reinterpret_cast<rte_mbuf*>(u.token);
      // Once the device lost the framing, nothing it completed after that is looked at.
      if (ring_.broken()) [[unlikely]]
        drop(m, DropReason::Other, counters);
      else if (frame_left_ > 0)
        take_follower(m, u, to);
      else if (mergeable_)
        take_merged_head(m, u, to);
      else
        take_whole(m, u, to);
    }
    return n;
  }

  // After the device was reset: every posted buffer goes back to the pool, a frame half
  // assembled is dropped, and the ring starts over empty.
  void reset(drivers::QueueCounters& counters) noexcept {
    ring_.reset([](std::uint64_t token) { runtime::free_segment(reinterpret_cast<rte_mbuf*>(token)); });
    forget_partial(counters);
  }

  // A12: the device may still write the ring and every posted buffer, so none of them is
  // freed or reused. Buffers it completed already (a frame half assembled) are ours.
  void abandon(drivers::QueueCounters& counters) noexcept {
    ring_.abandon();
    forget_partial(counters);
  }

 private:
  // Why a received buffer is not delivered: the device broke a rule, or the frame's length is
  // outside what the application is promised (a jumbo frame from the wire, a runt).
  enum class DropReason { Device, Length, Other };

  // Where a burst's frames go, and where they are counted.
  struct Delivery {
    drivers::FrameSink* sink;
    drivers::QueueCounters& counters;
  };

  // The device writes the header at the posted address and the frame right after it, so the
  // frame starts at the usual mbuf data offset.
  std::byte* posted_start(rte_mbuf* m) const noexcept {
    return static_cast<std::byte*>(m->buf_addr) + RTE_PKTMBUF_HEADROOM - header_len_;
  }

  // C10: a header is copied out of device-writable memory once, then only the copy is used.
  // The hash after it (HASH_REPORT) is copied once too, where it is looked at: per frame, not
  // per buffer, so that a frame without it costs nothing more.
  virtio_net_hdr copy_header(rte_mbuf* m) const noexcept {
    virtio_net_hdr h;
    std::memcpy(&h, posted_start(m), sizeof h);
    return h;
  }
  virtio_net_hash copy_hash(rte_mbuf* head) const noexcept {
    virtio_net_hash h;
    std::memcpy(&h, posted_start(head) + sizeof(virtio_net_hdr), sizeof h);
    return h;
  }

  static void drop(rte_mbuf* m, DropReason why, drivers::QueueCounters& counters) noexcept {
    runtime::free_segment(m);
    counters.rx_drops.add(1);
    if (why == DropReason::Device) counters.device_errors.add(1);
    if (why == DropReason::Length) counters.rx_length_errors.add(1);
  }

  // The frame being assembled is dropped; the buffers of it still to come are discarded as
  // they arrive (frame_left_), never read as frames of their own.
  void drop_partial(DropReason why, drivers::QueueCounters& counters) noexcept {
    if (!partial_) return;
    drop(partial_, why, counters);
    partial_ = nullptr;
  }
  void forget_partial(drivers::QueueCounters& counters) noexcept {
    drop_partial(DropReason::Other, counters);
    frame_left_ = 0;
  }

  void deliver(rte_mbuf* m, const Delivery& to) noexcept {
    to.counters.rx_pkts.add(1);
    to.counters.rx_bytes.add(m->data_len);
    if (!to.sink) {
      drop(m, DropReason::Other, to.counters);
    } else if (!to.sink->on_frame(pair_, Buffer::adopt(m))) [[unlikely]] {
      to.counters.rx_drops.add(1);  // nobody listens on this queue; the sink freed the frame
    }
  }

  // Without MRG_RXBUF every buffer is one whole frame, and a drop concerns that buffer only.
  // num_buffers is not looked at (C4: devices leave it unwritten then).
  void take_whole(rte_mbuf* m, const ring::UsedChain& u, const Delivery& to) noexcept {
    // C1: never believe a length beyond what was posted.
    if (!u.len_valid || u.len > posted_len_) {
      drop(m, u.len_valid ? DropReason::Device : DropReason::Other, to.counters);
      return;
    }
    // C2: a header and an Ethernet header at the least; and no more than a frame of the MTU,
    // the most the application is promised (found by the mergeable-rx fuzz target).
    if (u.len < header_len_ + kEthernetHeaderLength || u.len > header_len_ + max_frame_) [[unlikely]] {
      drop(m, DropReason::Length, to.counters);
      return;
    }
    m->data_off = RTE_PKTMBUF_HEADROOM;
    m->data_len = static_cast<std::uint16_t>(u.len - header_len_);
    m->pkt_len = m->data_len;
    if (header_fields_ && !take_header_fields(m, copy_header(m), to)) [[unlikely]]
      return;
    deliver(m, to);
  }

  // §5.1.6.4.2: with MRG_RXBUF a frame's first buffer starts with the header, whose
  // num_buffers says how many buffers the frame takes. Whatever happens to the frame, exactly
  // that many buffers belong to it: a dropped frame's followers are discarded, never read as
  // frames (a sender on the wire chooses their bytes). A first buffer that does not say where
  // its frame ends leaves every later buffer unplaceable: the queue stops trusting the device.
  void take_merged_head(rte_mbuf* m, const ring::UsedChain& u, const Delivery& to) noexcept {
    // A buffer an in-order batch completed has no length of its own (len_valid false), but
    // its header is there: the frame is dropped, its followers with it.
    if (u.len_valid && u.len < header_len_) {
      drop(m, DropReason::Device, to.counters);
      ring_.mark_broken(ring::RingError::FramingLost);
      return;
    }
    const virtio_net_hdr hdr = copy_header(m);
    // C4: a frame of one buffer at least, and of no more buffers than the ring holds.
    if (hdr.num_buffers == 0 || hdr.num_buffers > ring_.size()) {
      drop(m, DropReason::Device, to.counters);
      ring_.mark_broken(ring::RingError::FramingLost);
      return;
    }
    frame_left_ = static_cast<std::uint16_t>(hdr.num_buffers - 1);
    // C1: a length beyond what was posted drops the frame (its followers with it).
    if (!u.len_valid || u.len > posted_len_) {
      drop(m, u.len_valid ? DropReason::Device : DropReason::Other, to.counters);
      return;
    }
    const std::uint32_t data = u.len - header_len_;
    if (data > max_frame_) {
      drop(m, DropReason::Length, to.counters);
      return;
    }
    m->data_off = RTE_PKTMBUF_HEADROOM;
    m->data_len = static_cast<std::uint16_t>(data);
    m->pkt_len = m->data_len;
    if (frame_left_ > 0) {
      partial_ = m;
      partial_header_ = hdr;
      return;
    }
    finish_frame(m, hdr, to);
  }

  // §5.1.6.4.2: the rest of a merged frame follows in the next used buffers, data only. A Buffer
  // is one contiguous view, so the pieces are appended to the first mbuf (C5: exactly `len`
  // bytes of each; the frame may not outgrow MTU + Ethernet header). When the frame was
  // dropped already, its remaining buffers only go back to the pool.
  void take_follower(rte_mbuf* m, const ring::UsedChain& u, const Delivery& to) noexcept {
    --frame_left_;
    if (!partial_) {
      runtime::free_segment(m);
      return;
    }
    if (!u.len_valid || u.len > posted_len_) {  // C1
      runtime::free_segment(m);
      drop_partial(u.len_valid ? DropReason::Device : DropReason::Other, to.counters);
      return;
    }
    if (partial_->data_len + u.len > max_frame_ || u.len > rte_pktmbuf_tailroom(partial_)) {
      runtime::free_segment(m);
      drop_partial(DropReason::Length, to.counters);
      return;
    }
    std::memcpy(rte_pktmbuf_mtod_offset(partial_, std::byte*, partial_->data_len), posted_start(m), u.len);
    partial_->data_len = static_cast<std::uint16_t>(partial_->data_len + u.len);
    partial_->pkt_len = partial_->data_len;
    runtime::free_segment(m);
    if (frame_left_ == 0) finish_frame(std::exchange(partial_, nullptr), partial_header_, to);
  }

  // C2 on the whole frame: at least an Ethernet header. Then what its header says of it.
  void finish_frame(rte_mbuf* m, const virtio_net_hdr& h, const Delivery& to) noexcept {
    if (m->data_len < kEthernetHeaderLength) {
      drop(m, DropReason::Length, to.counters);
      return;
    }
    if (header_fields_ && !take_header_fields(m, h, to)) [[unlikely]]
      return;
    deliver(m, to);
  }

  // What the header (a private copy) says of the whole frame `m` (its first buffer, which
  // holds the header), recorded on it: with GUEST_CSUM the checksum state (§5.1.6.4), with
  // HASH_REPORT the hash. A header that breaks a rule (C6, C7, C9) drops the frame as the
  // device's fault.
  bool take_header_fields(rte_mbuf* m, const virtio_net_hdr& h, const Delivery& to) noexcept {
    if (checksums_) {
      const auto o = rx_offload_of(h, m->data_len);
      if (!o) {
        drop(m, DropReason::Device, to.counters);
        return false;
      }
      runtime::store_rx_offload(m, *o);
    }
    if (hash_report_) {
      RxHash hash;
      const ReportedHash reported = reported_hash_of(copy_hash(m), hash_types_, hash);
      if (reported == ReportedHash::Lie) {
        drop(m, DropReason::Device, to.counters);
        return false;
      }
      if (reported == ReportedHash::Present) runtime::store_rx_hash(m, hash);
    }
    return true;
  }

  Ring ring_;
  transport::Transport& transport_;
  rte_mempool* pool_;
  unsigned pair_;  // the queue pair's number, for the sink and the doorbell
  std::uint16_t header_len_;
  ring::AddressMode address_mode_;
  bool mergeable_;
  bool checksums_;            // GUEST_CSUM: headers say whether checksums are valid or partial
  bool hash_report_;          // HASH_REPORT: headers carry the frame's hash
  bool header_fields_;        // either: each header is looked at beyond num_buffers
  HashTypes hash_types_;      // the hash types the device may report (those it supports)
  std::size_t max_frame_;     // MTU + Ethernet header: the longest frame delivered
  std::uint32_t posted_len_;  // what each posted buffer offers the device: header and data room
  // Mergeable receive (§5.1.6.4.2): the frame being assembled in its first buffer, if any, and
  // how many of its buffers are still to come (discarded when the frame was dropped).
  rte_mbuf* partial_ = nullptr;
  virtio_net_hdr partial_header_{};  // its header, copied when its first buffer came
  std::uint16_t frame_left_ = 0;
};

}  // namespace netfront::virtio::net
