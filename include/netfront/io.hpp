// io<T>: the `'a io` (Lwt.t) of the NETWORK signature, an awaitable result on the event loop.
//
// Design (after Seastar's future/promise): the result lives inside the io object itself, and
// the producer (a Promise<T>, or the coroutine that returns the io) keeps a pointer to it that
// both sides fix up when either is moved. So neither a ready io nor a pending one touches the
// heap; only a coroutine *frame* needs memory, and frames come from a per-thread free list
// (FramePool) that stops allocating once warm. An io that is dropped while pending detaches
// from its producer: the work goes on and its result is discarded (Lwt.async semantics).
//
// Coroutines returning io<T> start eagerly, like Lwt threads: they run until they first wait.
// A waiting coroutine is resumed from the event loop of the thread (detail::schedule_resume),
// never from inside the producer's call, so a producer never re-enters its caller.
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "netfront/result.hpp"

namespace netfront {

template <typename T>
class io;
template <typename T>
class Promise;

// Thrown by awaiting an io whose producer was destroyed without delivering a value.
class BrokenPromise : public std::logic_error {
 public:
  BrokenPromise() : std::logic_error("netfront: io abandoned by its producer") {}
};

namespace detail {

// Defined by the runtime: resume `h` from this thread's event loop (or at once when the thread
// runs no loop, e.g. in a plain test).
void schedule_resume(std::coroutine_handle<> h) noexcept;

// Coroutine frames are recycled per thread by size class, so a steady state of coroutine calls
// does no heap allocation.
void* frame_allocate(std::size_t size);
void frame_free(void* frame, std::size_t size) noexcept;

template <typename T>
struct Stored {
  using type = T;
};
template <>
struct Stored<void> {
  using type = Ok;
};
template <typename T>
using stored_t = typename Stored<T>::type;

// The producer side of an io: one link, kept consistent across moves of either end.
template <typename T>
class ProducerLink {
 public:
  ProducerLink(const ProducerLink&) = delete;
  ProducerLink& operator=(const ProducerLink&) = delete;

 protected:
  ProducerLink() noexcept = default;
  ProducerLink(ProducerLink&& other) noexcept : io_(std::exchange(other.io_, nullptr)) {
    if (io_) io_->producer_ = this;
  }
  ProducerLink& operator=(ProducerLink&& other) noexcept {
    if (this != &other) {
      abandon();
      io_ = std::exchange(other.io_, nullptr);
      if (io_) io_->producer_ = this;
    }
    return *this;
  }
  ~ProducerLink() { abandon(); }

  io<T> make_io() noexcept;
  bool linked() const noexcept { return io_ != nullptr; }
  void deliver(stored_t<T>&& value) noexcept;
  void deliver_exception(std::exception_ptr e) noexcept;
  void abandon() noexcept;

 private:
  friend class io<T>;
  io<T>* io_ = nullptr;
};

template <typename T>
struct CoroutinePromiseBase : ProducerLink<T> {
  io<T> get_return_object() noexcept { return this->make_io(); }
  std::suspend_never initial_suspend() const noexcept { return {}; }
  std::suspend_never final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { this->deliver_exception(std::current_exception()); }
  static void* operator new(std::size_t size) { return frame_allocate(size); }
  static void operator delete(void* frame, std::size_t size) noexcept { frame_free(frame, size); }
};

template <typename T>
struct CoroutinePromise : CoroutinePromiseBase<T> {
  template <typename U>
  void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    this->deliver(T(std::forward<U>(value)));
  }
};
template <>
struct CoroutinePromise<void> : CoroutinePromiseBase<void> {
  void return_void() noexcept { this->deliver(Ok{}); }
};

}  // namespace detail

template <typename T>
class [[nodiscard]] io {
  using Stored = detail::stored_t<T>;
  static_assert(std::is_nothrow_move_constructible_v<Stored>, "an io moves its result; the move must not fail");

 public:
  using value_type = T;
  using promise_type = detail::CoroutinePromise<T>;

  // A completed io: no allocation, no loop round trip. HOT PATH: every write returns one;
  // always inline, or GCC's LTO may leave it an out-of-line call per frame.
  template <typename U = Stored>
    requires std::is_constructible_v<Stored, U&&>
  [[gnu::always_inline]] explicit io(U&& value) : state_(State::Ready) {
    new (&value_) Stored(std::forward<U>(value));
  }

  io(io&& other) noexcept { steal(other); }
  io& operator=(io&& other) noexcept {
    if (this != &other) {
      release();
      steal(other);
    }
    return *this;
  }
  io(const io&) = delete;
  io& operator=(const io&) = delete;
  ~io() { release(); }

  // True once a value (or an exception) is there.
  bool ready() const noexcept { return state_ == State::Ready || state_ == State::Failed || state_ == State::Broken; }
  bool pending() const noexcept { return state_ == State::Pending; }

  // Takes the result of a ready io (rethrows what the producer threw).
  T get() {
    assert(ready() && "io::get() on a pending io: await it or run the loop until it is ready");
    return take();
  }

  // Awaiter interface: `co_await some_io`.
  bool await_ready() const noexcept { return state_ != State::Pending; }
  void await_suspend(std::coroutine_handle<> waiter) noexcept { waiter_ = waiter; }
  T await_resume() { return take(); }

 private:
  friend class detail::ProducerLink<T>;
  enum class State : std::uint8_t { Empty, Pending, Ready, Failed, Broken };

