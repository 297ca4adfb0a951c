#include "netfront/event_loop.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "runtime/log.hpp"

namespace netfront {
namespace {
thread_local EventLoop* tls_current_loop = nullptr;
// Stands in an event's place once its watch is gone (nullptr marks the wake eventfd).
char gone_watch;
}

void detail::schedule_resume(std::coroutine_handle<> h) noexcept {
  if (EventLoop* loop = tls_current_loop) {
    loop->schedule(h);
  } else {
    h.resume();  // no loop on this thread: nothing else could ever resume it
  }
}

EventLoop::EventLoop(LoopConfig config) : config_(config), previous_current_(tls_current_loop) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // nullptr marks the wake eventfd
  if (epoll_fd_ < 0 || wake_fd_ < 0 || ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
    // Without both, a sleeping loop could miss a post(): it busy-polls instead.
    runtime::logger("runtime").warn("event loop: no epoll or eventfd ({}); this loop busy-polls and watches no fd",
                           std::strerror(errno));
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
    epoll_fd_ = wake_fd_ = -1;
  }
  pollers_.reserve(16);
  timers_.reserve(64);
  posted_.reserve(16);
  posted_running_.reserve(16);
  tls_current_loop = this;
}

EventLoop::~EventLoop() {
  for (Timer* t : timers_) t->heap_index_ = Timer::kNotArmed;
  {
    std::lock_guard lock(posted_mutex_);  // a post() still writing its wake-up finishes first
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (tls_current_loop == this) tls_current_loop = previous_current_;
}

EventLoop* EventLoop::current() noexcept { return tls_current_loop; }

void EventLoop::run() {
  stopping_ = false;
  while (!stopping_) run_once();
}

unsigned EventLoop::run_once() {
  ++counters_.iterations;
  unsigned work = run_ready();
  if (--clock_check_countdown_ == 0) work += on_clock_check();
  if (has_posted_.load(std::memory_order_acquire)) work += run_posted();
  for (Poller* p : pollers_) work += p->poll();
  work += run_ready();  // what the pollers and timers completed runs in the same iteration

  if (work > 0) {
    idle_streak_ = 0;
    return work;
  }
  ++counters_.idle_iterations;
  if (config_.idle == IdleMode::Sleep && ++idle_streak_ >= config_.idle_polls_before_sleep) {
    idle_streak_ = 0;
    if (try_sleep()) ++counters_.sleeps;
    clock_check_countdown_ = 1;  // it woke for a timer, perhaps: look at once
  }
  return 0;
}

unsigned EventLoop::run_ready() {
  // Only what is queued now: a coroutine that reschedules itself waits for the next round,
  // so pollers are never starved.
  std::size_t n = run_queue_.size();
  const unsigned ran = static_cast<unsigned>(n);
  while (n-- > 0) {
    run_queue_.pop().resume();
    ++counters_.resumed;
  }
  return ran;
}

bool EventLoop::try_sleep() {
  if (!run_queue_.empty() || stopping_ || !can_sleep()) return false;
  std::size_t armed = 0;
  for (; armed < pollers_.size(); ++armed)
    if (!pollers_[armed]->arm_wakeup()) break;
  const bool all_armed = armed == pollers_.size();
  if (all_armed) check_fds(ms_until_next_timer());
  for (std::size_t i = 0; i < armed; ++i) pollers_[i]->disarm_wakeup();
  return all_armed;
}

int EventLoop::ms_until_next_timer() const {
  if (timers_.empty()) return -1;
  const auto left = timers_.front()->deadline_ - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  // Round up so a sleep never ends just before the deadline and spins.
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

unsigned EventLoop::check_fds(int timeout_ms) {
  epoll_event events[16];
  const int n = ::epoll_wait(epoll_fd_, events, 16, timeout_ms);
  unsigned work = 0;
  Dispatch round{events, 0, std::max(n, 0), dispatch_};
  dispatch_ = &round;
  for (int i = 0; i < n; ++i) {
    round.next = i + 1;
    if (events[i].data.ptr == &gone_watch) continue;  // destroyed by an earlier callback
    if (auto* watch = static_cast<FdWatch*>(events[i].data.ptr)) {
      watch->on_ready_(events[i].events);
    } else {
      std::uint64_t drained;
      while (::read(wake_fd_, &drained, sizeof drained) > 0) {
      }
    }
    ++work;
  }
  dispatch_ = round.outer;
  return work + run_posted();
}

// The wake-up is written under the lock: the posted task may stop the loop, whose thread may
// then destroy it (closing wake_fd_) as soon as it can take the lock, so nothing of the loop is
// touched here after the lock is let go.
void EventLoop::post(std::function<void()> fn) {
  std::lock_guard lock(posted_mutex_);
  posted_.push_back(std::move(fn));
  has_posted_.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof one);
}

unsigned EventLoop::run_posted() {
  {
    std::lock_guard lock(posted_mutex_);
    has_posted_.store(false, std::memory_order_relaxed);
    if (posted_.empty()) return 0;
    posted_running_.swap(posted_);
  }
  for (auto& fn : posted_running_) fn();
  const auto n = static_cast<unsigned>(posted_running_.size());
  posted_running_.clear();
  return n;
}

void EventLoop::add_poller(Poller& p) {
  if (std::find(pollers_.begin(), pollers_.end(), &p) == pollers_.end()) pollers_.push_back(&p);
}

void EventLoop::remove_poller(Poller& p) noexcept { std::erase(pollers_, &p); }

// --- timers: a binary min-heap of Timer*, each timer knowing its own index for O(log n) cancel.

void EventLoop::heap_swap(std::size_t a, std::size_t b) noexcept {
  std::swap(timers_[a], timers_[b]);
  timers_[a]->heap_index_ = a;
  timers_[b]->heap_index_ = b;
}

void EventLoop::heap_up(std::size_t i) noexcept {
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (timers_[parent]->deadline_ <= timers_[i]->deadline_) break;
    heap_swap(i, parent);
    i = parent;
  }
}

