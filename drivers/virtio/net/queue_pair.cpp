#include "drivers/virtio/net/queue_pair.hpp"

#include <chrono>
#include <optional>
#include <string>

#include "drivers/virtio/net/rx_queue.hpp"
#include "drivers/virtio/net/tx_queue.hpp"
#include "drivers/virtio/net/tx_watchdog.hpp"
#include "drivers/virtio/net/writer_queue.hpp"
#include "drivers/virtio/ring/packed_ring.hpp"
#include "drivers/virtio/ring/split_ring.hpp"
#include "netfront/frame_limits.hpp"
#include "runtime/device_memory.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::net {
namespace {

// A queue pair over one ring layout: its receive queue, its transmit queue, the writers
// waiting for transmit room and the transmit watchdog, run by one loop.
template <ring::Virtqueue Ring>
class RingQueuePair final : public QueuePair {
 public:
  RingQueuePair(const QueuePairConfig& c, transport::Transport& t, Ring rx, Ring tx, ring::DmaMemory headers)
      : config_(c), transport_(t), rx_(c, t, std::move(rx)), tx_(c, t, std::move(tx), std::move(headers)) {}

  ~RingQueuePair() override { reset(nullptr); }

  Result<> start() override {
    for (auto [index, addresses, size] :
         {std::tuple{rx_queue_index(config_.index), rx_.ring().addresses(), rx_.ring().size()},
          std::tuple{tx_queue_index(config_.index), tx_.ring().addresses(), tx_.ring().size()}}) {
      if (auto r = transport_.enable_queue({index, size, addresses}); !r) return r;
    }
    rx_.refill(/*notify=*/false);
    if (rx_.ring().in_flight() == 0) return Fault(DeviceError::NoBuffers, "no receive buffers could be posted (packet pool exhausted)");
    usable_ = true;
    return Ok{};
  }

  void notify_receive_buffers() noexcept override { rx_.notify_posted(); }

  // HOT PATH: once per loop iteration per queue pair.
  unsigned poll() override {
    unsigned work = 0;
    // A writer waiting needs the room at once.
    if (tx_.reclaim_due() || !writers_.empty()) work += tx_.reclaim();
    tx_.start_poll();
    serve_writers();
    tx_.flush();
    work += rx_.receive(sink_, counters_);
    rx_.refill();
    return work;
  }

  // HOT PATH: one call per written frame. The common case (room on the ring, nobody waiting,
  // a frame only we view) is one function from here to the descriptor with no call in it but
  // the flush every TxQueue::kFlushBurst frames; everything else is out of line
  // (transmit_slowly).
  io<WriteResult> transmit(Buffer&& frame) override {
    if (usable_ && writers_.empty() && tx_.post_fast(frame, counters_)) [[likely]] {
      tx_.flush_if_due();
      return make_ready_io(WriteResult(Ok{}));
    }
    return transmit_slowly(std::move(frame));
  }

  io<WriteResult> transmit_chain(std::span<const Buffer> pieces) override {
    if (auto refused = refuse_chain(pieces)) return make_ready_io(WriteResult(std::move(*refused)));
    return post_or_park([&] { return tx_.post_chain(pieces, counters_); },
                        [&](WriterQueue::Writer& w) {
                          w.single = false;
                          w.pieces.assign(pieces.begin(), pieces.end());
                        });
  }

  io<WriteResult> transmit_with_header(std::span<const Buffer> pieces, const virtio_net_hdr& header) override {
    if (auto refused = refuse_chain(pieces)) return make_ready_io(WriteResult(std::move(*refused)));
    return post_or_park([&] { return tx_.post_with_header(pieces, header, counters_); },
                        [&](WriterQueue::Writer& w) {
                          w.single = false;
                          w.header = header;
                          w.pieces.assign(pieces.begin(), pieces.end());
                        });
  }

  void reset(const Error* why) override {
    usable_ = false;
    if (!abandoned_) {
      tx_.reset(counters_);
      rx_.reset(counters_);
      watchdog_.restart();  // the watchdog starts over with the rings
    }
    if (why) fail_writers(*why);
  }

  void abandon(const Error* why) override {
    usable_ = false;
    abandoned_ = true;
    rx_.abandon(counters_);
    tx_.abandon(counters_);
    if (why) fail_writers(*why);
  }

