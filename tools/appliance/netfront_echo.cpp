// netfront-echo: an appliance that answers ARP for its address, ICMP echo, and UDP echo on one
// port, through the netfront API only, and prints its per-queue stats once a second and at the
// end. Run as a guest's /init it first does PID 1's work (pid1.hpp) from "netfront.*" kernel
// options, then serves the guest's virtio NIC from userspace and powers the guest off when
// told to stop. Run as a normal program it serves any device id (loop:, vhost-user:, pci:).
//
//   netfront-echo [--device ID] [--ip A.B.C.D] [--port N] [--memory-mb N] [--queues N]
//   kernel options: netfront.device=pci:... (default: the first virtio-net function)
//                   netfront.path=vfio|uio (default: vfio if the guest has an IOMMU)
//                   netfront.ip=A.B.C.D (default 10.0.2.15, QEMU user networking's guest)
//                   netfront.port=N (default 7)  netfront.hugepages=N (default 96)
//                   netfront.memory_mb=N, netfront.device_memory_mb=N (default 64 each)
//                   netfront.bind=0 (leave the NIC's driver alone)
//                   netfront.queues=N (queue pairs, each answering on itself; default 1)
//                   netfront.options=OPT[,OPT...] (more device id options, e.g. vlan_filter)
//                   netfront.device=vhost-net:TAP loads vhost-net and the tap driver first;
//                   netfront.peer=A.B.C.D then gives the guest kernel that address on the tap
//                   (a /24) and has it send netfront.peer_count=N (default 1000) UDP
//                   datagrams to the appliance, every echo checked byte for byte, the result
//                   printed ("kernel peer: ..."); the appliance stops after it.
// Stop: the line "stop" on the console (standard input), SIGINT or SIGTERM. The console also
// takes the commands of console_commands.hpp (receive filters, the MAC, the link, RSS), and
// "hash-log N": the queue and reported hash of the next N UDP datagrams received are printed
// ("hash: queue Q port P value 0xH type T"); "tso-send ..." (tso_sender.hpp) sends a TCP
// super-frame for the device to segment; any other line prints the stats. Every change of
// the link the device reports is printed ("link: ...").
#include <arpa/inet.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "netfront/dpdk_env.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/netif.hpp"
#include "netfront/packet_pool.hpp"
#include "netfront/rss.hpp"
#include "netfront/stats.hpp"
#include "tools/appliance/console_commands.hpp"
#include "tools/appliance/echo_responder.hpp"
#include "tools/appliance/pid1.hpp"
#include "tools/appliance/tso_sender.hpp"
#include "tools/appliance/udp_echo_client.hpp"

using namespace netfront;
using namespace std::chrono_literals;

namespace {

struct Options {
  std::string device;  // empty: find the virtio-net PCI function (as /init)
  std::string ip = "10.0.2.15";
  std::uint16_t port = 7;
  unsigned memory_mb = 64;
  unsigned device_memory_mb = 64;
  unsigned queues = 1;  // queue pairs: each answers what arrives on it
  std::string id_options;  // appended to the device id
  std::string peer;  // the kernel's address on a vhost-net device's tap, which sends it traffic
  unsigned peer_count = 1000;
};

void say(const char* fmt, auto... args) {
  std::printf("[%8.3f] netfront-echo: ", appliance::pid1::uptime_seconds());
  std::printf(fmt, args...);
  std::printf("\n");
}

std::optional<Options> parse_args(int argc, char** argv, Options o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--device" && has_value) o.device = argv[++i];
    else if (a == "--ip" && has_value) o.ip = argv[++i];
    else if (a == "--port" && has_value) o.port = static_cast<std::uint16_t>(std::stoul(argv[++i]));
    else if (a == "--memory-mb" && has_value) o.memory_mb = static_cast<unsigned>(std::stoul(argv[++i]));
    else if (a == "--queues" && has_value) o.queues = static_cast<unsigned>(std::stoul(argv[++i]));
    else {
      std::fprintf(stderr, "usage: netfront-echo [--device ID] [--ip A.B.C.D] [--port N] [--memory-mb N] [--queues N]\n");
      return std::nullopt;
    }
  }
  return o;
}

