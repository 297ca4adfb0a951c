#include "drivers/virtio/transport/mmio/mmio_transport.hpp"

#include <atomic>
#include <cstdio>
#include <cstring>

#include "drivers/virtio/ring/ring_layout.hpp"
#include "drivers/virtio/transport/config_reads.hpp"
#include "drivers/virtio/transport/device_reset.hpp"
#include "drivers/virtio/transport/legacy_ring.hpp"
#include "drivers/virtio/transport/mmio/mmio_spec.hpp"
#include "netfront/device_id.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::transport::mmio {
namespace {

std::string hex(std::uint64_t v) {
  char s[24];
  std::snprintf(s, sizeof s, "0x%llx", static_cast<unsigned long long>(v));
  return s;
}

}  // namespace

Result<std::uint32_t> check_virtio_net_window(RegisterWindow& w) {
  const std::string at = "virtio-mmio window at " + MmioAddress{w.physical_address()}.to_string();
  if (w.size() < kWindowSize) return Fault(TransportError::BadRequest, at + " is shorter than the registers");
  const pci::Mmio r(w.base());
  const std::uint32_t magic = r.read32(kMagicValue);
  if (magic != kMagic) return Fault(TransportError::NoSuchDevice, at + " holds no virtio device (magic " + hex(magic) + ")");
  const std::uint32_t version = r.read32(kVersion);
  if (version != 1 && version != 2)
    return Fault(TransportError::Unsupported, at + " is virtio-mmio version " + std::to_string(version) + " (netfront knows 1 and 2)");
  const std::uint32_t type = r.read32(kDeviceId);
  if (type == 0) return Fault(TransportError::NoSuchDevice, at + " is an empty virtio-mmio slot (device id 0)");
  if (type != kNetDeviceId)
    return Fault(TransportError::NoSuchDevice, at + " is not a network device (virtio type " + std::to_string(type) + ")");
  return version;
}

Result<std::unique_ptr<MmioTransport>> MmioTransport::open(std::unique_ptr<RegisterWindow> window) {
  // The version as checked: read once, so a device cannot pass as one and then be another.
  auto version = check_virtio_net_window(*window);
  if (!version) return std::move(version).error();
  std::unique_ptr<MmioTransport> t(new MmioTransport(std::move(window), *version));
  runtime::logger("mmio").info("{}: virtio-mmio version {}", t->describe(), *version);
  return t;
}

MmioTransport::MmioTransport(std::unique_ptr<RegisterWindow> window, std::uint32_t version)
    : window_(std::move(window)), regs_(window_->base(), window_->observer()), version_(version) {}

// Stop the device before DPDK's memory can be reused: it has no other way to be cut off.
MmioTransport::~MmioTransport() { (void)reset(); }

std::string MmioTransport::describe() const { return "mmio:" + MmioAddress{window_->physical_address()}.to_string() + (legacy() ? " (legacy)" : ""); }

// §4.2.3.1: writing 0 to Status resets the device; reading 0 back says it is done (A12).
Result<> MmioTransport::reset() {
  queues_.reset();
  return reset_device(describe(), unresponsive_, [&] { regs_.write32(kStatus, 0); },
                      [&] { return static_cast<std::uint8_t>(regs_.read32(kStatus)); });
}

std::uint8_t MmioTransport::status() { return static_cast<std::uint8_t>(regs_.read32(kStatus)); }
void MmioTransport::set_status(std::uint8_t status) { regs_.write32(kStatus, status); }

// §4.2.2: 32 bits at a time, the word chosen first (a legacy device has only the first).
std::uint64_t MmioTransport::device_features() {
  std::uint64_t f = 0;
  for (std::uint32_t word = 0; word < (legacy() ? 1u : 2u); ++word) {
    regs_.write32(kDeviceFeaturesSel, word);
    f |= std::uint64_t{regs_.read32(kDeviceFeatures)} << (32 * word);
  }
  return f;
}

