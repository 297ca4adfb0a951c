// The checks on a transmit offload request (netfront/offload.hpp), made before anything of the
// frame reaches a device: a request the device did not agree to, or one that points outside
// the frame or would make segments beyond the MTU, is refused with a clear error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "netfront/buffer.hpp"
#include "netfront/error.hpp"
#include "netfront/offload.hpp"

namespace netfront::drivers {

// The longest frame a segmentation request may carry: an IP packet of 64 KiB and its Ethernet
// header.
inline constexpr std::size_t kMaxSegmentedFrameLength = 65536 + 14;

// Where the headers repeated in every segment end: the TCP header's end (its data offset read
// from the frame) or the UDP header's. Counted in size_t: a checksum start near 64 KiB plus
// a header would wrap 16 bits. Below the MTU for a request check_tx_offload accepted.
std::size_t segment_header_end(std::span<const Buffer> pieces, const TxOffload& offload) noexcept;

// Why `offload` cannot go with the frame of `pieces` (`length` bytes in all) on a device that
// agreed to `agreed`, whose frames are at most `max_frame` bytes; nullopt when it can.
std::optional<Error> check_tx_offload(std::span<const Buffer> pieces, std::size_t length, const TxOffload& offload,
                                      const Offloads& agreed, std::size_t max_frame);

}  // namespace netfront::drivers
