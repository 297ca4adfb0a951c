// netfront-perf: a testpmd-style traffic tool over the netfront API (it is an application of
// Netif, not a harness around the driver), for benchmarking against any backend.
//
//   netfront-perf --device vhost-user:/tmp/vh.sock --mode txonly [--size 64] [--burst 32]
//                 [--queues N] [--duration SECONDS] [--lcore CPU[,CPU...]] [--json]
//
// Modes: txonly (send as fast as the ring takes), rxonly (count and drop), io (send every
// received frame straight back), macswap (the same with MAC addresses swapped), pingpong (one
// frame in flight, round-trip latency percentiles; the peer must echo, e.g. testpmd macswap).
// txonly with --tso MSS sends TCP/IPv4 super-frames of --size bytes (up to 65549) with a
// segmentation request (offloads=csum+tso4 is added to the id): the device cuts them into
// segments of MSS payload bytes, as a stack with TSO has it do.
// With --queues N the device is connected with N queue pairs and each pair runs on a loop of
// its own thread (queue 0 on the main thread), pinned to the CPUs --lcore lists, in order, or
// else kept on the device's NUMA node.
// It prints each second's rates per queue and a final summary (JSON with --json). It stops
// after --duration seconds, or on SIGINT/SIGTERM. No EAL arguments are needed. Its devices'
// counters are also served on DPDK's telemetry socket (the log names the file prefix for
// dpdk-telemetry.py) unless --no-telemetry.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netfront/dpdk_env.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/loop_thread.hpp"
#include "netfront/netif.hpp"
#include "netfront/offload.hpp"
#include "netfront/packet_pool.hpp"
#include "runtime/cross_loop.hpp"
#include "runtime/prefetch.hpp"
#include "tools/frames/tcp_super_frame.hpp"

using namespace netfront;
using Clock = std::chrono::steady_clock;

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

enum class Mode { TxOnly, RxOnly, Io, MacSwap, PingPong };
// How transmitted frames are made: raw (a bulk of pool mbufs, as testpmd's txonly), create
// (Buffer::create per frame, then write: an application's own frames), fill (the fill-style
// write, in the device's pool).
enum class Api { Raw, Create, Fill };

constexpr std::pair<Mode, std::string_view> kModes[] = {
    {Mode::TxOnly, "txonly"}, {Mode::RxOnly, "rxonly"}, {Mode::Io, "io"}, {Mode::MacSwap, "macswap"}, {Mode::PingPong, "pingpong"}};
constexpr std::pair<Api, std::string_view> kApis[] = {{Api::Raw, "raw"}, {Api::Create, "create"}, {Api::Fill, "fill"}};

template <typename E, std::size_t N>
std::optional<E> parse_name(const std::pair<E, std::string_view> (&names)[N], std::string_view name) {
  for (const auto& [value, n] : names)
    if (n == name) return value;
  return std::nullopt;
}
template <typename E, std::size_t N>
std::string_view name_of(const std::pair<E, std::string_view> (&names)[N], E value) {
  for (const auto& [v, n] : names)
    if (v == value) return n;
  return "?";
}

