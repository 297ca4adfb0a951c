// The Netif front end over a fake device: validation, life cycle and stats of the API.
#include <gtest/gtest.h>

#include "drivers/netif/attach.hpp"
#include "fake_net_device.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/netif.hpp"
#include "netfront/packet_pool.hpp"

namespace netfront {
namespace {

using testing::FakeNetDevice;

class NetifTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = PacketPool::create({.size = 255, .cache = 0});
    ASSERT_TRUE(made) << made.error().to_string();
    pool_.emplace(std::move(*made));
    auto device = std::make_unique<FakeNetDevice>(2, 4);
    device->set_frame_pool(pool_->get());
    fake_ = device.get();
    netif_.emplace(drivers::attach(*DeviceId::parse("loop:"), std::move(device)));
  }
  void TearDown() override {
    netif_.reset();  // disconnects: the device gives back what it held
    EXPECT_EQ(pool_->in_use(), 0u) << "mbufs leaked";
  }
  Buffer frame(std::size_t n, std::uint8_t fill = 0) {
    auto b = Buffer::create(pool_->get(), n);
    EXPECT_TRUE(b);
    b->fill(std::byte{fill});
    return std::move(*b);
  }

  EventLoop loop_;
  std::optional<PacketPool> pool_;
  std::optional<Netif> netif_;
  FakeNetDevice* fake_ = nullptr;
};

TEST_F(NetifTest, WriteHandsTheSameBytesToTheDevice) {
  Buffer f = frame(60, 0xaa);
  auto r = netif_->write(f);
  ASSERT_TRUE(r.ready());
  ASSERT_TRUE(r.get());
  ASSERT_EQ(fake_->sent().size(), 1u);
  EXPECT_EQ(fake_->sent()[0].data(), f.data());  // zero copy: the device got our mbuf
  EXPECT_EQ(fake_->sent()[0].mbuf(), f.mbuf());
}

TEST_F(NetifTest, WriteRefusesShortAndOversizeFramesBeforeTheDevice) {
  for (std::size_t bad : {std::size_t{0}, std::size_t{13}, std::size_t{1515}}) {
    Result<> r = netif_->write(frame(bad)).get();
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(r.error().is_invalid_length()) << r.error().to_string();
    EXPECT_NE(r.error().message().find("outside 14..1514"), std::string::npos) << r.error().message();
  }
  EXPECT_EQ(fake_->transmit_calls(), 0u);
  EXPECT_TRUE(netif_->write(frame(14)).get());
  EXPECT_TRUE(netif_->write(frame(1514)).get());
}

TEST_F(NetifTest, WritevSendsOneFrameOfAllPieces) {
  std::vector<Buffer> pieces{frame(14, 1), frame(20, 2), frame(100, 3)};
  ASSERT_TRUE(netif_->writev(pieces).get());
  ASSERT_EQ(fake_->piece_counts(), std::vector<unsigned>{3});
  EXPECT_EQ(fake_->sent()[1].data(), pieces[1].data());
  EXPECT_EQ(netif_->get_stats_counters().tx_bytes, 134u);
  EXPECT_EQ(netif_->get_stats_counters().tx_pkts, 1u);
}

TEST_F(NetifTest, WritevRefusesNoPiecesOrTooManyAndOversizeTotals) {
  Result<> none = netif_->writev({}).get();
  ASSERT_FALSE(none);
  EXPECT_TRUE(none.error().is_invalid_length()) << none.error().to_string();
  std::vector<Buffer> many(kMaxWritevPieces + 1, frame(1));
  Result<> r = netif_->writev(many).get();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is_invalid_length()) << r.error().to_string();
  EXPECT_NE(r.error().message().find("1 to 64 pieces"), std::string::npos);
  std::vector<Buffer> big{frame(1000), frame(515)};
  Result<> b = netif_->writev(big).get();
  ASSERT_FALSE(b);
  EXPECT_TRUE(b.error().is_invalid_length()) << b.error().to_string();
  EXPECT_EQ(fake_->transmit_calls(), 0u);
}

