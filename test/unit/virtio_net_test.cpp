// The virtio engine end to end: Netif over the virtio-net driver over split and packed rings,
// against the in-process device, in every feature combination the device can offer.
#include <gtest/gtest.h>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "loop_harness.hpp"

namespace netfront {
namespace {

using testing::LoopRig;

std::string combo_id(bool packed, bool mrg, bool event_idx, bool in_order, bool indirect) {
  std::string id = "loop:";
  id += packed ? "packed" : "split";
  id += mrg ? ",mrg_rxbuf=on" : ",mrg_rxbuf=off";
  id += event_idx ? ",event_idx=on" : ",event_idx=off";
  id += in_order ? ",in_order=on" : ",in_order=off";
  id += indirect ? ",indirect=on" : ",indirect=off";
  return id;
}

std::vector<std::string> all_combos() {
  std::vector<std::string> ids;
  for (bool packed : {false, true})
    for (bool mrg : {false, true})
      for (bool ev : {false, true})
        for (bool in_order : {false, true})
          for (bool indirect : {false, true}) ids.push_back(combo_id(packed, mrg, ev, in_order, indirect));
  // The legacy interface (§4.1.4.8): split rings only, 32 feature bits (no IN_ORDER), and
  // without MRG_RXBUF a 10-byte header.
  for (bool mrg : {false, true})
    for (bool ev : {false, true}) ids.push_back(std::string("loop:legacy") + (mrg ? "" : ",mrg_rxbuf=off") + (ev ? "" : ",event_idx=off"));
  return ids;
}

std::string combo_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n;
  for (char c : info.param.substr(5)) n += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return n;
}

class EngineTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { ASSERT_TRUE(rig_.open(GetParam())); }
  void TearDown() override {
    if (rig_.netif) {
      rig_.loop.run_until(rig_.netif->disconnect());
      EXPECT_EQ(rig_.rx_pool_in_use(), 0u) << "receive buffers leaked";
      rig_.received.clear();
      EXPECT_EQ(rig_.pool->in_use(), 0u) << "transmit buffers leaked";
    }
  }
  LoopRig rig_;
};

TEST_P(EngineTest, NegotiatesWhatTheDeviceOffersAndDeclinesOffloads) {
  const std::uint64_t f = rig_.driver->features();
  const LoopOptions& o = rig_.netif->id().loop();
  EXPECT_EQ(virtio::has_feature(f, virtio::VIRTIO_F_VERSION_1), !o.legacy);
  EXPECT_EQ(virtio::has_feature(f, virtio::VIRTIO_F_ANY_LAYOUT), o.legacy);  // legacy: one descriptor per header and frame
  EXPECT_EQ(virtio::has_feature(f, virtio::VIRTIO_F_RING_PACKED), o.packed);
  EXPECT_EQ(virtio::has_feature(f, virtio::net::VIRTIO_NET_F_MRG_RXBUF), o.mrg_rxbuf);
  EXPECT_EQ(virtio::has_feature(f, virtio::VIRTIO_F_EVENT_IDX), o.event_idx);
  EXPECT_EQ(virtio::has_feature(f, virtio::VIRTIO_F_IN_ORDER), o.in_order);
  EXPECT_EQ(virtio::has_feature(f, virtio::VIRTIO_F_INDIRECT_DESC), o.indirect);
  EXPECT_FALSE(virtio::has_feature(f, virtio::net::VIRTIO_NET_F_CSUM));
  EXPECT_FALSE(virtio::has_feature(f, virtio::net::VIRTIO_NET_F_GUEST_TSO4));
  EXPECT_EQ(rig_.device->negotiated_features(), f);
  EXPECT_EQ(rig_.netif->mac().to_string(), "52:54:00:00:00:01");
  EXPECT_EQ(rig_.netif->mtu(), 1500);
  EXPECT_TRUE(rig_.netif->link_up());
}

