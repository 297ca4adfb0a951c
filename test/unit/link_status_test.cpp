// The link as the application hears of it (Netif::link_status, link_change): status, speed
// and duplex (§5.1.4, VIRTIO_NET_F_SPEED_DUPLEX), and announcements (§5.1.6.5.4,
// VIRTIO_NET_F_GUEST_ANNOUNCE), over the loop: device, which offers both.
#include <gtest/gtest.h>

#include <vector>

#include "drivers/virtio/net/announce.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "loop_harness.hpp"

namespace netfront {
namespace {

using testing::LoopRig;
namespace net = virtio::net;

constexpr unsigned kPastAStatusCheck = 10000;  // loop rounds: the device's status is read every few thousand polls

class LinkStatusTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { ASSERT_TRUE(rig_.open(GetParam())); }
  void TearDown() override {
    if (!rig_.netif) return;
    rig_.loop.run_until(rig_.netif->disconnect());
    rig_.received.clear();
    EXPECT_EQ(rig_.rx_pool_in_use(), 0u) << "receive buffers leaked";
  }
  // Runs the loop until `w` completes (or a bound passes) and returns its result.
  Result<LinkStatus> settle(io<Result<LinkStatus>>& w) {
    for (unsigned i = 0; i < 4 * kPastAStatusCheck && !w.ready(); ++i) rig_.loop.run_once();
    EXPECT_TRUE(w.ready()) << "link_change never completed";
    return w.ready() ? w.get() : Result<LinkStatus>(Error::unknown("pending"));
  }
  LoopRig rig_;
};

TEST_P(LinkStatusTest, SaysTheSpeedAndDuplexTheDeviceReports) {
  EXPECT_TRUE(virtio::has_feature(rig_.driver->features(), net::VIRTIO_NET_F_SPEED_DUPLEX));
  EXPECT_TRUE(virtio::has_feature(rig_.driver->features(), net::VIRTIO_NET_F_GUEST_ANNOUNCE));
  const LinkStatus s = rig_.netif->link_status();
  EXPECT_TRUE(s.up);
  EXPECT_EQ(s.speed_mbps, 10000u);
  EXPECT_EQ(s.duplex, Duplex::Full);
  EXPECT_EQ(s.announcements, 0u);
  EXPECT_EQ(s.to_string(), "up 10000 Mbit/s full duplex");
}

TEST_P(LinkStatusTest, LinkChangeWaitsForTheLinkToGoDownAndUp) {
  const LinkStatus up = rig_.netif->link_status();
  auto w = rig_.netif->link_change(up);
  rig_.run_rounds(kPastAStatusCheck);
  EXPECT_FALSE(w.ready()) << "nothing changed";
  rig_.device->set_link(false);
  Result<LinkStatus> down = settle(w);
  ASSERT_TRUE(down) << down.error().to_string();
  EXPECT_FALSE(down->up);
  EXPECT_FALSE(rig_.netif->link_up());
  EXPECT_EQ(rig_.netif->link_status(), *down);

  auto again = rig_.netif->link_change(*down);
  rig_.device->set_link(true);
  Result<LinkStatus> back = settle(again);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, up);
}

TEST_P(LinkStatusTest, LinkChangeCompletesAtOnceWhenTheStatusDiffersFromWhatWasSeen) {
  auto w = rig_.netif->link_change(LinkStatus{});  // "down": what a caller saw before connecting
  ASSERT_TRUE(w.ready());
  Result<LinkStatus> s = w.get();
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->up);
}

TEST_P(LinkStatusTest, ANewSpeedIsAChange) {
  auto w = rig_.netif->link_change(rig_.netif->link_status());
  rig_.device->set_speed_duplex(25000, net::VIRTIO_NET_DUPLEX_HALF);
  Result<LinkStatus> s = settle(w);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->up);
  EXPECT_EQ(s->speed_mbps, 25000u);
  EXPECT_EQ(s->duplex, Duplex::Half);
}

// A5: values outside the spec's are not believed; they read as not known.
TEST_P(LinkStatusTest, ASpeedOrDuplexOutsideTheSpecIsNotKnown) {
  auto w = rig_.netif->link_change(rig_.netif->link_status());
  rig_.device->set_speed_duplex(0x80000000, 0x07);
  Result<LinkStatus> s = settle(w);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->up);
  EXPECT_EQ(s->speed_mbps, 0u);
  EXPECT_EQ(s->duplex, Duplex::Unknown);
  EXPECT_EQ(s->to_string(), "up");

  auto unknown = rig_.netif->link_change(*s);
  rig_.device->set_speed_duplex(net::VIRTIO_NET_SPEED_UNKNOWN, net::VIRTIO_NET_DUPLEX_UNKNOWN);
  rig_.run_rounds(kPastAStatusCheck);
  EXPECT_FALSE(unknown.ready()) << "the spec's own 'unknown' is the same as a value not believed";
}

