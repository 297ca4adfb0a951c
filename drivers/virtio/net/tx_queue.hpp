// The transmit queue of a queue pair (virtio 1.2 §5.1.6.2): puts frames on the ring without
// copying them, rings the doorbell once per burst, and takes completed frames back.
//
// A frame nobody else views gets its header written into its own headroom (one descriptor);
// otherwise a shared all-zero header goes first (two descriptors). A frame of several pieces
// (writev) is one chain, or one indirect entry when the device takes indirect tables. A frame
// with offloads (a header that is not all zeroes) has a header slot of its own for as long as
// it is in flight, whoever else views it.
//
// What it sends and drops is counted in the pair's counters, passed with each call that
// counts: held as a member, a reference would cost a load per frame (the compiler cannot know
// it points into the pair).
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "drivers/netif/queue_counters.hpp"
#include "drivers/virtio/net/frame_address.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/net/queue_pair.hpp"
#include "drivers/virtio/ring/chain.hpp"
#include "drivers/virtio/ring/virtqueue.hpp"
#include "drivers/virtio/transport/transport.hpp"
#include "netfront/buffer.hpp"
#include "netfront/frame_limits.hpp"
#include "runtime/device_memory.hpp"
#include "runtime/free_segments.hpp"

namespace netfront::virtio::net {

template <ring::Virtqueue Ring>
class TxQueue {
 public:
  static constexpr unsigned kFlushBurst = 32;    // frames after which the ring is published at once
  static constexpr unsigned kRecords = 64;       // multi-piece frames in flight at once
  // Chains of at most this many descriptors always go in an indirect table; longer ones only
  // when they would take more than 1 / kLongChainShare of the ring.
  static constexpr unsigned kShortChain = 8;
  static constexpr unsigned kLongChainShare = 4;
  static constexpr unsigned kReclaimBurst = 64;  // completed frames freed per mempool operation

  // Where each header lies in the header memory: the shared zero header first, then one slot
  // per record.
  static constexpr std::size_t kHeaderSlot = 32;
  static constexpr std::size_t header_memory_size() noexcept { return kHeaderSlot * (1 + kRecords); }

  // `headers`: header_memory_size() bytes.
  TxQueue(const QueuePairConfig& c, transport::Transport& t, Ring ring, ring::DmaMemory headers)
      : ring_(std::move(ring)), transport_(t), headers_(std::move(headers)),
        queue_(tx_queue_index(c.index)), header_len_(c.header_len), address_mode_(c.address_mode), records_(kRecords) {
    headers_.zero();
    free_records_.reserve(kRecords);
    for (unsigned i = kRecords; i > 0; --i) free_records_.push_back(static_cast<std::uint16_t>(i - 1));
  }

  Ring& ring() noexcept { return ring_; }
  const Ring& ring() const noexcept { return ring_; }
  // Frames posted and not yet exposed to the device.
  unsigned unpublished() const noexcept { return pending_; }
  // Chains the device completed so far: what the watchdog sees moving.
  std::uint64_t completed() const noexcept { return completed_; }

  // While the application keeps writing, completions are taken back in batches, not at every
  // poll: the used entries the device is writing share cache lines, and reading a line it is
  // about to write again makes the line cross between the CPUs once per entry instead of once
  // per line. Half a ring of room left is when the room is needed; a poll with nothing written
  // since the last one (an application that is done, or out of buffers) takes them back at
  // once.
  bool reclaim_due() const noexcept { return !wrote_since_poll_ || ring_.free_descriptors() < ring_.size() / 2; }
  // A poll begins: reclaim_due() counts the writes from here.
  void start_poll() noexcept { wrote_since_poll_ = false; }

  // A frame, as one descriptor where it can be (post_fast), otherwise as post_single_slowly
  // says. False, with nothing changed, when the ring has no room for it.
  bool post_single(Buffer& frame, drivers::QueueCounters& counters) noexcept {
    return post_fast(frame, counters) || post_single_slowly(frame, counters);
  }

