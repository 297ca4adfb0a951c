// TCP and UDP packets over IPv4 and IPv6 as a stack hands them to a device with checksum
// offload: the L4 checksum field holds the pseudo-header's sum only. For tests of checksum and
// segmentation offloads against the loop device and real peers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "drivers/virtio/device_side/offload_engine.hpp"
#include "netfront/offload.hpp"

namespace netfront::testing {

namespace side = virtio::device_side;

inline constexpr std::size_t kL3 = 14;

inline std::uint16_t be16(std::span<const std::byte> b, std::size_t at) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(b[at]) << 8) | std::to_integer<unsigned>(b[at + 1]));
}
inline std::uint32_t be32(std::span<const std::byte> b, std::size_t at) { return (std::uint32_t{be16(b, at)} << 16) | be16(b, at + 2); }
inline void put16(std::vector<std::byte>& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::byte>(v >> 8);
  b[at + 1] = static_cast<std::byte>(v);
}

// A TCP or UDP packet over IPv4 or IPv6 in an Ethernet frame, with the L4 checksum field
// holding the pseudo-header's sum (what a stack leaves for the device to complete).
struct Packet {
  bool ipv6 = false;
  bool udp = false;
  std::size_t payload = 100;
  std::uint8_t tcp_flags = 0x18;  // PSH ACK

  std::size_t l4() const { return kL3 + (ipv6 ? 40 : 20); }
  std::size_t headers() const { return l4() + (udp ? 8 : 20); }
  std::uint16_t check_offset() const { return udp ? 6 : 16; }

  std::vector<std::byte> bytes() const {
    std::vector<std::byte> f(headers() + payload);
    for (std::size_t i = 0; i < 6; ++i) f[i] = std::byte{0xff};
    f[6] = std::byte{0x52};
    put16(f, 12, ipv6 ? 0x86dd : 0x0800);
    const std::uint8_t proto = udp ? 17 : 6;
    const std::size_t l4_len = f.size() - l4();
    if (ipv6) {
      f[kL3] = std::byte{0x60};
      put16(f, kL3 + 4, static_cast<std::uint16_t>(l4_len));
      f[kL3 + 6] = std::byte{proto};
      f[kL3 + 7] = std::byte{64};
      for (std::size_t i = 0; i < 32; ++i) f[kL3 + 8 + i] = static_cast<std::byte>(i + 1);
    } else {
      f[kL3] = std::byte{0x45};
      put16(f, kL3 + 2, static_cast<std::uint16_t>(f.size() - kL3));
      put16(f, kL3 + 4, 0x1234);
      f[kL3 + 8] = std::byte{64};
      f[kL3 + 9] = std::byte{proto};
      for (std::size_t i = 0; i < 8; ++i) f[kL3 + 12 + i] = static_cast<std::byte>(10 + i);
      put16(f, kL3 + 10, static_cast<std::uint16_t>(~side::fold(side::ones_sum(std::span(f).subspan(kL3, 20)))));
    }
    if (udp) {
      put16(f, l4(), 4000);
      put16(f, l4() + 2, 5000);
      put16(f, l4() + 4, static_cast<std::uint16_t>(l4_len));
    } else {
      put16(f, l4(), 4000);
      put16(f, l4() + 2, 80);
      put16(f, l4() + 4, 0x0102);
      put16(f, l4() + 6, 0x0304);  // sequence 0x01020304
      f[l4() + 12] = std::byte{0x50};
      f[l4() + 13] = std::byte{tcp_flags};
      put16(f, l4() + 14, 0xffff);
    }
    for (std::size_t i = 0; i < payload; ++i) f[headers() + i] = static_cast<std::byte>(i % 251);
    put16(f, l4() + check_offset(), side::fold(pseudo_sum(f, l4_len)));
    return f;
  }

  std::uint32_t pseudo_sum(std::span<const std::byte> f, std::size_t l4_len) const {
    std::uint32_t sum = ipv6 ? side::ones_sum(f.subspan(kL3 + 8, 32)) : side::ones_sum(f.subspan(kL3 + 12, 8));
    return sum + (udp ? 17u : 6u) + static_cast<std::uint32_t>(l4_len);
  }
  // Whether the L4 checksum of `f` (a packet of this shape) is right.
  bool checksum_ok(std::span<const std::byte> f) const {
    const std::size_t l4_len = f.size() - l4();
    return side::fold(side::ones_sum(f.subspan(l4()), pseudo_sum(f, l4_len))) == 0xffff;
  }
  TxOffload checksum_only() const {
    return {.checksum = {.requested = true, .start = static_cast<std::uint16_t>(l4()), .offset = check_offset()}};
  }
  TxOffload segmented(std::uint16_t mss) const {
    TxOffload o = checksum_only();
    o.gso = udp ? Gso::Udp : ipv6 ? Gso::Tcp6 : Gso::Tcp4;
    o.segment_size = mss;
    return o;
  }
};

}  // namespace netfront::testing
