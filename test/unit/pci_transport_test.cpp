// The virtio-pci transport over a fake PCI function: configuration space from FakeConfig and
// BAR 4 as plain memory, so the registers read back whatever a (lying) device put there. The
// fake watches register writes (RegisterWriteObserver) to play a device that never completes
// a reset.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "drivers/virtio/transport/pci/pci_function.hpp"
#include "drivers/virtio/transport/pci/virtio_pci_transport.hpp"
#include "fake_pci_config.hpp"

namespace netfront::testing {
namespace {

// QEMU's layout: common at 0x0000, ISR 0x1000, device config 0x2000, notify 0x3000 (x4).
constexpr std::size_t kCommon = 0x0000, kDevice = 0x2000, kNotify = 0x3000;
constexpr std::size_t kStatusRegister = kCommon + common::kDeviceStatus;

// What the device side of the fake owns; it outlives the transport so tests can look after.
struct FakeDevice {
  FakeConfig config = FakeConfig::qemu();
  alignas(4096) std::array<std::byte, 0x4000> bar4{};
  PciAddress address{0, 0, 3, 0};
  bool reset_never_completes = false;  // A12: device_status keeps its value when 0 is written
  bool bus_master_stuck = false;       // Bus Master Enable cannot be cleared
  std::uint8_t status_shown = 0;
  std::optional<bool> bus_master_at_first_reset;  // whether the device could reach memory when first reset
  // §4.1.4.3: device_feature shows the word device_feature_select names (0 beyond the
  // second); driver_feature takes the word driver_feature_select names.
  std::array<std::uint32_t, 2> device_words{};
  std::array<std::uint32_t, 2> driver_words{};
  unsigned driver_word_writes = 0;

  std::uint8_t u8(std::size_t off) const { return std::to_integer<std::uint8_t>(bar4[off]); }
  std::uint16_t u16(std::size_t off) const {
    std::uint16_t v;
    std::memcpy(&v, &bar4[off], 2);
    return v;
  }
  std::uint32_t u32(std::size_t off) const {
    std::uint32_t v;
    std::memcpy(&v, &bar4[off], 4);
    return v;
  }
  void set16(std::size_t off, std::uint16_t v) { std::memcpy(&bar4[off], &v, 2); }
  void set32(std::size_t off, std::uint32_t v) { std::memcpy(&bar4[off], &v, 4); }
  std::uint16_t command() const { return static_cast<std::uint16_t>(std::to_integer<unsigned>(config.bytes[4]) |
                                                                   std::to_integer<unsigned>(config.bytes[5]) << 8); }
};

class FakeFunction final : public PciFunction, public RegisterWriteObserver {
 public:
  explicit FakeFunction(FakeDevice& d) : d_(d) {}
  KernelDriver kernel_driver() const noexcept override { return KernelDriver::Uio; }
  const PciAddress& address() const noexcept override { return d_.address; }
  virtio::Result<> read_config(std::size_t offset, std::span<std::byte> out) override {
    if (offset + out.size() > d_.config.bytes.size()) return virtio::Fault(virtio::transport::TransportError::BadRequest, "beyond config space");
    std::memcpy(out.data(), d_.config.bytes.data() + offset, out.size());
    return Ok{};
  }
  virtio::Result<> write_config(std::size_t offset, std::span<const std::byte> in) override {
    if (offset + in.size() > d_.config.bytes.size()) return virtio::Fault(virtio::transport::TransportError::BadRequest, "beyond config space");
    const bool master = d_.command() & kPciCommandBusMaster;
    std::memcpy(d_.config.bytes.data() + offset, in.data(), in.size());
    if (d_.bus_master_stuck && master) d_.config.set16(kPciCommand, static_cast<std::uint16_t>(d_.command() | kPciCommandBusMaster));
    return Ok{};
  }
  const std::array<std::uint64_t, 6>& bar_sizes() const noexcept override { return d_.config.bars; }
  virtio::Result<volatile std::byte*> map_bar(unsigned bar) override {
    if (bar != 4) return virtio::Fault(virtio::transport::TransportError::BadRequest, "only BAR 4 is mapped");
    return static_cast<volatile std::byte*>(d_.bar4.data());
  }
  RegisterWriteObserver* register_observer() noexcept override { return this; }
  void written(volatile std::byte* at, unsigned) noexcept override {
    if (at == d_.bar4.data() + kCommon + common::kDeviceFeatureSelect) {
      const std::uint32_t select = d_.u32(kCommon + common::kDeviceFeatureSelect);
      d_.set32(kCommon + common::kDeviceFeature, select < 2 ? d_.device_words[select] : 0);
      return;
    }
    if (at == d_.bar4.data() + kCommon + common::kDriverFeature) {
      const std::uint32_t select = d_.u32(kCommon + common::kDriverFeatureSelect);
      if (select < 2) d_.driver_words[select] = d_.u32(kCommon + common::kDriverFeature);
      ++d_.driver_word_writes;
      return;
    }
    if (at != d_.bar4.data() + kStatusRegister) return;
    if (d_.u8(kStatusRegister) == 0 && !d_.bus_master_at_first_reset)
      d_.bus_master_at_first_reset = (d_.command() & kPciCommandBusMaster) != 0;
    if (d_.u8(kStatusRegister) == 0 && d_.reset_never_completes)
      d_.bar4[kStatusRegister] = static_cast<std::byte>(d_.status_shown);
    d_.status_shown = d_.u8(kStatusRegister);
  }