struct Args {
  std::string device;
  Mode mode = Mode::TxOnly;
  unsigned size = 64;
  unsigned burst = 32;
  double duration = 0;  // 0: until a signal
  std::vector<unsigned> lcores;  // CPU of queue 0's loop, queue 1's, ...
  unsigned queues = 1;
  bool json = false;
  bool telemetry = true;
  Api api = Api::Raw;
  unsigned tso = 0;  // txonly: TCP super-frames of --size bytes, cut by the device into segments of this
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "netfront-perf: %s\n"
               "usage: netfront-perf --device ID [--mode txonly|rxonly|io|macswap|pingpong] [--size BYTES]\n"
               "                     [--burst N] [--queues N] [--duration SECONDS] [--lcore CPU[,CPU...]] [--json]\n"
               "                     [--no-telemetry] [--api raw|create|fill] [--tso MSS]\n",
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
    if (k == "--no-telemetry") {
      a.telemetry = false;
      continue;
    }
    if (i + 1 >= argc) usage("missing value after " + k);
    const std::string v = argv[++i];
    char* end = nullptr;
    if (k == "--device") a.device = v;
    else if (k == "--mode") {
      const auto mode = parse_name(kModes, v);
      if (!mode) usage("unknown mode " + v);
      a.mode = *mode;
    } else if (k == "--api") {
      const auto api = parse_name(kApis, v);
      if (!api) usage("unknown --api " + v);
      a.api = *api;
    }
    else if (k == "--size") a.size = static_cast<unsigned>(std::strtoul(v.c_str(), &end, 10));
    else if (k == "--burst") a.burst = static_cast<unsigned>(std::strtoul(v.c_str(), &end, 10));
    else if (k == "--duration") a.duration = std::strtod(v.c_str(), &end);
    else if (k == "--lcore") {
      for (const char* p = v.c_str(); *p;) {
        a.lcores.push_back(static_cast<unsigned>(std::strtoul(p, &end, 10)));
        if (end == p || (*end && *end != ',')) usage("bad CPU list '" + v + "' for --lcore");
        p = *end ? end + 1 : end;
      }
      end = nullptr;
    } else if (k == "--queues") a.queues = static_cast<unsigned>(std::strtoul(v.c_str(), &end, 10));
    else if (k == "--tso") a.tso = static_cast<unsigned>(std::strtoul(v.c_str(), &end, 10));
    else usage("unknown option " + k);
    if (end && *end) usage("bad number '" + v + "' for " + k);
  }
  if (a.device.empty()) usage("--device is required");
  if (a.tso) {
    // The headers, up to the TCP header's end, and at least one byte of payload; no IPv4
    // packet beyond 65535 bytes.
    if (a.mode != Mode::TxOnly || a.api != Api::Raw) usage("--tso is for --mode txonly");
    if (a.size < 55 || a.size > 65535 + 14) usage("--size is 55 to 65549 bytes with --tso");
    if (a.tso > 1460) usage("--tso MSS is 1 to 1460 (segments within a 1500-byte MTU)");
    if (a.device.find("offloads=") == std::string::npos) a.device += ",offloads=csum+tso4";
  } else if (a.size < 60 || a.size > 1514) {
    usage("--size is 60 to 1514 bytes");
  }
  if (a.api != Api::Raw && a.mode != Mode::TxOnly) usage("--api create|fill is for --mode txonly");
  if (a.burst == 0 || a.burst > 512) usage("--burst is 1 to 512");
  if (a.queues == 0 || a.queues > 64) usage("--queues is 1 to 64");
  // The id's queues=N asks the device; --queues is the shorthand.
  if (a.queues > 1 && a.device.find("queues=") == std::string::npos) a.device += ",queues=" + std::to_string(a.queues);
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

// One queue pair's traffic, polled by the loop that owns the pair: it makes txonly bursts and
// pingpong probes, and its listen counts, forwards or times what arrives.
class QueueTraffic final : public Poller {
 public:
  QueueTraffic(const Args& a, NetifQueue q, rte_mempool* pool) : a_(a), q_(q), pool_(pool) {}

  // On the owning loop's thread.
  void start(EventLoop& loop) {
    loop_ = &loop;
    const bool forward = a_.mode == Mode::Io || a_.mode == Mode::MacSwap;
    listening_.emplace(q_.listen([this, forward](Buffer f) -> io<void> {
      if (a_.mode == Mode::PingPong) {
        if (ping_outstanding_) {
          rtts_ns.push_back(static_cast<std::uint64_t>((Clock::now() - ping_sent_).count()));
          ping_outstanding_ = false;
        }
      } else if (forward) {
        if (a_.mode == Mode::MacSwap) swap_macs(f);
        (void)q_.write(std::move(f));  // a full ring makes it wait: not awaited, in order
      }
      return make_ready_io();
    }));
    loop.add_poller(*this);
  }
  void stop() {
    if (loop_) loop_->remove_poller(*this);
    waiting_.reset();
    listening_.reset();
    super_frame_.clear();
  }

  unsigned poll() override {
    if (a_.mode == Mode::TxOnly) {
      if (waiting_ && waiting_->ready()) waiting_.reset();
      if (!waiting_) return send_burst(a_.burst);
    } else if (a_.mode == Mode::PingPong && !ping_outstanding_) {
      ping_sent_ = Clock::now();
      ping_outstanding_ = true;
      return send_burst(1);
    }
    return 0;
  }

  std::vector<std::uint64_t> rtts_ns;  // pingpong; read once the loop is stopped
  std::atomic<bool> disconnected{false};

