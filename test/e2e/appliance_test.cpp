// End to end: the echo appliance image booted in QEMU (TCG), its virtio-net-pci NIC driven by
// netfront from the guest's userspace, 1000 UDP datagrams of 1 to 1472 bytes from the host
// through QEMU's user networking, every echo checked byte for byte. Both ways into the NIC
// (uio_pci_generic without an IOMMU, vfio-pci behind an emulated intel-iommu), split and
// packed rings, mergeable receive buffers on and off. Each case boots its own guest; the
// guest's console is printed when a case fails. A multi-queue guest (mq=on behind a
// multi_queue tap in a network namespace of the test's own) answers flows on both its pairs,
// and with QEMU's RSS steers them as netfront's indirection table says.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <regex>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "drivers/virtio/device_side/offload_engine.hpp"
#include "netfront/rss.hpp"
#include "tools/appliance/http_check.hpp"
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
  // Behind the IOMMU the device's domain holds only netfront's device memory (and the echoes
  // below show it is all the device needs); without one, the log says nothing confines it.
  EXPECT_NE(vm.console().find(path == GuestPath::Vfio ? "IOMMU domain of its own" : "uio_pci_generic has no IOMMU"),
            std::string::npos)
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

// Legal virtio-net-pci properties the other guests leave at their defaults, each of which a
// driver must take: QEMU's modern-pio-notify=on lists a notification structure in an I/O BAR
// first (§4.1.4: the driver uses the first it can), host_mtu=9000 without mergeable buffers
// needs 9000-byte receive buffers (a pool of them that fits the guest's device memory),
// page-per-vq=on spaces the doorbells a page apart, vectors=0 leaves the device without
// MSI-X. One guest with all of them echoes byte for byte.
// Boots a guest with `g`'s NIC, checks the console shows `shown` once the appliance is up,
// echoes 300 datagrams byte for byte and powers the guest off cleanly with nothing dropped.
void expect_guest_echoes(GuestOptions g, const std::string& shown) {
  g.kernel = image_dir() + "/vmlinuz";
  g.initramfs = image_dir() + "/initramfs.img";
  g.host_port = free_udp_port();
  auto guest = QemuGuest::boot(g);
  ASSERT_TRUE(guest) << guest.error().to_string();
  QemuGuest& vm = **guest;
  ASSERT_TRUE(vm.wait_for("netfront-echo: up:", 120s)) << "appliance did not come up; console:\n" << vm.console();
  EXPECT_NE(vm.console().find(shown), std::string::npos) << vm.console();
  EchoRunOptions e;
  e.port = g.host_port;
  e.count = 300;
  const EchoRunResult r = run_udp_echo(e);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.echoed, 300u) << "mismatched " << r.mismatched << ", lost " << r.lost << "; console:\n" << vm.console();
  EXPECT_EQ(r.mismatched, 0u);
  vm.send_line("stop");
  ASSERT_TRUE(vm.wait_exit(60s)) << "appliance did not power off; console:\n" << vm.console();
  EXPECT_NE(vm.console().find("disconnected (clean)"), std::string::npos) << vm.console();
  const FinalStats st = final_stats(vm.console());
  ASSERT_TRUE(st.found) << vm.console();
  EXPECT_EQ(st.rx_drops + st.tx_drops + st.device_errors, 0u) << vm.console();
}

TEST(ApplianceNicProperties, AGuestWithTheNicPropertiesOtherTestsLeaveAtTheirDefaultsEchoes) {
  GuestOptions g;
  g.mrg_rxbuf = false;
  g.nic_options = ",host_mtu=9000,modern-pio-notify=on,page-per-vq=on,vectors=0";
  expect_guest_echoes(g, "mtu 9000");
}

// A NIC with disable-modern=on (1af4:1000 with no virtio capabilities) is driven through its
// legacy interface (§4.1.4.8: registers in I/O BAR0, page-numbered split rings, a 10-byte
// header without mergeable buffers), over uio: the same echo as a modern NIC's.
class ApplianceLegacyEcho : public ::testing::TestWithParam<bool> {};

TEST_P(ApplianceLegacyEcho, ALegacyOnlyNicEchoesByteForByte) {
  GuestOptions g;
  g.legacy_only = true;
  g.mrg_rxbuf = GetParam();
  expect_guest_echoes(g, "(legacy)");
}

