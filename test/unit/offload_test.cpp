// Offloads (netfront/offload.hpp) over the loop: device, which offers them as a real device
// does: partial checksums both ways (CSUM, GUEST_CSUM, §5.1.6.2 and §5.1.6.4), segmentation on
// transmit (HOST_TSO4/6, HOST_ECN, HOST_USO), the run-time switch of receive offloads
// (CTRL_GUEST_OFFLOADS, §5.1.6.5.6), and a device that writes any header at all into what it
// hands the driver (C6, C7, C8).
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>
#include <vector>

#include "drivers/virtio/device_side/offload_engine.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "loop_harness.hpp"
#include "test/support/l4_packet.hpp"
#include "netfront/offload.hpp"

namespace netfront {
namespace {

using testing::LoopRig;
namespace net = virtio::net;
namespace side = virtio::device_side;

using testing::be16;
using testing::be32;
using testing::kL3;
using testing::Packet;

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
  // A legacy device has 32 feature bits: HOST_USO (bit 56) is beyond them.
  static bool uso_possible() { return GetParam().rfind("legacy", 0) != 0; }

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
  EXPECT_EQ(rig_.netif->offloads(), (Offloads{.tx_checksum = true, .tso4 = true, .tso6 = true, .tso_ecn = true,
                                              .uso = uso_possible(), .rx_checksum = true}));
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

// complete_rx_checksum: a Partial frame gets the checksum its sender left to be done, and is
// Valid from then on; a frame the device checked, or said nothing of, is left as it is.
TEST_P(OffloadTest, APartialChecksumIsFinishedForAStackThatChecksThemAll) {
  open(",offloads=csum+rx_csum");
  listen();
  for (bool udp : {false, true})
    for (bool ipv6 : {false, true}) {
      frames_.clear();
      Packet p{.ipv6 = ipv6, .udp = udp, .payload = 333};
      const auto f = p.bytes();
      ASSERT_TRUE(send(f, p.checksum_only()));
      run_until(1);
      ASSERT_EQ(frames_.size(), 1u);
      ASSERT_EQ(rx_offload(frames_[0]).checksum, RxChecksum::Partial);
      ASSERT_FALSE(p.checksum_ok(frames_[0].bytes()));
      complete_rx_checksum(frames_[0]);
      EXPECT_TRUE(p.checksum_ok(frames_[0].bytes())) << "udp " << udp << " ipv6 " << ipv6;
      EXPECT_EQ(rx_offload(frames_[0]).checksum, RxChecksum::Valid);
      const auto finished = bytes_of(frames_[0]);
      complete_rx_checksum(frames_[0]);  // Valid now: nothing more is done
      EXPECT_EQ(bytes_of(frames_[0]), finished);
    }
  frames_.clear();
  Packet plain;
  ASSERT_TRUE(send(plain.bytes(), TxOffload{}));  // no checksum asked: nothing said of it
  run_until(1);
  ASSERT_EQ(frames_.size(), 1u);
  ASSERT_EQ(rx_offload(frames_[0]).checksum, RxChecksum::Unknown);
  complete_rx_checksum(frames_[0]);
  EXPECT_EQ(bytes_of(frames_[0]), plain.bytes());
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
    if (p.udp && !uso_possible()) continue;
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
  open(",offloads=rx_csum");
  listen();
  // Every frame in buffers of 100 bytes, where buffers merge; without MRG_RXBUF one buffer.
  const bool merged = GetParam().find("mrg_rxbuf=off") == std::string::npos;
  if (merged) rig_.device->faults().rx_chunk = 100;
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

// A checksum start near 64 KiB plus the TCP or UDP header is beyond 16 bits: counted as it
// is, a TCP header ending beyond the frame, or headers alone beyond the MTU, are refused (a
// 16-bit sum wrapped and let both through, with a hdr_len of a few bytes).
TEST_P(OffloadTest, HeaderEndsPast64KiBAreRefusedNotWrapped) {
  open(",offloads=csum+tso4+uso");
  std::vector<std::byte> f(65550);
  f[12] = std::byte{0x08};  // IPv4
  // TCP at 65500 with a data offset of 15 words: its header would end at 65560, beyond the frame.
  f[65500 + 12] = std::byte{0xf0};
  auto tcp = send(f, TxOffload{.checksum = {.requested = true, .start = 65500, .offset = 16}, .gso = Gso::Tcp4,
                               .segment_size = 1000});
  EXPECT_FALSE(tcp) << "a TCP header ending 10 bytes beyond the frame was accepted";
  if (!tcp) {
    EXPECT_EQ(tcp.error().kind(), Error::Kind::InvalidLength);
  }
  // UDP at 65530: headers of 65538 bytes, so every segment is 65538 + 1000 bytes.
  auto udp = send(f, TxOffload{.checksum = {.requested = true, .start = 65530, .offset = 6}, .gso = Gso::Udp,
                               .segment_size = 1000});
  EXPECT_FALSE(udp) << "segments of 66538 bytes were accepted on an MTU of 1500";
  if (!uso_possible()) return;  // UDP segmentation is refused as not negotiated before any length is looked at
  if (!udp) {
    EXPECT_EQ(udp.error().kind(), Error::Kind::InvalidLength);
  }
  // The same without the wrap is refused, as it should be.
  auto control = send(f, TxOffload{.checksum = {.requested = true, .start = 65000, .offset = 6}, .gso = Gso::Udp,
                                   .segment_size = 1000});
  ASSERT_FALSE(control);
  EXPECT_EQ(control.error().kind(), Error::Kind::InvalidLength);
}

// rx_offload() believes only what netfront's driver recorded: an mbuf whose ol_flags carry
// the checksum flags of another driver (a DPDK PMD's) is Unknown, its field never read.
TEST_P(OffloadTest, AFrameOfAnotherOriginIsUnknown) {
  open(",offloads=rx_csum");  // the field is registered
  const auto f = Packet{}.bytes();
  auto b = Buffer::copy_from(rig_.pool->get(), std::span(f));
  ASSERT_TRUE(b);
  b->mbuf()->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;  // what another driver left on its mbuf
  EXPECT_EQ(rx_offload(*b).checksum, RxChecksum::Unknown);
}

INSTANTIATE_TEST_SUITE_P(Rings, OffloadTest,
                         ::testing::Values("split", "packed", "split,mrg_rxbuf=off", "split,in_order=on",
                                           "packed,in_order=on,indirect=off", "legacy", "legacy,mrg_rxbuf=off"));

// The loop device's model sums the IPv4 header over its IHL in every segment: an IHL that
// reaches past the L4 header (15 words in front of csum_start 34) is refused, not read
// beyond the segment (netfront's own checks do not look at the IP header).
TEST(OffloadEngineTest, AnIpv4HeaderLongerThanTheSegmentIsRefused) {
  std::vector<std::byte> f(14 + 20 + 8 + 1);
  f[12] = std::byte{0x08};
  f[14] = std::byte{0x4f};  // IPv4, IHL 15 words (60 bytes), but csum_start says the UDP header is at 34
  f[23] = std::byte{17};
  const net::virtio_net_hdr h{.flags = net::VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = net::VIRTIO_NET_HDR_GSO_UDP_L4,
                              .hdr_len = 42, .gso_size = 1, .csum_start = 34, .csum_offset = 6, .num_buffers = 0};
  unsigned segments = 0;
  EXPECT_FALSE(side::segment(f, h, [&](std::span<const std::byte>) { ++segments; }));
  EXPECT_EQ(segments, 0u);
}

}  // namespace
}  // namespace netfront