void EventLoop::heap_down(std::size_t i) noexcept {
  for (;;) {
    const std::size_t l = 2 * i + 1, r = l + 1;
    std::size_t least = i;
    if (l < timers_.size() && timers_[l]->deadline_ < timers_[least]->deadline_) least = l;
    if (r < timers_.size() && timers_[r]->deadline_ < timers_[least]->deadline_) least = r;
    if (least == i) return;
    heap_swap(i, least);
    i = least;
  }
}

void EventLoop::add_timer(Timer& t) {
  t.heap_index_ = timers_.size();
  timers_.push_back(&t);
  heap_up(t.heap_index_);
}

void EventLoop::remove_timer(Timer& t) noexcept {
  const std::size_t i = t.heap_index_;
  const std::size_t last = timers_.size() - 1;
  if (i != last) heap_swap(i, last);
  timers_.pop_back();
  t.heap_index_ = Timer::kNotArmed;
  if (i < timers_.size()) {
    heap_up(i);
    heap_down(timers_[i]->heap_index_);
  }
}

unsigned EventLoop::on_clock_check() {
  clock_check_countdown_ = std::max(config_.clock_check_interval, 1u);
  if (timers_.empty() && watched_fds_ == 0) return 0;
  const auto now = Clock::now();
  unsigned work = fire_timers(now);
  if (watched_fds_ > 0 && now >= next_fd_check_) {
    next_fd_check_ = now + config_.fd_check_period;
    work += check_fds(0);
  }
  return work;
}

unsigned EventLoop::fire_timers(Clock::time_point now) {
  unsigned fired = 0;
  while (!timers_.empty() && timers_.front()->deadline_ <= now) {
    Timer* t = timers_.front();
    remove_timer(*t);
    if (t->period_ > Clock::duration::zero()) {
      t->deadline_ += t->period_;
      if (t->deadline_ <= now) t->deadline_ = now + t->period_;  // fell behind: do not burst
      add_timer(*t);
    }
    ++fired;
    t->callback_();  // may re-arm, cancel or destroy other timers: the heap is consistent here
  }
  return fired;
}

void Timer::arm_at(Clock::time_point deadline) {
  cancel();
  deadline_ = deadline;
  period_ = Clock::duration::zero();
  loop_.add_timer(*this);
}

void Timer::arm_periodic(Clock::duration period) {
  cancel();
  deadline_ = Clock::now() + period;
  period_ = period;
  loop_.add_timer(*this);
}

bool Timer::cancel() noexcept {
  if (!armed()) return false;
  loop_.remove_timer(*this);
  return true;
}

namespace {
// Waits on a Timer that lives in the awaiting coroutine's frame: sleeping allocates nothing.
struct SleepAwaiter {
  SleepAwaiter(EventLoop& loop, Clock::duration delay)
      : delay(delay), timer(loop, [this, &loop] { loop.schedule(waiter); }) {}
  bool await_ready() const noexcept { return delay <= Clock::duration::zero(); }
  void await_suspend(std::coroutine_handle<> h) {
    waiter = h;
    timer.arm(delay);
  }
  void await_resume() const noexcept {}

  Clock::duration delay;
  std::coroutine_handle<> waiter;
  Timer timer;
};
}  // namespace

io<void> EventLoop::sleep(Clock::duration delay) { co_await SleepAwaiter(*this, delay); }

// --- file descriptors

Result<std::unique_ptr<FdWatch>> FdWatch::start(EventLoop& loop, int fd, std::uint32_t events,
                                                 std::function<void(std::uint32_t)> on_ready) {
  if (!loop.can_sleep())
    return Error::unknown(Error::Cause::System, "cannot watch fd " + std::to_string(fd) + ": the event loop has no epoll");
  std::unique_ptr<FdWatch> watch(new FdWatch(loop, fd, std::move(on_ready)));
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = watch.get();
  if (::epoll_ctl(loop.epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    const int err = errno;
    const auto cause = err == ENOMEM || err == ENOSPC ? Error::Cause::System : Error::Cause::BadArgument;
    watch->fd_ = -1;  // not added: the destructor leaves epoll alone
    return Error::unknown(cause, "cannot watch fd " + std::to_string(fd) + ": " + std::strerror(err));
  }
  ++loop.watched_fds_;
  return watch;
}

FdWatch::~FdWatch() {
  if (fd_ < 0) return;
  for (auto* round = loop_.dispatch_; round; round = round->outer)
    for (int i = round->next; i < round->end; ++i)
      if (round->events[i].data.ptr == this) round->events[i].data.ptr = &gone_watch;
  ::epoll_ctl(loop_.epoll_fd_, EPOLL_CTL_DEL, fd_, nullptr);
  --loop_.watched_fds_;
}

}  // namespace netfront
