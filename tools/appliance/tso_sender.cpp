#include "tools/appliance/tso_sender.hpp"

#include <arpa/inet.h>

#include <cstdio>

#include "tools/frames/tcp_super_frame.hpp"

namespace netfront::appliance {
namespace {
constexpr std::uint16_t kSourcePort = 40000;
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
  auto pieces = frames::tcp_super_frame(pool.get(), {.src_mac = dev.mac(),
                                                     .dst_mac = s.to,
                                                     .src_ip = self.ipv4,
                                                     .dst_ip = s.dst_ip,
                                                     .src_port = kSourcePort,
                                                     .dst_port = s.dst_port,
                                                     .payload = s.bytes});
  if (!pieces) co_return std::move(pieces).error();
  co_return co_await dev.writev(*pieces, frames::tcp4_segmentation(s.mss));
}

}  // namespace netfront::appliance
