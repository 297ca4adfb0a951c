// The net device layer's errors: what bringing a virtio-net device up, steering it through
// its control queue or recovering it can fail with. A ring's broken rule stays a
// ring::RingError, a transport's failure a transport::TransportError, passed up as they are.
#pragma once

#include <cstdint>
#include <string_view>

#include "netfront/result.hpp"
#include "runtime/fault.hpp"

namespace netfront::virtio::net {

enum class DeviceError : std::uint8_t {
  BadArgument,   // the caller's mistake: a queue pair that does not exist, a call its state forbids
  Refused,       // the device lacks or refused what was asked (features, queues, a control command)
  Misbehaved,    // the device broke a rule of §5.1 or §2 outside the rings (its configuration,
                 // features across a reset, a control queue answer)
  NoAnswer,      // the device did not answer, or did not complete, in time
  NoBuffers,     // no buffers to post, or no room on a queue
  Unreachable,   // the device could not be notified
  LinkDown,      // the device reports its link down (§5.1.4 VIRTIO_NET_S_LINK_UP clear)
  Closed,        // the application closed the device
  Count,         // not a code: how many there are
};

inline constexpr runtime::CodeInfo<DeviceError> kDeviceErrors[] = {
    {DeviceError::BadArgument, "bad argument", Error::Kind::Unknown, Error::Cause::BadArgument},
    {DeviceError::Refused, "device refused", Error::Kind::Unknown, Error::Cause::DeviceRefused},
    {DeviceError::Misbehaved, "device broke the virtio-net rules", Error::Kind::Unknown, Error::Cause::DeviceFault},
    {DeviceError::NoAnswer, "device did not answer in time", Error::Kind::Unknown, Error::Cause::Timeout},
    {DeviceError::NoBuffers, "no buffers", Error::Kind::Unknown, Error::Cause::NoResources},
    {DeviceError::Unreachable, "device could not be notified", Error::Kind::Disconnected, Error::Cause::DeviceGone},
    {DeviceError::LinkDown, "link down", Error::Kind::Disconnected, Error::Cause::DeviceGone},
    {DeviceError::Closed, "device closed", Error::Kind::Disconnected, Error::Cause::DeviceGone},
};
static_assert(runtime::in_enum_order(kDeviceErrors));

constexpr std::string_view layer_of(DeviceError) noexcept { return "net"; }
constexpr std::span<const runtime::CodeInfo<DeviceError>> code_table(DeviceError) noexcept { return kDeviceErrors; }

// What a write is answered with. A write completes in this layer (on the ring, or refused or
// failed here), so its answer is already the application's: a netfront::Error, not a Fault.
using WriteResult = netfront::Result<>;

}  // namespace netfront::virtio::net
