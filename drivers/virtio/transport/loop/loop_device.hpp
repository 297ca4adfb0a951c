// The in-process virtio-net device behind "loop:" ids: the device half of virtio 1.2 (status,
// features, config space, split or packed rings) in the same process as the driver, running as
// a poller on the same event loop. In echo mode every frame the driver transmits comes back on
// the same queue pair's receive queue, byte for byte; in sink mode it is consumed and counted.
// It never drops in echo mode: a frame waits on the transmit ring until receive buffers are
// there (so tests can demand every frame back). Tests reach it through faults() to make it
// misbehave in the ways the reliability checklist lists.
//
// It has a control queue (CTRL_VQ) and, built with more than one queue pair, offers MQ: only
// the first pair carries traffic until the driver sends VQ_PAIRS_SET (§5.1.6.5.5), and
// commands are answered when the driver rings the control queue's doorbell.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "drivers/virtio/device_side/device_ring.hpp"
#include "drivers/virtio/device_side/net_control_server.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/transport/transport.hpp"
#include "netfront/device_id.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/mac_address.hpp"

namespace netfront::virtio::transport::loop {

using device_side::DeviceChain;
using device_side::DeviceRing;
using device_side::DeviceSegment;
using device_side::UsedWrite;

// Switches for tests. One-shot faults fire at the next occasion and clear themselves;
// persistent ones hold until cleared.
struct LoopFaults {
  bool used_id_out_of_range = false;     // B1: next TX completion names id >= queue size
  bool used_id_not_outstanding = false;  // B2: next TX completion is written twice
  bool used_index_jump = false;          // B3 (split) / B5 (packed): corrupt the used index/flags
  bool in_order_batch_overreach = false; // B6 (split, in order): a batch's entry moves the used index by one only
  bool scribble_descriptors = false;     // B4: overwrite a TX chain's descriptors after reading them
  bool rx_len_too_long = false;          // C1: RX used len beyond what was posted
  bool rx_len_too_short = false;         // C2: RX used len shorter than header + Ethernet header
  bool rx_len_without_header = false;    // C4: RX used len shorter than the virtio-net header itself
  bool rx_follower_len_too_long = false; // C1: the second buffer of the next merged frame claims too much
  bool rx_num_buffers_zero = false;      // C4
  bool rx_num_buffers_too_many = false;  // C4
  bool tx_used_len_garbage = false;      // C3, persistent: TX used len is nonsense
  bool notify_fails = false;             // B9, persistent
  bool stall = false;                    // persistent: the device stops working its rings
  bool reject_features_ok = false;       // A1, persistent: FEATURES_OK never sticks
  bool unstable_config_generation = false;  // A8, persistent
  bool needs_reset = false;              // A13: set DEVICE_NEEDS_RESET (one-shot)
  bool mq_without_ctrl_vq = false;       // A2, persistent: offer MQ without CTRL_VQ
  bool no_version_1 = false;             // A3, persistent
  std::uint64_t withdraw_features = 0;   // F5, persistent: stop offering these (seen at the next reset)
  std::optional<std::uint16_t> mtu;      // A5: offer this MTU
  std::optional<MacAddress> mac;         // A6: offer this MAC
  std::optional<std::uint16_t> max_virtqueue_pairs;  // A4: report this instead of the real count
  // A11, persistent: queue index -> the largest size that queue takes (below size=N), so that
  // queues of one device differ; a larger size is refused at set-up, as a device would.
  std::map<std::uint16_t, std::uint16_t> queue_max_sizes;
  // Persistent: write at most this many bytes into each receive buffer, so frames spread over
  // several buffers (MRG_RXBUF) and non-final buffers are not full (C5).
  std::optional<std::uint32_t> rx_chunk;
  // A12, persistent: a reset is never completed (status never reads back 0) and the device
  // goes on working the rings it has; with dma_not_revocable nothing can cut it off from the
  // driver's memory either (else revoke_dma() stops it, like bus mastering turned off).
  bool reset_never_completes = false;
  bool dma_not_revocable = false;
  bool control_no_answer = false;        // D1, persistent: control commands are never answered
  std::optional<std::uint8_t> control_ack;  // D2, persistent: answer every command with this byte
  // Persistent: a device gone bad writes garbage wherever it can reach, this many times each
  // poll: random bytes at random places of all the driver's device memory in use (packet data
  // rooms, headers, indirect tables), its own rings too with scribble_rings.
  unsigned scribble = 0;
  bool scribble_rings = false;
  // Not a fault: every device status the driver writes (0 for a reset), kept where a test
  // can read it after the device is gone.
  std::shared_ptr<std::vector<std::uint8_t>> status_log;
};

struct LoopDeviceCounters {
  std::uint64_t tx_frames = 0;   // frames taken from the driver's transmit queues
  std::uint64_t tx_indirect = 0; // ... of them described by an indirect table
  std::uint64_t rx_frames = 0;   // frames written into the driver's receive queues
  // Doorbells may ring from the threads of handed-over pairs.
  std::atomic<std::uint64_t> notifications{0};
  std::uint64_t resets = 0;
  std::uint64_t dropped = 0;     // sink mode, or frames no receive chain could hold
  std::uint64_t control_commands = 0;
  std::uint64_t scribbles = 0;   // garbage writes made (LoopFaults::scribble)
};

// What one queue pair of the device moved.
struct LoopPairCounters {
  std::uint64_t tx_frames = 0;
  std::uint64_t rx_frames = 0;
};

class LoopDevice final : public transport::Transport, public Poller {
 public:
  // Registers itself as a poller of `loop` (if given) for its lifetime. `queue_pairs` is its
  // max_virtqueue_pairs.
  LoopDevice(const LoopOptions& options, unsigned queue_pairs, EventLoop* loop);
  ~LoopDevice() override;