TEST_P(EngineTest, EchoesFramesOfEverySizeByteForByte) {
  rig_.listen();
  const std::vector<std::size_t> sizes{14, 15, 60, 64, 65, 127, 128, 256, 512, 1000, 1024, 1400, 1513, 1514};
  io<void> sender = [](LoopRig& r, const std::vector<std::size_t>& sizes) -> io<void> {
    unsigned seed = 0;
    for (std::size_t len : sizes) {
      Result<> w = co_await r.netif->write(r.frame(len, seed++));
      EXPECT_TRUE(w) << len;
    }
  }(rig_, sizes);
  rig_.run_until_received(sizes.size());
  ASSERT_EQ(rig_.received.size(), sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i)
    EXPECT_EQ(rig_.received[i], LoopRig::expected(sizes[i], static_cast<unsigned>(i))) << "frame " << i;
  const Stats s = rig_.netif->get_stats_counters();
  std::uint64_t bytes = 0;
  for (auto len : sizes) bytes += len;
  EXPECT_EQ(s.tx_pkts, sizes.size());
  EXPECT_EQ(s.tx_bytes, bytes);
  EXPECT_EQ(s.rx_pkts, sizes.size());
  EXPECT_EQ(s.rx_bytes, bytes);
  EXPECT_EQ(s.device_errors, 0u);
}

// Mirage_net 4's surface over a real ring: frames built in place by the fill-style write,
// in buffers of the device's own pool, come back byte for byte to listen ~header_size.
TEST_P(EngineTest, FillWrittenFramesOfEverySizeEchoByteForByte) {
  std::vector<std::vector<std::byte>> received;
  auto listening = rig_.netif->listen(kEthernetHeaderLength, [&](Buffer f) {
    auto bytes = f.bytes();
    received.emplace_back(bytes.begin(), bytes.end());
    return make_ready_io();
  });
  const std::vector<std::size_t> sizes{14, 15, 60, 64, 65, 127, 128, 256, 512, 1000, 1024, 1400, 1513, 1514};
  io<void> sender = [](LoopRig& r, const std::vector<std::size_t>& sizes) -> io<void> {
    unsigned seed = 0;
    for (std::size_t len : sizes) {
      const std::vector<std::byte> want = LoopRig::expected(len, seed++);
      Result<> w = co_await r.netif->write(1514, [&](Buffer& f) {
        f.copy_in(0, want);
        return len;
      });
      EXPECT_TRUE(w) << len << ": " << (w ? "" : w.error().to_string());
    }
  }(rig_, sizes);
  for (unsigned i = 0; i < 2'000'000 && received.size() < sizes.size(); ++i) rig_.loop.run_once();
  ASSERT_EQ(received.size(), sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i)
    EXPECT_EQ(received[i], LoopRig::expected(sizes[i], static_cast<unsigned>(i))) << "frame " << i;
  EXPECT_EQ(rig_.netif->get_stats_counters().tx_pkts, sizes.size());
  EXPECT_EQ(rig_.pool->in_use(), 0u) << "the frames came from the application's pool";
}

TEST_P(EngineTest, SharedFramesTakeTheHeaderDescriptorAndStillArriveIntact) {
  rig_.listen();
  Buffer f = rig_.frame(300, 9);
  Buffer keep = f;  // a second view: the header may not be written into f's headroom
  ASSERT_TRUE(rig_.netif->write(std::move(f)).get());
  rig_.run_until_received(1);
  ASSERT_EQ(rig_.received.size(), 1u);
  EXPECT_EQ(rig_.received[0], LoopRig::expected(300, 9));
  const auto kept = keep.bytes();
  EXPECT_EQ(std::vector<std::byte>(kept.begin(), kept.end()), LoopRig::expected(300, 9));  // untouched
  rig_.run_rounds(10);
  EXPECT_EQ(keep.refcount(), 1u);  // the device gave its reference back once the frame was used
}