  struct PendingTag {};
  io(PendingTag, detail::ProducerLink<T>* producer) noexcept : state_(State::Pending), producer_(producer) {}

  // What lives depends on the state alone: producer_ and waiter_ only while Pending, value_
  // only while Ready, error_ only while Failed. So moving or dropping a ready io (once per
  // written frame) looks at state_ and its value, and at nothing else.

  // Leaves `other` Empty; cannot fail half-way (Stored is nothrow-movable, asserted above).
  void steal(io& other) noexcept {
    state_ = std::exchange(other.state_, State::Empty);
    switch (state_) {
      case State::Ready:
        new (&value_) Stored(std::move(other.value_));
        other.value_.~Stored();
        break;
      case State::Failed:
        new (&error_) std::exception_ptr(std::move(other.error_));
        other.error_.~exception_ptr();
        break;
      case State::Pending:
        producer_ = std::exchange(other.producer_, nullptr);
        waiter_ = std::exchange(other.waiter_, {});
        if (producer_) producer_->io_ = this;
        break;
      default:
        break;
    }
  }

  // Ends whatever the state says lives: a pending io detaches from its producer (whose work
  // goes on, its result discarded), a finished one destroys its result.
  void release() noexcept {
    switch (state_) {
      case State::Pending:
        if (producer_) producer_->io_ = nullptr;
        producer_ = nullptr;
        waiter_ = {};
        break;
      case State::Ready:
        value_.~Stored();
        break;
      case State::Failed:
        error_.~exception_ptr();
        break;
      default:
        break;
    }
    state_ = State::Empty;
  }

  // Only a Pending io is completed: no result is there yet.
  void complete(Stored&& value) noexcept {
    new (&value_) Stored(std::move(value));
    state_ = State::Ready;
    producer_ = nullptr;
    wake();
  }
  void fail(State state, std::exception_ptr e) noexcept {
    if (state == State::Failed) new (&error_) std::exception_ptr(std::move(e));
    state_ = state;
    producer_ = nullptr;
    wake();
  }
  void wake() noexcept {
    if (waiter_) detail::schedule_resume(std::exchange(waiter_, {}));
  }

  // HOT PATH: the ready case, once per written frame in the caller, always inline; the rest
  // apart, so that it is never what makes the compiler keep take() out of line.
  [[gnu::always_inline]] T take() {
    if (state_ == State::Ready) [[likely]] {
      state_ = State::Empty;
      if constexpr (std::is_void_v<T>) {
        value_.~Stored();
        return;
      } else {
        T out = std::move(value_);
        value_.~Stored();
        return out;
      }
    }
    return take_unready();
  }

  [[gnu::noinline]] T take_unready() {
    switch (state_) {
      case State::Failed: {
        state_ = State::Empty;
        std::exception_ptr e = std::move(error_);
        error_.~exception_ptr();
        std::rethrow_exception(std::move(e));
      }
      case State::Broken:
        state_ = State::Empty;
        throw BrokenPromise();
      default:
        throw std::logic_error("netfront: io taken twice or while pending");
    }
  }

  // HOT PATH: a ready io is made, taken and dropped once per written frame. One tagged union,
  // state_ saying which member lives (Ready: value_, Failed: error_), so a ready io constructs,
  // moves and destroys only its value: no optional flag, no exception_ptr to move and release.
  State state_ = State::Empty;
  union {
    Stored value_;
    std::exception_ptr error_;
  };
  detail::ProducerLink<T>* producer_ = nullptr;
  std::coroutine_handle<> waiter_;
};

// A producer for code that completes an io later (a device queue, a timer, a test).
template <typename T>
class Promise : private detail::ProducerLink<T> {
  using Link = detail::ProducerLink<T>;

 public:
  Promise() noexcept = default;
  Promise(Promise&&) noexcept = default;
  Promise& operator=(Promise&&) noexcept = default;

  // The one io this promise completes. Call once per promise (or again after set_*).
  io<T> get_io() noexcept { return this->make_io(); }
  // Whether an io is still waiting for this promise.
  bool waiting() const noexcept { return this->linked(); }

  template <typename... Args>
  void set_value(Args&&... args) noexcept {
    this->deliver(detail::stored_t<T>(std::forward<Args>(args)...));
  }
  void set_exception(std::exception_ptr e) noexcept { this->deliver_exception(std::move(e)); }
};

template <typename T>
io<std::decay_t<T>> make_ready_io(T&& value) {
  return io<std::decay_t<T>>(std::forward<T>(value));
}
inline io<void> make_ready_io() { return io<void>(Ok{}); }

namespace detail {

template <typename T>
io<T> ProducerLink<T>::make_io() noexcept {
  assert(!io_ && "one producer completes one io at a time");
  io<T> out(typename io<T>::PendingTag{}, this);
  io_ = &out;
  return out;  // a move, if not elided, re-points io_ (see io::steal)
}

template <typename T>
void ProducerLink<T>::deliver(stored_t<T>&& value) noexcept {
  if (io<T>* target = std::exchange(io_, nullptr)) target->complete(std::move(value));
}

template <typename T>
void ProducerLink<T>::deliver_exception(std::exception_ptr e) noexcept {
  if (io<T>* target = std::exchange(io_, nullptr)) target->fail(io<T>::State::Failed, std::move(e));
}

template <typename T>
void ProducerLink<T>::abandon() noexcept {
  if (io<T>* target = std::exchange(io_, nullptr)) target->fail(io<T>::State::Broken, nullptr);
}

}  // namespace detail
}  // namespace netfront
