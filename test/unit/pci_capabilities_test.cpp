// The virtio PCI capability parser (virtio 1.2 §4.1.4) against hand-made configuration
// spaces: QEMU's layout, and the ways a device can lie about it.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <random>

#include "drivers/virtio/transport/pci/pci_function.hpp"
#include "drivers/virtio/transport/pci/pci_spec.hpp"
#include "drivers/virtio/transport/pci/virtio_capabilities.hpp"
#include "fake_pci_config.hpp"

using namespace netfront::virtio::transport::pci;
using netfront::testing::FakeConfig;
using netfront::virtio::transport::TransportError;

namespace {

std::string error_of(const FakeConfig& c) {
  auto r = c.parse();
  return r ? std::string("(parsed)") : r.error().to_string();
}

TEST(VirtioCapabilities, QemuLayout) {
  auto r = FakeConfig::qemu().parse();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->common.bar, 4);
  EXPECT_EQ(r->common.offset, 0u);
  EXPECT_EQ(r->isr.offset, 0x1000u);
  EXPECT_EQ(r->device.offset, 0x2000u);
  EXPECT_EQ(r->device.length, 0x1000u);
  EXPECT_EQ(r->notify.offset, 0x3000u);
  EXPECT_EQ(r->notify_off_multiplier, 4u);
}

TEST(VirtioCapabilities, NoCapabilityListIsLegacyOnly) {
  FakeConfig c = FakeConfig::qemu();
  c.set16(kPciStatus, 0);
  EXPECT_NE(error_of(c).find("legacy-only"), std::string::npos) << error_of(c);
  EXPECT_TRUE(c.parse().error().is(TransportError::Unsupported)) << "a device netfront does not drive, not a broken one";
}

TEST(VirtioCapabilities, NoVirtioCapabilitiesIsLegacyOnly) {
  FakeConfig c;
  c.link(0x11, 12);
  EXPECT_NE(error_of(c).find("no virtio common configuration capability: a legacy-only"), std::string::npos) << error_of(c);
}

TEST(VirtioCapabilities, LoopingListIsAnError) {
  FakeConfig c = FakeConfig::qemu();
  c.set8(c.last + 1, 0x40);
  EXPECT_NE(error_of(c).find("loops"), std::string::npos) << error_of(c);
  EXPECT_TRUE(c.parse().error().is(TransportError::ProtocolViolation)) << error_of(c);
}

TEST(VirtioCapabilities, PointerIntoTheHeaderIsAnError) {
  FakeConfig c = FakeConfig::qemu();
  c.set8(c.last + 1, 0x20);
  EXPECT_NE(error_of(c).find("outside the capability area"), std::string::npos) << error_of(c);
}

TEST(VirtioCapabilities, RegionBeyondItsBarIsAnError) {
  FakeConfig c;
  c.vendor(CfgType::Common, 4, 0x3800, 0x1000);
  c.notify(4, 0x3000, 0x100, 4);
  EXPECT_NE(error_of(c).find("claims 0x3800+0x1000 in BAR 4 of only 0x4000 bytes"), std::string::npos) << error_of(c);
  FakeConfig wrap;  // offset + length overflowing 32 bits must not wrap around
  wrap.vendor(CfgType::Common, 4, 0xfffff000, 0x2000);
  EXPECT_NE(error_of(wrap).find("claims"), std::string::npos) << error_of(wrap);
}

// §4.1.4: the first structure of a type the driver can use. QEMU's modern-pio-notify=on
// lists a notification structure in an I/O BAR (BAR 2 here, no memory size) before the one
// in memory: it is passed over, and the memory one's multiplier is the one taken.
TEST(VirtioCapabilities, AStructureInANonMemoryBarIsPassedOverForALaterOne) {
  FakeConfig c;
  c.notify(2, 0, 4, 0);
  c.vendor(CfgType::Common, 4, 0x0000, 0x1000);
  c.vendor(CfgType::Isr, 4, 0x1000, 0x1000);
  c.vendor(CfgType::Device, 4, 0x2000, 0x1000);
  c.notify(4, 0x3000, 0x1000, 4);
  auto r = c.parse();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->notify.bar, 4);
  EXPECT_EQ(r->notify.offset, 0x3000u);
  EXPECT_EQ(r->notify_off_multiplier, 4u);
}

// The VFIO path gives the parser VFIO's region sizes, and VFIO gives an I/O BAR its real
// length (QEMU's modern-pio-notify BAR 2: 4 bytes): the BAR register's I/O-space bit is what
// says it is not memory, and its structure is passed over all the same.
TEST(VirtioCapabilities, AnIoBarIsPassedOverWhateverSizeItIsGiven) {
  FakeConfig c;
  c.bars = {0, 0x1000, 4, 0, 0x4000, 0};  // BAR 2: QEMU's 4-byte I/O BAR, as VFIO reports its region
  c.set32(kPciBar0 + 2 * 4, 0xc041);     // its register: port 0xc040, I/O space
  c.notify(2, 0, 4, 0);
  c.vendor(CfgType::Common, 4, 0x0000, 0x1000);
  c.vendor(CfgType::Isr, 4, 0x1000, 0x1000);
  c.vendor(CfgType::Device, 4, 0x2000, 0x1000);
  c.notify(4, 0x3000, 0x1000, 4);
  auto r = c.parse();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->notify.bar, 4) << "the I/O BAR's structure was taken: VFIO would refuse to map it";
}

