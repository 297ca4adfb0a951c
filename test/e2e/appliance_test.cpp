// End to end: the echo appliance image booted in QEMU (TCG), its virtio-net-pci NIC driven by
// netfront from the guest's userspace, 1000 UDP datagrams of 1 to 1472 bytes from the host
// through QEMU's user networking, every echo checked byte for byte. Both ways into the NIC
// (uio_pci_generic without an IOMMU, vfio-pci behind an emulated intel-iommu), split and
// packed rings, mergeable receive buffers on and off. Each case boots its own guest; the
// guest's console is printed when a case fails.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <string>
#include <tuple>

#include "tools/appliance/qemu_guest.hpp"
#include "tools/appliance/udp_echo_client.hpp"

using namespace netfront::appliance;
using namespace std::chrono_literals;

namespace {

std::string image_dir() {
  const char* d = std::getenv("NETFRONT_IMAGE_DIR");
  return d ? d : "build/appliance";
}

// The appliance's last "final queue 0" line, as numbers.
struct FinalStats {
  unsigned long long rx_pkts = 0, tx_pkts = 0, rx_drops = 0, tx_drops = 0, device_errors = 0;
  bool found = false;
};

FinalStats final_stats(const std::string& console) {
  static const std::regex line(
      R"(final queue 0: rx (\d+) pkts \d+ bytes, tx (\d+) pkts \d+ bytes, drops rx (\d+) tx (\d+), ring-full \d+, device errors (\d+))");
  FinalStats s;
  std::smatch m;
  if (std::regex_search(console, m, line)) {
    s = {std::stoull(m[1]), std::stoull(m[2]), std::stoull(m[3]), std::stoull(m[4]), std::stoull(m[5]), true};
  }
  return s;
}

using Case = std::tuple<GuestPath, bool /*packed*/, bool /*mrg_rxbuf*/>;

class ApplianceEcho : public ::testing::TestWithParam<Case> {};

TEST_P(ApplianceEcho, ThousandDatagramsEchoedByteForByte) {
  const auto [path, packed, mrg] = GetParam();
  GuestOptions g;
  g.kernel = image_dir() + "/vmlinuz";
  g.initramfs = image_dir() + "/initramfs.img";
  g.path = path;
  g.packed = packed;
  g.mrg_rxbuf = mrg;
  g.host_port = free_udp_port();
  auto guest = QemuGuest::boot(g);
  ASSERT_TRUE(guest) << guest.error().to_string();
  QemuGuest& vm = **guest;

  ASSERT_TRUE(vm.wait_for("netfront-echo: up:", 120s)) << "appliance did not come up; console:\n" << vm.console();
  const std::string ring = packed ? "packed ring" : "split ring";
  EXPECT_NE(vm.console().find(ring), std::string::npos) << vm.console();
  EXPECT_NE(vm.console().find(path == GuestPath::Vfio ? "bound to vfio-pci" : "bound to uio_pci_generic"), std::string::npos)
      << vm.console();

  EchoRunOptions e;
  e.port = g.host_port;
  e.count = 1000;
  const EchoRunResult r = run_udp_echo(e);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.sent, 1000u);
  EXPECT_EQ(r.echoed, 1000u) << "mismatched " << r.mismatched << ", lost " << r.lost << "; console:\n" << vm.console();
  EXPECT_EQ(r.mismatched, 0u);
  EXPECT_EQ(r.lost, 0u);

  vm.send_line("stop");
  ASSERT_TRUE(vm.wait_exit(60s)) << "appliance did not power off; console:\n" << vm.console();
  const std::string console = vm.console();
  EXPECT_NE(console.find("disconnected (clean)"), std::string::npos) << console;
  const FinalStats s = final_stats(console);
  ASSERT_TRUE(s.found) << console;
  // Every datagram (and retransmission) reached the guest and went back out, plus the ARP exchange.
  EXPECT_GE(s.rx_pkts, 1000u + r.retransmits);
  EXPECT_EQ(s.tx_pkts, s.rx_pkts) << console;
  EXPECT_EQ(s.rx_drops + s.tx_drops + s.device_errors, 0u) << console;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const auto [path, packed, mrg] = info.param;
  return std::string(path == GuestPath::Vfio ? "Vfio" : "Uio") + (packed ? "Packed" : "Split") + (mrg ? "Mergeable" : "NoMergeable");
}

INSTANTIATE_TEST_SUITE_P(Guests, ApplianceEcho,
                         ::testing::Combine(::testing::Values(GuestPath::Uio, GuestPath::Vfio), ::testing::Bool(),
                                            ::testing::Bool()),
                         case_name);

}  // namespace

namespace {

// A guest whose NIC netfront must refuse: the appliance reports why and powers off.
std::string refused_console(GuestOptions g) {
  g.kernel = image_dir() + "/vmlinuz";
  g.initramfs = image_dir() + "/initramfs.img";
  g.host_port = free_udp_port();
  auto guest = QemuGuest::boot(g);
  if (!guest) return guest.error().to_string();
  (*guest)->wait_for("netfront-echo: exit", 120s);
  (*guest)->wait_exit(30s);
  return (*guest)->console();
}

TEST(ApplianceRefuses, LegacyOnlyNic) {
  GuestOptions g;
  g.legacy_only = true;
  const std::string console = refused_console(g);
  EXPECT_NE(console.find("legacy-only virtio device"), std::string::npos) << console;
  EXPECT_NE(console.find("exit 1"), std::string::npos) << console;
}

TEST(ApplianceRefuses, AbsentAndForeignFunctions) {
  GuestOptions g;
  g.append = "netfront.device=pci:0000:00:09.0";
  std::string console = refused_console(g);
  EXPECT_NE(console.find("no PCI function 0000:00:09.0"), std::string::npos) << console;
  g.append = "netfront.device=pci:0000:00:1f.2";  // q35's SATA controller
  console = refused_console(g);
  EXPECT_NE(console.find("is not a virtio device"), std::string::npos) << console;
  g.append = "netfront.bind=0";  // the NIC left without a userspace driver
  console = refused_console(g);
  EXPECT_NE(console.find("is not bound to a driver; bind it to vfio-pci"), std::string::npos) << console;
}

}  // namespace
