// Offloads (netfront/offload.hpp) over the loop: device, which offers them as a real device
// does: partial checksums both ways (CSUM, GUEST_CSUM, §5.1.6.2 and §5.1.6.4), segmentation on
// transmit (HOST_TSO4/6, HOST_ECN, HOST_USO), the run-time switch of receive offloads
// (CTRL_GUEST_OFFLOADS, §5.1.6.5.6), and a device that writes any header at all into what it
// hands the driver (C6, C7, C8).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "drivers/virtio/device_side/offload_engine.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "loop_harness.hpp"
#include "netfront/offload.hpp"

namespace netfront {
namespace {

using testing::LoopRig;
namespace net = virtio::net;
namespace side = virtio::device_side;

constexpr std::size_t kL3 = 14;

std::uint16_t be16(std::span<const std::byte> b, std::size_t at) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(b[at]) << 8) | std::to_integer<unsigned>(b[at + 1]));
}
std::uint32_t be32(std::span<const std::byte> b, std::size_t at) { return (std::uint32_t{be16(b, at)} << 16) | be16(b, at + 2); }
void put16(std::vector<std::byte>& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::byte>(v >> 8);
  b[at + 1] = static_cast<std::byte>(v);
}

// A TCP or UDP packet over IPv4 or IPv6 in an Ethernet frame, with the L4 checksum field
// holding the pseudo-header's sum (what a stack leaves for the device to complete).
struct Packet {
  bool ipv6 = false;
  bool udp = false;
  std::size_t payload = 100;
  std::uint8_t tcp_flags = 0x18;  // PSH ACK

  std::size_t l4() const { return kL3 + (ipv6 ? 40 : 20); }
  std::size_t headers() const { return l4() + (udp ? 8 : 20); }
  std::uint16_t check_offset() const { return udp ? 6 : 16; }

  std::vector<std::byte> bytes() const {
    std::vector<std::byte> f(headers() + payload);
    for (std::size_t i = 0; i < 6; ++i) f[i] = std::byte{0xff};
    f[6] = std::byte{0x52};
    put16(f, 12, ipv6 ? 0x86dd : 0x0800);
    const std::uint8_t proto = udp ? 17 : 6;
    const std::size_t l4_len = f.size() - l4();
    if (ipv6) {
      f[kL3] = std::byte{0x60};
      put16(f, kL3 + 4, static_cast<std::uint16_t>(l4_len));
      f[kL3 + 6] = std::byte{proto};
      f[kL3 + 7] = std::byte{64};
      for (std::size_t i = 0; i < 32; ++i) f[kL3 + 8 + i] = static_cast<std::byte>(i + 1);
    } else {
      f[kL3] = std::byte{0x45};
      put16(f, kL3 + 2, static_cast<std::uint16_t>(f.size() - kL3));
      put16(f, kL3 + 4, 0x1234);
      f[kL3 + 8] = std::byte{64};
      f[kL3 + 9] = std::byte{proto};
      for (std::size_t i = 0; i < 8; ++i) f[kL3 + 12 + i] = static_cast<std::byte>(10 + i);
      put16(f, kL3 + 10, static_cast<std::uint16_t>(~side::fold(side::ones_sum(std::span(f).subspan(kL3, 20)))));
    }
    if (udp) {
      put16(f, l4(), 4000);
      put16(f, l4() + 2, 5000);
      put16(f, l4() + 4, static_cast<std::uint16_t>(l4_len));
    } else {
      put16(f, l4(), 4000);
      put16(f, l4() + 2, 80);
      put16(f, l4() + 4, 0x0102);
      put16(f, l4() + 6, 0x0304);  // sequence 0x01020304
      f[l4() + 12] = std::byte{0x50};
      f[l4() + 13] = std::byte{tcp_flags};
      put16(f, l4() + 14, 0xffff);
    }
    for (std::size_t i = 0; i < payload; ++i) f[headers() + i] = static_cast<std::byte>(i % 251);
    put16(f, l4() + check_offset(), side::fold(pseudo_sum(f, l4_len)));
    return f;
  }

