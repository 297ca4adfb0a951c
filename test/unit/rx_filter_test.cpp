// Receive filters (netfront/rx_filter.hpp) over the loop: device, which filters what it
// receives as the driver's control commands say (virtio 1.2 §5.1.6.5.1 receive modes,
// §5.1.6.5.2 MAC address and table, §5.1.6.5.3 VLANs). Frames go out and come back through the
// device's filters; a last frame every filter passes shows that the ones before it had their
// turn, so a frame missing then was filtered, not late.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstring>
#include <vector>

#include "drivers/virtio/device_side/rx_filter_model.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "loop_harness.hpp"
#include "netfront/rx_filter.hpp"

namespace netfront {
namespace {

using testing::LoopRig;
namespace net = virtio::net;

constexpr MacAddress kOwn{{0x52, 0x54, 0x00, 0x00, 0x00, 0x01}};  // the loop device's
constexpr MacAddress kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
constexpr MacAddress kOther{{0x02, 0x00, 0x00, 0x00, 0x00, 0x09}};
constexpr MacAddress kSecond{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
constexpr MacAddress kGroup{{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}};  // mDNS
constexpr MacAddress kOtherGroup{{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}};

class RxFilterTest : public ::testing::TestWithParam<std::string> {
 protected:
  void open(const std::string& options = "", const std::function<void(virtio::transport::loop::FaultyLoopDevice&)>& before = {}) {
    ASSERT_TRUE(rig_.open("loop:" + GetParam() + options, before));
    rig_.listen();
  }
  void TearDown() override {
    if (!rig_.netif) return;
    rig_.loop.run_until(rig_.netif->disconnect());
    EXPECT_EQ(rig_.rx_pool_in_use(), 0u) << "receive buffers leaked";
  }
  // A frame to `to`, tagged with `vlan` if given, whose byte 20 is `tag`.
  Buffer frame_to(const MacAddress& to, std::uint8_t tag, std::optional<std::uint16_t> vlan = std::nullopt) {
    Buffer f = rig_.frame(64, tag);
    for (int i = 0; i < 6; ++i) f.set_u8(i, to.bytes[i]);
    for (int i = 0; i < 6; ++i) f.set_u8(6 + i, kOther.bytes[i]);
    std::size_t at = 12;
    if (vlan) {  // an 802.1Q tag: TPID 0x8100, then the VID in the TCI's low 12 bits
      f.set_u8(12, 0x81);
      f.set_u8(13, 0x00);
      f.set_u8(14, static_cast<std::uint8_t>(*vlan >> 8));
      f.set_u8(15, static_cast<std::uint8_t>(*vlan));
      at = 16;
    }
    f.set_u8(at, 0x88);  // a local experimental EtherType
    f.set_u8(at + 1, 0xb5);
    f.set_u8(20, tag);
    return f;
  }
  // Sends one frame to each of `to` (tagged 1, 2, ...) and then the marker, to the device's own
  // MAC; returns the tags of the frames that came back before the marker.
  std::vector<std::uint8_t> through(std::vector<MacAddress> to, std::optional<std::uint16_t> vlan = std::nullopt,
                                    const MacAddress& marker = kOwn) {
    rig_.received.clear();
    std::uint8_t tag = 1;
    for (const MacAddress& m : to) EXPECT_TRUE(rig_.loop.run_until(rig_.netif->write(frame_to(m, tag++, vlan))));
    EXPECT_TRUE(rig_.loop.run_until(rig_.netif->write(frame_to(marker, 0xee))));
    for (unsigned i = 0; i < 2'000'000; ++i) {
      if (!rig_.received.empty() && std::to_integer<std::uint8_t>(rig_.received.back()[20]) == 0xee) break;
      rig_.loop.run_once();
    }
    std::vector<std::uint8_t> tags;
    EXPECT_FALSE(rig_.received.empty()) << "the marker never came back";
    for (const auto& f : rig_.received)
      if (std::to_integer<std::uint8_t>(f[20]) != 0xee) tags.push_back(std::to_integer<std::uint8_t>(f[20]));
    return tags;
  }
  Result<> mode(RxMode m, bool on) { return rig_.loop.run_until(rig_.netif->set_rx_mode(m, on)); }
  Result<> table(std::vector<MacAddress> uni, std::vector<MacAddress> multi) {
    return rig_.loop.run_until(rig_.netif->set_mac_filter(uni, multi));
  }
  const virtio::device_side::RxFilterModel& device() const { return rig_.device->rx_filter(); }

  LoopRig rig_;
};

using Tags = std::vector<std::uint8_t>;

TEST_P(RxFilterTest, TheDeviceStartsPromiscuousAndNothingIsSentUntilAsked) {
  open();
  const auto f = rig_.driver->features();
  for (unsigned bit : {net::VIRTIO_NET_F_CTRL_RX, net::VIRTIO_NET_F_CTRL_RX_EXTRA, net::VIRTIO_NET_F_CTRL_MAC_ADDR})
    EXPECT_TRUE(virtio::has_feature(f, bit)) << "feature bit " << bit;
  EXPECT_FALSE(virtio::has_feature(f, net::VIRTIO_NET_F_CTRL_VLAN)) << "only with vlan_filter in the id";
  EXPECT_EQ(rig_.netif->rx_filter(), RxFilter{});
  EXPECT_EQ(through({kOther, kGroup, kBroadcast}), (Tags{1, 2, 3}));
}

TEST_P(RxFilterTest, NotPromiscuousTheDeviceTakesItsOwnBroadcastAndItsTable) {
  open();
  ASSERT_TRUE(mode(RxMode::Promiscuous, false));
  EXPECT_FALSE(device().promiscuous());
  EXPECT_EQ(rig_.netif->rx_filter().mode(RxMode::Promiscuous), false);
  EXPECT_EQ(through({kOwn, kOther, kBroadcast, kGroup, kSecond}), (Tags{1, 3}));

  ASSERT_TRUE(table({kSecond}, {kGroup}));
  EXPECT_EQ(device().unicast_entries(), 1u);
  EXPECT_EQ(device().multicast_entries(), 1u);
  EXPECT_EQ(through({kOwn, kOther, kBroadcast, kGroup, kSecond, kOtherGroup}), (Tags{1, 3, 4, 5}));
  EXPECT_EQ(rig_.netif->rx_filter().unicast, std::vector<MacAddress>{kSecond});
  EXPECT_EQ(rig_.netif->rx_filter().multicast, std::vector<MacAddress>{kGroup});

  ASSERT_TRUE(table({}, {}));  // a table replaces the one before
  EXPECT_EQ(through({kGroup, kSecond}), Tags{});
  EXPECT_GT(rig_.device->counters().filtered, 0u);

  ASSERT_TRUE(mode(RxMode::Promiscuous, true));
  EXPECT_EQ(through({kOther, kOtherGroup}), (Tags{1, 2}));
}

// §5.1.6.5.1: which mode overrides which.
TEST_P(RxFilterTest, TheExtraModesOverrideAsTheSpecSays) {
  open();
  ASSERT_TRUE(mode(RxMode::Promiscuous, false));
  ASSERT_TRUE(mode(RxMode::AllMulticast, true));
  EXPECT_EQ(through({kGroup, kOtherGroup, kOther}), (Tags{1, 2}));
  ASSERT_TRUE(mode(RxMode::NoMulticast, true));
  EXPECT_EQ(through({kGroup, kBroadcast}), Tags{2}) << "no-multicast beats all-multicast, and leaves broadcast alone";
  ASSERT_TRUE(mode(RxMode::NoBroadcast, true));
  EXPECT_EQ(through({kBroadcast, kOwn}), Tags{2});
  ASSERT_TRUE(mode(RxMode::AllUnicast, true));
  EXPECT_EQ(through({kOther, kSecond}), (Tags{1, 2}));
  ASSERT_TRUE(mode(RxMode::NoUnicast, true));
  // Even the marker, to our own MAC, stays out now: send it to be filtered and check by count.
  const auto filtered = rig_.device->counters().filtered;
  ASSERT_TRUE(rig_.loop.run_until(rig_.netif->write(frame_to(kOwn, 1))));
  for (unsigned i = 0; i < 10000 && rig_.device->counters().filtered == filtered; ++i) rig_.loop.run_once();
  EXPECT_EQ(rig_.device->counters().filtered, filtered + 1) << "no-unicast beats all-unicast and the device's own MAC";
  ASSERT_TRUE(mode(RxMode::NoUnicast, false));
  EXPECT_EQ(through({kOther}), Tags{1});
  const RxFilter set = rig_.netif->rx_filter();
  EXPECT_EQ(set.mode(RxMode::AllMulticast), true);
  EXPECT_EQ(set.mode(RxMode::NoUnicast), false);
}

TEST_P(RxFilterTest, ANewMacIsTheDevicesOwnAndAnnouncedAsSuch) {
  open();
  ASSERT_TRUE(rig_.loop.run_until(rig_.netif->set_mac(kSecond)));
  EXPECT_EQ(rig_.netif->mac(), kSecond);
  EXPECT_EQ(rig_.device->mac(), kSecond) << "§5.1.6.5.2: shown in the configuration space";
  ASSERT_TRUE(mode(RxMode::Promiscuous, false));
  EXPECT_EQ(through({kOwn, kSecond}, std::nullopt, kSecond), Tags{2});

  // The RARP of an announcement says the new MAC.
  rig_.received.clear();
  rig_.device->request_announce();
  for (unsigned i = 0; i < 2'000'000 && rig_.received.empty(); ++i) rig_.loop.run_once();
  ASSERT_EQ(rig_.received.size(), 1u);
  EXPECT_EQ(std::memcmp(rig_.received[0].data() + 6, kSecond.bytes.data(), 6), 0);

  for (const MacAddress& bad : {kGroup, MacAddress{}}) {
    auto r = rig_.loop.run_until(rig_.netif->set_mac(bad));
    ASSERT_FALSE(r) << bad.to_string();
    EXPECT_EQ(r.error().cause(), Error::Cause::BadArgument);
  }
  EXPECT_EQ(rig_.netif->mac(), kSecond);
}

TEST_P(RxFilterTest, VlansAreFilteredOnlyWhenTheIdAsks) {
  open();
  auto r = rig_.loop.run_until(rig_.netif->add_vlan(100));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), Error::Kind::Unimplemented);
  ASSERT_TRUE(mode(RxMode::Promiscuous, false));
  EXPECT_EQ(through({kOwn, kOwn}, 100), (Tags{1, 2})) << "every tagged frame is received";
}

TEST_P(RxFilterTest, TheVlanFilterTakesTheVlansAdded) {
  open(",vlan_filter");
  EXPECT_TRUE(virtio::has_feature(rig_.driver->features(), net::VIRTIO_NET_F_CTRL_VLAN));
  ASSERT_TRUE(mode(RxMode::Promiscuous, false));
  EXPECT_EQ(through({kOwn}, 100), Tags{}) << "the table starts empty (§5.1.6.5.3)";
  ASSERT_TRUE(rig_.loop.run_until(rig_.netif->add_vlan(100)));
  ASSERT_TRUE(rig_.loop.run_until(rig_.netif->add_vlan(7)));
  ASSERT_TRUE(rig_.loop.run_until(rig_.netif->add_vlan(100)));
  EXPECT_TRUE(device().has_vlan(100));
  EXPECT_EQ(rig_.netif->rx_filter().vlans, (std::vector<std::uint16_t>{7, 100}));
  EXPECT_EQ(through({kOwn, kOther}, 100), Tags{1}) << "the MAC filter still holds";
  EXPECT_EQ(through({kOwn}, 200), Tags{});
  EXPECT_EQ(through({kOwn}), Tags{1}) << "untagged frames are not filtered by VLAN";
  ASSERT_TRUE(rig_.loop.run_until(rig_.netif->remove_vlan(100)));
  EXPECT_EQ(through({kOwn}, 100), Tags{});
  EXPECT_EQ(rig_.netif->rx_filter().vlans, std::vector<std::uint16_t>{7});

  auto r = rig_.loop.run_until(rig_.netif->add_vlan(4096));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().cause(), Error::Cause::BadArgument);
}

