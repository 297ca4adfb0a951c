// The echo appliance's protocol work: answers ARP requests for its address, ICMP echo
// requests, and UDP datagrams to its echo port. Each answer is made in place, in the mbuf
// the device wrote the request into (addresses swapped, checksums fixed), so the reply goes
// back to the ring without a copy. Written only against netfront's Buffer.
#pragma once

#include <cstdint>

#include "netfront/buffer.hpp"
#include "netfront/mac_address.hpp"

namespace netfront::appliance {

struct EchoAddress {
  MacAddress mac;
  std::uint32_t ipv4 = 0;  // host byte order, 10.0.2.15 = 0x0a00020f
  std::uint16_t udp_port = 7;
};

enum class Answer { None, Arp, IcmpEcho, UdpEcho };

struct EchoCounters {
  std::uint64_t arp = 0;
  std::uint64_t icmp = 0;
  std::uint64_t udp = 0;
  std::uint64_t ignored = 0;    // not for us, or a kind we do not answer
  std::uint64_t malformed = 0;  // too short, bad lengths or checksums
};

// Rewrites `frame` into its answer and returns what kind it is; Answer::None leaves the
// frame alone (the caller drops it). `frame` is trimmed to the answer's length.
Answer answer_in_place(Buffer& frame, const EchoAddress& self, EchoCounters& counters);

// RFC 1071 Internet checksum of `length` bytes of `b` from `offset`.
std::uint16_t internet_checksum(const Buffer& b, std::size_t offset, std::size_t length);

}  // namespace netfront::appliance
