#include "drivers/virtio/net/queue_pair.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/ring/packed_ring.hpp"
#include "drivers/virtio/ring/split_ring.hpp"
#include "netfront/frame_limits.hpp"
#include "runtime/device_memory.hpp"
#include "runtime/free_segments.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::net {
namespace {

using ring::Segment;
using ring::UsedChain;

constexpr unsigned kRxBurst = 64;        // used buffers taken per poll
constexpr unsigned kRefillBurst = 32;    // receive buffers posted per allocation
constexpr unsigned kTxFlushBurst = 32;   // frames after which the transmit ring is published at once
constexpr unsigned kTxRecords = 64;      // multi-piece frames in flight at once
constexpr unsigned kReclaimBurst = 64;   // completed frames freed per mempool operation

template <typename Ring>
class RingQueuePair final : public QueuePair {
 public:
  RingQueuePair(const QueuePairConfig& c, transport::Transport& t, Ring rx, Ring tx, DmaMemory zero_header)
      : config_(c), transport_(t), rx_(std::move(rx)), tx_(std::move(tx)), zero_header_(std::move(zero_header)),
        rx_posted_len_(static_cast<std::uint32_t>(rte_pktmbuf_data_room_size(c.rx_pool) - RTE_PKTMBUF_HEADROOM +
                                                  c.header_len)),
        records_(kTxRecords), waiters_(16) {
    free_records_.reserve(kTxRecords);
    for (unsigned i = kTxRecords; i > 0; --i) free_records_.push_back(static_cast<std::uint16_t>(i - 1));
    for (auto& w : waiters_) w.pieces.reserve(1);
  }

  ~RingQueuePair() override { release_all(nullptr); }

  Result<> start() override {
    for (auto [index, addresses, size] :
         {std::tuple{rx_queue_index(config_.index), rx_.addresses(), rx_.size()},
          std::tuple{tx_queue_index(config_.index), tx_.addresses(), tx_.size()}}) {
      if (auto r = transport_.enable_queue({index, size, addresses}); !r) return r;
    }
    refill();
    if (rx_.in_flight() == 0) return Error::unknown("no receive buffers could be posted (packet pool exhausted)");
    usable_ = true;
    return Ok{};
  }

  // HOT PATH: once per loop iteration per queue pair.
  unsigned poll() override {
    unsigned work = 0;
    // While the application keeps writing, completions are taken back in batches, not at
    // every poll: the used entries the device is writing share cache lines, and reading a line
    // it is about to write again makes the line cross between the CPUs once per entry instead
    // of once per line. Half a ring of room left, or a writer waiting, is when the room is
    // needed; a poll with nothing written since the last one (an application that is done, or
    // out of buffers) takes them back at once.
    if (!wrote_since_poll_ || tx_.free_descriptors() < tx_.size() / 2 || waiter_count_ > 0) work += reclaim();
    wrote_since_poll_ = false;
    serve_waiters();
    flush_tx();
    work += receive();
    refill();
    return work;
  }

  // HOT PATH: one call per written frame. The common case (room on the ring, nobody waiting,
  // a frame only we view) is one function from here to the descriptor with no call in it but
  // the flush every kTxFlushBurst frames; everything else is out of line (transmit_slowly,
  // post_single_slowly).
  io<Result<>> transmit(Buffer&& frame) override {
    if (usable_ && waiter_count_ == 0 && post_single(frame)) [[likely]] {
      flush_if_due();
      return make_ready_io(Result<>(Ok{}));
    }
    return transmit_slowly(std::move(frame));
  }

  io<Result<>> transmit_chain(std::span<const Buffer> pieces) override {
    // E1/E2 (§2.7.5.2): never a chain longer than the queue size, counting the entries of an
    // indirect table too.
    if (pieces.size() + 1 > tx_.size())
      return make_ready_io(Result<>(Error::invalid_length("frame of " + std::to_string(pieces.size()) +
                                                          " pieces needs more descriptors than the ring has")));
    for (const Buffer& piece : pieces)
      if (!runtime::DeviceMemory::holds(piece.data(), piece.length())) return make_ready_io(Result<>(not_device_memory()));
    return post_or_wait([&] { return post_chain(pieces); },
                        [&](Waiter& w) {
                          w.single = false;
                          w.pieces.assign(pieces.begin(), pieces.end());
                        });
  }

