#include "drivers/virtio/device_side/rss_model.hpp"

#include <bit>
#include <cstring>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"

namespace netfront::virtio::device_side {
namespace {

// Reads the command's little-endian fields in order; `ok` turns false at the first one the
// data is too short for.
struct Reader {
  std::span<const std::byte> data;
  bool ok = true;
  template <typename T>
  T get() {
    T v{};
    if (data.size() < sizeof v) {
      ok = false;
      return v;
    }
    std::memcpy(&v, data.data(), sizeof v);
    data = data.subspan(sizeof v);
    return v;
  }
};

std::uint16_t be16(std::span<const std::byte> b, std::size_t at) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(b[at]) << 8 | std::to_integer<unsigned>(b[at + 1]));
}

constexpr std::uint8_t kTcp = 6, kUdp = 17;

}  // namespace

std::optional<std::uint8_t> RssModel::command(std::uint64_t features, std::uint8_t command, std::span<const std::byte> data,
                                              unsigned max_pairs) {
  using namespace virtio::net;
  const bool rss = command == VIRTIO_NET_CTRL_MQ_RSS_CONFIG;
  if (!rss && command != VIRTIO_NET_CTRL_MQ_HASH_CONFIG) return std::nullopt;
  // As QEMU's virtio-net: RSS is off from the moment the command comes, and stays off if it
  // is refused.
  enabled_ = false;
  if (!has_feature(features, rss ? VIRTIO_NET_F_RSS : VIRTIO_NET_F_HASH_REPORT)) return VIRTIO_NET_ERR;
  Reader r{data};
  const HashTypes types{r.get<std::uint32_t>()};
  std::vector<std::uint16_t> table;
  std::uint16_t unclassified = 0, transmit = 0;
  if (rss) {
    const auto mask = r.get<std::uint16_t>();
    unclassified = r.get<std::uint16_t>();
    // "The number of entries in indirection_table (mask + 1) MUST be a power of two", below
    // rss_max_indirection_table_length; every entry an enabled queue.
    const std::size_t length = std::size_t{mask} + 1;
    if (!r.ok || !std::has_single_bit(length) || length > kMaxIndirectionTable || unclassified >= max_pairs)
      return VIRTIO_NET_ERR;
    for (std::size_t i = 0; i < length; ++i) {
      table.push_back(r.get<std::uint16_t>());
      if (table.back() >= max_pairs) return VIRTIO_NET_ERR;
    }
    transmit = r.get<std::uint16_t>();
    if (transmit < 1 || transmit > max_pairs) return VIRTIO_NET_ERR;
  } else {
    for (int i = 0; i < 4; ++i) (void)r.get<std::uint16_t>();  // reserved
  }
  const auto key_length = r.get<std::uint8_t>();
  std::vector<std::uint8_t> key;
  for (unsigned i = 0; i < key_length; ++i) key.push_back(r.get<std::uint8_t>());
  // Not a byte more than the structure, hash types the device supports, a key it can hold,
  // and a key at all where there is something to hash.
  if (!r.ok || !r.data.empty() || !kSupported.contains(types) || key.size() > kMaxKeySize || (!types.empty() && key.empty()))
    return VIRTIO_NET_ERR;
  // No types and no key turn it off; no types with a key hash nothing (every frame then goes
  // to the unclassified queue).
  enabled_ = !types.empty() || !key.empty();
  steering_ = rss;
  hash_types_ = types;
  key_ = std::move(key);
  table_ = std::move(table);
  unclassified_ = unclassified;
  if (rss) transmit_pairs_ = transmit;
  return VIRTIO_NET_OK;
}

RssModel::Classification RssModel::classify(std::span<const std::byte> frame) const {
  Classification c;
  if (!enabled_) return c;
  if (steering_) c.pair = unclassified_;
  std::size_t l3 = 14;
  if (frame.size() < l3) return c;
  std::uint16_t ethertype = be16(frame, 12);
  if (ethertype == 0x8100 && frame.size() >= 18) {
    ethertype = be16(frame, 16);
    l3 = 18;
  }
  // The hash input: source and destination address, then the ports where the type has them.
  std::uint8_t input[36];
  std::size_t address_bytes = 0, l4 = 0;
  std::uint8_t protocol = 0;
  bool v4 = false;
  if (ethertype == 0x0800 && frame.size() >= l3 + 20) {
    v4 = true;
    const std::size_t ihl = 4 * (std::to_integer<unsigned>(frame[l3]) & 0xf);
    address_bytes = 8;
    std::memcpy(input, frame.data() + l3 + 12, 8);
    const bool fragment = (be16(frame, l3 + 6) & 0x3fff) != 0;  // MF or an offset: no ports to read
    if (ihl >= 20 && !fragment) {
      protocol = std::to_integer<std::uint8_t>(frame[l3 + 9]);
      l4 = l3 + ihl;
    }
  } else if (ethertype == 0x86dd && frame.size() >= l3 + 40) {
    address_bytes = 32;
    std::memcpy(input, frame.data() + l3 + 8, 32);
    protocol = std::to_integer<std::uint8_t>(frame[l3 + 6]);
    l4 = l3 + 40;
  } else {
    return c;
  }
  const bool ports = l4 != 0 && frame.size() >= l4 + 4;
  auto enabled = [&](HashType t) { return hash_types_.has(t); };
  HashType type;
  std::size_t length = address_bytes;
  if (ports && protocol == kTcp && enabled(v4 ? HashType::Tcpv4 : HashType::Tcpv6)) {
    type = v4 ? HashType::Tcpv4 : HashType::Tcpv6;
  } else if (ports && protocol == kUdp && enabled(v4 ? HashType::Udpv4 : HashType::Udpv6)) {
    type = v4 ? HashType::Udpv4 : HashType::Udpv6;
  } else if (enabled(v4 ? HashType::Ipv4 : HashType::Ipv6)) {
    type = v4 ? HashType::Ipv4 : HashType::Ipv6;
  } else {
    return c;
  }
  if (type != HashType::Ipv4 && type != HashType::Ipv6) {
    std::memcpy(input + address_bytes, frame.data() + l4, 4);
    length += 4;
  }
  c.hash = toeplitz_hash(key_, std::span(input, length));
  c.report = static_cast<std::uint16_t>(static_cast<unsigned>(type) + 1);
  if (steering_) c.pair = table_[c.hash & (table_.size() - 1)];
  return c;
}

}  // namespace netfront::virtio::device_side