  std::uint32_t pseudo_sum(std::span<const std::byte> f, std::size_t l4_len) const {
    std::uint32_t sum = ipv6 ? side::ones_sum(f.subspan(kL3 + 8, 32)) : side::ones_sum(f.subspan(kL3 + 12, 8));
    return sum + (udp ? 17u : 6u) + static_cast<std::uint32_t>(l4_len);
  }
  // Whether the L4 checksum of `f` (a packet of this shape) is right.
  bool checksum_ok(std::span<const std::byte> f) const {
    const std::size_t l4_len = f.size() - l4();
    return side::fold(side::ones_sum(f.subspan(l4()), pseudo_sum(f, l4_len))) == 0xffff;
  }
  TxOffload checksum_only() const {
    return {.checksum = {.requested = true, .start = static_cast<std::uint16_t>(l4()), .offset = check_offset()}};
  }
  TxOffload segmented(std::uint16_t mss) const {
    TxOffload o = checksum_only();
    o.gso = udp ? Gso::Udp : ipv6 ? Gso::Tcp6 : Gso::Tcp4;
    o.segment_size = mss;
    return o;
  }
};

class OffloadTest : public ::testing::TestWithParam<std::string> {
 protected:
  void open(const std::string& options, const std::function<void(virtio::transport::loop::FaultyLoopDevice&)>& before = {}) {
    ASSERT_TRUE(rig_.open("loop:" + GetParam() + options, before));
  }
  void TearDown() override {
    frames_.clear();
    if (!rig_.netif) return;
    rig_.loop.run_until(rig_.netif->disconnect());
    EXPECT_EQ(rig_.rx_pool_in_use(), 0u) << "receive buffers leaked";
  }
  void listen() {
    listening_.emplace(rig_.netif->listen([this](Buffer f) {
      frames_.push_back(std::move(f));
      return make_ready_io();
    }));
  }
  void run_until(std::size_t n) {
    for (unsigned i = 0; i < 2'000'000 && frames_.size() < n; ++i) rig_.loop.run_once();
  }
  // The frame in pool buffers: headers in the first piece, the payload in pieces of 2000.
  std::vector<Buffer> pieces(const std::vector<std::byte>& f, std::size_t first) {
    std::vector<Buffer> out;
    for (std::size_t at = 0; at < f.size();) {
      const std::size_t n = std::min(f.size() - at, at == 0 ? first : std::size_t{2000});
      auto b = Buffer::copy_from(rig_.pool->get(), std::span(f).subspan(at, n));
      EXPECT_TRUE(b);
      out.push_back(std::move(*b));
      at += n;
    }
    return out;
  }
  Result<> send(const std::vector<std::byte>& f, const TxOffload& o, std::size_t first = 1514) {
    const auto p = pieces(f, first);
    return rig_.loop.run_until(rig_.netif->writev(p, o));
  }
  static std::vector<std::byte> bytes_of(const Buffer& b) { return {b.bytes().begin(), b.bytes().end()}; }

  LoopRig rig_;
  std::vector<Buffer> frames_;
  std::optional<io<Result<>>> listening_;
};

TEST_P(OffloadTest, NothingIsNegotiatedUnlessAsked) {
  open("");
  EXPECT_EQ(rig_.netif->offloads(), Offloads{});
  EXPECT_FALSE(virtio::has_feature(rig_.driver->features(), net::VIRTIO_NET_F_CSUM)) << "the device offers it";
  EXPECT_FALSE(virtio::has_feature(rig_.driver->features(), net::VIRTIO_NET_F_GUEST_CSUM));
  Packet p;
  auto sent = send(p.bytes(), p.checksum_only());
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().kind(), Error::Kind::Unknown);
  EXPECT_EQ(sent.error().cause(), Error::Cause::BadArgument);
  auto turn = rig_.loop.run_until(rig_.netif->set_receive_offloads({}));
  EXPECT_EQ(turn.error().kind(), Error::Kind::Unimplemented);
}

TEST_P(OffloadTest, AllAskedAreNegotiatedButReceiveSegmentation) {
  open(",offloads=all");
  EXPECT_EQ(rig_.netif->offloads(), (Offloads{.tx_checksum = true, .tso4 = true, .tso6 = true, .tso_ecn = true, .uso = true,
                                              .rx_checksum = true}));
  const auto f = rig_.driver->features();
  EXPECT_TRUE(virtio::has_feature(f, net::VIRTIO_NET_F_CTRL_GUEST_OFFLOADS));
  EXPECT_FALSE(virtio::has_feature(f, net::VIRTIO_NET_F_GUEST_TSO4)) << "its frames outgrow one mbuf";
  EXPECT_FALSE(virtio::has_feature(f, net::VIRTIO_NET_F_GUEST_USO4));
}

