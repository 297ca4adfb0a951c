// The error type of the NETWORK signatures: V1's `Unknown of string | Unimplemented |
// Disconnected`, and Mirage_net 4's `Invalid_length | Disconnected` (every length refusal of
// write and writev is InvalidLength).
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace netfront {

class Error {
 public:
  enum class Kind : unsigned char { Unknown, Unimplemented, Disconnected, InvalidLength };

  // Kept as named constructors so a call site reads like the signature it mirrors.
  static Error unknown(std::string message) { return Error(Kind::Unknown, std::move(message)); }
  static Error unimplemented(std::string what = {}) { return Error(Kind::Unimplemented, std::move(what)); }
  static Error disconnected(std::string why = {}) { return Error(Kind::Disconnected, std::move(why)); }
  static Error invalid_length(std::string why = {}) { return Error(Kind::InvalidLength, std::move(why)); }

  Kind kind() const noexcept { return kind_; }
  // For Unknown this is the message of the signature; for the other kinds an optional detail.
  const std::string& message() const noexcept { return message_; }

  bool is_unknown() const noexcept { return kind_ == Kind::Unknown; }
  bool is_unimplemented() const noexcept { return kind_ == Kind::Unimplemented; }
  bool is_disconnected() const noexcept { return kind_ == Kind::Disconnected; }
  bool is_invalid_length() const noexcept { return kind_ == Kind::InvalidLength; }

  // "Unknown: bad frame", "Disconnected", ...: what a log line or a test failure shows.
  std::string to_string() const;

  friend bool operator==(const Error& a, const Error& b) noexcept {
    return a.kind_ == b.kind_ && a.message_ == b.message_;
  }

 private:
  Error(Kind kind, std::string message) : kind_(kind), message_(std::move(message)) {}
  Kind kind_;
  std::string message_;
};

std::string_view to_string(Error::Kind kind) noexcept;

}  // namespace netfront
