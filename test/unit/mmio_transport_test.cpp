// The virtio-mmio transport (virtio 1.2 §4.2) over a register window of plain memory with a
// small device model written from the spec watching the writes: DeviceFeaturesSel picks the
// word DeviceFeatures shows, QueueSel the queue whose QueueNumMax, QueueReady and QueuePFN
// show, Status 0 resets, QueueNotify writes are logged. Version 2 and version 1 (§4.2.4).
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <memory>
#include <vector>

#include "drivers/virtio/ring/ring_layout.hpp"
#include "drivers/virtio/transport/mmio/discovery.hpp"
#include "drivers/virtio/transport/mmio/mmio_spec.hpp"
#include "drivers/virtio/transport/mmio/mmio_transport.hpp"

namespace netfront::testing {
namespace {

using namespace virtio::transport::mmio;

struct FakeMmioDevice final : RegisterWindow, virtio::transport::pci::RegisterWriteObserver {
  alignas(4096) std::array<std::byte, kWindowSize> regs{};
  std::array<std::uint32_t, 2> device_words{0x00010020u, 0x00000001u};  // MAC, STATUS; VERSION_1
  std::array<std::uint32_t, 2> driver_words{};
  std::vector<std::uint32_t> max_sizes{256, 256, 64};
  std::vector<std::uint32_t> ready = std::vector<std::uint32_t>(3), pfn = std::vector<std::uint32_t>(3);
  std::vector<std::uint64_t> desc = std::vector<std::uint64_t>(3);
  std::vector<std::uint32_t> notified;
  std::uint32_t page_size = 0, align = 0;
  bool reset_never_completes = false;
  // As QEMU's virtio-net (virtio_net_set_features -> virtio_net_change_num_queue_pairs): this
  // many queues while MQ is among the driver's features, 3 without; since QEMU 10.1 a reset
  // sets the features to 0 (virtio_reset -> virtio_set_features_nocheck), so 3 after one.
  std::uint32_t queues_with_mq = 0;
  void have_queues(std::size_t n) {
    max_sizes.assign(n, 256);
    max_sizes.back() = 64;
    ready.resize(n);
    pfn.resize(n);
    desc.resize(n);
  }