INSTANTIATE_TEST_SUITE_P(Guests, ApplianceLegacyEcho, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Mergeable" : "NoMergeable"; });

// A microVM (QEMU's microvm machine: no PCI, the NIC a virtio-mmio device the ACPI tables
// describe) reached through /dev/mem: version 2 (modern) with split and packed rings, and
// version 1 (legacy, force-legacy=on: page-numbered rings, §4.2.4).
using MmioCase = std::tuple<bool /*legacy*/, bool /*packed*/>;
class ApplianceMicrovmEcho : public ::testing::TestWithParam<MmioCase> {};

TEST_P(ApplianceMicrovmEcho, AVirtioMmioNicEchoesByteForByte) {
  const auto [legacy, packed] = GetParam();
  GuestOptions g;
  g.path = GuestPath::Mmio;
  g.legacy_only = legacy;
  g.packed = packed;
  expect_guest_echoes(g, legacy ? "virtio-mmio version 1" : "virtio-mmio version 2");
}

INSTANTIATE_TEST_SUITE_P(Guests, ApplianceMicrovmEcho,
                         ::testing::Values(MmioCase{false, false}, MmioCase{false, true}, MmioCase{true, false}),
                         [](const ::testing::TestParamInfo<MmioCase>& i) {
                           return std::string(std::get<0>(i.param) ? "Legacy" : "Modern") + (std::get<1>(i.param) ? "Packed" : "Split");
                         });

// vhost-net inside a guest (this machine has no /dev/vhost-net; the guest's kernel loads
// vhost_net and tun): netfront's rings worked by the guest kernel's vhost thread, frames to and
// from a tap, the far end the guest kernel's own stack, which sends the echo run (300 UDP
// datagrams of 1 to 1472 bytes) through a socket and checks every echo. One queue pair; and
// two, with mergeable buffers declined, where VQ_PAIRS_SET attaches the second tap queue.
using VhostNetCase = std::tuple<unsigned /*queues*/, bool /*mrg_rxbuf*/>;
class ApplianceVhostNet : public ::testing::TestWithParam<VhostNetCase> {};

TEST_P(ApplianceVhostNet, TheGuestKernelsStackEchoesThroughVhostNetByteForByte) {
  const auto [queues, mrg_rxbuf] = GetParam();
  GuestOptions g;
  g.kernel = image_dir() + "/vmlinuz";
  g.initramfs = image_dir() + "/initramfs.img";
  g.host_port = free_udp_port();
  g.append = "netfront.device=vhost-net:nf0" + std::string(mrg_rxbuf ? "" : ",mrg_rxbuf=off") +
             " netfront.queues=" + std::to_string(queues) + " netfront.ip=10.0.3.2 netfront.peer=10.0.3.1 netfront.peer_count=300";
  auto guest = QemuGuest::boot(g);
  ASSERT_TRUE(guest) << guest.error().to_string();
  QemuGuest& vm = **guest;
  ASSERT_TRUE(vm.wait_for("netfront-echo: up: vhost-net:nf0", 120s)) << "appliance did not come up; console:\n" << vm.console();
  ASSERT_TRUE(vm.wait_exit(120s)) << "appliance did not power off after the kernel's run; console:\n" << vm.console();
  const std::string console = vm.console();
  EXPECT_NE(console.find("kernel peer: 300 of 300 datagrams echoed byte for byte, 0 mismatched, 0 lost"), std::string::npos)
      << console;
  EXPECT_NE(console.find("disconnected (clean)"), std::string::npos) << console;
  // Every queue pair's final line: all the datagrams came in (on whichever pair the tap chose
  // for the flow), nothing dropped.
  static const std::regex line(R"(final queue \d+: rx (\d+) pkts \d+ bytes, tx \d+ pkts \d+ bytes, drops rx (\d+) tx (\d+), ring-full \d+, device errors (\d+))");
  unsigned long long rx = 0, lost = 0;
  unsigned lines = 0;
  for (std::sregex_iterator m(console.begin(), console.end(), line), end; m != end; ++m, ++lines) {
    rx += std::stoull((*m)[1]);
    lost += std::stoull((*m)[2]) + std::stoull((*m)[3]) + std::stoull((*m)[4]);
  }
  EXPECT_EQ(lines, queues) << console;
  EXPECT_GE(rx, 300u) << console;
  EXPECT_EQ(lost, 0u) << console;
}

INSTANTIATE_TEST_SUITE_P(Guests, ApplianceVhostNet, ::testing::Values(VhostNetCase{1, true}, VhostNetCase{2, false}),
                         [](const ::testing::TestParamInfo<VhostNetCase>& i) {
                           return std::to_string(std::get<0>(i.param)) + "Pairs" + (std::get<1>(i.param) ? "Mergeable" : "NoMergeable");
                         });

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

// --- multi-queue: a NIC with mq=on behind a multi_queue tap (QEMU's user networking has one
// queue), in a network namespace of the test's own; several UDP flows from inside it spread
// over the tap's queues, and the appliance answers each on the pair it arrived on.

// Runs `fn` on a thread that has entered network namespace `ns`.
template <typename Fn>
auto in_netns(const std::string& ns, Fn&& fn) {
  decltype(fn()) result{};
  std::string error;
  std::thread t([&] {
    const int fd = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      error = std::string("cannot enter netns ") + ns + ": " + std::strerror(errno);
      if (fd >= 0) ::close(fd);
      return;
    }
    ::close(fd);
    result = fn();
  });
  t.join();
  EXPECT_EQ(error, "");
  return result;
}