TEST_P(RxFilterTest, BadArgumentsAreRefusedBeforeAnythingIsSent) {
  open();
  const auto commands = rig_.device->counters().control_commands;
  std::vector<MacAddress> many(kMaxMacFilterEntries + 1, kSecond);
  auto r = table(many, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), Error::Kind::InvalidLength);
  r = table({kGroup}, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().cause(), Error::Cause::BadArgument) << "a multicast address among the unicast ones";
  r = table({}, {kSecond});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().cause(), Error::Cause::BadArgument);
  r = mode(static_cast<RxMode>(6), true);
  ASSERT_FALSE(r);
  EXPECT_EQ(rig_.device->counters().control_commands, commands);
  std::vector<MacAddress> full(kMaxMacFilterEntries / 2, kSecond), groups(kMaxMacFilterEntries / 2, kGroup);
  auto full_table = table(full, groups);
  EXPECT_TRUE(full_table) << "a full table fits one command: " << (full_table ? "" : full_table.error().to_string());
}

// D2: a command the device refuses leaves its filter, and what netfront says of it, as it was.
TEST_P(RxFilterTest, ARefusedCommandChangesNothing) {
  open(",vlan_filter");
  rig_.device->faults().control_ack = net::VIRTIO_NET_ERR;
  auto r = mode(RxMode::Promiscuous, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), Error::Kind::Unknown);
  EXPECT_FALSE(table({kSecond}, {}));
  EXPECT_FALSE(rig_.loop.run_until(rig_.netif->add_vlan(3)));
  EXPECT_FALSE(rig_.loop.run_until(rig_.netif->set_mac(kSecond)));
  rig_.device->faults().control_ack.reset();
  EXPECT_EQ(rig_.netif->rx_filter(), RxFilter{});
  EXPECT_EQ(rig_.netif->mac(), kOwn);
  EXPECT_TRUE(device().promiscuous());
}

