#include "drivers/virtio/net/net_config.hpp"

#include <rte_random.h>

#include <cstring>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::net {

Result<> read_config_consistent(transport::Transport& t, std::size_t offset, std::span<std::byte> out) {
  // §2.5.1: read the generation, the fields, the generation again; retry while it moved.
  constexpr int kAttempts = 16;
  for (int i = 0; i < kAttempts; ++i) {
    const std::uint32_t before = t.config_generation();
    t.read_config(offset, out);
    if (t.config_generation() == before) return Ok{};
  }
  return Fault(DeviceError::Misbehaved, "device configuration space never settled (generation kept changing)");
}

Result<NetConfig> read_net_config(transport::Transport& t, std::uint64_t features) {
  std::byte raw[kConfigSize]{};
  const std::size_t n = std::min(kConfigSize, t.config_size());
  if (auto r = read_config_consistent(t, 0, std::span(raw, n)); !r) return std::move(r).error();
  auto u16 = [&](std::size_t off) {
    std::uint16_t v;
    std::memcpy(&v, raw + off, 2);
    return v;
  };
  auto& log = runtime::logger("net");
  NetConfig c;

  std::memcpy(c.mac.bytes.data(), raw + kConfigMac, 6);
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
    if (mtu < 68 || mtu > 9000)
      log.warn("device MTU {} is outside 68..9000; using 1500", mtu);
    else
      c.mtu = mtu;
  }

  c.link_up = !has_feature(features, VIRTIO_NET_F_STATUS) || (u16(kConfigStatus) & VIRTIO_NET_S_LINK_UP);

  if (has_feature(features, VIRTIO_NET_F_MQ)) {
    // A4: the spec allows 1..0x8000; anything else is clamped.
    const std::uint16_t pairs = u16(kConfigMaxVirtqueuePairs);
    c.max_queue_pairs = pairs == 0 ? 1 : std::min<std::uint16_t>(pairs, 0x8000);
    if (pairs == 0 || pairs > 0x8000) log.warn("device max_virtqueue_pairs {} is outside 1..32768", pairs);
  }
  return c;
}

}  // namespace netfront::virtio::net
