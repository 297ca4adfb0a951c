// lwIP on a Netif (netfront/lwip.hpp) over the loop: device, which sends every frame back:
// what lwIP transmits it receives again, so both paths are checked at once. Frames are IPv4
// broadcasts of an experimental protocol (253, RFC 3692) to a raw pcb: no ARP is needed.
#include <lwip/ip4_addr.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/raw.h>
#include <lwip/udp.h>

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <vector>

#include "loop_harness.hpp"
#include "netfront/lwip.hpp"
#include "test/support/l4_packet.hpp"

namespace netfront {
namespace {

using testing::LoopRig;

constexpr u8_t kExperimentalProtocol = 253;
constexpr std::size_t kIpHeader = 20;

class LwipNetifTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(rig_.open("loop:"));
    auto stack = LwipStack::start(rig_.loop);
    ASSERT_TRUE(stack) << stack.error().to_string();
    stack_ = std::move(*stack);
    auto nif = stack_->attach(*rig_.netif, *Ipv4Addressing::parse("10.0.0.2/24"));
    ASSERT_TRUE(nif) << nif.error().to_string();
    nif_ = std::move(*nif);
    run_.emplace(nif_->run());
    raw_ = raw_new(kExperimentalProtocol);
    ASSERT_NE(raw_, nullptr);
    raw_recv(raw_, on_raw, this);
  }
  void TearDown() override {
    if (raw_) raw_remove(raw_);
    for (pbuf* p : kept_) pbuf_free(p);
    kept_.clear();
    nif_.reset();
    if (rig_.netif) rig_.loop.run_until(rig_.netif->disconnect());
    if (run_) {
      for (unsigned i = 0; i < 1000 && !run_->ready(); ++i) rig_.loop.run_once();  // run's turn after the listen's end
      ASSERT_TRUE(run_->ready());
      EXPECT_TRUE(run_->get());
    }
    stack_.reset();
    EXPECT_EQ(LwipStack::pbufs_held(), 0u) << "lwIP kept received frames";
    if (rig_.netif) {
      EXPECT_EQ(rig_.rx_pool_in_use(), 0u) << "receive buffers leaked";
    }
  }

  // The raw pcb keeps what it receives (returning 1: the pbuf is the test's).
  static u8_t on_raw(void* arg, raw_pcb*, pbuf* p, const ip_addr_t*) {
    static_cast<LwipNetifTest*>(arg)->kept_.push_back(p);
    return 1;
  }
  void send_broadcast(pbuf* payload) {
    ip_addr_t to;
    IP_ADDR4(&to, 10, 0, 0, 255);
    EXPECT_EQ(raw_sendto(raw_, payload, &to), ERR_OK);
    pbuf_free(payload);  // raw_sendto leaves the caller's reference
  }
  void run_until_kept(std::size_t n) {
    for (unsigned i = 0; i < 200000 && kept_.size() < n; ++i) rig_.loop.run_once();
    ASSERT_EQ(kept_.size(), n);
  }
  static std::vector<std::uint8_t> payload_of(const pbuf* p) {
    std::vector<std::uint8_t> bytes(p->tot_len - kIpHeader);
    pbuf_copy_partial(p, bytes.data(), static_cast<u16_t>(bytes.size()), kIpHeader);
    return bytes;
  }
  static std::vector<std::uint8_t> pattern(std::size_t n, unsigned seed) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 13);
    return v;
  }

  LoopRig rig_;
  std::unique_ptr<LwipStack> stack_;
  std::unique_ptr<LwipNetif> nif_;
  std::optional<io<Result<>>> run_;
  raw_pcb* raw_ = nullptr;
  std::vector<pbuf*> kept_;
};

