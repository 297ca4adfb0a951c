// A misbehaving device, row by row of the checklist in docs/reliability.md (sections A, B, C):
// each test makes the in-process device break one rule and checks netfront does what the row
// says: a clear error or a counted drop, the queue marked broken where it must be, nothing
// leaked, no crash, no hang.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <thread>
#include <memory>

#include <rte_malloc.h>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/transport/vhost_user/memory_table.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "loop_harness.hpp"
#include "runtime/device_memory.hpp"
#include "runtime/mbuf_pool.hpp"

namespace netfront {
namespace {

using testing::LoopRig;

// Sends `n` frames (seeds from `first_seed`) and runs until they are back or the loop gave up.
void send_and_wait(LoopRig& rig, unsigned n, unsigned first_seed, std::size_t len = 100) {
  const std::size_t want = rig.received.size() + n;
  for (unsigned i = 0; i < n; ++i) {
    Result<> w = rig.netif->write(rig.frame(len, first_seed + i)).get();
    ASSERT_TRUE(w) << w.error().to_string();
  }
  rig.run_until_received(want, 200000);
}

// After a device broke ring rule `rule`: the application sees Disconnected, the error is
// counted, the rule named is the one broken, and disconnect still gives every buffer back.
void expect_broken_and_clean(LoopRig& rig, virtio::ring::RingError rule) {
  rig.run_rounds(100);
  EXPECT_EQ(rig.driver->broken_by(), rule) << virtio::ring::describe(rig.driver->broken_by());
  EXPECT_FALSE(rig.netif->link_up());
  Result<> w = rig.netif->write(rig.frame(60, 0)).get();
  ASSERT_FALSE(w);
  EXPECT_TRUE(w.error().is_disconnected());
  // Not a device that went away: one that broke the rules, and the application can tell.
  EXPECT_EQ(w.error().cause(), Error::Cause::DeviceFault) << w.error().to_string();
  EXPECT_GE(rig.netif->get_stats_counters().device_errors, 1u);
  rig.loop.run_until(rig.netif->disconnect());
  rig.received.clear();
  EXPECT_EQ(rig.pool->in_use(), 0u);
  EXPECT_EQ(rig.rx_pool_in_use(), 0u);
}

class RingFaultTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(rig_.open(GetParam()));
    rig_.listen();
    send_and_wait(rig_, 10, 0);  // healthy first
    ASSERT_EQ(rig_.received.size(), 10u);
  }
  LoopRig rig_;
};

// A driver only looks at used entries while it has chains in flight (§2.8.7: it polls the
// next slot it expects), so these faults are injected with several frames outstanding.
void write_burst(LoopRig& rig, unsigned n) {
  for (unsigned i = 0; i < n; ++i) (void)rig.netif->write(rig.frame(100, i));  // may wait: not awaited
}

TEST_P(RingFaultTest, UsedIdOutOfRangeMarksQueueBroken) {  // B1
  rig_.device->faults().used_id_out_of_range = true;
  write_burst(rig_, 5);
  expect_broken_and_clean(rig_, virtio::ring::RingError::IdOutOfRange);
}

// A chain completed twice: on a packed ring the second used descriptor names a chain no longer
// in flight; on a split ring the used index has moved past what is in flight first (B3).
TEST_P(RingFaultTest, DoubleCompletionMarksQueueBroken) {  // B2
  rig_.device->faults().used_id_not_outstanding = true;
  write_burst(rig_, 5);
  expect_broken_and_clean(rig_, rig_.netif->id().loop().packed ? virtio::ring::RingError::IdNotOutstanding
                                                                : virtio::ring::RingError::UsedIndexJump);
}

TEST_P(RingFaultTest, UsedIndexJumpOrBadPackedFlagsMarkQueueBroken) {  // B3 (split), B5 (packed)
  rig_.device->faults().used_index_jump = true;
  write_burst(rig_, 5);
  expect_broken_and_clean(rig_, rig_.netif->id().loop().packed ? virtio::ring::RingError::PackedFlagsInvalid
                                                             : virtio::ring::RingError::UsedIndexJump);
}

// B6 (§2.7.9): in order, one used entry may complete every chain up to the one it names, but
// no more chains than the used index moved by: a device naming the fifth chain while moving
// the index by one is broken, and the chains it did not say it used are not taken.
TEST(InOrderFaultTest, BatchLongerThanTheUsedIndexMovedMarksQueueBroken) {  // B6
  LoopRig rig;
  ASSERT_TRUE(rig.open("loop:split,in_order=on"));
  rig.listen();
  send_and_wait(rig, 10, 0);
  ASSERT_EQ(rig.received.size(), 10u);
  rig.device->faults().in_order_batch_overreach = true;
  write_burst(rig, 5);
  expect_broken_and_clean(rig, virtio::ring::RingError::InOrderBatchInvalid);
}

TEST_P(RingFaultTest, DeviceRewritingPostedDescriptorsChangesNothing) {  // B4
  for (unsigned i = 0; i < 20; ++i) {
    rig_.device->faults().scribble_descriptors = true;
    send_and_wait(rig_, 1, 100 + i);
  }
  ASSERT_EQ(rig_.received.size(), 30u);
  for (unsigned i = 0; i < 20; ++i) EXPECT_EQ(rig_.received[10 + i], LoopRig::expected(100, 100 + i));
  EXPECT_EQ(rig_.netif->get_stats_counters().device_errors, 0u);
  rig_.loop.run_until(rig_.netif->disconnect());
  rig_.received.clear();
  EXPECT_EQ(rig_.pool->in_use(), 0u);  // completion used our records, not the scribbled table
}

TEST_P(RingFaultTest, FailedDoorbellMarksQueueBroken) {  // B9
  rig_.device->faults().notify_fails = true;
  for (unsigned i = 0; i < 40; ++i) (void)rig_.netif->write(rig_.frame(100, i));  // may wait: not awaited
  expect_broken_and_clean(rig_, virtio::ring::RingError::NotifyFailed);
}

TEST_P(RingFaultTest, TransmitUsedLengthIsIgnored) {  // C3
  rig_.device->faults().tx_used_len_garbage = true;
  send_and_wait(rig_, 50, 200);
  EXPECT_EQ(rig_.received.size(), 60u);
  EXPECT_EQ(rig_.netif->get_stats_counters().device_errors, 0u);
}

TEST_P(RingFaultTest, ReceiveLengthBeyondPostedIsDroppedAndCounted) {  // C1
  rig_.device->faults().rx_len_too_long = true;
  send_and_wait(rig_, 5, 300);
  ASSERT_EQ(rig_.received.size(), 14u);  // the bad one is gone, the next four arrive
  EXPECT_EQ(rig_.received[10], LoopRig::expected(100, 301));
  const Stats s = rig_.netif->get_stats_counters();
  EXPECT_EQ(s.rx_drops, 1u);
  EXPECT_EQ(s.device_errors, 1u);
}

TEST_P(RingFaultTest, FrameBeyondTheMtuIsDroppedAndCounted) {  // C1 (the device's own MTU)
  rig_.received.clear();
  rig_.netif->reset_stats_counters();
  std::vector<std::byte> big(1600, std::byte{0x5a});
  ASSERT_TRUE(rig_.device->inject(0, big));
  std::vector<std::byte> fits(1514, std::byte{0x5b});
  ASSERT_TRUE(rig_.device->inject(0, fits));
  rig_.run_until_received(1);
  rig_.run_rounds(100);
  ASSERT_EQ(rig_.received.size(), 1u);
  EXPECT_EQ(rig_.received[0], fits);
  const Stats s = rig_.netif->get_stats_counters();
  EXPECT_EQ(s.rx_drops, 1u);
  EXPECT_EQ(s.rx_length_errors, 1u);  // what the wire sent, not a fault of the device
  EXPECT_EQ(s.device_errors, 0u);
}

TEST_P(RingFaultTest, ShortReceiveIsDroppedAndCounted) {  // C2
  rig_.device->faults().rx_len_too_short = true;
  send_and_wait(rig_, 5, 400);
  ASSERT_EQ(rig_.received.size(), 14u);
  for (unsigned i = 0; i < 4; ++i) EXPECT_EQ(rig_.received[10 + i], LoopRig::expected(100, 401 + i));
  EXPECT_EQ(rig_.netif->get_stats_counters().rx_drops, 1u);
  EXPECT_EQ(rig_.netif->get_stats_counters().rx_length_errors, 1u);
}

