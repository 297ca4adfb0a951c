// netfront-appliance: an appliance end to end. Boots its image in QEMU with user networking
// forwarding a host port to the guest, checks it from the host, then stops the appliance from
// its console and shows what it printed (its counters among it). The echo appliance (the
// default) is sent UDP datagrams of mixed sizes and every echo is checked byte for byte; the
// HTTP appliance (--app httpd) gets http_check.hpp's self-check over TCP.
//
//   netfront-appliance [--app echo|httpd] [--image-dir DIR] [--path uio|vfio|mmio] [--legacy] [--packed]
//                      [--no-mrg-rxbuf] [--kvm] [--count N]
//   netfront-appliance --boot-only [...]   just boots, the console on this terminal ("stop" ends it)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <vector>
#include <string>

#include "tools/appliance/http_check.hpp"
#include "tools/appliance/qemu_guest.hpp"
#include "tools/appliance/udp_echo_client.hpp"

using namespace netfront::appliance;
using namespace std::chrono_literals;

namespace {

// The appliance's own lines (and any kernel panic), without the kernel's boot chatter.
void print_appliance_lines(const std::string& console) {
  std::istringstream lines(console);
  for (std::string line; std::getline(lines, line);)
    if (line.find("netfront") != std::string::npos || line.find("panic") != std::string::npos ||
        line.find("error") != std::string::npos)
      std::printf("  guest| %s\n", line.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::string dir = "build/appliance";
  GuestOptions g;
  EchoRunOptions e;
  bool boot_only = false;
  std::string app = "echo";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--image-dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--app" && i + 1 < argc && (std::string(argv[i + 1]) == "echo" || std::string(argv[i + 1]) == "httpd")) app = argv[++i];
    else if (a == "--path" && i + 1 < argc) {
      const std::string path = argv[++i];
      g.path = path == "vfio" ? GuestPath::Vfio : path == "mmio" ? GuestPath::Mmio : GuestPath::Uio;
    }
    else if (a == "--packed") g.packed = true;
    else if (a == "--legacy") g.legacy_only = true;
    else if (a == "--no-mrg-rxbuf") g.mrg_rxbuf = false;
    else if (a == "--kvm") g.kvm = true;
    else if (a == "--boot-only") boot_only = true;
    else if (a == "--count" && i + 1 < argc) e.count = static_cast<unsigned>(std::stoul(argv[++i]));
    else {
      std::fprintf(stderr, "usage: netfront-appliance [--app echo|httpd] [--image-dir DIR] [--path uio|vfio|mmio] [--legacy] [--packed] [--no-mrg-rxbuf] [--kvm] [--boot-only] [--count N]\n");
      return 2;
    }
  }
  const bool httpd = app == "httpd";
  g.kernel = dir + "/vmlinuz";
  g.initramfs = dir + (httpd ? "/httpd-initramfs.img" : "/initramfs.img");
  if (httpd) {
    g.forward = "tcp";
    g.guest_port = 80;
    g.host_port = free_tcp_port();
  } else {
    g.host_port = e.port = free_udp_port();
  }
  std::string cmd;
  for (const auto& word : qemu_command(g)) cmd += (cmd.empty() ? "" : " ") + word;
  std::printf("booting: %s\n", cmd.c_str());
  if (boot_only) {
    std::printf("%s port 127.0.0.1:%u reaches the guest's port %u; type \"stop\" to end\n", httpd ? "TCP" : "UDP", g.host_port,
                g.guest_port);
    const auto words = qemu_command(g);
    std::vector<char*> args;
    for (const auto& w : words) args.push_back(const_cast<char*>(w.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::perror("qemu-system-x86_64");
    return 1;
  }
  auto guest = QemuGuest::boot(g);
  if (!guest) {
    std::printf("%s\n", guest.error().to_string().c_str());
    return 1;
  }
  const std::string up_line = httpd ? "netfront-httpd: up:" : "netfront-echo: up:";
  if (!(*guest)->wait_for(up_line, 120s)) {
    std::printf("the appliance did not come up; its console:\n%s\n", (*guest)->console().c_str());
    return 1;
  }
  print_appliance_lines((*guest)->console());
  bool passed = false;
  if (httpd) {
    std::printf("checking http://127.0.0.1:%u/ (guest port %u)\n", g.host_port, g.guest_port);
    const HttpCheckResult r = run_http_check({.port = g.host_port});
    std::printf("%s", r.report.c_str());
    passed = r.ok;
    (*guest)->wait_for("stats connections", 3s);
  } else {
    std::printf("sending %u UDP datagrams of %zu..%zu bytes to 127.0.0.1:%u (guest port %u)\n", e.count, e.min_size,
                e.max_size, e.port, g.guest_port);
    const EchoRunResult r = run_udp_echo(e);
    std::printf("echoes: %u of %u back byte for byte (%zu bytes), %u mismatched, %u lost, %u retransmitted, %.2f s%s%s\n",
                r.echoed, r.sent, r.bytes, r.mismatched, r.lost, r.retransmits, r.seconds, r.error.empty() ? "" : "; ",
                r.error.c_str());
    passed = r.all_echoed();
    (*guest)->wait_for("answers: arp", 3s);  // one more stats line after the traffic
  }
  (*guest)->send_line("stop");
  const bool stopped = (*guest)->wait_exit(60s);
  std::printf("appliance console after the run:\n");
  const std::string console = (*guest)->console();
  const std::size_t up = console.find(up_line);
  print_appliance_lines(console.substr(console.find('\n', up) + 1));  // what came after the lines above
  // The HTTP appliance also says whether lwIP gave every received frame back once it closed
  // its connections: one it kept is a leak, and fails the run.
  const bool clean = stopped && console.find("disconnected (clean)") != std::string::npos &&
                     (!httpd || console.find("after close: pbufs held 0") != std::string::npos);
  std::printf("%s\n", clean ? "appliance stopped cleanly" : "appliance did not stop cleanly");
  return passed && clean ? 0 : 1;
}