class MultiQueueGuest : public ::testing::Test {
 protected:
  void SetUp() override {
    ns_ = "nfmq" + std::to_string(::getpid());
    const std::string setup = "ip netns add " + ns_ + " && ip netns exec " + ns_ + " sh -c '" +
                              "ip link set lo up && ip tuntap add dev nftap0 mode tap multi_queue && "
                              "ip addr add 10.0.2.2/24 dev nftap0 && ip link set nftap0 up'";
    ASSERT_EQ(std::system(setup.c_str()), 0) << setup;
  }
  void TearDown() override { (void)std::system(("ip netns del " + ns_ + " 2>/dev/null").c_str()); }
  // A guest whose NIC has `queues` pairs behind the namespace's tap.
  GuestOptions tap_guest(unsigned queues) const {
    GuestOptions g;
    g.kernel = image_dir() + "/vmlinuz";
    g.initramfs = image_dir() + "/initramfs.img";
    g.queues = queues;
    g.tap = "nftap0";
    g.netns = ns_;
    g.append = "netfront.queues=" + std::to_string(queues);
    return g;
  }
  std::string ns_;
};

TEST_F(MultiQueueGuest, EveryQueuePairCarriesFlowsAndAnswersThemOnItself) {
  const GuestOptions g = tap_guest(2);
  auto guest = QemuGuest::boot(g);
  ASSERT_TRUE(guest) << guest.error().to_string();
  QemuGuest& vm = **guest;
  ASSERT_TRUE(vm.wait_for("netfront-echo: up:", 120s)) << "appliance did not come up; console:\n" << vm.console();
  EXPECT_NE(vm.console().find("queues=2"), std::string::npos) << vm.console();

  // Eight flows (each its own source port): the tap spreads flows over its queues by hash.
  constexpr unsigned kFlows = 8, kPerFlow = 150;
  unsigned echoed = 0, sent = 0, retransmits = 0;
  for (unsigned f = 0; f < kFlows; ++f) {
    EchoRunOptions e;
    e.address = 0x0a00020f;  // 10.0.2.15, the guest
    e.port = 7;
    e.count = kPerFlow;
    const EchoRunResult r = in_netns(ns_, [&] { return run_udp_echo(e); });
    EXPECT_EQ(r.error, "");
    EXPECT_TRUE(r.all_echoed()) << "flow " << f << ": echoed " << r.echoed << " of " << r.sent << "; console:\n"
                                << vm.console();
    echoed += r.echoed;
    sent += r.sent;
    retransmits += r.retransmits;
  }
  EXPECT_EQ(echoed, kFlows * kPerFlow);

  vm.send_line("stop");
  ASSERT_TRUE(vm.wait_exit(60s)) << "appliance did not power off; console:\n" << vm.console();
  const std::string console = vm.console();
  EXPECT_NE(console.find("disconnected (clean)"), std::string::npos) << console;
  // Per-queue counters from the guest: both pairs carried datagrams, each answered what it got.
  unsigned long long rx_sum = 0;
  for (unsigned q = 0; q < 2; ++q) {
    const std::regex line("final queue " + std::to_string(q) +
                          R"(: rx (\d+) pkts \d+ bytes, tx (\d+) pkts \d+ bytes, drops rx (\d+) tx (\d+), ring-full \d+, device errors (\d+))");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(console, m, line)) << "no final stats for queue " << q << ":\n" << console;
    const unsigned long long rx = std::stoull(m[1]), tx = std::stoull(m[2]);
    EXPECT_GT(rx, 0u) << "queue " << q << " carried nothing:\n" << console;
    EXPECT_LE(tx, rx) << console;  // replies leave on the pair their request came in on
    EXPECT_EQ(std::stoull(m[3]) + std::stoull(m[4]) + std::stoull(m[5]), 0u) << console;
    rx_sum += rx;
  }
  EXPECT_GE(rx_sum, static_cast<unsigned long long>(sent + retransmits));
}