void apply_kernel_options(Options& o, const std::map<std::string, std::string>& k) {
  auto get = [&](const char* key) -> const std::string* {
    auto it = k.find(key);
    return it == k.end() ? nullptr : &it->second;
  };
  if (auto* v = get("ip")) o.ip = *v;
  if (auto* v = get("port")) o.port = static_cast<std::uint16_t>(std::stoul(*v));
  if (auto* v = get("memory_mb")) o.memory_mb = static_cast<unsigned>(std::stoul(*v));
  if (auto* v = get("device_memory_mb")) o.device_memory_mb = static_cast<unsigned>(std::stoul(*v));
  if (auto* v = get("queues")) o.queues = static_cast<unsigned>(std::stoul(*v));
  if (auto* v = get("options")) o.id_options = *v;
  if (auto* v = get("peer")) o.peer = *v;
  if (auto* v = get("peer_count")) o.peer_count = static_cast<unsigned>(std::stoul(*v));
}

// PID 1's work: file systems, hugepages, the NIC bound to vfio-pci or uio_pci_generic.
Result<> prepare_guest(Options& o) {
  if (auto r = appliance::pid1::mount_file_systems(); !r) return r;
  const auto kernel_options = appliance::pid1::kernel_options();
  apply_kernel_options(o, kernel_options);
  appliance::pid1::GuestNic nic{.device = o.device};
  nic.read(kernel_options);
  auto prepared = appliance::pid1::prepare_nic(nic);
  if (!prepared) return prepared.error();
  o.device = nic.device;
  if (!prepared->empty()) say("%s", prepared->c_str());
  return Ok{};
}

void print_stats(const Netif& dev, const appliance::EchoCounters& n, const char* when) {
  for (unsigned q = 0; q < dev.queue_pairs(); ++q) {
    const Stats s = dev.get_stats_counters(q);
    say("%s queue %u: rx %llu pkts %llu bytes, tx %llu pkts %llu bytes, drops rx %llu tx %llu, ring-full %llu, "
        "device errors %llu",
        when, q, static_cast<unsigned long long>(s.rx_pkts), static_cast<unsigned long long>(s.rx_bytes),
        static_cast<unsigned long long>(s.tx_pkts), static_cast<unsigned long long>(s.tx_bytes),
        static_cast<unsigned long long>(s.rx_drops), static_cast<unsigned long long>(s.tx_drops),
        static_cast<unsigned long long>(s.tx_ring_full), static_cast<unsigned long long>(s.device_errors));
  }
  say("%s answers: arp %llu, icmp %llu, udp %llu; ignored %llu, malformed %llu", when,
      static_cast<unsigned long long>(n.arp), static_cast<unsigned long long>(n.icmp),
      static_cast<unsigned long long>(n.udp), static_cast<unsigned long long>(n.ignored),
      static_cast<unsigned long long>(n.malformed));
}

// The signals that stop the appliance: blocked in main, read from a signalfd in serve().
sigset_t stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

bool console_is_watchable() {
  struct stat st {};
  return ::fstat(STDIN_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || ::isatty(STDIN_FILENO));
}

io<void> send_reply(NetifQueue queue, Buffer reply, std::uint64_t& failed) {
  if (Result<> r = co_await queue.write(std::move(reply)); !r) ++failed;
}

// A console line: a command of console_commands.hpp (the answer is printed; a new MAC is
// what ARP is answered with from then on), or anything else, which prints the stats.
io<void> console_line(Netif& dev, std::string line, appliance::EchoAddress& self, const appliance::EchoCounters& counters) {
  std::optional<std::string> answer = co_await appliance::run_console_command(dev, std::move(line));
  if (!answer) {
    print_stats(dev, counters, "stats");
    co_return;
  }
  self.mac = dev.mac();
  say("%s", answer->c_str());
}