  void release_all(const Error* why) override {
    usable_ = false;
    if (abandoned_) {
      if (why) fail_waiters(*why);
      return;
    }
    std::uint64_t dropped = 0;
    tx_.reset([&](std::uint64_t token) {
      free_token(token);
      ++dropped;
    });
    counters_.tx_drops.add(dropped);
    rx_.reset([](std::uint64_t token) { runtime::free_segment(reinterpret_cast<rte_mbuf*>(token)); });
    drop_partial();
    frame_left_ = 0;
    pending_tx_ = 0;
    last_progress_ = {};  // the watchdog starts over with the rings
    stalled_ = false;
    if (why) fail_waiters(*why);
  }

  void abandon(const Error* why) override {
    usable_ = false;
    abandoned_ = true;
    counters_.tx_drops.add(tx_.in_flight());  // never completed, and never freed
    rx_.abandon();
    tx_.abandon();
    zero_header_.abandon();
    drop_partial();  // buffers the device completed are ours
    frame_left_ = 0;
    pending_tx_ = 0;
    if (why) fail_waiters(*why);
  }

  void fail_waiters(const Error& why) override {
    while (waiter_count_ > 0) {
      Promise<Result<>> done = pop_waiter();
      done.set_value(why);
    }
  }

  bool has_waiters() const noexcept override { return waiter_count_ > 0; }

  void watch_progress(std::chrono::steady_clock::time_point now, std::chrono::milliseconds limit) override {
    reclaim();  // completions poll() has not taken yet are progress too
    // First look (or the first since the rings restarted): the period starts now.
    if (tx_.in_flight() == 0 || tx_completed_ != watched_completed_ || last_progress_ == decltype(last_progress_){}) {
      watched_completed_ = tx_completed_;
      last_progress_ = now;
      if (stalled_) runtime::logger("net").info("queue pair {}: transmit moving again", config_.index);
      stalled_ = false;
      return;
    }
    if (now - last_progress_ < limit) return;
    if (!stalled_) {
      stalled_ = true;
      counters_.tx_stalls.add(1);
      runtime::logger("net").warn("queue pair {}: the device completed nothing sent for {} ms ({} frames in flight)",
                                  config_.index, limit.count(), tx_.in_flight());
    }
    if (waiter_count_ > 0)
      fail_waiters(Error::unknown("transmit stalled: the device completed nothing for " + std::to_string(limit.count()) +
                                  " ms"));
  }

  ring::RingError error() const noexcept override { return rx_.broken() ? rx_.error() : tx_.error(); }

  bool enable_notifications() noexcept override {
    bool work = rx_.enable_interrupts();
    if (waiter_count_ > 0) work = tx_.enable_interrupts() || work;  // room for them wakes us
    return !work && pending_tx_ == 0;
  }

  void disable_notifications() noexcept override {
    rx_.suppress_interrupts();
    tx_.suppress_interrupts();
  }

 private:
  struct TxRecord {
    std::uint16_t count = 0;
    std::array<rte_mbuf*, kMaxWritevPieces> mbufs{};
  };
  struct Waiter {
    Promise<Result<>> done;
    std::vector<Buffer> pieces;
    bool single = true;
  };

  // Only device memory is ever given to the device (runtime/device_memory.hpp): a frame built
  // elsewhere (an mbuf of another pool, adopted) is refused, not posted.
  static Error not_device_memory() {
    return Error::unknown("frame bytes are not in device memory, the only memory a device is given: build frames in "
                          "buffers of a netfront PacketPool");
  }

  // post_single() changed nothing when it said no, so this starts over.
  [[gnu::noinline]] io<Result<>> transmit_slowly(Buffer&& frame) {
    if (!runtime::DeviceMemory::holds(frame.data(), frame.length())) return make_ready_io(Result<>(not_device_memory()));
    return post_or_wait([&] { return post_single(frame); },
                        [&](Waiter& w) {
                          w.single = true;
                          w.pieces.push_back(std::move(frame));
                        });
  }

