#include "runtime/fault.hpp"

namespace netfront::runtime {

Error Fault::to_error() const {
  switch (kind_) {
    case Error::Kind::Disconnected: return Error::disconnected(cause_, message_);
    case Error::Kind::InvalidLength: return Error::invalid_length(message_);
    case Error::Kind::Unimplemented: return Error::unimplemented(message_);
    case Error::Kind::Unknown: break;
  }
  return Error::unknown(cause_, message_);
}

std::string Fault::to_string() const {
  std::string s(layer_);
  s += ": ";
  s += what_;
  if (message_ != what_) {
    s += " (";
    s += message_;
    s += ")";
  }
  return s;
}

}  // namespace netfront::runtime
