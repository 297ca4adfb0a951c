// Result<T>: a value or a netfront::Error, the `('a, error) result` of the signature.
// std::expected is C++23; this is the small subset netfront needs, with no allocation of
// its own (an Error's message may allocate, and only on the error path).
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

#include "netfront/error.hpp"

namespace netfront {

struct Ok {};  // the unit value of `(unit, error) result`

template <typename T = Ok>
class [[nodiscard]] Result {
  static_assert(!std::is_reference_v<T>, "Result holds values");

 public:
  using value_type = T;

  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}      // NOLINT: implicit by design

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { assert(ok()); return *std::get_if<0>(&v_); }
  const T& value() const& { assert(ok()); return *std::get_if<0>(&v_); }
  T&& value() && { assert(ok()); return std::move(*std::get_if<0>(&v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  const Error& error() const& { assert(!ok()); return *std::get_if<1>(&v_); }
  Error&& error() && { assert(!ok()); return std::move(*std::get_if<1>(&v_)); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace netfront
