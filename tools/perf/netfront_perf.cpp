// netfront-perf: a testpmd-style traffic tool over the netfront API (it is an application of
// Netif, not a harness around the driver), for benchmarking against any backend.
//
//   netfront-perf --device vhost-user:/tmp/vh.sock --mode txonly [--size 64] [--burst 32]
//                 [--duration SECONDS] [--lcore N] [--json]
//
// Modes: txonly (send as fast as the ring takes), rxonly (count and drop), io (send every
// received frame straight back), macswap (the same with MAC addresses swapped), pingpong (one
// frame in flight, round-trip latency percentiles; the peer must echo, e.g. testpmd macswap).
// It prints each second's rates per queue and a final summary (JSON with --json). It stops
// after --duration seconds, or on SIGINT/SIGTERM. No EAL arguments are needed.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "netfront/netif.hpp"
#include "runtime/dpdk_env.hpp"
#include "runtime/event_loop.hpp"
#include "runtime/packet_pool.hpp"

using namespace netfront;
using Clock = std::chrono::steady_clock;

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Args {
  std::string device;
  std::string mode = "txonly";
  unsigned size = 64;
  unsigned burst = 32;
  double duration = 0;  // 0: until a signal
  int lcore = -1;
  bool json = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "netfront-perf: %s\n"
               "usage: netfront-perf --device ID [--mode txonly|rxonly|io|macswap|pingpong] [--size BYTES]\n"
               "                     [--burst N] [--duration SECONDS] [--lcore CPU] [--json]\n",
               why.c_str());
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--json") {
      a.json = true;
      continue;
    }
    if (i + 1 >= argc) usage("missing value after " + k);
    const std::string v = argv[++i];
    char* end = nullptr;
    if (k == "--device") a.device = v;
    else if (k == "--mode") a.mode = v;
    else if (k == "--size") a.size = static_cast<unsigned>(std::strtoul(v.c_str(), &end, 10));
    else if (k == "--burst") a.burst = static_cast<unsigned>(std::strtoul(v.c_str(), &end, 10));
    else if (k == "--duration") a.duration = std::strtod(v.c_str(), &end);
    else if (k == "--lcore") a.lcore = static_cast<int>(std::strtol(v.c_str(), &end, 10));
    else if (k == "--queues") {
      if (v != "1") usage("--queues above 1 needs multi-queue support, which this build does not have yet");
    } else usage("unknown option " + k);
    if (end && *end) usage("bad number '" + v + "' for " + k);
  }
  if (a.device.empty()) usage("--device is required");
  if (a.mode != "txonly" && a.mode != "rxonly" && a.mode != "io" && a.mode != "macswap" && a.mode != "pingpong")
    usage("unknown mode " + a.mode);
  if (a.size < 60 || a.size > 1514) usage("--size is 60 to 1514 bytes");
  if (a.burst == 0 || a.burst > 512) usage("--burst is 1 to 512");
  return a;
}

// A UDP/IPv4 frame like testpmd's txonly one: 02:00:00:00:00:01 -> 02:00:00:00:00:02. As
// testpmd does, only the headers are written; the payload is whatever the buffer held.
void fill_frame(std::byte* p, unsigned size) {
  static constexpr std::uint8_t head[] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,  // Ethernet
                               0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,  // IPv4
                               0x04, 0xd2, 0x04, 0xd2};  // UDP 1234 -> 1234
  std::memcpy(p, head, sizeof head);
  const auto ip_len = static_cast<std::uint16_t>(size - 14), udp_len = static_cast<std::uint16_t>(size - 34);
  p[16] = std::byte(ip_len >> 8), p[17] = std::byte(ip_len & 0xff);
  p[38] = std::byte(udp_len >> 8), p[39] = std::byte(udp_len & 0xff);
}

void swap_macs(Buffer& f) {
  if (f.length() < 12) return;
  std::byte* p = f.data();
  std::byte tmp[6];
  std::memcpy(tmp, p, 6);
  std::memcpy(p, p + 6, 6);
  std::memcpy(p + 6, tmp, 6);
}

struct Rates {
  std::uint64_t tx_pkts = 0, rx_pkts = 0, tx_bytes = 0, rx_bytes = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  runtime::DpdkConfig dpdk;
  if (a.lcore >= 0) dpdk.pin_cpu = static_cast<unsigned>(a.lcore);
  if (auto r = runtime::DpdkEnv::start(dpdk); !r) usage(r.error().to_string());
  runtime::EventLoop loop;
  auto pool = runtime::PacketPool::create({.size = 16383, .cache = 512});
  if (!pool) usage(pool.error().to_string());
  auto connected = loop.run_until(Netif::connect(a.device));
  if (!connected) usage(connected.error().to_string());
  Netif& dev = *connected;

  std::vector<std::uint64_t> rtts_ns;  // pingpong
  Clock::time_point ping_sent{};
  bool ping_outstanding = false;
  const bool forward = a.mode == "io" || a.mode == "macswap";
  auto listening = dev.listen([&](Buffer f) -> io<void> {
    if (a.mode == "pingpong") {
      if (ping_outstanding) {
        rtts_ns.push_back(static_cast<std::uint64_t>((Clock::now() - ping_sent).count()));
        ping_outstanding = false;
      }
    } else if (forward) {
      if (a.mode == "macswap") swap_macs(f);
      (void)dev.write(std::move(f));  // a full ring makes it wait: not awaited, in order
    }
    return make_ready_io();
  });

