// Limits on a frame handed to write/writev, shared by the API and the drivers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace netfront {

inline constexpr std::size_t kEthernetHeaderLength = 14;
// The MTUs netfront drives: from the IPv4 minimum to a jumbo frame of 9216 bytes, as a device
// says (VIRTIO_NET_F_MTU) or the device id asks (mtu=N).
inline constexpr std::uint16_t kMinMtu = 68;
inline constexpr std::uint16_t kMaxMtu = 9216;
// writev takes at most this many pieces for one frame (a descriptor chain must stay short).
inline constexpr std::size_t kMaxWritevPieces = 64;

}  // namespace netfront