// Mirage_net 4's write ~size fill: the frame is built in a zeroed buffer of the device's pool
// and sent as long as fill says, without a copy.
TEST_F(NetifTest, FillWriteBuildsTheFrameInAZeroedDeviceBufferAndSendsWhatFillReturns) {
  const std::byte* built = nullptr;
  bool zeroed = true;
  Result<> r = netif_->write(100, [&](Buffer& f) {
    EXPECT_EQ(f.length(), 100u);
    for (std::byte b : f.bytes()) zeroed &= b == std::byte{0};
    for (std::size_t i = 0; i < 42; ++i) f.set_u8(i, static_cast<std::uint8_t>(i + 1));
    built = f.data();
    return std::size_t{42};
  }).get();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(zeroed) << "fill was handed a buffer that was not zeroed";
  ASSERT_EQ(fake_->sent().size(), 1u);
  const Buffer& sent = fake_->sent()[0];
  EXPECT_EQ(sent.data(), built) << "the frame was copied";
  EXPECT_EQ(sent.mbuf()->pool, pool_->get()) << "not a buffer of the device's pool";
  ASSERT_EQ(sent.length(), 42u);
  for (std::size_t i = 0; i < 42; ++i) EXPECT_EQ(sent.get_u8(i), i + 1) << i;
  EXPECT_EQ(netif_->get_stats_counters().tx_bytes, 42u);
  // Per queue pair too.
  ASSERT_TRUE(netif_->queue(1).write(60, [](Buffer& f) { return f.length(); }).get());
  EXPECT_EQ(netif_->get_stats_counters(1).tx_bytes, 60u);
}

TEST_F(NetifTest, FillWriteRefusesSizesAndLengthsOutsideTheFrameBoundsAndSendsNothing) {
  unsigned calls = 0;
  auto fill_with = [&](std::size_t n) {
    return [&calls, n](Buffer&) {
      ++calls;
      return n;
    };
  };
  for (std::size_t size : {std::size_t{0}, std::size_t{13}, std::size_t{1515}, ~std::size_t{0}}) {
    Result<> r = netif_->write(size, fill_with(size)).get();
    ASSERT_FALSE(r) << size;
    EXPECT_TRUE(r.error().is_invalid_length()) << r.error().to_string();
  }
  EXPECT_EQ(calls, 0u) << "fill was called for a size no frame can have";
  for (auto [size, filled] : {std::pair<std::size_t, std::size_t>{60, 61}, {60, 13}, {60, 0}, {1514, 1515}}) {
    Result<> r = netif_->write(size, fill_with(filled)).get();
    ASSERT_FALSE(r) << size << " " << filled;
    EXPECT_TRUE(r.error().is_invalid_length()) << r.error().to_string();
  }
  EXPECT_EQ(calls, 4u);
  EXPECT_EQ(fake_->transmit_calls(), 0u);
  EXPECT_EQ(pool_->in_use(), 0u) << "a refused frame's buffer was not given back";
  // A fill that cuts its view sends no more than the view holds.
  Result<> cut = netif_->write(60, [](Buffer& f) {
    f = f.sub(0, 20);
    return std::size_t{40};
  }).get();
  ASSERT_FALSE(cut);
  EXPECT_TRUE(cut.error().is_invalid_length());
  EXPECT_TRUE(netif_->write(14, fill_with(14)).get());
  EXPECT_TRUE(netif_->write(1514, fill_with(1514)).get());
}

