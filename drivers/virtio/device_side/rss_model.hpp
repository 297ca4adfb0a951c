// The device half of RSS and the hash report (virtio 1.2 §5.1.6.4, "Hash calculation for
// incoming packets"; §5.1.6.5, "Receive-side scaling (RSS)" and "Hash calculation"), for the
// devices netfront plays itself (the loop device): the configuration the driver's RSS_CONFIG
// and HASH_CONFIG commands set, checked as the spec binds the driver, and the hash and queue
// pair of each received frame. As QEMU's virtio-net does, VQ_PAIRS_SET, a reset and a refused
// RSS command turn it off, and so do no hash types with no key.
//
// It hashes what the spec names for frames without IPv6 extension headers (the six types it
// offers): an IPv6 frame whose next header is neither TCP nor UDP is hashed on its addresses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "netfront/rss.hpp"

namespace netfront::virtio::device_side {

class RssModel {
 public:
  static constexpr std::size_t kMaxKeySize = 40;
  static constexpr std::size_t kMaxIndirectionTable = 128;
  static constexpr HashTypes kSupported{0x3f};  // IPv4, TCPv4, UDPv4, IPv6, TCPv6, UDPv6

  // The answer to a CTRL_MQ command of RSS_CONFIG or HASH_CONFIG, as the negotiated `features`
  // allow it, for a device of `max_pairs` pairs: VIRTIO_NET_OK, or VIRTIO_NET_ERR for one the
  // features do not allow or whose data is malformed or out of bounds (RSS is then off, the
  // rest of the configuration as it was). nullopt for another command.
  std::optional<std::uint8_t> command(std::uint64_t features, std::uint8_t command, std::span<const std::byte> data,
                                      unsigned max_pairs);
  // The transmit queues RSS_CONFIG's max_tx_vq allows, from the last one taken.
  unsigned transmit_pairs() const noexcept { return transmit_pairs_; }

  // What the device computes for a received frame: its hash and report type (the report
  // VIRTIO_NET_HASH_REPORT_NONE where it computes none), and, steering, the pair it goes to.
  struct Classification {
    std::uint32_t hash = 0;
    std::uint16_t report = 0;
    std::optional<unsigned> pair;
  };
  Classification classify(std::span<const std::byte> frame) const;

  bool enabled() const noexcept { return enabled_; }
  bool steering() const noexcept { return enabled_ && steering_; }
  HashTypes hash_types() const noexcept { return hash_types_; }
  const std::vector<std::uint8_t>& key() const noexcept { return key_; }
  const std::vector<std::uint16_t>& indirection_table() const noexcept { return table_; }
  std::uint16_t unclassified_pair() const noexcept { return unclassified_; }
  void disable() noexcept { enabled_ = false; }
  void reset() { *this = RssModel{}; }

 private:
  bool enabled_ = false;
  bool steering_ = false;
  HashTypes hash_types_{};
  std::vector<std::uint8_t> key_;
  std::vector<std::uint16_t> table_;
  std::uint16_t unclassified_ = 0;
  unsigned transmit_pairs_ = 0;
};

}  // namespace netfront::virtio::device_side
