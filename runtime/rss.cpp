#include "netfront/rss.hpp"

#include <array>
#include <cstdio>

namespace netfront {
namespace {
constexpr std::array<std::string_view, kHashTypes> kNames{"ipv4",  "tcpv4",   "udpv4",   "ipv6",   "tcpv6",
                                                          "udpv6", "ipv6-ex", "tcpv6-ex", "udpv6-ex"};
}  // namespace

std::string_view to_string(HashType type) noexcept {
  const auto i = static_cast<std::size_t>(type);
  return i < kNames.size() ? kNames[i] : "unknown";
}

std::string HashTypes::to_string() const {
  std::string s;
  for (unsigned t = 0; t < kHashTypes; ++t)
    if (has(static_cast<HashType>(t))) s += (s.empty() ? "" : "+") + std::string(kNames[t]);
  if (const std::uint32_t unknown = bits & ~all().bits) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%x", unknown);
    s += (s.empty() ? "" : "+") + std::string(hex);
  }
  return s;
}

// Each set bit of the input, counted from the most significant bit of its first byte, adds in
// the 32 key bits that start at the same position.
std::uint32_t toeplitz_hash(std::span<const std::uint8_t> key, std::span<const std::uint8_t> input) noexcept {
  auto key_byte = [&](std::size_t i) -> std::uint32_t { return i < key.size() ? key[i] : 0u; };
  std::uint32_t window = key_byte(0) << 24 | key_byte(1) << 16 | key_byte(2) << 8 | key_byte(3);
  std::uint32_t hash = 0;
  for (std::size_t i = 0; i < input.size(); ++i) {
    const std::uint32_t next = key_byte(i + 4);
    for (int b = 7; b >= 0; --b) {
      if (input[i] & (1u << b)) hash ^= window;
      window = window << 1 | ((next >> b) & 1u);
    }
  }
  return hash;
}

}  // namespace netfront