// A fill that disconnects its Netif, or moves it away, sends nothing and crashes nothing.
TEST_F(NetifTest, FillThatDisconnectsOrMovesItsNetifSendsNothing) {
  {
    std::optional<Netif> keeper;
    Result<> moved = netif_->write(60, [&](Buffer& f) {
      keeper.emplace(std::move(*netif_));
      return f.length();
    }).get();
    ASSERT_FALSE(moved);
    EXPECT_TRUE(moved.error().is_disconnected()) << moved.error().to_string();
    EXPECT_EQ(fake_->transmit_calls(), 0u);
    Result<> cut = keeper->write(60, [&](Buffer& f) {
      (void)keeper->disconnect();
      return f.length();
    }).get();
    ASSERT_FALSE(cut);
    EXPECT_TRUE(cut.error().is_disconnected()) << cut.error().to_string();
    EXPECT_EQ(fake_->transmit_calls(), 0u);
  }
  EXPECT_EQ(pool_->in_use(), 0u);
}

// A FunctionRef is always callable: it cannot be made from a function pointer, which may be null.
static_assert(!std::is_constructible_v<FrameFill, std::size_t (*)(Buffer&)>);
static_assert(std::is_constructible_v<FrameFill, decltype([](Buffer&) { return std::size_t{0}; })&>);

TEST(NetifFillTest, ADeviceWithoutAPoolRefusesTheFillWrite) {
  EventLoop loop;
  Netif n = drivers::attach(*DeviceId::parse("loop:"), std::make_unique<FakeNetDevice>(1, 4));
  bool called = false;
  Result<> r = n.write(60, [&](Buffer& f) {
    called = true;
    return f.length();
  }).get();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is_unimplemented()) << r.error().to_string();
  EXPECT_FALSE(called);
}

// Mirage_net 4's listen ~header_size: frames of at most header_size + mtu bytes.
TEST_F(NetifTest, HeaderSizeListenTakesFramesUpToHeaderSizePlusMtuAndCountsLongerOnesAsDrops) {
  std::vector<std::size_t> lengths;
  auto listening = netif_->listen(4, [&](Buffer f) {  // e.g. a VLAN tag's 4 bytes
    lengths.push_back(f.length());
    return make_ready_io();
  });
  fake_->receive(frame(1504));
  fake_->receive(frame(1505));
  fake_->receive(frame(60));
  EXPECT_EQ(lengths, (std::vector<std::size_t>{1504, 60}));
  EXPECT_EQ(netif_->get_stats_counters().rx_drops, 1u);
  std::vector<std::size_t> on_pair;
  auto pair = netif_->queue(1).listen(0, [&](Buffer f) {
    on_pair.push_back(f.length());
    return make_ready_io();
  });
  fake_->receive(frame(1501), 1);
  fake_->receive(frame(1500), 1);
  EXPECT_EQ(on_pair, std::vector<std::size_t>{1500});
  EXPECT_EQ(netif_->get_stats_counters(1).rx_drops, 1u);
  // A header size so large that header_size + mtu overflows takes every frame.
  std::vector<std::size_t> on_zero;
  auto zero = netif_->queue(0).listen(~std::size_t{0}, [&](Buffer f) {
    on_zero.push_back(f.length());
    return make_ready_io();
  });
  fake_->receive(frame(1514), 0);
  EXPECT_EQ(on_zero, std::vector<std::size_t>{1514});
  loop_.run_until(netif_->disconnect());
  EXPECT_TRUE(listening.ready());
}

TEST_F(NetifTest, WritevHandsTheDeviceOnlyPiecesThatHoldBytes) {
  Buffer a = frame(14, 1), b = frame(20, 2);
  const Buffer pieces[] = {Buffer{}, a, frame(30).sub(3, 0), b};
  ASSERT_TRUE(netif_->writev(pieces).get());
  ASSERT_EQ(fake_->piece_counts(), std::vector<unsigned>{2});
  EXPECT_EQ(fake_->sent()[0].data(), a.data());
  EXPECT_EQ(fake_->sent()[1].data(), b.data());
  // 64 pieces that hold bytes, whatever number of empty ones beside them.
  std::vector<Buffer> full(kMaxWritevPieces, frame(1));
  full.insert(full.begin() + 5, Buffer{});
  EXPECT_TRUE(netif_->writev(full).get());
}

