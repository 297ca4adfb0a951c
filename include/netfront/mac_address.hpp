// The `macaddr` returned by `mac`: six bytes, printed as "52:54:00:12:34:56".
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace netfront {

struct MacAddress {
  std::array<std::uint8_t, 6> bytes{};

  bool is_zero() const noexcept { return bytes == std::array<std::uint8_t, 6>{}; }
  bool is_multicast() const noexcept { return bytes[0] & 0x01; }
  // A unicast, non-zero address: what a device may use as its own.
  bool valid_unicast() const noexcept { return !is_zero() && !is_multicast(); }
  std::string to_string() const;
  // "52:54:00:12:34:56" (either case); nullopt for anything else.
  static std::optional<MacAddress> parse(std::string_view text) noexcept;
  friend bool operator==(const MacAddress&, const MacAddress&) = default;
};

}  // namespace netfront