TEST_P(EngineTest, WritevOfUpTo16PiecesArrivesAsOneFrame) {
  rig_.listen();
  for (unsigned pieces = 1; pieces <= 16; ++pieces) {
    std::vector<Buffer> parts;
    std::vector<std::byte> whole;
    for (unsigned p = 0; p < pieces; ++p) {
      const std::size_t len = 14 + p * 5;
      parts.push_back(rig_.frame(len, pieces * 100 + p));
      auto e = LoopRig::expected(len, pieces * 100 + p);
      whole.insert(whole.end(), e.begin(), e.end());
    }
    ASSERT_TRUE(rig_.netif->writev(parts).get()) << pieces;
    rig_.run_until_received(pieces);
    ASSERT_EQ(rig_.received.size(), pieces);
    EXPECT_EQ(rig_.received.back(), whole) << pieces << " pieces";
  }
  // With VIRTIO_F_INDIRECT_DESC the chains of up to 8 descriptors (header and 7 pieces) went
  // out as indirect tables; the longer ones, a small share of the 256-entry ring, on the ring.
  const bool indirect = rig_.netif->id().loop().indirect;
  EXPECT_EQ(rig_.device->counters().tx_indirect, indirect ? 7u : 0u);
}

// E1: an empty piece (a default Buffer, a zero-length slice) never becomes a descriptor. The
// loop device, like QEMU, takes a zero-length descriptor for a broken driver and stops.
TEST_P(EngineTest, WritevLeavesOutEmptyPieces) {
  rig_.listen();
  Buffer head = rig_.frame(20, 1), tail = rig_.frame(30, 2);
  const Buffer pieces[] = {Buffer{}, head, rig_.frame(40, 3).sub(7, 0), tail, Buffer{}};
  ASSERT_TRUE(rig_.netif->writev(pieces).get());
  rig_.run_until_received(1);
  ASSERT_EQ(rig_.received.size(), 1u);
  std::vector<std::byte> whole = LoopRig::expected(20, 1);
  const auto t = LoopRig::expected(30, 2);
  whole.insert(whole.end(), t.begin(), t.end());
  EXPECT_EQ(rig_.received[0], whole);
  EXPECT_EQ(rig_.netif->get_stats_counters().device_errors, 0u);
  EXPECT_TRUE(rig_.netif->link_up());
  // Nothing but empty pieces is no frame at all.
  const Buffer none[] = {Buffer{}, rig_.frame(10, 4).sub(0, 0)};
  Result<> r = rig_.netif->writev(none).get();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("not 0"), std::string::npos) << r.error().message();
}

TEST_P(EngineTest, SingleFramesStayDirectEvenWithIndirectTables) {
  rig_.listen();
  for (unsigned i = 0; i < 50; ++i) ASSERT_TRUE(rig_.netif->write(rig_.frame(100, i)).get());
  rig_.run_until_received(50);
  EXPECT_EQ(rig_.device->counters().tx_indirect, 0u);  // one descriptor each: a table would only cost
}

TEST_P(EngineTest, RingWrapsAroundOverManyThousandFrames) {
  rig_.listen();
  constexpr unsigned kFrames = 20000;
  io<void> sender = [](LoopRig& r) -> io<void> {
    for (unsigned i = 0; i < kFrames; ++i) {
      Buffer f = r.frame(60 + i % 200, i);
      Result<> w = co_await r.netif->write(std::move(f));
      if (!w) {
        ADD_FAILURE() << w.error().to_string();
        co_return;
      }
    }
  }(rig_);
  std::size_t base = 0, checked = 0;  // frame base + i is rig_.received[i]
  for (unsigned round = 0; round < 5'000'000 && base + checked < kFrames; ++round) {
    rig_.loop.run_once();
    for (; checked < rig_.received.size(); ++checked) {
      const std::size_t n = base + checked;
      ASSERT_EQ(rig_.received[checked], LoopRig::expected(60 + n % 200, static_cast<unsigned>(n))) << "frame " << n;
    }
    if (rig_.received.size() > 1024) {  // keep memory flat
      base += rig_.received.size();
      rig_.received.clear();
      checked = 0;
    }
  }
  EXPECT_EQ(rig_.netif->get_stats_counters().rx_pkts, kFrames);
  EXPECT_TRUE(sender.ready());
}