TEST_P(RingFaultTest, DeviceStallNeverHangsAndDisconnectStillCleansUp) {  // F10-like, E5
  rig_.device->faults().stall = true;
  std::vector<io<Result<>>> writes;
  for (unsigned i = 0; i < 1000; ++i) writes.push_back(rig_.netif->write(rig_.frame(100, i)));
  rig_.run_rounds(1000);
  rig_.loop.run_until(rig_.netif->disconnect());
  rig_.run_rounds(2);
  for (auto& w : writes) ASSERT_TRUE(w.ready());
  rig_.received.clear();
  EXPECT_EQ(rig_.pool->in_use(), 0u);
  EXPECT_EQ(rig_.rx_pool_in_use(), 0u);
}

// F10: a device that stops completing transmits while the connection lives. The watchdog
// counts the stall and fails the writers waiting for room, so no write waits much longer than
// the watchdog period; when the device moves again, so does traffic.
TEST(TransmitWatchdogTest, StalledDeviceFailsWaitingWritesThenTrafficResumes) {  // F10
  for (const char* id : {"loop:split", "loop:packed"}) {
    LoopRig rig;
    virtio::net::DeviceOptions o;
    o.tx_stall_timeout = std::chrono::milliseconds(100);
    ASSERT_TRUE(rig.open(id, {}, 0, o));
    rig.listen();
    rig.device->faults().stall = true;
    std::vector<io<Result<>>> writes;
    for (unsigned i = 0; i < 600; ++i) writes.push_back(rig.netif->write(rig.frame(100, i)));
    const auto start = std::chrono::steady_clock::now();
    auto pending = [&] { return std::count_if(writes.begin(), writes.end(), [](auto& w) { return w.pending(); }); };
    while (pending() > 0 && std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) rig.loop.run_once();
    ASSERT_EQ(pending(), 0) << id << ": writes still waiting on a stalled device";
    unsigned stalled = 0;
    for (auto& w : writes) {
      Result<> r = w.get();
      if (!r) {
        EXPECT_NE(r.error().message().find("transmit stalled"), std::string::npos) << r.error().to_string();
        ++stalled;
      }
    }
    EXPECT_GT(stalled, 0u) << id;
    EXPECT_EQ(rig.netif->get_stats_counters().tx_stalls, 1u) << id;
    EXPECT_TRUE(rig.netif->link_up());  // degraded, not down

    rig.device->faults().stall = false;  // the device moves again: what was in flight drains
    rig.run_rounds(20000);
    rig.received.clear();
    send_and_wait(rig, 20, 700);
    ASSERT_EQ(rig.received.size(), 20u) << id;
    EXPECT_EQ(rig.received[19], LoopRig::expected(100, 719)) << id;
    EXPECT_EQ(rig.netif->get_stats_counters().tx_stalls, 1u) << id;
    rig.loop.run_until(rig.netif->disconnect());
  }
}

// F10: 600 frames (beyond the ring: writers wait for room too) through a device on `id` that
// loses the doorbell `fault` names once, with a stall limit of 200 ms. Every write completes
// and every frame arrives, in order, before a stall is declared; the fault did fire. `stats`:
// the counters after.
void expect_nothing_lost_to_a_lost_doorbell(const char* id, bool virtio::transport::loop::LoopFaults::*fault, Stats& stats) {
  LoopRig rig;
  virtio::net::DeviceOptions o;
  o.tx_stall_timeout = std::chrono::milliseconds(200);
  ASSERT_TRUE(rig.open(id, {}, 0, o));
  rig.listen();
  rig.device->faults().*fault = true;
  constexpr unsigned kFrames = 600;
  std::vector<io<Result<>>> writes;
  for (unsigned i = 0; i < kFrames; ++i) writes.push_back(rig.netif->write(rig.frame(100, i)));
  const auto start = std::chrono::steady_clock::now();
  while (rig.received.size() < kFrames && std::chrono::steady_clock::now() - start < std::chrono::seconds(20))
    rig.loop.run_once();
  ASSERT_EQ(rig.received.size(), kFrames) << id << ": frames held by a device waiting for its doorbell";
  for (unsigned i = 0; i < kFrames; ++i) {
    ASSERT_TRUE(writes[i].ready()) << id;
    Result<> r = writes[i].get();
    ASSERT_TRUE(r) << id << ": " << r.error().to_string();
    ASSERT_EQ(rig.received[i], LoopRig::expected(100, i)) << id << ": frame " << i;
  }
  stats = rig.netif->get_stats_counters();
  EXPECT_EQ(stats.tx_stalls, 0u) << id << ": reminded before the stall limit";
  EXPECT_FALSE(rig.device->faults().*fault) << id << ": the fault never fired";
  rig.loop.run_until(rig.netif->disconnect());
}

// A device that waits for a transmit doorbell the suppression rules let the driver skip (its
// event index left behind what it took): the watchdog's look rings it again, counted. A packed
// ring never suppresses in the model, so there the doorbell is rung anyway.
TEST(TransmitWatchdogTest, DeviceWaitingForADoorbellItNeverAskedForIsRemindedAndNothingIsLost) {  // F10
  for (const char* id : {"loop:split", "loop:split,in_order=on", "loop:packed"}) {
    Stats s;
    expect_nothing_lost_to_a_lost_doorbell(id, &virtio::transport::loop::LoopFaults::tx_loses_doorbell, s);
    if (std::string_view(id).starts_with("loop:split")) {
      EXPECT_GE(s.tx_renotified, 1u) << id;
    }
  }
}

// The same on the receive side: a device that fills no receive buffer until a receive doorbell
// the driver was never asked for. Echoed frames wait on the transmit ring meanwhile; the
// receive reminder brings them all.
TEST(TransmitWatchdogTest, DeviceWaitingForAReceiveDoorbellIsRemindedAndNothingIsLost) {  // F10
  for (const char* id : {"loop:split", "loop:split,in_order=on", "loop:packed"}) {
    Stats s;
    expect_nothing_lost_to_a_lost_doorbell(id, &virtio::transport::loop::LoopFaults::rx_loses_doorbell, s);
  }
}

// F10: a device that keeps completing what it is sent is never reminded, however often the
// watchdog looks: two looks are at least a clock check (several polls) apart, and in each poll
// between them the device took something.
TEST(TransmitWatchdogTest, HealthyBusyDeviceIsNeverReminded) {  // F10
  for (const char* id : {"loop:split", "loop:split,in_order=on", "loop:packed"}) {
    LoopRig rig;
    virtio::net::DeviceOptions o;
    o.tx_stall_timeout = std::chrono::milliseconds(40);  // a look every 10 ms
    ASSERT_TRUE(rig.open(id, {}, 0, o));
    rig.listen();
    bool stop = false;
    io<void> sender = [](LoopRig& r, const bool& stop) -> io<void> {
      for (unsigned i = 0; !stop; ++i) (void)co_await r.netif->write(r.frame(64, i));
    }(rig, stop);
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(300)) {
      rig.loop.run_once();
      if (rig.received.size() > 4096) rig.received.clear();
    }
    stop = true;
    for (unsigned i = 0; i < 100000 && !sender.ready(); ++i) rig.loop.run_once();
    ASSERT_TRUE(sender.ready()) << id;
    const Stats s = rig.netif->get_stats_counters();
    EXPECT_GT(s.tx_pkts, 1000u) << id << ": not busy";
    EXPECT_EQ(s.tx_renotified, 0u) << id << ": a healthy device was reminded";
    EXPECT_EQ(s.tx_stalls, 0u) << id;
    rig.received.clear();
    rig.loop.run_until(rig.netif->disconnect());
  }
}

