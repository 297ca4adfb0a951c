// RSS and the hash report (netfront/rss.hpp) over the loop: device, which hashes and steers
// what it receives as the driver's RSS_CONFIG and HASH_CONFIG commands say (virtio 1.2
// §5.1.6.4 "Hash calculation for incoming packets", §5.1.6.5 "Receive-side scaling (RSS)").
// Flows go out on pair 0 and come back on the pair the indirection table gives their hash;
// each frame's hash is recomputed here from its bytes and the key, and compared with what
// rx_hash() says the device reported. The Toeplitz function itself is checked against the
// published verification values first.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <functional>
#include <cstring>
#include <map>
#include <vector>

#include "drivers/netif/attach.hpp"
#include "drivers/netif/rss_check.hpp"
#include "drivers/virtio/device_side/rss_model.hpp"
#include "drivers/virtio/net/control_queue.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/net/rss_commands.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "loop_harness.hpp"
#include "netfront/rss.hpp"

namespace netfront {
namespace {

using testing::LoopRig;
namespace net = virtio::net;

// The key of Microsoft's "Verifying the RSS Hash Calculation", with its IPv4 and IPv6 rows.
constexpr std::array<std::uint8_t, 40> kVerificationKey{
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
    0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

TEST(ToeplitzTest, MatchesThePublishedVerificationValues) {
  // Source 66.9.149.187:2794, destination 161.142.100.80:1766.
  const std::uint8_t v4[] = {66, 9, 149, 187, 161, 142, 100, 80, 0x0a, 0xea, 0x06, 0xe6};
  EXPECT_EQ(toeplitz_hash(kVerificationKey, std::span(v4, 8)), 0x323e8fc2u);
  EXPECT_EQ(toeplitz_hash(kVerificationKey, v4), 0x51ccc178u);
  // Source 199.92.111.2:14230, destination 65.69.140.83:4739.
  const std::uint8_t v4b[] = {199, 92, 111, 2, 65, 69, 140, 83, 0x37, 0x96, 0x12, 0x83};
  EXPECT_EQ(toeplitz_hash(kVerificationKey, std::span(v4b, 8)), 0xd718262au);
  EXPECT_EQ(toeplitz_hash(kVerificationKey, v4b), 0xc626b0eau);
  // Source [3ffe:2501:200:1fff::7]:2794, destination [3ffe:2501:200:3::1]:1766.
  const std::uint8_t v6[] = {0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 7,
                             0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 1,
                             0x0a, 0xea, 0x06, 0xe6};
  EXPECT_EQ(toeplitz_hash(kVerificationKey, std::span(v6, 32)), 0x2cc18cd5u);
  EXPECT_EQ(toeplitz_hash(kVerificationKey, v6), 0x40207d3du);
}

TEST(ToeplitzTest, TheDefaultKeyIsSymmetric) {
  const RssConfig d = net::default_rss_config({.steering = true, .hash_report = true, .max_key_size = 40,
                                               .max_indirection_table_length = 128, .supported = HashTypes::all()},
                                              4);
  const std::uint8_t there[] = {10, 0, 0, 1, 10, 0, 0, 2, 0x12, 0x34, 0x00, 0x07};
  const std::uint8_t back[] = {10, 0, 0, 2, 10, 0, 0, 1, 0x00, 0x07, 0x12, 0x34};
  EXPECT_EQ(toeplitz_hash(d.key, there), toeplitz_hash(d.key, back));
  ASSERT_EQ(d.indirection_table.size(), 128u);
  for (std::size_t i = 0; i < 128; ++i) EXPECT_EQ(d.indirection_table[i], i % 4);
  EXPECT_EQ(d.hash_types, HashTypes::all());
}

TEST(RssCheckTest, WhatTheSpecForbidsTheDriverIsRefusedBeforeItIsSent) {
  const RssCapabilities caps{.steering = true, .hash_report = false, .max_key_size = 40,
                             .max_indirection_table_length = 256, .supported = {0x3f}};
  RssConfig good{.hash_types = {0x3f}, .key = std::vector<std::uint8_t>(40, 1),
                 .indirection_table = std::vector<std::uint16_t>(128, 1), .unclassified_pair = 3};
  EXPECT_TRUE(drivers::check_rss_config(good, caps, 4));
  auto refused = [&](RssConfig c, Error::Kind kind, Error::Cause cause) {
    auto r = drivers::check_rss_config(c, caps, 4);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), kind) << r.error().to_string();
    EXPECT_EQ(r.error().cause(), cause) << r.error().to_string();
  };
  RssConfig c = good;
  c.hash_types = c.hash_types.with(HashType::Tcpv6Ex);
  refused(c, Error::Kind::Unknown, Error::Cause::BadArgument);
  c = good;
  c.hash_types = {1u << 20};  // no such type
  refused(c, Error::Kind::Unknown, Error::Cause::BadArgument);
  c = good;
  c.key.resize(41);
  refused(c, Error::Kind::InvalidLength, Error::Cause::BadArgument);
  c.key.clear();
  refused(c, Error::Kind::InvalidLength, Error::Cause::BadArgument);
  for (std::size_t n : {0, 3, 100, 256}) {  // a power of two up to min(device's 256, 128)
    c = good;
    c.indirection_table.assign(n, 0);
    refused(c, Error::Kind::InvalidLength, Error::Cause::BadArgument);
  }
  c = good;
  c.indirection_table[77] = 4;
  refused(c, Error::Kind::Unknown, Error::Cause::BadArgument);
  c = good;
  c.unclassified_pair = 4;
  refused(c, Error::Kind::Unknown, Error::Cause::BadArgument);
  // Hashing off: no types and no key.
  RssConfig off;
  off.indirection_table = {0};
  EXPECT_TRUE(drivers::check_rss_config(off, caps, 4));
  // A device that only reports hashes takes no table.
  RssCapabilities report_only = caps;
  report_only.steering = false;
  report_only.max_indirection_table_length = 0;
  EXPECT_FALSE(drivers::check_rss_config(good, report_only, 4));
  RssConfig report;
  report.hash_types = {0x3f};
  report.key = good.key;
  EXPECT_TRUE(drivers::check_rss_config(report, report_only, 4));
}

TEST(RssCommandTest, TheConfigurationIsLaidOutAsTheSpecSays) {
  const RssConfig c{.hash_types = {0x12}, .key = {0xaa, 0xbb}, .indirection_table = {1, 0}, .unclassified_pair = 1};
  const auto rss = net::rss_config_data(c, 3);
  const std::vector<std::uint8_t> want{0x12, 0, 0, 0,  // hash_types
                                       1, 0,           // indirection_table_mask
                                       1, 0,           // unclassified_queue
                                       1, 0, 0, 0,     // indirection_table
                                       3, 0,           // max_tx_vq
                                       2, 0xaa, 0xbb};  // hash_key_length, hash_key_data
  ASSERT_EQ(rss.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(std::to_integer<std::uint8_t>(rss[i]), want[i]) << "byte " << i;
  const auto hash = net::hash_config_data(c);
  const std::vector<std::uint8_t> want_hash{0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0xaa, 0xbb};
  ASSERT_EQ(hash.size(), want_hash.size());
  for (std::size_t i = 0; i < want_hash.size(); ++i) EXPECT_EQ(std::to_integer<std::uint8_t>(hash[i]), want_hash[i]) << "byte " << i;
}

// A UDP/IPv4 frame from 10.0.0.1:`source_port` to 10.0.0.2:7, or a frame of a local
// experimental EtherType (nothing to hash) when `ip` is false.
Buffer udp_frame(LoopRig& rig, std::uint16_t source_port, bool ip = true) {
  Buffer f = rig.frame(80, source_port);
  const std::uint8_t eth[14] = {0x52, 0x54, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 9, 0x08, 0x00};
  for (int i = 0; i < 14; ++i) f.set_u8(i, eth[i]);
  if (!ip) {
    f.set_u8(12, 0x88);
    f.set_u8(13, 0xb5);
    return f;
  }
  const std::uint8_t ipv4[20] = {0x45, 0, 0, 66, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  for (int i = 0; i < 20; ++i) f.set_u8(14 + i, ipv4[i]);
  f.set_u8(34, static_cast<std::uint8_t>(source_port >> 8));
  f.set_u8(35, static_cast<std::uint8_t>(source_port));
  f.set_u8(36, 0);
  f.set_u8(37, 7);
  return f;
}

// A configuration of only an indirection table: no hash types and no key, hashing off.
RssConfig hashing_off(std::vector<std::uint16_t> table) {
  RssConfig c;
  c.indirection_table = std::move(table);
  return c;
}

// The hash of a udp_frame under `key`, computed from the frame's own bytes.
std::uint32_t udp_hash(const std::vector<std::uint8_t>& key, const std::vector<std::byte>& frame, bool with_ports) {
  std::uint8_t input[12];
  std::memcpy(input, frame.data() + 26, 8);
  std::memcpy(input + 8, frame.data() + 34, 4);
  return toeplitz_hash(key, std::span(input, with_ports ? 12 : 8));
}

struct Received {
  unsigned pair;
  std::vector<std::byte> bytes;
  std::optional<RxHash> hash;
};

class RssTest : public ::testing::TestWithParam<std::string> {
 protected:
  static constexpr unsigned kPairs = 4;

  void open(const std::string& options, const std::function<void(virtio::transport::loop::FaultyLoopDevice&)>& before = {}) {
    ASSERT_TRUE(rig_.open("loop:" + GetParam() + ",queues=4" + options, before));
    for (unsigned q = 0; q < rig_.netif->queue_pairs(); ++q)
      listens_.push_back(rig_.netif->queue(q).listen([this, q](Buffer f) {
        auto b = f.bytes();
        received_.push_back({q, {b.begin(), b.end()}, rx_hash(f)});
        return make_ready_io();
      }));
  }
  void TearDown() override {
    if (!rig_.netif) return;
    rig_.loop.run_until(rig_.netif->disconnect());
    for (auto& l : listens_) (void)rig_.loop.run_until(std::move(l));
    EXPECT_EQ(rig_.rx_pool_in_use(), 0u) << "receive buffers leaked";
  }
  // Sends a frame of each source port on pair 0; returns what came back, in order.
  std::vector<Received> through(const std::vector<std::uint16_t>& ports, bool ip = true) {
    received_.clear();
    for (std::uint16_t p : ports) EXPECT_TRUE(rig_.loop.run_until(rig_.netif->queue(0).write(udp_frame(rig_, p, ip))));
    for (unsigned i = 0; i < 2'000'000 && received_.size() < ports.size(); ++i) rig_.loop.run_once();
    EXPECT_EQ(received_.size(), ports.size());
    return received_;
  }
  static std::vector<std::uint16_t> ports(unsigned n) {
    std::vector<std::uint16_t> v;
    for (unsigned i = 0; i < n; ++i) v.push_back(static_cast<std::uint16_t>(40000 + 17 * i));
    return v;
  }
  Result<> set(const RssConfig& c) { return rig_.loop.run_until(rig_.netif->set_rss(c)); }
  // Every frame on the pair `c`'s table gives its hash, with the hash the device reported.
  void expect_steered_by(const RssConfig& c, const std::vector<Received>& got) {
    for (const Received& r : got) {
      const std::uint32_t h = udp_hash(c.key, r.bytes, true);
      ASSERT_TRUE(r.hash) << "no hash reported";
      EXPECT_EQ(r.hash->value, h);
      EXPECT_EQ(r.hash->type, HashType::Udpv4);
      EXPECT_EQ(r.pair, c.indirection_table[h & (c.indirection_table.size() - 1)]) << "hash " << std::hex << h;
    }
  }

  LoopRig rig_;
  std::vector<io<Result<>>> listens_;
  std::vector<Received> received_;
};

TEST_P(RssTest, TheDefaultSpreadsFlowsOverThePairsAndEveryFrameCarriesItsHash) {
  open(",rss,hash_report");
  const auto f = rig_.driver->features();
  EXPECT_TRUE(virtio::has_feature(f, net::VIRTIO_NET_F_RSS));
  EXPECT_TRUE(virtio::has_feature(f, net::VIRTIO_NET_F_HASH_REPORT));
  const RssCapabilities caps = rig_.netif->rss_capabilities();
  EXPECT_TRUE(caps.steering);
  EXPECT_TRUE(caps.hash_report);
  EXPECT_EQ(caps.max_key_size, 40u);
  EXPECT_EQ(caps.max_indirection_table_length, 128u);
  EXPECT_EQ(caps.supported, (HashTypes{0x3f}));

  const RssConfig d = rig_.netif->rss_config();
  EXPECT_EQ(d, net::default_rss_config(caps, kPairs));
  // What the device was told is what netfront says holds.
  EXPECT_TRUE(rig_.device->rss().steering());
  EXPECT_EQ(rig_.device->rss().hash_types(), d.hash_types);
  EXPECT_EQ(rig_.device->rss().key(), d.key);
  EXPECT_EQ(rig_.device->rss().indirection_table(), d.indirection_table);
  EXPECT_EQ(rig_.device->active_pairs(), kPairs);

  const auto got = through(ports(64));
  expect_steered_by(d, got);
  std::map<unsigned, unsigned> per_pair;
  for (const Received& r : got) ++per_pair[r.pair];
  EXPECT_EQ(per_pair.size(), kPairs) << "64 flows should reach every one of 4 pairs";
}

TEST_P(RssTest, TheApplicationsTableKeyAndTypesSteerAndAreWhatTheDeviceHolds) {
  open(",rss,hash_report");
  RssConfig c;
  c.hash_types = HashTypes{}.with(HashType::Ipv4).with(HashType::Udpv4);
  for (int i = 0; i < 40; ++i) c.key.push_back(static_cast<std::uint8_t>(i * 37 + 1));
  for (int i = 0; i < 8; ++i) c.indirection_table.push_back(i % 2 == 0 ? 3 : 1);
  ASSERT_TRUE(set(c));
  EXPECT_EQ(rig_.netif->rss_config(), c);
  EXPECT_EQ(rig_.device->rss().key(), c.key);
  EXPECT_EQ(rig_.device->rss().indirection_table(), c.indirection_table);
  expect_steered_by(c, through(ports(32)));

  // Everything to one pair; then addresses only (no UDP type): one flow for all ports.
  c.indirection_table.assign(1, 2);
  ASSERT_TRUE(set(c));
  for (const Received& r : through(ports(16))) EXPECT_EQ(r.pair, 2u);
  c.hash_types = HashTypes{}.with(HashType::Ipv4);
  c.indirection_table = {0, 1, 2, 3};
  ASSERT_TRUE(set(c));
  const auto got = through(ports(16));
  for (const Received& r : got) {
    ASSERT_TRUE(r.hash);
    EXPECT_EQ(r.hash->type, HashType::Ipv4);
    EXPECT_EQ(r.hash->value, udp_hash(c.key, r.bytes, false));
    EXPECT_EQ(r.pair, got.front().pair) << "one address pair is one flow";
  }
}

TEST_P(RssTest, FramesWithNothingToHashGoToTheUnclassifiedPairWithoutAHash) {
  open(",rss,hash_report");
  RssConfig c = rig_.netif->rss_config();
  c.unclassified_pair = 3;
  ASSERT_TRUE(set(c));
  for (const Received& r : through(ports(8), false)) {
    EXPECT_EQ(r.pair, 3u);
    EXPECT_FALSE(r.hash);
  }
  // Hashing off: frames come back where they went out, without a hash.
  ASSERT_TRUE(set(hashing_off({0})));
  EXPECT_FALSE(rig_.device->rss().enabled());
  for (const Received& r : through(ports(8))) {
    EXPECT_EQ(r.pair, 0u);
    EXPECT_FALSE(r.hash);
  }
}

TEST_P(RssTest, BadConfigurationsAreRefusedAndNothingIsSent) {
  open(",rss,hash_report");
  const RssConfig before = rig_.netif->rss_config();
  const auto commands = rig_.device->counters().control_commands;
  RssConfig c = before;
  c.indirection_table[5] = kPairs;  // a pair the device does not use
  auto r = set(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().cause(), Error::Cause::BadArgument) << r.error().to_string();
  c = before;
  c.key.assign(41, 1);
  r = set(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), Error::Kind::InvalidLength) << r.error().to_string();
  EXPECT_EQ(rig_.device->counters().control_commands, commands);
  EXPECT_EQ(rig_.netif->rss_config(), before);
}

// A refused configuration changes nothing netfront says holds: what held is sent again (a
// device may have dropped it, as QEMU's does); refused too, nothing holds and the device
// steers by itself.
TEST_P(RssTest, ARefusedConfigurationLeavesWhatTheDeviceHolds) {
  open(",rss,hash_report");
  const RssConfig before = rig_.netif->rss_config();
  RssConfig c = before;
  c.indirection_table.assign(4, 1);
  rig_.device->faults().refuse_command = std::pair{net::VIRTIO_NET_CTRL_MQ, net::VIRTIO_NET_CTRL_MQ_RSS_CONFIG};
  auto r = set(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().cause(), Error::Cause::DeviceRefused) << r.error().to_string();
  EXPECT_EQ(rig_.netif->rss_config(), RssConfig{}) << "the one before was refused again";
  EXPECT_FALSE(rig_.device->rss().enabled());
  for (const Received& got : through(ports(8))) EXPECT_EQ(got.pair, 0u) << "the device steers by itself";
  rig_.device->faults().refuse_command.reset();
  ASSERT_TRUE(set(c));
  expect_steered_by(c, through(ports(16)));
}

TEST_P(RssTest, TheApplicationsConfigurationComesBackAfterADeviceReset) {
  open(",rss,hash_report");
  RssConfig c = rig_.netif->rss_config();
  c.indirection_table.assign(16, 0);
  for (std::size_t i = 0; i < 16; ++i) c.indirection_table[i] = static_cast<std::uint16_t>(3 - i % 3);
  ASSERT_TRUE(set(c));
  ASSERT_TRUE(rig_.reset_device());
  EXPECT_EQ(rig_.netif->rss_config(), c);
  EXPECT_EQ(rig_.device->rss().indirection_table(), c.indirection_table);
  expect_steered_by(c, through(ports(24)));
}

// A device may come back from a reset with other limits: netfront reads them again, and
// the application's configuration, whose 40-byte key the device now says it cannot take, gives
// way to netfront's default for the new limits (sent, and steering) instead of being sent to
// a device that must refuse it.
TEST_P(RssTest, AConfigurationBeyondTheLimitsADeviceComesBackWithGivesWayToTheDefault) {
  open(",rss,hash_report");
  RssConfig c = rig_.netif->rss_config();
  ASSERT_EQ(c.key.size(), 40u);
  c.indirection_table.assign(16, 2);
  ASSERT_TRUE(set(c));
  rig_.device->faults().rss_max_key_size = 20;
  ASSERT_TRUE(rig_.reset_device());
  EXPECT_EQ(rig_.netif->rss_capabilities().max_key_size, 20u);
  const RssConfig now = rig_.netif->rss_config();
  EXPECT_EQ(now.key.size(), 20u);
  EXPECT_EQ(now.indirection_table.size(), 128u) << "netfront's default again";
  EXPECT_EQ(rig_.device->rss().key(), now.key);
  EXPECT_EQ(rig_.device->rss().indirection_table(), now.indirection_table);
  expect_steered_by(now, through(ports(16)));
  EXPECT_FALSE(set(c)) << "the old key is refused by netfront itself now";
  EXPECT_EQ(rig_.netif->get_stats_counters().device_errors, 0u);
}

// C9: the receive queues check each reported hash against the types the device supports; a
// device that comes back from a reset supporting others is failed (as one with another MTU),
// not believed with hash types nobody checks.
TEST_P(RssTest, HashTypesChangedAcrossAResetFailTheDevice) {
  open(",rss,hash_report");
  rig_.device->faults().rss_hash_types = HashTypes{}.with(HashType::Ipv4).bits;
  rig_.device->faults().needs_reset = true;
  for (unsigned i = 0; i < 100000; ++i) rig_.loop.run_once();
  Result<> w = rig_.loop.run_until(rig_.netif->queue(0).write(udp_frame(rig_, 40000, true)));
  ASSERT_FALSE(w);
  EXPECT_TRUE(w.error().is_disconnected()) << w.error().to_string();
}

// With HASH_REPORT negotiated the receive queues check each reported hash against the types
// the device supported at bring-up, even when its RSS fields were unusable then (key size 0:
// no types at all). A device that comes back from a reset with other types has changed under
// the queues: it is failed, not half believed (every frame dropped as a device error).
TEST_P(RssTest, HashTypesAppearingAcrossAResetFailTheDevice) {
  open(",rss,hash_report", [](auto& d) { d.faults().rss_max_key_size = 0; });
  ASSERT_FALSE(rig_.netif->rss_capabilities().hash_report) << "bring-up took the hash report as unusable";
  ASSERT_TRUE(virtio::has_feature(rig_.driver->features(), net::VIRTIO_NET_F_HASH_REPORT));
  EXPECT_EQ(through(ports(8)).size(), 8u) << "before the reset frames arrive (the device hashes nothing)";
  rig_.device->faults().rss_max_key_size.reset();
  rig_.device->faults().needs_reset = true;
  for (unsigned i = 0; i < 100000; ++i) rig_.loop.run_once();
  Result<> w = rig_.loop.run_until(rig_.netif->queue(0).write(udp_frame(rig_, 40000, true)));
  ASSERT_FALSE(w) << "the device came back with hash types its receive queues do not know";
  EXPECT_TRUE(w.error().is_disconnected()) << w.error().to_string();
}

TEST_P(RssTest, AConfigurationRefusedAfterAResetLeavesTheDeviceSteeringByItself) {
  open(",rss,hash_report");
  RssConfig c = rig_.netif->rss_config();
  c.indirection_table.assign(2, 1);
  ASSERT_TRUE(set(c));
  rig_.device->faults().refuse_command = std::pair{net::VIRTIO_NET_CTRL_MQ, net::VIRTIO_NET_CTRL_MQ_RSS_CONFIG};
  EXPECT_TRUE(rig_.reset_device()) << "the device was failed for a refused RSS configuration";
  rig_.device->faults().refuse_command.reset();
  EXPECT_EQ(rig_.netif->rss_config(), RssConfig{}) << "nothing holds";
  EXPECT_FALSE(rig_.device->rss().enabled());
  ASSERT_TRUE(set(c)) << "and it can be set again";
  expect_steered_by(c, through(ports(8)));
}

TEST_P(RssTest, AHashReportThatLiesDropsTheFrameAsTheDevicesError) {
  open(",rss,hash_report");
  const auto errors_before = rig_.netif->get_stats_counters().device_errors;
  // A type beyond the spec's, and one the device says it does not support (IPv6 with
  // extension headers): each frame dropped and counted, none delivered.
  for (std::uint16_t report : {std::uint16_t{10}, std::uint16_t{0xffff}, std::uint16_t{8}}) {
    rig_.device->faults().rx_hash = net::virtio_net_hash{.hash_value = 0x1234, .hash_report = report};
    received_.clear();
    for (std::uint16_t p : ports(4)) ASSERT_TRUE(rig_.loop.run_until(rig_.netif->queue(0).write(udp_frame(rig_, p))));
    rig_.run_rounds(2000);
    EXPECT_TRUE(received_.empty()) << "report " << report;
  }
  EXPECT_EQ(rig_.netif->get_stats_counters().device_errors - errors_before, 12u);
  // Any value with a supported type, and NONE with any value, is taken as said.
  rig_.device->faults().rx_hash = net::virtio_net_hash{.hash_value = 0xdeadbeef, .hash_report = 5};  // TCPv6
  auto got = through(ports(2));
  for (const Received& r : got) EXPECT_EQ(r.hash, (RxHash{0xdeadbeef, HashType::Tcpv6}));
  rig_.device->faults().rx_hash = net::virtio_net_hash{.hash_value = 0xdeadbeef, .hash_report = 0};
  got = through(ports(2));
  for (const Received& r : got) EXPECT_FALSE(r.hash);
}

TEST_P(RssTest, HashReportWithoutRssConfiguresTheHashAlone) {
  open(",hash_report");
  EXPECT_FALSE(virtio::has_feature(rig_.driver->features(), net::VIRTIO_NET_F_RSS)) << "the id did not ask the loop device for it";
  const RssCapabilities caps = rig_.netif->rss_capabilities();
  EXPECT_FALSE(caps.steering);
  EXPECT_TRUE(caps.hash_report);
  const RssConfig d = rig_.netif->rss_config();
  EXPECT_TRUE(d.indirection_table.empty());
  EXPECT_TRUE(rig_.device->rss().enabled());
  EXPECT_FALSE(rig_.device->rss().steering());
  for (const Received& r : through(ports(8))) {
    ASSERT_TRUE(r.hash);
    EXPECT_EQ(r.hash->value, udp_hash(d.key, r.bytes, true));
    EXPECT_EQ(r.pair, 0u) << "the device steers by itself";
  }
  auto r = set({.hash_types = d.hash_types, .key = d.key, .indirection_table = {1}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().cause(), Error::Cause::BadArgument);
}

TEST_P(RssTest, WithoutTheIdsHashReportHeadersStayTwelveBytesAndFramesCarryNoHash) {
  open(",rss");
  EXPECT_FALSE(virtio::has_feature(rig_.driver->features(), net::VIRTIO_NET_F_HASH_REPORT));
  EXPECT_FALSE(rig_.netif->rss_capabilities().hash_report);
  const RssConfig d = rig_.netif->rss_config();
  for (const Received& r : through(ports(32))) {
    EXPECT_FALSE(r.hash);
    EXPECT_EQ(r.pair, d.indirection_table[udp_hash(d.key, r.bytes, true) & (d.indirection_table.size() - 1)]);
  }
}

TEST_P(RssTest, RssIsNotTakenWithoutMultiQueue) {
  ASSERT_TRUE(rig_.open("loop:" + GetParam() + ",rss", [](auto& d) { d.faults().withdraw_features = virtio::feature_bit(net::VIRTIO_NET_F_MQ); },
                        4));
  EXPECT_TRUE(virtio::has_feature(rig_.device->device_features(), net::VIRTIO_NET_F_RSS));
  EXPECT_FALSE(virtio::has_feature(rig_.driver->features(), net::VIRTIO_NET_F_RSS));
  EXPECT_FALSE(rig_.netif->rss_capabilities().steering);
  EXPECT_FALSE(rig_.device->rss().enabled());
}

TEST_P(RssTest, ADeviceWithoutEitherHasNoRss) {
  open("");
  EXPECT_EQ(rig_.netif->rss_capabilities().max_key_size, 0u);
  EXPECT_EQ(rig_.netif->rss_config(), RssConfig{});
  auto r = set(hashing_off({0}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), Error::Kind::Unimplemented);
  // Automatic steering: what pair 0 sends comes back on pair 0.
  for (const Received& got : through(ports(8))) EXPECT_EQ(got.pair, 0u);
}

// The spec's RSS processing: "If the device did not calculate the hash for the specific packet,
// the device directs the packet to the receiveq specified by unclassified_queue". With no hash
// type enabled no frame gets a hash, so every frame goes to the unclassified pair, as QEMU's
// device does with a key and the empty set.
TEST_P(RssTest, NoHashTypesWithAKeyStillSteerToTheUnclassifiedPair) {
  open(",rss,hash_report");
  RssConfig c = rig_.netif->rss_config();
  c.hash_types = {};
  c.unclassified_pair = 3;
  ASSERT_TRUE(set(c)) << "the check accepts a key with no hash types";
  for (const Received& r : through(ports(8))) {
    EXPECT_EQ(r.pair, 3u) << "a spec device (and QEMU) puts every frame on unclassified_queue";
    EXPECT_FALSE(r.hash);
  }
}

// A refused default leaves the device steering by itself; one never answered, or answered with
// garbage, fails the bring-up (D1, D2) rather than leave the device up with a stuck control queue.
TEST_P(RssTest, AnUnansweredOrGarbledDefaultIsNotARefusal) {
  virtio::net::DeviceOptions options;
  options.control_timeout = std::chrono::milliseconds(20);
  {
    // queues=1 on a device of 4 pairs: RSS is negotiated (MQ is), no VQ_PAIRS_SET is sent, so
    // the default RSS is the first command of the bring-up.
    LoopRig rig;
    auto r = rig.open("loop:" + GetParam() + ",rss,hash_report,queues=1",
                      [](auto& d) { d.faults().control_no_answer = true; }, 4, options);
    EXPECT_FALSE(r) << "a default RSS nobody answered was taken for a refusal: the device is up with a stuck control queue";
    if (r) {
      rig.device->faults().control_no_answer = false;
      const RssConfig c = rig.netif->rss_config();
      EXPECT_EQ(c, RssConfig{});
      RssConfig want = net::default_rss_config(rig.netif->rss_capabilities(), 1);
      auto s = rig.loop.run_until(rig.netif->set_rss(want));
      EXPECT_TRUE(s) << "a device that answers again is refused by netfront's stuck queue: " << (s ? "" : s.error().to_string());
      rig.loop.run_until(rig.netif->disconnect());
    }
  }
  {
    LoopRig rig;
    auto r = rig.open("loop:" + GetParam() + ",rss,hash_report,queues=1",
                      [](auto& d) { d.faults().control_ack = std::uint8_t{0x55}; }, 4, options);
    EXPECT_FALSE(r) << "an ack that is neither OK nor ERR was taken for a refusal";
    if (r) rig.loop.run_until(rig.netif->disconnect());
  }
}

// QEMU's virtio-net turns RSS off before it handles any MQ command, and leaves it off when it
// refuses one: the model does the same.
TEST(RssModelTest, ARefusedRssConfigLeavesNoRssAsQemusDeviceDoes) {
  using virtio::feature_bit;
  const std::uint64_t features = feature_bit(net::VIRTIO_NET_F_RSS) | feature_bit(net::VIRTIO_NET_F_MQ) |
                                 feature_bit(net::VIRTIO_NET_F_CTRL_VQ) | feature_bit(net::VIRTIO_NET_F_HASH_REPORT);
  virtio::device_side::RssModel m;
  const RssConfig good{.hash_types = {0x3f}, .key = std::vector<std::uint8_t>(40, 7), .indirection_table = {0, 1, 2, 3}};
  ASSERT_EQ(m.command(features, net::VIRTIO_NET_CTRL_MQ_RSS_CONFIG, net::rss_config_data(good, 4), 4), net::VIRTIO_NET_OK);
  ASSERT_TRUE(m.steering());
  RssConfig bad = good;
  bad.key.assign(41, 7);  // more than the model's 40
  ASSERT_EQ(m.command(features, net::VIRTIO_NET_CTRL_MQ_RSS_CONFIG, net::rss_config_data(bad, 4), 4), net::VIRTIO_NET_ERR);
  EXPECT_FALSE(m.enabled()) << "QEMU has RSS off after a refused RSS_CONFIG; the model still steers by the old table";
}

// A device may say rss_max_key_size 255 (a u8): keys beyond kMaxHashKey are refused as of a
// wrong length, and the longest configuration the check accepts fits in one command.
TEST(RssCheckTest, EveryConfigurationTheCheckAcceptsFitsInOneCommand) {
  const RssCapabilities caps{.steering = true, .hash_report = true, .max_key_size = 255,
                             .max_indirection_table_length = 65535, .supported = {0x3f}};
  RssConfig c;
  c.hash_types = {0x3f};
  c.key.assign(kMaxHashKey + 1, 1);
  c.indirection_table.assign(kMaxIndirectionTable, 0);
  auto r = drivers::check_rss_config(c, caps, 4);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), Error::Kind::InvalidLength);
  c.key.resize(kMaxHashKey);
  ASSERT_TRUE(drivers::check_rss_config(c, caps, 4));
  EXPECT_LE(net::rss_config_data(c, 4).size(), net::kMaxControlData) << "a configuration the check accepted cannot be sent";
}

// The same at the API, against a device whose configuration space says rss_max_key_size 255
// (everything else the loop device's): set_rss of a 250-byte key is refused as InvalidLength.
class ConfigPatch final : public virtio::transport::Transport {
 public:
  ConfigPatch(std::unique_ptr<virtio::transport::Transport> inner, std::function<void(std::span<std::byte>)> patch)
      : inner_(std::move(inner)), patch_(std::move(patch)) {}
  std::string describe() const override { return inner_->describe(); }
  virtio::ring::AddressMode address_mode() const noexcept override { return inner_->address_mode(); }
  virtio::Result<> reset() override { return inner_->reset(); }
  bool revoke_dma() noexcept override { return inner_->revoke_dma(); }
  std::uint8_t status() override { return inner_->status(); }
  void set_status(std::uint8_t s) override { inner_->set_status(s); }
  std::uint64_t device_features() override { return inner_->device_features(); }
  void set_driver_features(std::uint64_t f) override { inner_->set_driver_features(f); }
  std::uint32_t config_generation() override { return inner_->config_generation(); }
  std::size_t config_size() const override { return inner_->config_size(); }
  void read_config(std::size_t offset, std::span<std::byte> out) override {
    std::vector<std::byte> all(std::max(inner_->config_size(), offset + out.size()));
    inner_->read_config(0, std::span(all.data(), inner_->config_size()));
    patch_(all);
    std::memcpy(out.data(), all.data() + offset, out.size());
  }
  std::uint16_t queue_count() override { return inner_->queue_count(); }
  std::uint16_t queue_max_size(std::uint16_t i) override { return inner_->queue_max_size(i); }
  virtio::Result<> enable_queue(const virtio::transport::QueueSetup& s) override { return inner_->enable_queue(s); }
  bool notify(std::uint16_t i) noexcept override { return inner_->notify(i); }

