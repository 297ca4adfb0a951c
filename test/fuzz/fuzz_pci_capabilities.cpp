// Fuzz target: the virtio PCI capability parser (virtio 1.2 §4.1.4). Input: 256 bytes of
// configuration space, then up to six BAR sizes as powers of two (one byte each: the exponent,
// 0 = no BAR).
//
// Oracle: a reference walk of the same bytes, written from the spec (and netfront's stated
// policy: a capability too short, of an unknown type or naming a reserved BAR is skipped; the
// first of each type is the one used, structures in a BAR that is not memory (size 0, or its register's I/O bit set) passed
// over for a later one; a used one that does not fit its BAR, or is misaligned,
// fails the device; so does a list that leaves the capability area or loops). The parser must
// accept exactly what the reference accepts, and its layout (common, notify and its
// multiplier, ISR, device configuration) must be the reference's, field by field.
#include <array>
#include <bitset>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "drivers/virtio/transport/pci/virtio_capabilities.hpp"

using namespace netfront::virtio::transport::pci;

namespace {

struct Region {
  unsigned bar;
  std::uint32_t offset, length;
  bool operator==(const BarRegion& r) const { return bar == r.bar && offset == r.offset && length == r.length; }
};
struct Layout {
  std::optional<Region> common, notify, isr, device;
  std::uint32_t multiplier = 0;
};

std::optional<Layout> reference_walk(const std::array<std::uint8_t, 256>& cfg, const std::array<std::uint64_t, 6>& bars) {
  auto u16 = [&](unsigned at) { return static_cast<unsigned>(cfg[at] | cfg[at + 1] << 8); };
  auto u32 = [&](unsigned at) { return static_cast<std::uint32_t>(u16(at) | u16(at + 2) << 16); };
  if (!(u16(0x06) & 0x10)) return std::nullopt;  // no capability list
  Layout l;
  std::bitset<256> visited;
  for (unsigned at = cfg[0x34] & 0xfcu; at != 0; at = cfg[at + 1] & 0xfcu) {
    if (at < 0x40 || at + 4 > 256 || visited.test(at)) return std::nullopt;
    visited.set(at);
    if (cfg[at] != 0x09) continue;                    // not a vendor-specific capability
    const unsigned len = cfg[at + 2], type = cfg[at + 3], bar = cfg[at + 4];
    if (len < 16 || at + 16 > 256 || bar > 5) continue;
    std::optional<Region>* slot = type == 1 ? &l.common : type == 2 ? &l.notify : type == 3 ? &l.isr : type == 4 ? &l.device : nullptr;
    if (!slot || slot->has_value()) continue;
    if (bars[bar] == 0 || (cfg[0x10 + 4 * bar] & 1)) continue;  // not a memory BAR (size 0, or I/O space): one netfront cannot use
    if (type == 2) {
      if (len < 20 || at + 20 > 256) continue;
      const std::uint32_t m = u32(at + 16);
      if (m != 0 && (m == 1 || (m & (m - 1)) != 0)) return std::nullopt;
      l.multiplier = m;
    }
    const Region r{bar, u32(at + 8), u32(at + 12)};
    const unsigned align = type == 2 ? 2 : type == 3 ? 1 : 4;
    if (std::uint64_t{r.offset} + r.length > bars[bar] || r.offset % align != 0) return std::nullopt;
    *slot = r;
  }
  if (!l.common || l.common->length < 56 || !l.notify || l.notify->length < 2) return std::nullopt;
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::array<std::uint8_t, 256> raw{};
  std::memcpy(raw.data(), data, std::min<std::size_t>(size, raw.size()));
  std::array<std::byte, 256> config;
  std::memcpy(config.data(), raw.data(), raw.size());
  std::array<std::uint64_t, 6> bars{};
  for (std::size_t i = 0; i < 6 && 256 + i < size; ++i) {
    const unsigned shift = data[256 + i] % 48;
    bars[i] = shift == 0 ? 0 : std::uint64_t{1} << shift;
  }
  const auto layout = find_virtio_capabilities(config, bars);
  const auto expected = reference_walk(raw, bars);
  if (layout.ok() != expected.has_value()) std::abort();
  if (!layout) return 0;
  if (!(*expected->common == layout->common) || !(*expected->notify == layout->notify) ||
      expected->multiplier != layout->notify_off_multiplier)
    std::abort();
  // Absent ISR or device configuration: a zero-length region in the parser's layout.
  for (auto [want, got] : {std::pair{&expected->isr, &layout->isr}, std::pair{&expected->device, &layout->device}}) {
    if (want->has_value() ? !(**want == *got) : got->length != 0) std::abort();
  }
  return 0;
}