TEST_F(LwipNetifTest, TakesTheDevicesMacMtuAndLink) {
  const ::netif* n = nif_->netif();
  EXPECT_EQ(n->hwaddr_len, 6);
  EXPECT_EQ(std::memcmp(n->hwaddr, rig_.netif->mac().bytes.data(), 6), 0);
  EXPECT_EQ(n->mtu, rig_.netif->mtu());
  EXPECT_TRUE(netif_is_up(n));
  EXPECT_TRUE(netif_is_link_up(n));
  EXPECT_EQ(ip4_addr_get_u32(netif_ip4_addr(n)), PP_HTONL(LWIP_MAKEU32(10, 0, 0, 2)));
  EXPECT_EQ(ip4_addr_get_u32(netif_ip4_netmask(n)), PP_HTONL(LWIP_MAKEU32(255, 255, 255, 0)));
  EXPECT_TRUE(ip6_addr_islinklocal(netif_ip6_addr(n, 0))) << "no IPv6 link-local address";
}

TEST_F(LwipNetifTest, ReceivedFramesReachLwipAsTheDevicesOwnBuffers) {
  const std::vector<std::uint8_t> bytes = pattern(1000, 1);
  pbuf* p = pbuf_alloc(PBUF_IP, static_cast<u16_t>(bytes.size()), PBUF_RAM);
  ASSERT_NE(p, nullptr);
  std::memcpy(p->payload, bytes.data(), bytes.size());
  send_broadcast(p);
  run_until_kept(1);
  const pbuf* got = kept_[0];
  // The frame the device wrote, not a copy of it: a custom pbuf over the mbuf, counted as held.
  EXPECT_TRUE(got->flags & PBUF_FLAG_IS_CUSTOM);
  EXPECT_EQ(got->next, nullptr);
  EXPECT_EQ(payload_of(got), bytes);
  EXPECT_EQ(LwipStack::pbufs_held(), 1u);
  EXPECT_GT(rig_.rx_pool_in_use(), 0u);
  pbuf_free(kept_[0]);
  kept_.clear();
  EXPECT_EQ(LwipStack::pbufs_held(), 0u) << "freeing the pbuf gives the mbuf back";
  EXPECT_GE(nif_->counters().rx_frames, 1u);
}

TEST_F(LwipNetifTest, LwipsOwnBytesAreCopiedOnceIntoTheDevicesBuffer) {
  const std::vector<std::uint8_t> bytes = pattern(1400, 2);
  pbuf* p = pbuf_alloc(PBUF_IP, static_cast<u16_t>(bytes.size()), PBUF_RAM);
  std::memcpy(p->payload, bytes.data(), bytes.size());
  const LwipCounters before = nif_->counters();
  send_broadcast(p);
  EXPECT_EQ(nif_->counters().tx_frames - before.tx_frames, 1u);
  EXPECT_EQ(nif_->counters().tx_copied_bytes - before.tx_copied_bytes, 14 + kIpHeader + bytes.size());
  EXPECT_EQ(nif_->counters().tx_zero_copy_bytes, before.tx_zero_copy_bytes);
  run_until_kept(1);
  EXPECT_EQ(payload_of(kept_[0]), bytes);
}

TEST_F(LwipNetifTest, PayloadsInDeviceMemoryAreSentWithoutACopy) {
  const std::vector<std::uint8_t> bytes = pattern(1200, 3);
  auto payload = Buffer::create(rig_.pool->get(), bytes.size());
  ASSERT_TRUE(payload);
  payload->copy_in(0, std::as_bytes(std::span(bytes)));
  pbuf* p = buffer_pbuf(std::move(*payload));
  ASSERT_NE(p, nullptr);
  const LwipCounters before = nif_->counters();
  send_broadcast(p);
  // Only the headers lwIP put in front are copied; the payload goes as the Buffer it is.
  EXPECT_EQ(nif_->counters().tx_zero_copy_bytes - before.tx_zero_copy_bytes, bytes.size());
  EXPECT_EQ(nif_->counters().tx_copied_bytes - before.tx_copied_bytes, 14 + kIpHeader);
  run_until_kept(1);
  EXPECT_EQ(payload_of(kept_[0]), bytes);
}

