#include <gtest/gtest.h>

#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "netfront/event_loop.hpp"
#include "netfront/io.hpp"

namespace netfront {
namespace {

TEST(IoTest, ReadyIoIsReadyAtOnce) {
  io<int> r = make_ready_io(7);
  EXPECT_TRUE(r.ready());
  EXPECT_EQ(r.get(), 7);
  io<void> v = make_ready_io();
  EXPECT_TRUE(v.ready());
  v.get();
}

TEST(IoTest, PromiseCompletesItsIoAndSurvivesMovesOfBothEnds) {
  Promise<std::string> p;
  io<std::string> f = p.get_io();
  EXPECT_TRUE(f.pending());
  io<std::string> moved = std::move(f);          // the promise follows the io...
  Promise<std::string> p2 = std::move(p);        // ...and the io follows the promise
  EXPECT_TRUE(p2.waiting());
  p2.set_value("done");
  ASSERT_TRUE(moved.ready());
  EXPECT_EQ(moved.get(), "done");
  EXPECT_FALSE(p2.waiting());
}

TEST(IoTest, DroppedIoDetachesFromItsPromise) {
  Promise<int> p;
  { io<int> f = p.get_io(); }
  EXPECT_FALSE(p.waiting());
  p.set_value(1);  // nobody listens: harmless
}

TEST(IoTest, DestroyedPromiseBreaksItsIo) {
  std::optional<Promise<int>> p(std::in_place);
  io<int> f = p->get_io();
  p.reset();
  ASSERT_TRUE(f.ready());
  EXPECT_THROW(f.get(), BrokenPromise);
}

io<int> add_later(Promise<int>& gate, int base) {
  const int x = co_await gate.get_io();
  co_return base + x;
}

io<int> sum_two(Promise<int>& a, Promise<int>& b) {
  const int x = co_await add_later(a, 1);
  const int y = co_await add_later(b, 10);
  co_return x + y;
}

TEST(IoTest, CoroutinesWaitOnPendingIoAndResumeFromTheLoop) {
  EventLoop loop;
  Promise<int> a, b;
  io<int> total = sum_two(a, b);
  EXPECT_TRUE(total.pending());
  a.set_value(2);
  EXPECT_TRUE(total.pending());  // resumption is scheduled, never inline
  loop.run_once();
  b.set_value(20);
  EXPECT_EQ(loop.run_until(total), 33);
}

io<int> immediate(int v) { co_return v * 2; }

TEST(IoTest, CoroutineThatNeverWaitsIsReadyOnReturn) {
  io<int> r = immediate(21);
  ASSERT_TRUE(r.ready());
  EXPECT_EQ(r.get(), 42);
}

io<int> thrower(Promise<int>& gate) {
  co_await gate.get_io();
  throw std::runtime_error("boom");
}

TEST(IoTest, ExceptionTravelsToTheAwaiter) {
  EventLoop loop;
  Promise<int> gate;
  io<int> r = thrower(gate);
  gate.set_value(0);
  EXPECT_THROW(loop.run_until(r), std::runtime_error);
}

io<void> record(std::vector<int>& log, Promise<void>& gate, int id) {
  co_await gate.get_io();
  log.push_back(id);
}

TEST(IoTest, DetachedCoroutineStillRunsToCompletion) {
  EventLoop loop;
  std::vector<int> log;
  Promise<void> gate;
  (void)record(log, gate, 5);  // io dropped at once: Lwt.async
  gate.set_value();
  loop.run_once();
  EXPECT_EQ(log, std::vector<int>{5});
}

TEST(IoTest, ResultIoCarriesErrors) {
  io<Result<>> r = make_ready_io(Result<>(Error::disconnected()));
  Result<> got = r.get();
  ASSERT_FALSE(got);
  EXPECT_TRUE(got.error().is_disconnected());
  EXPECT_EQ(got.error().to_string(), "Disconnected");
  EXPECT_EQ(Error::unknown("bad frame").to_string(), "Unknown: bad frame");
}

// The signature's kinds are coarse; the cause tells apart what they do not, and shows in the
// text where it says more than the kind.
TEST(ErrorTest, CauseTellsApartWhatTheKindDoesNot) {
  const Error gone = Error::disconnected();
  const Error broke = Error::disconnected(Error::Cause::DeviceFault, "used id out of range");
  EXPECT_TRUE(gone.is_disconnected());
  EXPECT_TRUE(broke.is_disconnected());
  EXPECT_EQ(gone.cause(), Error::Cause::DeviceGone);
  EXPECT_EQ(broke.cause(), Error::Cause::DeviceFault);
  EXPECT_NE(gone, broke);
  EXPECT_EQ(Error::invalid_length().cause(), Error::Cause::BadArgument);
  EXPECT_EQ(Error::unknown("x").cause(), Error::Cause::Unspecified);
  EXPECT_EQ(Error::unknown(Error::Cause::Timeout, "no answer").cause(), Error::Cause::Timeout);
  EXPECT_EQ(broke.to_string(), "Disconnected (device fault): used id out of range");
  EXPECT_EQ(Error::unknown(Error::Cause::BadArgument, "no queue pair 9").to_string(),
            "Unknown (bad argument): no queue pair 9");
  EXPECT_EQ(Error::invalid_length("too long").to_string(), "InvalidLength: too long");
  // Passed up with context, an error keeps its kind and cause.
  const Error up = broke.with_context("setting up ring 0");
  EXPECT_TRUE(up.is_disconnected());
  EXPECT_EQ(up.cause(), Error::Cause::DeviceFault);
  EXPECT_EQ(up.message(), "setting up ring 0: used id out of range");
  for (auto c : {Error::Cause::Unspecified, Error::Cause::BadArgument, Error::Cause::DeviceGone,
                 Error::Cause::DeviceFault, Error::Cause::DeviceRefused, Error::Cause::NoResources,
                 Error::Cause::System, Error::Cause::Timeout})
    EXPECT_NE(to_string(c), "?");
}

// Counts live instances, so a test sees each value constructed and destroyed exactly once
// however the io holding it is moved, taken or dropped.
struct Tracked {
  static inline int live = 0;
  int v;
  explicit Tracked(int x) noexcept : v(x) { ++live; }
  Tracked(Tracked&& o) noexcept : v(o.v) { ++live; }
  Tracked(const Tracked&) = delete;
  ~Tracked() { --live; }
};

TEST(IoTest, ValuesLiveExactlyAsLongAsTheIoThatHoldsThem) {
  Tracked::live = 0;
  {
    io<Tracked> a = make_ready_io(Tracked(1));
    EXPECT_EQ(Tracked::live, 1);
    io<Tracked> b = std::move(a);  // moved out of a: still one
    EXPECT_EQ(Tracked::live, 1);
    io<Tracked> c = make_ready_io(Tracked(2));
    c = std::move(b);  // c's own value goes, b's arrives
    EXPECT_EQ(Tracked::live, 1);
    EXPECT_EQ(c.get().v, 1);  // taken: nothing left in c
    EXPECT_EQ(Tracked::live, 0);
    io<Tracked> dropped = make_ready_io(Tracked(3));
  }
  EXPECT_EQ(Tracked::live, 0);
  {
    Promise<Tracked> p;
    io<Tracked> pending = p.get_io();
    p.set_value(4);
    io<Tracked> moved = std::move(pending);
    EXPECT_EQ(Tracked::live, 1);
  }
  EXPECT_EQ(Tracked::live, 0);
}

TEST(IoTest, AFailedIoKeepsItsExceptionThroughMoves) {
  Promise<int> p;
  io<int> f = p.get_io();
  p.set_exception(std::make_exception_ptr(std::runtime_error("device gone")));
  io<int> moved = std::move(f);
  io<int> other = make_ready_io(1);
  other = std::move(moved);
  ASSERT_TRUE(other.ready());
  try {
    (void)other.get();
    FAIL() << "the exception was lost";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "device gone");
  }
  EXPECT_FALSE(other.ready());  // taken once: nothing left
}

}  // namespace
}  // namespace netfront