// --- RSS with QEMU's own virtio-net (rss=on,hash=on: its software RSS, over the tap's four
// queues): netfront's default (its key, its table) reaches the device, which steers each flow
// to the pair the table gives the Toeplitz hash of the flow's addresses and ports and reports
// that hash with every frame. The hash is computed again here from what the host sent and the
// key the appliance says it set; a table the application sets then moves every flow.

struct LoggedHash {
  unsigned queue;
  std::uint16_t port;
  std::uint32_t value;
  std::string type;
};

// The appliance's "hash: ..." lines from `from` on.
std::vector<LoggedHash> logged_hashes(const std::string& console, std::size_t from) {
  static const std::regex line(R"(hash: queue (\d+) port (\d+) value 0x([0-9a-f]+) type (\S+)\r?\n)");  // whole lines only
  std::vector<LoggedHash> out;
  const std::string tail = console.substr(std::min(from, console.size()));
  for (auto it = std::sregex_iterator(tail.begin(), tail.end(), line); it != std::sregex_iterator(); ++it)
    out.push_back({static_cast<unsigned>(std::stoul((*it)[1])), static_cast<std::uint16_t>(std::stoul((*it)[2])),
                   static_cast<std::uint32_t>(std::stoul((*it)[3], nullptr, 16)), (*it)[4]});
  return out;
}

// The key and table of the appliance's "rss: ..." answer.
bool parse_rss(const std::string& console, std::vector<std::uint8_t>& key, std::vector<unsigned>& table) {
  static const std::regex line(R"(rss: steering, hash report, types \S+, key ([0-9a-f]+), table ([0-9,]+) )");
  std::smatch m;
  if (!std::regex_search(console, m, line)) return false;
  const std::string hex = m[1];
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) key.push_back(static_cast<std::uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  std::stringstream entries(m[2]);
  for (std::string e; std::getline(entries, e, ',');) table.push_back(static_cast<unsigned>(std::stoul(e)));
  return !key.empty() && !table.empty();
}

TEST_F(MultiQueueGuest, RssSteersEachFlowWhereNetfrontsTableSaysAndQemuReportsItsHash) {
  GuestOptions g = tap_guest(4);
  g.nic_options = ",rss=on,hash=on";
  g.append += " netfront.options=hash_report";
  auto guest = QemuGuest::boot(g);
  ASSERT_TRUE(guest) << guest.error().to_string();
  QemuGuest& vm = **guest;
  ASSERT_TRUE(vm.wait_for("netfront-echo: up:", 120s)) << "appliance did not come up; console:\n" << vm.console();
  vm.send_line("rss");
  ASSERT_TRUE(vm.wait_for("rss: ", 30s)) << vm.console();
  ASSERT_TRUE(vm.wait_for("(unclassified 0)", 30s)) << "RSS was not taken; console:\n" << vm.console();
  std::vector<std::uint8_t> key;
  std::vector<unsigned> table;
  ASSERT_TRUE(parse_rss(vm.console(), key, table)) << vm.console();
  ASSERT_TRUE(table.size() == 128) << vm.console();

  // Sixteen flows (each its own source port) from the host's side of the tap, and the hash and
  // queue of every datagram the guest received for them.
  // (One hash-log for all: a line typed while the guest prints would mix into its output.)
  vm.send_line("hash-log 1000");
  ASSERT_TRUE(vm.wait_for("hash-log 1000: ok", 30s)) << vm.console();
  auto flows = [&](unsigned n) {
    const std::size_t mark = vm.console().size();
    for (unsigned f = 0; f < n; ++f) {
      EchoRunOptions e;
      e.address = 0x0a00020f;  // 10.0.2.15, the guest
      e.port = 7;
      e.count = 2;
      const EchoRunResult r = in_netns(ns_, [&] { return run_udp_echo(e); });
      EXPECT_TRUE(r.all_echoed()) << "flow " << f << ": " << r.error << "; console:\n" << vm.console();
    }
    // The echo leaves before its hash line reaches the serial console: the last lines may
    // still be on their way.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (logged_hashes(vm.console(), mark).size() < 2 * n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    return logged_hashes(vm.console(), mark);
  };
  auto expected_hash = [&](std::uint16_t port) {
    const std::uint8_t input[12] = {10, 0, 2, 2, 10, 0, 2, 15, static_cast<std::uint8_t>(port >> 8),
                                    static_cast<std::uint8_t>(port), 0, 7};
    return netfront::toeplitz_hash(key, input);
  };
  const auto seen = flows(16);
  ASSERT_GE(seen.size(), 32u) << vm.console();
  std::set<unsigned> queues;
  for (const LoggedHash& h : seen) {
    EXPECT_EQ(h.type, "udpv4") << "port " << h.port;
    EXPECT_EQ(h.value, expected_hash(h.port)) << "port " << h.port << ": QEMU's hash is not the Toeplitz hash of netfront's key";
    EXPECT_EQ(h.queue, table[h.value % table.size()]) << "port " << h.port;
    queues.insert(h.queue);
  }
  EXPECT_GE(queues.size(), 2u) << "16 flows on one of 4 pairs; console:\n" << vm.console();

  // Every flow to pair 3.
  vm.send_line("rss table 3");
  ASSERT_TRUE(vm.wait_for("rss table 3: ok", 30s)) << vm.console();
  const auto moved = flows(8);
  ASSERT_GE(moved.size(), 16u) << vm.console();
  for (const LoggedHash& h : moved) {
    EXPECT_EQ(h.type, "udpv4") << "port " << h.port;
    EXPECT_EQ(h.queue, 3u) << "port " << h.port;
    EXPECT_EQ(h.value, expected_hash(h.port)) << "port " << h.port;
  }

  vm.send_line("stop");
  ASSERT_TRUE(vm.wait_exit(60s)) << "appliance did not power off; console:\n" << vm.console();
  EXPECT_NE(vm.console().find("disconnected (clean)"), std::string::npos) << vm.console();
  for (unsigned q = 0; q < 4; ++q) {
    const std::regex line("final queue " + std::to_string(q) + R"(: .*device errors (\d+))");
    std::smatch m;
    const std::string console = vm.console();
    ASSERT_TRUE(std::regex_search(console, m, line)) << console;
    EXPECT_EQ(m[1], "0") << "queue " << q;
  }
}

