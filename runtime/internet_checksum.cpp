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

bool complete_checksum(std::span<std::byte> frame, std::uint16_t start, std::uint16_t offset) noexcept {
  const std::size_t at = std::size_t{start} + offset;
  if (at + 2 > frame.size()) return false;
  const std::uint16_t c = static_cast<std::uint16_t>(~fold(ones_sum(frame.subspan(start))));
  frame[at] = static_cast<std::byte>(c >> 8);
  frame[at + 1] = static_cast<std::byte>(c);
  return true;
}

}  // namespace netfront::runtime
