#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "netfront/event_loop.hpp"
#include "runtime/cross_loop.hpp"

namespace netfront {
namespace {

using namespace std::chrono_literals;

io<void> log_after(EventLoop& loop, std::vector<int>& log, Clock::duration d, int id) {
  co_await loop.sleep(d);
  log.push_back(id);
}

TEST(EventLoopTest, ReadyCoroutinesRunInTheOrderTheyWereScheduled) {
  EventLoop loop;
  std::vector<int> log;
  Promise<void> gates[3];
  std::vector<io<void>> runs;
  for (int i = 0; i < 3; ++i)
    runs.push_back([](Promise<void>& g, std::vector<int>& l, int id) -> io<void> {
      co_await g.get_io();
      l.push_back(id);
    }(gates[i], log, i));
  gates[2].set_value();
  gates[0].set_value();
  gates[1].set_value();
  loop.run_once();
  EXPECT_EQ(log, (std::vector<int>{2, 0, 1}));
}

TEST(EventLoopTest, StopEndsRunButNotRunUntilWhoseValueIsNotThereYet) {
  EventLoop loop;
  Timer stopper(loop, [&] { loop.stop(); });
  for (int round = 0; round < 2; ++round) {
    stopper.arm(1ms);
    auto work = [](EventLoop& l) -> io<int> {
      co_await l.sleep(10ms);
      co_return 7;
    };
    EXPECT_EQ(loop.run_until(work(loop)), 7);
  }
  stopper.arm(1ms);
  loop.run();  // returns on the stop
  EXPECT_FALSE(stopper.armed());
}

TEST(EventLoopTest, TimersFireInDeadlineOrderNotArmingOrder) {
  EventLoop loop;
  std::vector<int> log;
  auto a = log_after(loop, log, 30ms, 3);
  auto b = log_after(loop, log, 10ms, 1);
  auto c = log_after(loop, log, 20ms, 2);
  loop.run_until(a);
  EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
}

TEST(EventLoopTest, SleepWaitsAtLeastItsDelay) {
  EventLoop loop;
  const auto start = Clock::now();
  loop.run_until(loop.sleep(15ms));
  EXPECT_GE(Clock::now() - start, 15ms);
}

TEST(EventLoopTest, CancelledTimerNeverFires) {
  EventLoop loop;
  int fired = 0;
  Timer cancelled(loop, [&] { fired += 100; });
  Timer kept(loop, [&] { fired += 1; });
  cancelled.arm(5ms);
  kept.arm(10ms);
  EXPECT_TRUE(cancelled.cancel());
  EXPECT_FALSE(cancelled.cancel());
  loop.run_until(loop.sleep(20ms));
  EXPECT_EQ(fired, 1);
}

TEST(EventLoopTest, DestroyedTimerIsRemovedFromTheLoop) {
  EventLoop loop;
  int fired = 0;
  {
    Timer t(loop, [&] { ++fired; });
    t.arm(1ms);
  }
  loop.run_until(loop.sleep(5ms));
  EXPECT_EQ(fired, 0);
}

TEST(EventLoopTest, PeriodicTimerRepeatsUntilCancelled) {
  EventLoop loop;
  int fired = 0;
  Timer t(loop, [&] {
    if (++fired == 3) loop.stop();
  });
  t.arm_periodic(2ms);
  loop.run();
  EXPECT_EQ(fired, 3);
  EXPECT_TRUE(t.armed());
  t.cancel();
}

TEST(EventLoopTest, TimerCallbackMayCancelAnotherDueTimer) {
  EventLoop loop;
  int second_fired = 0;
  Timer second(loop, [&] { ++second_fired; });
  Timer first(loop, [&] { second.cancel(); });
  const auto when = Clock::now() + 1ms;
  first.arm_at(when);
  second.arm_at(when + 1us);
  loop.run_until(loop.sleep(5ms));
  EXPECT_EQ(second_fired, 0);
}

// A poller standing in for a device queue: completes a promise after a few polls.
class CountdownPoller final : public Poller {
 public:
  explicit CountdownPoller(int polls) : left_(polls) {}
  unsigned poll() override {
    ++polls_;
    if (left_ > 0 && --left_ == 0) {
      done_.set_value(polls_);
      return 1;
    }
    return 0;
  }
  io<int> done() { return done_.get_io(); }
  int polls_ = 0;

