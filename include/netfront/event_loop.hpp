// One event loop per thread: single-threaded, run-to-completion. Each iteration runs the
// coroutines that became ready and polls every registered Poller once; every
// `clock_check_interval` iterations it reads the clock, fires due timers and, once per
// `fd_check_period`, checks file descriptors.
//
// Why not every iteration: a busy iteration is one burst of frames (~1 us), and reading the
// clock (a vDSO call, ~30 ns under kvm-clock) or asking epoll (a system call, ~1 us) at each
// one would cost a busy-polling driver several percent of its packet rate. A timer is late by
// at most `clock_check_interval` iterations; an fd by at most `fd_check_period` plus that.
//
// Idle policy: by default the loop busy-polls forever (lowest latency, one core spent).
// With IdleMode::Sleep it sleeps in epoll_wait after `idle_polls_before_sleep` empty
// iterations, provided every poller armed a wake-up, and wakes on a watched fd, the next
// timer, or work posted from another thread.
//
// Nothing here throws. A loop whose epoll or eventfd cannot be had (the process is out of
// file descriptors) still runs: it busy-polls, fires timers and runs posted work, but it
// never sleeps and watches no fd (FdWatch::start says why); can_sleep() tells.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "netfront/detail/ring_queue.hpp"
#include "netfront/io.hpp"
#include "netfront/poller.hpp"
#include "netfront/result.hpp"

namespace netfront {

class Timer;
class FdWatch;
using Clock = std::chrono::steady_clock;

enum class IdleMode { BusyPoll, Sleep };

struct LoopConfig {
  IdleMode idle = IdleMode::BusyPoll;
  unsigned idle_polls_before_sleep = 1000;
  unsigned clock_check_interval = 16;  // iterations between looks at the clock (timers, fds)
  Clock::duration fd_check_period = std::chrono::microseconds(250);  // busy: fds this often
};

struct LoopCounters {
  std::uint64_t iterations = 0;
  std::uint64_t idle_iterations = 0;
  std::uint64_t sleeps = 0;
  std::uint64_t resumed = 0;  // coroutines resumed from the run queue
};

class EventLoop {
 public:
  explicit EventLoop(LoopConfig config = {});
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // The loop running on (or constructed on) this thread, or nullptr.
  static EventLoop* current() noexcept;

  // Runs until stop() is called.
  void run();
  // Runs until `work` is ready, then returns its value. stop() does not end it: the value
  // must be there to be returned.
  template <typename T>
  T run_until(io<T>& work) {
    while (!work.ready()) run_once();
    return work.get();
  }
  template <typename T>
  T run_until(io<T>&& work) {
    return run_until(work);
  }
  // One iteration; returns the amount of work done (0: idle).
  unsigned run_once();
  // Asks run() to return after the current iteration. Loop thread only.
  void stop() noexcept { stopping_ = true; }
  // Thread-safe: run `fn` on the loop thread soon, waking it if it sleeps.
  void post(std::function<void()> fn);

  void add_poller(Poller& p);
  void remove_poller(Poller& p) noexcept;

  // Resume `h` on a later step of this loop (never inline).
  void schedule(std::coroutine_handle<> h) { run_queue_.push(h); }

  // An io that completes after `delay` (Lwt_unix.sleep / OS.Time.sleep_ns).
  io<void> sleep(Clock::duration delay);

  const LoopCounters& counters() const noexcept { return counters_; }
  const LoopConfig& config() const noexcept { return config_; }
  // False when the loop got no epoll or eventfd: it then busy-polls whatever its IdleMode.
  bool can_sleep() const noexcept { return epoll_fd_ >= 0; }

 private:
  friend class Timer;
  friend class FdWatch;

  void add_timer(Timer& t);
  void remove_timer(Timer& t) noexcept;
  void heap_up(std::size_t i) noexcept;
  void heap_down(std::size_t i) noexcept;
  void heap_swap(std::size_t a, std::size_t b) noexcept;
  unsigned on_clock_check();
  unsigned fire_timers(Clock::time_point now);
  unsigned run_ready();
  unsigned run_posted();
  unsigned check_fds(int timeout_ms);
  bool try_sleep();
  int ms_until_next_timer() const;

  LoopConfig config_;
  LoopCounters counters_;
  bool stopping_ = false;
  unsigned idle_streak_ = 0;
  unsigned clock_check_countdown_ = 1;  // the first iteration looks
  Clock::time_point next_fd_check_{};
  EventLoop* previous_current_;

  detail::RingQueue<std::coroutine_handle<>> run_queue_;
  std::vector<Poller*> pollers_;
  std::vector<Timer*> timers_;  // binary min-heap on deadline

  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: post() from other threads
  unsigned watched_fds_ = 0;
  // The events check_fds() is handing out (the innermost round first, when a callback ran
  // the loop again), so that a watch destroyed by an earlier callback of a round is not
  // called: FdWatch::~FdWatch blanks its entries.
  struct Dispatch {
    epoll_event* events;
    int next, end;
    Dispatch* outer;
  };
  Dispatch* dispatch_ = nullptr;

  std::atomic<bool> has_posted_{false};
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_, posted_running_;
};

// A timer owned by its user (no allocation to arm it). The callback runs on the loop thread.
class Timer {
 public:
  Timer(EventLoop& loop, std::function<void()> callback) : loop_(loop), callback_(std::move(callback)) {}
  ~Timer() { cancel(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void arm(Clock::duration delay) { arm_at(Clock::now() + delay); }
  void arm_at(Clock::time_point deadline);
  // Fires every `period` until cancelled.
  void arm_periodic(Clock::duration period);
  // Returns whether the timer was armed.
  bool cancel() noexcept;
  bool armed() const noexcept { return heap_index_ != kNotArmed; }
  Clock::time_point deadline() const noexcept { return deadline_; }

 private:
  friend class EventLoop;
  static constexpr std::size_t kNotArmed = ~std::size_t{0};
  EventLoop& loop_;
  std::function<void()> callback_;
  Clock::time_point deadline_{};
  Clock::duration period_{};
  std::size_t heap_index_ = kNotArmed;
};

// Watches a file descriptor until destroyed; `on_ready` runs on the loop thread with the
// epoll events seen.
class FdWatch {
 public:
  // Fails with Cause::BadArgument when epoll refuses the fd (not open, watched already, a
  // kind epoll cannot watch) and Cause::System when the loop or the kernel has no room.
  static Result<std::unique_ptr<FdWatch>> start(EventLoop& loop, int fd, std::uint32_t events,
                                                std::function<void(std::uint32_t)> on_ready);
  ~FdWatch();
  FdWatch(const FdWatch&) = delete;
  FdWatch& operator=(const FdWatch&) = delete;
  int fd() const noexcept { return fd_; }

 private:
  friend class EventLoop;
  FdWatch(EventLoop& loop, int fd, std::function<void(std::uint32_t)> on_ready)
      : loop_(loop), fd_(fd), on_ready_(std::move(on_ready)) {}
  EventLoop& loop_;
  int fd_;
  std::function<void(std::uint32_t)> on_ready_;
};

}  // namespace netfront
