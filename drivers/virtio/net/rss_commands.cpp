#include "drivers/virtio/net/rss_commands.hpp"

#include <algorithm>
#include <bit>
#include <string>

#include "drivers/virtio/net/net_spec.hpp"

namespace netfront::virtio::net {
namespace {

// Little-endian fields, on a little-endian host.
template <typename T>
void put(std::vector<std::byte>& out, T v) {
  const auto* b = reinterpret_cast<const std::byte*>(&v);
  out.insert(out.end(), b, b + sizeof v);
}

void put_key(std::vector<std::byte>& out, const RssConfig& c) {
  put(out, static_cast<std::uint8_t>(c.key.size()));  // checked: at most max_key_size, a u8
  for (std::uint8_t k : c.key) put(out, k);
}

std::string describe(const RssConfig& c) {
  return "hash types " + (c.hash_types.empty() ? std::string("none") : c.hash_types.to_string()) + ", key of " +
         std::to_string(c.key.size()) + " bytes";
}

}  // namespace

std::vector<std::byte> rss_config_data(const RssConfig& c, std::uint16_t pairs) {
  std::vector<std::byte> out;
  out.reserve(11 + 2 * c.indirection_table.size() + c.key.size());
  put(out, c.hash_types.bits);
  put(out, static_cast<std::uint16_t>(c.indirection_table.empty() ? 0 : c.indirection_table.size() - 1));
  put(out, c.unclassified_pair);
  for (std::uint16_t pair : c.indirection_table) put(out, pair);
  put(out, pairs);
  put_key(out, c);
  return out;
}

std::vector<std::byte> hash_config_data(const RssConfig& c) {
  std::vector<std::byte> out;
  out.reserve(13 + c.key.size());
  put(out, c.hash_types.bits);
  for (int i = 0; i < 4; ++i) put(out, std::uint16_t{0});  // reserved, zero
  put_key(out, c);
  return out;
}

Result<> send_rss_config(ControlQueue& control, const RssConfig& c, std::uint16_t pairs) {
  const auto data = rss_config_data(c, pairs);
  if (data.size() > kMaxControlData)
    return Fault(DeviceError::BadArgument, "an RSS configuration of " + std::to_string(data.size()) + " bytes is more than a command holds");
  auto r = control.execute(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, data);
  if (!r)
    return r.error().with_context("setting RSS (" + describe(c) + ", indirection table of " +
                                  std::to_string(c.indirection_table.size()) + " entries over " + std::to_string(pairs) +
                                  " pairs)");
  return Ok{};
}

Result<> send_hash_config(ControlQueue& control, const RssConfig& c) {
  const auto data = hash_config_data(c);
  if (data.size() > kMaxControlData)
    return Fault(DeviceError::BadArgument, "a hash configuration of " + std::to_string(data.size()) + " bytes is more than a command holds");
  auto r = control.execute(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_HASH_CONFIG, data);
  if (!r) return r.error().with_context("setting the hash report (" + describe(c) + ")");
  return Ok{};
}

RssConfig default_rss_config(const RssCapabilities& caps, unsigned pairs) {
  RssConfig c;
  c.hash_types = caps.supported;
  c.key.resize(std::min(caps.max_key_size, kMaxHashKey));
  for (std::size_t i = 0; i < c.key.size(); ++i) c.key[i] = i % 2 == 0 ? 0x6d : 0x5a;
  if (caps.steering && pairs > 0) {
    const std::size_t length = std::bit_floor(std::min(caps.max_indirection_table_length, kMaxIndirectionTable));
    c.indirection_table.resize(length);
    for (std::size_t i = 0; i < length; ++i) c.indirection_table[i] = static_cast<std::uint16_t>(i % pairs);
  }
  return c;
}

}  // namespace netfront::virtio::net