 private:
  FakeDevice& d_;
};

std::unique_ptr<VirtioPciTransport> open(FakeDevice& d) {
  auto t = VirtioPciTransport::open(std::make_unique<FakeFunction>(d));
  EXPECT_TRUE(t) << t.error().to_string();
  return t ? std::move(*t) : nullptr;
}

TEST(VirtioPciTransport, OpeningEnablesMemoryAndBusMasteringAndClosingResetsAndStopsDma) {
  FakeDevice d;
  {
    auto t = open(d);
    ASSERT_TRUE(t);
    EXPECT_EQ(d.command() & (kPciCommandMemory | kPciCommandBusMaster), kPciCommandMemory | kPciCommandBusMaster);
    t->set_status(0x0f);
  }
  EXPECT_EQ(d.u8(kCommon + common::kDeviceStatus), 0);  // reset before anything is freed
  EXPECT_EQ(d.command() & kPciCommandBusMaster, 0);     // and no more DMA
}

// A device a previous driver left running is reset before bus mastering lets it reach memory.
TEST(VirtioPciTransport, OpeningResetsTheDeviceBeforeItMayReachMemory) {
  FakeDevice d;
  d.bar4[kStatusRegister] = std::byte{0x0f};  // DRIVER_OK and the rest, as a previous driver left it
  auto t = open(d);
  ASSERT_TRUE(t);
  ASSERT_TRUE(d.bus_master_at_first_reset.has_value()) << "never reset";
  EXPECT_FALSE(*d.bus_master_at_first_reset);
  EXPECT_EQ(d.command() & kPciCommandBusMaster, kPciCommandBusMaster);
}

// A previous netfront that died (or was killed) left the device running with Bus Master Enable
// on (uio_pci_generic clears nothing): bus mastering is turned off before the reset, which may
// take up to 2 s, so the device cannot write into memory this process may now hold meanwhile.
TEST(VirtioPciTransport, OpeningTurnsOffBusMasteringAPreviousDriverLeftOnBeforeTheReset) {
  FakeDevice d;
  d.bar4[kStatusRegister] = std::byte{0x0f};
  d.config.set16(kPciCommand, kPciCommandMemory | kPciCommandBusMaster);
  auto t = open(d);
  ASSERT_TRUE(t);
  ASSERT_TRUE(d.bus_master_at_first_reset.has_value()) << "never reset";
  EXPECT_FALSE(*d.bus_master_at_first_reset) << "the device could reach memory while it was being reset";
}

// A12: the driver must wait for device_status to read back 0, but not forever; a device that
// never gets there is not waited for again, and can still be cut off from memory.
TEST(VirtioPciTransport, ResetNeverCompletedFailsAfterItsBoundAndIsNotWaitedForAgain) {  // A12
  FakeDevice d;
  auto t = open(d);
  ASSERT_TRUE(t);
  t->set_status(0x0f);
  d.reset_never_completes = true;
  const auto start = std::chrono::steady_clock::now();
  auto r = t->reset();
  ASSERT_FALSE(r);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));  // it did wait, as §4.1.4.3.2 asks
  EXPECT_NE(r.error().message().find("did not complete its reset within 2 s"), std::string::npos) << r.error().message();
  EXPECT_EQ(d.u8(kStatusRegister), 0x0f);
  auto again = t->reset();
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("did not complete an earlier reset"), std::string::npos) << again.error().message();
  EXPECT_TRUE(t->revoke_dma());
  EXPECT_EQ(d.command() & kPciCommandBusMaster, 0);
}

TEST(VirtioPciTransport, BusMasteringThatStaysOnIsNotTakenForRevokedDma) {  // A12
  FakeDevice d;
  auto t = open(d);
  ASSERT_TRUE(t);
  d.bus_master_stuck = true;
  EXPECT_FALSE(t->revoke_dma());
  d.bus_master_stuck = false;
  EXPECT_TRUE(t->revoke_dma());
}

