// Why a queue stopped trusting its device: one value per violated rule, so a log line, a
// counter and a test can all name the rule (checklist rows in brackets).
#pragma once

#include <cstdint>
#include <string_view>

namespace netfront::virtio::ring {

enum class RingError : std::uint8_t {
  None,
  IdOutOfRange,          // [B1] used id >= queue size
  IdNotOutstanding,      // [B2] used id is not a chain we posted (double or stale completion)
  UsedIndexJump,         // [B3] used index moved back or past what is in flight
  PackedFlagsInvalid,    // [B5] a used descriptor's AVAIL and USED bits disagree
  InOrderBatchInvalid,   // [B6] in-order batch end outside the in-flight window
  NotifyFailed,          // [B9] the doorbell could not be rung
  FramingLost,           // [C4] a used receive buffer that tells nothing of where its frame ends
};

constexpr std::string_view to_string(RingError e) noexcept {
  switch (e) {
    case RingError::None: return "none";
    case RingError::IdOutOfRange: return "used id out of range";
    case RingError::IdNotOutstanding: return "used id is not an outstanding chain";
    case RingError::UsedIndexJump: return "used index moved back or past the chains in flight";
    case RingError::PackedFlagsInvalid: return "used descriptor with inconsistent AVAIL/USED flags";
    case RingError::InOrderBatchInvalid: return "in-order batch end outside the in-flight window";
    case RingError::NotifyFailed: return "notification to the device failed";
    case RingError::FramingLost: return "used receive buffer with no frame boundary (no header, num_buffers 0 or beyond the ring)";
  }
  return "?";
}

}  // namespace netfront::virtio::ring
