// The per-packet path allocates nothing: completed io results, buffer slicing and access,
// a loop round with pollers and timers, and Netif write/listen in steady state. Each case warms
// up once (first use may size a free list or a run queue), then counts a thousand rounds.
#include <gtest/gtest.h>

#include "alloc_counter.hpp"
#include "drivers/netif/attach.hpp"
#include "fake_net_device.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/netif.hpp"
#include "netfront/packet_pool.hpp"

namespace netfront {
namespace {

using testing::AllocationCounter;

constexpr int kRounds = 1000;

TEST(AllocationTest, CounterSeesAnAllocation) {
  AllocationCounter counter;
  int* p = new int(5);
  asm volatile("" : : "r"(p) : "memory");  // keep the compiler from eliding the pair
  delete p;
  EXPECT_EQ(counter.count(), 1u);  // the hook works, so the zeros below mean something
}

TEST(AllocationTest, CompletedIoAllocatesNothing) {
  AllocationCounter counter;
  for (int i = 0; i < kRounds; ++i) {
    io<Result<>> r = make_ready_io(Result<>(Ok{}));
    ASSERT_TRUE(r.get());
    io<int> v = make_ready_io(i);
    ASSERT_EQ(v.get(), i);
    io<void> u = make_ready_io();
    u.get();
  }
  EXPECT_EQ(counter.count(), 0u);
}

io<int> twice(int v) { co_return v * 2; }

TEST(AllocationTest, CoroutineCallsReuseTheirFramesOnceWarm) {
  ASSERT_EQ(twice(1).get(), 2);  // warm: the first frame of this size comes from the heap
  AllocationCounter counter;
  int sum = 0;
  for (int i = 0; i < kRounds; ++i) sum += twice(i).get();
  EXPECT_EQ(sum, kRounds * (kRounds - 1));
  EXPECT_EQ(counter.count(), 0u);
}

TEST(AllocationTest, BufferSlicingAndAccessAllocateNothing) {
  auto pool = PacketPool::create({.size = 63, .cache = 0});
  ASSERT_TRUE(pool);
  auto made = Buffer::create(pool->get(), 1500);
  ASSERT_TRUE(made);
  Buffer frame = *made;
  AllocationCounter counter;
  std::uint64_t acc = 0;
  for (int i = 0; i < kRounds; ++i) {
    Buffer ip = frame.shift(14);
    auto [hdr, payload] = ip.split(20);
    Buffer copy = payload;
    copy.set_be16(0, static_cast<std::uint16_t>(i));
    acc += hdr.get_be32(0) + payload.get_be16(0) + frame.sub(0, 6).get_le16(4);
    Buffer with_room = ip.prepend(14);
    acc += with_room.length();
  }
  EXPECT_GT(acc, 0u);
  EXPECT_EQ(counter.count(), 0u);
}

// A poller that completes what a long-lived coroutine awaits, as a device queue does.
class PingPoller final : public Poller {
 public:
  unsigned poll() override {
    if (!promise_.waiting()) return 0;
    promise_.set_value(++rounds_);
    return 1;
  }
  io<int> next() { return promise_.get_io(); }
  int rounds_ = 0;

 private:
  Promise<int> promise_;
};

io<void> consume(PingPoller& p, int n, int& last) {
  for (int i = 0; i < n; ++i) last = co_await p.next();
}

TEST(AllocationTest, PollerRoundsAndTimersAllocateNothing) {
  EventLoop loop;
  PingPoller poller;
  loop.add_poller(poller);
  int last = 0;
  loop.run_until(consume(poller, 10, last));  // warm-up: frame pool and run queue
  Timer timer(loop, [] {});
  timer.arm(std::chrono::hours(1));
  timer.cancel();

  AllocationCounter counter;
  io<void> run = consume(poller, kRounds, last);
  for (int i = 0; i < kRounds; ++i) {
    timer.arm(std::chrono::hours(1));
    loop.run_once();
    timer.cancel();
  }
  loop.run_until(run);
  EXPECT_EQ(last, 10 + kRounds);
  EXPECT_EQ(counter.count(), 0u);
  loop.remove_poller(poller);
}

TEST(AllocationTest, SleepAllocatesNothingOnceWarm) {
  EventLoop loop;
  loop.run_until(loop.sleep(std::chrono::microseconds(1)));
  AllocationCounter counter;
  for (int i = 0; i < 100; ++i) loop.run_until(loop.sleep(std::chrono::microseconds(1)));
  EXPECT_EQ(counter.count(), 0u);
}

TEST(AllocationTest, NetifWriteAndListenAllocateNothingPerFrame) {
  EventLoop loop;
  auto pool = PacketPool::create({.size = 255, .cache = 0});
  ASSERT_TRUE(pool);
  auto device = std::make_unique<testing::FakeNetDevice>(1, 8);
  testing::FakeNetDevice* fake = device.get();
  Netif netif = drivers::attach(*DeviceId::parse("loop:"), std::move(device));
  std::uint64_t delivered = 0;
  auto listening = netif.listen([&](Buffer f) {
    delivered += f.length();
    return make_ready_io();
  });

  auto one_round = [&] {
    auto tx = Buffer::create(pool->get(), 64);
    ASSERT_TRUE(tx);
    ASSERT_TRUE(netif.write(*tx).get());
    fake->complete(1);
    auto rx = Buffer::create(pool->get(), 64);
    ASSERT_TRUE(rx);
    fake->receive(std::move(*rx));
    if (fake->sent().size() >= 128) fake->forget_sent();  // the pool holds 255
  };
  one_round();
  AllocationCounter counter;
  for (int i = 0; i < kRounds; ++i) one_round();
  EXPECT_EQ(counter.count(), 0u);
  EXPECT_EQ(delivered, 64u * (kRounds + 1));
  EXPECT_EQ(netif.get_stats_counters().tx_pkts, kRounds + 1u);
  loop.run_until(netif.disconnect());
  EXPECT_EQ(pool->in_use(), 0u);
}

}  // namespace
}  // namespace netfront