  void fail_writers(const Error& why) override { writers_.fail_all(why); }
  bool has_writers() const noexcept override { return !writers_.empty(); }

  void watch_progress(std::chrono::steady_clock::time_point now, std::chrono::milliseconds limit) override {
    tx_.reclaim();  // completions poll() has not taken yet are progress too
    const std::uint16_t in_flight = tx_.ring().in_flight();
    const TxWatchdog::Verdict verdict = watchdog_.look(now, limit, in_flight, tx_.completed());
    remind_device(now, limit, in_flight);
    switch (verdict) {
      case TxWatchdog::Verdict::Moving:
      case TxWatchdog::Verdict::Waiting:
        return;
      case TxWatchdog::Verdict::Resumed:
        runtime::logger("net").info("queue pair {}: transmit moving again", config_.index);
        return;
      case TxWatchdog::Verdict::Stalled:
        counters_.tx_stalls.add(1);
        runtime::logger("net").warn("queue pair {}: the device completed nothing sent for {} ms ({} frames in flight)",
                                    config_.index, limit.count(), in_flight);
        break;
      case TxWatchdog::Verdict::StillStalled:
        break;
    }
    if (!writers_.empty())
      fail_writers(Fault(DeviceError::NoAnswer, "transmit stalled: the device completed nothing for " + std::to_string(limit.count()) +
                                  " ms").to_error());
  }

  ring::RingError error() const noexcept override {
    return rx_.ring().broken() ? rx_.ring().error() : tx_.ring().error();
  }

  bool enable_notifications() noexcept override {
    bool work = rx_.ring().enable_notifications();
    if (!writers_.empty()) work = tx_.ring().enable_notifications() || work;  // room for them wakes us
    return !work && tx_.unpublished() == 0;
  }

  void disable_notifications() noexcept override {
    rx_.ring().disable_notifications();
    tx_.ring().disable_notifications();
  }

 private:
  // Only device memory is ever given to the device (runtime/device_memory.hpp): a frame built
  // elsewhere (an mbuf of another pool, adopted) is refused, not posted.
  static Error not_device_memory() {
    return Fault(DeviceError::BadArgument, "frame bytes are not in device memory, the only memory a device is given: build frames in "
                                           "buffers of a netfront PacketPool").to_error();
  }

  // Why a chain of `pieces` cannot go to the device at all, if it cannot.
  std::optional<Error> refuse_chain(std::span<const Buffer> pieces) const {
    // E1/E2 (§2.7.5.2): never a chain longer than the queue size, counting the entries of an
    // indirect table too.
    if (pieces.size() + 1 > tx_.ring().size())
      return Error::invalid_length("frame of " + std::to_string(pieces.size()) + " pieces needs more descriptors than the ring has");
    for (const Buffer& piece : pieces)
      if (!runtime::DeviceMemory::holds(piece.data(), piece.length())) return not_device_memory();
    return std::nullopt;
  }

  // post_fast() changed nothing when it said no, so this starts over.
  [[gnu::noinline]] io<WriteResult> transmit_slowly(Buffer&& frame) {
    if (!runtime::DeviceMemory::holds(frame.data(), frame.length())) return make_ready_io(WriteResult(not_device_memory()));
    return post_or_park([&] { return tx_.post_single(frame, counters_); },
                        [&](WriterQueue::Writer& w) {
                          w.single = true;
                          w.pieces.push_back(std::move(frame));
                        });
  }

  // Posts at once when the ring has room (reclaiming first if it has not); otherwise the frame
  // joins the writers waiting for room, behind any that wait already (FIFO).
  template <typename Post, typename Fill>
  io<WriteResult> post_or_park(Post&& post, Fill&& fill) {
    if (!usable_) return make_ready_io(WriteResult(refusal_));
    if (writers_.empty()) {
      bool posted = post();
      if (!posted) {
        tx_.reclaim();
        posted = post();
      }
      if (posted) {
        tx_.flush_if_due();
        return make_ready_io(WriteResult(Ok{}));
      }
    }
    counters_.tx_ring_full.add(1);
    tx_.flush();  // let the device see what is queued, so room comes back
    WriterQueue::Writer& w = writers_.park();
    fill(w);
    return w.done.get_io();
  }

