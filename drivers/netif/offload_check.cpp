#include "drivers/netif/offload_check.hpp"

#include <string>

namespace netfront::drivers {
namespace {

constexpr std::size_t kTcpHeaderMin = 20;
constexpr std::size_t kUdpHeader = 8;

// Byte `at` of the frame the pieces make; nullopt beyond its end.
std::optional<std::uint8_t> byte_at(std::span<const Buffer> pieces, std::size_t at) noexcept {
  for (const Buffer& p : pieces) {
    if (at < p.length()) return static_cast<std::uint8_t>(p.data()[at]);
    at -= p.length();
  }
  return std::nullopt;
}

const char* gso_name(Gso g) noexcept {
  switch (g) {
    case Gso::Tcp4: return "TCP over IPv4 segmentation (tso4)";
    case Gso::Tcp6: return "TCP over IPv6 segmentation (tso6)";
    case Gso::Udp: return "UDP segmentation (uso)";
    case Gso::None: break;
  }
  return "no segmentation";
}

bool agreed_to(Gso g, const Offloads& agreed) noexcept {
  switch (g) {
    case Gso::Tcp4: return agreed.tso4;
    case Gso::Tcp6: return agreed.tso6;
    case Gso::Udp: return agreed.uso;
    case Gso::None: break;
  }
  return true;
}

Error not_agreed(const std::string& what) {
  return Error::unknown(Error::Cause::BadArgument,
                        what + " was asked for a frame, but the device did not agree to it (see Netif::offloads(); ask for it "
                               "with offloads= in the device id)");
}

}  // namespace

std::size_t segment_header_end(std::span<const Buffer> pieces, const TxOffload& o) noexcept {
  const std::size_t start = o.checksum.start;
  if (o.gso == Gso::Udp) return start + kUdpHeader;
  // TCP: the data offset is the high nibble of byte 12, in 32-bit words.
  const auto offset_byte = byte_at(pieces, start + 12);
  return start + 4u * (offset_byte.value_or(0x50) >> 4);
}

std::optional<Error> check_tx_offload(std::span<const Buffer> pieces, std::size_t length, const TxOffload& o,
                                      const Offloads& agreed, std::size_t max_frame) {
  const std::string frame = "frame of " + std::to_string(length) + " bytes";
  if (o.checksum.requested) {
    if (!agreed.tx_checksum) return not_agreed("checksum offload (csum)");
    // §5.1.6.2: the sum covers csum_start to the end, and lands at csum_start + csum_offset.
    if (std::size_t{o.checksum.start} + o.checksum.offset + 2 > length)
      return Error::invalid_length("checksum start " + std::to_string(o.checksum.start) + " + offset " +
                                   std::to_string(o.checksum.offset) + " + 2 is beyond the " + frame);
  }
  if (o.gso == Gso::None) {
    if (o.segment_size != 0 || o.ecn)
      return Error::unknown(Error::Cause::BadArgument, "a segment size or ECN was given without a segmentation type");
    if (length > max_frame)
      return Error::invalid_length(frame + " is beyond the MTU's " + std::to_string(max_frame) + " and asks for no segmentation");
    return std::nullopt;
  }
  if (!agreed_to(o.gso, agreed)) return not_agreed(gso_name(o.gso));
  if (!o.checksum.requested)
    return Error::unknown(Error::Cause::BadArgument, std::string(gso_name(o.gso)) + " needs the checksum request too: every segment's "
                                                     "checksum is the device's to complete");
  if (o.ecn && o.gso == Gso::Udp)
    return Error::unknown(Error::Cause::BadArgument, "ECN applies to TCP segmentation only, not to UDP's");
  if (o.ecn && !agreed.tso_ecn) return not_agreed("segmentation with ECN (ecn)");
  if (length > kMaxSegmentedFrameLength)
    return Error::invalid_length(frame + " is beyond the " + std::to_string(kMaxSegmentedFrameLength) + " a segmentation request takes");
  if (o.segment_size == 0) return Error::invalid_length("segmentation with a segment size of 0");
  const std::size_t transport = std::size_t{o.checksum.start};
  if (o.gso != Gso::Udp) {
    const auto offset_byte = byte_at(pieces, transport + 12);
    if (!offset_byte || (*offset_byte >> 4) * 4u < kTcpHeaderMin)
      return Error::invalid_length("the TCP header at checksum start " + std::to_string(transport) + " is not inside the " + frame +
                                   " or has a data offset below 5 words");
  }
  const std::size_t headers = segment_header_end(pieces, o);
  if (headers >= length)
    return Error::invalid_length("the headers end at byte " + std::to_string(headers) + ": the " + frame + " has no payload to segment");
  // Every segment is a frame of its own, within the MTU.
  if (headers + o.segment_size > max_frame)
    return Error::invalid_length("segments of " + std::to_string(o.segment_size) + " bytes behind " + std::to_string(headers) +
                                 " bytes of headers are beyond the MTU's " + std::to_string(max_frame));
  return std::nullopt;
}

}  // namespace netfront::drivers
