#include "drivers/virtio/transport/pci/virtio_capabilities.hpp"

#include <bit>
#include <cstring>
#include <optional>
#include <string>

#include "drivers/virtio/transport/pci/capability_list.hpp"
#include "drivers/virtio/transport/pci/pci_spec.hpp"

namespace netfront::virtio::transport::pci {
namespace {

std::string hex(unsigned v) {
  char s[16];
  std::snprintf(s, sizeof s, "0x%x", v);
  return s;
}

struct ConfigView {
  std::span<const std::byte> bytes;
  std::uint8_t u8(std::size_t off) const { return std::to_integer<std::uint8_t>(bytes[off]); }
  std::uint16_t u16(std::size_t off) const { return static_cast<std::uint16_t>(u8(off) | u8(off + 1) << 8); }
  std::uint32_t u32(std::size_t off) const { return u16(off) | static_cast<std::uint32_t>(u16(off + 2)) << 16; }
};

const char* type_name(CfgType t) {
  switch (t) {
    case CfgType::Common: return "common configuration";
    case CfgType::Notify: return "notification";
    case CfgType::Isr: return "ISR status";
    case CfgType::Device: return "device configuration";
    case CfgType::PciCfg: return "PCI configuration access";
  }
  return "unknown";
}

// §4.1.4.3.1, §4.1.4.4.1, §4.1.4.6.1: the alignment each structure's offset must have.
std::uint32_t required_alignment(CfgType t) { return t == CfgType::Notify ? 2 : (t == CfgType::Isr ? 1 : 4); }

Result<BarRegion> checked_region(const ConfigView& c, std::size_t at, CfgType type,
                                 const std::array<std::uint64_t, 6>& bar_sizes) {
  BarRegion r{c.u8(at + kCapBar), c.u32(at + kCapOffset), c.u32(at + kCapLength)};
  const std::string what = std::string("virtio ") + type_name(type) + " capability at " + hex(static_cast<unsigned>(at));
  const std::uint64_t bar_size = bar_sizes[r.bar];
  if (std::uint64_t{r.offset} + r.length > bar_size)
    return Fault(TransportError::ProtocolViolation, what + " claims " + hex(r.offset) + "+" + hex(r.length) + " in BAR " + std::to_string(r.bar) +
                          " of only " + hex(static_cast<unsigned>(bar_size)) + " bytes");
  if (r.offset % required_alignment(type) != 0)
    return Fault(TransportError::ProtocolViolation, what + " has a misaligned offset " + hex(r.offset));
  return r;
}

}  // namespace

Result<VirtioPciLayout> find_virtio_capabilities(std::span<const std::byte> config,
                                                 const std::array<std::uint64_t, 6>& bar_sizes) {
  if (config.size() < kPciConfigSize) return Fault(TransportError::BadRequest, "PCI configuration space shorter than 256 bytes");
  const ConfigView c{config.first(kPciConfigSize)};
  if (!(c.u16(kPciStatus) & kPciStatusCapabilityList))
    return Fault(TransportError::Unsupported, "PCI function has no capability list: a legacy-only virtio device, without the modern interface");

  std::optional<BarRegion> common, notify, isr, device;
  std::uint32_t multiplier = 0;
  std::string passed_over;  // the structures netfront cannot use, for the error if nothing else is offered
  const CapabilityList list = capability_list(config);
  if (!list.malformed.empty()) return Fault(TransportError::ProtocolViolation, list.malformed);
  for (const std::size_t at : list.offsets) {
    if (c.u8(at + kCapVndr) != kPciCapabilityVendor) continue;
    // §4.1.4: a capability too short, of a type we do not know or pointing at a reserved BAR
    // number is ignored, not fatal; the device may offer a better one further on.
    if (at + kCapSize > kPciConfigSize || c.u8(at + kCapLen) < kCapSize) continue;
    const auto type = static_cast<CfgType>(c.u8(at + kCapCfgType));
    if (c.u8(at + kCapBar) >= kPciBarCount) continue;
    std::optional<BarRegion>* slot = nullptr;
    switch (type) {
      case CfgType::Common: slot = &common; break;
      case CfgType::Notify: slot = &notify; break;
      case CfgType::Isr: slot = &isr; break;
      case CfgType::Device: slot = &device; break;
      default: continue;
    }
    if (slot->has_value()) continue;  // §4.1.4: the first one of each type wins
    // §4.1.4: the driver "SHOULD use the first interface that it can support". A structure in
    // a BAR that is not memory mapped (QEMU's modern-pio-notify=on puts a notification
    // structure in an I/O BAR, first in the list) is passed over for a later one of its type.
    // Known by its register's I/O-space bit, whatever size the kernel's interface gives it
    // (uio's sysfs lists memory BAR sizes only; VFIO gives an I/O BAR its real length).
    const unsigned bar = c.u8(at + kCapBar);
    if (bar_sizes[bar] == 0 || (c.u32(kPciBar0 + 4 * bar) & kPciBarIoSpace)) {
      passed_over += std::string(passed_over.empty() ? "" : ", ") + "a " + type_name(type) + " structure in BAR " +
                     std::to_string(bar) + " (not a memory BAR)";
      continue;
    }
    if (type == CfgType::Notify) {
      if (c.u8(at + kCapLen) < kNotifyCapSize || at + kNotifyCapSize > kPciConfigSize) continue;
      multiplier = c.u32(at + kNotifyCapMultiplier);
      // §4.1.4.4: "an even power of 2, or 0".
      if (multiplier != 0 && (!std::has_single_bit(multiplier) || multiplier == 1))
        return Fault(TransportError::ProtocolViolation, "virtio notify_off_multiplier " + std::to_string(multiplier) + " is not 0 or an even power of 2");
    }
    auto region = checked_region(c, at, type, bar_sizes);
    if (!region) return std::move(region).error();
    *slot = *region;
  }
  const std::string unusable = passed_over.empty() ? "" : "; passed over: " + passed_over;

  if (!common)
    return Fault(TransportError::Unsupported,
                 unusable.empty() ? "PCI function has no virtio common configuration capability: a legacy-only virtio device, "
                                    "without the modern interface"
                                  : "PCI function has no virtio common configuration capability netfront can use" + unusable);
  if (common->length < common::kMinimumLength)
    return Fault(TransportError::ProtocolViolation, "virtio common configuration is " + std::to_string(common->length) + " bytes, less than the " +
                          std::to_string(common::kMinimumLength) + " the spec requires");
  if (!notify)
    return Fault(TransportError::ProtocolViolation, "PCI function has no virtio notification capability netfront can use" + unusable);
  if (notify->length < 2) return Fault(TransportError::ProtocolViolation, "virtio notification area is shorter than one doorbell");
  VirtioPciLayout layout;
  layout.common = *common;
  layout.notify = *notify;
  layout.notify_off_multiplier = multiplier;
  if (isr) layout.isr = *isr;
  if (device) layout.device = *device;
  return layout;
}

}  // namespace netfront::virtio::transport::pci
