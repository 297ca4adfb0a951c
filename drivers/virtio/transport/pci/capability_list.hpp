// The PCI capability list (PCI Local Bus 3.0 §6.7): where each capability of a function's
// configuration space starts, in list order, for the virtio structures (§4.1.4) and for MSI-X
// (whose enable bit moves a legacy device's configuration, §4.1.4.8).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace netfront::virtio::transport::pci {

struct CapabilityList {
  std::vector<std::size_t> offsets;  // in list order; those before the fault of a malformed list
  // Empty, or why the list cannot be followed further: a pointer outside the capability area
  // (dword-aligned, above the header), or one back to a capability already passed (a loop).
  std::string malformed;
};

// `config`: the first 256 bytes of configuration space at least. No capabilities when the
// status register says the function has no list.
CapabilityList capability_list(std::span<const std::byte> config);

}  // namespace netfront::virtio::transport::pci
