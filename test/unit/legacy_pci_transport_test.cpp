// The legacy virtio-pci transport (virtio 1.2 §4.1.4.8) over a fake transitional function: its
// I/O BAR0 is a small model of the legacy registers written from the spec (queue_select
// switches which queue's size and page number show, the status byte resets to 0, notify
// writes are logged), its configuration space a FakeConfig.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <memory>
#include <vector>

#include "drivers/virtio/ring/ring_layout.hpp"
#include "drivers/virtio/transport/pci/legacy_pci_transport.hpp"
#include "drivers/virtio/transport/pci/open_transport.hpp"
#include "drivers/virtio/transport/pci/pci_function.hpp"
#include "fake_pci_config.hpp"

namespace netfront::testing {
namespace {

namespace legacy = virtio::transport::pci::legacy;
using virtio::transport::pci::LegacyPciTransport;
using virtio::transport::pci::PortIo;

struct FakeLegacyDevice final : PortIo {
  std::size_t bar_size = 64;
  std::uint32_t device_features = 0;
  std::uint32_t driver_features = 0;
  std::uint8_t status = 0;
  std::uint16_t selected = 0;
  std::vector<std::uint16_t> sizes{256, 256, 64};  // rx, tx, control
  std::vector<std::uint32_t> pages = std::vector<std::uint32_t>(3);
  std::vector<std::uint16_t> notified;
  std::array<std::uint8_t, 32> config{};  // the device-specific configuration

  std::size_t config_at(bool msix) const { return msix ? legacy::kDeviceConfigWithMsix : legacy::kDeviceConfig; }
  bool msix = false;
  bool reset_never_completes = false;  // A12: the status byte keeps its value when 0 is written
  std::size_t size() const noexcept override { return bar_size; }
  std::uint8_t read8(std::size_t off) noexcept override {
    if (off == legacy::kDeviceStatus) return status;
    const std::size_t c = config_at(msix);
    return off >= c && off - c < config.size() ? config[off - c] : 0;
  }
  std::uint16_t read16(std::size_t off) noexcept override {
    if (off == legacy::kQueueSize) return selected < sizes.size() ? sizes[selected] : 0;
    if (off == legacy::kQueueSelect) return selected;
    return static_cast<std::uint16_t>(read8(off) | read8(off + 1) << 8);
  }
  std::uint32_t read32(std::size_t off) noexcept override {
    if (off == legacy::kDeviceFeatures) return device_features;
    if (off == legacy::kDriverFeatures) return driver_features;
    if (off == legacy::kQueueAddress) return selected < pages.size() ? pages[selected] : 0;
    return read16(off) | static_cast<std::uint32_t>(read16(off + 2)) << 16;
  }
  void write8(std::size_t off, std::uint8_t v) noexcept override {
    if (off != legacy::kDeviceStatus || (v == 0 && reset_never_completes)) return;
    status = v;
    if (v == 0) std::fill(pages.begin(), pages.end(), 0u);  // a reset forgets the rings
  }
  void write16(std::size_t off, std::uint16_t v) noexcept override {
    if (off == legacy::kQueueSelect) selected = v;
    if (off == legacy::kQueueNotify) notified.push_back(v);
  }
  void write32(std::size_t off, std::uint32_t v) noexcept override {
    if (off == legacy::kDriverFeatures) driver_features = v;
    if (off == legacy::kQueueAddress && selected < pages.size()) pages[selected] = v;
  }
};

struct FakeTransitional {
  FakeConfig config;
  FakeLegacyDevice ports;
  PciAddress address{0, 0, 3, 0};
  KernelDriver driver = KernelDriver::Uio;
  bool io_bar_missing = false;
  FakeTransitional() {
    config.set16(kPciVendorId, kVirtioVendor);
    config.set16(kPciDeviceId, kVirtioNetTransitionalId);
    config.set16(kPciSubsystemId, 1);
    config.bars = {0, 0x1000, 0, 0, 0, 0};  // BAR0 is I/O: no memory BAR size
  }
  void add_msix(bool enabled) {
    const std::size_t at = config.link(kPciCapabilityMsix, 12);
    config.set16(at + 2, enabled ? kPciMsixControlEnable : 0);
    ports.msix = enabled;
  }
  std::uint16_t command() const {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(config.bytes[kPciCommand]) |
                                      std::to_integer<unsigned>(config.bytes[kPciCommand + 1]) << 8);
  }
};

class FakeFunction final : public PciFunction {
 public:
  explicit FakeFunction(FakeTransitional& d) : d_(d) {}
  KernelDriver kernel_driver() const noexcept override { return d_.driver; }
  const PciAddress& address() const noexcept override { return d_.address; }
  virtio::Result<> read_config(std::size_t offset, std::span<std::byte> out) override {
    std::memcpy(out.data(), d_.config.bytes.data() + offset, out.size());
    return Ok{};
  }
  virtio::Result<> write_config(std::size_t offset, std::span<const std::byte> in) override {
    std::memcpy(d_.config.bytes.data() + offset, in.data(), in.size());
    return Ok{};
  }
  const std::array<std::uint64_t, 6>& bar_sizes() const noexcept override { return d_.config.bars; }
  virtio::Result<volatile std::byte*> map_bar(unsigned) override {
    return virtio::Fault(virtio::transport::TransportError::BadRequest, "no memory BAR in this fake");
  }
  virtio::Result<PortIo*> io_bar(unsigned bar) override {
    if (bar != 0 || d_.io_bar_missing) return virtio::Fault(virtio::transport::TransportError::ProtocolViolation, "BAR 0 is not an I/O-port BAR");
    return static_cast<PortIo*>(&d_.ports);
  }

