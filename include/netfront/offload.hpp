// Offloads: work on a frame's checksum and segmentation that the device does instead of the
// application (virtio 1.2 §5.1.6.2 on transmit, §5.1.6.4 on receive).
//
// Nothing is offloaded unless the application asks: in the device id (offloads=...) and, for
// receive, at run time (Netif::set_receive_offloads). What was asked and the device offered is
// Netif::offloads(). A frame written without a TxOffload, and a received frame when no receive
// offload was negotiated, cost exactly what they cost without this header.
//
//   auto dev = co_await Netif::connect("vhost-user:/tmp/sock,offloads=csum+tso4");
//   TxOffload o{.checksum = {.start = 34, .offset = 16}, .gso = Gso::Tcp4, .segment_size = 1448};
//   co_await dev->writev(pieces, o);          // one 64 KiB TCP super-frame, cut by the device
//   ...
//   const RxOffload r = rx_offload(frame);   // in a listen handler
//   if (r.checksum == RxChecksum::Partial) ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "netfront/buffer.hpp"

namespace netfront {

// The offloads a device may do, as asked for in an id and as negotiated with a device.
struct Offloads {
  // Transmit (the device completes or cuts what the driver sends).
  bool tx_checksum = false;  // VIRTIO_NET_F_CSUM: partial checksums completed by the device
  bool tso4 = false;         // VIRTIO_NET_F_HOST_TSO4 (needs tx_checksum)
  bool tso6 = false;         // VIRTIO_NET_F_HOST_TSO6 (needs tx_checksum)
  bool tso_ecn = false;      // VIRTIO_NET_F_HOST_ECN: TSO of segments with ECN's CWR set (needs tso4 or tso6)
  bool uso = false;          // VIRTIO_NET_F_HOST_USO: UDP segmentation (needs tx_checksum)
  // Receive (the device hands the driver partial or verified checksums).
  bool rx_checksum = false;  // VIRTIO_NET_F_GUEST_CSUM

  friend bool operator==(const Offloads&, const Offloads&) = default;
  bool any() const noexcept { return *this != Offloads{}; }
  // "csum+tso4+rx_csum", the spelling of the id's offloads= option ("" when none).
  std::string to_string() const;
};

// The segmentation a transmitted frame asks for (§5.1.6.2: gso_type).
enum class Gso : std::uint8_t { None, Tcp4, Tcp6, Udp };

// A frame's transmit offload: the checksum the device completes and the segmentation it does.
// Checked against the frame and Offloads at write; a request the device did not agree to, or
// one outside the frame, is InvalidLength (a length or position) or Unknown/BadArgument and
// nothing is sent.
struct TxOffload {
  // A partial checksum (§5.1.6.2 NEEDS_CSUM): the device sums the frame from `start` (from the
  // frame's first byte) to its end and adds the sum into the 16 bits at start + offset, which
  // hold the pseudo-header's sum already. For TCP over IPv4 without options: start 34, offset 16.
  struct Checksum {
    bool requested = false;
    std::uint16_t start = 0;
    std::uint16_t offset = 0;
    friend bool operator==(const Checksum&, const Checksum&) = default;
  } checksum{};
  Gso gso = Gso::None;
  // With gso: the payload bytes of each segment (TCP's MSS, or the UDP payload of each
  // datagram). The headers, up to the end of the TCP or UDP header, are the frame's first bytes
  // and are repeated in every segment. Segmentation needs the checksum request too.
  std::uint16_t segment_size = 0;
  bool ecn = false;  // the TCP segment has CWR set: only with Offloads::tso_ecn
  friend bool operator==(const TxOffload&, const TxOffload&) = default;
};

// What the device said of a received frame's checksum (§5.1.6.4 "Processing of Incoming
// Packets").
enum class RxChecksum : std::uint8_t {
  Unknown,  // nothing said: the application checks the checksum itself
  Valid,    // DATA_VALID: the device checked it
  Partial,  // NEEDS_CSUM: not computed yet (a frame from a local sender); csum_start/offset as
            // in TxOffload::Checksum, from the received frame's first byte (not a slice's),
            // already checked to lie inside the frame
};

struct RxOffload {
  RxChecksum checksum = RxChecksum::Unknown;
  std::uint16_t csum_start = 0;   // with Partial
  std::uint16_t csum_offset = 0;  // with Partial
  friend bool operator==(const RxOffload&, const RxOffload&) = default;
};

// What the device said of `frame`, a received frame (or a view of one). Every field was checked
// before the frame was delivered; a frame whose header broke a rule was dropped and counted
// (device_errors), never delivered. Unknown for a frame of any other origin.
RxOffload rx_offload(const Buffer& frame) noexcept;

// For a stack that checks every checksum itself (lwIP as Debian builds it, most others): a
// frame received Partial has its checksum finished here, in software, as the device would
// have (the one's-complement sum from csum_start to the frame's end, stored at csum_start +
// csum_offset), and is Valid from then on. Any other frame is left as it is. The frame is the
// received one (a view of its first bytes at least); its bytes are written.
void complete_rx_checksum(Buffer& frame) noexcept;

}  // namespace netfront
