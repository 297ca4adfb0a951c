// virtio over vhost-user: netfront is the frontend (the "driver" side), a backend such as
// DPDK's vhost library works the rings in its own process. The virtio status, features and
// queues of §2 map onto vhost-user messages; the configuration space has no vhost-user
// counterpart for a net backend, so it is synthesized: no MAC (the engine picks one), the link
// up while the connection lives, one or GET_QUEUE_NUM queue pairs. The control queue is ours
// too (vhost-user.rst: the back-end never sees it): commands are answered here, and
// VQ_PAIRS_SET becomes VHOST_USER_SET_VRING_ENABLE for the pairs it turns on and off.
//
// Client mode connects to the backend's socket and, once the backend is gone, tries it again
// every reconnect_ms (a switch that restarts serves it again); server mode listens on it and
// accepts the backend again whenever it comes back. Either way the engine sees the new
// connection as DEVICE_NEEDS_RESET and answers with a full re-initialisation, nothing of the
// old connection carried over; and neither takes a new backend once a ring's stop went
// unconfirmed or the driver gave up (FAILED).
#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/transport/transport.hpp"
#include "drivers/virtio/transport/vhost/frontend_net.hpp"
#include "drivers/virtio/transport/vhost_user/channel.hpp"
#include "netfront/device_id.hpp"
#include "netfront/event_loop.hpp"

namespace netfront::virtio::transport::vhost_user {

struct VhostUserOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds reply_timeout{5000};
};

class VhostUserTransport final : public transport::Transport {
 public:
  static Result<std::unique_ptr<VhostUserTransport>> open(const VhostUserAddress& address, EventLoop& loop,
                                                          const VhostUserOptions& options = {});
  ~VhostUserTransport() override;

  std::string describe() const override { return "vhost-user:" + address_.socket_path; }
  ring::AddressMode address_mode() const noexcept override { return ring::AddressMode::VirtualAddress; }
  Result<> reset() override;
  bool revoke_dma() noexcept override;
  void close() noexcept override;
  std::uint8_t status() override;
  void set_status(std::uint8_t status) override;
  std::uint64_t device_features() override;
  void set_driver_features(std::uint64_t features) override;
  std::uint32_t config_generation() override { return generation_; }
  std::size_t config_size() const override;
  void read_config(std::size_t offset, std::span<std::byte> out) override;
  std::uint16_t queue_count() override { return net::queue_count_of(queue_pairs_); }
  std::uint16_t queue_max_size(std::uint16_t index) override { return index < queue_count() ? 32768 : 0; }
  Result<> enable_queue(const transport::QueueSetup& setup) override;
  bool notify(std::uint16_t index) noexcept override;
  // The call eventfd the backend writes when notifications are enabled (VHOST_USER_SET_VRING_CALL).
  int interrupt_fd(std::uint16_t index) const noexcept override {
    return index < call_fds_.size() ? call_fds_[index] : -1;
  }

  bool connected() const noexcept { return channel_.open(); }

 private:
  VhostUserTransport(const VhostUserAddress& address, EventLoop& loop, const VhostUserOptions& options);
  Result<> handshake();
  Result<> request(Request r, std::span<const std::byte> payload, std::span<const int> fds = {});
  Result<> call(Request r, std::span<const std::byte> payload, std::span<std::byte> reply);
  Result<std::uint64_t> get_u64(Request r);
  Result<> accept_backend(std::chrono::milliseconds timeout);
  Result<> watch_channel();
  void on_channel_event();
  void on_listen_event();
  void pause_listening();
  void resume_listening();
  bool may_take_backend() const noexcept;
  void arm_reconnect();
  void try_reconnect();
  void adopt_backend(Channel channel);
  void lost_backend(std::string_view why, bool unanswered = false);
  std::chrono::milliseconds backed_off(std::chrono::milliseconds period) const noexcept;
  void stop_rings();
  std::uint32_t control_index() const noexcept;
  Result<> enable_ring(std::uint16_t index, bool enable);

  VhostUserAddress address_;
  EventLoop& loop_;
  VhostUserOptions options_;
  Channel channel_;
  int listen_fd_ = -1;
  std::unique_ptr<FdWatch> channel_watch_, listen_watch_;
  std::unique_ptr<Timer> reconnect_timer_;  // client mode: armed while the backend is gone
  // Server mode: when the last backend was taken, and the timer that listens again after a pause.
  static constexpr std::chrono::milliseconds kBackendPace{100};
  // Every exchange waits for its answer with the loop held (up to reply_timeout), so a backend
  // that takes the connection and then says nothing would hold it most of the time if it were
  // tried again at the usual pace: each such backend in a row doubles the wait before the next
  // is dialled or taken, up to 2^kMaxBackoff times it; a device brought up starts over.
  static constexpr unsigned kMaxBackoff = 5;
  unsigned unanswered_ = 0;  // backends in a row lost for not answering in time
  Clock::time_point last_backend_taken_{};
  std::unique_ptr<Timer> resume_timer_;
  bool handshake_done_ = false;
  bool needs_reset_ = false;  // a new backend connection: the engine must start over
  std::uint64_t backend_features_ = 0;
  std::uint64_t protocol_features_ = 0;
  std::uint64_t driver_features_ = 0;
  bool features_accepted_ = false;
  bool mem_table_sent_ = false;
  bool stop_unconfirmed_ = false;  // a ring's GET_VRING_BASE went unanswered: its memory stays the backend's
  bool given_up_ = false;          // the driver set FAILED and has not started over
  unsigned queue_pairs_ = 1;
  std::uint8_t status_ = 0;
  std::uint32_t generation_ = 0;
  std::vector<int> kick_fds_, call_fds_;
  std::vector<bool> ring_started_;
  std::unique_ptr<vhost::FrontendControlQueue> control_;
};

}  // namespace netfront::virtio::transport::vhost_user