  // Transport
  std::string describe() const override;
  ring::AddressMode address_mode() const noexcept override { return ring::AddressMode::VirtualAddress; }
  Result<> reset() override;
  bool revoke_dma() noexcept override;
  std::uint8_t status() override { return status_; }
  void set_status(std::uint8_t status) override;
  std::uint64_t device_features() override;
  void set_driver_features(std::uint64_t features) override { driver_features_ = features; }
  std::uint32_t config_generation() override;
  std::size_t config_size() const override;
  void read_config(std::size_t offset, std::span<std::byte> out) override;
  std::uint16_t queue_count() override { return virtio::net::queue_count_of(pairs_); }
  std::uint16_t queue_max_size(std::uint16_t index) override;
  Result<> enable_queue(const transport::QueueSetup& setup) override;
  bool notify(std::uint16_t index) noexcept override;

  // Poller: the device works its rings once per loop iteration.
  unsigned poll() override;

  // For tests
  LoopFaults& faults() noexcept { return faults_; }
  const LoopDeviceCounters& counters() const noexcept { return counters_; }
  const LoopPairCounters& pair_counters(unsigned pair) const noexcept { return pair_counters_[pair]; }
  // Queue pairs the driver enabled (1 until VQ_PAIRS_SET says otherwise).
  unsigned active_pairs() const noexcept { return active_pairs_; }
  std::uint64_t negotiated_features() const noexcept { return driver_features_; }
  void set_link(bool up) noexcept { link_up_ = up; ++generation_; }
  // Puts a frame on queue pair `pair`'s receive queue as if it came from the wire.
  bool inject(unsigned pair, std::span<const std::byte> frame);

 private:
  struct Pair;
  unsigned work_tx(Pair& p);
  bool ensure_rx(Pair& p, std::size_t bytes);
  std::size_t room_of(const DeviceChain& c) const noexcept;
  bool deliver(Pair& p, std::span<const std::byte> frame);
  void complete_tx(Pair& p, const DeviceChain& chain);
  std::uint32_t control_index() const noexcept;
  std::uint8_t control_command(std::uint8_t cls, std::uint8_t command, std::span<const std::byte> data);
  unsigned serve_control();
  void scribble();

  LoopOptions options_;
  unsigned pairs_;
  unsigned active_pairs_ = 1;
  EventLoop* loop_;
  std::uint8_t status_ = 0;
  std::uint64_t driver_features_ = 0;
  std::uint32_t generation_ = 0;
  bool link_up_ = true;
  bool cut_off_ = false;  // revoke_dma(): it touches the driver's memory no more
  std::vector<std::unique_ptr<Pair>> queues_;
  std::unique_ptr<device_side::NetControlServer> control_;
  std::vector<LoopPairCounters> pair_counters_;
  std::vector<std::byte> scratch_;  // one frame being echoed
  std::vector<std::pair<std::byte*, std::size_t>> ring_areas_;  // what the driver's rings occupy
  std::vector<std::pair<std::byte*, std::size_t>> just_used_;   // receive buffers used this poll (scribble)
  std::uint64_t random_ = 0x9e3779b97f4a7c15;                   // xorshift state for scribbles
  LoopFaults faults_;
  LoopDeviceCounters counters_;
};

}  // namespace netfront::virtio::transport::loop
