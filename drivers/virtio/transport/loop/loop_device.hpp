// The in-process virtio-net device behind "loop:" ids: the device half of virtio 1.2 (status,
// features, config space, split or packed rings) in the same process as the driver, running as
// a poller on the same event loop. In echo mode every frame the driver transmits comes back on
// the same queue pair's receive queue, byte for byte; in sink mode it is consumed and counted.
// It never drops in echo mode: a frame waits on the transmit ring until receive buffers are
// there (so tests can demand every frame back). Tests build it with a set of faults
// (test/support/loop_faults.hpp) to make it misbehave in the ways docs/reliability.md lists.
//
// It offers the offloads a real device does. A frame sent with a partial checksum comes back
// partial to a driver that takes them (GUEST_CSUM on), completed otherwise; a segmentation
// request comes back as the segments a wire would carry, checksums complete (DATA_VALID).
//
// It filters what it receives as the driver asks (CTRL_RX, CTRL_RX_EXTRA, CTRL_MAC_ADDR,
// CTRL_VLAN), starting promiscuous as QEMU's virtio-net does: an echoed or injected frame the
// filters keep out is counted (filtered) and never reaches the driver.
//
// It has a control queue (CTRL_VQ) and, built with more than one queue pair, offers MQ: only
// the first pair carries traffic until the driver sends VQ_PAIRS_SET (§5.1.6.5.5), and
// commands are answered when the driver rings the control queue's doorbell.
//
// It offers the hash report (HASH_REPORT) and, with the id's rss, RSS (device_side/rss_model):
// with steering configured an echoed or injected frame goes to the pair the indirection table
// gives its hash, not the pair it came on.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "drivers/virtio/device_side/device_ring.hpp"
#include "drivers/virtio/device_side/net_control_server.hpp"
#include "drivers/virtio/device_side/rss_model.hpp"
#include "drivers/virtio/device_side/rx_filter_model.hpp"
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

// The device as it behaves. A test-only build of it misbehaves on demand: `Faults` is then
// the test's switch board (test/support/loop_faults.hpp); here it is NoFaults, and the
// production library holds no fault code at all.
struct NoFaults {
  static constexpr bool kEnabled = false;
};

struct LoopDeviceCounters {
  std::uint64_t tx_frames = 0;   // frames taken from the driver's transmit queues
  std::uint64_t tx_indirect = 0; // ... of them described by an indirect table
  std::uint64_t rx_frames = 0;   // frames written into the driver's receive queues
  // Doorbells may ring from the threads of handed-over pairs.
  std::atomic<std::uint64_t> notifications{0};
  std::atomic<std::uint64_t> early_notifications{0};  // ... of them before DRIVER_OK (§3.1.1 forbids them)
  std::uint64_t resets = 0;
  std::uint64_t dropped = 0;     // sink mode, or frames no receive chain could hold
  std::uint64_t control_commands = 0;
  std::uint64_t announcements_acked = 0;
  std::uint64_t scribbles = 0;   // garbage writes made (a faulty build's scribble switch)
  std::uint64_t checksums_completed = 0;  // partial checksums it filled in
  std::uint64_t segments = 0;    // frames it cut segmentation requests into
  std::uint64_t bad_offloads = 0;  // transmitted frames whose offload header was wrong (dropped)
  std::uint64_t filtered = 0;    // frames its receive filters kept from the driver
};

// What one queue pair of the device moved.
struct LoopPairCounters {
  std::uint64_t tx_frames = 0;
  std::uint64_t rx_frames = 0;
};

template <class Faults>
class BasicLoopDevice final : public transport::Transport, public Poller {
 public:
  // Registers itself as a poller of `loop` (if given) for its lifetime. `queue_pairs` is its
  // max_virtqueue_pairs.
  BasicLoopDevice(const LoopOptions& options, unsigned queue_pairs, EventLoop* loop);
  ~BasicLoopDevice() override;

  // Transport
  std::string describe() const override;
  ring::AddressMode address_mode() const noexcept override { return ring::AddressMode::VirtualAddress; }
  bool legacy() const noexcept override { return options_.legacy; }
  Result<> reset() override;
  bool revoke_dma() noexcept override;
  std::uint8_t status() override { return status_; }
  void set_status(std::uint8_t status) override;
  std::uint64_t device_features() override;
  void set_driver_features(std::uint64_t features) override {
    driver_features_ = features;
    guest_offloads_ = features & virtio::net::kGuestOffloadFeatures;  // all on (§5.1.6.5.6)
  }
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
  Faults& faults() noexcept
    requires Faults::kEnabled
  {
    return faults_;
  }
  const LoopDeviceCounters& counters() const noexcept { return counters_; }
  const LoopPairCounters& pair_counters(unsigned pair) const noexcept { return pair_counters_[pair]; }
  // Queue pairs the driver enabled (1 until VQ_PAIRS_SET says otherwise).
  unsigned active_pairs() const noexcept { return active_pairs_; }
  std::uint64_t negotiated_features() const noexcept { return driver_features_; }
  void set_link(bool up) noexcept { link_up_ = up; ++generation_; }
  // The speed and duplex fields as they are written (VIRTIO_NET_SPEED_UNKNOWN, _DUPLEX_*).
  void set_speed_duplex(std::uint32_t speed, std::uint8_t duplex) noexcept {
    speed_ = speed;
    duplex_ = duplex;
    ++generation_;
  }
  // Sets VIRTIO_NET_S_ANNOUNCE, as a device does after a live migration, until acknowledged.
  void request_announce() noexcept {
    announce_ = true;
    ++generation_;
  }
  bool announce_pending() const noexcept { return announce_; }
  // Puts a frame on queue pair `pair`'s receive queue as if it came from the wire, behind
  // `header` (num_buffers is the device's to write): a test's way to send any header at all.
  bool inject(unsigned pair, std::span<const std::byte> frame, const virtio::net::virtio_net_hdr& header = {});
  // The receive offloads the driver has on (GUEST_* bits, §5.1.6.5.6).
  std::uint64_t guest_offloads() const noexcept { return guest_offloads_; }
  // What the driver's receive filter commands set (§5.1.6.5.1-3).
  const device_side::RxFilterModel& rx_filter() const noexcept { return filter_; }
  // What the driver's RSS and hash commands set.
  const device_side::RssModel& rss() const noexcept { return rss_; }
  // The MAC in its configuration space: its own, or the one the driver set.
  MacAddress mac() const noexcept;

