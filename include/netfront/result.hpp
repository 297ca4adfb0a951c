// Result<T>: a value or a netfront::Error, the `('a, error) result` of the signature.
// std::expected is C++23; this is the small subset netfront needs, with no allocation of
// its own (an Error's message may allocate, and only on the error path). The error type is a
// parameter because the library's layers use the same shape with their own typed errors
// inside; applications only ever see Result<T> with netfront::Error.
#pragma once

#include <cassert>
#include <new>
#include <type_traits>
#include <utility>

#include "netfront/error.hpp"

namespace netfront {

struct Ok {};  // the unit value of `(unit, error) result`

template <typename T = Ok, typename E = Error>
class [[nodiscard]] Result {
  static_assert(!std::is_reference_v<T>, "Result holds values");
  static_assert(std::is_nothrow_move_constructible_v<T>, "moves must not fail half-way");
  static_assert(std::is_nothrow_move_constructible_v<E>, "moves must not fail half-way");

 public:
  using value_type = T;
  using error_type = E;

  Result(T value) noexcept : ok_(true) { new (&value_) T(std::move(value)); }  // NOLINT: implicit by design
  Result(E error) noexcept : ok_(false) { new (&error_) E(std::move(error)); }  // NOLINT: implicit by design
  Result(const Result& o) : ok_(o.ok_) {
    if (ok_)
      new (&value_) T(o.value_);
    else
      new (&error_) E(o.error_);
  }
  Result(Result&& o) noexcept : ok_(o.ok_) { take(std::move(o)); }
  // By value: a copy that throws does so before anything here is destroyed.
  Result& operator=(Result o) noexcept {
    destroy();
    ok_ = o.ok_;
    take(std::move(o));
    return *this;
  }
  ~Result() { destroy(); }

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { assert(ok()); return value_; }
  const T& value() const& { assert(ok()); return value_; }
  T&& value() && { assert(ok()); return std::move(value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  const E& error() const& { assert(!ok()); return error_; }
  E&& error() && { assert(!ok()); return std::move(error_); }

 private:
  void take(Result&& o) noexcept {
    if (ok_)
      new (&value_) T(std::move(o.value_));
    else
      new (&error_) E(std::move(o.error_));
  }
  // HOT PATH: every write's result is made and dropped once per frame. A tagged union rather
  // than std::variant: for Result<> (T = Ok) the success case destroys nothing, inline,
  // where the variant's reset was an out-of-line call per frame.
  void destroy() noexcept {
    if (ok_)
      value_.~T();
    else [[unlikely]]
      error_.~E();
  }

  union {
    T value_;
    E error_;
  };
  bool ok_;
};

}  // namespace netfront
