// The virtio-net control virtqueue (virtio 1.2 §5.1.6.5): one command at a time, each a chain
// of the command (device-readable) and an ack byte (device-writable), answered by the device
// through the used ring. Commands are rare (bring-up, queue-count changes), so a command is
// sent and its answer polled for on the spot, for a bounded time: a device that never answers
// fails the command (checklist D1) instead of hanging the caller.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>

#include "drivers/virtio/ring/ring_error.hpp"
#include "drivers/virtio/transport/transport.hpp"
#include "drivers/virtio/net/device_error.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::net {

// The most command-specific data one command carries.
inline constexpr std::size_t kMaxControlData = 512;

struct ControlQueueConfig {
  std::uint16_t index = 2;  // control_queue_index(features, max_virtqueue_pairs)
  std::uint16_t size = 64;
  bool packed = false;
  bool event_idx = false;
  bool in_order = false;
  ring::AddressMode address_mode = ring::AddressMode::VirtualAddress;
  bool legacy_layout = false;  // RingOptions::legacy_layout
  int socket = -1;
  std::chrono::milliseconds timeout{2000};  // per command
};

class ControlQueue {
 public:
  static Result<std::unique_ptr<ControlQueue>> create(const ControlQueueConfig& config, transport::Transport& transport);
  virtual ~ControlQueue() = default;

  // Tells the device where the ring is (before DRIVER_OK, like every queue).
  virtual Result<> start() = 0;
  // Sends `command` of `cls` with `data` and waits for the ack. Errors: the device said
  // VIRTIO_NET_ERR, answered with something else, broke the ring, or did not answer in time;
  // after the last the queue refuses further commands until reset().
  virtual Result<> execute(std::uint8_t cls, std::uint8_t command, std::span<const std::byte> data) = 0;
  // After a device reset: forget any command in flight and start from an empty ring.
  virtual void reset() = 0;
  // A12: the device was not confirmed stopped; the ring and command buffer stay its own for
  // good (see QueuePair::abandon) and the queue refuses commands.
  virtual void abandon() = 0;
  virtual ring::RingError error() const noexcept = 0;
  // A command went unanswered in time: its buffer stays the device's, and the queue refuses
  // commands until reset() (after a device reset).
  virtual bool stuck() const noexcept = 0;
};

// §5.1.6.5.5: VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, the driver's way to turn on `pairs` queue pairs.
Result<> set_queue_pairs(ControlQueue& control, std::uint16_t pairs);

}  // namespace netfront::virtio::net
