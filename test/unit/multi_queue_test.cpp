// Multi-queue over the in-process device: the control queue turns pairs on (VQ_PAIRS_SET),
// every pair carries its own traffic with its own counters, and asking for what the device
// does not have is a clear error.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <thread>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "loop_harness.hpp"
#include "netfront/loop_thread.hpp"
#include "netfront/numa.hpp"
#include "runtime/cross_loop.hpp"

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

TEST(MultiQueueBringUpTest, BuffersArePlacedOnTheDevicesNumaNode) {
  LoopRig rig;
  ASSERT_TRUE(rig.open("loop:queues=2"));
  // The loop device has no node of its own: the opening thread's is used.
  EXPECT_EQ(rig.netif->numa_node(), numa::current_node());
  EXPECT_EQ(rig.driver->rx_pool()->socket_id, rig.netif->numa_node());
  rig.loop.run_until(rig.netif->disconnect());
}

TEST(MultiQueueBringUpTest, ConnectByIdGivesEveryPair) {
  EventLoop loop;
  auto r = loop.run_until(Netif::connect("loop:packed,queues=3"));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->queue_pairs(), 3u);
  loop.run_until(r->disconnect());
}

}  // namespace
}  // namespace netfront

// --- queue pairs on other threads' loops

namespace netfront {
namespace {

// What one worker loop does with its pair: listen, then write `frames` frames, each echoed
// back to it by the device.
struct PairWorker {
  PairWorker(NetifQueue q, PacketPool& p, std::thread::id t, unsigned n)
      : queue(q), pool(p), expected_thread(t), frames(n) {}
  NetifQueue queue;
  PacketPool& pool;
  std::thread::id expected_thread;
  unsigned frames;
  std::atomic<unsigned> received{0};
  std::atomic<unsigned> wrong{0};   // frames with other bytes, or on another thread
  std::atomic<unsigned> write_errors{0};
  std::atomic<bool> listen_ok{false}, listen_done{false};
  std::optional<io<void>> running;

  io<void> run() {
    io<Result<>> listening = queue.listen([this](Buffer f) {
      const unsigned n = received.load(std::memory_order_relaxed);
      const auto want = LoopRig::expected(64 + n % 1000, 1000 + n);
      if (std::this_thread::get_id() != expected_thread || !std::equal(want.begin(), want.end(), f.bytes().begin(), f.bytes().end()))
        wrong.fetch_add(1);
      received.store(n + 1, std::memory_order_release);
      return make_ready_io();
    });
    for (unsigned i = 0; i < frames; ++i) {
      auto b = Buffer::create(pool.get(), 64 + i % 1000);
      if (!b) co_return;
      for (std::size_t k = 0; k < b->length(); ++k) b->set_u8(k, static_cast<std::uint8_t>((1000 + i) * 31 + k * 7));
      io<Result<>> w = queue.write(std::move(*b));
      Result<> r = co_await w;
      if (!r) write_errors.fetch_add(1);  // Disconnected while the device resets
    }
    Result<> end = co_await listening;
    listen_ok = end.ok();
    listen_done = true;
  }
};

// A two-pair loop device and a loop thread of its own for pair 1.
class MultiQueueThreadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(rig_.open("loop:queues=2"));
    auto started = LoopThread::start();
    ASSERT_TRUE(started) << started.error().to_string();
    thread_ = std::move(*started);
    EXPECT_GE(thread_->lcore(), 0) << "the loop thread has no DPDK lcore id";
  }
  // Whatever happened, the worker's coroutine ends on its own loop before anything it uses goes.
  void TearDown() override {
    if (rig_.netif) rig_.loop.run_until(rig_.netif->disconnect());
    if (worker_) rig_.loop.run_until(runtime::call_on(thread_->loop(), [this] { worker_->running.reset(); }));
  }

  // Hands pair 1 to the thread and starts a worker there that writes `frames` frames.
  PairWorker& start_worker(unsigned frames) {
    EXPECT_TRUE(rig_.netif->queue(1).run_on(thread_->loop()));
    worker_.emplace(rig_.netif->queue(1), *rig_.pool, thread_->id(), frames);
    thread_->loop().post([this] { worker_->running.emplace(worker_->run()); });
    return *worker_;
  }
  // Runs this thread's loop (the device's) until `done` or 60 s.
  template <typename Done>
  void run_until(Done&& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!done() && std::chrono::steady_clock::now() < deadline) rig_.loop.run_once();
  }
  // Disconnects, which holds the worker's loop and ends its listen there; then every buffer
  // must be back.
  void disconnect_and_check_buffers() {
    rig_.loop.run_until(rig_.netif->disconnect());
    for (int i = 0; i < 10000 && !worker_->listen_done; ++i) std::this_thread::sleep_for(std::chrono::microseconds(100));
    EXPECT_TRUE(worker_->listen_done);
    rig_.loop.run_until(runtime::call_on(thread_->loop(), [this] { worker_->running.reset(); }));
    EXPECT_EQ(rig_.rx_pool_in_use(), 0u);
    EXPECT_EQ(rig_.pool->in_use(), 0u);
  }

  LoopRig rig_;
  std::unique_ptr<LoopThread> thread_;
  std::optional<PairWorker> worker_;
};

