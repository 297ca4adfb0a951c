#include "drivers/virtio/transport/vhost/frontend_net.hpp"

#include <cstring>
#include <optional>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::transport::vhost {

std::uint64_t frontend_net_features(std::uint64_t backend_features, unsigned queue_pairs) noexcept {
  std::uint64_t f = backend_features;
  // No configuration space behind a vhost net backend: no MAC or MTU to read from it.
  f &= ~(feature_bit(net::VIRTIO_NET_F_MAC) | feature_bit(net::VIRTIO_NET_F_MTU));
  // Nor an announcement request: a vhost-user backend told to announce (VHOST_USER_SEND_RARP)
  // sends the RARP itself, and the kernel's has no such request.
  f &= ~feature_bit(net::VIRTIO_NET_F_GUEST_ANNOUNCE);
  // The control queue is served here, not by the backend: no receive offloads switched at run
  // time either, no receive filters (the backend hands over every frame it has), and no RSS or
  // hash report (steering is the ring enables', and its configuration would reach no one).
  f &= ~(feature_bit(net::VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | feature_bit(net::VIRTIO_NET_F_CTRL_RX) |
         feature_bit(net::VIRTIO_NET_F_CTRL_RX_EXTRA) | feature_bit(net::VIRTIO_NET_F_CTRL_VLAN) |
         feature_bit(net::VIRTIO_NET_F_CTRL_MAC_ADDR) | feature_bit(net::VIRTIO_NET_F_RSS) |
         feature_bit(net::VIRTIO_NET_F_HASH_REPORT));
  f |= feature_bit(net::VIRTIO_NET_F_STATUS);   // link status is the backend's presence
  f |= feature_bit(net::VIRTIO_NET_F_CTRL_VQ);  // served here
  if (queue_pairs > 1)
    f |= feature_bit(net::VIRTIO_NET_F_MQ);
  else
    f &= ~feature_bit(net::VIRTIO_NET_F_MQ);
  return f;
}

void read_frontend_config(std::size_t offset, std::span<std::byte> out, bool link_up, unsigned queue_pairs) noexcept {
  std::byte config[net::kConfigSize]{};
  const std::uint16_t status = link_up ? net::VIRTIO_NET_S_LINK_UP : 0;
  const auto pairs = static_cast<std::uint16_t>(queue_pairs);
  std::memcpy(config + net::kConfigStatus, &status, 2);
  std::memcpy(config + net::kConfigMaxVirtqueuePairs, &pairs, 2);
  // The backend says nothing of speed and duplex: one that offers SPEED_DUPLEX is not made to
  // claim 0 Mbit/s half duplex.
  const std::uint32_t speed = net::VIRTIO_NET_SPEED_UNKNOWN;
  std::memcpy(config + net::kConfigSpeed, &speed, 4);
  config[net::kConfigDuplex] = std::byte{net::VIRTIO_NET_DUPLEX_UNKNOWN};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = offset + i < net::kConfigSize ? config[offset + i] : std::byte{0};
}

FrontendControlQueue::FrontendControlQueue(std::uint64_t driver_features, const QueueSetup& setup, unsigned queue_pairs,
                                           const std::vector<bool>& started, EnableRing enable)
    : driver_features_(driver_features), queue_pairs_(queue_pairs), started_(started), enable_(std::move(enable)) {
  server_ = std::make_unique<device_side::NetControlServer>(
      device_side::make_device_ring(driver_features, setup.size, setup.addresses),
      [this](std::uint8_t cls, std::uint8_t cmd, std::span<const std::byte> data) { return command(cls, cmd, data); });
}

bool FrontendControlQueue::serve() {
  server_->serve();  // answered before the driver looks for the answer
  return !server_->faulted();
}

std::uint8_t FrontendControlQueue::command(std::uint8_t cls, std::uint8_t command, std::span<const std::byte> data) {
  const auto requested = has_feature(driver_features_, net::VIRTIO_NET_F_MQ)
                             ? device_side::vq_pairs_requested(cls, command, data, queue_pairs_)
                             : std::nullopt;
  if (!requested) return net::VIRTIO_NET_ERR;
  const unsigned pairs = *requested;
  // Every ring of the pairs to turn on must have been set up; the others are turned off.
  for (unsigned ring = 0; ring < 2u * pairs; ++ring)
    if (ring >= started_.size() || !started_[ring]) return net::VIRTIO_NET_ERR;
  for (unsigned ring = 0; ring < started_.size(); ++ring) {
    if (!started_[ring]) continue;
    if (!enable_(static_cast<std::uint16_t>(ring), ring < 2u * pairs)) return net::VIRTIO_NET_ERR;
  }
  runtime::logger("vhost").debug("{} queue pair(s) enabled", pairs);
  return net::VIRTIO_NET_OK;
}

}  // namespace netfront::virtio::transport::vhost