// F10 with B1: a ring the device broke is not reminded. The watchdog's own reclaim (the first
// thing its look does) is made the first to read the device's bad used entry: each round
// starts with a write, so the pair's poll leaves completions alone (TxQueue::reclaim_due).
TEST(TransmitWatchdogTest, ARingTheDeviceBrokeIsNotReminded) {  // F10, B1
  LoopRig rig;
  virtio::net::DeviceOptions o;
  o.tx_stall_timeout = std::chrono::milliseconds(400);  // looks every 100 ms
  ASSERT_TRUE(rig.open("loop:split", {}, 0, o));
  rig.listen();
  send_and_wait(rig, 10, 0);
  ASSERT_EQ(rig.received.size(), 10u);
  rig.device->faults().stall = true;
  for (unsigned i = 0; i < 5; ++i) (void)rig.netif->write(rig.frame(100, 20 + i));
  const auto start = std::chrono::steady_clock::now();
  while (rig.netif->get_stats_counters().tx_renotified == 0 && std::chrono::steady_clock::now() - start < std::chrono::seconds(5))
    rig.loop.run_once();
  ASSERT_GE(rig.netif->get_stats_counters().tx_renotified, 1u) << "no look reminded the stalled device";
  // The device completes what it holds, the first chain under an id out of range (B1).
  rig.device->faults().stall = false;
  rig.device->faults().used_id_out_of_range = true;
  unsigned seed = 100;
  for (unsigned i = 0; i < 2; ++i) {
    (void)rig.netif->write(rig.frame(100, seed++));
    rig.loop.run_once();
  }
  rig.device->faults().stall = true;
  ASSERT_FALSE(rig.device->faults().used_id_out_of_range) << "the device never completed";
  ASSERT_EQ(rig.driver->broken_by(), virtio::ring::RingError::None) << "found by the poll, not by the look";
  const std::uint64_t reminded = rig.netif->get_stats_counters().tx_renotified;
  const std::uint64_t doorbells = rig.device->counters().notifications;
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // the next look is due
  for (unsigned i = 0; i < 64 && rig.driver->broken_by() == virtio::ring::RingError::None; ++i) {
    (void)rig.netif->write(rig.frame(100, seed++));
    rig.loop.run_once();
  }
  ASSERT_EQ(rig.driver->broken_by(), virtio::ring::RingError::IdOutOfRange);
  EXPECT_EQ(rig.netif->get_stats_counters().tx_renotified, reminded) << "the reminder rang a transmit ring the device broke";
  EXPECT_EQ(rig.device->counters().notifications, doorbells) << "a doorbell rang on a ring the device broke";
  rig.loop.run_until(rig.netif->disconnect());
}

TEST_P(RingFaultTest, DeviceNeedsResetIsRecoveredAndTrafficResumes) {  // A13
  const auto resets = rig_.device->counters().resets;
  rig_.device->faults().needs_reset = true;
  rig_.run_rounds(10000);  // past a status check
  EXPECT_GT(rig_.device->counters().resets, resets);
  EXPECT_TRUE(rig_.netif->link_up());
  send_and_wait(rig_, 10, 500);
  ASSERT_EQ(rig_.received.size(), 20u);
  for (unsigned i = 0; i < 10; ++i) EXPECT_EQ(rig_.received[10 + i], LoopRig::expected(100, 500 + i));
}

// A12: a device that never completes a reset. Cut off from our memory (bus mastering off),
// it gives every buffer back at disconnect.
TEST_P(RingFaultTest, DeviceNeverCompletingResetIsCutOffAndItsBuffersComeBack) {  // A12
  rig_.device->faults().reset_never_completes = true;
  rig_.loop.run_until(rig_.netif->disconnect());
  rig_.received.clear();
  EXPECT_EQ(rig_.pool->in_use(), 0u);
  EXPECT_EQ(rig_.rx_pool_in_use(), 0u);
  EXPECT_FALSE(rig_.device->inject(0, LoopRig::expected(60, 1)));  // it reaches nothing now
}

// A12: a device that can be neither reset nor cut off keeps the rings and buffers it was given
// for the life of the process, so these tests leave that memory behind on purpose. Their
// suite's name tells meson to run each case in a process of its own (test/unit/meson.build)
// and the memory check of dpdk_main.cpp to let them.
class AbandonedDeviceTest : public RingFaultTest {};

// A12: if nothing can cut it off, it keeps what it was given: buffers that went back to a pool
// would be handed out again while the device writes into them.
TEST_P(AbandonedDeviceTest, DeviceThatCannotBeCutOffKeepsItsRingsAndBuffersForGood) {  // A12
  rig_.device->faults().stall = true;
  write_burst(rig_, 5);
  rig_.run_rounds(100);
  const unsigned posted = rig_.rx_pool_in_use();
  ASSERT_GT(posted, 0u);
  ASSERT_EQ(rig_.pool->in_use(), 5u);
  rig_.device->faults().reset_never_completes = true;
  rig_.device->faults().dma_not_revocable = true;
  rig_.loop.run_until(rig_.netif->disconnect());
  EXPECT_EQ(rig_.pool->in_use(), 5u);        // frames it may still read
  EXPECT_EQ(rig_.rx_pool_in_use(), posted);  // buffers it may still write
  EXPECT_EQ(rig_.netif->get_stats_counters().tx_drops, 5u);

  // And it does: the five frames it held come back into the receive buffers it was given,
  // through the rings it was given, which are still there for it. Nobody is told.
  const auto delivered = rig_.device->counters().rx_frames;
  rig_.device->faults().stall = false;
  rig_.run_rounds(1000);
  EXPECT_EQ(rig_.device->counters().rx_frames, delivered + 5);
  EXPECT_EQ(rig_.received.size(), 10u);
  EXPECT_EQ(rig_.rx_pool_in_use(), posted);
  EXPECT_EQ(rig_.pool->in_use(), 5u);
}

TEST_P(AbandonedDeviceTest, DeviceAskingForAResetItNeverCompletesIsFailed) {  // A12 with A13
  rig_.device->faults().reset_never_completes = true;
  rig_.device->faults().dma_not_revocable = true;
  const unsigned posted = rig_.rx_pool_in_use();
  rig_.device->faults().needs_reset = true;
  rig_.run_rounds(10000);  // past a status check
  EXPECT_FALSE(rig_.netif->link_up());
  Result<> w = rig_.netif->write(rig_.frame(60, 0)).get();
  ASSERT_FALSE(w);
  EXPECT_TRUE(w.error().is_disconnected()) << w.error().to_string();
  rig_.loop.run_until(rig_.netif->disconnect());
  EXPECT_EQ(rig_.rx_pool_in_use(), posted);  // left to the device, never reused
}

// F5: a device (or a restarted backend) that comes back from a reset offering different
// features is not trusted with the old queues: it is failed, and writes say Disconnected.
TEST_P(RingFaultTest, DeviceBackFromResetWithOtherFeaturesIsFailed) {
  rig_.device->faults().withdraw_features = virtio::feature_bit(virtio::VIRTIO_F_EVENT_IDX);
  rig_.device->faults().needs_reset = true;
  rig_.run_rounds(10000);  // past a status check
  Result<> w = rig_.netif->write(rig_.frame(60, 0)).get();
  ASSERT_FALSE(w);
  EXPECT_TRUE(w.error().is_disconnected()) << w.error().to_string();
  rig_.loop.run_until(rig_.netif->disconnect());
  rig_.received.clear();
  EXPECT_EQ(rig_.pool->in_use(), 0u);
  EXPECT_EQ(rig_.rx_pool_in_use(), 0u);
}

TEST_P(RingFaultTest, LinkDownRefusesWritesAndLinkUpRestoresThem) {
  rig_.device->set_link(false);
  rig_.run_rounds(10000);
  EXPECT_FALSE(rig_.netif->link_up());
  Result<> w = rig_.netif->write(rig_.frame(60, 0)).get();
  ASSERT_FALSE(w);
  EXPECT_TRUE(w.error().is_disconnected());
  EXPECT_EQ(w.error().cause(), Error::Cause::DeviceGone) << w.error().to_string();
  rig_.device->set_link(true);
  rig_.run_rounds(10000);
  EXPECT_TRUE(rig_.netif->link_up());
  send_and_wait(rig_, 3, 600);
  EXPECT_EQ(rig_.received.size(), 13u);
}