TEST_F(MultiQueueThreadsTest, APairHandedToAnotherLoopCarriesItsTrafficOnThatThread) {
  PairWorker& worker = start_worker(5000);
  // Meanwhile pair 0 works on this thread.
  rig_.listen();
  for (unsigned i = 0; i < 500; ++i) ASSERT_TRUE(rig_.loop.run_until(rig_.netif->queue(0).write(rig_.frame(100 + i, i))));
  run_until([&] { return worker.received.load() >= worker.frames && rig_.received.size() >= 500; });
  EXPECT_EQ(worker.received.load(), worker.frames);
  EXPECT_EQ(worker.wrong.load(), 0u);
  EXPECT_EQ(worker.write_errors.load(), 0u);
  EXPECT_EQ(rig_.received.size(), 500u);
  EXPECT_EQ(rig_.netif->queue(1).get_stats_counters().rx_pkts, worker.frames);  // read from this thread
  EXPECT_EQ(rig_.device->pair_counters(1).tx_frames, worker.frames);
  disconnect_and_check_buffers();
  EXPECT_TRUE(worker.listen_ok);
}

TEST_F(MultiQueueThreadsTest, DeviceResetWhileAPairRunsElsewhereResumesItThere) {  // A13
  PairWorker& worker = start_worker(20000);
  run_until([&] { return worker.received.load() >= 2000; });
  rig_.device->faults().needs_reset = true;
  run_until([&] { return rig_.device->counters().resets >= 2; });
  EXPECT_GE(rig_.device->counters().resets, 2u);
  // Frames in flight at the reset are lost (counted as drops); the worker's next ones get through.
  const unsigned after_reset = worker.received.load();
  run_until([&] { return worker.received.load() >= after_reset + 1000; });
  EXPECT_GE(worker.received.load(), after_reset + 1000) << "traffic did not resume on the handed-over pair";
  disconnect_and_check_buffers();
}

// Frames may be waiting on a pair's ring when it is handed over, and its new loop delivers them
// before anything else is posted to it. They are that pair's (its own listen, or dropped while
// it has none), never the device listen's, which belongs to this thread. Under
// ThreadSanitizer (suite 'threads') this also shows where the pair's frames go is published
// before the pair is.
TEST_F(MultiQueueThreadsTest, FramesWaitingWhenAPairIsHandedOverStayWithThatPair) {
  const auto here = std::this_thread::get_id();
  std::atomic<unsigned> elsewhere{0};
  auto listening = rig_.netif->listen([&](Buffer) {
    if (std::this_thread::get_id() != here) elsewhere.fetch_add(1);
    return make_ready_io();
  });
  for (unsigned i = 0; i < 50; ++i) ASSERT_TRUE(rig_.device->inject(1, LoopRig::expected(100, i)));
  ASSERT_TRUE(rig_.netif->queue(1).run_on(thread_->loop()));
  run_until([&] { return rig_.netif->queue(1).get_stats_counters().rx_drops >= 50; });
  EXPECT_EQ(rig_.netif->queue(1).get_stats_counters().rx_drops, 50u);  // no listen of its own yet
  EXPECT_EQ(elsewhere.load(), 0u) << "the device listen ran on the pair's thread";
  rig_.loop.run_until(rig_.netif->disconnect());
  EXPECT_TRUE(listening.ready());
}

// The application lets go of its Netif right after asking for a disconnect that must wait for
// another loop (to end the listen of a pair handed there): the disconnect still ends, on
// state that is still there (the sanitizer pass runs this too).
TEST_F(MultiQueueThreadsTest, ANetifLetGoWhileItsDisconnectWaitsForAnotherLoopStillDisconnects) {
  ASSERT_TRUE(rig_.netif->queue(1).run_on(thread_->loop()));
  std::optional<io<Result<>>> pair_listen;
  rig_.loop.run_until(runtime::call_on(thread_->loop(), [&] {
    pair_listen.emplace(rig_.netif->queue(1).listen([](Buffer) { return make_ready_io(); }));
  }));
  io<void> pending = rig_.netif->disconnect();
  ASSERT_FALSE(pending.ready()) << "precondition: the disconnect waits for the pair's loop";
  rig_.netif.reset();
  run_until([&] { return pending.ready(); });
  EXPECT_TRUE(pending.ready());
  bool listen_ended = false;
  rig_.loop.run_until(runtime::call_on(thread_->loop(), [&] {
    listen_ended = pair_listen->ready() && pair_listen->get().ok();
    pair_listen.reset();
  }));
  EXPECT_TRUE(listen_ended) << "the pair's listen did not end with the disconnect";
}

TEST_F(MultiQueueThreadsTest, HandingOverAPairInUseOrTwiceIsRefused) {
  auto listening = rig_.netif->queue(1).listen([](Buffer) { return make_ready_io(); });
  auto r = rig_.netif->queue(1).run_on(thread_->loop());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("has a listen running"), std::string::npos);
  ASSERT_TRUE(rig_.netif->queue(0).run_on(thread_->loop()));
  auto again = rig_.netif->queue(0).run_on(thread_->loop());
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("handed over already"), std::string::npos);
  rig_.loop.run_until(rig_.netif->disconnect());
}

}  // namespace
}  // namespace netfront