TEST_F(LwipNetifTest, BufferPbufRefusesWhatAPbufCannotHold) {
  EXPECT_EQ(buffer_pbuf(Buffer{}), nullptr);
  auto big = Buffer::create(rig_.pool->get(), 100);
  ASSERT_TRUE(big);
  pbuf* p = buffer_pbuf(*big);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->tot_len, 100);
  EXPECT_EQ(LwipStack::pbufs_held(), 1u);
  pbuf_free(p);
  EXPECT_EQ(LwipStack::pbufs_held(), 0u);
}

TEST_F(LwipNetifTest, TheDevicesLinkEventsReachLwip) {
  auto run_until = [&](bool up) {
    for (unsigned i = 0; i < 200000 && netif_is_link_up(nif_->netif()) != up; ++i) rig_.loop.run_once();
    return netif_is_link_up(nif_->netif()) == up;
  };
  rig_.device->set_link(false);
  EXPECT_TRUE(run_until(false)) << "lwIP still thinks the link is up";
  rig_.device->set_link(true);
  EXPECT_TRUE(run_until(true)) << "lwIP still thinks the link is down";
  EXPECT_EQ(nif_->counters().link_changes, 2u);
}

TEST_F(LwipNetifTest, ASecondRunIsRefused) {
  auto second = nif_->run();
  ASSERT_TRUE(second.ready());
  Result<> r = second.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().cause(), Error::Cause::BadArgument);
}

TEST_F(LwipNetifTest, FramesSentOnceTheDeviceIsGoneAreCountedErrors) {
  rig_.loop.run_until(rig_.netif->disconnect());
  pbuf* p = pbuf_alloc(PBUF_IP, 100, PBUF_RAM);
  std::memset(p->payload, 0, 100);
  const std::uint64_t before = nif_->counters().tx_errors;
  send_broadcast(p);
  EXPECT_EQ(nif_->counters().tx_errors, before + 1);
}

// A peer decides how much lwIP keeps of what it receives (TCP's unread and out-of-order
// segments, a byte each if it likes), and this raw pcb keeps every frame: more frames than the
// device's pool has buffers. Kept frames must leave the device buffers to receive into (and to
// send from: the fill-style writes take theirs from the same pool).
TEST_F(LwipNetifTest, FramesLwipKeepsLeaveTheDeviceBuffersToReceiveAndSend) {
  const unsigned pool = rig_.driver->rx_pool()->size;
  const std::size_t count = pool + pool / 4;
  const std::vector<std::uint8_t> bytes = pattern(16, 5);
  for (std::size_t sent = 0; sent < count;) {
    for (std::size_t i = 0; i < 64 && sent < count; ++i, ++sent) {
      pbuf* p = pbuf_alloc(PBUF_IP, static_cast<u16_t>(bytes.size()), PBUF_RAM);
      ASSERT_NE(p, nullptr);
      std::memcpy(p->payload, bytes.data(), bytes.size());
      send_broadcast(p);
    }
    run_until_kept(sent);
    if (HasFatalFailure()) return;
  }
  EXPECT_LE(LwipStack::pbufs_held(), pool / 2) << "lwIP holds the device's buffers";
  EXPECT_GT(nif_->counters().rx_copied, 0u);
  EXPECT_EQ(nif_->counters().rx_dropped, 0u);
  EXPECT_EQ(nif_->counters().tx_errors, 0u);
  EXPECT_EQ(payload_of(kept_.front()), bytes);
  EXPECT_EQ(payload_of(kept_.back()), bytes);
}