// "hash-log N": how many UDP datagrams' hashes to print; nullopt for another line.
std::optional<unsigned> hash_log_request(const std::string& line) {
  unsigned n = 0;
  char rest = 0;
  if (std::sscanf(line.c_str(), " hash-log %u %c", &n, &rest) != 1) return std::nullopt;
  return n;
}

// For hash-log: a received IPv4 UDP datagram's queue, source port and the hash the device
// reported with it; whether it was one.
bool log_hash(unsigned queue, const Buffer& frame) {
  if (frame.length() < 42 || frame.get_be16(12) != 0x0800 || frame.get_u8(23) != 17) return false;
  const std::size_t l4 = 14 + 4 * (frame.get_u8(14) & 0xf);
  if (frame.length() < l4 + 8) return false;
  const auto h = rx_hash(frame);
  say("hash: queue %u port %u value 0x%08x type %s", queue, frame.get_be16(l4), h ? h->value : 0u,
      h ? std::string(to_string(h->type)).c_str() : "none");
  return true;
}

// "tso-send ...": the super-frame out, its result printed. The pool its pieces come from is
// made at the first one.
io<void> tso_line(Netif& dev, std::optional<PacketPool>& pool, const appliance::EchoAddress& self, appliance::TsoSend s,
                  std::string line) {
  if (!pool) {
    auto made = PacketPool::create({.size = 255, .cache = 0});
    if (!made) {
      say("%s: %s", line.c_str(), made.error().to_string().c_str());
      co_return;
    }
    pool.emplace(std::move(*made));
  }
  const Result<> r = co_await appliance::send_tso(dev, *pool, self, s);
  say("%s: %s", line.c_str(), r ? "ok" : r.error().to_string().c_str());
}

// Prints every change of the link the device reports, until disconnect.
io<void> follow_link(Netif& dev) {
  LinkStatus seen = dev.link_status();
  for (;;) {
    Result<LinkStatus> now = co_await dev.link_change(seen);
    if (!now) co_return;
    say("link: %s, %llu announcement(s)", now->to_string().c_str(), static_cast<unsigned long long>(now->announcements));
    seen = *now;
  }
}

// netfront.peer: the guest kernel's own stack as the far end of a vhost-net device. A thread
// of ours sends the echo run through a kernel socket (it leaves by the tap, vhost-net puts it
// on our receive ring, the echo goes back the same way) while the loop answers it.
class KernelPeer {
 public:
  static Result<KernelPeer> start(const Netif& dev, const Options& o, std::uint32_t netfront_ip) {
    if (dev.id().kind() != DeviceId::Kind::VhostNet)
      return Error::unknown(Error::Cause::BadArgument, "netfront.peer needs a vhost-net device, not " + dev.id().to_string());
    if (auto r = appliance::pid1::configure_interface(dev.id().vhost_net().tap_name, o.peer, 24); !r) return std::move(r).error();
    KernelPeer p;
    p.run_->done_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p.run_->done_fd < 0) return Error::unknown(std::string("eventfd: ") + std::strerror(errno));
    appliance::EchoRunOptions run;
    run.address = netfront_ip;
    run.port = o.port;
    run.count = o.peer_count;
    say("kernel peer: %s on %s sends %u datagrams to %s", o.peer.c_str(), dev.id().vhost_net().tap_name.c_str(), run.count,
        o.ip.c_str());
    p.thread_ = std::thread([run, shared = p.run_] {
      shared->result = appliance::run_udp_echo(run);
      shared->done = true;
      const std::uint64_t one = 1;
      (void)!::write(shared->done_fd, &one, sizeof one);
    });
    return p;
  }
  KernelPeer(KernelPeer&&) noexcept = default;
  ~KernelPeer() { finish(); }
  int done_fd() const noexcept { return run_->done_fd; }

  // Prints the run's result. A run stopped early is left to end by itself (its echoes need the
  // loop, which waiting here would hold up).
  void finish() {
    if (!thread_.joinable()) return;
    if (!run_->done) {
      say("kernel peer: stopped before its run ended");
      thread_.detach();
      return;
    }
    thread_.join();
    const appliance::EchoRunResult& r = run_->result;
    say("kernel peer: %u of %u datagrams echoed byte for byte, %u mismatched, %u lost, %u retransmits, %.3f s%s%s",
        r.echoed, r.sent, r.mismatched, r.lost, r.retransmits, r.seconds, r.error.empty() ? "" : "; ", r.error.c_str());
  }

 private:
  // What the thread and the loop share; the thread keeps it as long as it runs.
  struct Run {
    appliance::EchoRunResult result;
    std::atomic<bool> done{false};
    int done_fd = -1;
    ~Run() {
      if (done_fd >= 0) ::close(done_fd);
    }
  };
  KernelPeer() = default;
  std::shared_ptr<Run> run_ = std::make_shared<Run>();
  std::thread thread_;
};

