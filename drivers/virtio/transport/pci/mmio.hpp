// Loads and stores to a device's memory BAR. Volatile, of exactly the width the virtio spec
// asks for each field (§4.1.3.1), little-endian as every modern virtio register is (x86 and
// the other targets DPDK supports here are little-endian hosts). 64-bit registers are written
// as two 32-bit halves, low first, which §4.1.3.1 allows and every device accepts.
#pragma once

#include <cstddef>
#include <cstdint>

namespace netfront::virtio::pci {

class Mmio {
 public:
  Mmio() = default;
  explicit Mmio(volatile std::byte* base) noexcept : base_(base) {}
  bool valid() const noexcept { return base_ != nullptr; }

  std::uint8_t read8(std::size_t off) const noexcept { return *reinterpret_cast<volatile std::uint8_t*>(base_ + off); }
  std::uint16_t read16(std::size_t off) const noexcept { return *reinterpret_cast<volatile std::uint16_t*>(base_ + off); }
  std::uint32_t read32(std::size_t off) const noexcept { return *reinterpret_cast<volatile std::uint32_t*>(base_ + off); }
  void write8(std::size_t off, std::uint8_t v) const noexcept { *reinterpret_cast<volatile std::uint8_t*>(base_ + off) = v; }
  void write16(std::size_t off, std::uint16_t v) const noexcept { *reinterpret_cast<volatile std::uint16_t*>(base_ + off) = v; }
  void write32(std::size_t off, std::uint32_t v) const noexcept { *reinterpret_cast<volatile std::uint32_t*>(base_ + off) = v; }
  void write64_halves(std::size_t off, std::uint64_t v) const noexcept {
    write32(off, static_cast<std::uint32_t>(v));
    write32(off + 4, static_cast<std::uint32_t>(v >> 32));
  }

 private:
  volatile std::byte* base_ = nullptr;
};

}  // namespace netfront::virtio::pci