// Fragments wait in lwIP's reassembly (15 s for IPv4, 60 s for IPv6), and the netif's removal
// does not end the wait: a device buffer under one would be held past the device's end.
TEST_F(LwipNetifTest, FragmentsAwaitingReassemblyHoldNoDeviceBuffer) {
  const ::netif* n = nif_->netif();
  auto frame = [&](std::initializer_list<std::uint8_t> dst, std::uint16_t type, std::vector<std::uint8_t> packet) {
    std::vector<std::byte> f(14);
    std::size_t at = 0;
    for (std::uint8_t b : dst) f[at++] = std::byte{b};
    for (std::uint8_t b : {0x02, 0x00, 0x00, 0x00, 0x00, 0x09}) f[at++] = std::byte{b};
    f[12] = std::byte{static_cast<std::uint8_t>(type >> 8)};
    f[13] = std::byte{static_cast<std::uint8_t>(type)};
    for (std::uint8_t b : packet) f.push_back(std::byte{b});
    return f;
  };
  // The first fragment (MF) of an IPv4 datagram to us, 8 bytes of it.
  std::vector<std::uint8_t> ip4 = {0x45, 0, 0, 28, 0x12, 0x34, 0x20, 0x00, 64, kExperimentalProtocol, 0, 0,
                                   10, 0, 0, 9, 10, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < 20; i += 2) sum += ip4[i] << 8 | ip4[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip4[10] = static_cast<std::uint8_t>(~sum >> 8);
  ip4[11] = static_cast<std::uint8_t>(~sum);
  // The first fragment of an IPv6 packet to all nodes, behind a hop-by-hop header (PadN).
  std::vector<std::uint8_t> ip6 = {0x60, 0, 0, 0, 0, 24, 0, 64};
  for (std::uint8_t b : {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}) ip6.push_back(b);
  for (std::uint8_t b : {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) ip6.push_back(b);
  for (std::uint8_t b : {44, 0, 1, 4, 0, 0, 0, 0}) ip6.push_back(b);                 // hop-by-hop, PadN
  for (std::uint8_t b : {59, 0, 0, 1, 0, 0, 0x56, 0x78}) ip6.push_back(b);          // fragment 0, M
  for (std::uint8_t b : {1, 2, 3, 4, 5, 6, 7, 8}) ip6.push_back(b);
  const std::uint64_t before = nif_->counters().rx_frames;
  const auto mac = n->hwaddr;
  ASSERT_TRUE(rig_.device->inject(0, frame({mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]}, 0x0800, ip4)));
  ASSERT_TRUE(rig_.device->inject(0, frame({0x33, 0x33, 0, 0, 0, 1}, 0x86DD, ip6)));
  for (unsigned i = 0; i < 200000 && nif_->counters().rx_frames < before + 2; ++i) rig_.loop.run_once();
  ASSERT_EQ(nif_->counters().rx_frames, before + 2);
  EXPECT_EQ(LwipStack::pbufs_held(), 0u) << "a fragment lwIP waits with is a device buffer";
}

// A zero-copy send puts lwIP's headers in a buffer of the LwipNetif's own pool, and the
// device reads them from the transmit ring later. The LwipNetif may go first (here one that
// never ran: nothing else keeps it): the pool must stay until the device is done, or the frame
// leaves with whatever the freed memory holds by then (a new pool's zeroed buffers, here).
TEST_F(LwipNetifTest, HeadersOfAZeroCopySendOutliveTheirLwipNetif) {
  // In the first's subnet: lwIP routes through the netif attached last, and the first, which
  // runs, receives the broadcast back.
  auto second = stack_->attach(*rig_.netif, *Ipv4Addressing::parse("10.0.0.3/24,no-ipv6"));
  ASSERT_TRUE(second) << second.error().to_string();
  const std::vector<std::uint8_t> bytes = pattern(300, 7);
  auto payload = Buffer::create(rig_.pool->get(), bytes.size());
  ASSERT_TRUE(payload);
  payload->copy_in(0, std::as_bytes(std::span(bytes)));
  pbuf* p = buffer_pbuf(std::move(*payload));
  ASSERT_NE(p, nullptr);
  ip_addr_t to;
  IP_ADDR4(&to, 10, 0, 0, 255);
  EXPECT_EQ(raw_sendto(raw_, p, &to), ERR_OK);
  pbuf_free(p);
  EXPECT_EQ((*second)->counters().tx_zero_copy_bytes, bytes.size());
  second->reset();
  auto reused = PacketPool::create({.size = 1023, .cache = 32});  // as the LwipNetif's was
  ASSERT_TRUE(reused);
  run_until_kept(1);
  if (!kept_.empty()) {
    EXPECT_EQ(payload_of(kept_[0]), bytes);
  }
}

TEST_F(LwipNetifTest, OneStackAtATime) {
  auto second = LwipStack::start(rig_.loop);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().cause(), Error::Cause::BadArgument);
}