TEST_P(EngineTest, DoorbellsAreCoalescedPerBurstNotPerFrame) {
  rig_.listen();
  io<void> sender = [](LoopRig& r) -> io<void> {
    for (unsigned i = 0; i < 2000; ++i) (void)co_await r.netif->write(r.frame(64, i));
  }(rig_);
  const std::uint64_t before = rig_.device->counters().notifications;
  rig_.run_until_received(2000);
  ASSERT_EQ(rig_.received.size(), 2000u);
  const std::uint64_t doorbells = rig_.device->counters().notifications - before;
  EXPECT_LT(doorbells, 2000u / 8) << "one doorbell per frame";
}

// §3.1.1: no notification before DRIVER_OK, neither at bring-up nor when a reset brings the
// device up again; the receive buffers posted before it are announced right after.
TEST_P(EngineTest, NoDoorbellRingsBeforeDriverOk) {
  EXPECT_EQ(rig_.device->counters().early_notifications, 0u);
  ASSERT_TRUE(rig_.reset_device());
  EXPECT_EQ(rig_.device->counters().early_notifications, 0u);
  rig_.listen();
  ASSERT_TRUE(rig_.netif->write(rig_.frame(100, 1)).get());
  rig_.run_until_received(1);
  EXPECT_EQ(rig_.received.size(), 1u);
}

TEST_P(EngineTest, FullRingMakesWritesWaitThenAllGoOut) {
  rig_.listen();
  rig_.device->faults().stall = true;
  std::vector<io<Result<>>> writes;
  for (unsigned i = 0; i < 600; ++i) writes.push_back(rig_.netif->write(rig_.frame(100, i)));
  rig_.run_rounds(100);
  std::size_t waiting = 0;
  for (auto& w : writes) waiting += w.pending();
  EXPECT_GT(waiting, 0u) << "a 256-entry ring took 600 frames without waiting";
  EXPECT_GE(rig_.netif->get_stats_counters().tx_ring_full, waiting);
  EXPECT_TRUE(rig_.received.empty());
  rig_.device->faults().stall = false;
  rig_.run_until_received(600);
  ASSERT_EQ(rig_.received.size(), 600u);
  for (auto& w : writes) {
    ASSERT_TRUE(w.ready());
    EXPECT_TRUE(w.get());
  }
  for (unsigned i = 0; i < 600; ++i) ASSERT_EQ(rig_.received[i], LoopRig::expected(100, i)) << "order kept at " << i;
}

TEST_P(EngineTest, DisconnectWithBuffersInFlightGivesEveryBufferBack) {
  rig_.device->faults().stall = true;
  std::vector<io<Result<>>> writes;
  for (unsigned i = 0; i < 400; ++i) writes.push_back(rig_.netif->write(rig_.frame(200, i)));
  rig_.run_rounds(10);
  EXPECT_GT(rig_.pool->in_use(), 0u);
  rig_.loop.run_until(rig_.netif->disconnect());
  EXPECT_EQ(rig_.pool->in_use(), 0u);
  EXPECT_EQ(rig_.rx_pool_in_use(), 0u);
  for (auto& w : writes) {
    rig_.loop.run_once();
    ASSERT_TRUE(w.ready());
    Result<> r = w.get();
    if (!r) {
      EXPECT_TRUE(r.error().is_disconnected());
    }
  }
  Result<> after = rig_.netif->write(rig_.frame(60, 0)).get();
  ASSERT_FALSE(after);
  EXPECT_TRUE(after.error().is_disconnected());
}

INSTANTIATE_TEST_SUITE_P(AllFeatureCombinations, EngineTest, ::testing::ValuesIn(all_combos()), combo_name);

class SmallRingTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SmallRingTest, TinyRingsStillMoveEveryFrame) {
  LoopRig rig;
  ASSERT_TRUE(rig.open(GetParam()));
  rig.listen();
  io<void> sender = [](LoopRig& r) -> io<void> {
    for (unsigned i = 0; i < 3000; ++i) (void)co_await r.netif->write(r.frame(64 + i % 64, i));
  }(rig);
  rig.run_until_received(3000);
  ASSERT_EQ(rig.received.size(), 3000u);
  unsigned wrong = 0;
  for (unsigned i = 0; i < 3000; ++i) wrong += rig.received[i] != LoopRig::expected(64 + i % 64, i);
  EXPECT_EQ(wrong, 0u) << "frames not as sent, in order";
  rig.loop.run_until(rig.netif->disconnect());
}

// Indirect tables multiply what a ring holds: frames of 16 pieces take 17 entries each when
// direct, one when indirect. With the device stalled, a 32-entry ring takes 32 such frames
// at once with indirect tables and only one without; the rest wait for room, then all arrive.
unsigned frames_posted_while_stalled(const char* id, unsigned writes) {
  LoopRig rig;
  EXPECT_TRUE(rig.open(id));
  rig.listen();
  rig.device->faults().stall = true;
  std::vector<io<Result<>>> pending;
  std::vector<std::vector<std::byte>> sent;
  for (unsigned f = 0; f < writes; ++f) {
    std::vector<Buffer> parts;
    std::vector<std::byte> whole;
    for (unsigned p = 0; p < 16; ++p) {
      parts.push_back(rig.frame(14 + p, f * 16 + p));
      auto e = LoopRig::expected(14 + p, f * 16 + p);
      whole.insert(whole.end(), e.begin(), e.end());
    }
    pending.push_back(rig.netif->writev(parts));
    sent.push_back(std::move(whole));
  }
  rig.run_rounds(5);
  unsigned posted = 0;
  for (auto& w : pending) posted += w.ready();
  rig.device->faults().stall = false;
  rig.run_until_received(writes);
  EXPECT_EQ(rig.received.size(), writes) << id;
  for (unsigned f = 0; f < writes && f < rig.received.size(); ++f) EXPECT_EQ(rig.received[f], sent[f]) << id << " frame " << f;
  for (auto& w : pending) {
    EXPECT_TRUE(w.ready());
    if (w.ready()) {
      EXPECT_TRUE(w.get());
    }
  }
  rig.loop.run_until(rig.netif->disconnect());
  rig.received.clear();
  EXPECT_EQ(rig.pool->in_use(), 0u) << id;
  return posted;
}

TEST(IndirectTest, ARingHoldsAsManyManyPieceFramesAsItHasEntries) {
  for (const char* id : {"loop:size=32", "loop:packed,size=32", "loop:in_order=on,size=32", "loop:packed,in_order=on,size=32"})
    EXPECT_EQ(frames_posted_while_stalled(id, 40), 32u) << id;
}

TEST(IndirectTest, WithoutIndirectTablesEachSuchFrameTakesSeventeenEntries) {
  for (const char* id : {"loop:size=32,indirect=off", "loop:packed,size=32,indirect=off"})
    EXPECT_EQ(frames_posted_while_stalled(id, 40), 1u) << id;
}

TEST(IndirectTest, AFrameLongerThanTheQueueSizeIsRefusedEvenWithIndirectTables) {
  // §2.7.5.2: a table's entries count towards the chain length the queue size bounds.
  LoopRig rig;
  ASSERT_TRUE(rig.open("loop:size=8"));
  std::vector<Buffer> parts;
  for (unsigned p = 0; p < 16; ++p) parts.push_back(rig.frame(14, p));
  Result<> r = rig.netif->writev(parts).get();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is_invalid_length()) << r.error().to_string();
  EXPECT_NE(r.error().message().find("needs more descriptors than the ring has"), std::string::npos) << r.error().message();
  rig.loop.run_until(rig.netif->disconnect());
}

INSTANTIATE_TEST_SUITE_P(Sizes, SmallRingTest,
                         ::testing::Values("loop:size=2", "loop:size=4", "loop:packed,size=2", "loop:packed,size=8",
                                           "loop:packed,in_order=on,size=4", "loop:in_order=on,size=8"),
                         combo_name);

}  // namespace
}  // namespace netfront
