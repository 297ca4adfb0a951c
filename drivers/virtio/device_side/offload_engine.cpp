#include "drivers/virtio/device_side/offload_engine.hpp"

#include <cstring>
#include <vector>

namespace netfront::virtio::device_side {
namespace {

constexpr std::size_t kEthernet = 14;
constexpr std::uint16_t kEtherIpv4 = 0x0800, kEtherIpv6 = 0x86dd, kEtherVlan = 0x8100;
constexpr std::uint8_t kTcp = 6, kUdp = 17;
constexpr std::uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpCwr = 0x80;

std::uint16_t be16(const std::byte* p) noexcept {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) | std::to_integer<unsigned>(p[1]));
}
void put_be16(std::byte* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::byte>(v >> 8);
  p[1] = static_cast<std::byte>(v);
}
std::uint32_t be32(const std::byte* p) noexcept { return (std::uint32_t{be16(p)} << 16) | be16(p + 2); }
void put_be32(std::byte* p, std::uint32_t v) noexcept {
  put_be16(p, static_cast<std::uint16_t>(v >> 16));
  put_be16(p + 2, static_cast<std::uint16_t>(v));
}

// The TCP or UDP checksum of the segment in `s` (L3 header at l3, L4 at l4), from scratch.
void set_l4_checksum(std::span<std::byte> s, std::size_t l3, std::size_t l4, bool ipv4, std::uint8_t proto,
                     std::size_t check_at) noexcept {
  const std::size_t l4_len = s.size() - l4;
  std::uint32_t sum = ipv4 ? ones_sum(s.subspan(l3 + 12, 8)) : ones_sum(s.subspan(l3 + 8, 32));
  sum += proto;
  sum += static_cast<std::uint32_t>(l4_len >> 16) + static_cast<std::uint32_t>(l4_len & 0xffff);
  put_be16(s.data() + check_at, 0);
  sum = ones_sum(s.subspan(l4), sum);
  std::uint16_t c = static_cast<std::uint16_t>(~fold(sum));
  if (proto == kUdp && c == 0) c = 0xffff;  // RFC 768: zero means "no checksum"
  put_be16(s.data() + check_at, c);
}

}  // namespace

bool segment(std::span<const std::byte> frame, const net::virtio_net_hdr& h,
             const std::function<void(std::span<const std::byte>)>& out) {
  const std::uint8_t type = h.gso_type & static_cast<std::uint8_t>(~net::VIRTIO_NET_HDR_GSO_ECN);
  const bool udp = type == net::VIRTIO_NET_HDR_GSO_UDP_L4;
  if ((type != net::VIRTIO_NET_HDR_GSO_TCPV4 && type != net::VIRTIO_NET_HDR_GSO_TCPV6 && !udp) || h.gso_size == 0) return false;
  // Where the IP header is: behind the Ethernet header and at most one VLAN tag.
  if (frame.size() < kEthernet) return false;
  std::size_t l3 = kEthernet;
  std::uint16_t ether = be16(frame.data() + 12);
  if (ether == kEtherVlan) {
    if (frame.size() < kEthernet + 4) return false;
    ether = be16(frame.data() + 16);
    l3 += 4;
  }
  const bool ipv4 = ether == kEtherIpv4;
  if (!ipv4 && ether != kEtherIpv6) return false;
  if ((type == net::VIRTIO_NET_HDR_GSO_TCPV4) != ipv4 && !udp) return false;
  const std::size_t l4 = h.csum_start;
  if (l4 < l3 + (ipv4 ? 20 : 40) || l4 + (udp ? 8 : 20) > frame.size()) return false;
  // The IPv4 header's own length (IHL): at least 5 words, and ending where the L4 header starts
  // at the latest, since its checksum is summed over it in every segment.
  const std::size_t ihl = ipv4 ? 4u * (std::to_integer<unsigned>(frame[l3]) & 0xf) : 0;
  if (ipv4 && (ihl < 20 || l3 + ihl > l4)) return false;
  const std::size_t l4_header = udp ? 8 : 4u * (std::to_integer<unsigned>(frame[l4 + 12]) >> 4);
  if (l4_header < (udp ? 8u : 20u) || l4 + l4_header > frame.size()) return false;
  const std::size_t headers = l4 + l4_header;
  const std::size_t payload = frame.size() - headers;
  std::vector<std::byte> s(headers + h.gso_size);
  const std::uint32_t seq = udp ? 0 : be32(frame.data() + l4 + 4);
  const std::uint16_t id = ipv4 ? be16(frame.data() + l3 + 4) : 0;
  const std::uint8_t flags = udp ? 0 : std::to_integer<std::uint8_t>(frame[l4 + 13]);
  std::size_t done = 0;
  for (unsigned i = 0; done < payload || (payload == 0 && i == 0); ++i) {
    const std::size_t n = std::min<std::size_t>(h.gso_size, payload - done);
    const bool last = done + n == payload;
    s.resize(headers + n);
    std::memcpy(s.data(), frame.data(), headers);
    std::memcpy(s.data() + headers, frame.data() + headers + done, n);
    if (ipv4) {
      put_be16(s.data() + l3 + 2, static_cast<std::uint16_t>(s.size() - l3));
      put_be16(s.data() + l3 + 4, static_cast<std::uint16_t>(id + i));
      put_be16(s.data() + l3 + 10, 0);
      put_be16(s.data() + l3 + 10, static_cast<std::uint16_t>(~fold(ones_sum(std::span(s).subspan(l3, ihl)))));
    } else {
      put_be16(s.data() + l3 + 4, static_cast<std::uint16_t>(s.size() - l3 - 40));
    }
    if (udp) {
      put_be16(s.data() + l4 + 4, static_cast<std::uint16_t>(s.size() - l4));
      set_l4_checksum(s, l3, l4, ipv4, kUdp, l4 + 6);
    } else {
      put_be32(s.data() + l4 + 4, static_cast<std::uint32_t>(seq + done));
      std::uint8_t f = flags;
      if (!last) f &= static_cast<std::uint8_t>(~(kTcpFin | kTcpPsh));
      if (i > 0) f &= static_cast<std::uint8_t>(~kTcpCwr);
      s[l4 + 13] = static_cast<std::byte>(f);
      set_l4_checksum(s, l3, l4, ipv4, kTcp, l4 + 16);
    }
    out(s);
    done += n;
    if (payload == 0) break;
  }
  return true;
}

}  // namespace netfront::virtio::device_side