void MmioTransport::set_driver_features(std::uint64_t features) {
  queues_.forget_count();
  for (std::uint32_t word = 0; word < (legacy() ? 1u : 2u); ++word) {
    regs_.write32(kDriverFeaturesSel, word);
    regs_.write32(kDriverFeatures, static_cast<std::uint32_t>(features >> (32 * word)));
  }
}

// Version 1 has none: the engine reads the fields until two reads agree (§2.5.4).
std::uint32_t MmioTransport::config_generation() { return legacy() ? 0 : regs_.read32(kConfigGeneration); }

// §4.2.2.2 (config_reads.hpp).
void MmioTransport::read_config(std::size_t offset, std::span<std::byte> out) {
  read_config_registers(regs_, kConfigStart, config_size(), offset, out);
}

std::uint16_t MmioTransport::queue_count() {
  return queues_.count([&](std::uint16_t i) { return queue_max_size(i); });
}

std::uint16_t MmioTransport::queue_max_size(std::uint16_t index) {
  if (index >= ProbedQueues::kMax) return 0;
  regs_.write32(kQueueSel, index);
  const std::uint32_t max = regs_.read32(kQueueNumMax);
  if (max > ring::kMaxQueueSize) {
    runtime::logger("mmio").warn("{}: queue {} claims {} entries, more than any ring may have; not using it", describe(), index, max);
    return 0;
  }
  return static_cast<std::uint16_t>(max);
}

// §4.2.3.2 (version 2): size, the three 64-bit addresses as halves, then QueueReady.
Result<> MmioTransport::enable_queue(const transport::QueueSetup& s) {
  const std::string queue = describe() + ": queue " + std::to_string(s.index);
  if (s.index >= queue_count()) return Fault(TransportError::Refused, queue + " does not exist");
  const std::uint16_t max = queue_max_size(s.index);  // also selects the queue
  if (s.size == 0 || s.size > max)
    return Fault(TransportError::BadRequest, queue + " cannot take " + std::to_string(s.size) + " entries (device allows " +
                                                 std::to_string(max) + ")");
  if (legacy()) {
    if (auto r = enable_legacy_queue(s, queue); !r) return r;
  } else {
    if (regs_.read32(kQueueReady) != 0) return Fault(TransportError::ProtocolViolation, queue + " is in use before it was set up");
    regs_.write32(kQueueNum, s.size);
    regs_.write64_halves(kQueueDescLow, s.addresses.desc);
    regs_.write64_halves(kQueueDriverLow, s.addresses.driver);
    regs_.write64_halves(kQueueDeviceLow, s.addresses.device);
    regs_.write32(kQueueReady, 1);
  }
  queues_.enabled(s.index);
  return Ok{};
}

// §4.2.4: the queue not in use, then the page size, the queue's size, the used ring's
// alignment and the ring's page number (the legacy layout: legacy_ring_page).
Result<> MmioTransport::enable_legacy_queue(const transport::QueueSetup& s, const std::string& queue) {
  // §4.2.4: a queue whose page number is not 0 is in use.
  if (regs_.read32(kQueuePfn) != 0) return Fault(TransportError::ProtocolViolation, queue + " is in use before it was set up");
  auto page = legacy_ring_page(s, queue);
  if (!page) return std::move(page).error();
  regs_.write32(kGuestPageSize, kPageSize);
  regs_.write32(kQueueNum, s.size);
  regs_.write32(kQueueAlign, ring::kLegacyRingAlign);
  regs_.write32(kQueuePfn, *page);
  return Ok{};
}

// §4.2.3.3: the queue index written to QueueNotify. An uncached store after the ring writes:
// the release fence keeps the compiler from moving them past it (x86 does not reorder stores).
bool MmioTransport::notify(std::uint16_t index) noexcept {
  if (!queues_.may_notify(index)) return false;
  std::atomic_thread_fence(std::memory_order_release);
  regs_.write32(kQueueNotify, index);
  return true;
}

}  // namespace netfront::virtio::transport::mmio
