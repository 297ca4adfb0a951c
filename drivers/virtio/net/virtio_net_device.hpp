// A virtio-net device driven by netfront over any transport: brings it up with the
// initialization sequence of virtio 1.2 §3.1.1, runs its queue pairs as one poller of the
// thread's event loop, and recovers from DEVICE_NEEDS_RESET (A13). A queue that catches the
// device breaking a ring rule stops the device for the application (Disconnected) rather than
// trusting it further.
//
// A queue pair may be handed to another thread's loop (hand_over): that loop then polls it and
// owns its writers and frames, sharing nothing with the others on the data path. Device-wide
// work (reset, link changes, close) holds those loops still for its duration
// (runtime::LoopPause) and lets each owner finish its part on its own thread.
//
// Its parts by file: device_bring_up.cpp (§3.1.1, and the queues), device_recovery.cpp (link
// status, DEVICE_NEEDS_RESET), device_offloads.cpp (offloaded frames, receive offloads at run
// time), device_filters.cpp (receive filters and the MAC), device_rss.cpp (RSS and the hash
// report), virtio_net_device.cpp (polling, hand-over to other loops,
// failing and closing); a pair handed over is polled by a PairPoller (pair_poller.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "drivers/netif/net_device.hpp"
#include "drivers/virtio/net/control_queue.hpp"
#include "drivers/virtio/net/features.hpp"
#include "drivers/virtio/net/interrupt_watch.hpp"
#include "drivers/virtio/net/net_config.hpp"
#include "drivers/virtio/net/pair_loops.hpp"
#include "drivers/virtio/net/queue_pair.hpp"
#include "drivers/virtio/transport/transport.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/packet_pool.hpp"

namespace netfront::virtio::net {

struct DeviceOptions {
  unsigned queue_pairs = 1;
  // We use min(this, what the device offers). 256, as DPDK's virtio PMDs and QEMU default to:
  // a vhost-user backend offers up to 32768, and a longer ring only keeps more frames (and
  // their cache lines) circulating, none of them faster (docs/benchmarks.md).
  std::uint16_t max_queue_size = 256;
  Offloads offloads{};                   // asked for: negotiated where the device offers them
  std::uint16_t mtu = 0;                 // the MTU to use (0: the device's, or 1500 where it says none)
  bool vlan_filter = false;              // negotiate CTRL_VLAN: tagged frames of VLANs not added are dropped
  bool hash_report = false;              // negotiate HASH_REPORT: frames carry the device's hash
  bool access_platform = false;          // require VIRTIO_F_ACCESS_PLATFORM (IOMMU)
  bool accept_access_platform = false;   // accept it if offered (PCI without an IOMMU)
  std::uint64_t declined_features = 0;   // never accept these, even if offered
  std::chrono::milliseconds control_timeout{2000};  // per control-queue command (D1)
  std::chrono::milliseconds tx_stall_timeout{2000};  // transmit watchdog (F10)
};

class VirtioNetDevice final : public drivers::NetDevice, public Poller {
 public:
  // Brings the device up on the calling thread's event loop.
  static Result<std::unique_ptr<VirtioNetDevice>> open(std::unique_ptr<transport::Transport> transport,
                                                       const DeviceOptions& options = {});
  ~VirtioNetDevice() override;

  // NetDevice
  MacAddress mac() const noexcept override { return published_mac(); }
  std::uint16_t mtu() const noexcept override { return mtu_; }
  bool link_up() const noexcept override { return state_ == State::Running && config_.link.up; }
  LinkStatus link_status() const noexcept override;
  void set_link_observer(drivers::LinkObserver* observer) noexcept override { link_observer_ = observer; }
  unsigned queue_pairs() const noexcept override { return static_cast<unsigned>(pairs_.size()); }
  const drivers::QueueCounters& counters(unsigned queue) const noexcept override { return pairs_[queue]->counters(); }
  io<WriteResult> transmit(unsigned queue, Buffer&& frame) override { return pairs_[queue]->transmit(std::move(frame)); }
  io<WriteResult> transmit_chain(unsigned queue, std::span<const Buffer> pieces) override {
    return pairs_[queue]->transmit_chain(pieces);
  }
  Offloads offloads() const noexcept override { return offloads_of(features_); }
  io<WriteResult> transmit_offloaded(unsigned queue, std::span<const Buffer> pieces, const TxOffload& offload) override;
  io<netfront::Result<>> set_receive_offloads(const Offloads& on) override;
  io<netfront::Result<>> set_rx_mode(RxMode mode, bool on) override;
  io<netfront::Result<>> set_mac(const MacAddress& mac) override;
  io<netfront::Result<>> set_mac_filter(std::span<const MacAddress> unicast, std::span<const MacAddress> multicast) override;
  io<netfront::Result<>> set_vlan(std::uint16_t vlan, bool member) override;
  RxFilter rx_filter() const override { return rx_filter_; }
  RssCapabilities rss_capabilities() const noexcept override { return control_ ? config_.rss : RssCapabilities{}; }
  // RSS or the hash report negotiated, with the control queue that configures them.
  bool has_rss() const noexcept { return rss_capabilities().steering || rss_capabilities().hash_report; }
  io<netfront::Result<>> set_rss(const RssConfig& config) override;
  RssConfig rss_config() const override { return rss_; }
  void set_sink(drivers::FrameSink* sink) noexcept override;
  io<void> close() override;
  // From the device's own thread, before the pair carries traffic.
  netfront::Result<> hand_over(unsigned queue, EventLoop& loop) override;