const auto kRingLayouts = ::testing::Values("loop:split", "loop:packed", "loop:split,in_order=on", "loop:packed,in_order=on");
std::string layout_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n;
  for (char c : info.param.substr(5)) n += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return n;
}
// The ring faults once more without mergeable buffers: each receive buffer a frame of its own.
INSTANTIATE_TEST_SUITE_P(SplitAndPacked, RingFaultTest,
                         ::testing::Values("loop:split", "loop:packed", "loop:split,in_order=on", "loop:packed,in_order=on",
                                           "loop:split,mrg_rxbuf=off"),
                         layout_name);
INSTANTIATE_TEST_SUITE_P(SplitAndPacked, AbandonedDeviceTest, kRingLayouts, layout_name);

class MergeableFaultTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(rig_.open(GetParam()));
    rig_.listen();
  }
  LoopRig rig_;
};

// C4: a first buffer whose header says its frame takes no buffer, or more buffers than the ring
// holds, says nothing of where the next frame starts: reading on would take some frame's
// middle for a header. The queue stops trusting the device instead.
TEST_P(MergeableFaultTest, NumBuffersZeroMarksQueueBroken) {  // C4
  send_and_wait(rig_, 2, 0);
  ASSERT_EQ(rig_.received.size(), 2u);
  rig_.device->faults().rx_num_buffers_zero = true;
  send_and_wait(rig_, 2, 10);
  EXPECT_EQ(rig_.received.size(), 2u);
  expect_broken_and_clean(rig_, virtio::ring::RingError::FramingLost);
}

TEST_P(MergeableFaultTest, NumBuffersBeyondTheRingMarksQueueBroken) {  // C4
  send_and_wait(rig_, 2, 0);
  rig_.device->faults().rx_num_buffers_too_many = true;  // 1000, the ring holds 256
  send_and_wait(rig_, 2, 20);
  EXPECT_EQ(rig_.received.size(), 2u);
  expect_broken_and_clean(rig_, virtio::ring::RingError::FramingLost);
}

TEST_P(MergeableFaultTest, FirstBufferShorterThanTheHeaderMarksQueueBroken) {  // C4
  send_and_wait(rig_, 2, 0);
  rig_.device->faults().rx_len_without_header = true;  // num_buffers was never written
  send_and_wait(rig_, 2, 30);
  EXPECT_EQ(rig_.received.size(), 2u);
  expect_broken_and_clean(rig_, virtio::ring::RingError::FramingLost);
}

// C1 with C4: a frame whose first buffer claims more than was posted is dropped with all its
// buffers; the frames after it arrive intact and nothing else does.
TEST_P(MergeableFaultTest, FirstBufferTooLongDropsTheWholeFrame) {  // C1, C4
  rig_.device->faults().rx_chunk = 40;  // 12 + 100 bytes: three buffers a frame
  rig_.device->faults().rx_len_too_long = true;
  send_and_wait(rig_, 4, 40);
  ASSERT_EQ(rig_.received.size(), 3u);
  for (unsigned i = 0; i < 3; ++i) EXPECT_EQ(rig_.received[i], LoopRig::expected(100, 41 + i));
  const Stats s = rig_.netif->get_stats_counters();
  EXPECT_EQ(s.rx_drops, 1u);
  EXPECT_EQ(s.device_errors, 1u);
  rig_.loop.run_until(rig_.netif->disconnect());
  rig_.received.clear();
  EXPECT_EQ(rig_.rx_pool_in_use(), 0u);
}

// C1: a frame longer than MTU + 14 whose first buffer alone is within it (buffers filled to
// 1000 bytes each): it is the merged length that goes past the MTU, and the frame is dropped
// whole, though each piece would fit the first buffer's room.
TEST_P(MergeableFaultTest, MergedFrameBeyondTheMtuIsDroppedWhole) {  // C1
  rig_.device->faults().rx_chunk = 1000;
  const std::vector<std::byte> big(1600, std::byte{0x42});
  ASSERT_TRUE(rig_.device->inject(0, big));
  send_and_wait(rig_, 2, 70, 1514);
  ASSERT_EQ(rig_.received.size(), 2u);
  for (unsigned i = 0; i < 2; ++i) EXPECT_EQ(rig_.received[i], LoopRig::expected(1514, 70 + i));
  const Stats s = rig_.netif->get_stats_counters();
  EXPECT_EQ(s.rx_drops, 1u);
  EXPECT_EQ(s.rx_length_errors, 1u);
  EXPECT_EQ(s.device_errors, 0u);
}

TEST_P(MergeableFaultTest, FollowerTooLongDropsTheWholeFrame) {  // C1, C4
  rig_.device->faults().rx_chunk = 40;
  rig_.device->faults().rx_follower_len_too_long = true;
  send_and_wait(rig_, 4, 50);
  ASSERT_EQ(rig_.received.size(), 3u);
  for (unsigned i = 0; i < 3; ++i) EXPECT_EQ(rig_.received[i], LoopRig::expected(100, 51 + i));
  const Stats s = rig_.netif->get_stats_counters();
  EXPECT_EQ(s.rx_drops, 1u);
  EXPECT_EQ(s.device_errors, 1u);
}

// A frame longer than the MTU allows, spread over several buffers by an honest device (a
// jumbo frame from the wire; a vhost-user backend does not know our MTU): it is dropped
// whole. Its later buffers hold bytes the sender chose, here each laid out as a virtio-net
// header (num_buffers 1) and an Ethernet frame to a MAC of the sender's choice; none of them
// may come out as a frame.
TEST_P(MergeableFaultTest, JumboFrameIsDroppedWholeAndNothingInsideItIsDelivered) {  // C1, C4
  const std::size_t posted = rte_pktmbuf_data_room_size(rig_.driver->rx_pool()) - RTE_PKTMBUF_HEADROOM + 12;
  std::vector<std::byte> jumbo(9000, std::byte{0x11});
  // The frame's byte at offset o lands at offset 12 + o of the stream of buffers; buffer k >= 1
  // starts at stream offset k * posted.
  unsigned planted = 0;
  for (std::size_t k = 1; k * posted + 12 + 64 <= 12 + jumbo.size(); ++k, ++planted) {
    std::byte* at = jumbo.data() + k * posted - 12;
    std::memset(at, 0, 12);
    at[10] = std::byte{1};  // num_buffers = 1
    for (unsigned i = 0; i < 6; ++i) at[12 + i] = std::byte{0xee};  // the smuggled frame's MAC
  }
  ASSERT_GE(planted, 3u);
  ASSERT_TRUE(rig_.device->inject(0, jumbo));
  send_and_wait(rig_, 3, 60, 64);
  for (const auto& f : rig_.received) EXPECT_NE(f[0], std::byte{0xee}) << "a frame from inside the jumbo frame";
  ASSERT_EQ(rig_.received.size(), 3u);
  for (unsigned i = 0; i < 3; ++i) EXPECT_EQ(rig_.received[i], LoopRig::expected(64, 60 + i));
  const Stats s = rig_.netif->get_stats_counters();
  EXPECT_EQ(s.rx_drops, 1u);
  EXPECT_EQ(s.rx_length_errors, 1u);
  EXPECT_EQ(s.device_errors, 0u);
  EXPECT_TRUE(rig_.netif->link_up());
}

