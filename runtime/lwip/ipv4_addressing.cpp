// Ipv4Address and Ipv4Addressing: the static addresses of netfront's lwIP netifs, parsed
// strictly (an appliance's command line is where a typo would otherwise become a silent
// wrong address).
#include <charconv>
#include <cstdio>
#include <string>

#include "netfront/lwip.hpp"

namespace netfront {
namespace {

Error bad(std::string what) { return Error::unknown(Error::Cause::BadArgument, std::move(what)); }

// A decimal number of at most `digits` digits, the whole of `text`.
bool parse_decimal(std::string_view text, std::size_t digits, unsigned& value) {
  if (text.empty() || text.size() > digits) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} && end == text.data() + text.size();
}

std::uint32_t to_host_order(const Ipv4Address& a) {
  return std::uint32_t{a.bytes[0]} << 24 | std::uint32_t{a.bytes[1]} << 16 | std::uint32_t{a.bytes[2]} << 8 | a.bytes[3];
}

}  // namespace

Result<Ipv4Address> Ipv4Address::parse(std::string_view text) {
  Ipv4Address a;
  std::string_view rest = text;
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t dot = i < 3 ? rest.find('.') : rest.size();
    unsigned octet = 0;
    if (dot == std::string_view::npos || !parse_decimal(rest.substr(0, dot), 3, octet) || octet > 255)
      return bad("'" + std::string(text) + "' is not an IPv4 address (a.b.c.d, each 0..255)");
    a.bytes[i] = static_cast<std::uint8_t>(octet);
    rest = i < 3 ? rest.substr(dot + 1) : std::string_view{};
  }
  return a;
}

std::string Ipv4Address::to_string() const {
  char text[16];
  std::snprintf(text, sizeof text, "%u.%u.%u.%u", bytes[0], bytes[1], bytes[2], bytes[3]);
  return text;
}

Result<Ipv4Addressing> Ipv4Addressing::parse(std::string_view text) {
  Ipv4Addressing a;
  const std::size_t comma = text.find(',');
  std::string_view address = text.substr(0, comma);
  std::string_view options = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  if (const std::size_t slash = address.find('/'); slash != std::string_view::npos) {
    if (!parse_decimal(address.substr(slash + 1), 2, a.prefix_length) || a.prefix_length > 32)
      return bad("'" + std::string(address) + "': the prefix length is 0..32");
    address = address.substr(0, slash);
  }
  auto ip = Ipv4Address::parse(address);
  if (!ip) return ip.error();
  a.address = *ip;
  while (!options.empty()) {
    const std::size_t next = options.find(',');
    const std::string_view option = options.substr(0, next);
    options = next == std::string_view::npos ? std::string_view{} : options.substr(next + 1);
    if (option.rfind("gw=", 0) == 0) {
      auto gw = Ipv4Address::parse(option.substr(3));
      if (!gw) return gw.error();
      a.gateway = *gw;
    } else if (option == "no-ipv6") {
      a.ipv6_link_local = false;
    } else {
      return bad("'" + std::string(option) + "': not an addressing option (gw=A.B.C.D, no-ipv6)");
    }
  }
  const std::uint32_t mask = to_host_order(a.netmask());
  if (a.gateway != Ipv4Address{} && (to_host_order(a.gateway) & mask) != (to_host_order(a.address) & mask))
    return bad("gateway " + a.gateway.to_string() + " is outside " + a.address.to_string() + "/" + std::to_string(a.prefix_length));
  return a;
}

Ipv4Address Ipv4Addressing::netmask() const {
  const std::uint32_t mask = prefix_length == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix_length);
  return Ipv4Address{{static_cast<std::uint8_t>(mask >> 24), static_cast<std::uint8_t>(mask >> 16),
                      static_cast<std::uint8_t>(mask >> 8), static_cast<std::uint8_t>(mask)}};
}

std::string Ipv4Addressing::to_string() const {
  std::string s = address.to_string() + "/" + std::to_string(prefix_length);
  if (gateway != Ipv4Address{}) s += ",gw=" + gateway.to_string();
  if (!ipv6_link_local) s += ",no-ipv6";
  return s;
}

}  // namespace netfront