// Every call on a Netif that is not connected (never was, moved from) or no longer is
// (disconnected) answers without touching a device: Disconnected, or an empty value.
void expect_quiet(Netif& n, Buffer frame, bool has_device, EventLoop& loop) {
  Result<> w = n.write(frame).get();
  ASSERT_FALSE(w);
  EXPECT_TRUE(w.error().is_disconnected()) << w.error().to_string();
  EXPECT_EQ(w.error().cause(), Error::Cause::DeviceGone);
  const Buffer pieces[] = {frame, frame};
  Result<> v = n.writev(pieces).get();
  ASSERT_FALSE(v);
  EXPECT_TRUE(v.error().is_disconnected()) << v.error().to_string();
  EXPECT_TRUE(n.queue(0).write(frame).get().error().is_disconnected());
  EXPECT_TRUE(n.queue(3).writev(pieces).get().error().is_disconnected());
  io<Result<>> l = n.listen([](Buffer) { return make_ready_io(); });
  ASSERT_TRUE(l.ready());
  EXPECT_TRUE(l.get().error().is_disconnected());
  EXPECT_TRUE(n.queue(1).listen([](Buffer) { return make_ready_io(); }).get().error().is_disconnected());
  bool filled = false;
  auto fill = [&](Buffer& f) {
    filled = true;
    return f.length();
  };
  EXPECT_TRUE(n.write(60, fill).get().error().is_disconnected());
  EXPECT_TRUE(n.queue(2).write(60, fill).get().error().is_disconnected());
  EXPECT_FALSE(filled);
  EXPECT_TRUE(n.listen(14, [](Buffer) { return make_ready_io(); }).get().error().is_disconnected());
  EXPECT_TRUE(n.queue(0).listen(14, [](Buffer) { return make_ready_io(); }).get().error().is_disconnected());
  EXPECT_TRUE(n.queue(0).run_on(loop).error().is_disconnected());
  EXPECT_FALSE(n.link_up());
  n.reset_stats_counters();
  (void)n.get_stats_counters();
  (void)n.get_stats_counters(7);
  (void)n.queue(2).get_stats_counters();
  (void)n.mac();
  (void)n.mtu();
  (void)n.numa_node();
  (void)n.id().to_string();
  EXPECT_TRUE(n.disconnect().ready());
  if (!has_device) {
    EXPECT_FALSE(n.connected());
    EXPECT_EQ(n.queue_pairs(), 0u);
    EXPECT_EQ(n.mtu(), 0u);
    EXPECT_EQ(n.mac(), MacAddress{});
    EXPECT_EQ(n.id().kind(), DeviceId::Kind::None);
    EXPECT_EQ(n.get_stats_counters(), Stats{});
  }
}

TEST_F(NetifTest, NetifThatIsNotOrNoLongerConnectedAnswersEveryCallQuietly) {
  Netif never;
  expect_quiet(never, frame(60), false, loop_);
  Netif taker(std::move(*netif_));
  expect_quiet(*netif_, frame(60), false, loop_);  // moved from
  loop_.run_until(taker.disconnect());
  expect_quiet(taker, frame(60), true, loop_);
  EXPECT_EQ(fake_->transmit_calls(), 0u);
}

TEST_F(NetifTest, WriteOnAFullRingWaitsForSpace) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(netif_->write(frame(60)).get());
  io<Result<>> waiting = netif_->write(frame(60));
  EXPECT_TRUE(waiting.pending());
  EXPECT_EQ(netif_->get_stats_counters().tx_ring_full, 1u);
  fake_->complete(1);
  Result<> r = loop_.run_until(waiting);
  EXPECT_TRUE(r);
  EXPECT_EQ(fake_->sent().size(), 5u);
}

