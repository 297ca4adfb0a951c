// netfront-loop-bench: the per-frame cost of the engine over the in-process device.
//
//   netfront-loop-bench [--device loop:packed] [--mode tx|rx|echo] [--frames N] [--size B] [--burst B]
//
// tx:   Netif::write into the transmit ring; the device consumes and drops (mode=sink).
// rx:   the device puts frames on the receive ring; the driver takes them to listen's handler.
// echo: both, every frame written comes back.
// It prints nanoseconds per frame. The device model's own work (its copies) is included; the
// numbers compare ring layouts and changes to the engine, not NICs. For exact, noise-free
// counts run it under callgrind (tools/bench/instructions.sh).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "drivers/netif/attach.hpp"
#include "drivers/virtio/net/virtio_net_device.hpp"
#include "drivers/virtio/transport/loop/loop_device.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/netif.hpp"
#include "netfront/packet_pool.hpp"

using namespace netfront;

namespace {

struct Args {
  std::string device = "loop:";
  std::string mode = "echo";
  unsigned long frames = 1'000'000;
  unsigned size = 64;
  unsigned burst = 32;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "netfront-loop-bench: %s\nusage: netfront-loop-bench [--device loop:...] [--mode tx|rx|echo] "
                       "[--frames N] [--size BYTES] [--burst N]\n", why);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + k).c_str());
    const char* v = argv[++i];
    if (k == "--device") a.device = v;
    else if (k == "--mode") a.mode = v;
    else if (k == "--frames") a.frames = std::strtoul(v, nullptr, 10);
    else if (k == "--size") a.size = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    else if (k == "--burst") a.burst = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    else usage(("unknown option " + k).c_str());
  }
  if (a.mode != "tx" && a.mode != "rx" && a.mode != "echo") usage("--mode is tx, rx or echo");
  if (a.size < 14 || a.size > 1514 || a.burst == 0 || a.frames == 0) usage("bad --size, --burst or --frames");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  EventLoop loop;
  std::string id = a.device;
  if (a.mode == "tx") id += (id.back() == ':' ? "" : ",") + std::string("mode=sink");
  auto parsed = DeviceId::parse(id);
  if (!parsed || parsed->kind() != DeviceId::Kind::Loop) usage(parsed ? "--device must be a loop: id" : parsed.error().message().c_str());
  auto pool = PacketPool::create({.size = 4095});
  if (!pool) usage(pool.error().message().c_str());

  auto loop_device = std::make_unique<virtio::transport::loop::LoopDevice>(parsed->loop(), 1, &loop);
  virtio::transport::loop::LoopDevice& device = *loop_device;
  auto opened = virtio::net::VirtioNetDevice::open(std::move(loop_device));
  if (!opened) usage(opened.error().message().c_str());
  Netif netif = drivers::attach(*parsed, std::move(*opened));

  std::uint64_t received = 0;
  auto listening = netif.listen([&](Buffer) {
    ++received;
    return make_ready_io();
  });
  std::vector<std::byte> wire(a.size, std::byte{0x5a});

  unsigned long done = 0;
  const auto start = std::chrono::steady_clock::now();
  while (done < a.frames) {
    const unsigned n = static_cast<unsigned>(std::min<unsigned long>(a.burst, a.frames - done));
    if (a.mode == "rx") {
      for (unsigned i = 0; i < n; ++i)
        while (!device.inject(0, wire)) loop.run_once();  // wait for receive buffers
    } else {
      for (unsigned i = 0; i < n; ++i) {
        auto f = Buffer::create(pool->get(), a.size);
        if (!f) usage(f.error().message().c_str());
        Result<> w = loop.run_until(netif.write(std::move(*f)));
        if (!w) usage(w.error().message().c_str());
      }
    }
    const std::uint64_t target = done + n;
    if (a.mode == "tx")
      while (device.counters().tx_frames < target) loop.run_once();
    else
      while (received < target) loop.run_once();
    done = target;
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s %s: %lu frames of %u bytes, burst %u: %.1f ns/frame (%.2f Mpps)\n", a.mode.c_str(), id.c_str(), done,
              a.size, a.burst, ns / static_cast<double>(done), static_cast<double>(done) * 1e3 / ns);
  loop.run_until(netif.disconnect());
  return 0;
}
