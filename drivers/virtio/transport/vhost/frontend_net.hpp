// A vhost backend, the kernel's vhost-net or a vhost-user process, works the data rings and
// nothing else: the rest of the virtio-net device (virtio 1.2 §5.1) is the frontend's to
// play. Its configuration space is synthesized here (no MAC: the engine picks one; the link up
// while the backend is there; the queue pairs the backend has), and so is its control queue
// (vhost-user.rst: "the back-end never sees it"; the kernel has none), whose VQ_PAIRS_SET
// becomes the backend's own way of turning rings on and off.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "drivers/virtio/device_side/net_control_server.hpp"
#include "drivers/virtio/transport/transport.hpp"

namespace netfront::virtio::transport::vhost {

// The device features the engine is offered, from the net device features of the backend
// (its protocol's own bits already taken out): nothing that needs a configuration space or a
// control queue the backend does not have (MAC, MTU, announce, receive filters, run-time
// offloads, RSS, hash report), and STATUS, CTRL_VQ and (with more than one pair) MQ, which
// are served here.
std::uint64_t frontend_net_features(std::uint64_t backend_features, unsigned queue_pairs) noexcept;

// The synthesized configuration space (§5.1.4).
void read_frontend_config(std::size_t offset, std::span<std::byte> out, bool link_up, unsigned queue_pairs) noexcept;

// The control queue, answered in our own memory by ourselves.
class FrontendControlQueue {
 public:
  // Turns backend ring `ring` on or off; false if the backend refused or is gone.
  using EnableRing = std::function<bool(std::uint16_t ring, bool enable)>;

  // `started`: which rings the backend has been given (a vector the owner keeps up to date).
  FrontendControlQueue(std::uint64_t driver_features, const QueueSetup& setup, unsigned queue_pairs,
                       const std::vector<bool>& started, EnableRing enable);

  // Answers what the driver made available; false once the ring is unusable.
  bool serve();

 private:
  std::uint8_t command(std::uint8_t cls, std::uint8_t command, std::span<const std::byte> data);

  std::uint64_t driver_features_;
  unsigned queue_pairs_;
  const std::vector<bool>& started_;
  EnableRing enable_;
  std::unique_ptr<device_side::NetControlServer> server_;
};

}  // namespace netfront::virtio::transport::vhost