// A device reset clears its filters (§5.1.6.5.2, .3); netfront sends them again.
TEST_P(RxFilterTest, TheFiltersComeBackAfterADeviceReset) {
  open(",vlan_filter");
  ASSERT_TRUE(rig_.loop.run_until(rig_.netif->set_mac(kSecond)));
  ASSERT_TRUE(mode(RxMode::Promiscuous, false));
  ASSERT_TRUE(mode(RxMode::NoBroadcast, true));
  ASSERT_TRUE(table({kOther}, {kGroup}));
  ASSERT_TRUE(rig_.loop.run_until(rig_.netif->add_vlan(5)));
  const RxFilter before = rig_.netif->rx_filter();

  ASSERT_TRUE(rig_.reset_device());
  EXPECT_EQ(rig_.netif->rx_filter(), before);
  EXPECT_FALSE(device().promiscuous());
  EXPECT_TRUE(device().has_vlan(5));
  EXPECT_EQ(device().unicast_entries(), 1u);
  EXPECT_EQ(rig_.device->mac(), kSecond);
  EXPECT_EQ(through({kOwn, kSecond, kOther, kBroadcast, kGroup}, std::nullopt, kSecond), (Tags{2, 3, 5}));
}

TEST_P(RxFilterTest, WhatTheDeviceDoesNotOfferIsUnimplemented) {
  open("", [](auto& d) {
    d.faults().withdraw_features = virtio::feature_bit(net::VIRTIO_NET_F_CTRL_RX_EXTRA) |
                                   virtio::feature_bit(net::VIRTIO_NET_F_CTRL_MAC_ADDR);
  });
  EXPECT_TRUE(mode(RxMode::AllMulticast, true));
  for (RxMode m : {RxMode::AllUnicast, RxMode::NoMulticast, RxMode::NoUnicast, RxMode::NoBroadcast}) {
    auto r = mode(m, true);
    ASSERT_FALSE(r) << to_string(m);
    EXPECT_EQ(r.error().kind(), Error::Kind::Unimplemented) << to_string(m);
  }
  auto r = rig_.loop.run_until(rig_.netif->set_mac(kSecond));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), Error::Kind::Unimplemented) << "the device filters on its MAC and cannot be told another";
  EXPECT_EQ(rig_.netif->mac(), kOwn);
}

