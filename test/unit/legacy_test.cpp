// The engine over a legacy device (virtio 1.2 §4.1.4.8, the 0.9.5 interface), played by the
// loop: device built with `legacy`: what differs from a modern device is checked here (the
// echo and offload suites run over it too, as EngineTest and OffloadTest parameters).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "loop_harness.hpp"

namespace netfront {
namespace {

using testing::LoopRig;
namespace net = virtio::net;

void echo_some(LoopRig& rig, unsigned first_seed) {
  const std::vector<std::size_t> sizes{60, 61, 200, 1000, 1514};
  rig.received.clear();
  for (unsigned i = 0; i < sizes.size(); ++i) ASSERT_TRUE(rig.netif->write(rig.frame(sizes[i], first_seed + i)).get());
  rig.run_until_received(sizes.size());
  ASSERT_EQ(rig.received.size(), sizes.size());
  for (unsigned i = 0; i < sizes.size(); ++i) EXPECT_EQ(rig.received[i], LoopRig::expected(sizes[i], first_seed + i)) << sizes[i];
}

// §3.1.2 legacy interface: there is no FEATURES_OK step; a legacy device would not know the bit.
TEST(LegacyDevice, IsBroughtUpWithoutFeaturesOk) {
  LoopRig rig;
  auto log = std::make_shared<std::vector<std::uint8_t>>();
  ASSERT_TRUE(rig.open("loop:legacy", [&](auto& d) { d.faults().status_log = log; }));
  ASSERT_FALSE(log->empty());
  for (std::uint8_t s : *log) EXPECT_EQ(s & virtio::VIRTIO_CONFIG_S_FEATURES_OK, 0) << "status written: " << unsigned{s};
  EXPECT_EQ(log->back() & virtio::VIRTIO_CONFIG_S_DRIVER_OK, virtio::VIRTIO_CONFIG_S_DRIVER_OK);
  EXPECT_EQ(rig.driver->features() >> 32, 0u) << "a legacy device has 32 feature bits";
  rig.listen();
  echo_some(rig, 1);
  rig.loop.run_until(rig.netif->disconnect());
}

// Frames the device writes itself (not echoes, in which a header taken two bytes too long on
// transmit and on receive would cancel out) arrive whole, with either header length: 10 bytes
// without MRG_RXBUF, 12 with it.
TEST(LegacyDevice, FramesTheDeviceWritesArriveWholeWithEitherHeaderLength) {
  for (const char* id : {"loop:legacy", "loop:legacy,mrg_rxbuf=off"}) {
    LoopRig rig;
    ASSERT_TRUE(rig.open(id)) << id;
    rig.listen();
    for (unsigned i = 0; i < 4; ++i) ASSERT_TRUE(rig.device->inject(0, LoopRig::expected(60 + 300 * i, i))) << id;
    rig.run_until_received(4);
    ASSERT_EQ(rig.received.size(), 4u) << id;
    for (unsigned i = 0; i < 4; ++i) EXPECT_EQ(rig.received[i], LoopRig::expected(60 + 300 * i, i)) << id << " frame " << i;
    rig.loop.run_until(rig.netif->disconnect());
  }
}

// §4.1.4.8: the queue size is the device's; a ring of another size would be read as one of
// the device's size. The loop device refuses any other, so the device coming up is the check.
TEST(LegacyDevice, QueuesTakeTheSizeTheDeviceFixesWhateverTheDriversCap) {
  LoopRig rig;
  virtio::net::DeviceOptions o;
  o.max_queue_size = 256;
  ASSERT_TRUE(rig.open("loop:legacy,size=1024", {}, 0, o));
  rig.listen();
  echo_some(rig, 10);
  rig.loop.run_until(rig.netif->disconnect());
}

TEST(LegacyDevice, AQueueSizeASplitRingCannotHaveIsAClearError) {
  LoopRig rig;
  auto r = rig.open("loop:legacy", [](auto& d) { d.faults().queue_max_sizes[1] = 100; });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("100 entries, not a power of two"), std::string::npos) << r.error().message();
}

// §2.6.4.3: without ANY_LAYOUT a legacy device wants each header in a descriptor of its own,
// which netfront's receive buffers do not give it.
TEST(LegacyDevice, WithoutAnyLayoutIsRefused) {
  LoopRig rig;
  auto r = rig.open("loop:legacy", [](auto& d) { d.faults().withdraw_features = virtio::feature_bit(virtio::VIRTIO_F_ANY_LAYOUT); });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("VIRTIO_F_ANY_LAYOUT"), std::string::npos) << r.error().message();
}

// A recovery (A13) brings a legacy device up again the legacy way, rings in the legacy layout.
TEST(LegacyDevice, ComesBackAfterAReset) {
  for (const char* id : {"loop:legacy", "loop:legacy,mrg_rxbuf=off"}) {
    LoopRig rig;
    ASSERT_TRUE(rig.open(id)) << id;
    rig.listen();
    echo_some(rig, 20);
    ASSERT_TRUE(rig.reset_device()) << id;
    echo_some(rig, 30);
    rig.loop.run_until(rig.netif->disconnect());
    EXPECT_EQ(rig.rx_pool_in_use(), 0u);
  }
}

}  // namespace
}  // namespace netfront