  // Sends one burst of fresh frames; stops early while a write waits for ring space.
  std::optional<io<Result<>>> waiting;
  auto send_burst = [&](unsigned n) {
    rte_mbuf* mbufs[512];
    if (rte_pktmbuf_alloc_bulk(pool->get(), mbufs, n) != 0) return;
    unsigned i = 0;
    for (; i < n; ++i) {
      rte_mbuf* m = mbufs[i];
      fill_frame(rte_pktmbuf_mtod(m, std::byte*), a.size);
      m->data_len = static_cast<std::uint16_t>(a.size);
      m->pkt_len = a.size;
      io<Result<>> w = dev.write(Buffer::adopt(m));
      if (w.pending()) {
        waiting.emplace(std::move(w));
        ++i;
        break;
      }
      if (Result<> r = w.get(); !r) {
        if (r.error().is_disconnected()) g_stop = 1;
        ++i;
        break;
      }
    }
    for (; i < n; ++i) rte_pktmbuf_free(mbufs[i]);
  };

  const auto start = Clock::now();
  auto last = start;
  Stats prev = dev.get_stats_counters();
  std::vector<double> tx_pps_samples, rx_pps_samples;
  while (!g_stop) {
    if (a.mode == "txonly") {
      if (waiting && waiting->ready()) waiting.reset();
      if (!waiting) send_burst(a.burst);
    } else if (a.mode == "pingpong" && !ping_outstanding) {
      ping_sent = Clock::now();
      ping_outstanding = true;
      send_burst(1);
    }
    loop.run_once();
    const auto now = Clock::now();
    if (now - last >= std::chrono::seconds(1)) {
      const Stats s = dev.get_stats_counters();
      const double secs = std::chrono::duration<double>(now - last).count();
      const double tx_pps = static_cast<double>(s.tx_pkts - prev.tx_pkts) / secs;
      const double rx_pps = static_cast<double>(s.rx_pkts - prev.rx_pkts) / secs;
      tx_pps_samples.push_back(tx_pps);
      rx_pps_samples.push_back(rx_pps);
      if (!a.json)
        std::printf("queue 0: tx %.3f Mpps %.1f Mbit/s, rx %.3f Mpps %.1f Mbit/s, ring-full waits %llu\n", tx_pps / 1e6,
                    static_cast<double>(s.tx_bytes - prev.tx_bytes) * 8 / secs / 1e6, rx_pps / 1e6,
                    static_cast<double>(s.rx_bytes - prev.rx_bytes) * 8 / secs / 1e6,
                    static_cast<unsigned long long>(s.tx_ring_full - prev.tx_ring_full));
      std::fflush(stdout);
      prev = s;
      last = now;
      if (!dev.link_up()) {
        std::fprintf(stderr, "netfront-perf: link down\n");
        break;
      }
    }
    if (a.duration > 0 && std::chrono::duration<double>(now - start).count() >= a.duration) break;
  }

  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const Stats s = dev.get_stats_counters();
  std::sort(rtts_ns.begin(), rtts_ns.end());
  auto pct = [&](double p) -> double {
    return rtts_ns.empty() ? 0.0 : static_cast<double>(rtts_ns[static_cast<std::size_t>(p * (rtts_ns.size() - 1))]) / 1e3;
  };
  if (a.json) {
    std::printf("{\"device\":\"%s\",\"mode\":\"%s\",\"size\":%u,\"burst\":%u,\"seconds\":%.3f,"
                "\"tx_pkts\":%llu,\"rx_pkts\":%llu,\"tx_bytes\":%llu,\"rx_bytes\":%llu,"
                "\"tx_mpps\":%.4f,\"rx_mpps\":%.4f,\"rx_drops\":%llu,\"tx_ring_full\":%llu,\"device_errors\":%llu",
                a.device.c_str(), a.mode.c_str(), a.size, a.burst, secs, static_cast<unsigned long long>(s.tx_pkts),
                static_cast<unsigned long long>(s.rx_pkts), static_cast<unsigned long long>(s.tx_bytes),
                static_cast<unsigned long long>(s.rx_bytes), static_cast<double>(s.tx_pkts) / secs / 1e6,
                static_cast<double>(s.rx_pkts) / secs / 1e6, static_cast<unsigned long long>(s.rx_drops),
                static_cast<unsigned long long>(s.tx_ring_full), static_cast<unsigned long long>(s.device_errors));
    if (a.mode == "pingpong")
      std::printf(",\"rtt_samples\":%zu,\"rtt_p50_us\":%.2f,\"rtt_p99_us\":%.2f,\"rtt_p999_us\":%.2f", rtts_ns.size(),
                  pct(0.5), pct(0.99), pct(0.999));
    std::printf("}\n");
  } else {
    std::printf("summary: %.1f s, tx %llu pkts (%.3f Mpps), rx %llu pkts (%.3f Mpps), rx drops %llu, ring-full waits "
                "%llu, device errors %llu\n",
                secs, static_cast<unsigned long long>(s.tx_pkts), static_cast<double>(s.tx_pkts) / secs / 1e6,
                static_cast<unsigned long long>(s.rx_pkts), static_cast<double>(s.rx_pkts) / secs / 1e6,
                static_cast<unsigned long long>(s.rx_drops), static_cast<unsigned long long>(s.tx_ring_full),
                static_cast<unsigned long long>(s.device_errors));
    if (a.mode == "pingpong")
      std::printf("round trip: %zu samples, p50 %.2f us, p99 %.2f us, p99.9 %.2f us\n", rtts_ns.size(), pct(0.5),
                  pct(0.99), pct(0.999));
  }
  loop.run_until(dev.disconnect());
  return 0;
}