// A2: without CTRL_RX no MAC class command may be sent, MAC_ADDR_SET among them (§5.1.6.5.2).
TEST_P(RxFilterTest, WithoutReceiveModesThereIsNoMacTableAndNoMacChange) {
  open("", [](auto& d) { d.faults().withdraw_features = virtio::feature_bit(net::VIRTIO_NET_F_CTRL_RX); });
  EXPECT_FALSE(virtio::has_feature(rig_.driver->features(), net::VIRTIO_NET_F_CTRL_MAC_ADDR));
  EXPECT_EQ(mode(RxMode::Promiscuous, false).error().kind(), Error::Kind::Unimplemented);
  EXPECT_EQ(table({kSecond}, {}).error().kind(), Error::Kind::Unimplemented);
  EXPECT_EQ(rig_.loop.run_until(rig_.netif->set_mac(kSecond)).error().kind(), Error::Kind::Unimplemented);
  EXPECT_TRUE(mode(RxMode::NoBroadcast, true)) << "CTRL_RX_EXTRA stands on the control queue alone";
}

// A6: a device without a MAC of its own filters on none; netfront's MAC is its own to change.
TEST_P(RxFilterTest, WithoutADeviceMacOrAWayToTellItTheMacChangesLocally) {
  open("", [](auto& d) {
    d.faults().withdraw_features = virtio::feature_bit(net::VIRTIO_NET_F_MAC) | virtio::feature_bit(net::VIRTIO_NET_F_CTRL_MAC_ADDR);
  });
  const auto commands = rig_.device->counters().control_commands;
  ASSERT_TRUE(rig_.loop.run_until(rig_.netif->set_mac(kSecond)));
  EXPECT_EQ(rig_.netif->mac(), kSecond);
  EXPECT_EQ(rig_.device->counters().control_commands, commands) << "nothing for the device to be told";
}

