// A flag that is set for the life of a scope and cleared however the scope is left (return,
// exception): what "we are inside X" needs, without a reset on every exit path.
#pragma once

namespace netfront::runtime {

class ScopedFlag {
 public:
  explicit ScopedFlag(bool& flag) noexcept : flag_(flag) { flag_ = true; }
  ~ScopedFlag() { flag_ = false; }
  ScopedFlag(const ScopedFlag&) = delete;
  ScopedFlag& operator=(const ScopedFlag&) = delete;

 private:
  bool& flag_;
};

// The same for a nesting depth: one level more for the life of a scope.
class ScopedDepth {
 public:
  explicit ScopedDepth(unsigned& depth) noexcept : depth_(depth) { ++depth_; }
  ~ScopedDepth() { --depth_; }
  ScopedDepth(const ScopedDepth&) = delete;
  ScopedDepth& operator=(const ScopedDepth&) = delete;

 private:
  unsigned& depth_;
};

}  // namespace netfront::runtime