TEST_F(NetifTest, DisconnectFailsAWaitingWriteAndLaterWrites) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(netif_->write(frame(60)).get());
  io<Result<>> waiting = netif_->write(frame(60));
  loop_.run_until(netif_->disconnect());
  Result<> r = loop_.run_until(waiting);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is_disconnected());
  Result<> after = netif_->write(frame(60)).get();
  ASSERT_FALSE(after);
  EXPECT_TRUE(after.error().is_disconnected());
  EXPECT_TRUE(fake_->shut_down());
  EXPECT_FALSE(netif_->link_up());
  EXPECT_EQ(pool_->in_use(), 0u);  // every buffer the device held came back
}

TEST_F(NetifTest, DisconnectIsIdempotent) {
  loop_.run_until(netif_->disconnect());
  loop_.run_until(netif_->disconnect());
  EXPECT_TRUE(fake_->shut_down());
}

TEST_F(NetifTest, ListenDeliversEveryFrameUntilDisconnect) {
  std::vector<std::uint8_t> seen;
  io<Result<>> listening = netif_->listen([&](Buffer f) {
    seen.push_back(f.get_u8(0));
    return make_ready_io();
  });
  EXPECT_TRUE(listening.pending());
  for (std::uint8_t i = 1; i <= 3; ++i) fake_->receive(frame(64, i), i % 2);
  EXPECT_EQ(seen, (std::vector<std::uint8_t>{1, 2, 3}));
  loop_.run_until(netif_->disconnect());
  Result<> done = loop_.run_until(listening);
  EXPECT_TRUE(done);
  fake_->receive(frame(64, 9));  // after disconnect: nobody is called
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(netif_->get_stats_counters().rx_drops, 1u);
}

TEST_F(NetifTest, SecondListenAndListenAfterDisconnectAreErrors) {
  auto first = netif_->listen([](Buffer) { return make_ready_io(); });
  Result<> second = netif_->listen([](Buffer) { return make_ready_io(); }).get();
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message().find("already running"), std::string::npos);
  loop_.run_until(netif_->disconnect());
  Result<> late = netif_->listen([](Buffer) { return make_ready_io(); }).get();
  ASSERT_FALSE(late);
  EXPECT_TRUE(late.error().is_disconnected());
  EXPECT_TRUE(loop_.run_until(first));
}

TEST_F(NetifTest, AThrowingHandlerDoesNotStopDelivery) {
  int calls = 0;
  auto listening = netif_->listen([&](Buffer) -> io<void> {
    if (++calls == 1) throw std::runtime_error("application bug");
    return make_ready_io();
  });
  fake_->receive(frame(64));
  fake_->receive(frame(64));
  EXPECT_EQ(calls, 2);
}

TEST_F(NetifTest, AWaitingHandlerDoesNotHoldUpLaterFrames) {
  std::vector<Promise<void>> gates(2);
  std::vector<std::uint8_t> started, finished;
  auto listening = netif_->listen([&](Buffer f) -> io<void> {
    const std::uint8_t tag = f.get_u8(0);
    started.push_back(tag);
    co_await gates[tag - 1].get_io();  // the frame stays alive in the suspended handler
    finished.push_back(f.get_u8(0));
  });
  fake_->receive(frame(64, 1));
  fake_->receive(frame(64, 2));
  EXPECT_EQ(started, (std::vector<std::uint8_t>{1, 2}));  // frame 2 did not wait for handler 1
  EXPECT_TRUE(finished.empty());
  EXPECT_EQ(pool_->in_use(), 2u);
  gates[1].set_value();
  gates[0].set_value();
  loop_.run_once();
  EXPECT_EQ(finished, (std::vector<std::uint8_t>{2, 1}));
}

