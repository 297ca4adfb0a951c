// The device half of the virtio-net control queue (virtio 1.2 §5.1.6.5), for devices netfront
// plays itself: the in-process device, and the vhost-user transport, whose backends never see
// the control queue (vhost-user.rst: the front-end handles it and turns VQ_PAIRS_SET into
// VHOST_USER_SET_VRING_ENABLE). Each chain is checked for the shape the spec gives it (at least
// class and command readable, then a writable ack byte) before the handler sees the command.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>

#include "drivers/virtio/device_side/device_ring.hpp"

namespace netfront::virtio::device_side {

class NetControlServer {
 public:
  // Returns the ack: VIRTIO_NET_OK or VIRTIO_NET_ERR (or, for tests of a hostile device, any byte).
  using Handler = std::function<std::uint8_t(std::uint8_t cls, std::uint8_t command, std::span<const std::byte> data)>;

  NetControlServer(std::unique_ptr<DeviceRing> ring, Handler handler) : ring_(std::move(ring)), handler_(std::move(handler)) {}

  // Answers every command the driver made available; returns how many.
  unsigned serve();
  bool faulted() const noexcept { return ring_->faulted(); }

  // The longest command it reads (class, command and data): a MAC filter table of 64
  // addresses with room to spare; a longer one is answered VIRTIO_NET_ERR.
  static constexpr std::size_t kMaxCommand = 1024;

 private:
  std::unique_ptr<DeviceRing> ring_;
  Handler handler_;
  DeviceChain chain_;
  std::array<std::byte, kMaxCommand> command_{};
};

// §5.1.6.5.5, the device's side of VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET: the pairs asked for when
// `cls`/`command` is that command with a le16 argument in 1..`max_pairs` (the device MUST
// refuse 0 and more than max_virtqueue_pairs), nothing otherwise.
std::optional<std::uint16_t> vq_pairs_requested(std::uint8_t cls, std::uint8_t command, std::span<const std::byte> data,
                                                unsigned max_pairs);

}  // namespace netfront::virtio::device_side
