// Reading a device-specific configuration space through registers (virtio 1.2 §4.1.3.1,
// §4.2.2.2): a field with an access of its own width, as the engine asks for one field (2 or
// 4 bytes, aligned), or a span of several byte by byte; the generation counter (or, on a
// legacy device, a second read) around it catches tearing either way. Bytes past the window
// read as zero rather than beyond it. `Registers` has read8/read16/read32 at offsets.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace netfront::virtio::transport {

// The configuration lies at `start` in the registers and is `length` bytes long.
template <typename Registers>
void read_config_registers(Registers& r, std::size_t start, std::size_t length, std::size_t offset, std::span<std::byte> out) {
  std::memset(out.data(), 0, out.size());
  if (offset >= length) return;
  const std::size_t n = std::min(out.size(), length - offset);
  const std::size_t at = start + offset;
  if (n == 4 && offset % 4 == 0) {
    const std::uint32_t v = r.read32(at);
    std::memcpy(out.data(), &v, 4);
  } else if (n == 2 && offset % 2 == 0) {
    const std::uint16_t v = r.read16(at);
    std::memcpy(out.data(), &v, 2);
  } else {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(r.read8(at + i));
  }
}

}  // namespace netfront::virtio::transport
