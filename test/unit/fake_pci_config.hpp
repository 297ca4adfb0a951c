// A PCI configuration space built by hand for tests: capabilities chained in the order
// added, QEMU's virtio-net-pci layout as a starting point.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "drivers/virtio/transport/pci/pci_spec.hpp"
#include "drivers/virtio/transport/pci/virtio_capabilities.hpp"

namespace netfront::testing {

using namespace netfront::virtio::transport::pci;

struct FakeConfig {
  std::array<std::byte, 256> bytes{};
  std::array<std::uint64_t, 6> bars{0, 0x1000, 0, 0, 0x4000, 0};
  std::size_t next_free = 0x40;
  std::size_t last = 0;

  FakeConfig() { set16(kPciStatus, kPciStatusCapabilityList); }
  void set8(std::size_t off, std::uint8_t v) { bytes[off] = static_cast<std::byte>(v); }
  void set16(std::size_t off, std::uint16_t v) { set8(off, v & 0xff), set8(off + 1, v >> 8); }
  void set32(std::size_t off, std::uint32_t v) { set16(off, v & 0xffff), set16(off + 2, v >> 16); }

  std::size_t link(std::uint8_t id, std::uint8_t len) {
    const std::size_t at = next_free;
    next_free += (len + 3u) & ~3u;
    set8(at, id);
    set8(at + 1, 0);
    set8(at + 2, len);
    if (last == 0) set8(kPciCapabilityPointer, static_cast<std::uint8_t>(at));
    else set8(last + 1, static_cast<std::uint8_t>(at));
    last = at;
    return at;
  }
  std::size_t vendor(CfgType type, std::uint8_t bar, std::uint32_t offset, std::uint32_t length, std::uint8_t len = 16) {
    const std::size_t at = link(kPciCapabilityVendor, len);
    set8(at + kCapCfgType, static_cast<std::uint8_t>(type));
    set8(at + kCapBar, bar);
    set32(at + kCapOffset, offset);
    set32(at + kCapLength, length);
    return at;
  }
  void notify(std::uint8_t bar, std::uint32_t offset, std::uint32_t length, std::uint32_t multiplier) {
    const std::size_t at = vendor(CfgType::Notify, bar, offset, length, kNotifyCapSize);
    set32(at + kNotifyCapMultiplier, multiplier);
  }
  // What QEMU's virtio-net-pci shows: MSI-X first, then the four structures in BAR 4.
  static FakeConfig qemu() {
    FakeConfig c;
    c.link(0x11, 12);  // MSI-X
    c.vendor(CfgType::Common, 4, 0x0000, 0x1000);
    c.vendor(CfgType::Isr, 4, 0x1000, 0x1000);
    c.vendor(CfgType::Device, 4, 0x2000, 0x1000);
    c.notify(4, 0x3000, 0x1000, 4);
    return c;
  }
  virtio::Result<VirtioPciLayout> parse() const { return find_virtio_capabilities(bytes, bars); }
};

}  // namespace netfront::testing
