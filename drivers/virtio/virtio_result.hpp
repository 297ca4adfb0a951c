// The virtio layers' results: a value or a runtime::Fault carrying the code of the layer that
// failed (ring::RingError, transport::TransportError, net::DeviceError). Only the device's
// NetDevice face turns one into a netfront::Error.
#pragma once

#include "runtime/fault.hpp"

namespace netfront::virtio {

using runtime::Fault;
template <typename T = Ok>
using Result = runtime::Result<T>;

}  // namespace netfront::virtio
