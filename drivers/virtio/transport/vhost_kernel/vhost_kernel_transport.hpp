// virtio over the kernel's vhost-net (linux/vhost.h, drivers/vhost/net.c): the kernel works
// the rings in a thread of its own, moving frames between them and a tap (tap.hpp). Each queue
// pair is one /dev/vhost-net file whose two rings are the pair's receive (0) and transmit (1)
// rings; the ioctls set up what vhost-user's messages do (owner, features, memory table, ring
// size, base, addresses, kick and call eventfds), and VHOST_NET_SET_BACKEND hands a ring the
// tap queue it serves, or takes it away. What a vhost backend does not have (configuration
// space, control queue) the frontend plays itself (vhost/frontend_net.hpp), as for vhost-user.
//
// The kernel reaches our memory through our own page tables, so guest addresses are our
// virtual addresses and no file descriptor is shared. reset() and revoke_dma() end the rings
// with VHOST_RESET_OWNER, which stops them, waits for the kernel's last access and lets go of
// our address space, and then close the files: a close alone does that only when it drops the
// last reference to the file, which a child forked meanwhile (O_CLOEXEC acts on exec only)
// still holds.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "drivers/virtio/transport/transport.hpp"
#include "drivers/virtio/transport/vhost/frontend_net.hpp"
#include "drivers/virtio/transport/vhost_kernel/tap.hpp"
#include "netfront/device_id.hpp"

namespace netfront::virtio::transport::vhost_kernel {

class VhostKernelTransport final : public transport::Transport {
 public:
  static Result<std::unique_ptr<VhostKernelTransport>> open(const VhostNetAddress& address, unsigned queue_pairs);
  ~VhostKernelTransport() override;

  std::string describe() const override { return "vhost-net:" + tap_.name(); }
  ring::AddressMode address_mode() const noexcept override { return ring::AddressMode::VirtualAddress; }
  Result<> reset() override;
  bool revoke_dma() noexcept override;
  std::uint8_t status() override { return status_; }
  void set_status(std::uint8_t status) override;
  std::uint64_t device_features() override;
  void set_driver_features(std::uint64_t features) override;
  std::uint32_t config_generation() override { return 0; }
  std::size_t config_size() const override;
  void read_config(std::size_t offset, std::span<std::byte> out) override;
  std::uint16_t queue_count() override;
  std::uint16_t queue_max_size(std::uint16_t index) override { return index < queue_count() ? 32768 : 0; }
  Result<> enable_queue(const transport::QueueSetup& setup) override;
  bool notify(std::uint16_t index) noexcept override;
  int interrupt_fd(std::uint16_t index) const noexcept override {
    return index < call_fds_.size() ? call_fds_[index] : -1;
  }

 private:
  explicit VhostKernelTransport(Tap tap) : tap_(std::move(tap)) {}
  Result<> open_vhost_files();
  // False if a file's rings were not confirmed stopped (VHOST_RESET_OWNER failed).
  bool close_vhost_files() noexcept;
  Result<> apply_features();
  Result<> send_memory_table(unsigned pair);
  Result<> enable_ring(std::uint16_t index, bool enable);
  std::uint32_t control_index() const noexcept;

  Tap tap_;
  std::vector<int> vhost_fds_;   // one per queue pair
  std::vector<bool> memory_sent_;  // per vhost file
  std::vector<int> kick_fds_, call_fds_;  // per ring
  std::vector<bool> ring_started_;
  std::uint64_t kernel_features_ = 0;  // VHOST_GET_FEATURES
  std::uint64_t driver_features_ = 0;
  bool features_accepted_ = false;
  bool stop_unconfirmed_ = false;  // A12: sticky; the kernel may still reach our memory
  std::uint8_t status_ = 0;
  std::unique_ptr<vhost::FrontendControlQueue> control_;
};

}  // namespace netfront::virtio::transport::vhost_kernel