 private:
  std::unique_ptr<virtio::transport::Transport> inner_;
  std::function<void(std::span<std::byte>)> patch_;
};

TEST(RssHostileConfigTest, AKeyTheDeviceSaysItTakesIsSentOrRefusedAsInvalidLength) {
  LoopRig rig;
  auto made = PacketPool::create({.size = 4095, .cache = 0});
  ASSERT_TRUE(made);
  rig.pool.emplace(std::move(*made));
  auto id = DeviceId::parse("loop:split,rss,hash_report,queues=4");
  ASSERT_TRUE(id);
  auto dev = std::make_unique<virtio::transport::loop::FaultyLoopDevice>(id->loop(), 4, &rig.loop);
  rig.device = dev.get();
  auto lying = std::make_unique<ConfigPatch>(std::move(dev), [](std::span<std::byte> c) {
    c[net::kConfigRssMaxKeySize] = std::byte{255};
  });
  virtio::net::DeviceOptions options;
  options.queue_pairs = 4;
  options.hash_report = true;
  auto opened = virtio::net::VirtioNetDevice::open(std::move(lying), options);
  ASSERT_TRUE(opened) << opened.error().to_string();
  rig.driver = opened->get();
  rig.netif.emplace(drivers::attach(*id, std::move(*opened)));
  ASSERT_EQ(rig.netif->rss_capabilities().max_key_size, 255u);
  RssConfig c = rig.netif->rss_config();
  ASSERT_EQ(c.indirection_table.size(), 128u);
  c.key.assign(250, 0x6d);
  auto r = rig.loop.run_until(rig.netif->set_rss(c));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), Error::Kind::InvalidLength) << r.error().to_string();
  rig.loop.run_until(rig.netif->disconnect());
}

// A HashType the application made of any byte is none of the nine (no shift beyond 31 bits).
TEST(RssCheckTest, AHashTypeBeyondTheNineIsNoneOfThem) {
  volatile unsigned beyond = 40, wraps = 32;
  const auto t40 = static_cast<HashType>(beyond);
  const auto t32 = static_cast<HashType>(wraps);
  EXPECT_FALSE(HashTypes::all().has(t40)) << "type 40 taken for a supported type";
  EXPECT_EQ(HashTypes{}.with(t32).bits & HashTypes::all().bits, 0u) << "type 32 became a real type";
}

INSTANTIATE_TEST_SUITE_P(Rings, RssTest, ::testing::Values("split", "packed", "split,mrg_rxbuf=off", "packed,in_order=on"));

}  // namespace
}  // namespace netfront
