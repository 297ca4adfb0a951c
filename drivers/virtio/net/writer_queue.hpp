// Writers waiting for room on a transmit ring, oldest first: a write that finds the ring full
// parks here with its frame, and is posted when completions make room, or failed (the device
// was reset, stalled or went away: F10, a write never waits forever).
//
// The slots are reused (RingQueue::push_slot): a writer's vector of pieces keeps its capacity
// for the next one parked in that slot, so once the queue was used, parking allocates nothing.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "netfront/buffer.hpp"
#include "netfront/detail/ring_queue.hpp"
#include "drivers/virtio/net/device_error.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "netfront/io.hpp"

namespace netfront::virtio::net {

class WriterQueue {
 public:
  struct Writer {
    Promise<WriteResult> done;
    std::vector<Buffer> pieces;  // the frame, or the pieces of a writev
    bool single = true;          // one frame (write), not pieces (writev)
    std::optional<virtio_net_hdr> header;  // a frame with offloads: its own header
  };

  // Each of the first slots has room for one piece already, so that a writer parked there
  // with one frame allocates nothing, even the first time.
  WriterQueue() : writers_(kSlots) {
    for (unsigned i = 0; i < kSlots; ++i) writers_.push_slot().pieces.reserve(1);
    for (unsigned i = 0; i < kSlots; ++i) writers_.pop_front();
  }

  bool empty() const noexcept { return writers_.empty(); }

  // A writer at the back, with no pieces yet.
  Writer& park() {
    Writer& w = writers_.push_slot();
    w.pieces.clear();
    w.header.reset();
    return w;
  }

  // Posts the oldest writers' frames while post(writer) succeeds, and completes each posted one.
  template <typename Post>
  void serve(Post&& post) noexcept {
    while (!writers_.empty()) {
      if (!post(writers_.front())) return;
      pop().set_value(Ok{});
    }
  }

  // Fails every writer with `why`, oldest first.
  void fail_all(const Error& why) {
    while (!writers_.empty()) pop().set_value(why);
  }

 private:
  static constexpr unsigned kSlots = 16;

  Promise<WriteResult> pop() noexcept {
    Writer& w = writers_.front();
    w.pieces.clear();  // the frames' references go now, not when the slot is next used
    writers_.pop_front();
    return std::move(w.done);
  }

  detail::RingQueue<Writer> writers_;
};

}  // namespace netfront::virtio::net