  // HOT PATH. A frame only we view, of a pool known to be in device memory, with room in
  // front of it for the header (§5.1.6.2): the header goes into its headroom and the frame
  // takes one descriptor. False, with nothing changed, for any other frame or when the ring
  // is full; the caller then goes the slow way (post_single). add_one() cannot fail after
  // these checks, so a frame's reference is only given up when its chain is really on the
  // ring. No call in it: the hot caller stays a leaf.
  [[gnu::always_inline]] bool post_fast(Buffer& frame, drivers::QueueCounters& counters) noexcept {
    static_assert(sizeof(virtio_net_hdr) == 12);
    // placed_pool_ is only ever set with 12-byte headers: the pool check covers the size too.
    if (frame.refcount() != 1 || frame.headroom() < sizeof(virtio_net_hdr) || frame.mbuf()->pool != placed_pool_)
        [[unlikely]]
      return false;
    const std::size_t len = frame.length();
    std::byte* start = frame.data() - sizeof(virtio_net_hdr);
    if (ring_.broken() || ring_.free_descriptors() < 1) return false;
    // No offloads: an all-zero header (flags 0, GSO_NONE). Fixed-size loads and stores, not a
    // memset call. It is written only if it is not zero already, as it is when the buffer went
    // out before: the device's CPU read that cache line, and a store, even of the same zeros,
    // would take the line back from it for every frame.
    std::uint64_t h8;
    std::uint32_t h4;
    std::memcpy(&h8, start, 8);
    std::memcpy(&h4, start + 8, 4);
    if ((h8 | h4) != 0) {
      const std::uint64_t z8 = 0;
      const std::uint32_t z4 = 0;
      std::memcpy(start, &z8, 8);
      std::memcpy(start + 8, &z4, 4);
    }
    const ring::Segment s{device_address(address_mode_, start, frame.mbuf()),
                          static_cast<std::uint32_t>(len + sizeof(virtio_net_hdr)), false};
    ring_.add_one(s, reinterpret_cast<std::uint64_t>(std::move(frame).into_mbuf()));
    count(len, counters);
    return true;
  }

  // A frame of several pieces (writev), as one chain behind the shared zero header.
  bool post_chain(std::span<const Buffer> pieces, drivers::QueueCounters& counters) noexcept {
    return post_pieces(pieces, nullptr, counters);
  }

  // A frame with offloads (§5.1.6.2): its pieces behind `header`, in a slot of its own.
  bool post_with_header(std::span<const Buffer> pieces, const virtio_net_hdr& header,
                        drivers::QueueCounters& counters) noexcept {
    return post_pieces(pieces, &header, counters);
  }

 private:
  // The pieces as one chain behind `header` (nullptr: the shared zero header).
  bool post_pieces(std::span<const Buffer> pieces, const virtio_net_hdr* header, drivers::QueueCounters& counters) noexcept {
    const auto n = static_cast<std::uint16_t>(pieces.size());
    // With indirect descriptors (§2.7.5.3, §2.8.19) the whole chain takes one ring entry, so a
    // frame of many pieces neither waits for many free entries nor crowds out other frames:
    // a ring of N entries holds N such frames in flight instead of N / (pieces + 1). A long
    // chain that takes no large share of the ring goes on the ring itself: DPDK's vhost backend
    // takes a 34-descriptor TSO super-frame 1.6 times as fast from the ring as from a table
    // (docs/benchmarks.md), and DPDK's own virtio PMD also keeps tables for short chains.
    const unsigned descriptors = n + 1u;
    const bool indirect =
        ring_.has_indirect() && (descriptors <= kShortChain || descriptors > ring_.size() / kLongChainShare);
    const unsigned needed = indirect ? 1 : descriptors;
    const bool record = n > 1 || header;
    if (ring_.broken() || ring_.free_descriptors() < needed || (record && free_records_.empty())) return false;
    std::array<ring::Segment, kMaxWritevPieces + 1> segs;
    segs[0] = {headers_.device_address(), header_len_, false};
    std::size_t len = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
      segs[i + 1] = {address_of(pieces[i]), static_cast<std::uint32_t>(pieces[i].length()), false};
      len += pieces[i].length();
    }
    std::uint64_t token;
    if (!record) {
      token = reinterpret_cast<std::uint64_t>(Buffer(pieces[0]).into_mbuf());
    } else {
      const std::uint16_t r = free_records_.back();
      free_records_.pop_back();
      records_[r].count = n;
      for (std::uint16_t i = 0; i < n; ++i) records_[r].mbufs[i] = Buffer(pieces[i]).into_mbuf();
      token = (std::uint64_t{r} << 1) | 1;  // mbuf pointers are even: bit 0 marks a record
      if (header) {
        // The rest of a longer header (fields of features netfront does not use) stays zero.
        const std::size_t at = kHeaderSlot * (1u + r);
        std::memcpy(headers_.data() + at, header, sizeof *header);
        segs[0].addr = headers_.device_address() + at;
      }
    }
    const std::span<const ring::Segment> chain(segs.data(), std::size_t{n} + 1u);
    if (indirect)
      ring_.add_indirect(chain, token);
    else
      ring_.add(chain, token);
    count(len, counters);
    return true;
  }

