#include "runtime/internet_checksum.hpp"

namespace netfront::runtime {

std::uint32_t ones_sum(std::span<const std::byte> b, std::uint32_t sum) noexcept {
  std::size_t i = 0;
  for (; i + 1 < b.size(); i += 2) sum += (std::to_integer<std::uint32_t>(b[i]) << 8) | std::to_integer<std::uint32_t>(b[i + 1]);
  if (i < b.size()) sum += std::to_integer<std::uint32_t>(b[i]) << 8;
  return sum;
}

std::uint16_t fold(std::uint32_t sum) noexcept {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

}  // namespace netfront::runtime