// --- TSO with QEMU's own virtio-net and the host kernel behind it: netfront hands the device
// one 60000-byte TCP super-frame; QEMU passes it with its header to the tap, and the kernel
// forwards it to a second namespace over a veth whose segmentation and checksum offloads are
// off, so that it cuts the segments itself and completes every checksum from what netfront's
// header said (where the checksum goes, the pseudo-header's sum). What arrives there is read
// off the wire and checked: every segment of the asked size, every byte in its place, every
// IP and TCP checksum right.

// The Internet checksum's folded sum of `n` bytes at `p`, added to `s` (RFC 1071).
std::uint16_t ones_complement_sum(const std::uint8_t* p, std::size_t n, std::uint32_t s = 0) {
  namespace side = netfront::virtio::device_side;
  return side::fold(side::ones_sum(std::as_bytes(std::span(p, n)), s));
}

std::string shell_output(const std::string& command) {
  std::string out;
  if (FILE* f = ::popen(command.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, f)) out += buf;
    ::pclose(f);
  }
  return out;
}

TEST_F(MultiQueueGuest, TsoSuperFramesLeaveTheHostAsSegmentsOfTheAskedSizeWithEveryChecksumRight) {
  const std::string peer = ns_ + "b";
  struct PeerNamespace {
    std::string name;
    ~PeerNamespace() { (void)std::system(("ip netns del " + name + " 2>/dev/null").c_str()); }
  } cleanup{peer};
  const std::string setup = "ip netns add " + peer + " && ip link add nfv0 netns " + ns_ + " type veth peer name nfv1 netns " +
                            peer + " && ip -n " + ns_ + " addr add 10.0.3.1/24 dev nfv0 && ip -n " + ns_ +
                            " link set nfv0 up && ip netns exec " + ns_ + " ethtool -K nfv0 tso off gso off tx off >/dev/null" +
                            " && ip netns exec " + ns_ + " sysctl -qw net.ipv4.ip_forward=1 && ip -n " + peer +
                            " addr add 10.0.3.2/24 dev nfv1 && ip -n " + peer + " link set nfv1 up && ip netns exec " + peer +
                            " ethtool -K nfv1 gro off >/dev/null";
  ASSERT_EQ(std::system(setup.c_str()), 0) << setup;
  GuestOptions g = tap_guest(2);  // (the namespace's tap is a multi_queue one, which takes one queue alone)
  g.append += " netfront.options=offloads=csum+tso4";
  auto guest = QemuGuest::boot(g);
  ASSERT_TRUE(guest) << guest.error().to_string();
  QemuGuest& vm = **guest;
  ASSERT_TRUE(vm.wait_for("netfront-echo: up:", 120s)) << "appliance did not come up; console:\n" << vm.console();
  std::smatch m;
  const std::string link = shell_output("ip -n " + ns_ + " -o link show nftap0");
  ASSERT_TRUE(std::regex_search(link, m, std::regex("link/ether ([0-9a-f:]{17})"))) << link;
  const std::string tap_mac = m[1];
  (void)std::system(("ip netns exec " + ns_ + " ping -c 1 -W 2 10.0.3.2 >/dev/null 2>&1").c_str());  // the neighbour known

  // What reaches the second namespace, read with a packet socket there.
  const int fd = in_netns(peer, [] {
    const int s = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
    if (s < 0) return s;
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(ETH_P_IP);
    a.sll_ifindex = static_cast<int>(::if_nametoindex("nfv1"));
    const int big = 4 << 20;
    (void)::setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    const timeval t{.tv_sec = 1, .tv_usec = 0};
    (void)::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t);
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(s);
      return -1;
    }
    return s;
  });
  ASSERT_GE(fd, 0) << std::strerror(errno);
  constexpr unsigned kBytes = 60000, kMss = 1448;
  vm.send_line("tso-send " + tap_mac + " 10.0.3.2 5001 " + std::to_string(kBytes) + " " + std::to_string(kMss));
  ASSERT_TRUE(vm.wait_for(" 1448: ok", 30s)) << vm.console();

  std::vector<bool> seen(kBytes);
  unsigned segments = 0, bytes = 0, short_ones = 0, bad_ip = 0, bad_tcp = 0, misplaced = 0;
  std::uint8_t p[70000];
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (bytes < kBytes && std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = ::recv(fd, p, sizeof p, 0);
    if (n < 40) continue;
    const std::size_t ihl = 4u * (p[0] & 0xf);
    const std::uint8_t src[4] = {10, 0, 2, 15};
    if (p[9] != 6 || std::memcmp(p + 12, src, 4) != 0 || static_cast<std::size_t>(n) < ihl + 20) continue;
    if ((p[ihl + 2] << 8 | p[ihl + 3]) != 5001) continue;
    ++segments;
    const std::size_t total = static_cast<std::size_t>(p[2] << 8 | p[3]);
    if (total != static_cast<std::size_t>(n) || ones_complement_sum(p, ihl) != 0xffff) ++bad_ip;
    const std::size_t tcp_length = total - ihl;
    const std::uint32_t pseudo = ones_complement_sum(p + 12, 8) + 6u + static_cast<std::uint32_t>(tcp_length);
    if (ones_complement_sum(p + ihl, tcp_length, pseudo) != 0xffff) ++bad_tcp;
    const std::size_t data = ihl + 4u * (p[ihl + 12] >> 4);
    const std::size_t payload = total - data;
    const std::uint32_t seq = static_cast<std::uint32_t>(p[ihl + 4]) << 24 | p[ihl + 5] << 16 | p[ihl + 6] << 8 | p[ihl + 7];
    const std::uint32_t offset = seq - 1;
    if (payload != kMss && offset + payload != kBytes) ++short_ones;
    for (std::size_t i = 0; i < payload; ++i) {
      if (offset + i >= kBytes || p[data + i] != (offset + i) % 251) {
        ++misplaced;
        break;
      }
      if (!seen[offset + i]) ++bytes;
      seen[offset + i] = true;
    }
  }
  ::close(fd);
  EXPECT_EQ(bytes, kBytes) << segments << " segments arrived";
  EXPECT_EQ(segments, (kBytes + kMss - 1) / kMss);
  EXPECT_EQ(short_ones, 0u) << "segments other than the last not of the asked size";
  EXPECT_EQ(bad_ip, 0u);
  EXPECT_EQ(bad_tcp, 0u) << "TCP checksums wrong: the device or the kernel completed them from a wrong place or sum";
  EXPECT_EQ(misplaced, 0u);

  vm.send_line("stop");
  ASSERT_TRUE(vm.wait_exit(60s)) << "appliance did not power off; console:\n" << vm.console();
  EXPECT_NE(vm.console().find("disconnected (clean)"), std::string::npos) << vm.console();
}

