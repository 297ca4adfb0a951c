// Counts heap allocations (malloc and everything built on it, operator new included) made by
// this thread inside a scope. The test binary interposes the malloc family over glibc's.
#pragma once

#include <cstddef>

namespace netfront::testing {


class AllocationCounter {
 public:
  AllocationCounter() noexcept;
  ~AllocationCounter();
  std::size_t count() const noexcept;
};

}  // namespace netfront::testing
