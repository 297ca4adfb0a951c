// netfront-httpd: an HTTP/1.1 server (http_server.hpp) on lwIP on a netfront device, one
// thread, one event loop. It prints its counters once a second and at the end. Run as a
// guest's /init (the HTTP appliance) it first does PID 1's work (pid1.hpp) from the kernel
// options netfront.device, .path, .bind, .hugepages (as netfront-echo), netfront.ip
// (default 10.0.2.15/24,gw=10.0.2.2: QEMU user networking's guest), netfront.port and
// netfront.max_connections, and powers the guest off when it stops.
//
//   netfront-httpd --device ID --ip A.B.C.D[/N][,gw=A.B.C.D][,no-ipv6] [--port N]
//                  [--max-connections N] [--memory-mb N]
//                  [--head-timeout S] [--idle-timeout S] [--stall-timeout S]   (http_server.hpp)
//                  [--idle poll|sleep]   (the loop when idle: busy-polls, or sleeps until an fd or timer)
//
// Stop: SIGINT, SIGTERM, or the line "stop" on standard input (a pipe or a terminal).
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "netfront/dpdk_env.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/lwip.hpp"
#include "netfront/netif.hpp"
#include "tools/appliance/pid1.hpp"
#include "tools/httpd/http_server.hpp"

using namespace netfront;
using namespace std::chrono_literals;

namespace {

struct Options {
  std::string device = "loop:";
  std::string ip = "10.0.2.15/24";
  std::uint16_t port = 80;
  unsigned max_connections = 256;
  unsigned memory_mb = 128;
  unsigned head_timeout = 10, idle_timeout = 30, stall_timeout = 60;  // seconds
  bool hugepages = false;  // as /init: PID 1 reserved them; otherwise DPDK chooses
  IdleMode idle = IdleMode::BusyPoll;
};

void say(const char* fmt, auto... args) {
  std::printf("[%8.3f] netfront-httpd: ", appliance::pid1::uptime_seconds());
  std::printf(fmt, args...);
  std::printf("\n");
}

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    try {
      if (a == "--device" && has_value) o.device = argv[++i];
      else if (a == "--ip" && has_value) o.ip = argv[++i];
      else if (a == "--port" && has_value) o.port = static_cast<std::uint16_t>(std::stoul(argv[++i]));
      else if (a == "--max-connections" && has_value) o.max_connections = static_cast<unsigned>(std::stoul(argv[++i]));
      else if (a == "--memory-mb" && has_value) o.memory_mb = static_cast<unsigned>(std::stoul(argv[++i]));
      else if (a == "--idle" && has_value) {
        const std::string mode = argv[++i];
        if (mode != "poll" && mode != "sleep") throw std::invalid_argument(mode);
        o.idle = mode == "sleep" ? IdleMode::Sleep : IdleMode::BusyPoll;
      } else if (a == "--head-timeout" && has_value) o.head_timeout = static_cast<unsigned>(std::stoul(argv[++i]));
      else if (a == "--idle-timeout" && has_value) o.idle_timeout = static_cast<unsigned>(std::stoul(argv[++i]));
      else if (a == "--stall-timeout" && has_value) o.stall_timeout = static_cast<unsigned>(std::stoul(argv[++i]));
      else throw std::invalid_argument(a);
    } catch (const std::exception&) {
      std::fprintf(stderr,
                   "usage: netfront-httpd --device ID --ip A.B.C.D[/N][,gw=A.B.C.D][,no-ipv6] [--port N] "
                   "[--max-connections N] [--memory-mb N] [--head-timeout S] [--idle-timeout S] [--stall-timeout S] "
                   "[--idle poll|sleep]\n");
      return std::nullopt;
    }
  }
  return o;
}

std::string counters_line(const Netif& dev, const LwipNetif& nif, const httpd::HttpServer& server) {
  const Stats d = dev.get_stats_counters();
  const LwipCounters& l = nif.counters();
  const httpd::ServerCounters& s = server.counters();
  char line[640];
  std::snprintf(line, sizeof line,
                "connections open %zu accepted %llu busy %llu closed %llu timed-out %llu aborted %llu; requests %llu "
                "refused %llu not-found %llu; body in %llu out %llu bytes; frames rx %llu tx %llu (waited %llu, "
                "errors %llu), rx drops %llu, pbufs held %llu; device rx %llu tx %llu drops %llu/%llu errors %llu stalls %llu renotified %llu",
                server.open_connections(), (unsigned long long)s.accepted, (unsigned long long)s.refused_busy,
                (unsigned long long)s.closed, (unsigned long long)s.timed_out, (unsigned long long)s.aborted,
                (unsigned long long)s.requests, (unsigned long long)s.refused, (unsigned long long)s.not_found,
                (unsigned long long)s.body_bytes_in, (unsigned long long)s.bytes_out, (unsigned long long)l.rx_frames,
                (unsigned long long)l.tx_frames, (unsigned long long)l.tx_waited, (unsigned long long)l.tx_errors,
                (unsigned long long)l.rx_dropped, (unsigned long long)LwipStack::pbufs_held(),
                (unsigned long long)d.rx_pkts, (unsigned long long)d.tx_pkts, (unsigned long long)d.rx_drops,
                (unsigned long long)d.tx_drops, (unsigned long long)d.device_errors,
                (unsigned long long)d.tx_stalls, (unsigned long long)d.tx_renotified);
  return line;
}

bool console_is_watchable() {
  struct stat st {};
  return ::fstat(STDIN_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || ::isatty(STDIN_FILENO));
}

