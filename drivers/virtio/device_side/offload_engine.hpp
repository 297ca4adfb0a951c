// What a device does with a transmitted frame's offload header (virtio 1.2 §5.1.6.2), for the
// devices netfront plays itself (the in-process device): completes a partial checksum, and
// cuts a segmentation request into frames of the asked size, each with its own IP and TCP or
// UDP header and checksums. Every position is checked against the frame first: a header the
// driver got wrong gives nullopt or false, never a read or write outside the frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "drivers/virtio/net/net_spec.hpp"
#include "runtime/internet_checksum.hpp"

namespace netfront::virtio::device_side {

using runtime::complete_checksum;
using runtime::fold;
using runtime::ones_sum;


// A segmentation request (gso_type TCPV4, TCPV6 or UDP_L4, with csum_start at the TCP or UDP
// header): hands each segment, checksums complete, to `out`. False, with nothing handed on,
// when the frame is not what the header says (no IPv4/IPv6 header in front of csum_start, a
// TCP header beyond the frame, a zero segment size).
bool segment(std::span<const std::byte> frame, const net::virtio_net_hdr& header,
             const std::function<void(std::span<const std::byte>)>& out);

}  // namespace netfront::virtio::device_side