// A2 (§5.1.3.1): an offload whose prerequisite the device does not offer is not taken.
TEST_P(OffloadTest, SegmentationIsNotTakenWithoutTheChecksumOffload) {
  open(",offloads=all", [](auto& d) {
    d.faults().withdraw_features = virtio::feature_bit(net::VIRTIO_NET_F_CSUM) | virtio::feature_bit(net::VIRTIO_NET_F_GUEST_CSUM);
  });
  EXPECT_EQ(rig_.netif->offloads(), Offloads{});
  const auto f = rig_.driver->features();
  for (unsigned bit : {net::VIRTIO_NET_F_HOST_TSO4, net::VIRTIO_NET_F_HOST_TSO6, net::VIRTIO_NET_F_HOST_ECN,
                       net::VIRTIO_NET_F_HOST_USO, net::VIRTIO_NET_F_CTRL_GUEST_OFFLOADS})
    EXPECT_FALSE(virtio::has_feature(f, bit)) << "feature bit " << bit;
}

TEST_P(OffloadTest, APartialChecksumComesBackPartialToADriverThatTakesThem) {
  open(",offloads=csum+rx_csum");
  listen();
  for (bool udp : {false, true}) {
    frames_.clear();
    Packet p{.udp = udp};
    const auto f = p.bytes();
    ASSERT_TRUE(send(f, p.checksum_only()));
    run_until(1);
    ASSERT_EQ(frames_.size(), 1u);
    EXPECT_EQ(bytes_of(frames_[0]), f) << "passed on as it was sent";
    const RxOffload r = rx_offload(frames_[0]);
    EXPECT_EQ(r.checksum, RxChecksum::Partial);
    EXPECT_EQ(r.csum_start, p.l4());
    EXPECT_EQ(r.csum_offset, p.check_offset());
  }
}

TEST_P(OffloadTest, TheDeviceCompletesTheChecksumForADriverThatTakesNoPartialOnes) {
  open(",offloads=csum");
  listen();
  for (bool ipv6 : {false, true}) {
    frames_.clear();
    Packet p{.ipv6 = ipv6, .payload = 777};
    ASSERT_TRUE(send(p.bytes(), p.checksum_only()));
    run_until(1);
    ASSERT_EQ(frames_.size(), 1u);
    EXPECT_TRUE(p.checksum_ok(frames_[0].bytes()));
    EXPECT_EQ(rx_offload(frames_[0]).checksum, RxChecksum::Unknown);
  }
  EXPECT_EQ(rig_.device->counters().checksums_completed, 2u);
}

TEST_P(OffloadTest, ReceiveChecksumsTurnOffAndOnAtRunTime) {
  open(",offloads=csum+rx_csum");
  listen();
  Packet p;
  auto off = rig_.loop.run_until(rig_.netif->set_receive_offloads({}));
  ASSERT_TRUE(off);
  EXPECT_EQ(rig_.device->guest_offloads(), 0u);
  ASSERT_TRUE(send(p.bytes(), p.checksum_only()));
  run_until(1);
  ASSERT_EQ(frames_.size(), 1u);
  EXPECT_TRUE(p.checksum_ok(frames_[0].bytes())) << "completed by the device";
  EXPECT_EQ(rx_offload(frames_[0]).checksum, RxChecksum::Unknown);

  auto on = rig_.loop.run_until(rig_.netif->set_receive_offloads({.rx_checksum = true}));
  ASSERT_TRUE(on);
  EXPECT_EQ(rig_.device->guest_offloads(), virtio::feature_bit(net::VIRTIO_NET_F_GUEST_CSUM));
  ASSERT_TRUE(send(p.bytes(), p.checksum_only()));
  run_until(2);
  ASSERT_EQ(frames_.size(), 2u);
  EXPECT_EQ(rx_offload(frames_[1]).checksum, RxChecksum::Partial);

  auto transmit = rig_.loop.run_until(rig_.netif->set_receive_offloads({.tx_checksum = true}));
  EXPECT_FALSE(transmit) << "not a receive offload";
}

