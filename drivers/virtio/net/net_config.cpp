#include "drivers/virtio/net/net_config.hpp"

#include <rte_random.h>

#include <array>
#include <cstring>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "netfront/frame_limits.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::net {

Result<> read_config_consistent(transport::Transport& t, std::size_t offset, std::span<std::byte> out) {
  constexpr int kAttempts = 16;
  if (t.legacy()) {
    // §2.5.4: a legacy device has no generation counter; the fields are read until two reads
    // in a row agree.
    std::array<std::byte, kConfigSize> again;
    if (out.size() > again.size()) return Fault(DeviceError::BadArgument, "configuration read longer than the fields netfront knows");
    t.read_config(offset, out);
    for (int i = 0; i < kAttempts; ++i) {
      t.read_config(offset, std::span(again.data(), out.size()));
      if (std::memcmp(again.data(), out.data(), out.size()) == 0) return Ok{};
      std::memcpy(out.data(), again.data(), out.size());
    }
    return Fault(DeviceError::Misbehaved, "legacy device configuration space never settled (no two reads agreed)");
  }
  // §2.5.1: read the generation, the fields, the generation again; retry while it moved.
  for (int i = 0; i < kAttempts; ++i) {
    const std::uint32_t before = t.config_generation();
    t.read_config(offset, out);
    if (t.config_generation() == before) return Ok{};
  }
  return Fault(DeviceError::Misbehaved, "device configuration space never settled (generation kept changing)");
}

namespace {

using RawConfig = std::array<std::byte, kConfigSize>;

template <typename T>
T field(const RawConfig& raw, std::size_t offset) {
  T v;
  std::memcpy(&v, raw.data() + offset, sizeof v);
  return v;
}

Result<RawConfig> read_raw(transport::Transport& t) {
  RawConfig raw{};
  const std::size_t n = std::min(kConfigSize, t.config_size());
  if (auto r = read_config_consistent(t, 0, std::span(raw.data(), n)); !r) return std::move(r).error();
  return raw;
}

// §5.1.4. A speed beyond 0x7fffffff other than "unknown", or a duplex other than the three
// values, is a device's mistake: not known, rather than believed (A5).
LinkConfig parse_link(const RawConfig& raw, std::uint64_t features, bool warn) {
  LinkConfig l;
  const auto status = field<std::uint16_t>(raw, kConfigStatus);
  l.up = !has_feature(features, VIRTIO_NET_F_STATUS) || (status & VIRTIO_NET_S_LINK_UP);
  l.announce = has_feature(features, VIRTIO_NET_F_GUEST_ANNOUNCE) && (status & VIRTIO_NET_S_ANNOUNCE);
  if (!has_feature(features, VIRTIO_NET_F_SPEED_DUPLEX)) return l;
  const auto speed = field<std::uint32_t>(raw, kConfigSpeed);
  if (speed <= 0x7fffffff)
    l.speed_mbps = speed;
  else if (speed != VIRTIO_NET_SPEED_UNKNOWN && warn)
    runtime::logger("net").warn("device speed {:#x} is neither 0..0x7fffffff nor unknown; taken as unknown", speed);
  switch (const auto duplex = field<std::uint8_t>(raw, kConfigDuplex)) {
    case VIRTIO_NET_DUPLEX_HALF: l.duplex = Duplex::Half; break;
    case VIRTIO_NET_DUPLEX_FULL: l.duplex = Duplex::Full; break;
    case VIRTIO_NET_DUPLEX_UNKNOWN: break;
    default:
      if (warn) runtime::logger("net").warn("device duplex {:#x} is neither half, full nor unknown; taken as unknown", duplex);
  }
  return l;
}

// The RSS fields (§5.1.4). A device must offer a key of 40 bytes and a table of 128 entries at
// least; one that says less is taken at its word (netfront sends no more than it says), and
// one that says nothing usable has no RSS (A5).
RssCapabilities parse_rss(const RawConfig& raw, std::uint64_t features) {
  RssCapabilities r;
  r.steering = has_feature(features, VIRTIO_NET_F_RSS);
  r.hash_report = has_feature(features, VIRTIO_NET_F_HASH_REPORT);
  if (!r.steering && !r.hash_report) return r;
  auto& log = runtime::logger("net");
  r.max_key_size = field<std::uint8_t>(raw, kConfigRssMaxKeySize);
  r.supported = {field<std::uint32_t>(raw, kConfigSupportedHashTypes) & HashTypes::all().bits};
  if (r.steering) r.max_indirection_table_length = field<std::uint16_t>(raw, kConfigRssMaxIndirectionTableLength);
  if (r.max_key_size < kMinRssKeySize || (r.steering && r.max_indirection_table_length < kMinRssIndirectionTableLength))
    log.warn("device RSS limits (key {} bytes, indirection table {} entries) are below the spec's 40 and 128", r.max_key_size,
             r.max_indirection_table_length);
  if (r.max_key_size == 0 || r.supported.empty() || (r.steering && r.max_indirection_table_length == 0)) {
    log.warn("device offers RSS or hash report without a key, a table or a hash type; not used");
    return {};
  }
  return r;
}

}  // namespace