namespace netfront {
namespace {

// The whole per-packet path through the virtio engine: Netif::write into a split or packed
// ring, the in-process device echoing it, the driver receiving it and calling listen's handler.
class EngineAllocationTest : public ::testing::TestWithParam<const char*> {};

TEST_P(EngineAllocationTest, WriteAndListenAllocateNothingPerFrame) {
  EventLoop loop;
  auto pool = PacketPool::create({.size = 1023, .cache = 0});
  ASSERT_TRUE(pool);
  auto connected = loop.run_until(Netif::connect(GetParam()));
  ASSERT_TRUE(connected) << connected.error().to_string();
  Netif& netif = *connected;
  std::uint64_t frames = 0, bytes = 0;
  auto listening = netif.listen([&](Buffer f) {
    ++frames;
    bytes += f.length();
    return make_ready_io();
  });

  auto round_trip = [&](unsigned burst) {
    const std::uint64_t want = frames + burst;
    for (unsigned i = 0; i < burst; ++i) {
      auto f = Buffer::create(pool->get(), 64 + i);
      ASSERT_TRUE(f);
      ASSERT_TRUE(netif.write(std::move(*f)).get());
    }
    for (int spin = 0; spin < 10000 && frames < want; ++spin) loop.run_once();
    ASSERT_EQ(frames, want);
  };
  for (int i = 0; i < 50; ++i) round_trip(16);  // warm: rings, pools, the loop's queues

  testing::AllocationCounter counter;
  for (int i = 0; i < 200; ++i) round_trip(16);
  const std::size_t allocations = counter.count();
  EXPECT_EQ(allocations, 0u) << "over " << 200 * 16 << " frames";
  EXPECT_EQ(frames, 250u * 16);
  loop.run_until(netif.disconnect());
  EXPECT_EQ(pool->in_use(), 0u);
}

// The same with Mirage_net 4's surface: frames built in place by the fill-style write (in the
// device's own pool), received by listen ~header_size.
TEST_P(EngineAllocationTest, FillWriteAndHeaderSizeListenAllocateNothingPerFrame) {
  EventLoop loop;
  auto connected = loop.run_until(Netif::connect(GetParam()));
  ASSERT_TRUE(connected) << connected.error().to_string();
  Netif& netif = *connected;
  std::uint64_t frames = 0;
  auto listening = netif.listen(kEthernetHeaderLength, [&](Buffer f) {
    frames += f.get_u8(f.length() - 1) == static_cast<std::uint8_t>(f.length());
    return make_ready_io();
  });
  auto round_trip = [&](unsigned burst) {
    const std::uint64_t want = frames + burst;
    for (unsigned i = 0; i < burst; ++i) {
      const std::size_t len = 64 + i;
      ASSERT_TRUE(netif.write(128, [&](Buffer& f) {
        f.set_u8(len - 1, static_cast<std::uint8_t>(len));
        return len;
      }).get());
    }
    for (int spin = 0; spin < 10000 && frames < want; ++spin) loop.run_once();
    ASSERT_EQ(frames, want);
  };
  for (int i = 0; i < 50; ++i) round_trip(16);

  testing::AllocationCounter counter;
  for (int i = 0; i < 200; ++i) round_trip(16);
  EXPECT_EQ(counter.count(), 0u) << "over " << 200 * 16 << " frames";
  EXPECT_EQ(frames, 250u * 16);
  loop.run_until(netif.disconnect());
}

INSTANTIATE_TEST_SUITE_P(Rings, EngineAllocationTest,
                         ::testing::Values("loop:", "loop:packed", "loop:in_order=on", "loop:packed,in_order=on"));

}  // namespace
}  // namespace netfront