TEST_P(RxFilterTest, DisconnectedOnceDisconnected) {
  open();
  rig_.loop.run_until(rig_.netif->disconnect());
  EXPECT_EQ(mode(RxMode::Promiscuous, false).error().kind(), Error::Kind::Disconnected);
  EXPECT_EQ(rig_.loop.run_until(rig_.netif->set_mac(kSecond)).error().kind(), Error::Kind::Disconnected);
  EXPECT_EQ(table({}, {}).error().kind(), Error::Kind::Disconnected);
  EXPECT_EQ(rig_.loop.run_until(rig_.netif->remove_vlan(1)).error().kind(), Error::Kind::Disconnected);
}

// §5.1.6.5.2: "the driver SHOULD issue VIRTIO_NET_CTRL_MAC_ADDR_SET to set the default mac if
// it is different from mac". Without VIRTIO_NET_F_MAC netfront picks a MAC of its own (A6) and,
// with CTRL_MAC_ADDR, tells the device, which (QEMU's virtio-net and the loop device alike)
// filters on the MAC it has: once not promiscuous, frames for mac() must still come in.
TEST_P(RxFilterTest, WithoutADeviceMacTheDeviceIsToldNetfrontsMac) {
  open("", [](auto& d) { d.faults().withdraw_features = virtio::feature_bit(net::VIRTIO_NET_F_MAC); });
  ASSERT_TRUE(virtio::has_feature(rig_.driver->features(), net::VIRTIO_NET_F_CTRL_MAC_ADDR));
  const MacAddress ours = rig_.netif->mac();
  ASSERT_NE(ours, kOwn);
  ASSERT_TRUE(mode(RxMode::Promiscuous, false));
  EXPECT_EQ(through({ours}, std::nullopt, kBroadcast), Tags{1}) << "a frame to mac() " << ours.to_string() << " was filtered";
  ASSERT_TRUE(rig_.loop.run_until(rig_.netif->set_mac(kSecond)));
  EXPECT_EQ(through({kSecond}, std::nullopt, kBroadcast), Tags{1}) << "a frame to the MAC set was filtered";
  EXPECT_EQ(rig_.device->mac(), kSecond) << "the device was never told the MAC";
}