 private:
  int left_;
  Promise<int> done_;
};

TEST(EventLoopTest, PollerCompletesAnAwaitedIo) {
  EventLoop loop;
  CountdownPoller poller(5);
  loop.add_poller(poller);
  auto awaited = [](CountdownPoller& p) -> io<int> { co_return co_await p.done() * 10; }(poller);
  EXPECT_EQ(loop.run_until(awaited), 50);
  loop.remove_poller(poller);
  const int polls = poller.polls_;
  loop.run_once();
  EXPECT_EQ(poller.polls_, polls);  // removed pollers are not polled
}

TEST(EventLoopTest, BusyLoopNeverSleeps) {
  EventLoop loop;
  for (int i = 0; i < 5000; ++i) loop.run_once();
  EXPECT_EQ(loop.counters().sleeps, 0u);
  EXPECT_EQ(loop.counters().idle_iterations, 5000u);
}

// A poller that can be woken through an eventfd, as a device queue with interrupts is.
class FdPoller final : public Poller {
 public:
  explicit FdPoller(EventLoop& loop) : fd_(eventfd(0, EFD_NONBLOCK)) {
    auto watch = FdWatch::start(loop, fd_, EPOLLIN, [this](std::uint32_t) {
      std::uint64_t v;
      while (read(fd_, &v, sizeof v) > 0) pending_ += static_cast<int>(v);
    });
    EXPECT_TRUE(watch) << watch.error().to_string();
    if (watch) watch_ = std::move(*watch);
  }
  ~FdPoller() override { close(fd_); }
  unsigned poll() override {
    const int n = std::exchange(pending_, 0);
    seen_ += n;
    return static_cast<unsigned>(n);
  }
  bool arm_wakeup() override {
    ++arms_;
    return true;
  }
  void disarm_wakeup() override { ++disarms_; }
  void kick() {
    const std::uint64_t one = 1;
    (void)!write(fd_, &one, sizeof one);
  }
  int fd_;
  std::unique_ptr<FdWatch> watch_;
  int pending_ = 0, seen_ = 0, arms_ = 0, disarms_ = 0;
};

TEST(EventLoopTest, SleepingLoopWakesOnAWatchedFd) {
  EventLoop loop({.idle = IdleMode::Sleep, .idle_polls_before_sleep = 10});
  FdPoller poller(loop);
  loop.add_poller(poller);
  std::thread kicker([&] {
    std::this_thread::sleep_for(30ms);
    poller.kick();
  });
  const auto start = Clock::now();
  while (poller.seen_ == 0) loop.run_once();
  kicker.join();
  EXPECT_GE(Clock::now() - start, 25ms);  // it slept until the kick...
  EXPECT_GE(loop.counters().sleeps, 1u);
  EXPECT_LT(loop.counters().iterations, 1000u);  // ...rather than spinning
  EXPECT_EQ(poller.seen_, 1);
  EXPECT_GE(poller.arms_, 1);
  EXPECT_EQ(poller.arms_, poller.disarms_);
  loop.remove_poller(poller);
}

TEST(EventLoopTest, SleepingLoopWakesForItsNextTimer) {
  EventLoop loop({.idle = IdleMode::Sleep, .idle_polls_before_sleep = 4});
  const auto start = Clock::now();
  loop.run_until(loop.sleep(20ms));
  EXPECT_GE(Clock::now() - start, 20ms);
  EXPECT_GE(loop.counters().sleeps, 1u);
  EXPECT_LT(loop.counters().iterations, 1000u);  // slept rather than spun
}

TEST(EventLoopTest, PollerWithoutWakeupKeepsTheLoopBusy) {
  EventLoop loop({.idle = IdleMode::Sleep, .idle_polls_before_sleep = 2});
  CountdownPoller never(0);
  loop.add_poller(never);
  for (int i = 0; i < 100; ++i) loop.run_once();
  EXPECT_EQ(loop.counters().sleeps, 0u);
  loop.remove_poller(never);
}

TEST(EventLoopTest, PostFromAnotherThreadWakesASleepingLoop) {
  EventLoop loop({.idle = IdleMode::Sleep, .idle_polls_before_sleep = 1});
  std::thread other([&] {
    std::this_thread::sleep_for(20ms);
    loop.post([&] { loop.stop(); });
  });
  loop.run();
  other.join();
  EXPECT_GE(loop.counters().sleeps, 1u);
}

// A poller that always has work, as a queue under full load does.
struct AlwaysBusyPoller final : Poller {
  unsigned poll() override { return 1; }
};

TEST(EventLoopTest, ABusyLoopFiresADueTimerWithinOneClockCheckInterval) {
  EventLoop loop({.clock_check_interval = 8});
  AlwaysBusyPoller busy;
  loop.add_poller(busy);
  bool fired = false;
  Timer t(loop, [&] { fired = true; });
  t.arm_at(Clock::now());  // due already
  unsigned iterations = 0;
  while (!fired && iterations < 100) {
    loop.run_once();
    ++iterations;
  }
  EXPECT_TRUE(fired);
  EXPECT_LE(iterations, 8u);
  loop.remove_poller(busy);
}

TEST(EventLoopTest, ABusyLoopStillSeesItsWatchedFds) {
  EventLoop loop({.clock_check_interval = 4, .fd_check_period = 1ms});
  AlwaysBusyPoller busy;
  loop.add_poller(busy);
  FdPoller watched(loop);
  loop.add_poller(watched);
  watched.kick();
  const auto start = Clock::now();
  while (watched.seen_ == 0 && Clock::now() - start < 5s) loop.run_once();
  EXPECT_EQ(watched.seen_, 1);
  EXPECT_EQ(loop.counters().idle_iterations, 0u);
  loop.remove_poller(watched);
  loop.remove_poller(busy);
}

TEST(EventLoopTest, PostReachesABusyLoop) {
  EventLoop loop;
  std::thread::id ran_on;
  std::thread other([&] {
    loop.post([&] {
      ran_on = std::this_thread::get_id();
      loop.stop();
    });
  });
  loop.run();
  other.join();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(EventLoopTest, AnFdEpollRefusesIsABadArgumentNotAnException) {
  EventLoop loop;
  const int fd = eventfd(0, EFD_NONBLOCK);
  auto first = FdWatch::start(loop, fd, EPOLLIN, [](std::uint32_t) {});
  ASSERT_TRUE(first) << first.error().to_string();
  auto twice = FdWatch::start(loop, fd, EPOLLIN, [](std::uint32_t) {});
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().cause(), Error::Cause::BadArgument);
  close(fd);
  auto closed = FdWatch::start(loop, fd, EPOLLIN, [](std::uint32_t) {});
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().cause(), Error::Cause::BadArgument);
  EXPECT_NE(closed.error().message().find("fd " + std::to_string(fd)), std::string::npos) << closed.error().message();
}

// One round of epoll may report fds whose watch an earlier callback of the round destroyed
// (a vhost-user backend replaced: its channel's watch goes, a new one may take its memory).
// The destroyed watch is not called, and neither is one made in its place.
TEST(EventLoopTest, AWatchDestroyedEarlierInARoundIsNotCalled) {
  EventLoop loop({.clock_check_interval = 1, .fd_check_period = 0ms});
  AlwaysBusyPoller busy;
  loop.add_poller(busy);
  const int a = eventfd(0, EFD_NONBLOCK), b = eventfd(0, EFD_NONBLOCK), c = eventfd(0, EFD_NONBLOCK);
  int a_calls = 0, b_calls = 0, c_calls = 0;
  std::unique_ptr<FdWatch> watch_b, watch_c;
  auto watch_a = FdWatch::start(loop, a, EPOLLIN, [&](std::uint32_t) {
    std::uint64_t v;
    (void)!read(a, &v, sizeof v);
    ++a_calls;
    watch_b.reset();
    auto started = FdWatch::start(loop, c, EPOLLIN, [&](std::uint32_t) { ++c_calls; });
    ASSERT_TRUE(started);
    watch_c = std::move(*started);
  });
  ASSERT_TRUE(watch_a);
  auto started_b = FdWatch::start(loop, b, EPOLLIN, [&](std::uint32_t) { ++b_calls; });
  ASSERT_TRUE(started_b);
  watch_b = std::move(*started_b);
  const std::uint64_t one = 1;
  (void)!write(a, &one, sizeof one);
  (void)!write(b, &one, sizeof one);
  for (int i = 0; i < 20 && a_calls == 0; ++i) loop.run_once();
  for (int i = 0; i < 20; ++i) loop.run_once();
  EXPECT_EQ(a_calls, 1);
  EXPECT_EQ(b_calls, 0);  // epoll reports in the order fds became ready: a first, b's watch then gone
  EXPECT_EQ(c_calls, 0);  // c was never written
  watch_c.reset();
  watch_a = Error::unknown("done");
  loop.remove_poller(busy);
  close(a), close(b), close(c);
}

// A process out of file descriptors still gets a loop: one that busy-polls, fires its timers
// and runs posted work, and says it cannot watch fds.
TEST(EventLoopTest, ALoopWithoutFileDescriptorsBusyPollsAndStillWorks) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  const int lowest_free = dup(0);
  ASSERT_GE(lowest_free, 0);
  close(lowest_free);
  rlimit none = saved;
  none.rlim_cur = static_cast<rlim_t>(lowest_free);  // the next fd would be past the limit
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &none), 0);
  std::optional<EventLoop> loop;
  loop.emplace(LoopConfig{.idle = IdleMode::Sleep, .idle_polls_before_sleep = 1, .clock_check_interval = 1});
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);

  EXPECT_FALSE(loop->can_sleep());
  const int fd = eventfd(0, EFD_NONBLOCK);
  auto watch = FdWatch::start(*loop, fd, EPOLLIN, [](std::uint32_t) {});
  ASSERT_FALSE(watch);
  EXPECT_EQ(watch.error().cause(), Error::Cause::System);
  close(fd);
  bool fired = false, posted = false;
  Timer timer(*loop, [&] { fired = true; });
  timer.arm(1ms);
  std::thread other([&] { loop->post([&] { posted = true; }); });
  const auto start = Clock::now();
  while (!(fired && posted) && Clock::now() - start < 5s) loop->run_once();
  other.join();
  EXPECT_TRUE(fired);
  EXPECT_TRUE(posted);
  EXPECT_EQ(loop->counters().sleeps, 0u);  // idle, yet it never slept: nothing could wake it
  EXPECT_GT(loop->counters().idle_iterations, 0u);
}

}  // namespace
}  // namespace netfront

