#include "drivers/virtio/transport/pci/capability_list.hpp"

#include <bitset>
#include <cstdio>

#include "drivers/virtio/transport/pci/pci_spec.hpp"

namespace netfront::virtio::transport::pci {

CapabilityList capability_list(std::span<const std::byte> config) {
  CapabilityList list;
  auto u8 = [&](std::size_t off) { return std::to_integer<unsigned>(config[off]); };
  if (config.size() < kPciConfigSize || !(u8(kPciStatus) & kPciStatusCapabilityList)) return list;
  // A list that comes back to a capability it has passed loops; there are at most 48 places,
  // so the walk ends.
  std::bitset<kPciConfigSize> seen;
  for (std::size_t at = u8(kPciCapabilityPointer) & 0xfc; at != 0; at = u8(at + 1) & 0xfc) {
    if (at < kPciConfigHeaderSize || at + 4 > kPciConfigSize) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%zx", at);
      list.malformed = std::string("PCI capability pointer ") + hex + " is outside the capability area";
      return list;
    }
    if (seen.test(at)) {
      list.malformed = "PCI capability list loops";
      return list;
    }
    seen.set(at);
    list.offsets.push_back(at);
  }
  return list;
}

}  // namespace netfront::virtio::transport::pci