TEST_P(OffloadTest, ARefusedSwitchLeavesTheOffloadsAsTheyWere) {
  open(",offloads=csum+rx_csum");
  rig_.device->faults().control_ack = net::VIRTIO_NET_ERR;
  auto off = rig_.loop.run_until(rig_.netif->set_receive_offloads({}));
  EXPECT_FALSE(off);
  rig_.device->faults().control_ack.reset();
  EXPECT_EQ(rig_.device->guest_offloads(), virtio::feature_bit(net::VIRTIO_NET_F_GUEST_CSUM));
}

// Checks the segments of `p` cut at `mss`: each a packet of its own with right lengths,
// sequence numbers or ids and checksums, their payloads the original's in order.
void expect_segments(const Packet& p, const std::vector<Buffer>& got, std::uint16_t mss) {
  const std::size_t count = (p.payload + mss - 1) / mss;
  ASSERT_EQ(got.size(), count);
  std::vector<std::byte> payload;
  for (std::size_t i = 0; i < count; ++i) {
    const auto s = got[i].bytes();
    const std::size_t n = std::min<std::size_t>(mss, p.payload - i * mss);
    ASSERT_EQ(s.size(), p.headers() + n) << "segment " << i;
    EXPECT_TRUE(p.checksum_ok(s)) << "segment " << i;
    if (p.ipv6) {
      EXPECT_EQ(be16(s, kL3 + 4), s.size() - kL3 - 40);
    } else {
      EXPECT_EQ(be16(s, kL3 + 2), s.size() - kL3);
      EXPECT_EQ(be16(s, kL3 + 4), 0x1234 + i) << "IPv4 ids count up";
      EXPECT_EQ(side::fold(side::ones_sum(s.subspan(kL3, 20))), 0xffff) << "IPv4 header checksum of segment " << i;
    }
    if (p.udp) {
      EXPECT_EQ(be16(s, p.l4() + 4), 8 + n);
    } else {
      EXPECT_EQ(be32(s, p.l4() + 4), 0x01020304u + i * mss);
      const auto flags = std::to_integer<unsigned>(s[p.l4() + 13]);
      EXPECT_EQ(flags & 0x08, i + 1 == count ? 0x08u : 0u) << "PSH only on the last segment";
    }
    payload.insert(payload.end(), s.begin() + static_cast<std::ptrdiff_t>(p.headers()), s.end());
  }
  const auto whole = p.bytes();
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), whole.begin() + static_cast<std::ptrdiff_t>(p.headers())));
}

TEST_P(OffloadTest, ASuperFrameComesBackAsSegmentsOfTheAskedSize) {
  open(",offloads=all");
  listen();
  for (Packet p : {Packet{.payload = 16384}, Packet{.ipv6 = true, .payload = 9000}, Packet{.udp = true, .payload = 5000}}) {
    frames_.clear();
    const std::uint16_t mss = 1000;
    ASSERT_TRUE(send(p.bytes(), p.segmented(mss), p.headers()));
    run_until((p.payload + mss - 1) / mss);
    expect_segments(p, frames_, mss);
    for (const Buffer& s : frames_) EXPECT_EQ(rx_offload(s).checksum, RxChecksum::Valid);
  }
}

TEST_P(OffloadTest, A64KiBSuperFrameGoesOutInOneWrite) {
  open(",offloads=csum+tso4");
  listen();
  Packet p{.payload = 65535 - 40};  // the largest IPv4 packet
  const std::uint16_t mss = 1448;
  ASSERT_TRUE(send(p.bytes(), p.segmented(mss), p.headers()));
  run_until((p.payload + mss - 1) / mss);
  expect_segments(p, frames_, mss);
  EXPECT_EQ(rx_offload(frames_[0]).checksum, RxChecksum::Unknown) << "no receive offload asked";
  EXPECT_EQ(rig_.netif->get_stats_counters().tx_pkts, 1u);
}

TEST_P(OffloadTest, EcnIsCarriedOnlyWhereAgreed) {
  open(",offloads=csum+tso4");
  Packet p{.payload = 3000, .tcp_flags = 0x98};  // CWR PSH ACK
  TxOffload o = p.segmented(1000);
  o.ecn = true;
  auto refused = send(p.bytes(), o, p.headers());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().cause(), Error::Cause::BadArgument);
}

