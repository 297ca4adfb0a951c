// BufferPbuf: an lwIP custom pbuf (lwIP 2.1 pbuf.h, "custom pbufs") over a netfront Buffer, so
// that lwIP reads and writes bytes in a device's memory where they lie: a received frame is
// handed to lwIP without a copy, and a payload already in device memory is sent without one.
// The Buffer (and so the mbuf) lives until lwIP frees the pbuf.
#pragma once

#include <lwip/pbuf.h>

#include <cstdint>

#include "netfront/buffer.hpp"

namespace netfront::lwip {

// A pbuf of type PBUF_REF over `bytes`, taking the view over; nullptr when `bytes` is empty or
// longer than a pbuf can say (65535 bytes). Allocation-free once warm: the records come from a
// free list of this thread's (lwIP runs on one thread).
pbuf* wrap(Buffer&& bytes) noexcept;

// The Buffer under `p` when it is one wrap() made (its payload may have moved inside it as
// lwIP stripped headers), nullptr for any other pbuf.
const Buffer* buffer_of(const pbuf* p) noexcept;

// Pbufs made by wrap() and not yet freed.
std::uint64_t held() noexcept;

}  // namespace netfront::lwip