  // Posts at once when the ring has room (reclaiming first if it has not); otherwise the frame
  // joins the writers waiting for space, behind any that wait already (FIFO).
  template <typename Post, typename Park>
  io<Result<>> post_or_wait(Post&& post, Park&& park) {
    if (!usable_) return make_ready_io(Result<>(Error::disconnected()));
    if (waiter_count_ == 0) {
      bool posted = post();
      if (!posted) {
        reclaim();
        posted = post();
      }
      if (posted) {
        flush_if_due();
        return make_ready_io(Result<>(Ok{}));
      }
    }
    Waiter& w = push_waiter();
    park(w);
    return w.done.get_io();
  }

  std::uint64_t device_address(const std::byte* p, const rte_mbuf* m) const noexcept {
    if (config_.address_mode == AddressMode::VirtualAddress) return reinterpret_cast<std::uint64_t>(p);
    return m->buf_iova + static_cast<std::uint64_t>(p - static_cast<const std::byte*>(m->buf_addr));
  }
  std::uint64_t device_address(const Buffer& b) const noexcept { return device_address(b.data(), b.mbuf()); }

  // Counts a posted frame; the caller then calls flush_if_due() (poll() flushes anyway).
  void count_tx(std::size_t bytes) noexcept {
    wrote_since_poll_ = true;
    counters_.tx_pkts.add(1);
    counters_.tx_bytes.add(bytes);
    ++pending_tx_;
  }
  void flush_if_due() noexcept {
    if (pending_tx_ >= kTxFlushBurst) [[unlikely]] flush_tx();
  }

  // HOT PATH. A frame only we view, with room in front of it for the header (§5.1.6.2): the
  // header goes into its headroom and the frame takes one descriptor. Anything else is
  // post_single_slowly(). add_one() cannot fail after these checks, so a frame's reference is
  // only given up when its chain is really on the ring.
  [[gnu::always_inline]] bool post_single(Buffer& frame) noexcept {
    static_assert(sizeof(virtio_net_hdr) == 12);
    // placed_pool_ is only ever set with 12-byte headers: the pool check covers the size too.
    if (frame.refcount() != 1 || frame.headroom() < sizeof(virtio_net_hdr) || frame.mbuf()->pool != placed_pool_)
        [[unlikely]]
      return post_single_slowly(frame);
    const std::size_t len = frame.length();
    std::byte* start = frame.data() - sizeof(virtio_net_hdr);
    if (tx_.broken() || tx_.free_descriptors() < 1) return false;
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
    const Segment s{device_address(start, frame.mbuf()), static_cast<std::uint32_t>(len + sizeof(virtio_net_hdr)), false};
    tx_.add_one(s, reinterpret_cast<std::uint64_t>(std::move(frame).into_mbuf()));
    count_tx(len);
    return true;
  }

  // The rest of post_single(): a header of another size in the headroom (the size is the
  // device's to set; 12 bytes with every feature netfront negotiates today), or, for a frame
  // viewed elsewhere too (its headroom is not ours to write) or with no room in front, the
  // shared zero header as a descriptor of its own.
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