 private:
  FakeTransitional& d_;
};

std::unique_ptr<LegacyPciTransport> open(FakeTransitional& d) {
  auto t = LegacyPciTransport::open(std::make_unique<FakeFunction>(d));
  EXPECT_TRUE(t) << t.error().to_string();
  return t ? std::move(*t) : nullptr;
}

TEST(LegacyPciTransport, OpensWithIoDecodingAndBusMasteringAndCountsTheQueuesTheDeviceHas) {
  FakeTransitional d;
  {
    auto t = open(d);
    ASSERT_TRUE(t);
    EXPECT_TRUE(t->legacy());
    EXPECT_EQ(d.command() & (kPciCommandIo | kPciCommandBusMaster), kPciCommandIo | kPciCommandBusMaster);
    EXPECT_EQ(t->queue_count(), 3);  // queues while their size reads non-zero
    t->set_status(0x07);
  }
  EXPECT_EQ(d.ports.status, 0);                        // reset before anything is freed
  EXPECT_EQ(d.command() & kPciCommandBusMaster, 0);    // and no more DMA
}

TEST(LegacyPciTransport, HasThirtyTwoFeatureBits) {
  FakeTransitional d;
  auto t = open(d);
  ASSERT_TRUE(t);
  d.ports.device_features = 0x8000a023u;
  EXPECT_EQ(t->device_features(), 0x8000a023ull);
  t->set_driver_features(0x00000000080000a3ull);
  EXPECT_EQ(d.ports.driver_features, 0x080000a3u);
}

// §4.1.4.8: the device-specific configuration follows the registers at 20, or at 24 while
// MSI-X is enabled (its two vector registers come first).
TEST(LegacyPciTransport, DeviceConfigurationMovesWithMsixEnabled) {
  for (bool msix : {false, true}) {
    FakeTransitional d;
    d.add_msix(msix);
    d.ports.config = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x01, 0x00};  // mac, status LINK_UP
    auto t = open(d);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->config_size(), 64u - (msix ? 24u : 20u));
    std::byte mac[6];
    t->read_config(0, mac);
    EXPECT_EQ(std::to_integer<int>(mac[0]), 0x52) << msix;
    EXPECT_EQ(std::to_integer<int>(mac[5]), 0x56) << msix;
    std::byte status[2];
    t->read_config(6, status);
    EXPECT_EQ(std::to_integer<int>(status[0]), 1) << msix;
    std::byte past[8];
    std::memset(past, 0xff, sizeof past);
    t->read_config(t->config_size() - 4, past);  // half inside the BAR, half beyond: zero
    for (int i = 4; i < 8; ++i) EXPECT_EQ(std::to_integer<int>(past[i]), 0);
  }
}

// §4.1.4.8, §2.7.2: a ring is given as one page number; the device finds the rest where the
// legacy layout puts it. Anything else is refused before the device is told.
TEST(LegacyPciTransport, ARingIsGivenAsItsPageNumberOnlyInTheLegacyLayout) {
  FakeTransitional d;
  auto t = open(d);
  ASSERT_TRUE(t);
  const auto layout = virtio::ring::SplitLayout::of(256, virtio::ring::kLegacyRingAlign);
  const std::uint64_t at = 0x12345000;
  const virtio::ring::QueueAddresses good{at, at + layout.avail_offset, at + layout.used_offset};
  auto expect_refused = [&](const virtio::transport::QueueSetup& s, const char* what) {
    auto r = t->enable_queue(s);
    ASSERT_FALSE(r) << what;
    EXPECT_NE(r.error().message().find(what), std::string::npos) << r.error().message();
    EXPECT_EQ(d.ports.pages[s.index < 3 ? s.index : 0], 0u);
  };
  expect_refused({.index = 1, .size = 128, .addresses = good}, "fixed by the device");
  expect_refused({.index = 1, .size = 256, .addresses = {at + 16, good.driver + 16, good.device + 16}}, "not in the legacy layout");
  const auto modern = virtio::ring::SplitLayout::of(256);
  expect_refused({.index = 1, .size = 256, .addresses = {at, at + modern.avail_offset, at + modern.used_offset}}, "not in the legacy layout");
  const std::uint64_t high = std::uint64_t{1} << 45;
  expect_refused({.index = 1, .size = 256, .addresses = {high, high + layout.avail_offset, high + layout.used_offset}}, "beyond what a legacy page number");
  expect_refused({.index = 3, .size = 256, .addresses = good}, "does not exist");
  EXPECT_FALSE(t->notify(1));  // no ring yet: no doorbell
  ASSERT_TRUE(t->enable_queue({.index = 1, .size = 256, .addresses = good}));
  EXPECT_EQ(d.ports.pages[1], 0x12345u);
  EXPECT_TRUE(t->notify(1));
  EXPECT_EQ(d.ports.notified, std::vector<std::uint16_t>{1});
  ASSERT_TRUE(t->reset());
  EXPECT_FALSE(t->notify(1)) << "the reset took the ring away";
}

