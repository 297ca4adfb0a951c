// Limits on a frame handed to write/writev, shared by the API and the drivers.
#pragma once

#include <cstddef>

namespace netfront {

inline constexpr std::size_t kEthernetHeaderLength = 14;
// writev takes at most this many pieces for one frame (a descriptor chain must stay short).
inline constexpr std::size_t kMaxWritevPieces = 64;

}  // namespace netfront
