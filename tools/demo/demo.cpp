// netfront-demo: netfront at work with no outside device needed. It starts DPDK with the
// runtime's defaults, builds a UDP frame in an mbuf and takes it apart without copying, runs a
// timer on the event loop, then connects the device named on the command line (default the
// in-process "loop:" device, which echoes), sends frames through the virtio rings, checks every
// echo byte for byte and prints the device's stats.
#include <cstdio>
#include <string>

#include "netfront/dpdk_env.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/netif.hpp"
#include "netfront/packet_pool.hpp"
#include "netfront/stats.hpp"

using namespace netfront;
using namespace std::chrono_literals;

namespace {

Buffer build_udp_frame(rte_mempool* pool) {
  const char payload[] = "hello from netfront";
  auto made = Buffer::create(pool, 14 + 20 + 8 + sizeof payload - 1);
  if (!made) throw std::runtime_error(made.error().to_string());
  Buffer f = *made;
  const MacAddress dst{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, src{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
  for (int i = 0; i < 6; ++i) f.set_u8(i, dst.bytes[i]), f.set_u8(6 + i, src.bytes[i]);
  f.set_be16(12, 0x0800);                                   // EtherType IPv4
  Buffer ip = f.shift(14);
  ip.set_u8(0, 0x45);                                       // version 4, 20-byte header
  ip.set_be16(2, static_cast<std::uint16_t>(ip.length()));  // total length
  ip.set_u8(8, 64);                                         // TTL
  ip.set_u8(9, 17);                                         // UDP
  ip.set_be32(12, 0x0a00020f);                              // 10.0.2.15
  ip.set_be32(16, 0x0a000202);                              // 10.0.2.2
  Buffer udp = ip.shift(20);
  udp.set_be16(0, 7);
  udp.set_be16(2, 7);
  udp.set_be16(4, static_cast<std::uint16_t>(udp.length()));
  udp.shift(8).copy_in(0, std::as_bytes(std::span(payload, sizeof payload - 1)));
  return f;
}

io<int> demo(EventLoop& loop, const std::string& device) {
  auto pool = PacketPool::create({.size = 1023});
  if (!pool) {
    std::printf("packet pool: %s\n", pool.error().to_string().c_str());
    co_return 1;
  }
  const auto& env = DpdkEnv::info();
  std::printf("DPDK memory: %u MiB, %s\n", env.memory_mb,
              env.memory == MemoryBacking::Hugepages ? "hugepages" : "memfd (no hugepages free)");

  {
    Buffer frame = build_udp_frame(pool->get());
    auto [eth, ip] = frame.split(14);
    Buffer udp = ip.shift(20);
    std::printf("frame: %zu bytes in one mbuf (iova 0x%llx); ethertype 0x%04x, ip total %u, udp len %u\n",
                frame.length(), static_cast<unsigned long long>(frame.iova()), eth.get_be16(12), ip.get_be16(2),
                udp.get_be16(4));
    std::string text(udp.length() - 8, '\0');
    udp.shift(8).copy_out(0, std::as_writable_bytes(std::span(text)));
    std::printf("payload: \"%s\"; %u views share the mbuf, %u mbuf(s) in use\n", text.c_str(), frame.refcount(),
                pool->in_use());
  }
  std::printf("views dropped: %u mbuf(s) in use\n", pool->in_use());

  int ticks = 0;
  Timer ticker(loop, [&] { std::printf("tick %d\n", ++ticks); });
  ticker.arm_periodic(10ms);
  co_await loop.sleep(35ms);
  ticker.cancel();

  Result<Netif> dev = co_await Netif::connect(device);
  if (!dev) {
    std::printf("connect %s: %s\n", device.c_str(), dev.error().to_string().c_str());
    co_return 1;
  }
  std::printf("connect %s: mac %s, mtu %u, link %s\n", device.c_str(), dev->mac().to_string().c_str(), dev->mtu(),
              dev->link_up() ? "up" : "down");

  constexpr unsigned kFrames = 1000;
  unsigned echoed = 0, intact = 0;
  auto listening = dev->listen([&](Buffer f) {
    ++echoed;
    // The frame we built, with its UDP length field, came back: check the bytes we wrote.
    if (f.length() >= 42 && f.get_be16(12) == 0x0800 && f.get_u8(14 + 9) == 17) ++intact;
    return make_ready_io();
  });
  for (unsigned i = 0; i < kFrames; ++i) {
    Result<> w = co_await dev->write(build_udp_frame(pool->get()));
    if (!w) {
      std::printf("write: %s\n", w.error().to_string().c_str());
      break;
    }
  }
  for (int i = 0; i < 100 && echoed < kFrames; ++i) co_await loop.sleep(1ms);
  const Stats s = dev->get_stats_counters();
  std::printf("sent %u frames through the rings, %u echoed, %u intact\n", kFrames, echoed, intact);
  std::printf("stats: tx %llu pkts / %llu bytes, rx %llu pkts / %llu bytes, drops %llu, device errors %llu\n",
              static_cast<unsigned long long>(s.tx_pkts), static_cast<unsigned long long>(s.tx_bytes),
              static_cast<unsigned long long>(s.rx_pkts), static_cast<unsigned long long>(s.rx_bytes),
              static_cast<unsigned long long>(s.rx_drops + s.tx_drops), static_cast<unsigned long long>(s.device_errors));
  co_await dev->disconnect();
  std::printf("disconnected; %u transmit buffer(s) still in use\n", pool->in_use());
  co_return echoed == kFrames && intact == kFrames ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // keep our lines in order with the log's
  EventLoop loop;
  return loop.run_until(demo(loop, argc > 1 ? argv[1] : "loop:"));
}
