// netfront-soak: a long run against a backend that keeps dying. netfront listens as a
// vhost-user server; dpdk-testpmd (macswap) connects to it as a client and is restarted every
// --restart-every seconds, alternately stopped cleanly and killed. Mixed-size frames (64 to
// 1514 bytes) go out all the time and the echoes are counted. At the end it reports frames
// sent, received and lost, reconnects, and the process's open fds, DPDK heap bytes and mbufs
// in use across all pools before connecting and after disconnecting: these must match.
//
//   netfront-soak [--duration S (600)] [--restart-every S (30)] [--burst N (32)] [--json]
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "netfront/dpdk_env.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/netif.hpp"
#include "netfront/packet_pool.hpp"
#include "tools/peers/testpmd_peer.hpp"

using namespace netfront;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Resources {
  std::size_t fds = 0;
  std::size_t heap_bytes = 0;  // allocated from DPDK's heaps (rings, pools, memzones)
  unsigned mbufs_in_use = 0;   // over every mempool in the process
  std::size_t rss_kib = 0;     // for information: the page cache of DPDK memory moves it
  bool operator==(const Resources& o) const {
    return fds == o.fds && heap_bytes == o.heap_bytes && mbufs_in_use == o.mbufs_in_use;
  }
};

Resources measure() {
  Resources r;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++r.fds;
  --r.fds;  // the iterator's own
  for (int socket = 0; socket < RTE_MAX_NUMA_NODES; ++socket) {
    rte_malloc_socket_stats s{};
    if (rte_malloc_get_socket_stats(socket, &s) == 0) r.heap_bytes += s.heap_allocsz_bytes;
  }
  rte_mempool_walk([](rte_mempool* mp, void* arg) { *static_cast<unsigned*>(arg) += rte_mempool_in_use_count(mp); },
                   &r.mbufs_in_use);
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  r.rss_kib = resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) / 1024;
  return r;
}

void list_fds(const char* when) {
  if (!std::getenv("NETFRONT_SOAK_FDS")) return;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    std::printf("  %s fd %s -> %s\n", when, e.path().filename().c_str(), std::filesystem::read_symlink(e.path(), ec).c_str());
  }
}