TEST_P(MergeableFaultTest, FramesSpreadOverPartlyFilledBuffersAreReassembled) {  // C5
  rig_.device->faults().rx_chunk = 100;  // every buffer gets at most 100 bytes
  for (std::size_t len : {14, 60, 88, 89, 200, 1000, 1514}) send_and_wait(rig_, 1, static_cast<unsigned>(len), len);
  ASSERT_EQ(rig_.received.size(), 7u);
  std::size_t i = 0;
  for (std::size_t len : {14, 60, 88, 89, 200, 1000, 1514})
    EXPECT_EQ(rig_.received[i++], LoopRig::expected(len, static_cast<unsigned>(len))) << len;
  EXPECT_EQ(rig_.netif->get_stats_counters().rx_drops, 0u);
  rig_.loop.run_until(rig_.netif->disconnect());
  rig_.received.clear();
  EXPECT_EQ(rig_.rx_pool_in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(SplitAndPacked, MergeableFaultTest, ::testing::Values("loop:split", "loop:packed"),
                         [](const auto& info) { return std::string(info.param.substr(5)); });

// --- bring-up faults (section A)

// Whether, after the status write at `from`, the device was reset and then told FAILED (§3.1.1:
// "set the FAILED status bit" on a failure; the reset first, so it stops using our memory),
// with no DRIVER_OK in between. What comes after (a reset as the driver lets go) is allowed.
bool failed_after(const std::vector<std::uint8_t>& log, std::size_t from) {
  for (std::size_t i = from + 1; i + 1 < log.size(); ++i) {
    if (log[i] & virtio::VIRTIO_CONFIG_S_DRIVER_OK) return false;
    if (log[i] == 0 && log[i + 1] == virtio::VIRTIO_CONFIG_S_FAILED) return true;
  }
  return false;
}

// A1 (§3.1.1 step 6): the driver re-reads the status after setting FEATURES_OK; a device that
// did not keep it is failed, and never told DRIVER_OK.
TEST(BringUpFaultTest, DeviceRefusingFeaturesOkFailsConnectClearly) {  // A1
  LoopRig rig;
  auto log = std::make_shared<std::vector<std::uint8_t>>();
  auto r = rig.open("loop:", [&](auto& d) {
    d.faults().reject_features_ok = true;
    d.faults().status_log = log;
  });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("did not accept features"), std::string::npos) << r.error().message();
  using namespace virtio;
  const std::uint8_t asked = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
  const auto at = std::find(log->begin(), log->end(), asked);
  ASSERT_NE(at, log->end()) << "FEATURES_OK was never asked for";
  EXPECT_TRUE(failed_after(*log, static_cast<std::size_t>(at - log->begin())));
  for (std::uint8_t s : *log) EXPECT_FALSE(s & VIRTIO_CONFIG_S_DRIVER_OK) << "DRIVER_OK for a device that refused";
}

TEST(BringUpFaultTest, DeviceNeverCompletingResetFailsConnectClearly) {  // A12
  LoopRig rig;
  auto r = rig.open("loop:", [](auto& d) { d.faults().reset_never_completes = true; });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("did not complete its reset"), std::string::npos) << r.error().message();
}

TEST(BringUpFaultTest, ModernInterfaceWithoutVersion1IsRefused) {  // A3
  LoopRig rig;
  auto r = rig.open("loop:", [](auto& d) { d.faults().no_version_1 = true; });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("VIRTIO_F_VERSION_1"), std::string::npos);
}

TEST(BringUpFaultTest, DeviceWithoutAccessPlatformBehindAnIommuIsRefused) {  // A3
  LoopRig rig;
  virtio::net::DeviceOptions o;
  o.access_platform = true;  // what the VFIO path asks for
  auto r = rig.open("loop:", {}, 0, o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("VIRTIO_F_ACCESS_PLATFORM, required behind an IOMMU"), std::string::npos)
      << r.error().message();
}

TEST(BringUpFaultTest, UnsettledConfigGenerationFailsConnectClearly) {  // A8
  LoopRig rig;
  auto r = rig.open("loop:", [](auto& d) { d.faults().unstable_config_generation = true; });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("never settled"), std::string::npos);
}

TEST(BringUpFaultTest, MqWithoutCtrlVqIsNotNegotiated) {  // A2
  {
    LoopRig rig;
    ASSERT_TRUE(rig.open("loop:", [](auto& d) { d.faults().mq_without_ctrl_vq = true; }, 4));
    EXPECT_FALSE(virtio::has_feature(rig.driver->features(), virtio::net::VIRTIO_NET_F_MQ));
    EXPECT_FALSE(virtio::has_feature(rig.driver->features(), virtio::net::VIRTIO_NET_F_CTRL_VQ));
    rig.loop.run_until(rig.netif->disconnect());
  }
  LoopRig rig;
  auto r = rig.open("loop:queues=2", [](auto& d) { d.faults().mq_without_ctrl_vq = true; }, 4);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("offers no multiqueue"), std::string::npos) << r.error().message();
}

TEST(BringUpFaultTest, MaxVirtqueuePairsOutOfRangeIsClampedAndRespected) {  // A4
  {
    LoopRig rig;  // 0 pairs reported: treated as 1, so one pair works and two are refused
    ASSERT_TRUE(rig.open("loop:", [](auto& d) { d.faults().max_virtqueue_pairs = 0; }, 2));
    rig.loop.run_until(rig.netif->disconnect());
    LoopRig two;
    auto r = two.open("loop:queues=2", [](auto& d) { d.faults().max_virtqueue_pairs = 0; }, 2);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("at most 1"), std::string::npos) << r.error().message();
  }
  // The spec's largest value, 0x8000, and anything beyond it (clamped to 0x8000) put the
  // control queue at 65536: no 16-bit queue number reaches it, and it must not wrap to queue 0
  // (the first receive queue). One pair is asked for, which the device could serve.
  for (std::uint16_t reported : {std::uint16_t{0x8000}, std::uint16_t{0xffff}}) {
    LoopRig rig;
    auto r = rig.open("loop:", [&](auto& d) { d.faults().max_virtqueue_pairs = reported; }, 2);
    ASSERT_FALSE(r) << reported;
    EXPECT_NE(r.error().message().find("32768 queue pairs would be queue 65536"), std::string::npos) << r.error().message();
    EXPECT_EQ(rig.pool->in_use(), 0u);
  }
}

// A11: each queue is set up with its own size: a device whose queues offer different maxima
// gets no queue larger than that queue's own (the sizes of the last pair once went to all).
TEST(BringUpFaultTest, QueuesOfDifferentMaximaEachGetTheirOwnSize) {
  LoopRig rig;
  ASSERT_TRUE(rig.open("loop:queues=2", [](auto& d) { d.faults().queue_max_sizes = {{0, 64}, {1, 32}}; }));
  rig.listen();
  for (unsigned i = 0; i < 200; ++i) ASSERT_TRUE(rig.loop.run_until(rig.netif->write(rig.frame(60, i))));
  rig.run_until_received(200);
  ASSERT_EQ(rig.received.size(), 200u);
  for (unsigned i = 0; i < 200; ++i) EXPECT_EQ(rig.received[i], LoopRig::expected(60, i)) << i;
  rig.loop.run_until(rig.netif->disconnect());
}

// --- control queue faults (section D)

virtio::net::DeviceOptions short_control_timeout() {
  virtio::net::DeviceOptions o;
  o.control_timeout = std::chrono::milliseconds(100);
  return o;
}

// D1: the wait for an answer is the bound it claims: not cut short (a slow device gets its
// 100 ms), not much longer (bring-up's own work aside), and the device is failed after it.
TEST(ControlQueueFaultTest, CommandNeverAnsweredFailsConnectWithinTheBound) {  // D1
  LoopRig rig;
  auto log = std::make_shared<std::vector<std::uint8_t>>();
  const auto start = std::chrono::steady_clock::now();
  auto r = rig.open("loop:queues=2", [&](auto& d) {
    d.faults().control_no_answer = true;
    d.faults().status_log = log;
  }, 2, short_control_timeout());
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no answer from the device within 100 ms"), std::string::npos) << r.error().message();
  EXPECT_GE(waited, std::chrono::milliseconds(100)) << "gave up before the bound";
  EXPECT_LT(waited, std::chrono::milliseconds(1000)) << "waited far past the bound";
  const auto up = std::find_if(log->begin(), log->end(), [](std::uint8_t s) { return s & virtio::VIRTIO_CONFIG_S_DRIVER_OK; });
  ASSERT_NE(up, log->end());  // the command is sent after DRIVER_OK (§5.1.6.5)
  bool failed = false;
  for (auto i = up + 1; i + 1 < log->end(); ++i) failed = failed || (*i == 0 && *(i + 1) == virtio::VIRTIO_CONFIG_S_FAILED);
  EXPECT_TRUE(failed) << "the device was not reset and failed after the unanswered command";
  EXPECT_EQ(rig.pool->in_use(), 0u);
}

TEST(ControlQueueFaultTest, ErrAckFailsTheCommandAndConnect) {  // D2
  LoopRig rig;
  auto r = rig.open("loop:queues=2", [](auto& d) { d.faults().control_ack = virtio::net::VIRTIO_NET_ERR; }, 2);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("VIRTIO_NET_ERR"), std::string::npos) << r.error().message();
}

