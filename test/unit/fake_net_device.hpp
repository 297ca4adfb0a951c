// A NetDevice played by the test: a "ring" of a few slots whose completions the test drives,
// and a receive side the test feeds. It stands in for a driver so that the Netif front end
// (validation, listen/disconnect life cycle, stats) is tested alone. Its storage is sized up
// front, so it adds no heap allocation of its own to what the allocation test measures.
#pragma once

#include <deque>
#include <vector>

#include "drivers/netif/net_device.hpp"

namespace netfront::testing {

class FakeNetDevice final : public drivers::NetDevice {
 public:
  explicit FakeNetDevice(unsigned queues = 1, unsigned ring_slots = 4) : counters_(queues), slots_(ring_slots) {
    sent_.reserve(4096);
    piece_counts_.reserve(4096);
  }

  MacAddress mac() const noexcept override { return {{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}}; }
  std::uint16_t mtu() const noexcept override { return 1500; }
  bool link_up() const noexcept override { return !shut_down_; }
  unsigned queue_pairs() const noexcept override { return static_cast<unsigned>(counters_.size()); }
  const drivers::QueueCounters& counters(unsigned q) const noexcept override { return counters_[q]; }

  io<Result<>> transmit(unsigned queue, Buffer&& frame) override {
    return transmit_chain(queue, std::span<const Buffer>(&frame, 1));
  }

  io<Result<>> transmit_chain(unsigned queue, std::span<const Buffer> pieces) override {
    ++transmit_calls_;
    if (shut_down_) return make_ready_io(Result<>(Error::disconnected()));
    if (in_flight_ == slots_) {
      // Ring full: keep the frame (our own references) and complete once a slot frees up.
      counters_[queue].tx_ring_full.add(1);
      waiting_.assign(pieces.begin(), pieces.end());
      return waiter_.get_io();
    }
    place(queue, pieces);
    return make_ready_io(Result<>(Ok{}));
  }

  void set_sink(drivers::FrameSink* sink) noexcept override { sink_ = sink; }
  rte_mempool* frame_pool() const noexcept override { return frame_pool_; }
  // Before the Netif is attached: where the fill-style write builds frames.
  void set_frame_pool(rte_mempool* pool) noexcept { frame_pool_ = pool; }

  io<void> close() override {
    shut_down_ = true;
    sent_.clear();  // gives back every buffer we held
    waiting_.clear();
    in_flight_ = 0;
    if (waiter_.waiting()) waiter_.set_value(Error::disconnected());
    return make_ready_io();
  }

  // --- driven by the test
  // The device finished `n` frames: their slots free up, and a waiting frame takes one.
  void complete(unsigned n) {
    in_flight_ -= std::min(n, in_flight_);
    if (!waiting_.empty() && in_flight_ < slots_) {
      place(0, waiting_);
      waiting_.clear();
      waiter_.set_value(Ok{});
    }
  }
  // A frame arrives on `queue`.
  void receive(Buffer frame, unsigned queue = 0) {
    if (!sink_) {
      counters_[queue].rx_drops.add(1);
      return;
    }
    counters_[queue].rx_pkts.add(1);
    counters_[queue].rx_bytes.add(frame.length());
    if (!sink_->on_frame(queue, std::move(frame))) counters_[queue].rx_drops.add(1);
  }
  void count_tx_on(unsigned queue, std::uint64_t bytes) {
    counters_[queue].tx_pkts.add(1);
    counters_[queue].tx_bytes.add(bytes);
  }

  const std::vector<Buffer>& sent() const { return sent_; }
  const std::vector<unsigned>& piece_counts() const { return piece_counts_; }
  unsigned transmit_calls() const { return transmit_calls_; }
  bool shut_down() const { return shut_down_; }
  void forget_sent() { sent_.clear(); piece_counts_.clear(); }

 private:
  void place(unsigned queue, std::span<const Buffer> pieces) {
    std::size_t bytes = 0;
    for (const Buffer& b : pieces) {
      sent_.push_back(b);
      bytes += b.length();
    }
    piece_counts_.push_back(static_cast<unsigned>(pieces.size()));
    ++in_flight_;
    count_tx_on(queue, bytes);
  }

  std::vector<drivers::QueueCounters> counters_;
  unsigned slots_;
  unsigned in_flight_ = 0;
  std::vector<Buffer> sent_;
  std::vector<unsigned> piece_counts_;
  std::vector<Buffer> waiting_;
  Promise<Result<>> waiter_;
  drivers::FrameSink* sink_ = nullptr;
  rte_mempool* frame_pool_ = nullptr;
  unsigned transmit_calls_ = 0;
  bool shut_down_ = false;
};

}  // namespace netfront::testing
