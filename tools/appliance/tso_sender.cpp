#include "tools/appliance/tso_sender.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <vector>

#include "netfront/offload.hpp"

namespace netfront::appliance {
namespace {

constexpr std::size_t kIp = 14, kTcp = 34, kPayload = 54;  // where each header starts
constexpr std::uint16_t kSourcePort = 40000;
constexpr std::size_t kPieceBytes = 2000;  // bytes per buffer (of a pool's 2048-byte rooms)

void put16(std::vector<std::uint8_t>& f, std::size_t at, std::uint32_t v) {
  f[at] = static_cast<std::uint8_t>(v >> 8);
  f[at + 1] = static_cast<std::uint8_t>(v);
}
void put32(std::vector<std::uint8_t>& f, std::size_t at, std::uint32_t v) {
  put16(f, at, v >> 16);
  put16(f, at + 2, v & 0xffff);
}
std::uint32_t sum16(const std::vector<std::uint8_t>& f, std::size_t from, std::size_t to) {
  std::uint32_t s = 0;
  for (std::size_t i = from; i + 1 < to; i += 2) s += static_cast<std::uint32_t>(f[i] << 8 | f[i + 1]);
  return s;
}
std::uint16_t fold(std::uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<std::uint16_t>(s);
}

}  // namespace

std::optional<TsoSend> parse_tso_send(const std::string& line) {
  char mac[32] = {}, ip[32] = {}, rest = 0;
  unsigned port = 0, bytes = 0, mss = 0;
  if (std::sscanf(line.c_str(), " tso-send %31s %31s %u %u %u %c", mac, ip, &port, &bytes, &mss, &rest) != 5) return std::nullopt;
  TsoSend s;
  auto to = MacAddress::parse(mac);
  in_addr a{};
  if (!to || ::inet_pton(AF_INET, ip, &a) != 1 || port == 0 || port > 0xffff || bytes == 0 || mss == 0 || mss > 0xffff)
    return std::nullopt;
  s.to = *to;
  s.dst_ip = ntohl(a.s_addr);
  s.dst_port = static_cast<std::uint16_t>(port);
  s.bytes = bytes;
  s.mss = static_cast<std::uint16_t>(mss);
  return s;
}

io<Result<>> send_tso(Netif& dev, PacketPool& pool, const EchoAddress& self, const TsoSend& s) {
  // The headers, as a stack hands them to a device with segmentation offload: IPv4 with its
  // checksum, TCP with the pseudo-header's sum (over the whole super-frame's TCP length) in
  // its checksum field, for the device to complete in each segment.
  std::vector<std::uint8_t> h(kPayload);
  for (int i = 0; i < 6; ++i) {
    h[i] = s.to.bytes[i];
    h[6 + i] = dev.mac().bytes[i];
  }
  put16(h, 12, 0x0800);
  const std::uint32_t tcp_length = 20 + s.bytes;
  h[kIp] = 0x45;
  put16(h, kIp + 2, 20 + tcp_length);  // beyond 65535 the write is refused: the frame is too long
  put16(h, kIp + 4, 1);
  put16(h, kIp + 6, 0x4000);  // don't fragment
  h[kIp + 8] = 64;
  h[kIp + 9] = 6;
  put32(h, kIp + 12, self.ipv4);
  put32(h, kIp + 16, s.dst_ip);
  put16(h, kIp + 10, static_cast<std::uint16_t>(~fold(sum16(h, kIp, kTcp))));
  put16(h, kTcp, kSourcePort);
  put16(h, kTcp + 2, s.dst_port);
  put32(h, kTcp + 4, 1);
  h[kTcp + 12] = 0x50;
  h[kTcp + 13] = 0x18;  // PSH ACK
  put16(h, kTcp + 14, 0xffff);
  put16(h, kTcp + 16, fold(sum16(h, kIp + 12, kIp + 20) + 6 + tcp_length));

  std::vector<Buffer> pieces;
  std::vector<std::uint8_t> chunk;
  for (std::size_t at = 0; at < s.bytes || pieces.empty();) {
    chunk.clear();
    if (pieces.empty()) chunk = h;
    const std::size_t n = std::min<std::size_t>(s.bytes - at, kPieceBytes - chunk.size());
    for (std::size_t i = 0; i < n; ++i) chunk.push_back(static_cast<std::uint8_t>((at + i) % 251));
    at += n;
    auto b = Buffer::copy_from(pool.get(), std::as_bytes(std::span(chunk)));
    if (!b) co_return std::move(b).error();
    pieces.push_back(std::move(*b));
  }
  const TxOffload o{.checksum = {.requested = true, .start = kTcp, .offset = 16}, .gso = Gso::Tcp4, .segment_size = s.mss};
  co_return co_await dev.writev(pieces, o);
}

}  // namespace netfront::appliance