// PID 1's work, and the options the kernel command line gives.
Result<> prepare_guest(Options& o) {
  if (auto r = appliance::pid1::mount_file_systems(); !r) return r;
  const auto k = appliance::pid1::kernel_options();
  auto get = [&](const char* key) -> const std::string* {
    auto it = k.find(key);
    return it == k.end() ? nullptr : &it->second;
  };
  o.ip = "10.0.2.15/24,gw=10.0.2.2";
  if (auto* v = get("ip")) o.ip = *v;
  try {
    if (auto* v = get("port")) o.port = static_cast<std::uint16_t>(std::stoul(*v));
    if (auto* v = get("max_connections")) o.max_connections = static_cast<unsigned>(std::stoul(*v));
  } catch (const std::exception&) {
    return Error::unknown(Error::Cause::BadArgument, "netfront.port and netfront.max_connections are numbers");
  }
  appliance::pid1::GuestNic nic{};
  nic.read(k);
  auto prepared = appliance::pid1::prepare_nic(nic);
  if (!prepared) return prepared.error();
  o.device = nic.device;
  o.memory_mb = 64;
  o.hugepages = true;
  if (!prepared->empty()) say("%s", prepared->c_str());
  return Ok{};
}

io<int> serve(EventLoop& loop, const Options& o) {
  auto addressing = Ipv4Addressing::parse(o.ip);
  if (!addressing) {
    say("--ip %s: %s", o.ip.c_str(), addressing.error().to_string().c_str());
    co_return 2;
  }
  DpdkConfig dpdk{.memory_mb = o.memory_mb};
  if (o.hugepages) {
    dpdk.memory = MemoryBacking::Hugepages;
    dpdk.device_memory_mb = 64;
  }
  if (auto r = DpdkEnv::start(dpdk); !r) {
    say("DPDK: %s", r.error().to_string().c_str());
    co_return 1;
  }
  // (Named, not a temporary in the co_await: GCC 12 destroys such temporaries twice.)
  const std::string device = o.device;
  Result<Netif> connected = co_await Netif::connect(device);
  if (!connected) {
    say("connect %s: %s", device.c_str(), connected.error().to_string().c_str());
    co_return 1;
  }
  Netif& dev = *connected;
  auto stack = LwipStack::start(loop);
  if (!stack) {
    say("lwIP: %s", stack.error().to_string().c_str());
    co_return 1;
  }
  auto nif = (*stack)->attach(dev, *addressing);
  if (!nif) {
    say("lwIP netif: %s", nif.error().to_string().c_str());
    co_return 1;
  }
  std::unique_ptr<httpd::HttpServer> server;
  auto started = httpd::HttpServer::start({.port = o.port,
                                           .max_connections = o.max_connections,
                                           .head_timeout = std::chrono::seconds(o.head_timeout),
                                           .idle_timeout = std::chrono::seconds(o.idle_timeout),
                                           .stall_timeout = std::chrono::seconds(o.stall_timeout),
                                           .status_page = [&] {
                                             return "netfront-httpd on " + dev.id().to_string() + ", mac " +
                                                    dev.mac().to_string() + ", mtu " + std::to_string(dev.mtu()) + "\n" +
                                                    counters_line(dev, **nif, *server) + "\n";
                                           },
                                           .first_request = [] { say("first request"); }});
  if (!started) {
    say("HTTP: %s", started.error().to_string().c_str());
    co_return 1;
  }
  server = std::move(*started);
  say("up: %s, mac %s, mtu %u, link %s; serving HTTP on %s port %u", dev.id().to_string().c_str(),
      dev.mac().to_string().c_str(), dev.mtu(), dev.link_up() ? "up" : "down", addressing->to_string().c_str(), o.port);

  bool stopping = false;
  Timer ticker(loop, [&] { say("stats %s", counters_line(dev, **nif, *server).c_str()); });
  ticker.arm_periodic(1s);
  auto stop = [&](const char* why) {
    if (stopping) return;
    stopping = true;
    say("stopping (%s)", why);
    ticker.cancel();
    (void)dev.disconnect();
  };
  Result<std::unique_ptr<FdWatch>> console = Error::unknown(Error::Cause::BadArgument, "not a terminal or a pipe");
  std::string pending;
  if (console_is_watchable()) console = FdWatch::start(loop, STDIN_FILENO, EPOLLIN, [&](std::uint32_t) {
    char chunk[256];
    const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n <= 0) return stop("console closed");
    pending.append(chunk, static_cast<std::size_t>(n));
    if (pending.find("stop") != std::string::npos) return stop("asked on the console");
    if (pending.size() > 4096) pending.clear();
  });
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  const int signal_fd = ::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
  auto signal_watch = FdWatch::start(loop, signal_fd, EPOLLIN, [&](std::uint32_t) { stop("signal"); });
  if (!signal_watch) say("signals do not stop the server: %s", signal_watch.error().to_string().c_str());

  Result<> ran = co_await (*nif)->run();
  say("final %s", counters_line(dev, **nif, *server).c_str());
  server.reset();  // its connections reset, their pbufs freed
  nif->reset();
  say("after close: pbufs held %llu", static_cast<unsigned long long>(LwipStack::pbufs_held()));
  ::close(signal_fd);
  say("disconnected (%s)", ran ? "clean" : ran.error().to_string().c_str());
  co_return stopping ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const bool as_init = ::getpid() == 1;
  auto options = parse_args(as_init ? 1 : argc, argv);
  if (!options) return 2;
  if (as_init) {
    say("starting as /init");
    if (auto r = prepare_guest(*options); !r) {
      say("guest set-up failed: %s", r.error().to_string().c_str());
      appliance::pid1::power_off();
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);  // delivered through the signalfd instead
  int rc = 0;
  {
    EventLoop loop(LoopConfig{.idle = options->idle});
    rc = loop.run_until(serve(loop, *options));
  }
  say("exit %d", rc);
  if (as_init) appliance::pid1::power_off();
  return rc;
}