TEST(ControlQueueFaultTest, AckThatIsNeitherOkNorErrIsNotTakenAsSuccess) {  // D2
  for (std::uint8_t garbage : {std::uint8_t{2}, std::uint8_t{0x7f}, std::uint8_t{0xff}}) {
    LoopRig rig;
    auto r = rig.open("loop:queues=2", [&](auto& d) { d.faults().control_ack = garbage; }, 2);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("neither OK nor ERR"), std::string::npos) << r.error().message();
  }
}

TEST(ControlQueueFaultTest, PairsBeyondTheDeviceMaximumAreNeverAskedFor) {  // D4
  LoopRig rig;
  auto r = rig.open("loop:queues=3", {}, 2);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("at most 2"), std::string::npos) << r.error().message();
  // Checked before anything is set up: no command ever reached the device.
  EXPECT_EQ(r.error().message().find("control command"), std::string::npos);
}

// A 9014-byte frame is larger than one mbuf of the test pool: five pieces of one frame, and
// the bytes they make.
std::pair<std::vector<Buffer>, std::vector<std::byte>> jumbo_frame(LoopRig& rig, unsigned seed) {
  std::pair<std::vector<Buffer>, std::vector<std::byte>> f;
  for (unsigned p = 0; p < 5; ++p) {
    const std::size_t len = p < 4 ? 1800 : 9014 - 4 * 1800;
    f.first.push_back(rig.frame(len, seed + p));
    auto e = LoopRig::expected(len, seed + p);
    f.second.insert(f.second.end(), e.begin(), e.end());
  }
  return f;
}

TEST(BringUpFaultTest, InvalidMtuIsReplacedAndJumboMtuIsHonoured) {  // A5
  {
    LoopRig rig;
    ASSERT_TRUE(rig.open("loop:", [](auto& d) { d.faults().mtu = 20; }));
    EXPECT_EQ(rig.netif->mtu(), 1500);
    rig.loop.run_until(rig.netif->disconnect());
  }
  LoopRig rig;
  ASSERT_TRUE(rig.open("loop:", [](auto& d) { d.faults().mtu = 9000; }));
  EXPECT_EQ(rig.netif->mtu(), 9000);
  rig.listen();
  auto [pieces, whole] = jumbo_frame(rig, 70);
  ASSERT_TRUE(rig.netif->writev(pieces).get());
  rig.run_until_received(1, 100000);
  ASSERT_EQ(rig.received.size(), 1u);
  EXPECT_EQ(rig.received[0], whole);
  rig.loop.run_until(rig.netif->disconnect());
}

// A jumbo MTU's receive pool fits a small guest's device memory (QEMU's host_mtu=9000 was
// refused at connect by a pool of 8191 9-KiB rooms: 77 MB), and still holds four buffers for
// each receive entry; a standard MTU's keeps its 8191.
TEST(BringUpFaultTest, AJumboMtusReceivePoolIsSizedToTheRingsNotToEightThousandRooms) {
  for (const char* id : {"loop:", "loop:mrg_rxbuf=off", "loop:packed"}) {
    LoopRig rig;
    ASSERT_TRUE(rig.open(id, [](auto& d) { d.faults().mtu = 9000; })) << id;
    const rte_mempool* pool = rig.driver->rx_pool();
    EXPECT_GE(pool->size, 4 * 256 - 1) << id << ": four per entry of its 256-entry ring";
    // The data rooms are device memory beside the pool's elements (mbuf headers only).
    const unsigned room = rte_pktmbuf_data_room_size(const_cast<rte_mempool*>(pool));
    EXPECT_GE(room, 9000u) << id;
    EXPECT_LE(std::uint64_t{pool->size} * room, 20u << 20) << id << ": " << pool->size << " rooms of " << room;
    rig.loop.run_until(rig.netif->disconnect());
  }
  LoopRig standard;
  ASSERT_TRUE(standard.open("loop:"));
  EXPECT_EQ(standard.driver->rx_pool()->size, 8191u);
  standard.loop.run_until(standard.netif->disconnect());
}

// The receive pool is also the one fill-style writes take their frames from (Netif::fill_on),
// and those wait on the transmit rings until the device is done with them: a jumbo MTU's pool,
// held to a data-room budget, must still count the transmit entries, or writes the rings have
// room for are refused. Receive queues of 64 entries and transmit queues of 256 (A11: queues
// of different maxima), and a device slow to complete transmits (legal).
TEST(BringUpFaultTest, AJumboMtusPoolHoldsFillWrittenFramesForEveryTransmitEntry) {
  LoopRig rig;
  ASSERT_TRUE(rig.open("loop:queues=4", [](auto& d) {
    d.faults().mtu = 9000;
    d.faults().queue_max_sizes = {{0, 64}, {2, 64}, {4, 64}, {6, 64}};  // receive queues; transmit queues stay at 256
  }));
  const rte_mempool* pool = rig.driver->rx_pool();
  rig.device->faults().stall = true;
  unsigned accepted = 0;
  std::string first_refusal;
  for (unsigned q = 0; q < 4; ++q)
    for (unsigned i = 0; i < 256; ++i) {
      auto r = rig.loop.run_until(rig.netif->queue(q).write(60, [](Buffer&) { return std::size_t{60}; }));
      if (r) ++accepted;
      else if (first_refusal.empty()) first_refusal = r.error().to_string();
    }
  EXPECT_EQ(accepted, 4u * 256u) << "pool of " << pool->size << " for 4 x 64 receive entries; first refusal: " << first_refusal;
  rig.device->faults().stall = false;
  rig.run_rounds(20000);
  rig.loop.run_until(rig.netif->disconnect());
}

// Where the device says no MTU (vhost-user backends), the id's mtu= is the MTU: 9000-byte
// frames go out and come back whole, on every layout, merged or not.
TEST(JumboMtuTest, TheIdSetsTheMtuWhereTheDeviceSaysNone) {
  for (const char* id : {"loop:mtu=9000", "loop:mrg_rxbuf=off,mtu=9000", "loop:packed,in_order=on,mtu=9000"}) {
    LoopRig rig;
    ASSERT_TRUE(rig.open(id, [](auto& d) { d.faults().withdraw_features = virtio::feature_bit(virtio::net::VIRTIO_NET_F_MTU); })) << id;
    EXPECT_EQ(rig.netif->mtu(), 9000) << id;
    rig.listen();
    auto [pieces, whole] = jumbo_frame(rig, 90);
    ASSERT_TRUE(rig.loop.run_until(rig.netif->writev(pieces))) << id;
    pieces.push_back(rig.frame(1, 99));  // one byte beyond MTU + 14
    EXPECT_EQ(rig.loop.run_until(rig.netif->writev(pieces)).error().kind(), Error::Kind::InvalidLength) << id;
    rig.run_until_received(1, 100000);
    ASSERT_EQ(rig.received.size(), 1u) << id;
    EXPECT_EQ(rig.received[0], whole) << id;
    // A frame from the wire beyond the MTU is still dropped whole.
    rig.received.clear();
    ASSERT_TRUE(rig.device->inject(0, LoopRig::expected(9015, 3)));
    ASSERT_TRUE(rig.device->inject(0, LoopRig::expected(9014, 4)));
    rig.run_until_received(1, 100000);
    rig.run_rounds(100);
    ASSERT_EQ(rig.received.size(), 1u) << id;
    EXPECT_EQ(rig.received[0], LoopRig::expected(9014, 4)) << id;
    EXPECT_EQ(rig.netif->get_stats_counters().rx_length_errors, 1u) << id;
    rig.received.clear();
    rig.loop.run_until(rig.netif->disconnect());
  }
}

// §5.1.4.1: with VIRTIO_NET_F_MTU the device's MTU bounds what may be sent: an id asking for
// more is refused at connect, naming both; one asking for less gets less.
TEST(JumboMtuTest, TheDevicesMtuBoundsWhatTheIdMayAsk) {
  {
    LoopRig rig;
    auto r = rig.open("loop:mtu=9000");  // the loop device says 1500
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().to_string().find("mtu=9000 asked for, but the device's MTU is 1500"), std::string::npos)
        << r.error().to_string();
  }
  LoopRig rig;
  ASSERT_TRUE(rig.open("loop:mtu=1400"));
  EXPECT_EQ(rig.netif->mtu(), 1400);
  EXPECT_EQ(rig.loop.run_until(rig.netif->write(rig.frame(1415, 1))).error().kind(), Error::Kind::InvalidLength);
  rig.listen();
  ASSERT_TRUE(rig.loop.run_until(rig.netif->write(rig.frame(1414, 2))));
  rig.run_until_received(1, 100000);
  EXPECT_EQ(rig.received.size(), 1u);
  rig.received.clear();
  rig.loop.run_until(rig.netif->disconnect());
}

