// A failure inside the library: a code from the enum of the layer that saw it (RuntimeError,
// ring::RingError, transport::TransportError, net::DeviceError) and a message written where it
// was understood. Which netfront::Error kind and cause a code is to an application is decided
// once, next to its enum; a Fault becomes a netfront::Error only where the API hands it to the
// application (to_error), so inside the library a caller can ask which failure it was
// (is(TransportError::BackendClosed)) without reading a message.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "netfront/error.hpp"
#include "netfront/result.hpp"

namespace netfront::runtime {

// What an application is to be told of one code of a layer's error enum.
template <typename E>
struct CodeInfo {
  E code;
  std::string_view what;  // "backend closed the connection"
  Error::Kind kind;
  Error::Cause cause;
};

// A layer's table: one row per code, in the enum's order, for every code before E::Count (the
// enum's last enumerator, which is no code). Checked where the table is made.
template <typename E, std::size_t N>
constexpr bool in_enum_order(const CodeInfo<E> (&table)[N]) {
  if (N != static_cast<std::size_t>(E::Count)) return false;
  for (std::size_t i = 0; i < N; ++i)
    if (static_cast<std::size_t>(table[i].code) != i) return false;
  return true;
}

// A layer's error enum is declared with, found by argument-dependent lookup: layer_of(code),
// the layer's name, and code_table(code), its table.
template <typename E>
concept FaultCode = std::is_enum_v<E> && requires(E e) {
  { layer_of(e) } -> std::convertible_to<std::string_view>;
  { code_table(e) } -> std::convertible_to<std::span<const CodeInfo<E>>>;
};

template <typename E>
inline constexpr CodeInfo<E> kCodeOutOfRange{E{}, "?", Error::Kind::Unknown, Error::Cause::Unspecified};

template <FaultCode E>
constexpr const CodeInfo<E>& code_info(E code) noexcept {
  const std::span<const CodeInfo<E>> table = code_table(code);
  const auto i = static_cast<std::size_t>(code);
  return i < table.size() ? table[i] : kCodeOutOfRange<E>;
}

class Fault {
 public:
  template <FaultCode E>
  Fault(E code, std::string message = {})  // NOLINT: a layer's code is a Fault
      : tag_(&tag<E>),
        code_(static_cast<unsigned>(code)),
        kind_(code_info(code).kind),
        cause_(code_info(code).cause),
        layer_(layer_of(code)),
        what_(code_info(code).what),
        message_(message.empty() ? std::string(what_) : std::move(message)) {}
  // An error that a public call (EventLoop, FdWatch, PacketPool, ...) returned, carried on as
  // it is.
  explicit Fault(Error error)
      : kind_(error.kind()), cause_(error.cause()), layer_("api"), what_(netfront::to_string(error.cause())),
        message_(error.message().empty() ? std::string(what_) : error.message()) {}

  template <FaultCode E>
  bool is(E code) const noexcept {
    return tag_ == &tag<E> && code_ == static_cast<unsigned>(code);
  }
  Error::Kind kind() const noexcept { return kind_; }
  Error::Cause cause() const noexcept { return cause_; }
  bool is_disconnected() const noexcept { return kind_ == Error::Kind::Disconnected; }
  std::string_view layer() const noexcept { return layer_; }
  std::string_view what() const noexcept { return what_; }  // the code's own description
  // Written where the failure was understood, with what each layer above added; the code's
  // description when nobody wrote one.
  const std::string& message() const noexcept { return message_; }

  // The same failure, its message prefixed with `context` ("context: message").
  Fault with_context(std::string_view context) const {
    Fault f = *this;
    std::string m(context);
    m += ": ";
    m += message_;
    f.message_ = std::move(m);
    return f;
  }

  // What the application is given.
  Error to_error() const;
  // "vhost-user: backend closed the connection (...message)": for log lines and tests.
  std::string to_string() const;

 private:
  // One address per layer enum: which enum code_ belongs to. Writable, so that no linker folds
  // two of them into one.
  template <typename E>
  static inline char tag = 0;

  const char* tag_ = nullptr;  // nullptr: an Error of a public call
  unsigned code_ = 0;
  Error::Kind kind_;
  Error::Cause cause_;
  std::string_view layer_;
  std::string_view what_;
  std::string message_;
};

// The library's internal results: a value or a Fault.
template <typename T = Ok>
using Result = netfront::Result<T, Fault>;

// A layer's result handed to the application.
template <typename T>
netfront::Result<T> to_api(Result<T>&& r) {
  if (!r) [[unlikely]]
    return r.error().to_error();
  return std::move(r).value();
}

}  // namespace netfront::runtime
