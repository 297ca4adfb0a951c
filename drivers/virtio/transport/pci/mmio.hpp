// Loads and stores to a device's memory BAR. Volatile, of exactly the width the virtio spec
// asks for each field (§4.1.3.1), little-endian as every modern virtio register is (x86 and
// the other targets DPDK supports here are little-endian hosts). 64-bit registers are written
// as two 32-bit halves, low first, which §4.1.3.1 allows and every device accepts.
//
// Register windows (common and device configuration) and doorbells are separate types: a
// register write may be watched (below), a doorbell, on the per-burst path, never is.
#pragma once

#include <cstddef>
#include <cstdint>

namespace netfront::virtio::transport::pci {

// A device that is not hardware has registers that are plain memory, which do nothing when
// written. A fake PCI function in a test makes them react (a reset that never completes, a
// queue_select that switches the queue fields) by being told of every register write right
// after it lands; real functions have none.
class RegisterWriteObserver {
 public:
  virtual void written(volatile std::byte* at, unsigned width) noexcept = 0;

 protected:
  ~RegisterWriteObserver() = default;
};

class Mmio {
 public:
  Mmio() = default;
  explicit Mmio(volatile std::byte* base, RegisterWriteObserver* observer = nullptr) noexcept
      : base_(base), observer_(observer) {}
  bool valid() const noexcept { return base_ != nullptr; }

  std::uint8_t read8(std::size_t off) const noexcept { return *reinterpret_cast<volatile std::uint8_t*>(base_ + off); }
  std::uint16_t read16(std::size_t off) const noexcept { return *reinterpret_cast<volatile std::uint16_t*>(base_ + off); }
  std::uint32_t read32(std::size_t off) const noexcept { return *reinterpret_cast<volatile std::uint32_t*>(base_ + off); }
  void write8(std::size_t off, std::uint8_t v) const noexcept { store(off, v); }
  void write16(std::size_t off, std::uint16_t v) const noexcept { store(off, v); }
  void write32(std::size_t off, std::uint32_t v) const noexcept { store(off, v); }
  void write64_halves(std::size_t off, std::uint64_t v) const noexcept {
    write32(off, static_cast<std::uint32_t>(v));
    write32(off + 4, static_cast<std::uint32_t>(v >> 32));
  }

 private:
  template <typename T>
  void store(std::size_t off, T v) const noexcept {
    *reinterpret_cast<volatile T*>(base_ + off) = v;
    if (observer_) observer_->written(base_ + off, sizeof(T));
  }

  volatile std::byte* base_ = nullptr;
  RegisterWriteObserver* observer_ = nullptr;
};

// §4.1.4.4: one queue's doorbell, a 16-bit store of the queue index.
class Doorbell {
 public:
  Doorbell() = default;
  explicit Doorbell(volatile std::byte* at) noexcept : at_(reinterpret_cast<volatile std::uint16_t*>(at)) {}
  bool valid() const noexcept { return at_ != nullptr; }
  void ring(std::uint16_t value) const noexcept { *at_ = value; }

 private:
  volatile std::uint16_t* at_ = nullptr;
};

}  // namespace netfront::virtio::transport::pci
