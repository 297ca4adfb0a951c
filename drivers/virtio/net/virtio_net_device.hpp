// A virtio-net device driven by netfront over any transport: brings it up with the
// initialization sequence of virtio 1.2 §3.1.1, runs its queue pairs as one poller of the
// thread's event loop, and recovers from DEVICE_NEEDS_RESET (A13). A queue that catches the
// device breaking a ring rule stops the device for the application (Disconnected) rather than
// trusting it further.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "drivers/netif/net_device.hpp"
#include "drivers/virtio/net/control_queue.hpp"
#include "drivers/virtio/net/net_config.hpp"
#include "drivers/virtio/net/queue_pair.hpp"
#include "drivers/virtio/transport/transport.hpp"
#include "runtime/event_loop.hpp"
#include "runtime/packet_pool.hpp"

namespace netfront::virtio::net {

struct DeviceOptions {
  unsigned queue_pairs = 1;
  std::uint16_t max_queue_size = 1024;  // we use min(this, what the device offers)
  bool access_platform = false;          // require VIRTIO_F_ACCESS_PLATFORM (IOMMU)
  bool accept_access_platform = false;   // accept it if offered (PCI without an IOMMU)
  std::uint64_t declined_features = 0;   // never accept these, even if offered
  std::chrono::milliseconds control_timeout{2000};  // per control-queue command (D1)
};

class VirtioNetDevice final : public drivers::NetDevice, public runtime::Poller {
 public:
  // Brings the device up on the calling thread's event loop.
  static Result<std::unique_ptr<VirtioNetDevice>> open(std::unique_ptr<transport::Transport> transport,
                                                       const DeviceOptions& options = {});
  ~VirtioNetDevice() override;

  // NetDevice
  MacAddress mac() const noexcept override { return config_.mac; }
  std::uint16_t mtu() const noexcept override { return config_.mtu; }
  bool link_up() const noexcept override { return state_ == State::Running && config_.link_up; }
  unsigned queue_pairs() const noexcept override { return static_cast<unsigned>(pairs_.size()); }
  const QueueCounters& counters(unsigned queue) const noexcept override { return pairs_[queue]->counters(); }
  io<Result<>> transmit(unsigned queue, Buffer&& frame) override { return pairs_[queue]->transmit(std::move(frame)); }
  io<Result<>> transmit_chain(unsigned queue, std::span<const Buffer> pieces) override {
    return pairs_[queue]->transmit_chain(pieces);
  }
  void set_sink(drivers::FrameSink* sink) noexcept override;
  io<void> shutdown() override;

  // Poller. The loop may sleep only when every queue can wake it (Transport::interrupt_fd).
  unsigned poll() override;
  bool arm_wakeup() override;
  void disarm_wakeup() override;

  std::uint64_t features() const noexcept { return features_; }
  transport::Transport& transport() noexcept { return *transport_; }
  rte_mempool* rx_pool() const noexcept { return rx_pool_ ? rx_pool_->get() : nullptr; }

 private:
  enum class State { Down, Running, Broken, Shut };

  VirtioNetDevice(std::unique_ptr<transport::Transport> t, const DeviceOptions& o, runtime::EventLoop& loop);
  Result<> negotiate();
  Result<> initialize();
  Result<> check_queue_pairs() const;
  Result<> create_queues();
  Result<> create_control_queue();
  Result<> start_queues();
  void fail(const Error& why);
  void check_device();
  void recover();
  void stop_device(const Error* why);
  void update_usable();
  void watch_interrupts();

  std::unique_ptr<transport::Transport> transport_;
  DeviceOptions options_;
  runtime::EventLoop& loop_;
  std::uint64_t features_ = 0;
  std::uint16_t header_len_ = 12;
  NetConfig config_;
  std::optional<runtime::PacketPool> rx_pool_;
  std::vector<std::unique_ptr<QueuePair>> pairs_;
  std::unique_ptr<ControlQueue> control_;  // when CTRL_VQ is negotiated
  drivers::FrameSink* sink_ = nullptr;
  State state_ = State::Down;
  std::uint64_t polls_ = 0;
  bool in_poll_ = false;
  bool shutdown_requested_ = false;
  Promise<void> shutdown_done_;
  // One per queue when the transport has interrupt fds: drains the fd; waking is the point.
  std::vector<std::unique_ptr<runtime::FdWatch>> interrupt_watches_;
};

}  // namespace netfront::virtio::net