io<int> serve(EventLoop& loop, const Options& o, bool as_init) {
  DpdkConfig dpdk;
  dpdk.memory_mb = o.memory_mb;
  dpdk.device_memory_mb = o.device_memory_mb;
  if (as_init) dpdk.memory = MemoryBacking::Hugepages;
  if (auto r = DpdkEnv::start(dpdk); !r) {
    say("DPDK: %s", r.error().to_string().c_str());
    co_return 1;
  }
  appliance::EchoAddress self;
  in_addr ip{};
  if (::inet_pton(AF_INET, o.ip.c_str(), &ip) != 1) {
    say("'%s' is not an IPv4 address", o.ip.c_str());
    co_return 1;
  }
  self.ipv4 = ntohl(ip.s_addr);
  self.udp_port = o.port;

  // (Named, not a temporary in the co_await: GCC 12 destroys such temporaries twice.)
  std::string device = o.device.empty() ? std::string("loop:") : o.device;
  if (o.queues > 1) device += (device.back() == ':' ? "queues=" : ",queues=") + std::to_string(o.queues);
  if (!o.id_options.empty()) device += (device.back() == ':' ? "" : ",") + o.id_options;
  Result<Netif> connected = co_await Netif::connect(device);
  if (!connected) {
    say("connect %s: %s", o.device.c_str(), connected.error().to_string().c_str());
    co_return 1;
  }
  Netif& dev = *connected;
  self.mac = dev.mac();
  say("up: %s, mac %s, mtu %u, link %s; answering %s (ARP, ICMP echo, UDP echo on port %u)", dev.id().to_string().c_str(),
      dev.mac().to_string().c_str(), dev.mtu(), dev.link_up() ? "up" : "down", o.ip.c_str(), o.port);

  appliance::EchoCounters counters;
  std::uint64_t failed_writes = 0;
  std::optional<KernelPeer> peer;
  if (!o.peer.empty()) {
    auto started = KernelPeer::start(dev, o, self.ipv4);
    if (!started) {
      say("kernel peer: %s", started.error().to_string().c_str());
      (void)dev.disconnect();
      co_return 1;
    }
    peer.emplace(std::move(*started));
  }
  bool first = true;
  bool stopping = false;
  unsigned hash_log = 0;  // UDP datagrams whose hash is still to be printed
  std::optional<PacketPool> tso_pool;
  Timer ticker(loop, [&] { print_stats(dev, counters, "stats"); });
  ticker.arm_periodic(1s);
  io<void> link_follower = follow_link(dev);

  auto stop = [&](const char* why) {
    if (stopping) return;
    if (peer) peer->finish();
    stopping = true;
    say("stopping (%s)", why);
    ticker.cancel();
    print_stats(dev, counters, "final");
    (void)dev.disconnect();
  };
  // The console (a terminal or a pipe; nothing to watch otherwise): "stop" ends the
  // appliance, end of input stops it too; other lines are commands or ask for the stats.
  Result<std::unique_ptr<FdWatch>> console = Error::unknown(Error::Cause::BadArgument, "not a terminal or a pipe");
  std::string pending;  // input after the last complete line
  if (console_is_watchable()) console = FdWatch::start(loop, STDIN_FILENO, EPOLLIN, [&](std::uint32_t) {
    char chunk[256];
    const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n <= 0) return stop("console closed");
    pending.append(chunk, static_cast<std::size_t>(n));
    for (std::size_t end; !stopping && (end = pending.find_first_of("\r\n")) != std::string::npos;) {
      std::string line = pending.substr(0, end);
      pending.erase(0, end + 1);
      if (line.find("stop") != std::string::npos) return stop("asked on the console");
      if (auto n = hash_log_request(line)) {
        hash_log = *n;
        say("hash-log %u: ok", *n);
      } else if (auto tso = appliance::parse_tso_send(line)) {
        (void)tso_line(dev, tso_pool, self, *tso, line);  // runs on; its result is printed
      } else if (!line.empty()) (void)console_line(dev, std::move(line), self, counters);  // runs on; its answer is printed
    }
    if (pending.size() > 4096) pending.clear();  // no line is that long
  });
  if (!console && console_is_watchable()) say("the console is not read: %s", console.error().to_string().c_str());
  std::unique_ptr<FdWatch> peer_watch;
  if (peer) {
    auto watch = FdWatch::start(loop, peer->done_fd(), EPOLLIN, [&](std::uint32_t) { stop("the kernel peer is done"); });
    if (!watch) {
      say("kernel peer: %s", watch.error().to_string().c_str());
      stop("the kernel peer cannot be watched");
    } else {
      peer_watch = std::move(*watch);
    }
  }
  const sigset_t signals = stop_signals();
  const int signal_fd = ::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
  auto signal_watch = FdWatch::start(loop, signal_fd, EPOLLIN, [&](std::uint32_t) { stop("signal"); });
  if (!signal_watch) say("signals do not stop the appliance: %s", signal_watch.error().to_string().c_str());

  // Every queue pair answers on itself: a reply leaves on the pair its request came in on.
  std::vector<io<Result<>>> listens;
  for (unsigned q = 0; q < dev.queue_pairs(); ++q)
    listens.push_back(dev.queue(q).listen([&, q, queue = dev.queue(q)](Buffer frame) -> io<void> {
      if (first) {
        first = false;
        say("first frame %.3f s after boot", appliance::pid1::uptime_seconds());
      }
      if (hash_log > 0 && log_hash(q, frame)) [[unlikely]]
        --hash_log;
      if (appliance::answer_in_place(frame, self, counters) == appliance::Answer::None) return make_ready_io();
      return send_reply(queue, std::move(frame), failed_writes);
    }));
  Result<> listened = Ok{};
  for (auto& l : listens) {
    Result<> r = co_await l;
    if (!r && listened) listened = r;
  }
  ::close(signal_fd);
  if (failed_writes) say("%llu replies could not be sent", static_cast<unsigned long long>(failed_writes));
  say("disconnected (%s)", listened ? "clean" : listened.error().to_string().c_str());
  co_return stopping ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const bool as_init = ::getpid() == 1;
  auto options = parse_args(as_init ? 1 : argc, argv, Options{});
  if (!options) return 2;
  if (as_init) {
    say("starting as /init, %.3f s after boot", appliance::pid1::uptime_seconds());
    if (auto r = prepare_guest(*options); !r) {
      say("guest set-up failed: %s", r.error().to_string().c_str());
      appliance::pid1::power_off();
    }
  }
  const sigset_t signals = stop_signals();
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);  // delivered through the signalfd instead
  int rc = 0;
  {
    EventLoop loop;
    rc = loop.run_until(serve(loop, *options, as_init));
  }
  say("exit %d", rc);
  if (as_init) appliance::pid1::power_off();
  return rc;
}