// --- across loops (runtime/cross_loop.hpp)

namespace netfront {
namespace {

struct CountingPoller final : Poller {
  std::atomic<std::uint64_t> polls{0};
  unsigned poll() override {
    polls.fetch_add(1, std::memory_order_relaxed);
    return 1;
  }
};

TEST(CrossLoopTest, LoopPauseHoldsTheOtherLoopThenRunsAfterOnItsThread) {
  EventLoop* other = nullptr;
  std::atomic<bool> ready{false};
  CountingPoller poller;
  std::thread t([&] {
    EventLoop loop;
    loop.add_poller(poller);
    other = &loop;
    ready = true;
    loop.run();
    loop.remove_poller(poller);
  });
  while (!ready) std::this_thread::yield();
  while (poller.polls.load() < 100) std::this_thread::yield();
  std::thread::id after_thread;
  {
    runtime::LoopPause pause({other}, [&](EventLoop&) { after_thread = std::this_thread::get_id(); });
    ASSERT_TRUE(pause.holding());
    const std::uint64_t held_at = poller.polls.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(poller.polls.load(), held_at) << "the other loop kept polling during the pause";
  }
  EXPECT_EQ(after_thread, t.get_id());
  const std::uint64_t released_at = poller.polls.load();
  while (poller.polls.load() == released_at) std::this_thread::yield();  // and it runs again
  other->post([other] { other->stop(); });
  t.join();
}

TEST(CrossLoopTest, LoopPauseGivesUpOnALoopThatNeverAnswers) {
  EventLoop idle;  // constructed here, never run
  const auto start = Clock::now();
  {
    runtime::LoopPause pause({&idle}, {}, std::chrono::milliseconds(50));
    EXPECT_FALSE(pause.holding());
  }
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  idle.run_once();  // the late task finds the pause released and passes
}

TEST(CrossLoopTest, CallOnRunsThereAndCompletesHere) {
  EventLoop home;
  EventLoop* other = nullptr;
  std::atomic<bool> ready{false};
  std::thread t([&] {
    EventLoop loop;
    other = &loop;
    ready = true;
    loop.run();
  });
  while (!ready) std::this_thread::yield();
  std::thread::id ran_on;
  io<void> done = runtime::call_on(*other, [&] { ran_on = std::this_thread::get_id(); });
  home.run_until(done);
  EXPECT_EQ(ran_on, t.get_id());
  other->post([other] { other->stop(); });
  t.join();
}

}  // namespace
}  // namespace netfront
