// A stretch of a TCP/IPv4 stream as one super-frame of up to 64 KiB, in pieces of a pool's
// buffers, the way a stack with TSO hands it to a device: IPv4 with its checksum, TCP with the
// pseudo-header's sum (over the whole super-frame's TCP length) in its checksum field, for the
// device to complete in every segment it cuts. For the tools that send such frames: the echo
// appliance's tso-send and netfront-perf --tso.
#pragma once

#include <rte_mempool.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "netfront/buffer.hpp"
#include "netfront/mac_address.hpp"
#include "netfront/offload.hpp"
#include "netfront/result.hpp"

namespace netfront::frames {

struct TcpStream {
  MacAddress src_mac, dst_mac;
  std::uint32_t src_ip = 0, dst_ip = 0;  // host byte order
  std::uint16_t src_port = 0, dst_port = 0;
  std::uint32_t payload = 0;  // bytes of the stream from sequence number 1; byte i is i % 251
};

// Where the headers end: Ethernet, IPv4 and TCP without options.
inline constexpr std::size_t kTcpHeadersEnd = 54;

// The frame in pieces of at most 2000 bytes (a default pool's 2048-byte rooms), headers in the
// first. Beyond 65535 bytes of IPv4 packet the frame is one netfront refuses to send.
Result<std::vector<Buffer>> tcp_super_frame(rte_mempool* pool, const TcpStream& s);

// The request that goes with it: complete the TCP checksum, cut into segments of `mss` bytes.
TxOffload tcp4_segmentation(std::uint16_t mss) noexcept;

}  // namespace netfront::frames
