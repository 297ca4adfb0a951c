// The error type of the NETWORK signatures: V1's `Unknown of string | Unimplemented |
// Disconnected`, and Mirage_net 4's `Invalid_length | Disconnected` (every length refusal of
// write and writev is InvalidLength).
//
// The signature's kinds are coarse: a backend that went away and a device that broke the ring
// rules are both Disconnected, and most refusals are Unknown. cause() says which it was, in
// terms an application can act on, without reading the message.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace netfront {

class Error {
 public:
  enum class Kind : unsigned char { Unknown, Unimplemented, Disconnected, InvalidLength };

  enum class Cause : unsigned char {
    Unspecified,
    BadArgument,    // the caller's mistake: a malformed device id, a bad length or count, a queue that
                    // does not exist, a call the object's state does not allow
    DeviceGone,     // the device or its backend went away, or the application disconnected
    DeviceFault,    // the device broke the virtio rules (a ring, its configuration, the control
                    // queue): it is not trusted again
    DeviceRefused,  // the device does not offer or accept what was asked (features, queue
                    // counts, sizes, a control command it answers with an error)
    NoResources,    // memory, packet buffers or another limited resource ran out
    System,         // the operating system refused a call (the message gives errno's text)
    Timeout,        // the device did not answer in time
  };

  // Kept as named constructors so a call site reads like the signature it mirrors.
  static Error unknown(std::string message) { return Error(Kind::Unknown, Cause::Unspecified, std::move(message)); }
  static Error unknown(Cause cause, std::string message) { return Error(Kind::Unknown, cause, std::move(message)); }
  static Error unimplemented(std::string what = {}) {
    return Error(Kind::Unimplemented, Cause::Unspecified, std::move(what));
  }
  static Error disconnected(std::string why = {}) { return Error(Kind::Disconnected, Cause::DeviceGone, std::move(why)); }
  static Error disconnected(Cause cause, std::string why) { return Error(Kind::Disconnected, cause, std::move(why)); }
  static Error invalid_length(std::string why = {}) {
    return Error(Kind::InvalidLength, Cause::BadArgument, std::move(why));
  }

  Kind kind() const noexcept { return kind_; }
  Cause cause() const noexcept { return cause_; }
  // For Unknown this is the message of the signature; for the other kinds an optional detail.
  const std::string& message() const noexcept { return message_; }

  bool is_unknown() const noexcept { return kind_ == Kind::Unknown; }
  bool is_unimplemented() const noexcept { return kind_ == Kind::Unimplemented; }
  bool is_disconnected() const noexcept { return kind_ == Kind::Disconnected; }
  bool is_invalid_length() const noexcept { return kind_ == Kind::InvalidLength; }

  // The same error, its message prefixed with `context` ("context: message"): for a layer that
  // passes an error up and says what it was doing.
  Error with_context(std::string_view context) const {
    std::string m(context);
    if (!message_.empty()) m += ": " + message_;
    return Error(kind_, cause_, std::move(m));
  }

  // "Unknown: bad frame", "Disconnected", ...: what a log line or a test failure shows.
  std::string to_string() const;

  friend bool operator==(const Error& a, const Error& b) noexcept {
    return a.kind_ == b.kind_ && a.cause_ == b.cause_ && a.message_ == b.message_;
  }

 private:
  Error(Kind kind, Cause cause, std::string message) : kind_(kind), cause_(cause), message_(std::move(message)) {}
  Kind kind_;
  Cause cause_;
  std::string message_;
};

std::string_view to_string(Error::Kind kind) noexcept;
std::string_view to_string(Error::Cause cause) noexcept;  // "bad argument", "device fault", ...

}  // namespace netfront