TEST_P(OffloadTest, RequestsOutsideTheFrameOrTheAgreementAreRefusedAndNothingIsSent) {
  open(",offloads=csum+tso4");
  listen();
  Packet p{.payload = 3000};
  const auto f = p.bytes();
  auto expect_refused = [&](TxOffload o, Error::Kind kind, const char* what) {
    auto r = send(f, o, p.headers());
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().kind(), kind) << what << ": " << r.error().to_string();
  };
  // A frame within the MTU, so that only the checksum's place is wrong.
  const Packet small;
  const auto small_frame = small.bytes();
  auto expect_small_refused = [&](TxOffload o, const char* what) {
    auto r = send(small_frame, o);
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().kind(), Error::Kind::InvalidLength) << what << ": " << r.error().to_string();
  };
  TxOffload o = small.checksum_only();
  o.checksum.start = static_cast<std::uint16_t>(small_frame.size() - 1);
  expect_small_refused(o, "checksum start at the last byte");
  o = small.checksum_only();
  o.checksum.offset = static_cast<std::uint16_t>(small_frame.size() - small.l4() - 1);
  expect_small_refused(o, "checksum field one byte beyond the frame");
  o = small.checksum_only();
  o.checksum.offset = 0xffff;
  expect_small_refused(o, "checksum offset far beyond the frame");
  expect_refused(p.checksum_only(), Error::Kind::InvalidLength, "beyond the MTU without segmentation");
  o = p.segmented(1000);
  o.checksum.requested = false;
  expect_refused(o, Error::Kind::Unknown, "segmentation without the checksum");
  expect_refused(p.segmented(0), Error::Kind::InvalidLength, "segment size 0");
  expect_refused(p.segmented(1461), Error::Kind::InvalidLength, "segments beyond the MTU");
  expect_refused(Packet{.ipv6 = true, .payload = 3000}.segmented(1000), Error::Kind::Unknown, "tso6 not agreed");
  expect_refused(Packet{.udp = true, .payload = 3000}.segmented(1000), Error::Kind::Unknown, "uso not agreed");
  o = p.segmented(1000);
  o.checksum.start = 20;  // no TCP header with a sane data offset there
  expect_refused(o, Error::Kind::InvalidLength, "a TCP header that is not one");
  o = TxOffload{.segment_size = 100};
  expect_refused(o, Error::Kind::Unknown, "a segment size without a type");
  rig_.run_rounds(1000);
  EXPECT_EQ(rig_.device->counters().tx_frames, 0u);
  EXPECT_TRUE(frames_.empty());
}

TEST_P(OffloadTest, AnEmptyRequestIsAPlainWrite) {
  open("");
  listen();
  const auto f = Packet{}.bytes();
  ASSERT_TRUE(send(f, TxOffload{}));
  run_until(1);
  ASSERT_EQ(frames_.size(), 1u);
  EXPECT_EQ(bytes_of(frames_[0]), f);
}

// What a device writes into the header of a frame it hands over, and what netfront makes of it.
struct HostileHeader {
  const char* what;
  net::virtio_net_hdr header;
  bool delivered;
  RxChecksum seen;
};