// The HTTP appliance (netfront-httpd on lwIP) with real clients through QEMU's user
// networking: curl downloads 100 MiB and every byte is checked, curl's upload comes back
// whole, ab keeps 100 connections alive, garbage is refused, and the guest powers off with
// no received frame left in lwIP's hands.
std::string shell(const std::string& command) {
  std::string out;
  std::FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  char chunk[65536];
  for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, p)) > 0;) out.append(chunk, n);
  ::pclose(p);
  return out;
}

TEST(ApplianceHttpd, RealClientsAreServedThroughQemusUserNetworking) {
  GuestOptions g;
  g.kernel = image_dir() + "/vmlinuz";
  g.initramfs = image_dir() + "/httpd-initramfs.img";
  g.forward = "tcp";
  g.guest_port = 80;
  g.host_port = free_tcp_port();
  auto guest = QemuGuest::boot(g);
  ASSERT_TRUE(guest) << guest.error().to_string();
  QemuGuest& vm = **guest;
  ASSERT_TRUE(vm.wait_for("netfront-httpd: up:", 120s)) << "appliance did not come up; console:\n" << vm.console();
  const std::string url = "http://127.0.0.1:" + std::to_string(g.host_port);
  // For a failure to show: what the guest said besides its per-second counters (a driver
  // warning among it), then the last of those counters.
  const auto server_said = [&vm] {
    const std::string c = vm.console();
    std::string notable;
    std::istringstream lines(c);
    for (std::string l; std::getline(lines, l);)
      if (l.find("netfront-httpd: stats ") == std::string::npos) notable += l + '\n';
    if (notable.size() > 8000) notable.erase(0, notable.size() - 8000);
    return "\nthe guest said:\n" + notable + "\nthe guest's console, its end:\n" + c.substr(c.size() > 2000 ? c.size() - 2000 : 0);
  };
  auto took = [start = std::chrono::steady_clock::now()]() mutable {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - start).count();
    start = now;
    return s;
  };

  std::FILE* download = ::popen(("curl -sS --fail -m 300 " + url + "/bytes/104857600").c_str(), "r");
  ASSERT_NE(download, nullptr);
  std::uint64_t got = 0, wrong = 0;
  std::vector<unsigned char> chunk(1 << 20);
  for (std::size_t n; (n = std::fread(chunk.data(), 1, chunk.size(), download)) > 0;)
    for (std::size_t i = 0; i < n; ++i) wrong += chunk[i] != (got++ % 251);
  EXPECT_EQ(::pclose(download), 0) << server_said();
  EXPECT_EQ(got, 104857600u);
  EXPECT_EQ(wrong, 0u);
  std::cerr << "100 MiB download: " << took() << " s\n";

  const std::string dir = shell("mktemp -d | tr -d '\\n'");
  ASSERT_FALSE(dir.empty());
  shell("head -c 8000000 /dev/urandom > " + dir + "/up && curl -sS --fail -m 120 --data-binary @" + dir + "/up -o " + dir + "/down " +
        url + "/echo");
  EXPECT_EQ(shell("cmp " + dir + "/up " + dir + "/down && echo same"), "same\n") << server_said();
  shell("rm -rf " + dir);
  std::cerr << "8 MB echo: " << took() << " s\n";

  const std::string ab = shell("ab -q -n 3000 -c 100 -k -s 120 " + url + "/bytes/512 2>&1");
  EXPECT_NE(ab.find("Complete requests:      3000"), std::string::npos) << ab << server_said();
  EXPECT_NE(ab.find("Failed requests:        0"), std::string::npos) << ab;
  EXPECT_NE(ab.find("Keep-Alive requests:    3000"), std::string::npos) << ab;
  std::cerr << "3000 requests on 100 connections: " << took() << " s\n";
  EXPECT_NE(shell("printf 'BREW /pot HTCPCP/1.0\\r\\n\\r\\n' | curl -sS -m 10 telnet://127.0.0.1:" + std::to_string(g.host_port) +
                  " 2>/dev/null").find("HTTP/1.1 400 Bad Request"),
            std::string::npos);
  EXPECT_NE(shell("curl -sS -m 10 " + url + "/").find("connections open 1"), std::string::npos) << "connections left open";

  vm.send_line("stop");
  ASSERT_TRUE(vm.wait_exit(60s)) << "appliance did not power off; console:\n" << vm.console();
  // Not asserted: how often the device needed reminding of a doorbell (tx_renotified).
  static const std::regex reminded(R"(final .* stalls (\d+) renotified (\d+))");
  std::smatch m;
  const std::string console = vm.console();
  if (std::regex_search(console, m, reminded)) std::cerr << "transmit stalls " << m[1] << ", doorbells rung again " << m[2] << "\n";
  EXPECT_NE(vm.console().find("after close: pbufs held 0"), std::string::npos) << vm.console();
  EXPECT_NE(vm.console().find("disconnected (clean)"), std::string::npos) << vm.console();
}

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

