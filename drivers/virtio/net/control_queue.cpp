#include "drivers/virtio/net/control_queue.hpp"

#include <rte_pause.h>

#include <array>
#include <cstring>
#include <string>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/ring/packed_ring.hpp"
#include "drivers/virtio/ring/shared_memory.hpp"
#include "drivers/virtio/ring/split_ring.hpp"
#include "drivers/virtio/ring/virtqueue.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::net {
namespace {

// One command buffer: class, command and data from offset 0, the ack byte at kAckOffset. The
// largest command is a full MAC filter table (§5.1.6.5.2).
constexpr std::size_t kMaxCommandData = kMaxControlData;
constexpr std::size_t kAckOffset = 2 + kMaxCommandData;
constexpr std::size_t kBufferSize = kAckOffset + 62;  // the ack, then up to a cache line's end
constexpr std::uint64_t kToken = 1;
constexpr std::uint8_t kAckUnwritten = 0xff;  // neither OK nor ERR: what the device overwrites

template <ring::Virtqueue Ring>
class RingControlQueue final : public ControlQueue {
 public:
  RingControlQueue(const ControlQueueConfig& c, transport::Transport& t, Ring ring, ring::DmaMemory buffer)
      : config_(c), transport_(t), ring_(std::move(ring)), buffer_(std::move(buffer)) {}

  Result<> start() override { return transport_.enable_queue({config_.index, ring_.size(), ring_.addresses()}); }

  Result<> execute(std::uint8_t cls, std::uint8_t command, std::span<const std::byte> data) override {
    const std::string what = "control command " + std::to_string(cls) + "." + std::to_string(command);
    if (data.size() > kMaxCommandData) return Fault(DeviceError::BadArgument, what + ": " + std::to_string(data.size()) + " bytes of data is too much");
    if (abandoned_) return Fault(DeviceError::NoAnswer, what + ": the device never confirmed its reset; the queue is left to it");
    if (stuck_) return Fault(DeviceError::NoAnswer, what + ": the control queue is stuck on an earlier command the device never answered");
    if (ring_.broken()) return Fault(DeviceError::Misbehaved, what + ": control queue broken: " + std::string(ring::describe(ring_.error())));

    std::byte* b = buffer_.data();
    b[0] = std::byte{cls};
    b[1] = std::byte{command};
    if (!data.empty()) std::memcpy(b + 2, data.data(), data.size());
    b[kAckOffset] = std::byte{kAckUnwritten};
    const std::uint64_t base = buffer_.device_address();
    const ring::Segment chain[2] = {{base, static_cast<std::uint32_t>(2 + data.size()), false}, {base + kAckOffset, 1, true}};
    if (!ring_.add(chain, kToken)) return Fault(DeviceError::NoBuffers, what + ": no room on the control queue");
    ring_.publish();  // the answer is polled for, so the device is always told
    if (!transport_.notify(config_.index)) return Fault(DeviceError::Unreachable, what + ": the device could not be notified");

    const auto deadline = std::chrono::steady_clock::now() + config_.timeout;
    ring::UsedChain used{};
    for (unsigned spins = 0;; ++spins) {
      if (ring_.take_used(used)) break;
      if (ring_.broken())
        return Fault(DeviceError::Misbehaved, what + ": device broke the control queue: " + std::string(ring::describe(ring_.error())));
      if (spins % 1024 == 0) {
        // D1: a device that asked for a reset will not answer; neither will one past the deadline.
        if (transport_.status() & VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET) {
          stuck_ = true;
          return Fault(DeviceError::Misbehaved, what + ": device needs a reset");
        }
        if (std::chrono::steady_clock::now() > deadline) {
          stuck_ = true;  // the buffer stays the device's until a reset
          return Fault(DeviceError::NoAnswer, what + ": no answer from the device within " + std::to_string(config_.timeout.count()) + " ms");
        }
      }
      rte_pause();
    }
    // D2: the ack is one byte the device wrote; a chain reported as carrying nothing, or an ack
    // that is neither OK nor ERR, is not an answer.
    const auto ack = static_cast<std::uint8_t>(ring::read_shared(reinterpret_cast<const std::uint8_t*>(b + kAckOffset)));
    if (used.len_valid && used.len < 1) return Fault(DeviceError::Misbehaved, what + ": device reported no ack written");
    if (ack == VIRTIO_NET_ERR) return Fault(DeviceError::Refused, what + ": device answered VIRTIO_NET_ERR");
    if (ack != VIRTIO_NET_OK) return Fault(DeviceError::Misbehaved, what + ": device answered " + std::to_string(ack) + ", neither OK nor ERR");
    return Ok{};
  }

  void reset() override {
    if (abandoned_) return;
    ring_.reset([](std::uint64_t) {});
    stuck_ = false;
  }

  void abandon() override {
    abandoned_ = true;
    ring_.abandon();
    buffer_.abandon();
  }

  ring::RingError error() const noexcept override { return ring_.error(); }
  bool stuck() const noexcept override { return stuck_; }

 private:
  ControlQueueConfig config_;
  transport::Transport& transport_;
  Ring ring_;
  ring::DmaMemory buffer_;
  bool stuck_ = false;
  bool abandoned_ = false;
};

template <ring::Virtqueue Ring>
Result<std::unique_ptr<ControlQueue>> make(const ControlQueueConfig& c, transport::Transport& t) {
  auto ring = Ring::create({.size = c.size, .event_idx = c.event_idx, .in_order = c.in_order, .address_mode = c.address_mode,
                            .socket = c.socket, .legacy_layout = c.legacy_layout});
  if (!ring) return std::move(ring).error();
  auto buffer = ring::DmaMemory::allocate(kBufferSize, 64, c.address_mode, c.socket);
  if (!buffer) return std::move(buffer).error();
  // Notifications stay off: answers are polled for.
  ring->disable_notifications();
  return std::unique_ptr<ControlQueue>(std::make_unique<RingControlQueue<Ring>>(c, t, std::move(*ring), std::move(*buffer)));
}

}  // namespace

Result<std::unique_ptr<ControlQueue>> ControlQueue::create(const ControlQueueConfig& c, transport::Transport& t) {
  return c.packed ? make<ring::PackedRing>(c, t) : make<ring::SplitRing>(c, t);
}

Result<> set_queue_pairs(ControlQueue& control, std::uint16_t pairs) {
  // §5.1.6.5.5: le16 virtqueue_pairs, within VQ_PAIRS_MIN..VQ_PAIRS_MAX.
  if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX)
    return Fault(DeviceError::BadArgument, "cannot ask for " + std::to_string(pairs) + " queue pairs");
  std::array<std::byte, 2> data;
  std::memcpy(data.data(), &pairs, 2);
  auto r = control.execute(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, data);
  if (!r) return r.error().with_context("setting " + std::to_string(pairs) + " queue pairs");  // a device gone stays Disconnected
  return Ok{};
}

}  // namespace netfront::virtio::net