// A stack with one netif on a loop device of its own, for the tests that set it up their way.
struct OwnStack {
  LoopRig rig;
  std::unique_ptr<LwipStack> stack;
  std::unique_ptr<LwipNetif> nif;

  ::testing::AssertionResult open(const std::string& id) {
    if (!rig.open(id)) return ::testing::AssertionFailure() << "no device " << id;
    auto s = LwipStack::start(rig.loop);
    if (!s) return ::testing::AssertionFailure() << s.error().to_string();
    stack = std::move(*s);
    auto n = stack->attach(*rig.netif, *Ipv4Addressing::parse("10.0.0.2/24"));
    if (!n) return ::testing::AssertionFailure() << n.error().to_string();
    nif = std::move(*n);
    return ::testing::AssertionSuccess();
  }
  // The netif, the device, then `run`'s end and the stack, as the fixture's TearDown.
  void close(io<Result<>>& run) {
    nif.reset();
    rig.loop.run_until(rig.netif->disconnect());
    for (unsigned i = 0; i < 1000 && !run.ready(); ++i) rig.loop.run_once();
    ASSERT_TRUE(run.ready());
    EXPECT_TRUE(run.get());
    stack.reset();
    EXPECT_EQ(LwipStack::pbufs_held(), 0u);
  }
};

// attach() takes the link as it is; a change before run() starts following the device is
// not lost.
TEST(LwipNetifLinkTest, ALinkChangeBetweenAttachAndRunReachesLwip) {
  OwnStack o;
  ASSERT_TRUE(o.open("loop:"));
  EXPECT_TRUE(netif_is_link_up(o.nif->netif()));
  o.rig.device->set_link(false);
  for (unsigned i = 0; i < 200000 && o.rig.netif->link_up(); ++i) o.rig.loop.run_once();
  ASSERT_FALSE(o.rig.netif->link_up());
  io<Result<>> run = o.nif->run();
  for (unsigned i = 0; i < 1000; ++i) o.rig.loop.run_once();
  EXPECT_FALSE(netif_is_link_up(o.nif->netif())) << "lwIP still thinks the link is up";
  EXPECT_EQ(o.nif->counters().link_changes, 1u);
  o.close(run);
}

