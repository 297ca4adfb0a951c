// Which features netfront asks for, and the checks on what a device offers (virtio 1.2 §6,
// §5.1.3.1 "Feature bit requirements"). Offloads are negotiated only when the application
// asked for them (the id's offloads=): a device that offers more simply does not get them.
#pragma once

#include <cstdint>
#include <string>

#include "drivers/virtio/net/device_error.hpp"
#include "netfront/offload.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::net {

struct FeatureRequest {
  bool access_platform = false;         // the transport needs VIRTIO_F_ACCESS_PLATFORM (PCI behind an IOMMU)
  bool accept_access_platform = false;  // take it if offered (PCI without an IOMMU: identity translation)
  Offloads offloads{};                  // what the application asked for
  bool vlan_filter = false;             // CTRL_VLAN: the device then drops tagged frames of VLANs not added
  bool hash_report = false;             // HASH_REPORT: every header 8 bytes longer, with the frame's hash
  bool legacy = false;                  // the transport is a legacy one (Transport::legacy)
};

// The features netfront will drive, from what the device offers. Errors name the reason the
// device cannot be driven at all (A3: a device without VERSION_1 on a modern transport).
Result<std::uint64_t> negotiate_features(std::uint64_t offered, const FeatureRequest& request);

// §5.1.6: the virtio-net header's length with `features` negotiated: 12 bytes, 20 with
// HASH_REPORT, 10 on a legacy device without MRG_RXBUF (§5.1.6.1 legacy: no num_buffers).
std::uint16_t net_header_length(std::uint64_t features) noexcept;

// The offloads `features` (negotiated) give the application.
Offloads offloads_of(std::uint64_t features) noexcept;

// "VERSION_1 MAC MTU ...": for log lines.
std::string describe_features(std::uint64_t features);

}  // namespace netfront::virtio::net