  // §2.7.10, §2.8.10: suppression only says which notifications the device can do without,
  // and a device copes with ones it did not ask for (§2.8.16 says outright that a driver MAY
  // send several). A device that lost track of one (it suppressed them, or left its event index
  // behind, yet waits for a doorbell: QEMU's virtio-net can, after its network backend pushed
  // back) would otherwise wait forever with our buffers on its ring. So, at most once per look
  // period: a transmit queue that had chains in flight at the last reminder and now, with
  // nothing completed between, is notified again (counted: tx_renotified); a receive queue
  // that received nothing since the last reminder is notified again once, until it receives
  // again (not counted: an idle link looks the same). A ring found broken is left alone.
  void remind_device(std::chrono::steady_clock::time_point now, std::chrono::milliseconds limit,
                     std::uint16_t in_flight) noexcept {
    // The looks come on a fixed schedule, each a little late: the gate leaves room for that.
    if (!usable_ || tx_.ring().broken() || rx_.ring().broken() || now - last_reminder_ < TxWatchdog::look_period(limit) * 3 / 4)
      return;
    last_reminder_ = now;
    const std::uint64_t completed = tx_.completed();
    if (in_flight > 0 && in_flight_at_reminder_ > 0 && completed == completed_at_reminder_) {
      tx_.notify();
      if (!tx_.ring().broken()) counters_.tx_renotified.add(1);
    }
    in_flight_at_reminder_ = in_flight;
    completed_at_reminder_ = completed;
    const std::uint64_t received = counters_.rx_pkts.read() + counters_.rx_drops.read();
    if (received != received_at_reminder_) {
      rx_reminded_ = false;
    } else if (!rx_reminded_ && rx_.ring().in_flight() > 0) {
      rx_.notify_posted();
      rx_reminded_ = true;
    }
    received_at_reminder_ = received;
  }

  void serve_writers() noexcept {
    writers_.serve([&](WriterQueue::Writer& w) {
      if (!usable_) return false;
      if (w.single) return tx_.post_single(w.pieces[0], counters_);
      return w.header ? tx_.post_with_header(w.pieces, *w.header, counters_) : tx_.post_chain(w.pieces, counters_);
    });
  }

  QueuePairConfig config_;
  transport::Transport& transport_;
  RxQueue<Ring> rx_;
  TxQueue<Ring> tx_;
  WriterQueue writers_;
  TxWatchdog watchdog_;
  // remind_device's: what the last reminder saw.
  std::chrono::steady_clock::time_point last_reminder_{};
  std::uint16_t in_flight_at_reminder_ = 0;
  std::uint64_t completed_at_reminder_ = 0;
  std::uint64_t received_at_reminder_ = 0;
  bool rx_reminded_ = false;
  bool abandoned_ = false;  // A12: the rings and their buffers were left to the device
};

template <ring::Virtqueue Ring>
Result<std::unique_ptr<QueuePair>> make(const QueuePairConfig& c, transport::Transport& t) {
  ring::RingOptions o{.size = c.rx_size, .event_idx = c.event_idx, .in_order = c.in_order, .address_mode = c.address_mode,
                     .socket = c.socket, .legacy_layout = c.legacy_layout};
  auto rx = Ring::create(o);
  if (!rx) return std::move(rx).error();
  o.size = c.tx_size;
  if (c.indirect) o.indirect_max = kMaxWritevPieces + 1;  // the header and every piece
  auto tx = Ring::create(o);
  if (!tx) return std::move(tx).error();
  auto headers = ring::DmaMemory::allocate(TxQueue<Ring>::header_memory_size(), 64, c.address_mode, c.socket);
  if (!headers) return std::move(headers).error();
  return std::unique_ptr<QueuePair>(
      std::make_unique<RingQueuePair<Ring>>(c, t, std::move(*rx), std::move(*tx), std::move(*headers)));
}

}  // namespace

Result<std::unique_ptr<QueuePair>> QueuePair::create(const QueuePairConfig& c, transport::Transport& t) {
  if (RTE_PKTMBUF_HEADROOM < c.header_len) return Fault(DeviceError::BadArgument, "mbuf headroom is smaller than the virtio-net header");
  return c.packed ? make<ring::PackedRing>(c, t) : make<ring::SplitRing>(c, t);
}

}  // namespace netfront::virtio::net
