// The transport layer's errors: what opening a device, talking to its backend or setting up
// its queues can fail with, on any transport (PCI, vhost-user, the loop device).
#pragma once

#include <cstdint>
#include <string_view>

#include "runtime/fault.hpp"

namespace netfront::virtio::transport {

enum class TransportError : std::uint8_t {
  NoSuchDevice,       // the address names no virtio-net device on this machine
  BadRequest,         // an address, queue, offset or size the transport cannot take
  Unsupported,        // a device, binding or memory layout this transport cannot drive
  Refused,            // the device or backend turned a request down (vhost-user NACK, queue size 0)
  NoBackend,          // nothing listens at the vhost-user socket (yet)
  NoAnswer,           // the device or backend did not answer in time
  BackendClosed,      // the backend went away, or there is no connection to it
  ProtocolViolation,  // the device or backend broke its protocol (§4.1.4, vhost-user)
  NoMemory,           // no device memory to give the device
  System,             // the operating system refused a call
  Count,              // not a code: how many there are
};

inline constexpr runtime::CodeInfo<TransportError> kTransportErrors[] = {
    {TransportError::NoSuchDevice, "no such virtio-net device", Error::Kind::Unknown, Error::Cause::BadArgument},
    {TransportError::BadRequest, "bad transport request", Error::Kind::Unknown, Error::Cause::BadArgument},
    {TransportError::Unsupported, "device cannot be driven on this transport", Error::Kind::Unknown,
     Error::Cause::DeviceRefused},
    {TransportError::Refused, "device refused the request", Error::Kind::Unknown, Error::Cause::DeviceRefused},
    // Worth trying again, as after a timeout.
    {TransportError::NoBackend, "no backend listening", Error::Kind::Unknown, Error::Cause::Timeout},
    {TransportError::NoAnswer, "device did not answer in time", Error::Kind::Unknown, Error::Cause::Timeout},
    {TransportError::BackendClosed, "backend closed the connection", Error::Kind::Disconnected, Error::Cause::DeviceGone},
    {TransportError::ProtocolViolation, "device broke the transport protocol", Error::Kind::Unknown,
     Error::Cause::DeviceFault},
    {TransportError::NoMemory, "no device memory", Error::Kind::Unknown, Error::Cause::NoResources},
    {TransportError::System, "system call failed", Error::Kind::Unknown, Error::Cause::System},
};
static_assert(runtime::in_enum_order(kTransportErrors));

constexpr std::string_view layer_of(TransportError) noexcept { return "transport"; }
constexpr std::span<const runtime::CodeInfo<TransportError>> code_table(TransportError) noexcept { return kTransportErrors; }

}  // namespace netfront::virtio::transport