  explicit FakeMmioDevice(std::uint32_t version, std::uint32_t type = kNetDeviceId) {
    set(kMagicValue, kMagic);
    set(kVersion, version);
    set(kDeviceId, type);
    set(kVendorId, 0x554d4551);  // "QEMU"
    show_queue(0);
    regs[kConfig + 0] = std::byte{0x52};  // MAC 52:54:...
    regs[kConfig + 6] = std::byte{1};     // status: link up
  }
  std::uint32_t get(std::size_t off) const {
    std::uint32_t v;
    std::memcpy(&v, &regs[off], 4);
    return v;
  }
  void set(std::size_t off, std::uint32_t v) { std::memcpy(&regs[off], &v, 4); }
  void show_queue(std::uint32_t q) {
    const bool there = q < max_sizes.size();
    set(kQueueNumMax, there ? max_sizes[q] : 0);
    set(kQueueReady, there ? ready[q] : 0);
    set(kQueuePfn, there ? pfn[q] : 0);
  }
  volatile std::byte* base() const noexcept override { return const_cast<std::byte*>(regs.data()); }
  std::size_t size() const noexcept override { return kWindowSize; }
  std::uint64_t physical_address() const noexcept override { return 0xfeb00000; }
  virtio::transport::pci::RegisterWriteObserver* observer() noexcept override { return this; }
  void written(volatile std::byte* at, unsigned) noexcept override {
    const std::size_t off = static_cast<std::size_t>(at - regs.data());
    const std::uint32_t v = get(off);
    const std::uint32_t q = get(kQueueSel);
    if (off == kDeviceFeaturesSel) set(kDeviceFeatures, v < 2 ? device_words[v] : 0);
    if (off == kDriverFeatures && get(kDriverFeaturesSel) < 2) driver_words[get(kDriverFeaturesSel)] = v;
    if (off == kDriverFeatures && get(kDriverFeaturesSel) == 0 && queues_with_mq != 0) have_queues(v & (1u << 22) ? queues_with_mq : 3);
    if (off == kQueueSel) show_queue(v);
    if (off == kQueueReady && q < ready.size()) ready[q] = v;
    if (off == kQueueDescLow + 4 && q < desc.size()) desc[q] = std::uint64_t{v} << 32 | get(kQueueDescLow);
    if (off == kQueuePfn && q < pfn.size()) pfn[q] = v;
    if (off == kGuestPageSize) page_size = v;
    if (off == kQueueAlign) align = v;
    if (off == kQueueNotify) notified.push_back(v);
    if (off == kStatus && v == 0 && !reset_never_completes) {
      if (queues_with_mq != 0) have_queues(3);
      std::fill(ready.begin(), ready.end(), 0u);
      std::fill(pfn.begin(), pfn.end(), 0u);
      show_queue(q);
    }
    if (off == kStatus && v == 0 && reset_never_completes) set(kStatus, 0x0f);
  }
};

// The transport owns its window; the test keeps a pointer to look at the device after.
struct Opened {
  FakeMmioDevice* device;
  std::unique_ptr<MmioTransport> transport;
};
Opened open(std::uint32_t version) {
  auto d = std::make_unique<FakeMmioDevice>(version);
  FakeMmioDevice* raw = d.get();
  auto t = MmioTransport::open(std::move(d));
  EXPECT_TRUE(t) << t.error().to_string();
  return {raw, t ? std::move(*t) : nullptr};
}

TEST(MmioTransport, AWindowThatIsNoVirtioNetDeviceIsAClearError) {
  for (auto [version, type, magic, what] : {std::tuple{2u, 1u, 0x12345678u, "holds no virtio device"},
                                            std::tuple{3u, 1u, kMagic, "version 3"},
                                            std::tuple{2u, 0u, kMagic, "empty virtio-mmio slot"},
                                            std::tuple{2u, 2u, kMagic, "not a network device (virtio type 2)"}}) {
    auto d = std::make_unique<FakeMmioDevice>(version, type);
    d->set(kMagicValue, magic);
    auto t = MmioTransport::open(std::move(d));
    ASSERT_FALSE(t) << what;
    EXPECT_NE(t.error().message().find(what), std::string::npos) << t.error().message();
  }
}

TEST(MmioTransport, VersionTwoIsModernWithSixtyFourFeatureBitsAndAGeneration) {
  auto [d, t] = open(2);
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->legacy());
  EXPECT_EQ(t->queue_count(), 3);
  EXPECT_EQ(t->device_features(), 0x0000000100010020ull);
  t->set_driver_features(0x0000000100000020ull);
  EXPECT_EQ(d->driver_words[0], 0x20u);
  EXPECT_EQ(d->driver_words[1], 1u);
  d->set(kConfigGeneration, 7);
  EXPECT_EQ(t->config_generation(), 7u);
  std::byte mac0, status[2];
  t->read_config(0, std::span(&mac0, 1));
  t->read_config(6, status);
  EXPECT_EQ(std::to_integer<int>(mac0), 0x52);
  EXPECT_EQ(std::to_integer<int>(status[0]), 1);
  EXPECT_EQ(t->config_size(), kWindowSize - kConfig);
}

TEST(MmioTransport, VersionTwoQueuesTakeTheirAddressesAndReadyAndOnlyThenADoorbell) {
  auto [d, t] = open(2);
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->notify(1));
  auto r = t->enable_queue({.index = 1, .size = 512, .addresses = {0x10000, 0x11000, 0x12000}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("cannot take 512 entries (device allows 256)"), std::string::npos) << r.error().message();
  ASSERT_TRUE(t->enable_queue({.index = 1, .size = 128, .addresses = {0x1122334455667000ull, 0x11000, 0x12000}}));
  EXPECT_EQ(d->desc[1], 0x1122334455667000ull);
  EXPECT_EQ(d->get(kQueueNum), 128u);
  EXPECT_EQ(d->ready[1], 1u);
  EXPECT_TRUE(t->notify(1));
  EXPECT_EQ(d->notified, std::vector<std::uint32_t>{1});
  // §4.2.3.2: a queue already in use is not set up over.
  d->ready[2] = 1;
  r = t->enable_queue({.index = 2, .size = 64, .addresses = {0x20000, 0x21000, 0x22000}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("in use before it was set up"), std::string::npos) << r.error().message();
  ASSERT_TRUE(t->reset());
  EXPECT_FALSE(t->notify(1)) << "the reset took the ring away";
}

// §4.2.4: version 1 is the legacy interface: 32 feature bits, no generation, and a ring given
// as a page number of GuestPageSize with the used ring at QueueAlign.
TEST(MmioTransport, VersionOneGivesRingsAsPageNumbersInTheLegacyLayout) {
  auto [d, t] = open(1);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->legacy());
  EXPECT_NE(t->describe().find("(legacy)"), std::string::npos);
  EXPECT_EQ(t->device_features(), 0x00010020ull) << "one word only";
  EXPECT_EQ(t->config_generation(), 0u);
  const auto layout = virtio::ring::SplitLayout::of(256, virtio::ring::kLegacyRingAlign);
  const std::uint64_t at = 0x7654000;
  const auto modern = virtio::ring::SplitLayout::of(256);
  auto r = t->enable_queue({.index = 0, .size = 256, .addresses = {at, at + modern.avail_offset, at + modern.used_offset}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("not in the legacy layout"), std::string::npos) << r.error().message();
  EXPECT_EQ(d->pfn[0], 0u);
  ASSERT_TRUE(t->enable_queue({.index = 0, .size = 256, .addresses = {at, at + layout.avail_offset, at + layout.used_offset}}));
  EXPECT_EQ(d->page_size, 4096u);
  EXPECT_EQ(d->align, 4096u);
  EXPECT_EQ(d->pfn[0], 0x7654u);
  EXPECT_EQ(d->get(kQueueNum), 256u);
  EXPECT_TRUE(t->notify(0));
}

TEST(MmioTransport, QueueSizesBeyondTheSpecAreUnavailableAndAStuckResetIsBounded) {  // A11, A12
  auto d = std::make_unique<FakeMmioDevice>(2);
  d->max_sizes = {256, 40000, 64};
  FakeMmioDevice* raw = d.get();
  auto t = MmioTransport::open(std::move(d));
  ASSERT_TRUE(t);
  EXPECT_EQ((*t)->queue_count(), 1) << "a queue claiming 40000 entries ends the count";
  raw->reset_never_completes = true;
  auto r = (*t)->reset();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("did not complete its reset within 2 s"), std::string::npos) << r.error().message();
  EXPECT_FALSE((*t)->revoke_dma()) << "nothing cuts a virtio-mmio device off from memory";
}

// §4.2 has no queue count: the queues are those whose QueueNumMax reads non-zero, and a
// device may have more once the features are set (QEMU's virtio-net: 2N+1 with MQ, 3 without,
// and 3 after every reset since QEMU 10.1). Counted before the features, the count would miss
// the control queue at 2N (§3.1.1 step 7 discovers queues after FEATURES_OK).
TEST(MmioTransport, QueuesTheDeviceHasOnceMultiqueueIsNegotiatedAreCountedAndCanBeSetUp) {
  auto d = std::make_unique<FakeMmioDevice>(2);
  d->queues_with_mq = 5;  // 2 pairs and the control queue
  FakeMmioDevice* raw = d.get();
  auto t = MmioTransport::open(std::move(d));
  ASSERT_TRUE(t);
  ASSERT_TRUE((*t)->reset());
  EXPECT_EQ((*t)->queue_count(), 3) << "without MQ: one pair and the control queue";
  (*t)->set_status(0x03);
  (*t)->set_driver_features((1ull << 32) | (1u << 22) | (1u << 17));  // VERSION_1, MQ, CTRL_VQ
  (*t)->set_status(0x0b);
  ASSERT_EQ(raw->max_sizes.size(), 5u) << "the model grows with MQ";
  EXPECT_EQ((*t)->queue_count(), 5) << "the control queue is queue 4 now";
  auto r = (*t)->enable_queue({.index = 4, .size = 64, .addresses = {0x40000, 0x41000, 0x42000}});
  EXPECT_TRUE(r) << r.error().to_string();
}

// §4.2.4 (legacy virtqueue configuration): a queue whose QueuePFN is not 0 is in use, and is
// not set up over (as version 2's QueueReady).
TEST(MmioTransport, VersionOneQueueAlreadyInUseIsNotSetUpOver) {
  auto [d, t] = open(1);
  ASSERT_TRUE(t);
  d->pfn[0] = 0x1234;  // the device still has a ring at page 0x1234
  const auto layout = virtio::ring::SplitLayout::of(256, virtio::ring::kLegacyRingAlign);
  const std::uint64_t at = 0x7654000;
  auto r = t->enable_queue({.index = 0, .size = 256, .addresses = {at, at + layout.avail_offset, at + layout.used_offset}});
  EXPECT_FALSE(r) << "a queue in use was set up over";
  EXPECT_EQ(d->pfn[0], 0x1234u);
  EXPECT_FALSE(t->notify(0));
}

TEST(MmioDiscovery, ListsTheWindowsOfVirtioMmioDevicesInProcIomem) {
  const char* iomem =
      "00000000-00000fff : Reserved\n"
      "fea00000-fea001ff : LNRO0005:1f\n"
      "feb00000-feb001ff : LNRO0005:00\n"
      "  feb00000-feb001ff : virtio-mmio.0\n"
      "feb00200-feb003ff : LNRO0005:01\n"
      "feb00400-feb0040f : LNRO0005:02\n"      // too small for the registers
      "00000000-000001ff : LNRO0005:03\n"      // addresses hidden (not root)
      "d0000000-d00001ff : virtio-mmio.5\n"    // from the kernel command line
      "fec00000-fec003ff : IOAPIC 0\n";
  EXPECT_EQ(listed_windows(iomem), (std::vector<std::uint64_t>{0xfea00000, 0xfeb00000, 0xfeb00200, 0xd0000000}));
}

}  // namespace
}  // namespace netfront::testing
