// Out-of-line parts of the API's value types: Error, MacAddress, Stats, LinkStatus, RxMode.
#include <cstdio>

#include "drivers/netif/queue_counters.hpp"
#include "netfront/error.hpp"
#include "netfront/link.hpp"
#include "netfront/mac_address.hpp"
#include "netfront/rx_filter.hpp"
#include "netfront/stats.hpp"

namespace netfront {

std::string_view to_string(Error::Kind kind) noexcept {
  switch (kind) {
    case Error::Kind::Unknown: return "Unknown";
    case Error::Kind::Unimplemented: return "Unimplemented";
    case Error::Kind::Disconnected: return "Disconnected";
    case Error::Kind::InvalidLength: return "InvalidLength";
  }
  return "?";
}

std::string_view to_string(Error::Cause cause) noexcept {
  switch (cause) {
    case Error::Cause::Unspecified: return "unspecified";
    case Error::Cause::BadArgument: return "bad argument";
    case Error::Cause::DeviceGone: return "device gone";
    case Error::Cause::DeviceFault: return "device fault";
    case Error::Cause::DeviceRefused: return "device refused";
    case Error::Cause::NoResources: return "no resources";
    case Error::Cause::System: return "system";
    case Error::Cause::Timeout: return "timeout";
  }
  return "?";
}

std::string Error::to_string() const {
  std::string s(netfront::to_string(kind_));
  // The cause, unless it says no more than the kind does.
  const bool said = cause_ == Cause::Unspecified || (kind_ == Kind::Disconnected && cause_ == Cause::DeviceGone) ||
                    (kind_ == Kind::InvalidLength && cause_ == Cause::BadArgument);
  if (!said) s += " (" + std::string(netfront::to_string(cause_)) + ")";
  if (!message_.empty()) s += ": " + message_;
  return s;
}

std::string_view to_string(RxMode mode) noexcept {
  switch (mode) {
    case RxMode::Promiscuous: return "promiscuous";
    case RxMode::AllMulticast: return "all-multicast";
    case RxMode::AllUnicast: return "all-unicast";
    case RxMode::NoMulticast: return "no-multicast";
    case RxMode::NoUnicast: return "no-unicast";
    case RxMode::NoBroadcast: return "no-broadcast";
  }
  return "?";
}

std::optional<MacAddress> MacAddress::parse(std::string_view text) noexcept {
  if (text.size() != 17) return std::nullopt;
  MacAddress m;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 6; ++i) {
    const int hi = hex(text[3 * i]), lo = hex(text[3 * i + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':')) return std::nullopt;
    m.bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return m;
}

std::string MacAddress::to_string() const {
  char b[18];
  std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]);
  return b;
}

Stats& Stats::operator+=(const Stats& o) noexcept {
  rx_bytes += o.rx_bytes;
  rx_pkts += o.rx_pkts;
  tx_bytes += o.tx_bytes;
  tx_pkts += o.tx_pkts;
  rx_drops += o.rx_drops;
  tx_drops += o.tx_drops;
  tx_ring_full += o.tx_ring_full;
  device_errors += o.device_errors;
  tx_stalls += o.tx_stalls;
  tx_renotified += o.tx_renotified;
  rx_length_errors += o.rx_length_errors;
  return *this;
}

Stats operator-(Stats a, const Stats& b) noexcept {
  a.rx_bytes -= b.rx_bytes;
  a.rx_pkts -= b.rx_pkts;
  a.tx_bytes -= b.tx_bytes;
  a.tx_pkts -= b.tx_pkts;
  a.rx_drops -= b.rx_drops;
  a.tx_drops -= b.tx_drops;
  a.tx_ring_full -= b.tx_ring_full;
  a.device_errors -= b.device_errors;
  a.tx_stalls -= b.tx_stalls;
  a.tx_renotified -= b.tx_renotified;
  a.rx_length_errors -= b.rx_length_errors;
  return a;
}

Stats drivers::QueueCounters::snapshot() const noexcept {
  Stats s;
  s.rx_bytes = rx_bytes.read();
  s.rx_pkts = rx_pkts.read();
  s.tx_bytes = tx_bytes.read();
  s.tx_pkts = tx_pkts.read();
  s.rx_drops = rx_drops.read();
  s.tx_drops = tx_drops.read();
  s.tx_ring_full = tx_ring_full.read();
  s.device_errors = device_errors.read();
  s.tx_stalls = tx_stalls.read();
  s.tx_renotified = tx_renotified.read();
  s.rx_length_errors = rx_length_errors.read();
  return s;
}

std::string LinkStatus::to_string() const {
  if (!up) return "down";
  std::string s = "up";
  if (speed_mbps != 0) s += " " + std::to_string(speed_mbps) + " Mbit/s";
  if (duplex != Duplex::Unknown) s += duplex == Duplex::Full ? " full duplex" : " half duplex";
  return s;
}

}  // namespace netfront