namespace {

// --- the control queue and the configuration space with QEMU's own virtio-net: what the
// appliance sets through netfront is what QEMU says its device was told (QMP query-rx-filter),
// and what a hypervisor does to the NIC (QMP set_link, announce-self) reaches the application
// as link events.

// Whether QMP's `json` has "key": value (value as JSON spells it).
bool has_field(const std::string& json, const std::string& key, const std::string& value) {
  return std::regex_search(json, std::regex("\"" + key + "\":\\s*" + value));
}

TEST(ApplianceControl, FiltersLinkEventsAndAnnouncementsReachQemusDevice) {
  char dir[] = "/tmp/netfront-qmp-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  GuestOptions g;
  g.kernel = image_dir() + "/vmlinuz";
  g.initramfs = image_dir() + "/initramfs.img";
  g.host_port = free_udp_port();
  g.qmp = std::string(dir) + "/qmp.sock";
  g.append = "netfront.options=vlan_filter";
  auto guest = QemuGuest::boot(g);
  ASSERT_TRUE(guest) << guest.error().to_string();
  QemuGuest& vm = **guest;
  struct Cleanup {
    std::string dir, socket;
    ~Cleanup() {
      ::unlink(socket.c_str());
      ::rmdir(dir.c_str());
    }
  } cleanup{dir, g.qmp};
  ASSERT_TRUE(vm.wait_for("netfront-echo: up:", 120s)) << "appliance did not come up; console:\n" << vm.console();
  auto rx_filter = [&] {
    auto r = vm.qmp(R"({"execute": "query-rx-filter", "arguments": {"name": "nic0"}})");
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? *r : std::string();
  };
  EXPECT_TRUE(has_field(rx_filter(), "promiscuous", "true")) << "QEMU's device starts promiscuous";

  // Before any traffic, so that QEMU's user networking learns the new MAC from the guest's ARP.
  for (const std::string command : {"rx-mode promiscuous off", "mac 52:54:00:12:34:99",
                                    "mac-table 02:00:00:00:00:02 01:00:5e:00:00:fb", "vlan add 100"}) {
    vm.send_line(command);
    ASSERT_TRUE(vm.wait_for(command + ": ok", 30s)) << command << "; console:\n" << vm.console();
  }
  const std::string told = rx_filter();
  EXPECT_TRUE(has_field(told, "promiscuous", "false")) << told;
  EXPECT_TRUE(has_field(told, "main-mac", "\"52:54:00:12:34:99\"")) << told;
  EXPECT_TRUE(has_field(told, "unicast-table", R"(\[\s*"02:00:00:00:00:02"\s*\])")) << told;
  EXPECT_TRUE(has_field(told, "multicast-table", R"(\[\s*"01:00:5e:00:00:fb"\s*\])")) << told;
  EXPECT_TRUE(has_field(told, "vlan-table", R"(\[\s*100\s*\])")) << told;

  // Not promiscuous any more, the device still hands the guest what is sent to its new MAC.
  EchoRunOptions e;
  e.port = g.host_port;
  e.count = 100;
  const EchoRunResult r = run_udp_echo(e);
  EXPECT_TRUE(r.all_echoed()) << "echoed " << r.echoed << " of " << r.sent << " (" << r.error << "); console:\n" << vm.console();

  auto link = [&](bool up) {
    auto set = vm.qmp(std::string(R"({"execute": "set_link", "arguments": {"name": "nic0", "up": )") + (up ? "true" : "false") + "}}");
    ASSERT_TRUE(set) << set.error().to_string();
  };
  link(false);
  EXPECT_TRUE(vm.wait_for("link: down", 30s)) << vm.console();
  link(true);
  EXPECT_TRUE(vm.wait_for("link: up", 30s)) << vm.console();
  auto announce = vm.qmp(R"({"execute": "announce-self", "arguments": {"initial": 50, "max": 550, "rounds": 1, "step": 50}})");
  ASSERT_TRUE(announce) << announce.error().to_string();
  EXPECT_TRUE(vm.wait_for("1 announcement(s)", 30s)) << vm.console();
  EXPECT_NE(vm.console().find("announced 52:54:00:12:34:99"), std::string::npos)
      << "the RARP says the MAC the device has now; console:\n" << vm.console();

  vm.send_line("stop");
  ASSERT_TRUE(vm.wait_exit(60s)) << "appliance did not power off; console:\n" << vm.console();
  EXPECT_NE(vm.console().find("disconnected (clean)"), std::string::npos) << vm.console();
}

}  // namespace