// Without VIRTIO_NET_F_MAC the device filters on the MAC set before a reset and after it alike.
TEST_P(RxFilterTest, WithoutADeviceMacAResetChangesNothingReceived) {
  open("", [](auto& d) { d.faults().withdraw_features = virtio::feature_bit(net::VIRTIO_NET_F_MAC); });
  ASSERT_TRUE(rig_.loop.run_until(rig_.netif->set_mac(kSecond)));
  ASSERT_TRUE(mode(RxMode::Promiscuous, false));
  const Tags before = through({kSecond, kOwn}, std::nullopt, kBroadcast);
  const auto device_mac_before = rig_.device->mac();

  ASSERT_TRUE(rig_.reset_device());
  EXPECT_EQ(rig_.device->mac(), device_mac_before) << "the device's MAC changed across the reset";
  EXPECT_EQ(through({kSecond, kOwn}, std::nullopt, kBroadcast), before) << "the device filters otherwise after the reset";
}

// D1: a command the device answers only after the timeout is reported as failed; the device
// may have taken it meanwhile, so it is reset and given back what rx_filter() says holds.
TEST_P(RxFilterTest, ACommandAnsweredLateCostsAResetAndRxFilterStillSaysWhatHolds) {
  virtio::net::DeviceOptions options;
  options.control_timeout = std::chrono::milliseconds(50);
  ASSERT_TRUE(rig_.open("loop:" + GetParam(), {}, 0, options));
  rig_.listen();
  rig_.device->faults().control_no_answer = true;
  const auto resets = rig_.device->counters().resets;
  auto r = mode(RxMode::Promiscuous, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().cause(), Error::Cause::Timeout);
  rig_.device->faults().control_no_answer = false;  // a slow device, not a dead one
  rig_.run_rounds(1000);
  EXPECT_GT(rig_.device->counters().resets, resets);
  EXPECT_TRUE(rig_.netif->link_up());
  EXPECT_TRUE(rig_.loop.run_until(rig_.netif->set_rx_mode(RxMode::AllMulticast, true))) << "the control queue works again";
  EXPECT_EQ(rig_.netif->rx_filter().mode(RxMode::Promiscuous).value_or(true), device().promiscuous())
      << "rx_filter() says promiscuous (never set), the device is not";
  EXPECT_EQ(through({kOther}, std::nullopt, kBroadcast), Tags{1}) << "frames of other MACs are dropped though the call failed";
}

// A filter the device refuses while netfront sends it again after a reset costs that filter,
// not the device: filtering is best-effort (§5.1.6.5.1), and rx_filter() says it is gone.
TEST_P(RxFilterTest, AFilterRefusedAfterAResetDoesNotCostTheDevice) {
  open();
  ASSERT_TRUE(mode(RxMode::AllMulticast, true));
  rig_.device->faults().control_ack = net::VIRTIO_NET_ERR;
  EXPECT_TRUE(rig_.reset_device()) << "the device was failed for one refused filter";
  rig_.device->faults().control_ack.reset();
  EXPECT_EQ(rig_.netif->rx_filter().mode(RxMode::AllMulticast), std::nullopt) << "it did not come back";
  EXPECT_TRUE(rig_.device->rx_filter().promiscuous()) << "the device is as new";
}

INSTANTIATE_TEST_SUITE_P(Rings, RxFilterTest, ::testing::Values("split", "packed", "split,in_order=on"));