 public:
  // The caller calls this after each posted frame (poll() flushes anyway).
  void flush_if_due() noexcept {
    if (pending_ >= kFlushBurst) [[unlikely]] flush();
  }

  // Exposes what was posted and rings the doorbell if the device asks for one (B9: a doorbell
  // that cannot be rung stops the queue).
  void flush() noexcept {
    pending_ = 0;
    if (ring_.publish()) notify();
  }

  // The doorbell whatever the device's suppression says: see QueuePair::watch_progress.
  void notify() noexcept {
    if (!transport_.notify(queue_)) ring_.mark_broken(ring::RingError::NotifyFailed);
  }

  // C3: a transmit completion's length means nothing; only the token matters. Single-piece
  // frames (the common case) are gathered and go back to their pools in bulk, one mempool
  // operation per burst, after the ring is drained: freeing them inside the drain loop would
  // mix stores to the mbufs into it, which the compiler must assume reach the ring's state.
  unsigned reclaim() noexcept {
    std::array<rte_mbuf*, kReclaimBurst> done;
    unsigned batched = 0;
    const unsigned n = ring_.drain_used([&](std::uint64_t token) {
      if (token & 1) {
        free_token(token);
        return;
      }
      done[batched++] = reinterpret_cast<rte_mbuf*>(token);
      if (batched == done.size()) {
        runtime::free_segments(done.data(), batched);
        batched = 0;
      }
    });
    runtime::free_segments(done.data(), batched);
    completed_ += n;
    return n;
  }

  // After the device was reset: every frame in flight goes back to its pool, counted as
  // dropped, and the ring starts over empty.
  void reset(drivers::QueueCounters& counters) noexcept {
    std::uint64_t dropped = 0;
    ring_.reset([&](std::uint64_t token) {
      free_token(token);
      ++dropped;
    });
    counters.tx_drops.add(dropped);
    pending_ = 0;
  }

  // A12: the device may still read the ring, the shared header and every frame in flight, so
  // none of it is freed or reused; those frames count as dropped.
  void abandon(drivers::QueueCounters& counters) noexcept {
    counters.tx_drops.add(ring_.in_flight());
    ring_.abandon();
    headers_.abandon();
    pending_ = 0;
  }

 private:
  struct Record {  // the mbufs of one frame of several pieces
    std::uint16_t count = 0;
    std::array<rte_mbuf*, kMaxWritevPieces> mbufs{};
  };

  std::uint64_t address_of(const Buffer& b) const noexcept { return device_address(address_mode_, b.data(), b.mbuf()); }

  void count(std::size_t bytes, drivers::QueueCounters& counters) noexcept {
    wrote_since_poll_ = true;
    counters.tx_pkts.add(1);
    counters.tx_bytes.add(bytes);
    ++pending_;
  }

