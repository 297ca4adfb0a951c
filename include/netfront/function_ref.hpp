// FunctionRef<R(Args...)>: a callable passed down and called before the callee returns, by
// reference: no copy, no allocation (std::function may allocate for a capture that does not
// fit its small buffer). The callable must outlive the call it is passed to. It is always
// callable: made from a lambda or another function object, never from a function pointer
// (which may be null; wrap a function in a lambda).
#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace netfront {

template <class Signature>
class FunctionRef;

template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> && std::is_class_v<std::remove_cvref_t<F>> &&
             std::is_invocable_r_v<R, F&, Args...>)
  FunctionRef(F&& f) noexcept  // NOLINT(google-explicit-constructor): passed as a lambda
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* o, Args... args) -> R {
          return std::invoke(*static_cast<std::remove_reference_t<F>*>(o), std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace netfront
