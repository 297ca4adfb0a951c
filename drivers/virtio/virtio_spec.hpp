// Device-independent constants of the virtio 1.2 specification: feature bits (§6 "Reserved
// Feature Bits") and the device status field (§2.1). Names are the spec's.
#pragma once

#include <cstdint>

namespace netfront::virtio {

// §2.1 Device Status Field
inline constexpr std::uint8_t VIRTIO_CONFIG_S_ACKNOWLEDGE = 1;
inline constexpr std::uint8_t VIRTIO_CONFIG_S_DRIVER = 2;
inline constexpr std::uint8_t VIRTIO_CONFIG_S_DRIVER_OK = 4;
inline constexpr std::uint8_t VIRTIO_CONFIG_S_FEATURES_OK = 8;
inline constexpr std::uint8_t VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET = 64;
inline constexpr std::uint8_t VIRTIO_CONFIG_S_FAILED = 128;

// §6 Reserved Feature Bits (bit numbers)
// §2.6.4.3 legacy interface: the device takes any framing of a request's descriptors (without
// it, a legacy device expects the virtio-net header in a descriptor of its own).
inline constexpr unsigned VIRTIO_F_ANY_LAYOUT = 27;
inline constexpr unsigned VIRTIO_F_INDIRECT_DESC = 28;
inline constexpr unsigned VIRTIO_F_EVENT_IDX = 29;
inline constexpr unsigned VIRTIO_F_VERSION_1 = 32;
inline constexpr unsigned VIRTIO_F_ACCESS_PLATFORM = 33;
inline constexpr unsigned VIRTIO_F_RING_PACKED = 34;
inline constexpr unsigned VIRTIO_F_IN_ORDER = 35;

constexpr std::uint64_t feature_bit(unsigned bit) noexcept { return std::uint64_t{1} << bit; }
constexpr bool has_feature(std::uint64_t features, unsigned bit) noexcept { return (features >> bit) & 1; }

}  // namespace netfront::virtio
