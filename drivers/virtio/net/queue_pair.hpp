// One receive queue and one transmit queue of a virtio-net device (virtio 1.2 §5.1.6), over
// either ring layout: the interface the device holds its pairs by. This is the per-packet
// path: nothing here allocates once warm, takes a lock, or throws.
//
// The parts, each in a file of its own: RxQueue (rx_queue.hpp: posting receive buffers,
// checking used ones, mergeable assembly), TxQueue (tx_queue.hpp: posting frames, the doorbell
// once per burst, taking completed frames back), WriterQueue (writers waiting for transmit
// room) and TxWatchdog (a device that stopped completing). queue_pair.cpp puts them together.
#pragma once

#include <rte_mbuf.h>

#include <chrono>

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <span>

#include "drivers/netif/net_device.hpp"
#include "drivers/virtio/net/device_error.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/ring/ring_error.hpp"
#include "drivers/virtio/transport/transport.hpp"
#include "netfront/buffer.hpp"
#include "netfront/io.hpp"
#include "netfront/rss.hpp"
#include "netfront/stats.hpp"

namespace netfront::virtio::net {

struct QueuePairConfig {
  unsigned index = 0;  // queue pair number
  std::uint16_t rx_size = 256;
  std::uint16_t tx_size = 256;
  bool packed = false;
  bool event_idx = false;
  bool in_order = false;
  bool mrg_rxbuf = false;
  bool indirect = false;  // VIRTIO_F_INDIRECT_DESC: writev chains go out as one indirect entry
  bool rx_checksum = false;  // VIRTIO_NET_F_GUEST_CSUM: received headers carry checksum states
  // HASH_REPORT: received headers carry a hash, of one of these types (those the device supports).
  bool hash_report = false;
  HashTypes hash_types{};
  std::uint16_t header_len = 12;
  std::uint16_t mtu = 1500;
  ring::AddressMode address_mode = ring::AddressMode::VirtualAddress;
  bool legacy_layout = false;  // RingOptions::legacy_layout
  rte_mempool* rx_pool = nullptr;
  int socket = -1;
};

class QueuePair {
 public:
  static Result<std::unique_ptr<QueuePair>> create(const QueuePairConfig& config, transport::Transport& transport);
  virtual ~QueuePair() = default;

  // Tells the device where the rings are and fills the receive ring.
  virtual Result<> start() = 0;
  // Once DRIVER_OK is set (§3.1.1: no notification before it): the doorbell for the receive
  // buffers start() posted.
  virtual void notify_receive_buffers() noexcept = 0;
  // One round: reclaim, serve waiting writers, receive, refill, ring doorbells. Returns work done.
  virtual unsigned poll() = 0;
  virtual io<WriteResult> transmit(Buffer&& frame) = 0;
  virtual io<WriteResult> transmit_chain(std::span<const Buffer> pieces) = 0;
  // One frame of `pieces` behind `header` (checked already), a header of its own.
  virtual io<WriteResult> transmit_with_header(std::span<const Buffer> pieces, const virtio_net_hdr& header) = 0;

  // After the device was reset (it no longer touches our memory): give back every buffer in
  // flight, fail waiting writers with `why` if set, and start over from empty rings.
  virtual void reset(const Error* why) = 0;
  // A12: the device was not confirmed stopped and may still use the rings and every buffer it
  // was given, so none of it is freed or reused, ever (the memory stays with the process).
  // Writers waiting fail with `why` if set; the pair is not used again.
  virtual void abandon(const Error* why) = 0;

  // The loop wants to sleep: turn used-buffer notifications on for the receive queue, and for
  // the transmit queue while writers wait for room. False when work is already there (the
  // race of §2.7.7: enable, then look once more), with notifications left on.
  virtual bool enable_notifications() noexcept = 0;
  // Back to polling: notifications off again.
  virtual void disable_notifications() noexcept = 0;

  // F10: the transmit watchdog, run every so often by the pair's own loop. With chains in
  // flight and nothing completed for `limit`, the pair counts a stall (tx_stalls, one log
  // line) and fails the writers waiting for room, as it does at every later look until the
  // device moves again: a write never waits on a stalled device for much longer than `limit`.
  virtual void watch_progress(std::chrono::steady_clock::time_point now, std::chrono::milliseconds limit) = 0;

  // Why the queue stopped trusting the device, if it did.
  virtual ring::RingError error() const noexcept = 0;

  void set_sink(drivers::FrameSink* sink) noexcept { sink_ = sink; }
  // Whether writes are accepted; when they are not, what a write gets (the device's failure,
  // its link down, its close), so that the application can tell why.
  void set_usable(bool usable, const Error& refusal) {
    usable_ = usable;
    if (!usable) refusal_ = refusal;
  }
  // Fails every writer waiting for ring space (F10: a write never waits forever). Only on the
  // thread that owns the pair: writers are its coroutines.
  virtual void fail_writers(const Error& why) = 0;
  virtual bool has_writers() const noexcept = 0;
  // From another thread, while the owner is held still: the writers are failed with `why` by
  // the owner at settle().
  void defer_failure(const Error& why) { deferred_failure_ = why; }
  void settle() {
    if (!deferred_failure_) return;
    const Error why = *std::exchange(deferred_failure_, std::nullopt);
    fail_writers(why);
  }
  const drivers::QueueCounters& counters() const noexcept { return counters_; }
  void note_device_error() noexcept { counters_.device_errors.add(1); }

 protected:
  drivers::QueueCounters counters_;
  drivers::FrameSink* sink_ = nullptr;
  bool usable_ = false;  // link up and device trusted: writes are accepted
  Error refusal_ = Error::disconnected();
  std::optional<Error> deferred_failure_;
};

}  // namespace netfront::virtio::net