// The device model's side: malformed commands are refused and change nothing.
TEST(RxFilterModelTest, MalformedCommandsAreRefused) {
  using virtio::feature_bit;
  virtio::device_side::RxFilterModel m;
  const std::uint64_t all = feature_bit(net::VIRTIO_NET_F_CTRL_RX) | feature_bit(net::VIRTIO_NET_F_CTRL_RX_EXTRA) |
                            feature_bit(net::VIRTIO_NET_F_CTRL_VLAN) | feature_bit(net::VIRTIO_NET_F_CTRL_MAC_ADDR);
  auto bytes = [](std::initializer_list<unsigned> v) {
    std::vector<std::byte> b;
    for (unsigned x : v) b.push_back(static_cast<std::byte>(x));
    return b;
  };
  EXPECT_EQ(m.command(all, net::VIRTIO_NET_CTRL_RX, net::VIRTIO_NET_CTRL_RX_PROMISC, bytes({2})), net::VIRTIO_NET_ERR);
  EXPECT_EQ(m.command(all, net::VIRTIO_NET_CTRL_RX, net::VIRTIO_NET_CTRL_RX_PROMISC, bytes({0, 0})), net::VIRTIO_NET_ERR);
  EXPECT_EQ(m.command(all, net::VIRTIO_NET_CTRL_RX, 6, bytes({1})), net::VIRTIO_NET_ERR);
  EXPECT_EQ(m.command(0, net::VIRTIO_NET_CTRL_RX, net::VIRTIO_NET_CTRL_RX_PROMISC, bytes({0})), net::VIRTIO_NET_ERR);
  EXPECT_TRUE(m.promiscuous());
  // A table that says more entries than it carries, or carries more than it says.
  EXPECT_EQ(m.command(all, net::VIRTIO_NET_CTRL_MAC, net::VIRTIO_NET_CTRL_MAC_TABLE_SET, bytes({1, 0, 0, 0, 2, 0, 0, 0, 0, 1})),
            net::VIRTIO_NET_ERR);
  EXPECT_EQ(m.command(all, net::VIRTIO_NET_CTRL_MAC, net::VIRTIO_NET_CTRL_MAC_TABLE_SET, bytes({0, 0, 0, 0, 0, 0, 0, 0, 9})),
            net::VIRTIO_NET_ERR);
  EXPECT_EQ(m.command(all, net::VIRTIO_NET_CTRL_MAC, net::VIRTIO_NET_CTRL_MAC_TABLE_SET, bytes({0xff, 0xff, 0xff, 0xff})),
            net::VIRTIO_NET_ERR);
  EXPECT_EQ(m.command(all, net::VIRTIO_NET_CTRL_MAC, net::VIRTIO_NET_CTRL_MAC_TABLE_SET, bytes({0, 0, 0, 0, 0, 0, 0, 0})),
            net::VIRTIO_NET_OK);
  EXPECT_EQ(m.command(all, net::VIRTIO_NET_CTRL_MAC, net::VIRTIO_NET_CTRL_MAC_ADDR_SET, bytes({1, 0, 0, 0, 0, 1})),
            net::VIRTIO_NET_ERR)
      << "a multicast MAC";
  EXPECT_FALSE(m.mac());
  EXPECT_EQ(m.command(all, net::VIRTIO_NET_CTRL_VLAN, net::VIRTIO_NET_CTRL_VLAN_ADD, bytes({0x00, 0x10})), net::VIRTIO_NET_ERR)
      << "VLAN 4096";
  EXPECT_EQ(m.command(all, net::VIRTIO_NET_CTRL_VLAN, net::VIRTIO_NET_CTRL_VLAN_ADD, bytes({1})), net::VIRTIO_NET_ERR);
  EXPECT_EQ(m.command(all & ~feature_bit(net::VIRTIO_NET_F_CTRL_VLAN), net::VIRTIO_NET_CTRL_VLAN, net::VIRTIO_NET_CTRL_VLAN_ADD,
                      bytes({1, 0})),
            net::VIRTIO_NET_ERR);
  EXPECT_FALSE(m.has_vlan(1));
  EXPECT_FALSE(m.command(all, net::VIRTIO_NET_CTRL_ANNOUNCE, 0, {})) << "not a filter command";
}

}  // namespace
}  // namespace netfront