  [[gnu::noinline]] bool post_single_slowly(Buffer& frame) noexcept {
    if (tx_.broken() || !runtime::DeviceMemory::holds(frame.data(), frame.length())) return false;
    // Every mbuf of netfront's pools owns a data room of device memory, so after one frame of
    // such a pool its frames are known to be placed, and post_single() takes them. Only the
    // owner of a room marks its pool: a clone in another pool views device memory too, while
    // the rest of that pool does not. With headers of another size post_single() takes none.
    if (frame.mbuf()->pool != placed_pool_ && config_.header_len == sizeof(virtio_net_hdr) &&
        (frame.mbuf()->ol_flags & (RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT)) == RTE_MBUF_F_EXTERNAL &&
        runtime::owns_pinned_room(frame.mbuf(), frame.mbuf()->shinfo)) {
      placed_pool_ = frame.mbuf()->pool;
      if (frame.refcount() == 1 && frame.headroom() >= sizeof(virtio_net_hdr)) return post_single(frame);
    }
    const std::size_t len = frame.length();
    if (room_is_ours_alone(frame) && frame.headroom() >= config_.header_len) {
      if (tx_.free_descriptors() < 1) return false;
      std::byte* start = frame.data() - config_.header_len;
      std::memset(start, 0, config_.header_len);
      const Segment s{device_address(start, frame.mbuf()), static_cast<std::uint32_t>(len + config_.header_len), false};
      tx_.add_one(s, reinterpret_cast<std::uint64_t>(std::move(frame).into_mbuf()));
    } else {
      if (tx_.free_descriptors() < 2) return false;
      const Segment s[2] = {{zero_header_.device_address(), config_.header_len, false},
                            {device_address(frame), static_cast<std::uint32_t>(len), false}};
      tx_.add(s, reinterpret_cast<std::uint64_t>(std::move(frame).into_mbuf()));
    }
    count_tx(len);
    return true;
  }

  bool post_chain(std::span<const Buffer> pieces) noexcept {
    const auto n = static_cast<std::uint16_t>(pieces.size());
    // With indirect descriptors (§2.7.5.3, §2.8.19) the whole chain takes one ring entry, so a
    // frame of many pieces neither waits for many free entries nor crowds out other frames:
    // a ring of N entries holds N such frames in flight instead of N / (pieces + 1).
    const bool indirect = tx_.has_indirect();
    const std::uint16_t needed = indirect ? 1 : static_cast<std::uint16_t>(n + 1);
    if (tx_.broken() || tx_.free_descriptors() < needed || (n > 1 && free_records_.empty())) return false;
    std::array<Segment, kMaxWritevPieces + 1> segs;
    segs[0] = {zero_header_.device_address(), config_.header_len, false};
    std::size_t len = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
      segs[i + 1] = {device_address(pieces[i]), static_cast<std::uint32_t>(pieces[i].length()), false};
      len += pieces[i].length();
    }
    std::uint64_t token;
    if (n == 1) {
      token = reinterpret_cast<std::uint64_t>(Buffer(pieces[0]).into_mbuf());
    } else {
      const std::uint16_t r = free_records_.back();
      free_records_.pop_back();
      records_[r].count = n;
      for (std::uint16_t i = 0; i < n; ++i) records_[r].mbufs[i] = Buffer(pieces[i]).into_mbuf();
      token = (std::uint64_t{r} << 1) | 1;  // mbuf pointers are even: bit 0 marks a record
    }
    const std::span<const Segment> chain(segs.data(), std::size_t{n} + 1u);
    if (indirect)
      tx_.add_indirect(chain, token);
    else
      tx_.add(chain, token);
    count_tx(len);
    return true;
  }

  void free_token(std::uint64_t token) noexcept {
    if (token & 1) {
      TxRecord& r = records_[token >> 1];
      for (std::uint16_t i = 0; i < r.count; ++i) runtime::free_segment(r.mbufs[i]);
      free_records_.push_back(static_cast<std::uint16_t>(token >> 1));
    } else {
      runtime::free_segment(reinterpret_cast<rte_mbuf*>(token));
    }
  }

