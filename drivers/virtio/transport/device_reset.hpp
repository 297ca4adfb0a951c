// §4.1.4.3.2, §4.2.3.1 (and the legacy interfaces alike): writing 0 to the device status resets the
// device, which reads back 0 when done; until then it may still be using our rings and
// buffers (A12). The wait is bounded, and a device that once did not finish is not waited for
// again.
#pragma once

#include <chrono>
#include <string>
#include <thread>

#include "drivers/virtio/transport/transport_error.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::transport {

inline constexpr auto kResetTimeout = std::chrono::seconds(2);

template <typename WriteZero, typename ReadStatus>
Result<> reset_device(const std::string& who, bool& unresponsive, WriteZero write_zero, ReadStatus read_status) {
  if (unresponsive) return Fault(TransportError::NoAnswer, who + ": device did not complete an earlier reset; not trying again");
  write_zero();
  const auto deadline = std::chrono::steady_clock::now() + kResetTimeout;
  while (read_status() != 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      unresponsive = true;
      return Fault(TransportError::NoAnswer, who + ": device did not complete its reset within 2 s");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return Ok{};
}

}  // namespace netfront::virtio::transport