  // Whether nothing else views the frame's data room, so its headroom is ours to write: one
  // reference, and the room not viewed by a clone either (as DPDK's own driver, which writes
  // the header in front of direct mbufs only).
  static bool room_is_ours_alone(const Buffer& frame) noexcept {
    const rte_mbuf* m = frame.mbuf();
    if (frame.refcount() != 1) return false;
    if (RTE_MBUF_DIRECT(m)) return true;
    return !RTE_MBUF_CLONED(m) && (m->ol_flags & RTE_MBUF_F_EXTERNAL) && runtime::owns_pinned_room(m, m->shinfo) &&
           rte_mbuf_ext_refcnt_read(m->shinfo) == 1;
  }

  // The rest of post_single(): a frame of a pool not seen yet, a header of another size in the headroom (the size is the
  // device's to set; 12 bytes with every feature netfront negotiates today), or, for a frame
  // viewed elsewhere too (its headroom is not ours to write) or with no room in front, the
  // shared zero header as a descriptor of its own.
  [[gnu::noinline]] bool post_single_slowly(Buffer& frame, drivers::QueueCounters& counters) noexcept {
    if (ring_.broken() || !runtime::DeviceMemory::holds(frame.data(), frame.length())) return false;
    // Every mbuf of netfront's pools owns a data room of device memory, so after one frame of
    // such a pool its frames are known to be placed, and post_fast() takes them. Only the
    // owner of a room marks its pool: a clone in another pool views device memory too, while
    // the rest of that pool does not. With headers of another size post_fast() takes none.
    if (frame.mbuf()->pool != placed_pool_ && header_len_ == sizeof(virtio_net_hdr) &&
        (frame.mbuf()->ol_flags & (RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT)) == RTE_MBUF_F_EXTERNAL &&
        runtime::owns_pinned_room(frame.mbuf(), frame.mbuf()->shinfo)) {
      placed_pool_ = frame.mbuf()->pool;
      if (post_fast(frame, counters)) return true;
    }
    const std::size_t len = frame.length();
    if (room_is_ours_alone(frame) && frame.headroom() >= header_len_) {
      if (ring_.free_descriptors() < 1) return false;
      std::byte* start = frame.data() - header_len_;
      std::memset(start, 0, header_len_);
      const ring::Segment s{device_address(address_mode_, start, frame.mbuf()),
                            static_cast<std::uint32_t>(len + header_len_), false};
      ring_.add_one(s, reinterpret_cast<std::uint64_t>(std::move(frame).into_mbuf()));
    } else {
      if (ring_.free_descriptors() < 2) return false;
      const ring::Segment s[2] = {{headers_.device_address(), header_len_, false},
                                  {address_of(frame), static_cast<std::uint32_t>(len), false}};
      ring_.add(s, reinterpret_cast<std::uint64_t>(std::move(frame).into_mbuf()));
    }
    count(len, counters);
    return true;
  }

  void free_token(std::uint64_t token) noexcept {
    if (token & 1) {
      Record& r = records_[token >> 1];
      for (std::uint16_t i = 0; i < r.count; ++i) runtime::free_segment(r.mbufs[i]);
      free_records_.push_back(static_cast<std::uint16_t>(token >> 1));
    } else {
      runtime::free_segment(reinterpret_cast<rte_mbuf*>(token));
    }
  }

  Ring ring_;
  transport::Transport& transport_;
  ring::DmaMemory headers_;  // the zero header of frames that cannot carry their own, and the records' headers
  std::uint16_t queue_;    // the transmit queue's number, for the doorbell
  std::uint16_t header_len_;
  ring::AddressMode address_mode_;
  const rte_mempool* placed_pool_ = nullptr;  // a pool whose frames were seen in device memory
  unsigned pending_ = 0;
  bool wrote_since_poll_ = false;
  std::uint64_t completed_ = 0;
  std::vector<Record> records_;
  std::vector<std::uint16_t> free_records_;
};

}  // namespace netfront::virtio::net