TEST(BringUpFaultTest, ZeroOrMulticastMacBecomesARandomLocalUnicastMac) {  // A6
  for (MacAddress bad : {MacAddress{}, MacAddress{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}}}) {
    LoopRig rig;
    ASSERT_TRUE(rig.open("loop:", [&](auto& d) { d.faults().mac = bad; }));
    const MacAddress mac = rig.netif->mac();
    EXPECT_TRUE(mac.valid_unicast()) << mac.to_string();
    EXPECT_EQ(mac.bytes[0] & 0x02, 0x02) << "locally administered";
    rig.loop.run_until(rig.netif->disconnect());
  }
}

}  // namespace
}  // namespace netfront

// --- what the device can reach: rings and packet data rooms, nothing else

namespace netfront {
namespace {

using runtime::DeviceMemory;

// Every mbuf header of `pool`, field by field, as netfront relies on it.
struct MbufHeader {
  const rte_mbuf* m;
  void* buf_addr;
  rte_iova_t buf_iova;
  std::uint16_t buf_len;
  rte_mempool* pool;
  friend bool operator==(const MbufHeader&, const MbufHeader&) = default;
};
std::vector<MbufHeader> headers_of(rte_mempool* pool) {
  std::vector<MbufHeader> out;
  rte_mempool_obj_iter(
      pool,
      [](rte_mempool*, void* arg, void* obj, unsigned) {
        auto* m = static_cast<rte_mbuf*>(obj);
        static_cast<std::vector<MbufHeader>*>(arg)->push_back({m, m->buf_addr, m->buf_iova, m->buf_len, m->pool});
      },
      &out);
  return out;
}

TEST(DeviceMemoryTest, TheDeviceIsGivenRingsAndDataRoomsAndNothingElse) {
  LoopRig rig;
  ASSERT_TRUE(rig.open("loop:"));
  for (rte_mempool* pool : {rig.pool->get(), rig.driver->rx_pool()}) {
    const auto headers = headers_of(pool);
    ASSERT_EQ(headers.size(), pool->size);
    for (const MbufHeader& h : headers) {
      ASSERT_FALSE(DeviceMemory::contains(h.m, sizeof(rte_mbuf))) << "an mbuf header is in device memory";
      ASSERT_TRUE(DeviceMemory::contains(h.buf_addr, h.buf_len)) << "a data room is outside device memory";
    }
    EXPECT_FALSE(DeviceMemory::contains(pool, sizeof(rte_mempool)));
  }
  void* own = rte_malloc(nullptr, 4096, 0);
  EXPECT_FALSE(DeviceMemory::contains(own, 1)) << "DPDK's heap is in device memory";
  rte_free(own);
  // A vhost-user backend is handed exactly the device memory regions, each a whole memfd.
  auto table = virtio::transport::vhost_user::collect_memory();
  ASSERT_TRUE(table) << table.error().to_string();
  const auto regions = DeviceMemory::regions();
  ASSERT_EQ(table->table.num_regions, regions.size());
  for (std::size_t i = 0; i < regions.size(); ++i) {
    EXPECT_EQ(table->table.regions[i].user_address, reinterpret_cast<std::uint64_t>(regions[i].base));
    EXPECT_EQ(table->table.regions[i].size, regions[i].size);
    EXPECT_EQ(table->table.regions[i].mmap_offset, 0u);
    EXPECT_EQ(table->fds[i], regions[i].fd);
  }
  rig.loop.run_until(rig.netif->disconnect());
}

// A device that writes garbage over everything it can reach (packet data rooms, the headers
// and frames it hands the driver, indirect tables, on every other run its rings too) while
// traffic runs. netfront soon stops trusting it (a ring rule broken, framing lost), or drops
// what it cannot believe; whatever it writes, netfront's own memory is not reached through
// it: every mbuf header keeps its pointers, every frame handed to the application lies in its
// own data room and within the MTU, nothing crashes (the sanitizer pass runs this too), and
// every buffer comes back at disconnect. Twenty devices in a row, for as many ways to go bad.
class ScribblingDeviceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScribblingDeviceTest, GarbageWhereverTheDeviceReachesNeverReachesNetfrontsOwnMemory) {
  std::uint64_t scribbles = 0, frames = 0, misplaced = 0;
  for (unsigned run = 0; run < 20; ++run) {
    LoopRig rig;
    ASSERT_TRUE(rig.open(GetParam()));
    auto listening = rig.netif->listen([&](Buffer f) {
      const rte_mbuf* m = f.mbuf();
      const auto* room = static_cast<const std::byte*>(m->buf_addr);
      if (f.data() < room || f.data() + f.length() > room + m->buf_len || f.length() > 1514 ||
          !DeviceMemory::contains(f.data(), f.length()))
        ++misplaced;
      ++frames;
      return make_ready_io();
    });
    const auto app_headers = headers_of(rig.pool->get());
    const auto rx_headers = headers_of(rig.driver->rx_pool());
    rig.device->faults().scribble = 16;
    rig.device->faults().scribble_rings = run % 2 == 1;
    for (unsigned i = 0; i < 500; ++i) {
      if (rig.netif->link_up()) (void)rig.netif->write(rig.frame(60 + (run * 500 + i) % 1400, i));
      rig.loop.run_once();
    }
    scribbles += rig.device->counters().scribbles;
    rig.device->faults().scribble = 0;
    EXPECT_EQ(headers_of(rig.pool->get()), app_headers) << "run " << run;
    EXPECT_EQ(headers_of(rig.driver->rx_pool()), rx_headers) << "run " << run;
    rig.loop.run_until(rig.netif->disconnect());
    EXPECT_TRUE(listening.ready());
    EXPECT_EQ(rig.pool->in_use(), 0u) << "run " << run;
    EXPECT_EQ(rig.rx_pool_in_use(), 0u) << "run " << run;
  }
  EXPECT_EQ(misplaced, 0u);
  EXPECT_GT(frames, 20u);
  EXPECT_GT(scribbles, 2000u);
}

// A frame the application built outside netfront's pools (an mbuf of its own DPDK pool,
// adopted) is refused with an error saying so: the device is given device memory only, and
// an address outside it would be a ring fault (or worse, memory the device was never given).
// The ring goes on carrying frames built rightly, single and chained.
TEST(DeviceMemoryTest, AFrameOutsideDeviceMemoryIsRefusedAndTheRingGoesOn) {
  LoopRig rig;
  ASSERT_TRUE(rig.open("loop:split"));
  rig.listen();
  rte_mempool* plain = rte_pktmbuf_pool_create("nf_test_plain", 63, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  ASSERT_NE(plain, nullptr);
  auto foreign = [&] {
    rte_mbuf* m = rte_pktmbuf_alloc(plain);
    EXPECT_NE(m, nullptr);
    m->data_len = m->pkt_len = 100;
    std::memset(rte_pktmbuf_mtod(m, void*), 0x5a, 100);
    EXPECT_FALSE(DeviceMemory::contains(m->buf_addr, m->buf_len));
    return Buffer::adopt(m);
  };
  const std::uint64_t resets = rig.device->counters().resets;
  Result<> single = rig.netif->write(foreign()).get();
  ASSERT_FALSE(single);
  EXPECT_NE(single.error().message().find("not in device memory"), std::string::npos) << single.error().to_string();
  std::vector<Buffer> pieces;
  pieces.push_back(rig.frame(40, 1));
  pieces.push_back(foreign());
  Result<> chained = rig.netif->writev(pieces).get();
  ASSERT_FALSE(chained);
  EXPECT_NE(chained.error().message().find("not in device memory"), std::string::npos);
  pieces.clear();  // writev borrows its pieces: they are the caller's again
  EXPECT_EQ(rte_mempool_in_use_count(plain), 0u) << "a refused frame was kept";
  for (unsigned i = 0; i < 5; ++i) ASSERT_TRUE(rig.netif->write(rig.frame(100, i)).get());
  std::vector<Buffer> good;
  good.push_back(rig.frame(40, 7));
  good.push_back(rig.frame(60, 8));
  ASSERT_TRUE(rig.netif->writev(good).get());
  good.clear();
  rig.run_until_received(6, 200000);
  EXPECT_EQ(rig.received.size(), 6u);
  EXPECT_EQ(rig.device->counters().tx_frames, 6u) << "the ring did not carry on";
  EXPECT_EQ(rig.device->counters().resets, resets) << "the device had to be reset";
  rig.loop.run_until(rig.netif->disconnect());
  rig.netif.reset();
  rig.received.clear();
  rig.listening.reset();
  rte_mempool_free(plain);
}

// A clone of a frame of ours, in another pool, views device memory; the rest of that pool does
// not. Writing the clone is fine, and teaches netfront nothing about its pool: a frame of that
// pool outside device memory is still refused.
TEST(DeviceMemoryTest, AClonedFrameDoesNotVouchForItsPool) {
  LoopRig rig;
  ASSERT_TRUE(rig.open("loop:split"));
  rig.listen();
  rte_mempool* plain = rte_pktmbuf_pool_create("nf_test_clone_pool", 63, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  ASSERT_NE(plain, nullptr);
  Buffer original = rig.frame(100, 3);
  rte_mbuf* c = rte_pktmbuf_clone(original.mbuf(), plain);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(rig.netif->write(Buffer::adopt(c)).get());
  rte_mbuf* m = rte_pktmbuf_alloc(plain);
  ASSERT_NE(m, nullptr);
  m->data_len = m->pkt_len = 100;
  Result<> r = rig.netif->write(Buffer::adopt(m)).get();
  ASSERT_FALSE(r) << "a frame outside device memory was posted";
  EXPECT_NE(r.error().message().find("not in device memory"), std::string::npos) << r.error().to_string();
  rig.run_until_received(1, 200000);
  ASSERT_EQ(rig.received.size(), 1u);
  EXPECT_EQ(rig.received[0], LoopRig::expected(100, 3));
  rig.loop.run_until(rig.netif->disconnect());
  original = Buffer{};
  EXPECT_EQ(rte_mempool_in_use_count(plain), 0u);
  EXPECT_EQ(rig.pool->in_use(), 0u);
  rig.netif.reset();
  rig.received.clear();
  rig.listening.reset();
  rte_mempool_free(plain);
}

// DPDK's clone and attach count references in the mbuf that owns a data room. For netfront's
// mbufs that count is in the shared info next to the header, in DPDK's memory: whatever the
// device writes into data rooms, a clone (into an ordinary pool) and its frees in either order
// count right, never read a pointer from device memory, and the mbuf goes back to its pool
// only when the last one lets go.
TEST(DeviceMemoryTest, ClonesCountReferencesOutsideDeviceMemory) {
  auto made = PacketPool::create({.size = 63, .cache = 0});
  ASSERT_TRUE(made) << made.error().to_string();
  PacketPool pool = std::move(*made);
  rte_mempool* plain = rte_pktmbuf_pool_create("nf_test_clones", 63, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  ASSERT_NE(plain, nullptr);
  std::vector<rte_mbuf*> all(63);
  ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool.get(), all.data(), 63), 0);
  for (rte_mbuf* m : all) {
    ASSERT_TRUE(RTE_MBUF_HAS_EXTBUF(m));
    ASSERT_FALSE(DeviceMemory::contains(m->shinfo, sizeof *m->shinfo)) << "a reference count is in device memory";
  }
  // The device fills every data room (and what lies between them) with what would, read as
  // an mbuf header, be a reference count of 1 and a pool pointer of its choosing.
  for (auto [p, n] : DeviceMemory::blocks()) std::memset(p, 0x01, n);
  // Freed by DPDK, and by netfront's own inline path (what Buffer and the rings use), which
  // must do exactly what DPDK does: a clone is not the owner of the room it views.
  unsigned next = 0;
  for (bool netfronts : {false, true}) {
    for (bool original_first : {true, false}) {
      SCOPED_TRACE(std::string(netfronts ? "free_segment" : "rte_pktmbuf_free") +
                   (original_first ? ", original first" : ", clone first"));
      auto release = [netfronts](rte_mbuf* x) { netfronts ? runtime::free_segment(x) : rte_pktmbuf_free(x); };
      rte_mbuf* m = all[next++];
      rte_mbuf* c = rte_pktmbuf_clone(m, plain);
      ASSERT_NE(c, nullptr);
      EXPECT_EQ(rte_mbuf_ext_refcnt_read(m->shinfo), 2u);
      EXPECT_EQ(c->buf_addr, m->buf_addr);
      const unsigned before = pool.in_use();
      release(original_first ? m : c);
      EXPECT_EQ(pool.in_use(), before) << "back to the pool while a clone holds its room";
      release(original_first ? c : m);
      EXPECT_EQ(pool.in_use(), before - 1) << "the room's owner did not go back to its pool";
      EXPECT_EQ(rte_mempool_in_use_count(plain), 0u);
    }
  }
  // The clones' pool got back plain mbufs, not ones still attached to a room of ours.
  std::vector<rte_mbuf*> theirs(63);
  ASSERT_EQ(rte_pktmbuf_alloc_bulk(plain, theirs.data(), 63), 0);
  for (rte_mbuf* x : theirs) EXPECT_TRUE(RTE_MBUF_DIRECT(x)) << "an mbuf of the clones' pool still views device memory";
  rte_pktmbuf_free_bulk(theirs.data(), 63);
  rte_pktmbuf_free_bulk(all.data() + next, 63 - next);
  EXPECT_EQ(pool.in_use(), 0u);
  rte_mempool_free(plain);
}

// The allocator under random allocations and frees, alignments up to 64 KiB: every block
// aligned as asked, zeroed, inside one region, overlapping no other, and every byte back at
// the end.
TEST(DeviceMemoryTest, RandomAllocationsKeepTheAllocatorConsistent) {
  const std::size_t base = DeviceMemory::in_use();
  std::vector<runtime::DeviceBlock> held;
  std::uint64_t r = 12345;
  auto next = [&] {
    r ^= r << 13;
    r ^= r >> 7;
    r ^= r << 17;
    return r;
  };
  unsigned made = 0;
  for (int step = 0; step < 20000; ++step) {
    if (held.empty() || next() % 3 != 0) {
      const std::size_t size = 1 + next() % 20000;
      const std::size_t align = std::size_t{1} << (next() % 17);
      auto b = DeviceMemory::allocate(size, align);
      if (!b) continue;  // full for now: frees follow
      ++made;
      ASSERT_EQ(reinterpret_cast<std::uintptr_t>(b->data()) % align, 0u) << "alignment " << align;
      ASSERT_GE(b->size(), size);
      ASSERT_TRUE(DeviceMemory::contains(b->data(), b->size()));
      for (std::size_t i = 0; i < b->size(); i += 97) ASSERT_EQ(b->data()[i], std::byte{0}) << "not zeroed";
      for (const runtime::DeviceBlock& o : held)
        ASSERT_TRUE(b->data() + b->size() <= o.data() || o.data() + o.size() <= b->data()) << "overlap";
      std::memset(b->data(), 0xab, b->size());
      held.push_back(std::move(*b));
    } else {
      const std::size_t i = next() % held.size();
      std::swap(held[i], held.back());
      held.pop_back();
    }
  }
  EXPECT_GT(made, 10000u);
  held.clear();
  EXPECT_EQ(DeviceMemory::in_use(), base);
  std::size_t listed = 0;
  for (auto [p, n] : DeviceMemory::blocks()) listed += n;
  EXPECT_EQ(listed, base) << "blocks() disagrees with in_use()";
}

INSTANTIATE_TEST_SUITE_P(Layouts, ScribblingDeviceTest,
                         ::testing::Values("loop:split", "loop:packed", "loop:split,in_order=on", "loop:packed,in_order=on",
                                           "loop:split,mrg_rxbuf=off"),
                         layout_name);

}  // namespace
}  // namespace netfront
