// Register layouts for virtio over PCI (virtio 1.2 §4.1 "Virtio Over PCI Bus") and the few
// PCI configuration-space registers the transport touches (PCI Local Bus 3.0 §6.1, §6.7).
// Offsets only: every access goes through PciFunction or Mmio, never through a struct laid
// over device memory.
#pragma once

#include <cstdint>

namespace netfront::virtio::transport::pci {

// PCI configuration header (type 0).
inline constexpr std::uint16_t kPciVendorId = 0x00;
inline constexpr std::uint16_t kPciDeviceId = 0x02;
inline constexpr std::uint16_t kPciCommand = 0x04;
inline constexpr std::uint16_t kPciStatus = 0x06;
inline constexpr std::uint16_t kPciBar0 = 0x10;          // six 32-bit Base Address Registers from here
inline constexpr std::uint32_t kPciBarIoSpace = 1u << 0;  // bit 0 of a BAR: it decodes I/O space, not memory
inline constexpr std::uint16_t kPciSubsystemId = 0x2e;
inline constexpr std::uint16_t kPciCapabilityPointer = 0x34;
inline constexpr std::uint16_t kPciCommandIo = 1u << 0;
inline constexpr std::uint16_t kPciCommandMemory = 1u << 1;
inline constexpr std::uint16_t kPciCommandBusMaster = 1u << 2;
inline constexpr std::uint16_t kPciStatusCapabilityList = 1u << 4;
inline constexpr std::uint8_t kPciCapabilityVendor = 0x09;
inline constexpr std::uint8_t kPciCapabilityMsix = 0x11;      // PCI 3.0 §6.8.2
inline constexpr std::uint16_t kPciMsixControlEnable = 1u << 15;  // in its Message Control word, at +2
inline constexpr std::size_t kPciConfigHeaderSize = 0x40;  // capabilities live above the header
inline constexpr std::size_t kPciConfigSize = 256;          // the part a capability list can use
inline constexpr unsigned kPciBarCount = 6;

// §4.1.2 PCI Device Discovery.
inline constexpr std::uint16_t kVirtioVendor = 0x1af4;
inline constexpr std::uint16_t kVirtioNetModernId = 0x1040 + 1;   // 0x1040 + device type 1
inline constexpr std::uint16_t kVirtioNetTransitionalId = 0x1000;  // subsystem id 1 says "net"
inline constexpr std::uint16_t kVirtioTransitionalFirst = 0x1000;
inline constexpr std::uint16_t kVirtioTransitionalLast = 0x103f;
inline constexpr std::uint16_t kVirtioModernFirst = 0x1040;
inline constexpr std::uint16_t kVirtioModernLast = 0x107f;

// §4.1.4 struct virtio_pci_cap, as found in configuration space.
inline constexpr std::uint8_t kCapVndr = 0;
inline constexpr std::uint8_t kCapNext = 1;
inline constexpr std::uint8_t kCapLen = 2;
inline constexpr std::uint8_t kCapCfgType = 3;
inline constexpr std::uint8_t kCapBar = 4;
inline constexpr std::uint8_t kCapOffset = 8;
inline constexpr std::uint8_t kCapLength = 12;
inline constexpr std::uint8_t kCapSize = 16;
inline constexpr std::uint8_t kNotifyCapMultiplier = 16;  // §4.1.4.4 struct virtio_pci_notify_cap
inline constexpr std::uint8_t kNotifyCapSize = 20;

enum class CfgType : std::uint8_t { Common = 1, Notify = 2, Isr = 3, Device = 4, PciCfg = 5 };

// §4.1.4.3 struct virtio_pci_common_cfg.
namespace common {
inline constexpr std::uint32_t kDeviceFeatureSelect = 0;
inline constexpr std::uint32_t kDeviceFeature = 4;
inline constexpr std::uint32_t kDriverFeatureSelect = 8;
inline constexpr std::uint32_t kDriverFeature = 12;
inline constexpr std::uint32_t kMsixConfig = 16;
inline constexpr std::uint32_t kNumQueues = 18;
inline constexpr std::uint32_t kDeviceStatus = 20;
inline constexpr std::uint32_t kConfigGeneration = 21;
inline constexpr std::uint32_t kQueueSelect = 22;
inline constexpr std::uint32_t kQueueSize = 24;
inline constexpr std::uint32_t kQueueMsixVector = 26;
inline constexpr std::uint32_t kQueueEnable = 28;
inline constexpr std::uint32_t kQueueNotifyOff = 30;
inline constexpr std::uint32_t kQueueDesc = 32;
inline constexpr std::uint32_t kQueueDriver = 40;
inline constexpr std::uint32_t kQueueDevice = 48;
inline constexpr std::uint32_t kMinimumLength = 56;  // up to queue_device: all a 1.0 device must have
}  // namespace common

// §4.1.4.8 the legacy interface: registers at the start of I/O BAR0, little-endian on x86
// (guest endianness), then the device-specific configuration, 4 bytes further on while MSI-X
// is enabled (its two vector registers come first).
namespace legacy {
inline constexpr unsigned kBar = 0;
inline constexpr std::uint32_t kDeviceFeatures = 0;   // 32 bits, read-only
inline constexpr std::uint32_t kDriverFeatures = 4;   // 32 bits
inline constexpr std::uint32_t kQueueAddress = 8;     // 32 bits: the ring's page number
inline constexpr std::uint32_t kQueueSize = 12;       // 16 bits, read-only
inline constexpr std::uint32_t kQueueSelect = 14;     // 16 bits
inline constexpr std::uint32_t kQueueNotify = 16;     // 16 bits
inline constexpr std::uint32_t kDeviceStatus = 18;    // 8 bits
inline constexpr std::uint32_t kIsrStatus = 19;       // 8 bits
inline constexpr std::uint32_t kMsixConfigVector = 20;
inline constexpr std::uint32_t kMsixQueueVector = 22;
inline constexpr std::uint32_t kDeviceConfig = 20;
inline constexpr std::uint32_t kDeviceConfigWithMsix = 24;
}  // namespace legacy

inline constexpr std::uint16_t kNoMsiVector = 0xffff;  // §4.1.5.1.2 VIRTIO_MSI_NO_VECTOR

}  // namespace netfront::virtio::transport::pci