  // Poller. The loop may sleep only when every queue can wake it (Transport::interrupt_fd).
  unsigned poll() override;
  bool arm_wakeup() override;
  void disarm_wakeup() override;

  int numa_node() const noexcept override { return numa_node_; }
  // The ring rule the device broke, if that is what failed it (RingError::None otherwise).
  ring::RingError broken_by() const noexcept { return broken_by_; }
  std::uint64_t features() const noexcept { return features_; }
  transport::Transport& transport() noexcept { return *transport_; }
  rte_mempool* rx_pool() const noexcept { return rx_pool_ ? rx_pool_->get() : nullptr; }
  // Frames built in place are taken from the receive pool: sized four times the receive
  // rings, it holds a transmit ring's worth beside them.
  rte_mempool* frame_pool() const noexcept override { return rx_pool(); }

 private:
  enum class State { Down, Running, Broken, Shut };

  VirtioNetDevice(std::unique_ptr<transport::Transport> t, const DeviceOptions& o, EventLoop& loop);
  Result<> hand_over_pair(unsigned queue, EventLoop& loop);
  Result<> negotiate();
  Result<> initialize();
  Result<> check_queue_pairs() const;
  Result<> choose_mtu();
  Result<> follow_config();
  Result<> create_queues();
  Result<> create_control_queue();
  Result<> start_queues();
  void fail(const Fault& why);
  void fail(ring::RingError e);
  ring::RingError poll_local_pairs(unsigned& work);
  Result<std::uint16_t> queue_size(std::uint16_t index, std::uint16_t cap) const;
  // What every ring of this device shares, from the negotiated features and the transport.
  template <typename RingConfig>
  void set_ring_layout(RingConfig& c) const noexcept;
  void check_device();
  void announce();
  std::uint64_t guest_offload_bits() const noexcept;
  Result<> send_receive_offloads();
  std::optional<netfront::Error> filter_refusal(unsigned feature, const char* what) const;
  Result<> restore_filters();
  bool tolerated(const Fault& why, const char* what) const;
  void after_control_failure();
  void publish_mac() noexcept;
  MacAddress published_mac() const noexcept;
  Result<> send_rss();
  Result<> send_rss_config(const RssConfig& c);
  void recover();
  void close_now(const Error* why);
  void reset_device(const Error* why);
  void update_usable();
  void watch_interrupts();
  bool local(unsigned pair) const noexcept { return pair_loops_.local(pair); }
  // Runs `op` with every pair still (PairLoops::hold_still); the pairs of other loops then
  // settle on their own threads.
  template <typename Op>
  void with_pairs_still(Op&& op) {
    pair_loops_.hold_still(op, [this](EventLoop& loop) { settle_pairs_of(loop); });
  }
  void settle_pairs_of(EventLoop& loop);
  void fail_pair_writers(unsigned pair, const Error& why);

  std::unique_ptr<transport::Transport> transport_;
  DeviceOptions options_;
  EventLoop& loop_;
  std::uint64_t features_ = 0;
  std::uint16_t header_len_ = 12;
  int numa_node_ = 0;  // rings, buffers and control memory live here
  NetConfig config_;
  std::uint16_t mtu_ = 1500;  // the MTU frames are checked against: the device's, or the id's mtu=
  std::optional<PacketPool> rx_pool_;
  std::vector<std::unique_ptr<QueuePair>> pairs_;
  std::unique_ptr<ControlQueue> control_;  // when CTRL_VQ is negotiated
  PairLoops pair_loops_;
  drivers::FrameSink* sink_ = nullptr;
  drivers::LinkObserver* link_observer_ = nullptr;
  std::uint64_t announcements_ = 0;
  // The receive offloads the application has on: all negotiated ones until it says otherwise,
  // and sent again after a reset (which turns them all back on, §5.1.6.5.6).
  Offloads receive_offloads_;
  // The receive filters the application set, sent again after a reset (which clears them),
  // and whether it set the MAC (config_.mac then holds its choice, not the device's).
  RxFilter rx_filter_;
  bool mac_set_ = false;
  // The MAC as the device had it at bring-up: what it filters on again when a reset loses ours.
  MacAddress device_mac_;
  // mac() is read on DPDK's telemetry thread too: config_.mac, published as one word.
  std::atomic<std::uint64_t> published_mac_{0};
  // A control command went unanswered: the device is reset at the next look at it, which
  // frees the control queue and puts back on the device what netfront says holds.
  bool reset_wanted_ = false;
  // The RSS configuration in effect (empty: none, the device steers by itself), and whether
  // the application set it (else it is netfront's default, made again for each bring-up).
  RssConfig rss_;
  bool rss_set_ = false;
  bool announce_answered_ = false;  // the device's announcement request seen set was answered
  State state_ = State::Down;
  // A12: a reset was not confirmed and the device could not be cut off from our memory; its
  // rings and buffers are left to it and it is never started again.
  bool abandoned_ = false;
  std::uint64_t polls_ = 0;
  ring::RingError broken_by_ = ring::RingError::None;
  bool in_poll_ = false;
  bool close_requested_ = false;
  Promise<void> close_done_;
  // One per queue when the transport has interrupt fds: drains the fd; waking is the point.
  InterruptWatches interrupt_watches_;
  // F10: looks at the transmit progress of our own pairs (a timer, so a sleeping loop wakes for it).
  std::optional<Timer> watchdog_;
};

}  // namespace netfront::virtio::net