  // C3: a transmit completion's length means nothing; only the token matters. Single-piece
  // frames (the common case) are gathered and go back to their pools in bulk, one mempool
  // operation per burst, after the ring is drained: freeing them inside the drain loop would
  // mix stores to the mbufs into it, which the compiler must assume reach the ring's state.
  unsigned reclaim() noexcept {
    std::array<rte_mbuf*, kReclaimBurst> done;
    unsigned batched = 0;
    const unsigned n = tx_.drain_used([&](std::uint64_t token) {
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
    tx_completed_ += n;
    return n;
  }

  void flush_tx() noexcept {
    pending_tx_ = 0;
    if (tx_.publish() && !transport_.notify(tx_queue_index(config_.index)))
      tx_.mark_broken(ring::RingError::NotifyFailed);
  }

  Waiter& push_waiter() {
    counters_.tx_ring_full.add(1);
    flush_tx();  // let the device see what is queued, so space comes back
    if (waiter_count_ == waiters_.size()) {
      std::vector<Waiter> bigger(waiters_.size() * 2);
      for (std::size_t i = 0; i < waiter_count_; ++i) bigger[i] = std::move(waiters_[(waiter_first_ + i) % waiters_.size()]);
      waiters_ = std::move(bigger);
      waiter_first_ = 0;
    }
    Waiter& w = waiters_[(waiter_first_ + waiter_count_++) % waiters_.size()];
    w.pieces.clear();
    return w;
  }

  Promise<Result<>> pop_waiter() noexcept {
    Waiter& w = waiters_[waiter_first_];
    w.pieces.clear();
    waiter_first_ = (waiter_first_ + 1) % waiters_.size();
    --waiter_count_;
    return std::move(w.done);
  }

  void serve_waiters() noexcept {
    while (waiter_count_ > 0 && usable_) {
      Waiter& w = waiters_[waiter_first_];
      const bool posted = w.single ? post_single(w.pieces[0]) : post_chain(w.pieces);
      if (!posted) return;
      Promise<Result<>> done = pop_waiter();
      done.set_value(Ok{});
    }
  }

  // --- receive

  // The device writes the header at the posted address and the frame right after it, so the
  // frame starts at the usual mbuf data offset.
  std::byte* posted_start(rte_mbuf* m) const noexcept {
    return static_cast<std::byte*>(m->buf_addr) + RTE_PKTMBUF_HEADROOM - config_.header_len;
  }

  // Refill in bursts of up to kRefillBurst, and never wait for more free slots than a small
  // ring can have.
  void refill() noexcept {
    bool added = false;
    const unsigned threshold = std::min<unsigned>(kRefillBurst, rx_.size());
    while (rx_.free_descriptors() >= threshold && !rx_.broken()) {
      const unsigned n = std::min<unsigned>(kRefillBurst, rx_.free_descriptors());
      std::array<rte_mbuf*, kRefillBurst> mbufs;
      if (rte_pktmbuf_alloc_bulk(config_.rx_pool, mbufs.data(), n) != 0) break;  // retried next poll
      for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = mbufs[i];
        const Segment s{device_address(posted_start(m), m), rx_posted_len_, true};
        rx_.add_one(s, reinterpret_cast<std::uint64_t>(m));
      }
      added = true;
    }
    if (added && rx_.publish() && !transport_.notify(rx_queue_index(config_.index)))
      rx_.mark_broken(ring::RingError::NotifyFailed);
  }

  // Why a received buffer is not delivered: the device broke a rule, or the frame's length is
  // outside what the application is promised (a jumbo frame from the wire, a runt).
  enum class DropReason { Device, Length, Other };

  void drop(rte_mbuf* m, DropReason why) noexcept {
    runtime::free_segment(m);
    counters_.rx_drops.add(1);
    if (why == DropReason::Device) counters_.device_errors.add(1);
    if (why == DropReason::Length) counters_.rx_length_errors.add(1);
  }

  // The frame being assembled is dropped; the buffers of it still to come are discarded as
  // they arrive (frame_left_), never read as frames of their own.
  void drop_partial(DropReason why = DropReason::Other) noexcept {
    if (!partial_) return;
    drop(partial_, why);
    partial_ = nullptr;
  }

  void deliver(rte_mbuf* m) noexcept {
    counters_.rx_pkts.add(1);
    counters_.rx_bytes.add(m->data_len);
    if (!sink_) {
      drop(m, DropReason::Other);
    } else if (!sink_->on_frame(config_.index, Buffer::adopt(m))) [[unlikely]] {
      counters_.rx_drops.add(1);  // nobody listens on this queue; the sink freed the frame
    }
  }

  std::size_t max_frame() const noexcept { return std::size_t{config_.mtu} + kEthernetHeaderLength; }

  // Two passes over a burst: first the used buffers are taken and each one's header line is
  // asked for, then they are looked at. The device's CPU has just written those lines; read
  // one frame at a time, each read would wait its turn for a line to cross between the CPUs.
  unsigned receive() noexcept {
    std::array<UsedChain, kRxBurst> used;
    unsigned n = 0;
    while (n < kRxBurst && rx_.take_used(used[n])) {
      __builtin_prefetch(posted_start(reinterpret_cast<rte_mbuf*>(used[n].token)));
      ++n;
    }
    for (unsigned i = 0; i < n; ++i) {
      const UsedChain& u = used[i];
      auto* m = reinterpret_cast<rte_mbuf*>(u.token);
      // Once the device lost the framing, nothing it completed after that is looked at.
      if (rx_.broken()) [[unlikely]]
        drop(m, DropReason::Other);
      else if (frame_left_ > 0)
        take_follower(m, u);
      else if (config_.mrg_rxbuf)
        take_merged_head(m, u);
      else
        take_whole(m, u);
    }
    return n;
  }

  // Without MRG_RXBUF every buffer is one whole frame, and a drop concerns that buffer only.
  // num_buffers is not looked at (C4: devices leave it unwritten then).
  void take_whole(rte_mbuf* m, const UsedChain& u) noexcept {
    // C1: never believe a length beyond what was posted.
    if (!u.len_valid || u.len > rx_posted_len_) {
      drop(m, u.len_valid ? DropReason::Device : DropReason::Other);
      return;
    }
    // C2: a header and an Ethernet header at the least; and no more than a frame of the MTU,
    // the most the application is promised (found by the mergeable-rx fuzz target).
    if (u.len < config_.header_len + kEthernetHeaderLength || u.len > config_.header_len + max_frame()) [[unlikely]] {
      drop(m, DropReason::Length);
      return;
    }
    m->data_off = RTE_PKTMBUF_HEADROOM;
    m->data_len = static_cast<std::uint16_t>(u.len - config_.header_len);
    m->pkt_len = m->data_len;
    deliver(m);
  }

  // §5.1.6.4.2: with MRG_RXBUF a frame's first buffer starts with the header, whose
  // num_buffers says how many buffers the frame takes. Whatever happens to the frame, exactly
  // that many buffers belong to it: a dropped frame's followers are discarded, never read as
  // frames (a sender on the wire chooses their bytes). A first buffer that does not say where
  // its frame ends leaves every later buffer unplaceable: the queue stops trusting the device.
  void take_merged_head(rte_mbuf* m, const UsedChain& u) noexcept {
    // A buffer an in-order batch completed has no length of its own (len_valid false), but
    // its header is there: the frame is dropped, its followers with it.
    if (u.len_valid && u.len < config_.header_len) {
      drop(m, DropReason::Device);
      rx_.mark_broken(ring::RingError::FramingLost);
      return;
    }
    // C10: the header is copied out of device-writable memory once, then only the copy is used.
    virtio_net_hdr hdr;
    std::memcpy(&hdr, posted_start(m), sizeof hdr);
    // C4: a frame of one buffer at least, and of no more buffers than the ring holds.
    if (hdr.num_buffers == 0 || hdr.num_buffers > rx_.size()) {
      drop(m, DropReason::Device);
      rx_.mark_broken(ring::RingError::FramingLost);
      return;
    }
    frame_left_ = static_cast<std::uint16_t>(hdr.num_buffers - 1);
    // C1: a length beyond what was posted drops the frame (its followers with it).
    if (!u.len_valid || u.len > rx_posted_len_) {
      drop(m, u.len_valid ? DropReason::Device : DropReason::Other);
      return;
    }
    const std::uint32_t data = u.len - config_.header_len;
    if (data > max_frame()) {
      drop(m, DropReason::Length);
      return;
    }
    m->data_off = RTE_PKTMBUF_HEADROOM;
    m->data_len = static_cast<std::uint16_t>(data);
    m->pkt_len = m->data_len;
    if (frame_left_ > 0) {
      partial_ = m;
      return;
    }
    finish_frame(m);
  }

  // §5.1.6.4.2: the rest of a merged frame follows in the next used buffers, data only. A Buffer
  // is one contiguous view, so the pieces are appended to the first mbuf (C5: exactly `len`
  // bytes of each; the frame may not outgrow MTU + Ethernet header). When the frame was
  // dropped already, its remaining buffers only go back to the pool.
  void take_follower(rte_mbuf* m, const UsedChain& u) noexcept {
    --frame_left_;
    if (!partial_) {
      runtime::free_segment(m);
      return;
    }
    if (!u.len_valid || u.len > rx_posted_len_) {  // C1
      runtime::free_segment(m);
      drop_partial(u.len_valid ? DropReason::Device : DropReason::Other);
      return;
    }
    if (partial_->data_len + u.len > max_frame() || u.len > rte_pktmbuf_tailroom(partial_)) {
      runtime::free_segment(m);
      drop_partial(DropReason::Length);
      return;
    }
    std::memcpy(rte_pktmbuf_mtod_offset(partial_, std::byte*, partial_->data_len), posted_start(m), u.len);
    partial_->data_len = static_cast<std::uint16_t>(partial_->data_len + u.len);
    partial_->pkt_len = partial_->data_len;
    runtime::free_segment(m);
    if (frame_left_ == 0) finish_frame(std::exchange(partial_, nullptr));
  }

  // C2 on the whole frame: at least an Ethernet header.
  void finish_frame(rte_mbuf* m) noexcept {
    if (m->data_len < kEthernetHeaderLength) {
      drop(m, DropReason::Length);
      return;
    }
    deliver(m);
  }

  QueuePairConfig config_;
  transport::Transport& transport_;
  Ring rx_;
  Ring tx_;
  DmaMemory zero_header_;  // the header of every frame that cannot carry its own
  std::uint32_t rx_posted_len_;
  const rte_mempool* placed_pool_ = nullptr;  // a pool whose frames were seen in device memory
  unsigned pending_tx_ = 0;
  bool wrote_since_poll_ = false;
  std::vector<TxRecord> records_;
  std::vector<std::uint16_t> free_records_;
  std::vector<Waiter> waiters_;  // a ring of writers waiting for space, oldest first
  std::size_t waiter_first_ = 0, waiter_count_ = 0;
  // Mergeable receive (§5.1.6.4.2): the frame being assembled in its first buffer, if any, and
  // how many of its buffers are still to come (discarded when the frame was dropped).
  rte_mbuf* partial_ = nullptr;
  std::uint16_t frame_left_ = 0;
  // The transmit watchdog's view (watch_progress).
  std::uint64_t tx_completed_ = 0, watched_completed_ = 0;
  std::chrono::steady_clock::time_point last_progress_{};
  bool stalled_ = false;
  bool abandoned_ = false;  // A12: the rings and their buffers were left to the device
};

template <typename Ring>
Result<std::unique_ptr<QueuePair>> make(const QueuePairConfig& c, transport::Transport& t) {
  ring::RingOptions o{c.rx_size, c.event_idx, c.in_order, c.address_mode, c.socket};
  auto rx = Ring::create(o);
  if (!rx) return std::move(rx).error();
  o.size = c.tx_size;
  if (c.indirect) o.indirect_max = kMaxWritevPieces + 1;  // the header and every piece
  auto tx = Ring::create(o);
  if (!tx) return std::move(tx).error();
  auto header = DmaMemory::allocate(c.header_len, 64, c.address_mode, c.socket);
  if (!header) return std::move(header).error();
  return std::unique_ptr<QueuePair>(
      std::make_unique<RingQueuePair<Ring>>(c, t, std::move(*rx), std::move(*tx), std::move(*header)));
}

}  // namespace

Result<std::unique_ptr<QueuePair>> QueuePair::create(const QueuePairConfig& c, transport::Transport& t) {
  if (RTE_PKTMBUF_HEADROOM < c.header_len) return Error::unknown("mbuf headroom is smaller than the virtio-net header");
  return c.packed ? make<ring::PackedRing>(c, t) : make<ring::SplitRing>(c, t);
}

}  // namespace netfront::virtio::net
