#include "tools/frames/tcp_super_frame.hpp"

#include <algorithm>
#include <span>

namespace netfront::frames {
namespace {

constexpr std::size_t kIp = 14, kTcp = 34;  // where each header starts
constexpr std::size_t kPieceBytes = 2000;

void put16(std::vector<std::uint8_t>& f, std::size_t at, std::uint32_t v) {
  f[at] = static_cast<std::uint8_t>(v >> 8);
  f[at + 1] = static_cast<std::uint8_t>(v);
}
void put32(std::vector<std::uint8_t>& f, std::size_t at, std::uint32_t v) {
  put16(f, at, v >> 16);
  put16(f, at + 2, v & 0xffff);
}
// The ones' complement sum of the 16-bit words of [from, to), folded, starting from `s`.
std::uint16_t sum16(const std::vector<std::uint8_t>& f, std::size_t from, std::size_t to, std::uint32_t s = 0) {
  for (std::size_t i = from; i + 1 < to; i += 2) s += static_cast<std::uint32_t>(f[i] << 8 | f[i + 1]);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<std::uint16_t>(s);
}

}  // namespace

Result<std::vector<Buffer>> tcp_super_frame(rte_mempool* pool, const TcpStream& s) {
  std::vector<std::uint8_t> h(kTcpHeadersEnd);
  for (int i = 0; i < 6; ++i) {
    h[i] = s.dst_mac.bytes[i];
    h[6 + i] = s.src_mac.bytes[i];
  }
  put16(h, 12, 0x0800);
  const std::uint32_t tcp_length = 20 + s.payload;
  h[kIp] = 0x45;
  put16(h, kIp + 2, 20 + tcp_length);
  put16(h, kIp + 4, 1);
  put16(h, kIp + 6, 0x4000);  // don't fragment
  h[kIp + 8] = 64;
  h[kIp + 9] = 6;
  put32(h, kIp + 12, s.src_ip);
  put32(h, kIp + 16, s.dst_ip);
  put16(h, kIp + 10, static_cast<std::uint16_t>(~sum16(h, kIp, kTcp)));
  put16(h, kTcp, s.src_port);
  put16(h, kTcp + 2, s.dst_port);
  put32(h, kTcp + 4, 1);
  h[kTcp + 12] = 0x50;
  h[kTcp + 13] = 0x18;  // PSH ACK
  put16(h, kTcp + 14, 0xffff);
  put16(h, kTcp + 16, sum16(h, kIp + 12, kIp + 20, 6 + tcp_length));

  std::vector<Buffer> pieces;
  std::vector<std::uint8_t> chunk;
  for (std::size_t at = 0; at < s.payload || pieces.empty();) {
    chunk.clear();
    if (pieces.empty()) chunk = h;
    const std::size_t n = std::min<std::size_t>(s.payload - at, kPieceBytes - chunk.size());
    for (std::size_t i = 0; i < n; ++i) chunk.push_back(static_cast<std::uint8_t>((at + i) % 251));
    at += n;
    auto b = Buffer::copy_from(pool, std::as_bytes(std::span(chunk)));
    if (!b) return std::move(b).error();
    pieces.push_back(std::move(*b));
  }
  return pieces;
}

TxOffload tcp4_segmentation(std::uint16_t mss) noexcept {
  return {.checksum = {.requested = true, .start = kTcp, .offset = 16}, .gso = Gso::Tcp4, .segment_size = mss};
}

}  // namespace netfront::frames
