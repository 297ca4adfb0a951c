// The virtio layers' results: a value or a runtime::Fault carrying the code of the layer that
// failed (ring::RingError, transport::TransportError, net::DeviceError). It becomes a
// netfront::Error only where the API answers: the device registry's openers, the device's
// NetDevice calls, and the writes a queue pair completes.
#pragma once

#include "runtime/fault.hpp"

namespace netfront::virtio {

using runtime::Fault;
template <typename T = Ok>
using Result = runtime::Result<T>;

}  // namespace netfront::virtio