 private:
  // Sends one burst of fresh frames; stops early while a write waits for ring space. As
  // testpmd's txonly does, the whole burst is built before the first is sent: the frames'
  // lines were last read by the backend's CPU, and stores to them back to back wait for those
  // lines together rather than one frame at a time.
  unsigned send_burst(unsigned n) {
    if (a_.api != Api::Raw || a_.tso) [[unlikely]]
      return a_.tso ? send_super_frames(n) : send_frames(n);
    rte_mbuf* mbufs[512];
    // Raw buffers, as testpmd's txonly takes them: a pool's free mbufs already hold one
    // reference, one segment and no next (rte_mbuf_raw_alloc's promise), so only the fields a
    // frame sets are written below, not the whole rte_pktmbuf_reset (about 20 instructions a
    // frame under callgrind).
    if (rte_mempool_get_bulk(pool_, reinterpret_cast<void**>(mbufs), n) != 0) return 0;
    // Each frame's first line was last read by the backend's CPU: ask for all of them at
    // once, so their transfers overlap instead of each store waiting in turn.
    for (unsigned k = 0; k < n; ++k)
      runtime::prefetch_for_write(static_cast<char*>(mbufs[k]->buf_addr) + RTE_PKTMBUF_HEADROOM);
    for (unsigned k = 0; k < n; ++k) {
      rte_mbuf* m = mbufs[k];
      rte_pktmbuf_reset_headroom(m);
      m->ol_flags &= RTE_MBUF_F_EXTERNAL;  // no offloads asked for
      fill_frame(rte_pktmbuf_mtod(m, std::byte*), a_.size);
      m->data_len = static_cast<std::uint16_t>(a_.size);
      m->pkt_len = a_.size;
    }
    unsigned i = 0;
    for (; i < n; ++i) {
      io<Result<>> w = q_.write(Buffer::adopt(mbufs[i]));
      if (w.pending()) {
        waiting_.emplace(std::move(w));
        ++i;
        break;
      }
      if (Result<> r = w.get(); !r) {
        if (r.error().is_disconnected()) disconnected = true;
        ++i;
        break;
      }
    }
    const unsigned sent = i;
    for (; i < n; ++i) rte_pktmbuf_free(mbufs[i]);
    return sent;
  }

  // --tso: one TCP/IPv4 super-frame of --size bytes, built once in pieces of the pool's buffers
  // and written again and again (each write takes new references to the same pieces; the
  // device only reads them), with the checksum and segmentation request of a stack's TSO: the
  // device sums and cuts it into segments of --tso payload bytes.
  [[gnu::noinline]] unsigned send_super_frames(unsigned n) {
    if (super_frame_.empty()) {
      auto f = frames::tcp_super_frame(pool_, {.src_mac = MacAddress{{0x02, 0, 0, 0, 0, 0x01}},
                                               .dst_mac = MacAddress{{0x02, 0, 0, 0, 0, 0x02}},
                                               .src_ip = 0xc6120001,  // 198.18.0.1
                                               .dst_ip = 0xc6120002,
                                               .src_port = 1234,
                                               .dst_port = 80,
                                               .payload = static_cast<std::uint32_t>(a_.size - frames::kTcpHeadersEnd)});
      if (!f) return 0;
      super_frame_ = std::move(*f);
    }
    const TxOffload o = frames::tcp4_segmentation(static_cast<std::uint16_t>(a_.tso));
    return write_each(n, [&] { return q_.writev(super_frame_, o); });
  }

  // One write per frame, each frame made as --api says: what an application that builds its
  // frames one by one pays.
  [[gnu::noinline]] unsigned send_frames(unsigned n) {
    const bool fill = a_.api == Api::Fill;
    const unsigned size = a_.size;
    return write_each(n, [&] {
      if (fill)
        return q_.write(size, [size](Buffer& f) {
          fill_frame(f.data(), size);
          return std::size_t{size};
        });
      Result<Buffer> f = Buffer::create(pool_, size);
      if (!f) return make_ready_io(Result<>(std::move(f).error()));
      fill_frame(f->data(), size);
      return q_.write(std::move(*f));
    });
  }

  // Up to `n` writes, each `write()`: stops at one that waits for ring space (kept in waiting_,
  // counted as sent) or fails. How many frames went out or wait.
  template <typename Write>
  unsigned write_each(unsigned n, Write&& write) {
    for (unsigned i = 0; i < n; ++i) {
      io<Result<>> w = write();
      if (w.pending()) {
        waiting_.emplace(std::move(w));
        return i + 1;
      }
      if (Result<> r = w.get(); !r) {
        if (r.error().is_disconnected()) disconnected = true;
        return i;
      }
    }
    return n;
  }

  const Args& a_;
  NetifQueue q_;
  rte_mempool* pool_;
  EventLoop* loop_ = nullptr;
  std::optional<io<Result<>>> waiting_;
  std::optional<io<Result<>>> listening_;
  std::vector<Buffer> super_frame_;  // --tso: the pieces every write sends
  Clock::time_point ping_sent_{};
  bool ping_outstanding_ = false;
};