// Read every few thousand polls: only the link's fields, the status word alone unless speed
// and duplex were negotiated (on PCI each byte read may be a trap to the hypervisor).
Result<LinkConfig> read_link_config(transport::Transport& t, std::uint64_t features) {
  RawConfig raw{};
  const std::size_t end = has_feature(features, VIRTIO_NET_F_SPEED_DUPLEX) ? kConfigDuplex + 1 : kConfigStatus + 2;
  const std::size_t n = std::min(end, t.config_size()) - std::min(kConfigStatus, t.config_size());
  if (auto r = read_config_consistent(t, kConfigStatus, std::span(raw.data() + kConfigStatus, n)); !r)
    return std::move(r).error();
  return parse_link(raw, features, false);
}

Result<NetConfig> read_net_config(transport::Transport& t, std::uint64_t features) {
  auto read = read_raw(t);
  if (!read) return std::move(read).error();
  const RawConfig& raw = *read;
  auto u16 = [&](std::size_t off) { return field<std::uint16_t>(raw, off); };
  auto& log = runtime::logger("net");
  NetConfig c;

  std::memcpy(c.mac.bytes.data(), raw.data() + kConfigMac, 6);
  c.mac_from_device = has_feature(features, VIRTIO_NET_F_MAC) && c.mac.valid_unicast();
  if (!c.mac_from_device) {
    // A6: no usable address from the device: a random locally administered unicast one.
    const std::uint64_t r = rte_rand();
    for (int i = 0; i < 6; ++i) c.mac.bytes[i] = static_cast<std::uint8_t>(r >> (8 * i));
    c.mac.bytes[0] = static_cast<std::uint8_t>((c.mac.bytes[0] & 0xfe) | 0x02);
    if (has_feature(features, VIRTIO_NET_F_MAC)) log.warn("device MAC is zero or multicast; using {}", c.mac.to_string());
  }

  // A5: an MTU below the IPv4 minimum or above what a frame can hold is not believed.
  if (has_feature(features, VIRTIO_NET_F_MTU)) {
    const std::uint16_t mtu = u16(kConfigMtu);
    if (mtu < kMinMtu || mtu > kMaxMtu)
      log.warn("device MTU {} is outside {}..{}; using 1500", mtu, kMinMtu, kMaxMtu);
    else
      c.mtu = mtu;
  }

  c.link = parse_link(raw, features, true);

  if (has_feature(features, VIRTIO_NET_F_MQ)) {
    // A4: the spec allows 1..0x8000; anything else is clamped.
    const std::uint16_t pairs = u16(kConfigMaxVirtqueuePairs);
    c.max_queue_pairs = pairs == 0 ? 1 : std::min<std::uint16_t>(pairs, 0x8000);
    if (pairs == 0 || pairs > 0x8000) log.warn("device max_virtqueue_pairs {} is outside 1..32768", pairs);
  }
  c.rss = parse_rss(raw, features);
  return c;
}

}  // namespace netfront::virtio::net
