// What a driver sends when its device asks to be announced (virtio 1.2 §5.1.6.5.4, after a
// live migration): a RARP request for its own MAC, broadcast, so that switches learn where the
// MAC now is (RFC 903; what QEMU's announce-self and DPDK's virtio PMD send).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "netfront/mac_address.hpp"

namespace netfront::virtio::net {

inline constexpr std::size_t kRarpFrameLength = 60;  // 42 bytes of RARP, padded to Ethernet's minimum

inline std::array<std::byte, kRarpFrameLength> rarp_frame(const MacAddress& mac) noexcept {
  std::array<std::byte, kRarpFrameLength> f{};
  auto put = [&](std::size_t at, std::initializer_list<std::uint8_t> bytes) {
    for (std::uint8_t b : bytes) f[at++] = std::byte{b};
  };
  auto put_mac = [&](std::size_t at) {
    for (std::uint8_t b : mac.bytes) f[at++] = std::byte{b};
  };
  put(0, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff});  // broadcast
  put_mac(6);
  put(12, {0x80, 0x35});  // EtherType RARP
  put(14, {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x03});  // Ethernet, IPv4, hlen 6, plen 4, op 3: request reverse
  put_mac(22);            // sender hardware address; sender protocol address 0.0.0.0
  put_mac(32);            // target hardware address; target protocol address 0.0.0.0
  return f;
}

}  // namespace netfront::virtio::net