 private:
  static constexpr bool kFaulty = Faults::kEnabled;
  static constexpr std::uint16_t kMtu = 1500;  // what it offers in VIRTIO_NET_F_MTU
  // Receive buffers held before a frame that may be a segmentation request is taken: the
  // segments of a 64 KiB frame of TCP's usual segment size.
  static constexpr std::size_t kSegmentsAtOnce = 48;
  // The longest transmitted chain it reads: a header and a 64 KiB segmentation request, with room.
  static constexpr std::size_t kScratch = 72 * 1024;
  struct Pair;
  unsigned work_tx(Pair& p);
  bool ensure_rx(Pair& p, std::size_t bytes);
  bool ensure_rx_chains(Pair& p, std::size_t count);
  std::size_t room_of(const DeviceChain& c) const noexcept;
  bool deliver(Pair& p, std::span<const std::byte> frame, const virtio::net::virtio_net_hdr& header);
  bool filtered_out(std::span<const std::byte> frame);
  Pair& steered(Pair& p, std::span<const std::byte> frame);
  // §5.1.6, as the device reads it (not the driver's net_header_length, so that the two
  // are checked against each other): 20 bytes with HASH_REPORT, 10 without VERSION_1 and
  // MRG_RXBUF (§5.1.6.1 legacy: no num_buffers), else 12.
  std::size_t header_length() const noexcept {
    using namespace virtio::net;
    if (has_feature(driver_features_, VIRTIO_NET_F_HASH_REPORT)) return sizeof(virtio_net_hdr) + sizeof(virtio_net_hash);
    if (!has_feature(driver_features_, VIRTIO_F_VERSION_1) && !has_feature(driver_features_, VIRTIO_NET_F_MRG_RXBUF)) return 10;
    return sizeof(virtio_net_hdr);
  }
  MacAddress own_mac() const noexcept;  // before the driver sets one
  void echo(Pair& p, std::span<std::byte> frame, const virtio::net::virtio_net_hdr& header);
  void complete_tx(Pair& p, const DeviceChain& chain);
  void flush_tx_batch(Pair& p);
  void push_tx_batch(Pair& p, std::uint16_t chains);
  bool complete_tx_faultily(Pair& p, const DeviceChain& chain, std::uint32_t len);
  std::uint32_t faulty_rx_len(const DeviceChain& c, std::uint16_t buffer, std::uint32_t len);
  std::uint32_t control_index() const noexcept;
  std::uint8_t control_command(std::uint8_t cls, std::uint8_t command, std::span<const std::byte> data);
  unsigned serve_control();
  void scribble();

  LoopOptions options_;
  unsigned pairs_;
  unsigned active_pairs_ = 1;
  EventLoop* loop_;
  std::uint8_t status_ = 0;
  std::atomic<bool> driver_ok_{false};  // status_'s DRIVER_OK, for doorbells rung on other threads
  std::uint64_t driver_features_ = 0;
  std::uint64_t guest_offloads_ = 0;  // the negotiated GUEST_* offloads the driver has on
  std::uint32_t generation_ = 0;
  bool link_up_ = true;
  bool announce_ = false;
  std::uint32_t speed_ = 10000;
  std::uint8_t duplex_ = 0x01;  // full
  bool cut_off_ = false;  // revoke_dma(): it touches the driver's memory no more
  std::vector<std::unique_ptr<Pair>> queues_;
  std::unique_ptr<device_side::NetControlServer> control_;
  device_side::RxFilterModel filter_;
  device_side::RssModel rss_;
  std::vector<LoopPairCounters> pair_counters_;
  std::vector<std::byte> scratch_;  // one frame being echoed
  // The faulty build's: what the driver's rings occupy, receive buffers used this poll, and
  // the xorshift state for scribbles.
  std::vector<std::pair<std::byte*, std::size_t>> ring_areas_;
  std::vector<std::pair<std::byte*, std::size_t>> just_used_;
  std::uint64_t random_ = 0x9e3779b97f4a7c15;
  [[no_unique_address]] Faults faults_;
  LoopDeviceCounters counters_;
};

using LoopDevice = BasicLoopDevice<NoFaults>;
extern template class BasicLoopDevice<NoFaults>;

}  // namespace netfront::virtio::transport::loop