// Queue 0 runs on `loop`; every other queue pair on a loop thread of its own, pinned as
// --lcores says or near the device.
std::vector<std::unique_ptr<LoopThread>> start_traffic(const Args& a, Netif& dev, EventLoop& loop, rte_mempool* pool,
                                                       std::vector<std::unique_ptr<QueueTraffic>>& traffic) {
  std::vector<std::unique_ptr<LoopThread>> threads;
  for (unsigned q = 0; q < a.queues; ++q) {
    traffic.push_back(std::make_unique<QueueTraffic>(a, dev.queue(q), pool));
    if (q == 0) {
      traffic[0]->start(loop);
      continue;
    }
    LoopThreadOptions o;
    if (q < a.lcores.size())
      o.cpu = a.lcores[q];
    else if (dev.numa_node() >= 0)
      o.numa_node = dev.numa_node();  // near the device's rings and buffers
    o.name = "nf-perf-q" + std::to_string(q);
    auto t = LoopThread::start(o);
    if (!t) usage(t.error().to_string());
    if (auto r = dev.queue(q).run_on((*t)->loop()); !r) usage(r.error().to_string());
    QueueTraffic* qt = traffic[q].get();
    EventLoop* l = &(*t)->loop();
    l->post([qt, l] { qt->start(*l); });
    threads.push_back(std::move(*t));
  }
  return threads;
}

