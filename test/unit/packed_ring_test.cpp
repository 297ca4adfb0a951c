// The packed ring's batch rule (§2.8.21.1): what add() places stays invisible to the device
// until publish() writes the batch's first flags, and the driver never takes an unpublished
// slot for a used one, whatever flags the lap before left there. The device half is the
// device-side ring the loop device uses.
#include <gtest/gtest.h>

#include <optional>

#include "drivers/virtio/device_side/device_ring.hpp"
#include "drivers/virtio/ring/dma_memory.hpp"
#include "drivers/virtio/ring/packed_ring.hpp"
#include "drivers/virtio/virtio_spec.hpp"

namespace netfront::virtio {
namespace {

struct PackedPair {
  explicit PackedPair(std::uint16_t size, bool in_order) {
    auto r = ring::PackedRing::create({.size = size, .in_order = in_order});
    EXPECT_TRUE(r);
    driver.emplace(std::move(*r));
    std::uint64_t features = feature_bit(VIRTIO_F_RING_PACKED);
    if (in_order) features |= feature_bit(VIRTIO_F_IN_ORDER);
    device = device_side::make_device_ring(features, size, driver->addresses());
    auto b = ring::DmaMemory::allocate(4096, 64, ring::AddressMode::VirtualAddress);
    EXPECT_TRUE(b);
    buffers = std::move(*b);
  }
  // Buffer `n`: 64 readable bytes of DPDK memory, its number as the token.
  bool add(std::uint64_t n) {
    return driver->add_one({reinterpret_cast<std::uint64_t>(buffers.data() + 64 * (n % 64)), 64, false}, n);
  }
  unsigned device_takes() {
    unsigned n = 0;
    device_side::DeviceChain c;
    while (device->pop(c)) {
      chains.push_back(c);
      ++n;
    }
    return n;
  }

  std::optional<ring::PackedRing> driver;
  std::unique_ptr<device_side::DeviceRing> device;
  ring::DmaMemory buffers;
  std::vector<device_side::DeviceChain> chains;
};

TEST(PackedRingBatch, TheDeviceSeesNothingOfABatchUntilPublishThenAllOfIt) {
  PackedPair p(8, false);
  for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(p.add(i));
  EXPECT_EQ(p.device_takes(), 0u);  // the first flags are not written yet, so nothing is
  p.driver->publish();
  EXPECT_EQ(p.device_takes(), 5u);
  EXPECT_FALSE(p.device->faulted());
}

// In order, a device writes one used descriptor per batch, over the batch's first slot; the
// other slots keep the flags the driver wrote for that lap. When a later batch starts on such
// a slot, its old flags read as "used" by the USED bit, and as nonsense by AVAIL. Before
// publish() that slot is not the device's answer and must not be read as one (B5 would call
// the device broken).
TEST(PackedRingBatch, AnUnpublishedSlotIsNeverTakenForAUsedOne) {
  PackedPair p(4, true);
  ring::UsedChain u;
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(p.add(i));  // lap 1: slots 0-3
  p.driver->publish();
  ASSERT_EQ(p.device_takes(), 4u);
  p.device->push_used_batch({p.chains[3].id, 0}, 4, 4);  // one used descriptor, on slot 0
  for (std::uint64_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(p.driver->take_used(u));
    EXPECT_EQ(u.token, i);
  }
  ASSERT_TRUE(p.add(4));  // lap 2, slot 0
  p.driver->publish();
  ASSERT_EQ(p.device_takes(), 1u);
  p.device->push_used({p.chains.back().id, 0}, 1);
  ASSERT_TRUE(p.driver->take_used(u));
  EXPECT_EQ(u.token, 4u);

  ASSERT_TRUE(p.add(5));  // slot 1, still showing lap 1's available flags
  EXPECT_FALSE(p.driver->take_used(u));
  EXPECT_FALSE(p.driver->broken()) << ring::describe(p.driver->error());
  p.driver->publish();
  ASSERT_EQ(p.device_takes(), 1u);
  p.device->push_used({p.chains.back().id, 0}, 1);
  ASSERT_TRUE(p.driver->take_used(u));
  EXPECT_EQ(u.token, 5u);
  EXPECT_FALSE(p.driver->broken());
}

// drain_used() hands out the rest of an in-order batch in one loop: over many laps every
// token comes back once, in order, and every descriptor and buffer id is free again (the ring
// takes a full ring's worth after each drain).
TEST(PackedRingBatch, DrainingInOrderBatchesReturnsEveryTokenOnceAndFreesTheRing) {
  PackedPair p(8, true);
  std::uint64_t next_token = 0, expected = 0;
  for (int lap = 0; lap < 5; ++lap) {
    for (int i = 0; i < 8; ++i) ASSERT_TRUE(p.add(next_token++));
    EXPECT_FALSE(p.add(next_token)) << "the ring holds eight";
    p.driver->publish();
    p.chains.clear();
    ASSERT_EQ(p.device_takes(), 8u);
    p.device->push_used_batch({p.chains[4].id, 0}, 5, 5);  // two batches: five, then three
    p.device->push_used_batch({p.chains[7].id, 0}, 3, 3);
    std::vector<std::uint64_t> got;
    EXPECT_EQ(p.driver->drain_used([&](std::uint64_t t) { got.push_back(t); }), 8u);
    ASSERT_EQ(got.size(), 8u);
    for (std::uint64_t t : got) EXPECT_EQ(t, expected++);
    EXPECT_EQ(p.driver->free_descriptors(), 8);
    EXPECT_EQ(p.driver->in_flight(), 0);
    EXPECT_FALSE(p.driver->broken()) << ring::describe(p.driver->error());
  }
}

}  // namespace
}  // namespace netfront::virtio