// §5.1.6.5.4: asked to announce itself, the driver sends a RARP for its MAC, acknowledges,
// and the application hears of it.
TEST_P(LinkStatusTest, AnAnnouncementRequestSendsARarpAcknowledgesAndIsTold) {
  rig_.listen();
  auto w = rig_.netif->link_change(rig_.netif->link_status());
  rig_.device->request_announce();
  Result<LinkStatus> s = settle(w);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->announcements, 1u);
  EXPECT_TRUE(s->up);
  EXPECT_FALSE(rig_.device->announce_pending()) << "the request was acknowledged";
  EXPECT_EQ(rig_.device->counters().announcements_acked, 1u);
  rig_.run_until_received(1);
  ASSERT_EQ(rig_.received.size(), 1u) << "the loop device echoes what was sent: the RARP";
  const auto rarp = net::rarp_frame(rig_.netif->mac());
  EXPECT_EQ(rig_.received[0], std::vector<std::byte>(rarp.begin(), rarp.end()));
  EXPECT_EQ(std::to_integer<unsigned>(rig_.received[0][12]), 0x80u);
  EXPECT_EQ(std::to_integer<unsigned>(rig_.received[0][13]), 0x35u);

  // A second request (another migration, once the driver has seen the first one cleared) is
  // a second announcement.
  rig_.run_rounds(kPastAStatusCheck);
  auto second = rig_.netif->link_change(*s);
  rig_.device->request_announce();
  Result<LinkStatus> t = settle(second);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->announcements, 2u);
}

// A device that never clears its request (here: it refuses the acknowledgement) is answered
// once, not at every status check.
TEST_P(LinkStatusTest, ARequestThatIsNeverClearedIsAnsweredOnce) {
  rig_.listen();
  rig_.device->faults().control_ack = net::VIRTIO_NET_ERR;
  rig_.device->request_announce();
  for (int i = 0; i < 5; ++i) rig_.run_rounds(kPastAStatusCheck);
  EXPECT_TRUE(rig_.device->announce_pending());
  EXPECT_EQ(rig_.netif->link_status().announcements, 1u);
  EXPECT_EQ(rig_.received.size(), 1u) << "one RARP";
}

TEST_P(LinkStatusTest, DisconnectEndsAWaitingLinkChange) {
  auto w = rig_.netif->link_change(rig_.netif->link_status());
  rig_.loop.run_until(rig_.netif->disconnect());
  ASSERT_TRUE(w.ready());
  Result<LinkStatus> s = w.get();
  ASSERT_FALSE(s);
  EXPECT_TRUE(s.error().is_disconnected());
  EXPECT_FALSE(rig_.netif->link_status().up);
  auto after = rig_.netif->link_change(LinkStatus{});
  ASSERT_TRUE(after.ready());
  EXPECT_TRUE(after.get().error().is_disconnected());
}

// A request already pending when the device is brought up (a guest migrated before netfront
// connected) is answered too.
TEST(LinkStatusBringUpTest, ARequestPendingAtBringUpIsAnswered) {
  LoopRig rig;
  ASSERT_TRUE(rig.open("loop:", [](auto& d) { d.request_announce(); }));
  rig.run_rounds(2 * kPastAStatusCheck);
  EXPECT_EQ(rig.netif->link_status().announcements, 1u);
  EXPECT_FALSE(rig.device->announce_pending());
  rig.loop.run_until(rig.netif->disconnect());
}

// §5.1.3.1: GUEST_ANNOUNCE needs the control queue; without it the request bit means nothing.
TEST(LinkStatusPrerequisiteTest, NoAnnouncementsWithoutAControlQueue) {
  LoopRig rig;
  ASSERT_TRUE(rig.open("loop:", [](auto& d) { d.faults().withdraw_features = virtio::feature_bit(net::VIRTIO_NET_F_CTRL_VQ); }));
  EXPECT_FALSE(virtio::has_feature(rig.driver->features(), net::VIRTIO_NET_F_GUEST_ANNOUNCE));
  rig.device->request_announce();
  rig.run_rounds(2 * kPastAStatusCheck);
  EXPECT_EQ(rig.netif->link_status().announcements, 0u);
  rig.loop.run_until(rig.netif->disconnect());
}

INSTANTIATE_TEST_SUITE_P(SplitAndPacked, LinkStatusTest, ::testing::Values("loop:split", "loop:packed"),
                         [](const auto& info) { return info.param.substr(5); });

}  // namespace
}  // namespace netfront