void print_resources(const char* when, const Resources& r) {
  list_fds(when);
  std::printf("%s: %zu fds, %zu bytes of DPDK heap, %u mbufs in use, RSS %zu KiB\n", when, r.fds, r.heap_bytes,
              r.mbufs_in_use, r.rss_kib);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  unsigned duration_s = 600, restart_s = 30, burst = 32;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--duration" && i + 1 < argc) duration_s = static_cast<unsigned>(std::stoul(argv[++i]));
    else if (a == "--restart-every" && i + 1 < argc) restart_s = static_cast<unsigned>(std::stoul(argv[++i]));
    else if (a == "--burst" && i + 1 < argc) burst = static_cast<unsigned>(std::stoul(argv[++i]));
    else if (a == "--json") json = true;
    else {
      std::fprintf(stderr, "usage: netfront-soak [--duration S] [--restart-every S] [--burst N] [--json]\n");
      return 2;
    }
  }
  DpdkConfig dpdk;
  dpdk.pin_cpu = 0;  // testpmd forwards on CPU 1
  if (auto r = DpdkEnv::start(dpdk); !r) {
    std::printf("DPDK: %s\n", r.error().to_string().c_str());
    return 1;
  }
  EventLoop loop;
  auto made = PacketPool::create({.size = 8191});
  if (!made) return std::printf("pool: %s\n", made.error().to_string().c_str()), 1;
  PacketPool pool = std::move(*made);
  const std::string dir = testing::make_temp_dir(), sock = dir + "/vh.sock";

  const Resources before = measure();
  print_resources("before connecting", before);

  std::optional<testing::TestpmdPeer> peer;
  auto start_peer = [&] {
    peer.emplace(testing::TestpmdPeer::Options{.socket = sock, .mode = "macswap", .client = true});
    if (!peer->error().empty()) std::printf("testpmd: %s\n", peer->error().c_str());
  };
  start_peer();
  std::optional<Netif> device;
  {
    Result<Netif> connected = loop.run_until(Netif::connect("vhost-user:" + sock + ",server"));
    if (!connected) {
      std::printf("connect: %s\n%s\n", connected.error().to_string().c_str(), peer->log().c_str());
      return 1;
    }
    device.emplace(std::move(*connected));
  }
  Netif& dev = *device;

  std::uint64_t sent = 0, received = 0, reconnects = 0, restarts = 0, link_changes = 0;
  auto listening = dev.listen([&](Buffer) {
    ++received;
    return make_ready_io();
  });
  bool link = dev.link_up();
  unsigned size_step = 0;
  Timer traffic(loop, [&] {
    if (dev.link_up() != link) {
      link = dev.link_up();
      ++link_changes;
      if (link) ++reconnects;
    }
    if (!link) return;
    for (unsigned i = 0; i < burst && pool.in_use() + 64 < 8191; ++i) {
      const std::size_t len = 64 + (size_step++ * 149) % (1514 - 64 + 1);
      auto f = Buffer::create(pool.get(), len);
      if (!f) break;
      f->fill(std::byte{0x5a});
      for (int b = 0; b < 6; ++b) f->set_u8(b, 0x02), f->set_u8(6 + b, 0x02);
      f->set_be16(12, 0x88b5);
      ++sent;
      (void)dev.write(std::move(*f));  // ring full: it waits, in order; link down: Disconnected
    }
  });
  traffic.arm_periodic(1ms);
  Timer restarter(loop, [&] {
    ++restarts;
    if (restarts % 2) peer->kill_hard();  // no goodbye
    else peer->stop();                    // a clean exit
    start_peer();
  });
  restarter.arm_periodic(std::chrono::seconds(restart_s));
  const auto start = Clock::now();
  std::uint64_t last_sent = 0, last_received = 0;
  Timer reporter(loop, [&] {
    const double t = std::chrono::duration<double>(Clock::now() - start).count();
    const Stats s = dev.get_stats_counters();
    std::printf("%6.0f s: sent %llu (+%llu), received %llu (+%llu), link %s, reconnects %llu, tx drops %llu, rx drops %llu, "
                "device errors %llu\n",
                t, (unsigned long long)sent, (unsigned long long)(sent - last_sent), (unsigned long long)received,
                (unsigned long long)(received - last_received), link ? "up" : "down", (unsigned long long)reconnects,
                (unsigned long long)s.tx_drops, (unsigned long long)s.rx_drops, (unsigned long long)s.device_errors);
    last_sent = sent;
    last_received = received;
  });
  reporter.arm_periodic(10s);
  loop.run_until(loop.sleep(std::chrono::seconds(duration_s)));
  traffic.cancel();
  restarter.cancel();
  reporter.cancel();
  const Stats final_stats = dev.get_stats_counters();
  loop.run_until(dev.disconnect());
  (void)listening;
  peer->stop();
  peer.reset();
  loop.run_until(loop.sleep(100ms));  // writes that were waiting finish with Disconnected
  device.reset();                     // the device, its rings and its receive pool go with it
  std::filesystem::remove_all(dir);

  const Resources after = measure();
  print_resources("after disconnecting", after);
  const bool clean = before == after;
  std::printf("soak: %u s, backend restarted %llu times (%llu reconnects seen); frames sent %llu, echoed %llu, lost %llu "
              "(in flight at restarts); tx drops %llu, rx drops %llu, device errors %llu; resources %s\n",
              duration_s, (unsigned long long)restarts, (unsigned long long)reconnects, (unsigned long long)sent,
              (unsigned long long)received, (unsigned long long)(sent - received), (unsigned long long)final_stats.tx_drops,
              (unsigned long long)final_stats.rx_drops, (unsigned long long)final_stats.device_errors,
              clean ? "unchanged" : "CHANGED");
  if (json)
    std::printf("{\"duration_s\":%u,\"restarts\":%llu,\"reconnects\":%llu,\"sent\":%llu,\"received\":%llu,"
                "\"device_errors\":%llu,\"fds\":[%zu,%zu],\"heap_bytes\":[%zu,%zu],\"mbufs_in_use\":[%u,%u]}\n",
                duration_s, (unsigned long long)restarts, (unsigned long long)reconnects, (unsigned long long)sent,
                (unsigned long long)received, (unsigned long long)final_stats.device_errors, before.fds, after.fds,
                before.heap_bytes, after.heap_bytes, before.mbufs_in_use, after.mbufs_in_use);
  return clean && (reconnects > 0 || restarts == 0) ? 0 : 1;
}
