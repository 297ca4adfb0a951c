// The echo appliance's "tso-send" console command: a stretch of a TCP/IPv4 stream sent as one
// super-frame of up to 64 KiB for the device to cut into segments (TxOffload, Gso::Tcp4), so
// that a test sees what the device, and the host kernel behind it, make of netfront's
// segmentation request: segments of the asked size with every checksum right.
//
//   tso-send DSTMAC DSTIP PORT BYTES MSS
//
// BYTES of payload (byte i of the stream is i % 251) from the appliance's address, port 40000,
// sequence number 1, to DSTIP:PORT through DSTMAC, in segments of MSS payload bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "netfront/io.hpp"
#include "netfront/mac_address.hpp"
#include "netfront/netif.hpp"
#include "netfront/packet_pool.hpp"
#include "tools/appliance/echo_responder.hpp"

namespace netfront::appliance {

struct TsoSend {
  MacAddress to;
  std::uint32_t dst_ip = 0;  // host byte order
  std::uint16_t dst_port = 0;
  std::uint32_t bytes = 0;
  std::uint16_t mss = 0;
};

// The command's arguments; nullopt when `line` is not "tso-send ..." with five good ones.
std::optional<TsoSend> parse_tso_send(const std::string& line);

// Builds the super-frame in buffers of `pool` and writes it with the segmentation request;
// the device's and netfront's refusals are the result (a payload the frame cannot hold, an
// MSS beyond the MTU, no tso4 agreed: Unknown or InvalidLength).
io<Result<>> send_tso(Netif& dev, PacketPool& pool, const EchoAddress& self, const TsoSend& s);

}  // namespace netfront::appliance
