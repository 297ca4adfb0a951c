#include "drivers/netif/rss_check.hpp"

#include <algorithm>
#include <bit>
#include <string>

namespace netfront::drivers {
namespace {
Error bad_argument(std::string why) { return Error::unknown(Error::Cause::BadArgument, std::move(why)); }
}  // namespace

Result<> check_rss_config(const RssConfig& c, const RssCapabilities& caps, unsigned pairs) {
  // "A driver MUST NOT set any VIRTIO_NET_HASH_TYPE_ flags that are not supported by a device."
  if (!caps.supported.contains(c.hash_types))
    return bad_argument("hash types " + c.hash_types.to_string() + " are not all supported by the device (it supports " +
                        caps.supported.to_string() + ")");
  // Hashing needs a key; no hashing needs none (an empty set and an empty key turn it off).
  const std::size_t longest_key = std::min(caps.max_key_size, kMaxHashKey);
  if (c.key.size() > longest_key || (!c.hash_types.empty() && c.key.empty()))
    return Error::invalid_length("a hash key of " + std::to_string(c.key.size()) + " bytes (1 to " + std::to_string(longest_key) +
                                 " are taken)");
  if (!caps.steering) {
    if (!c.indirection_table.empty() || c.unclassified_pair != 0)
      return bad_argument("the device reports hashes but does not steer by them (no VIRTIO_NET_F_RSS): no indirection table");
    return Ok{};
  }
  // "The number of entries in indirection_table MUST be a power of two", and below the
  // device's rss_max_indirection_table_length.
  const std::size_t longest = std::min(caps.max_indirection_table_length, kMaxIndirectionTable);
  const std::size_t n = c.indirection_table.size();
  if (n == 0 || n > longest || !std::has_single_bit(n))
    return Error::invalid_length("an indirection table of " + std::to_string(n) + " entries (a power of two, 1 to " +
                                 std::to_string(longest) + ")");
  // "A driver MUST fill the indirection_table array only with enabled receive virtqueues ids."
  const auto beyond = std::find_if(c.indirection_table.begin(), c.indirection_table.end(),
                                   [&](std::uint16_t pair) { return pair >= pairs; });
  if (beyond != c.indirection_table.end())
    return bad_argument("indirection table entry " + std::to_string(beyond - c.indirection_table.begin()) + " names pair " +
                        std::to_string(*beyond) + " of " + std::to_string(pairs));
  if (c.unclassified_pair >= pairs)
    return bad_argument("unclassified frames to pair " + std::to_string(c.unclassified_pair) + " of " + std::to_string(pairs));
  return Ok{};
}

}  // namespace netfront::drivers
