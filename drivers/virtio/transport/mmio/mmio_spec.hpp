// Register offsets of virtio over MMIO (virtio 1.2 §4.2.2, and §4.2.4 for version 1, the
// legacy interface). Offsets only: every access goes through a register window of the width
// the spec gives each register (32 bits, but the configuration space, §4.2.2.2).
#pragma once

#include <cstddef>
#include <cstdint>

namespace netfront::virtio::transport::mmio {

inline constexpr std::uint32_t kMagicValue = 0x000;  // "virt", little-endian
inline constexpr std::uint32_t kVersion = 0x004;     // 2: modern; 1: legacy (§4.2.4)
inline constexpr std::uint32_t kDeviceId = 0x008;    // virtio device type: 1 is network, 0 none
inline constexpr std::uint32_t kVendorId = 0x00c;
inline constexpr std::uint32_t kDeviceFeatures = 0x010;
inline constexpr std::uint32_t kDeviceFeaturesSel = 0x014;
inline constexpr std::uint32_t kDriverFeatures = 0x020;
inline constexpr std::uint32_t kDriverFeaturesSel = 0x024;
inline constexpr std::uint32_t kGuestPageSize = 0x028;  // version 1 only
inline constexpr std::uint32_t kQueueSel = 0x030;
inline constexpr std::uint32_t kQueueNumMax = 0x034;
inline constexpr std::uint32_t kQueueNum = 0x038;
inline constexpr std::uint32_t kQueueAlign = 0x03c;  // version 1 only
inline constexpr std::uint32_t kQueuePfn = 0x040;    // version 1 only
inline constexpr std::uint32_t kQueueReady = 0x044;  // version 2 only
inline constexpr std::uint32_t kQueueNotify = 0x050;
inline constexpr std::uint32_t kInterruptStatus = 0x060;
inline constexpr std::uint32_t kInterruptAck = 0x064;
inline constexpr std::uint32_t kStatus = 0x070;
inline constexpr std::uint32_t kQueueDescLow = 0x080;  // version 2: 64-bit addresses as two halves
inline constexpr std::uint32_t kQueueDriverLow = 0x090;
inline constexpr std::uint32_t kQueueDeviceLow = 0x0a0;
inline constexpr std::uint32_t kConfigGeneration = 0x0fc;  // version 2 only
inline constexpr std::uint32_t kConfig = 0x100;

inline constexpr std::uint32_t kMagic = 0x74726976;
inline constexpr std::uint32_t kNetDeviceId = 1;
// The register window QEMU and Firecracker give each device, and the least a device must have
// for its registers (the configuration space beyond 0x100 is the device type's).
inline constexpr std::size_t kWindowSize = 0x200;
inline constexpr std::size_t kPageSize = 4096;  // version 1: GuestPageSize netfront writes

}  // namespace netfront::virtio::transport::mmio
