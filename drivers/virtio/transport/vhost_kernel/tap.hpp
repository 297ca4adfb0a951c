// The tap device a vhost-net backend moves frames to and from (Documentation/networking/
// tuntap.rst): one queue file per queue pair (IFF_MULTI_QUEUE), each carrying the virtio-net
// header in front of its frames (IFF_VNET_HDR), so that the header the driver writes reaches
// the host's stack and the one the host writes reaches the driver, untouched by vhost.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "drivers/virtio/transport/transport_error.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::transport::vhost_kernel {

class Tap {
 public:
  // The most queue files a tap takes (drivers/net/tun.c MAX_TAP_QUEUES).
  static constexpr unsigned kMaxQueues = 256;

  // Attaches to the tap `name` (created if there is none; it goes when the last queue file
  // closes unless it was made persistent) with `queues` queue files, all attached. A name the
  // kernel would refuse or rewrite, or more queues than a tap has, is a BadRequest.
  static Result<Tap> open(const std::string& name, unsigned queues);
  Tap() = default;
  Tap(Tap&& other) noexcept : name_(std::move(other.name_)), fds_(std::move(other.fds_)), attached_(std::move(other.attached_)) {
    other.fds_.clear();
  }
  Tap& operator=(Tap&& other) noexcept;
  ~Tap();

  const std::string& name() const noexcept { return name_; }
  unsigned queues() const noexcept { return static_cast<unsigned>(fds_.size()); }
  int fd(unsigned queue) const noexcept { return fds_[queue]; }

  // TUNSETVNETHDRSZ: 10 or 12 bytes, as the driver negotiated (§5.1.6.1).
  Result<> set_header_length(int bytes);
  // TUNSETOFFLOAD: what the host's stack may leave to the driver (TUN_F_* bits): partial
  // checksums and unsegmented TCP, the receive offloads the driver negotiated.
  Result<> set_offloads(unsigned tun_flags);
  // TUNSETQUEUE: a queue the tap does not steer frames to while its rings are off.
  Result<> attach(unsigned queue, bool attach);

 private:
  Result<> each_fd(unsigned long request, unsigned long arg, const char* what);

  std::string name_;
  std::vector<int> fds_;
  std::vector<bool> attached_;
};

}  // namespace netfront::virtio::transport::vhost_kernel
