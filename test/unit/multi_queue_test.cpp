// Multi-queue over the in-process device: the control queue turns pairs on (VQ_PAIRS_SET),
// every pair carries its own traffic with its own counters, and asking for what the device
// does not have is a clear error.
#include <gtest/gtest.h>

#include <map>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "loop_harness.hpp"

namespace netfront {
namespace {

using testing::LoopRig;

struct MultiQueueCase {
  const char* id;
  unsigned device_pairs;
};

class MultiQueueTest : public ::testing::TestWithParam<MultiQueueCase> {
 protected:
  void SetUp() override {
    auto r = rig_.open(GetParam().id, {}, GetParam().device_pairs);
    ASSERT_TRUE(r) << r.error().to_string();
  }
  void TearDown() override {
    if (!rig_.netif) return;
    rig_.loop.run_until(rig_.netif->disconnect());
    EXPECT_EQ(rig_.rx_pool_in_use(), 0u) << "receive buffers leaked";
    per_queue_.clear();
    EXPECT_EQ(rig_.pool->in_use(), 0u) << "transmit buffers leaked";
  }
  unsigned pairs() const { return rig_.netif->queue_pairs(); }
  LoopRig rig_;
  std::map<unsigned, std::vector<std::vector<std::byte>>> per_queue_;
  std::vector<io<Result<>>> listens_;
};

TEST_P(MultiQueueTest, ControlQueueTurnsOnExactlyTheAskedPairs) {
  const std::uint64_t f = rig_.driver->features();
  EXPECT_TRUE(virtio::has_feature(f, virtio::net::VIRTIO_NET_F_CTRL_VQ));
  EXPECT_EQ(virtio::has_feature(f, virtio::net::VIRTIO_NET_F_MQ), GetParam().device_pairs > 1);
  EXPECT_EQ(rig_.device->active_pairs(), pairs());
  EXPECT_EQ(rig_.device->counters().control_commands, pairs() > 1 ? 1u : 0u);
}

TEST_P(MultiQueueTest, EveryPairEchoesItsOwnFramesAndCountsThem) {
  for (unsigned q = 0; q < pairs(); ++q)
    listens_.push_back(rig_.netif->queue(q).listen([this, q](Buffer b) {
      auto bytes = b.bytes();
      per_queue_[q].emplace_back(bytes.begin(), bytes.end());
      return make_ready_io();
    }));
  constexpr unsigned kFrames = 300;
  for (unsigned i = 0; i < kFrames; ++i) {
    for (unsigned q = 0; q < pairs(); ++q) {
      const std::size_t len = 60 + (i * 13 + q * 101) % 1400;
      auto w = rig_.loop.run_until(rig_.netif->queue(q).write(rig_.frame(len, i * 8 + q)));
      ASSERT_TRUE(w) << w.error().to_string();
    }
  }
  for (unsigned round = 0; round < 2'000'000; ++round) {
    std::size_t got = 0;
    for (auto& [q, frames] : per_queue_) got += frames.size();
    if (got == kFrames * pairs()) break;
    rig_.loop.run_once();
  }
  std::uint64_t device_rx = 0;
  for (unsigned q = 0; q < pairs(); ++q) {
    ASSERT_EQ(per_queue_[q].size(), kFrames) << "queue " << q;
    for (unsigned i = 0; i < kFrames; ++i)
      ASSERT_EQ(per_queue_[q][i], LoopRig::expected(60 + (i * 13 + q * 101) % 1400, i * 8 + q)) << "queue " << q;
    // The driver's per-queue counters agree with what the device saw on that pair.
    const Stats s = rig_.netif->queue(q).get_stats_counters();
    EXPECT_EQ(s.tx_pkts, rig_.device->pair_counters(q).tx_frames) << "queue " << q;
    EXPECT_EQ(s.rx_pkts, rig_.device->pair_counters(q).rx_frames) << "queue " << q;
    EXPECT_EQ(s.tx_pkts, kFrames);
    EXPECT_EQ(s.rx_pkts, kFrames);
    device_rx += rig_.device->pair_counters(q).rx_frames;
  }
  const Stats sum = rig_.netif->get_stats_counters();
  EXPECT_EQ(sum.rx_pkts, device_rx);
  EXPECT_EQ(sum.tx_pkts, std::uint64_t{kFrames} * pairs());
  rig_.netif->reset_stats_counters();
  for (unsigned q = 0; q < pairs(); ++q) EXPECT_EQ(rig_.netif->queue(q).get_stats_counters(), Stats{});
}

TEST_P(MultiQueueTest, DeviceListenTakesEveryPairWithoutAListenOfItsOwn) {
  std::vector<std::vector<std::byte>> own, rest;
  listens_.push_back(rig_.netif->queue(0).listen([&](Buffer b) {
    own.emplace_back(b.bytes().begin(), b.bytes().end());
    return make_ready_io();
  }));
  listens_.push_back(rig_.netif->listen([&](Buffer b) {
    rest.emplace_back(b.bytes().begin(), b.bytes().end());
    return make_ready_io();
  }));
  for (unsigned q = 0; q < pairs(); ++q) ASSERT_TRUE(rig_.loop.run_until(rig_.netif->queue(q).write(rig_.frame(100, q))));
  for (unsigned i = 0; i < 100000 && own.size() + rest.size() < pairs(); ++i) rig_.loop.run_once();
  EXPECT_EQ(own.size(), 1u);
  EXPECT_EQ(rest.size(), pairs() - 1);
  // A second listen on a queue that has one is refused; the first keeps running.
  auto again = rig_.loop.run_until(rig_.netif->queue(0).listen([](Buffer) { return make_ready_io(); }));
  EXPECT_FALSE(again);
  rig_.loop.run_until(rig_.netif->disconnect());
  for (auto& l : listens_) {
    ASSERT_TRUE(l.ready());
    EXPECT_TRUE(l.get());
  }
  own.clear();
  rest.clear();
}

TEST_P(MultiQueueTest, QueueBeyondThePairsIsAnErrorNamingIt) {
  auto w = rig_.loop.run_until(rig_.netif->queue(pairs()).write(rig_.frame(64, 0)));
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message().find("no queue pair " + std::to_string(pairs())), std::string::npos) << w.error().to_string();
  auto l = rig_.loop.run_until(rig_.netif->queue(pairs()).listen([](Buffer) { return make_ready_io(); }));
  EXPECT_FALSE(l);
}

TEST_P(MultiQueueTest, DeviceResetTurnsThePairsOnAgain) {  // A13 with multi-queue
  rig_.device->faults().needs_reset = true;
  for (unsigned i = 0; i < 10000 && rig_.device->counters().resets < 2; ++i) rig_.loop.run_once();
  rig_.run_rounds(10000);
  EXPECT_EQ(rig_.device->active_pairs(), pairs());
  std::size_t got = 0;
  for (unsigned q = 0; q < pairs(); ++q)
    listens_.push_back(rig_.netif->queue(q).listen([&](Buffer) {
      ++got;
      return make_ready_io();
    }));
  for (unsigned q = 0; q < pairs(); ++q) ASSERT_TRUE(rig_.loop.run_until(rig_.netif->queue(q).write(rig_.frame(80, q))));
  for (unsigned i = 0; i < 100000 && got < pairs(); ++i) rig_.loop.run_once();
  EXPECT_EQ(got, pairs());
}

std::string case_name(const ::testing::TestParamInfo<MultiQueueCase>& info) {
  std::string n;
  for (char c : std::string(info.param.id).substr(5)) n += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return n + "_of_" + std::to_string(info.param.device_pairs);
}

INSTANTIATE_TEST_SUITE_P(Layouts, MultiQueueTest,
                         ::testing::Values(MultiQueueCase{"loop:split,queues=1", 1}, MultiQueueCase{"loop:split,queues=1", 4},
                                           MultiQueueCase{"loop:split,queues=2", 2}, MultiQueueCase{"loop:split,queues=4", 4},
                                           MultiQueueCase{"loop:packed,queues=4", 8},
                                           MultiQueueCase{"loop:packed,in_order=on,queues=3", 3},
                                           MultiQueueCase{"loop:split,in_order=on,event_idx=off,queues=2", 2}),
                         case_name);

TEST(MultiQueueBringUpTest, MorePairsThanTheDeviceHasIsAClearError) {
  LoopRig rig;
  auto r = rig.open("loop:queues=4", {}, 2);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("4 queue pairs asked for, but the device has at most 2"), std::string::npos)
      << r.error().to_string();
}