TEST_P(OffloadTest, EveryHeaderADeviceWritesIsCheckedBeforeItIsBelieved) {
  open(",offloads=rx_csum");
  listen();
  const auto f = Packet{}.bytes();  // 154 bytes
  const auto len = static_cast<std::uint16_t>(f.size());
  using H = net::virtio_net_hdr;
  const HostileHeader cases[] = {
      {"nothing said", H{}, true, RxChecksum::Unknown},
      {"data valid", H{.flags = net::VIRTIO_NET_HDR_F_DATA_VALID}, true, RxChecksum::Valid},
      {"unknown flag bits are ignored", H{.flags = 0xf8}, true, RxChecksum::Unknown},
      {"RSC_INFO never negotiated, ignored", H{.flags = net::VIRTIO_NET_HDR_F_RSC_INFO}, true, RxChecksum::Unknown},
      {"hdr_len is never used", H{.flags = net::VIRTIO_NET_HDR_F_DATA_VALID, .hdr_len = 0xffff}, true, RxChecksum::Valid},
      {"partial, inside", H{.flags = net::VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16}, true,
       RxChecksum::Partial},
      {"partial, to the last two bytes", H{.flags = 1, .csum_start = static_cast<std::uint16_t>(len - 2), .csum_offset = 0}, true,
       RxChecksum::Partial},
      {"partial, start at the end (CVE-2024-11614)", H{.flags = 1, .csum_start = len, .csum_offset = 0}, false, {}},
      {"partial, start far beyond", H{.flags = 1, .csum_start = 0xffff, .csum_offset = 0}, false, {}},
      {"partial, offset beyond", H{.flags = 1, .csum_start = 34, .csum_offset = static_cast<std::uint16_t>(len - 35)}, false, {}},
      {"partial, sum wraps 16 bits", H{.flags = 1, .csum_start = 0xfff0, .csum_offset = 0x20}, false, {}},
      {"TCPv4 segmentation, not negotiated", H{.gso_type = net::VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1000}, false, {}},
      {"UDP_L4 segmentation, not negotiated", H{.gso_type = net::VIRTIO_NET_HDR_GSO_UDP_L4, .gso_size = 100}, false, {}},
      {"ECN alone", H{.gso_type = net::VIRTIO_NET_HDR_GSO_ECN}, false, {}},
      {"an unknown type", H{.gso_type = 0x42}, false, {}},
  };
  std::uint64_t drops = 0;
  for (const HostileHeader& c : cases) {
    frames_.clear();
    const std::uint64_t errors_before = rig_.netif->get_stats_counters().device_errors;
    ASSERT_TRUE(rig_.device->inject(0, f, c.header)) << c.what;
    rig_.run_rounds(50);
    if (!c.delivered) {
      EXPECT_TRUE(frames_.empty()) << c.what;
      EXPECT_EQ(rig_.netif->get_stats_counters().device_errors, errors_before + 1) << c.what;
      ++drops;
      continue;
    }
    ASSERT_EQ(frames_.size(), 1u) << c.what;
    EXPECT_EQ(bytes_of(frames_[0]), f) << c.what;
    EXPECT_EQ(rx_offload(frames_[0]).checksum, c.seen) << c.what;
  }
  EXPECT_EQ(rig_.netif->get_stats_counters().rx_drops, drops);
  // The device's lies broke no rule of the ring: it still carries frames.
  frames_.clear();
  ASSERT_TRUE(rig_.device->inject(0, f));
  rig_.run_rounds(50);
  EXPECT_EQ(frames_.size(), 1u);
}

TEST_P(OffloadTest, WithoutReceiveOffloadsTheHeaderIsNotLookedAt) {
  open("");
  listen();
  const auto f = Packet{}.bytes();
  ASSERT_TRUE(rig_.device->inject(0, f, {.flags = 1, .gso_type = 0x42, .csum_start = 0xffff}));
  rig_.run_rounds(50);
  ASSERT_EQ(frames_.size(), 1u);
  EXPECT_EQ(rx_offload(frames_[0]).checksum, RxChecksum::Unknown);
  EXPECT_EQ(rig_.netif->get_stats_counters().device_errors, 0u);
}

TEST_P(OffloadTest, AMergedFrameIsCheckedWhole) {
  if (GetParam().find("mrg_rxbuf=off") != std::string::npos) GTEST_SKIP() << "no merged frames without MRG_RXBUF";
  open(",offloads=rx_csum");
  listen();
  rig_.device->faults().rx_chunk = 100;  // every frame in buffers of 100 bytes
  const auto f = Packet{.payload = 1000}.bytes();
  const auto len = static_cast<std::uint16_t>(f.size());
  // The checksum's place lies in the last buffer: only the whole frame says it is inside.
  ASSERT_TRUE(rig_.device->inject(0, f, {.flags = 1, .csum_start = 34, .csum_offset = static_cast<std::uint16_t>(len - 36)}));
  rig_.run_rounds(50);
  ASSERT_EQ(frames_.size(), 1u);
  EXPECT_EQ(rx_offload(frames_[0]).checksum, RxChecksum::Partial);
  ASSERT_TRUE(rig_.device->inject(0, f, {.flags = 1, .csum_start = 34, .csum_offset = static_cast<std::uint16_t>(len - 35)}));
  rig_.run_rounds(50);
  EXPECT_EQ(frames_.size(), 1u) << "one byte beyond the merged frame";
  EXPECT_EQ(rig_.netif->get_stats_counters().device_errors, 1u);
  rig_.device->faults().rx_chunk.reset();
}

INSTANTIATE_TEST_SUITE_P(Rings, OffloadTest,
                         ::testing::Values("split", "packed", "split,mrg_rxbuf=off", "split,in_order=on",
                                           "packed,in_order=on,indirect=off"));

}  // namespace
}  // namespace netfront