// With GUEST_CSUM a frame from a local sender may come with its checksum only begun; lwIP
// checks every checksum and would drop it. The adapter finishes it first: the datagram arrives.
TEST(LwipNetifChecksumTest, APartialChecksumFromTheDeviceIsFinishedBeforeLwipChecksIt) {
  OwnStack o;
  ASSERT_TRUE(o.open("loop:offloads=csum+rx_csum"));
  io<Result<>> run = o.nif->run();
  udp_pcb* pcb = udp_new();
  ASSERT_NE(pcb, nullptr);
  ASSERT_EQ(udp_bind(pcb, IP_ANY_TYPE, 5000), ERR_OK);
  std::vector<std::vector<std::uint8_t>> got;
  udp_recv(pcb, [](void* arg, udp_pcb*, pbuf* p, const ip_addr_t*, u16_t) {
    std::vector<std::uint8_t> bytes(p->tot_len);
    pbuf_copy_partial(p, bytes.data(), p->tot_len, 0);
    static_cast<std::vector<std::vector<std::uint8_t>>*>(arg)->push_back(std::move(bytes));
    pbuf_free(p);
  }, &got);
  // The test's UDP datagram (to port 5000), addressed to the netif: destination 10.0.0.2.
  testing::Packet p{.udp = true, .payload = 200};
  std::vector<std::byte> f = p.bytes();
  const std::uint8_t to[4] = {10, 0, 0, 2};
  for (std::size_t i = 0; i < 4; ++i) f[testing::kL3 + 16 + i] = std::byte{to[i]};
  testing::put16(f, testing::kL3 + 10, 0);
  testing::put16(f, testing::kL3 + 10, static_cast<std::uint16_t>(~testing::side::fold(testing::side::ones_sum(std::span(f).subspan(testing::kL3, 20)))));
  testing::put16(f, p.l4() + 2, 5000);
  testing::put16(f, p.l4() + 6, testing::side::fold(p.pseudo_sum(f, f.size() - p.l4())));
  auto b = Buffer::copy_from(o.rig.pool->get(), f);
  ASSERT_TRUE(b);
  Result<> sent = o.rig.loop.run_until(o.rig.netif->write(std::move(*b), p.checksum_only()));
  ASSERT_TRUE(sent) << sent.error().to_string();
  for (unsigned i = 0; i < 100000 && got.empty(); ++i) o.rig.loop.run_once();
  ASSERT_EQ(got.size(), 1u) << "lwIP dropped the datagram whose checksum the device left partial";
  EXPECT_EQ(got[0].size(), 200u);
  for (std::size_t i = 0; i < got[0].size(); ++i) ASSERT_EQ(got[0][i], i % 251) << i;
  udp_remove(pcb);
  o.close(run);
}

TEST(Ipv4AddressingTest, ParsesAddressPrefixGatewayAndOptions) {
  auto a = Ipv4Addressing::parse("192.168.7.20/16,gw=192.168.0.1,no-ipv6");
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_EQ(a->address.to_string(), "192.168.7.20");
  EXPECT_EQ(a->prefix_length, 16u);
  EXPECT_EQ(a->netmask().to_string(), "255.255.0.0");
  EXPECT_EQ(a->gateway.to_string(), "192.168.0.1");
  EXPECT_FALSE(a->ipv6_link_local);
  EXPECT_EQ(a->to_string(), "192.168.7.20/16,gw=192.168.0.1,no-ipv6");
  auto plain = Ipv4Addressing::parse("10.1.2.3");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->prefix_length, 24u);
  EXPECT_TRUE(plain->ipv6_link_local);
  EXPECT_EQ(Ipv4Addressing::parse("10.1.2.3/0")->netmask().to_string(), "0.0.0.0");
  EXPECT_EQ(Ipv4Addressing::parse("10.1.2.3/32")->netmask().to_string(), "255.255.255.255");
}

TEST(Ipv4AddressingTest, RefusesWhatIsNotAnAddressNamingTheFault) {
  for (const char* bad : {"", "10.0.0", "10.0.0.1.5", "10.0.0.256", "10.0.0.-1", "10.0..1", "a.b.c.d", "10.0.0.1 ",
                          "10.0.0.1/33", "10.0.0.1/", "10.0.0.1/x", "10.0.0.1,gw=10.0.1.1", "10.0.0.1,gw=", "10.0.0.1,mtu=9000",
                          "1000.0.0.1", "10.0.0.0001"}) {
    auto a = Ipv4Addressing::parse(bad);
    EXPECT_FALSE(a) << "'" << bad << "' was taken";
    if (!a) {
      EXPECT_EQ(a.error().cause(), Error::Cause::BadArgument) << bad;
    }
  }
}

}  // namespace
}  // namespace netfront