TEST(LegacyPciTransport, QueueSizesBeyondTheSpecAreUnavailable) {  // A11
  FakeTransitional d;
  d.ports.sizes = {256, 40000, 64};
  auto t = open(d);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->queue_count(), 1) << "a queue claiming 40000 entries ends the count";
  EXPECT_EQ(t->queue_max_size(0), 256);
}

TEST(LegacyPciTransport, IsRefusedThroughVfioAndWithoutAnIoBarThatHoldsTheRegisters) {
  FakeTransitional vfio;
  vfio.driver = KernelDriver::Vfio;
  auto r = LegacyPciTransport::open(std::make_unique<FakeFunction>(vfio));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("bind it to uio_pci_generic"), std::string::npos) << r.error().message();
  FakeTransitional none;
  none.io_bar_missing = true;
  r = LegacyPciTransport::open(std::make_unique<FakeFunction>(none));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("not an I/O-port BAR"), std::string::npos) << r.error().message();
  FakeTransitional small;
  small.ports.bar_size = 16;
  r = LegacyPciTransport::open(std::make_unique<FakeFunction>(small));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("cannot hold the legacy virtio registers"), std::string::npos) << r.error().message();
}

TEST(LegacyPciTransport, AResetThatNeverCompletesIsBoundedAndNotWaitedForAgain) {  // A12
  FakeTransitional d;
  auto t = open(d);
  ASSERT_TRUE(t);
  t->set_status(0x07);
  d.ports.reset_never_completes = true;
  auto r = t->reset();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("did not complete its reset within 2 s"), std::string::npos) << r.error().message();
  auto again = t->reset();
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("did not complete an earlier reset"), std::string::npos) << again.error().message();
  EXPECT_TRUE(t->revoke_dma());
  EXPECT_EQ(d.command() & kPciCommandBusMaster, 0);
}

// A transitional function with the modern capabilities is driven through them; one without
// through the legacy interface; a modern-only id without them has nothing to fall back to.
TEST(OpenVirtioPci, TakesTheLegacyInterfaceOnlyOfATransitionalFunctionWithoutTheModernOne) {
  FakeTransitional d;
  auto t = virtio::transport::pci::open_virtio_pci(std::make_unique<FakeFunction>(d));
  ASSERT_TRUE(t) << t.error().to_string();
  EXPECT_TRUE((*t)->legacy());
  EXPECT_NE((*t)->describe().find("(legacy)"), std::string::npos);
  FakeTransitional modern_id;
  modern_id.config.set16(kPciDeviceId, kVirtioNetModernId);
  t = virtio::transport::pci::open_virtio_pci(std::make_unique<FakeFunction>(modern_id));
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("no virtio common configuration capability"), std::string::npos) << t.error().message();
}

// A transitional function whose modern capabilities are there but malformed (a
// notify_off_multiplier §4.1.4.4 forbids) has broken its modern interface, not left it out:
// the error says so, rather than driving it through the legacy one or calling it legacy-only.
TEST(OpenVirtioPci, MalformedModernCapabilitiesOfATransitionalFunctionAreReportedNotFallenBackFrom) {
  FakeTransitional d;
  d.driver = KernelDriver::Vfio;
  d.config.bars[4] = 0x4000;
  d.config.link(kPciCapabilityMsix, 12);
  d.config.vendor(virtio::transport::pci::CfgType::Common, 4, 0x0000, 0x1000);
  d.config.vendor(virtio::transport::pci::CfgType::Isr, 4, 0x1000, 0x1000);
  d.config.vendor(virtio::transport::pci::CfgType::Device, 4, 0x2000, 0x1000);
  d.config.notify(4, 0x3000, 0x1000, 3);
  ASSERT_FALSE(d.config.parse()) << "the fake's modern capabilities are meant to be malformed";
  auto t = virtio::transport::pci::open_virtio_pci(std::make_unique<FakeFunction>(d));
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message().find("legacy-only"), std::string::npos) << t.error().message();
  EXPECT_NE(t.error().message().find("notify_off_multiplier"), std::string::npos) << t.error().message();
}

}  // namespace
}  // namespace netfront::testing