// Runs the loop until the duration is up, a signal, a link down or a disconnected queue,
// printing each queue's rates every second (unless --json). Returns the seconds it ran.
double run(const Args& a, Netif& dev, EventLoop& loop, const std::vector<std::unique_ptr<QueueTraffic>>& traffic) {
  auto any_disconnected = [&] {
    for (auto& t : traffic)
      if (t->disconnected) return true;
    return false;
  };
  const auto start = Clock::now();
  auto last = start;
  std::vector<Stats> prev(a.queues);
  for (unsigned q = 0; q < a.queues; ++q) prev[q] = dev.queue(q).get_stats_counters();
  bool done = false;
  // The per-second report and the end of the run are timers of the loop, which looks at the
  // clock every few iterations: reading it here after every burst would cost a few percent of
  // the rate being measured.
  Timer report(loop, [&] {
    // Per-queue counters, read from this thread while each queue's own loop writes them.
    const auto now = Clock::now();
    const double secs = std::chrono::duration<double>(now - last).count();
    for (unsigned q = 0; q < a.queues && !a.json; ++q) {
      const Stats s = dev.queue(q).get_stats_counters();
      std::printf("queue %u: tx %.3f Mpps %.1f Mbit/s, rx %.3f Mpps %.1f Mbit/s, ring-full waits %llu\n", q,
                  static_cast<double>(s.tx_pkts - prev[q].tx_pkts) / secs / 1e6,
                  static_cast<double>(s.tx_bytes - prev[q].tx_bytes) * 8 / secs / 1e6,
                  static_cast<double>(s.rx_pkts - prev[q].rx_pkts) / secs / 1e6,
                  static_cast<double>(s.rx_bytes - prev[q].rx_bytes) * 8 / secs / 1e6,
                  static_cast<unsigned long long>(s.tx_ring_full - prev[q].tx_ring_full));
      prev[q] = s;
    }
    std::fflush(stdout);
    last = now;
    if (!dev.link_up()) {
      std::fprintf(stderr, "netfront-perf: link down\n");
      done = true;
    }
  });
  report.arm_periodic(std::chrono::seconds(1));
  Timer finish(loop, [&] { done = true; });
  if (a.duration > 0)
    finish.arm_at(start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.duration)));
  while (!g_stop && !done && !any_disconnected()) loop.run_once();
  report.cancel();
  finish.cancel();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Stops the traffic, then disconnects (which holds the queue loops and ends their listens
// there), then ends the threads.
void stop_traffic(Netif& dev, EventLoop& loop, const std::vector<std::unique_ptr<QueueTraffic>>& traffic,
                  std::vector<std::unique_ptr<LoopThread>>& threads) {
  for (unsigned q = 0; q < traffic.size(); ++q) {
    QueueTraffic* qt = traffic[q].get();
    if (q == 0) {
      qt->stop();
      continue;
    }
    io<void> stopped = runtime::call_on(threads[q - 1]->loop(), [qt] { qt->stop(); });
    loop.run_until(stopped);
  }
  loop.run_until(dev.disconnect());
  threads.clear();
}

// What a run moved, as one JSON object (--json) or as lines for a reader.
struct Summary {
  double seconds;
  Stats total;
  std::vector<Stats> per_queue;
  std::vector<std::uint64_t> rtts_ns;  // sorted

  double rtt_us(double p) const {
    return rtts_ns.empty() ? 0.0 : static_cast<double>(rtts_ns[static_cast<std::size_t>(p * (rtts_ns.size() - 1))]) / 1e3;
  }
  double mpps(std::uint64_t pkts) const { return static_cast<double>(pkts) / seconds / 1e6; }
};

void print_json(const Args& a, const Summary& r) {
  const Stats& s = r.total;
  nlohmann::json out = {{"device", a.device},           {"mode", name_of(kModes, a.mode)},
                        {"api", name_of(kApis, a.api)},   {"size", a.size},
                        {"burst", a.burst},             {"queues", a.queues},
                        {"seconds", r.seconds},         {"tx_pkts", s.tx_pkts},
                        {"rx_pkts", s.rx_pkts},         {"tx_bytes", s.tx_bytes},
                        {"rx_bytes", s.rx_bytes},       {"tx_mpps", r.mpps(s.tx_pkts)},
                        {"rx_mpps", r.mpps(s.rx_pkts)}, {"rx_drops", s.rx_drops},
                        {"tx_ring_full", s.tx_ring_full}, {"device_errors", s.device_errors}};
  if (a.mode == Mode::PingPong) {
    out["rtt_samples"] = r.rtts_ns.size();
    out["rtt_p50_us"] = r.rtt_us(0.5);
    out["rtt_p99_us"] = r.rtt_us(0.99);
    out["rtt_p999_us"] = r.rtt_us(0.999);
  }
  for (unsigned q = 0; q < r.per_queue.size(); ++q)
    out["per_queue"].push_back({{"queue", q},
                                {"tx_pkts", r.per_queue[q].tx_pkts},
                                {"rx_pkts", r.per_queue[q].rx_pkts},
                                {"tx_mpps", r.mpps(r.per_queue[q].tx_pkts)},
                                {"rx_mpps", r.mpps(r.per_queue[q].rx_pkts)}});
  std::printf("%s\n", out.dump().c_str());
}

void print_text(const Args& a, const Summary& r) {
  const Stats& s = r.total;
  std::printf("summary: %.1f s, tx %llu pkts (%.3f Mpps), rx %llu pkts (%.3f Mpps), rx drops %llu, ring-full waits "
              "%llu, device errors %llu\n",
              r.seconds, static_cast<unsigned long long>(s.tx_pkts), r.mpps(s.tx_pkts),
              static_cast<unsigned long long>(s.rx_pkts), r.mpps(s.rx_pkts), static_cast<unsigned long long>(s.rx_drops),
              static_cast<unsigned long long>(s.tx_ring_full), static_cast<unsigned long long>(s.device_errors));
  if (a.mode == Mode::PingPong)
    std::printf("round trip: %zu samples, p50 %.2f us, p99 %.2f us, p99.9 %.2f us\n", r.rtts_ns.size(), r.rtt_us(0.5),
                r.rtt_us(0.99), r.rtt_us(0.999));
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  DpdkConfig dpdk;
  if (!a.lcores.empty()) dpdk.pin_cpu = a.lcores[0];
  dpdk.telemetry = a.telemetry;
  if (auto r = DpdkEnv::start(dpdk); !r) usage(r.error().to_string());
  EventLoop loop;
  auto pool = PacketPool::create({.size = 16383 * a.queues, .cache = 512});
  if (!pool) usage(pool.error().to_string());
  auto connected = loop.run_until(Netif::connect(a.device));
  if (!connected) usage(connected.error().to_string());
  Netif& dev = *connected;
  if (dev.queue_pairs() != a.queues) usage("the device id asks for a different number of queues than --queues");

  std::vector<std::unique_ptr<QueueTraffic>> traffic;
  std::vector<std::unique_ptr<LoopThread>> threads = start_traffic(a, dev, loop, pool->get(), traffic);
  Summary result{.seconds = run(a, dev, loop, traffic), .total = dev.get_stats_counters(), .per_queue = {}, .rtts_ns = {}};
  for (unsigned q = 0; q < a.queues; ++q) result.per_queue.push_back(dev.queue(q).get_stats_counters());
  stop_traffic(dev, loop, traffic, threads);
  for (auto& t : traffic) result.rtts_ns.insert(result.rtts_ns.end(), t->rtts_ns.begin(), t->rtts_ns.end());
  std::sort(result.rtts_ns.begin(), result.rtts_ns.end());
  if (a.json)
    print_json(a, result);
  else
    print_text(a, result);
  return 0;
}
