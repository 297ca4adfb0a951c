#include "tools/appliance/echo_responder.hpp"

namespace netfront::appliance {
namespace {

constexpr std::size_t kEth = 14;
constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint16_t kEtherTypeArp = 0x0806;
constexpr std::uint8_t kProtoIcmp = 1;
constexpr std::uint8_t kProtoUdp = 17;

void swap_macs(Buffer& f, const MacAddress& self) {
  for (int i = 0; i < 6; ++i) {
    f.set_u8(i, f.get_u8(6 + i));
    f.set_u8(6 + i, self.bytes[i]);
  }
}

// RFC 826: a request for our address becomes a reply from us to the asker.
Answer answer_arp(Buffer& f, const EchoAddress& self, EchoCounters& n) {
  constexpr std::size_t kArpLength = 28;
  if (f.length() < kEth + kArpLength) return ++n.malformed, Answer::None;
  Buffer arp = f.sub(kEth, kArpLength);
  const bool ethernet_ipv4 = arp.get_be16(0) == 1 && arp.get_be16(2) == kEtherTypeIpv4 && arp.get_u8(4) == 6 && arp.get_u8(5) == 4;
  if (!ethernet_ipv4 || arp.get_be16(6) != 1 || arp.get_be32(24) != self.ipv4) return ++n.ignored, Answer::None;
  arp.set_be16(6, 2);  // reply
  for (int i = 0; i < 10; ++i) arp.set_u8(18 + i, arp.get_u8(8 + i));  // target = the asker (sha, spa)
  for (int i = 0; i < 6; ++i) arp.set_u8(8 + i, self.mac.bytes[i]);
  arp.set_be32(14, self.ipv4);
  swap_macs(f, self.mac);
  f = f.sub(0, kEth + kArpLength);
  ++n.arp;
  return Answer::Arp;
}

// RFC 791/792/768: swap the addresses (and ports), fix what the change breaks.
Answer answer_ipv4(Buffer& f, const EchoAddress& self, EchoCounters& n) {
  if (f.length() < kEth + 20) return ++n.malformed, Answer::None;
  Buffer ip = f.shift(kEth);
  const unsigned header = (ip.get_u8(0) & 0x0f) * 4u;
  const unsigned total = ip.get_be16(2);
  if ((ip.get_u8(0) >> 4) != 4 || header < 20 || total < header || total > ip.length() ||
      internet_checksum(ip, 0, header) != 0)
    return ++n.malformed, Answer::None;
  if (ip.get_be32(16) != self.ipv4) return ++n.ignored, Answer::None;
  if (ip.get_be16(6) & 0x3fff) return ++n.ignored, Answer::None;  // fragments are not reassembled
  ip = ip.sub(0, total);
  const std::uint8_t proto = ip.get_u8(9);
  Answer kind = Answer::None;
  if (proto == kProtoIcmp && total >= header + 8 && ip.get_u8(header) == 8 && ip.get_u8(header + 1) == 0) {
    if (internet_checksum(ip, header, total - header) != 0) return ++n.malformed, Answer::None;
    ip.set_u8(header, 0);  // echo reply
    ip.set_be16(header + 2, 0);
    ip.set_be16(header + 2, internet_checksum(ip, header, total - header));
    kind = Answer::IcmpEcho;
    ++n.icmp;
  } else if (proto == kProtoUdp && total >= header + 8 && ip.get_be16(header + 2) == self.udp_port) {
    if (ip.get_be16(header + 4) != total - header) return ++n.malformed, Answer::None;
    // Swapping ports and addresses leaves the UDP checksum's sum unchanged: it stays valid.
    const std::uint16_t from = ip.get_be16(header);
    ip.set_be16(header, self.udp_port);
    ip.set_be16(header + 2, from);
    kind = Answer::UdpEcho;
    ++n.udp;
  } else {
    return ++n.ignored, Answer::None;
  }
  ip.set_be32(16, ip.get_be32(12));
  ip.set_be32(12, self.ipv4);
  ip.set_u8(8, 64);  // a fresh TTL for the reply
  ip.set_be16(10, 0);
  ip.set_be16(10, internet_checksum(ip, 0, header));
  swap_macs(f, self.mac);
  f = f.sub(0, kEth + total);  // drop any Ethernet padding
  return kind;
}

}  // namespace

std::uint16_t internet_checksum(const Buffer& b, std::size_t offset, std::size_t length) {
  std::uint32_t sum = 0;
  std::size_t i = 0;
  for (; i + 1 < length; i += 2) sum += b.get_be16(offset + i);
  if (i < length) sum += static_cast<std::uint32_t>(b.get_u8(offset + i)) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

Answer answer_in_place(Buffer& frame, const EchoAddress& self, EchoCounters& counters) {
  if (frame.length() < kEth) return ++counters.malformed, Answer::None;
  switch (frame.get_be16(12)) {
    case kEtherTypeArp: return answer_arp(frame, self, counters);
    case kEtherTypeIpv4: return answer_ipv4(frame, self, counters);
    default: return ++counters.ignored, Answer::None;
  }
}

}  // namespace netfront::appliance