TEST(MultiQueueBringUpTest, MorePairsFromADeviceWithoutMultiqueueIsAClearError) {
  LoopRig rig;
  auto r = rig.open("loop:queues=2", {}, 1);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("offers no multiqueue"), std::string::npos) << r.error().to_string();
}

TEST(MultiQueueListenTest, AQueueNobodyListensOnCountsItsFramesAsDrops) {
  LoopRig rig;
  ASSERT_TRUE(rig.open("loop:queues=2"));
  auto listening = rig.netif->queue(0).listen([](Buffer) { return make_ready_io(); });
  ASSERT_TRUE(rig.loop.run_until(rig.netif->queue(1).write(rig.frame(100, 1))));
  for (unsigned i = 0; i < 100000 && rig.netif->queue(1).get_stats_counters().rx_pkts == 0; ++i) rig.loop.run_once();
  EXPECT_EQ(rig.netif->queue(1).get_stats_counters().rx_pkts, 1u);
  EXPECT_EQ(rig.netif->queue(1).get_stats_counters().rx_drops, 1u);
  rig.loop.run_until(rig.netif->disconnect());
  EXPECT_EQ(rig.rx_pool_in_use(), 0u) << "the dropped frame was not freed";
}

TEST(MultiQueueBringUpTest, ConnectByIdGivesEveryPair) {
  runtime::EventLoop loop;
  auto r = loop.run_until(Netif::connect("loop:packed,queues=3"));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->queue_pairs(), 3u);
  loop.run_until(r->disconnect());
}

}  // namespace
}  // namespace netfront
