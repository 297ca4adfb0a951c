// The ring layer's errors. Mostly why a queue stopped trusting its device: one value per
// violated rule, so a log line, a counter and a test can all name the rule (checklist rows in
// brackets); and the two ways a ring cannot be built at all.
#pragma once

#include <cstdint>
#include <string_view>

#include "runtime/fault.hpp"

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
  BadSize,               // a queue size the layout does not allow (§2.7, §2.8)
  BadMemory,             // memory too small or misaligned for the ring or its tables
  Count,                 // not a code: how many there are
};

// A ring that broke takes its device with it (the device layer stops it): to the application
// that device is gone, by the device's fault.
inline constexpr runtime::CodeInfo<RingError> kRingErrors[] = {
    // Only a ring that reported itself broken is ever made a Fault: None then means the rule
    // was not kept, and it is still the device's doing.
    {RingError::None, "a ring rule (not recorded)", Error::Kind::Disconnected, Error::Cause::DeviceFault},
    {RingError::IdOutOfRange, "used id out of range", Error::Kind::Disconnected, Error::Cause::DeviceFault},
    {RingError::IdNotOutstanding, "used id is not an outstanding chain", Error::Kind::Disconnected, Error::Cause::DeviceFault},
    {RingError::UsedIndexJump, "used index moved back or past the chains in flight", Error::Kind::Disconnected, Error::Cause::DeviceFault},
    {RingError::PackedFlagsInvalid, "used descriptor with inconsistent AVAIL/USED flags", Error::Kind::Disconnected, Error::Cause::DeviceFault},
    {RingError::InOrderBatchInvalid, "in-order batch end outside the in-flight window", Error::Kind::Disconnected, Error::Cause::DeviceFault},
    {RingError::NotifyFailed, "notification to the device failed", Error::Kind::Disconnected, Error::Cause::DeviceFault},
    {RingError::FramingLost, "used receive buffer with no frame boundary (no header, num_buffers 0 or beyond the ring)",
     Error::Kind::Disconnected, Error::Cause::DeviceFault},
    {RingError::BadSize, "queue size the ring layout does not allow", Error::Kind::Unknown, Error::Cause::BadArgument},
    {RingError::BadMemory, "memory that cannot hold the ring", Error::Kind::Unknown, Error::Cause::BadArgument},
};
static_assert(runtime::in_enum_order(kRingErrors));

constexpr std::string_view layer_of(RingError) noexcept { return "ring"; }
constexpr std::span<const runtime::CodeInfo<RingError>> code_table(RingError) noexcept { return kRingErrors; }
constexpr std::string_view describe(RingError e) noexcept { return runtime::code_info(e).what; }

}  // namespace netfront::virtio::ring