TEST(VirtioCapabilities, OnlyStructuresInNonMemoryBarsAreAClearError) {
  FakeConfig c;
  c.vendor(CfgType::Common, 4, 0x0000, 0x1000);
  c.notify(2, 0, 4, 0);
  EXPECT_NE(error_of(c).find("no virtio notification capability netfront can use; passed over: a notification structure in "
                             "BAR 2 (not a memory BAR)"),
            std::string::npos)
      << error_of(c);
  FakeConfig common;
  common.vendor(CfgType::Common, 2, 0, 0x100);
  EXPECT_NE(error_of(common).find("passed over: a common configuration structure in BAR 2"), std::string::npos) << error_of(common);
}

TEST(VirtioCapabilities, ReservedBarShortCapabilityAndUnknownTypeAreIgnored) {
  FakeConfig c;
  c.vendor(CfgType::Common, 7, 0, 0x1000);                      // reserved BAR number
  c.vendor(CfgType::Common, 4, 0x100, 0x1000, 8);               // cap_len too short
  c.vendor(static_cast<CfgType>(42), 4, 0x100, 0x1000);         // unknown type
  c.vendor(CfgType::Common, 4, 0x0000, 0x1000);                 // the one to use
  c.vendor(CfgType::Common, 4, 0x2000, 0x1000);                 // a later duplicate: ignored
  c.notify(4, 0x3000, 0x1000, 0);
  auto r = c.parse();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->common.offset, 0u);
  EXPECT_EQ(r->notify_off_multiplier, 0u);
  EXPECT_EQ(r->device.length, 0u);  // no device-specific configuration
}

TEST(VirtioCapabilities, BadNotifyMultiplierIsAnError) {
  FakeConfig c;
  c.vendor(CfgType::Common, 4, 0, 0x1000);
  c.notify(4, 0x3000, 0x1000, 3);
  EXPECT_NE(error_of(c).find("notify_off_multiplier 3"), std::string::npos) << error_of(c);
}

TEST(VirtioCapabilities, ShortCommonConfigMissingNotifyAndMisalignmentAreErrors) {
  FakeConfig short_common;
  short_common.vendor(CfgType::Common, 4, 0, 40);
  short_common.notify(4, 0x3000, 0x1000, 4);
  EXPECT_NE(error_of(short_common).find("is 40 bytes, less than the 56"), std::string::npos) << error_of(short_common);
  FakeConfig no_notify;
  no_notify.vendor(CfgType::Common, 4, 0, 0x1000);
  EXPECT_NE(error_of(no_notify).find("no virtio notification capability"), std::string::npos);
  FakeConfig misaligned;
  misaligned.vendor(CfgType::Common, 4, 0x102, 0x100);
  EXPECT_NE(error_of(misaligned).find("misaligned offset 0x102"), std::string::npos) << error_of(misaligned);
}

// Whatever a device puts in configuration space, parsing ends with a layout or an error,
// never an out-of-bounds read (this also runs under ASan in tools/test.sh).
TEST(VirtioCapabilities, RandomConfigurationSpacesNeverCrash) {
  std::mt19937 rng(1234);
  unsigned parsed = 0;
  for (int round = 0; round < 20000; ++round) {
    FakeConfig c = round % 2 ? FakeConfig::qemu() : FakeConfig{};
    const int flips = 1 + static_cast<int>(rng() % 16);
    for (int i = 0; i < flips; ++i) c.set8(0x34 + rng() % (256 - 0x34), static_cast<std::uint8_t>(rng()));
    for (auto& b : c.bars) b = rng() % 3 == 0 ? 0 : (1ull << (rng() % 40));
    if (auto r = c.parse()) {
      ++parsed;
      for (const BarRegion* region : {&r->common, &r->notify}) {
        ASSERT_LT(region->bar, 6);
        ASSERT_LE(std::uint64_t{region->offset} + region->length, c.bars[region->bar]);
      }
    }
  }
  EXPECT_GT(parsed, 0u);
}

TEST(VirtioNetIdentity, ModernAndTransitionalNetworkDevicesOnly) {
  EXPECT_TRUE(check_virtio_net_identity(0x1af4, 0x1041, 0x1100));
  EXPECT_TRUE(check_virtio_net_identity(0x1af4, 0x1000, 0x0001));
  auto text = [](std::uint16_t v, std::uint16_t d, std::uint16_t s) {
    auto r = check_virtio_net_identity(v, d, s);
    return r ? std::string("(ok)") : r.error().to_string();
  };
  EXPECT_NE(text(0x8086, 0x100e, 0).find("8086:100e is not a virtio device"), std::string::npos);
  EXPECT_TRUE(check_virtio_net_identity(0x8086, 0x100e, 0).error().is(TransportError::NoSuchDevice));
  EXPECT_NE(text(0x1af4, 0x1042, 0).find("is not a network device (virtio type 2)"), std::string::npos);
  EXPECT_NE(text(0x1af4, 0x1001, 0x0002).find("is not a network device"), std::string::npos);
  EXPECT_NE(text(0x1af4, 0x1000, 0x0002).find("is not a network device"), std::string::npos);
  EXPECT_NE(text(0x1af4, 0x2000, 0).find("outside the virtio ranges"), std::string::npos);
}

}  // namespace