// §4.1.4.3: 64 feature bits through 32-bit windows, each half selected first. The fake shows
// each half only when it is selected, so reading one half twice, or never selecting, is seen.
TEST(VirtioPciTransport, FeaturesAreReadAndWrittenAsTwo32BitWords) {
  FakeDevice d;
  auto t = open(d);
  ASSERT_TRUE(t);
  d.device_words = {0x00000123u, 0x00000001u};  // VERSION_1 (bit 32) in the high word
  d.set32(kCommon + common::kDeviceFeatureSelect, 7);
  d.set32(kCommon + common::kDeviceFeature, 0xdeadbeefu);  // what an unselected read would see
  EXPECT_EQ(t->device_features(), 0x0000000100000123ull);
  t->set_driver_features(0xabcdef0012345678ull);
  EXPECT_EQ(d.driver_words[0], 0x12345678u);
  EXPECT_EQ(d.driver_words[1], 0xabcdef00u);
  EXPECT_EQ(d.driver_word_writes, 2u);
}

TEST(VirtioPciTransport, QueueSizesOfZeroOrBeyondTheSpecAreUnavailable) {  // A11
  FakeDevice d;
  auto t = open(d);
  ASSERT_TRUE(t);
  d.set16(kCommon + common::kNumQueues, 2);
  d.set16(kCommon + common::kQueueSize, 0);
  EXPECT_EQ(t->queue_max_size(0), 0);
  d.set16(kCommon + common::kQueueSize, 40000);
  EXPECT_EQ(t->queue_max_size(1), 0);
  d.set16(kCommon + common::kQueueSize, 256);
  EXPECT_EQ(t->queue_max_size(1), 256);
  EXPECT_EQ(t->queue_max_size(2), 0);  // beyond num_queues
  auto r = t->enable_queue({.index = 0, .size = 512, .addresses = {0x1000, 0x2000, 0x3000}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("cannot take 512 entries (device allows 256)"), std::string::npos) << r.error().message();
}

TEST(VirtioPciTransport, QueueSetUpWritesAddressesAndTheDoorbellLandsWhereTheDeviceSaid) {
  FakeDevice d;
  auto t = open(d);
  ASSERT_TRUE(t);
  d.set16(kCommon + common::kNumQueues, 2);
  d.set16(kCommon + common::kQueueSize, 256);
  d.set16(kCommon + common::kQueueNotifyOff, 3);
  ASSERT_TRUE(t->enable_queue({.index = 1, .size = 128, .addresses = {0x1122334455667788ull, 0x2000, 0x3000}}));
  EXPECT_EQ(d.u16(kCommon + common::kQueueSelect), 1);
  EXPECT_EQ(d.u16(kCommon + common::kQueueSize), 128);
  EXPECT_EQ(d.u32(kCommon + common::kQueueDesc), 0x55667788u);
  EXPECT_EQ(d.u32(kCommon + common::kQueueDesc + 4), 0x11223344u);
  EXPECT_EQ(d.u16(kCommon + common::kQueueMsixVector), kNoMsiVector);  // poll mode
  EXPECT_EQ(d.u16(kCommon + common::kQueueEnable), 1);
  EXPECT_TRUE(t->notify(1));
  EXPECT_EQ(d.u16(kNotify + 3 * 4), 1);  // queue_notify_off x notify_off_multiplier
  EXPECT_FALSE(t->notify(0));            // never set up: no doorbell to ring
}

TEST(VirtioPciTransport, DoorbellOutsideTheNotifyAreaFailsQueueSetUp) {  // A10
  FakeDevice d;
  auto t = open(d);
  ASSERT_TRUE(t);
  d.set16(kCommon + common::kNumQueues, 2);
  d.set16(kCommon + common::kQueueSize, 256);
  d.set16(kCommon + common::kQueueNotifyOff, 0x400);  // x4 = 0x1000: one past the 0x1000-byte area
  auto r = t->enable_queue({.index = 0, .size = 256, .addresses = {0x1000, 0x2000, 0x3000}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("outside the notification area"), std::string::npos) << r.error().message();
  EXPECT_EQ(d.u16(kCommon + common::kQueueEnable), 0);  // the queue was never enabled
  EXPECT_FALSE(t->notify(0));
}

TEST(VirtioPciTransport, DeviceConfigReadsStayInsideItsWindow) {
  FakeDevice d;
  auto t = open(d);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->config_size(), 0x1000u);
  d.set16(kDevice + 6, 0x0001);  // virtio_net_config.status
  std::byte two[2];
  t->read_config(6, two);
  EXPECT_EQ(std::to_integer<int>(two[0]), 1);
  std::byte past[8];
  std::memset(past, 0xff, sizeof past);
  t->read_config(0x1000 - 4, past);  // half inside, half beyond: the rest reads as zero
  for (int i = 4; i < 8; ++i) EXPECT_EQ(std::to_integer<int>(past[i]), 0);
}

}  // namespace
}  // namespace netfront::testing
