// The Internet checksum's arithmetic (RFC 1071): a one's-complement sum of 16-bit big-endian
// words, folded to 16 bits. For the checksums netfront finishes in software (a received frame
// a local sender left partial) and for the device model that computes them as a device would.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace netfront::runtime {

// The one's-complement sum of `bytes`, added to `sum` (an odd last byte is the high half of a
// word).
std::uint32_t ones_sum(std::span<const std::byte> bytes, std::uint32_t sum = 0) noexcept;
// `sum` carried into 16 bits.
std::uint16_t fold(std::uint32_t sum) noexcept;

// NEEDS_CSUM (virtio 1.2 §5.1.6.2): sums the frame from `start` to its end and stores the
// complement at start + offset (whose 16 bits hold the pseudo-header's sum). False, with
// nothing written, when that place is outside the frame.
bool complete_checksum(std::span<std::byte> frame, std::uint16_t start, std::uint16_t offset) noexcept;

}  // namespace netfront::runtime
