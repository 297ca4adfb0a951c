// How many file descriptors this process has open: tests compare it before and after, so a
// leaked socket, eventfd or memfd shows up as a number.
#pragma once

#include <filesystem>

namespace netfront::testing {

inline unsigned open_fds() {
  unsigned n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace netfront::testing
