// Receive-side scaling and hash report (virtio 1.2 §5.1.6.5, "Receive-side scaling (RSS)" and
// "Hash calculation"; §5.1.6.4, "Hash calculation for incoming packets"): the device hashes each
// received frame's addresses and ports with a Toeplitz key, steers it to the queue pair an
// indirection table gives for the hash, and reports the hash with the frame.
//
//   auto dev = co_await Netif::connect("pci:0000:00:03.0,queues=4,hash_report");
//   RssConfig c = dev->rss_config();                 // netfront's default: flows over all pairs
//   c.indirection_table.assign(128, 0);              // ... or everything to pair 0
//   co_await dev->set_rss(c);
//   ...
//   if (auto h = rx_hash(frame)) use(h->value, h->type);  // in a listen handler
//
// RSS is taken whenever the device offers it with multi-queue (VIRTIO_NET_F_RSS); netfront then
// sends its default at once (every hash type the device supports, a symmetric key, the pairs
// in turn), so that flows spread over the pairs as they do with automatic steering. The
// symmetric key keeps both directions of a connection on one pair; its hashes repeat every 16
// bits, which costs an indirection table nothing (at most 128 entries) but leaves an
// application that keys its own tables on the hash 16 bits: set a key of your own for that. The hash
// report (VIRTIO_NET_F_HASH_REPORT) only with hash_report in the id: it makes every header 8
// bytes longer. What the application set is sent again after a device reset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netfront/buffer.hpp"

namespace netfront {

// The hash types, numbered as the spec's VIRTIO_NET_RSS_HASH_TYPE_* bits; a hash report of
// type t is VIRTIO_NET_HASH_REPORT_* t + 1. The *Ex types hash the IPv6 addresses the home
// address option and the type-2 routing header carry, where a frame has them.
enum class HashType : std::uint8_t { Ipv4, Tcpv4, Udpv4, Ipv6, Tcpv6, Udpv6, Ipv6Ex, Tcpv6Ex, Udpv6Ex };
inline constexpr unsigned kHashTypes = 9;
std::string_view to_string(HashType type) noexcept;  // "ipv4", "tcpv4", ... "udpv6-ex"

// A set of hash types, as the spec's le32 bit mask.
struct HashTypes {
  std::uint32_t bits = 0;

  static constexpr HashTypes all() noexcept { return {(1u << kHashTypes) - 1}; }
  // A HashType beyond the nine (made from any byte) is none of them.
  constexpr bool has(HashType t) const noexcept { return static_cast<unsigned>(t) < kHashTypes && (bits & bit(t)); }
  constexpr HashTypes with(HashType t) const noexcept { return {bits | (static_cast<unsigned>(t) < kHashTypes ? bit(t) : 0u)}; }
  constexpr bool empty() const noexcept { return bits == 0; }
  constexpr bool contains(HashTypes o) const noexcept { return (o.bits & ~bits) == 0; }
  friend constexpr bool operator==(HashTypes, HashTypes) = default;
  std::string to_string() const;  // "ipv4+tcpv4", bits of no type as "0x..."; "" for none

 private:
  static constexpr std::uint32_t bit(HashType t) noexcept { return 1u << static_cast<unsigned>(t); }
};

// What the device can do, from its configuration space; all zero when neither RSS nor the hash
// report was negotiated.
struct RssCapabilities {
  bool steering = false;     // VIRTIO_NET_F_RSS: the indirection table steers frames
  bool hash_report = false;  // VIRTIO_NET_F_HASH_REPORT: frames carry their hash
  std::size_t max_key_size = 0;
  std::size_t max_indirection_table_length = 0;  // with steering
  HashTypes supported{};
};

// The longest indirection table netfront sends: the spec's minimum for devices (QEMU's
// virtio-net offers exactly this).
inline constexpr std::size_t kMaxIndirectionTable = 128;
// The longest key: the spec's minimum for devices, and all the Toeplitz hash of the longest
// input (an IPv6 4-tuple, 36 bytes) reads. With the table above, one command holds it.
inline constexpr std::size_t kMaxHashKey = 40;

// The hashing and steering the device is asked for.
struct RssConfig {
  // Only supported ones. No types and no key turn RSS off (the device steers by itself again);
  // no types with a key hash nothing, so every frame goes to the unclassified pair.
  HashTypes hash_types{};
  std::vector<std::uint8_t> key;  // the Toeplitz key, 1..min(max_key_size, kMaxHashKey) bytes
  // Steering only: the queue pair of each hash value masked to the table's length, which is a
  // power of two up to min(max_indirection_table_length, kMaxIndirectionTable); and the pair
  // of frames the device computes no hash for.
  std::vector<std::uint16_t> indirection_table;
  std::uint16_t unclassified_pair = 0;
  friend bool operator==(const RssConfig&, const RssConfig&) = default;
};

// The hash the device reported for a received frame (HASH_REPORT negotiated): its value and the
// type of hash it is. nullopt when it computed none (VIRTIO_NET_HASH_REPORT_NONE), and for a
// frame of any other origin. A report of a type the device does not support, or of no known
// type, drops the frame as the device's error.
struct RxHash {
  std::uint32_t value = 0;
  HashType type = HashType::Ipv4;
  friend bool operator==(const RxHash&, const RxHash&) = default;
};
std::optional<RxHash> rx_hash(const Buffer& frame) noexcept;

// The Toeplitz hash of `input` (network byte order) under `key`, as the device computes it:
// for the 4-tuple of IPv4 TCP, source address, destination address, source port, destination
// port. The key must be at least 4 bytes longer than the input; bits past its end count as 0.
std::uint32_t toeplitz_hash(std::span<const std::uint8_t> key, std::span<const std::uint8_t> input) noexcept;

}  // namespace netfront