TEST_F(NetifTest, StatsAreSummedOverQueuesAndResetMovesTheBaseline) {
  auto listening = netif_->listen([](Buffer) { return make_ready_io(); });
  fake_->receive(frame(100), 0);
  fake_->receive(frame(200), 1);
  fake_->count_tx_on(1, 300);
  Stats total = netif_->get_stats_counters();
  EXPECT_EQ(total.rx_pkts, 2u);
  EXPECT_EQ(total.rx_bytes, 300u);
  EXPECT_EQ(total.tx_pkts, 1u);
  EXPECT_EQ(total.tx_bytes, 300u);
  EXPECT_EQ(netif_->get_stats_counters(1).rx_bytes, 200u);
  EXPECT_EQ(netif_->get_stats_counters(7), Stats{});  // no such queue
  netif_->reset_stats_counters();
  EXPECT_EQ(netif_->get_stats_counters(), Stats{});
  fake_->receive(frame(50), 1);
  EXPECT_EQ(netif_->get_stats_counters().rx_bytes, 50u);
  EXPECT_EQ(netif_->get_stats_counters(0), Stats{});
}

TEST_F(NetifTest, CountersAre64Bit) {
  fake_->count_tx_on(0, 5'000'000'000ull);
  EXPECT_EQ(netif_->get_stats_counters().tx_bytes, 5'000'000'000ull);
}

TEST_F(NetifTest, MacMtuAndIdComeFromTheDevice) {
  EXPECT_EQ(netif_->mac().to_string(), "52:54:00:12:34:56");
  EXPECT_TRUE(netif_->mac().valid_unicast());
  EXPECT_EQ(netif_->mtu(), 1500);
  EXPECT_EQ(netif_->id().to_string(), "loop:");
  EXPECT_EQ(netif_->queue_pairs(), 2u);
  EXPECT_TRUE(netif_->link_up());
}

TEST_F(NetifTest, DestroyingAConnectedNetifShutsTheDeviceDown) {
  ASSERT_TRUE(netif_->write(frame(60)).get());
  EXPECT_EQ(pool_->in_use(), 1u);
  netif_.reset();
  EXPECT_EQ(pool_->in_use(), 0u);
}

TEST(NetifConnectTest, MalformedIdIsAnUnknownErrorNamingThePart) {
  EventLoop loop;
  Result<Netif> r = loop.run_until(Netif::connect("vhost-user:/tmp/x.sock,queues=zero"));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is_unknown());
  EXPECT_NE(r.error().message().find("queues='zero'"), std::string::npos);
}

TEST(NetifConnectTest, MoreQueuePairsThanTheIdAllowsIsAnErrorNamingThem) {
  EventLoop loop;
  Result<Netif> r = loop.run_until(Netif::connect("loop:queues=40000"));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is_unknown());
  EXPECT_NE(r.error().to_string().find("40000"), std::string::npos) << r.error().to_string();
}

// (An address no machine has: tests never open the PCI functions of the machine they run on.)
TEST(NetifConnectTest, AbsentPciFunctionIsAnErrorNamingIt) {
  EventLoop loop;
  Result<Netif> r = loop.run_until(Netif::connect("pci:abcd:fe:1f.7"));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is_unknown());
  EXPECT_NE(r.error().message().find("no PCI function abcd:fe:1f.7"), std::string::npos) << r.error().message();
}

TEST(NetifConnectTest, MissingVhostUserBackendIsAnErrorNamingTheSocket) {
  EventLoop loop;
  Result<Netif> r = loop.run_until(Netif::connect("vhost-user:/tmp/netfront-no-such-backend.sock"));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is_unknown());
  EXPECT_NE(r.error().message().find("/tmp/netfront-no-such-backend.sock"), std::string::npos) << r.error().message();
}

TEST(NetifConnectTest, AnIdOfNoKindIsUnimplementedAndNoLoopIsAClearError) {
  {
    EventLoop loop;
    Result<Netif> r = loop.run_until(Netif::connect(DeviceId{}));
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is_unimplemented()) << r.error().to_string();
  }
  // No loop on this thread: connect cannot wait for anything, and says so.
  io<Result<Netif>> pending = Netif::connect("loop:");
  ASSERT_TRUE(pending.ready());
  Result<Netif> r = pending.get();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("event loop"), std::string::npos) << r.error().to_string();
}

}  // namespace
}  // namespace netfront
