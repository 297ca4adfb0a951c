#include "drivers/virtio/device_side/net_control_server.hpp"

#include <array>
#include <cstring>
#include <optional>

#include "drivers/virtio/net/net_spec.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::device_side {

unsigned NetControlServer::serve() {
  unsigned served = 0;
  while (ring_->pop(chain_)) {
    ++served;
    // The command may be split over descriptors any way the driver likes (§2.6.4 message
    // framing): gather the readable part, find the first writable byte for the ack.
    std::array<std::byte, kMaxCommand>& command = command_;
    std::size_t length = 0;
    std::byte* ack = nullptr;
    bool too_long = false;
    for (const DeviceSegment& s : chain_.segments) {
      if (s.writable) {
        if (!ack && s.len > 0) ack = s.data;
        continue;
      }
      if (length + s.len > command.size()) {
        too_long = true;
        continue;
      }
      std::memcpy(command.data() + length, s.data, s.len);
      length += s.len;
    }
    if (!ack) {
      // Nowhere to answer: hand the chain back with nothing written.
      runtime::logger("device").warn("control command without a writable ack byte");
      ring_->push_used({chain_.id, 0}, chain_.descriptors);
      continue;
    }
    std::uint8_t answer = net::VIRTIO_NET_ERR;
    if (length >= 2 && !too_long)
      answer = handler_(static_cast<std::uint8_t>(command[0]), static_cast<std::uint8_t>(command[1]),
                        std::span<const std::byte>(command.data() + 2, length - 2));
    *ack = std::byte{answer};
    ring_->push_used({chain_.id, 1}, chain_.descriptors);
  }
  if (served) ring_->publish_used();
  return served;
}

std::optional<std::uint16_t> vq_pairs_requested(std::uint8_t cls, std::uint8_t command, std::span<const std::byte> data,
                                                unsigned max_pairs) {
  if (cls != net::VIRTIO_NET_CTRL_MQ || command != net::VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || data.size() != 2) return {};
  std::uint16_t pairs;
  std::memcpy(&pairs, data.data(), 2);
  if (pairs < net::VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > max_pairs) return {};
  return pairs;
}

}  // namespace netfront::virtio::device_side
