// The driver side of packed virtqueues (virtio 1.2 §2.8), PackedRing, over plain memory with no
// DPDK running, against a device written from the spec (ring_model.hpp): what over() accepts,
// the wrap counters and the AVAIL/USED bits across laps, the batch rule (nothing visible before
// publish()), event suppression both ways, indirect tables, in-order batches, reset, and what a
// device writing garbage gets (checklist B1, B2, B5). Each test cites the clause it checks; the
// model checks the driver's requirements on every buffer it reads. (packed_ring_test.cpp
// checks the batch rule against the loop device's production device ring.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <random>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "drivers/virtio/ring/packed_ring.hpp"
#include "drivers/virtio/ring/ring_layout.hpp"
#include "ring_model.hpp"

namespace netfront::virtio::ring {
namespace {

using netfront::testing::ring_model::PackedChain;
using netfront::testing::ring_model::PackedDescriptor;
using netfront::testing::ring_model::PackedDeviceModel;
using netfront::testing::ring_model::PlainMemory;
using netfront::testing::ring_model::readable;
using netfront::testing::ring_model::tokens_of;
using netfront::testing::ring_model::writable;
namespace ring_model = netfront::testing::ring_model;
namespace spec = netfront::testing::ring_model::spec;

constexpr std::uint16_t kAvailUsed = spec::DESC_F_AVAIL | spec::DESC_F_USED;

// A ring over memory of its own (filled with `fill` before the ring is made) and a device
// on the addresses the ring gives.
struct Packed {
  explicit Packed(RingOptions o, std::byte fill = std::byte{0})
      : size(o.size), mem(PackedLayout::of(o.size).total, fill), tables(indirect_tables_size(o, sizeof(pvirtq_desc))),
        driver(ring_model::make_ring<PackedRing>(o, mem.dma(), tables.dma())), device(driver.addresses(), o.size) {}

  std::vector<UsedChain> take_all() { return ring_model::take_all(driver); }
  // `n` buffers of one descriptor made available, taken by the device, used and taken back.
  void round_trip(unsigned n) {
    for (unsigned i = 0; i < n; ++i) ASSERT_TRUE(driver.add_one(writable(i), i));
    driver.publish();
    for (const PackedChain& c : device.pop_all()) device.push(c, 0);
    ASSERT_EQ(take_all().size(), n);
  }

  std::uint16_t size;
  PlainMemory mem, tables;
  PackedRing driver;
  PackedDeviceModel device;
};

// --- over(): what a ring may be built on --------------------------------------------------

// §2.8 "Packed virtqueues support up to 2^15 entries each"; §2.8.10.1 "The Queue Size value
// does not have to be a power of 2".
TEST(PackedRingOver, QueueSizeZeroOrAbove32768IsRefusedAndAnyOtherAccepted) {
  for (const std::uint16_t size : {0, 32769, 40000, 65535}) {
    PlainMemory mem(PackedLayout::of(size).total + 4096);
    EXPECT_FALSE(PackedRing::over({.size = size}, mem.dma())) << size;
  }
  for (const std::uint16_t size : {1, 2, 3, 5, 7, 100, 256, 1000, 32767, 32768}) {
    PlainMemory mem(PackedLayout::of(size).total);
    EXPECT_TRUE(PackedRing::over({.size = size}, mem.dma())) << size;
  }
}

// §2.8.11 "The driver MUST ensure that the physical address of the first byte of each
// virtqueue part is a multiple of the specified alignment value": 16 for the descriptor ring,
// which starts the ring's memory; and the memory must hold all three parts, tables too.
TEST(PackedRingOver, MemoryTooSmallOrNotOnA16ByteBoundaryIsRefused) {
  const RingOptions o{.size = 7};
  const std::size_t need = PackedLayout::of(7).total;
  PlainMemory mem(need + 64);
  EXPECT_TRUE(PackedRing::over(o, mem.dma(0, need)));
  EXPECT_FALSE(PackedRing::over(o, mem.dma(0, need - 1)));
  EXPECT_FALSE(PackedRing::over(o, mem.dma(4, need)));
  EXPECT_FALSE(PackedRing::over(o, DmaMemory::over({mem.data(), need}, mem.address() + 8)));
  EXPECT_FALSE(PackedRing::over(o, DmaMemory{}));

  const RingOptions with_tables{.size = 7, .indirect_max = 3};
  const std::size_t tables_need = 7 * 3 * sizeof(pvirtq_desc);
  PlainMemory tables(tables_need + 64);
  EXPECT_TRUE(PackedRing::over(with_tables, mem.dma(0, need), tables.dma(0, tables_need)));
  EXPECT_FALSE(PackedRing::over(with_tables, mem.dma(0, need)));
  EXPECT_FALSE(PackedRing::over(with_tables, mem.dma(0, need), tables.dma(0, tables_need - 16)));
  EXPECT_FALSE(PackedRing::over(with_tables, mem.dma(0, need), tables.dma(8, tables_need)));
}

// §2.8.10.1 table: descriptor ring 16-aligned, 16 * size bytes; device and driver event
// suppression 4-aligned, 4 bytes each. All in the ring's memory, apart.
TEST(PackedRingOver, PartsLieInTheMemoryApartWithTheSpecAlignment) {
  for (const std::uint16_t size : {1, 5, 7, 256, 32768}) {
    PlainMemory mem(PackedLayout::of(size).total), none(0);
    PackedRing r = ring_model::make_ring<PackedRing>({.size = size}, mem.dma(), none.dma());
    const QueueAddresses a = r.addresses();
    EXPECT_EQ(a.desc % 16, 0u);
    EXPECT_EQ(a.driver % 4, 0u);
    EXPECT_EQ(a.device % 4, 0u);
    const std::uint64_t begin = mem.address(), end = begin + mem.size();
    const std::pair<std::uint64_t, std::size_t> parts[] = {{a.desc, 16u * size}, {a.driver, 4}, {a.device, 4}};
    for (const auto& [at, len] : parts) {
      EXPECT_GE(at, begin) << size;
      EXPECT_LE(at + len, end) << size;
    }
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = i + 1; j < 3; ++j)
        EXPECT_TRUE(parts[i].first + parts[i].second <= parts[j].first ||
                    parts[j].first + parts[j].second <= parts[i].first)
            << size << ": parts " << i << " and " << j << " overlap";
  }
}

// §2.8.13 "The descriptor ring is zero-initialized", whatever the memory held, and again
// after a reset: a device may only use a descriptor once it "observes the VIRTQ_DESC_F_AVAIL
// bit in its flags being changed (e.g. as compared to the initial zero value)" (§2.8.15).
TEST(PackedRingOver, DescriptorRingIsZeroInitializedWhateverTheMemoryHeld) {
  Packed s({.size = 7}, std::byte{0xa5});
  const auto all_zero = [&] {
    for (std::uint16_t i = 0; i < 7; ++i) {
      const PackedDescriptor d = s.device.descriptor(i);
      if (d.addr != 0 || d.len != 0 || d.id != 0 || d.flags != 0) return false;
    }
    return true;
  };
  EXPECT_TRUE(all_zero());
  EXPECT_FALSE(s.device.pop());
  s.round_trip(5);
  ASSERT_TRUE(s.driver.add_one(writable(0), 0));
  s.driver.publish();
  EXPECT_FALSE(all_zero());
  s.driver.reset([](std::uint64_t) {});
  EXPECT_TRUE(all_zero());
}

// --- making buffers available (§2.8.1, §2.8.6, §2.8.21.1) ----------------------------------

// §2.8.21.1: "Set d.addr ... d.len ... d.id ... If b is device-writable, set the
// VIRTQ_DESC_F_WRITE bit to 1, otherwise 0. Set the VIRTQ_DESC_F_AVAIL bit to the current
// value of the Driver Ring Wrap Counter. Set the VIRTQ_DESC_F_USED bit to inverse value";
// §2.8.1: the counter starts at 1.
TEST(PackedRingAdd, AddOneMarksItsDescriptorAvailableForTheDriverWrapCounter) {
  Packed s({.size = 5});
  ASSERT_TRUE(s.driver.add_one(readable(1, 60), 101));
  ASSERT_TRUE(s.driver.add_one(writable(2, 1500), 102));
  EXPECT_EQ(s.driver.free_descriptors(), 3u);
  EXPECT_EQ(s.driver.in_flight(), 2u);
  s.driver.publish();
  const auto chains = s.device.pop_all();
  ASSERT_EQ(chains.size(), 2u);
  EXPECT_EQ(chains[0].slot, 0u);
  EXPECT_EQ(chains[0].first.addr, readable(1).addr);
  EXPECT_EQ(chains[0].first.len, 60u);
  EXPECT_EQ(chains[0].first.flags, spec::DESC_F_AVAIL);
  EXPECT_EQ(chains[1].slot, 1u);
  EXPECT_EQ(chains[1].first.addr, writable(2).addr);
  EXPECT_EQ(chains[1].first.len, 1500u);
  EXPECT_EQ(chains[1].first.flags, spec::DESC_F_AVAIL | spec::DESC_F_WRITE);
  EXPECT_NE(chains[0].id, chains[1].id);
  for (const PackedChain& c : chains) {
    EXPECT_LT(c.id, 5u);
    EXPECT_EQ(c.descriptors, 1u);
  }
}

// §2.8.6: "setting the VIRTQ_DESC_F_NEXT bit in Flags for all but the last available
// descriptor", "Buffer ID is included in the last descriptor in the list", and "all flags,
// including VIRTQ_DESC_F_AVAIL, VIRTQ_DESC_F_USED, VIRTQ_DESC_F_WRITE must be set/cleared
// correctly in all descriptors in the list, not just the first one".
TEST(PackedRingAdd, ChainHasNextOnAllButTheLastAndItsIdInTheLast) {
  Packed s({.size = 5});
  const Segment chain[] = {readable(1, 12), readable(2, 1514), writable(3, 4)};
  ASSERT_TRUE(s.driver.add(chain, 7));
  EXPECT_EQ(s.driver.free_descriptors(), 2u);
  EXPECT_EQ(s.driver.in_flight(), 1u);
  s.driver.publish();
  const auto c = s.device.pop();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->descriptors, 3u);
  ASSERT_EQ(c->ring.size(), 3u);
  EXPECT_EQ(c->ring[2].id, c->id);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c->ring[i].addr, chain[i].addr) << i;
    EXPECT_EQ(c->ring[i].len, chain[i].len) << i;
    EXPECT_EQ(c->ring[i].flags, (i < 2 ? spec::DESC_F_NEXT : 0) | (chain[i].device_writable ? spec::DESC_F_WRITE : 0) |
                                    spec::DESC_F_AVAIL)
        << i;
  }
  s.device.push(*c, 4);
  const auto used = s.take_all();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].token, 7u);
  EXPECT_EQ(used[0].len, 4u);
  EXPECT_EQ(s.driver.free_descriptors(), 5u);
}

// §2.8.21.1: "the driver MAY make use of a batch of descriptors as part of a single request.
// In that case, it defers updating the descriptor flags for the first descriptor ... until
// after the rest of the descriptors have been initialized"; netfront makes every buffer added
// since the last publish() one such batch. §2.8.2: the device polls only the next descriptor,
// which until publish() keeps the flags it had (zero here), so it sees nothing; then all.
TEST(PackedRingPublish, DeviceSeesNothingOfABatchUntilPublishThenAllOfIt) {
  Packed s({.size = 8});
  const Segment two[] = {readable(1), writable(2)};
  ASSERT_TRUE(s.driver.add_one(readable(0), 1));
  ASSERT_TRUE(s.driver.add(two, 2));
  ASSERT_TRUE(s.driver.add_one(writable(3), 3));
  EXPECT_EQ(s.device.descriptor(0).flags, 0u);
  EXPECT_FALSE(s.device.pop());
  s.driver.publish();
  const auto first = s.device.pop_all();
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[1].descriptors, 2u);

  ASSERT_TRUE(s.driver.add(two, 4));  // a batch starting with a chain
  ASSERT_TRUE(s.driver.add_one(readable(4), 5));
  EXPECT_EQ(s.device.descriptor(4).flags, 0u);
  EXPECT_FALSE(s.device.pop());
  EXPECT_TRUE(s.driver.publish());
  EXPECT_EQ(s.device.pop_all().size(), 2u);
  EXPECT_FALSE(s.driver.publish());  // nothing new
}

// §2.8.1: "The driver changes the value of this counter each time it makes available the last
// descriptor in the ring", so on the second lap an available descriptor has AVAIL 0 and USED 1,
// on the third AVAIL 1 and USED 0 again. A ring of 5: the laps do not line up with powers of two.
TEST(PackedRingWrap, EachLapMarksAvailableWithTheWrapCounterItIsIn) {
  Packed s({.size = 5});
  for (unsigned lap = 0; lap < 4; ++lap) {
    for (unsigned i = 0; i < 5; ++i) ASSERT_TRUE(s.driver.add_one(writable(i), i));
    s.driver.publish();
    const auto chains = s.device.pop_all();
    ASSERT_EQ(chains.size(), 5u) << lap;
    const bool wrap = lap % 2 == 0;
    for (const PackedChain& c : chains) {
      EXPECT_EQ(c.wrap, wrap) << lap;
      EXPECT_EQ(c.first.flags & kAvailUsed, wrap ? spec::DESC_F_AVAIL : spec::DESC_F_USED) << lap;
    }
    for (const PackedChain& c : chains) s.device.push(c, 1);
    ASSERT_EQ(s.take_all().size(), 5u) << lap;
  }
}

// §2.8.1 and §2.8.6: a list that runs past the ring's last descriptor continues at the first
// with the counter changed, so its descriptors carry different AVAIL/USED bits; the device's
// used descriptor for it goes where its own used position is, and both sides skip the list.
TEST(PackedRingWrap, ChainAcrossTheEndOfTheRingChangesTheWrapCounterMidChain) {
  Packed s({.size = 5});
  s.round_trip(3);
  const Segment three[] = {readable(0), readable(1), writable(2)};
  ASSERT_TRUE(s.driver.add(three, 9));
  s.driver.publish();
  const auto c = s.device.pop();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->slot, 3u);
  ASSERT_EQ(c->ring.size(), 3u);
  EXPECT_EQ(c->ring[0].flags & kAvailUsed, spec::DESC_F_AVAIL);
  EXPECT_EQ(c->ring[1].flags & kAvailUsed, spec::DESC_F_AVAIL);
  EXPECT_EQ(c->ring[2].flags & kAvailUsed, spec::DESC_F_USED);
  EXPECT_EQ(s.device.next_avail(), 1u);
  EXPECT_FALSE(s.device.avail_wrap());
  s.device.push(*c, 2048);
  EXPECT_EQ(s.device.next_used(), 1u);
  const auto used = s.take_all();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].token, 9u);
  s.round_trip(4);  // and the ring goes on from slot 1 of the second lap
}

// --- event suppression (§2.8.10) --------------------------------------------------------------

// §2.8.10: the Device Event Suppression structure "controls the available buffer notifications
// sent by the driver": RING_EVENT_FLAGS_DISABLE, none; ENABLE, one. RING_EVENT_FLAGS_DESC is
// "Only valid if VIRTIO_F_RING_EVENT_IDX has been negotiated", and 0x3 "is reserved": without
// event indices netfront notifies for them (a notification the device did not need is
// harmless: §2.8.16 "A driver MAY send multiple available buffer notifications").
TEST(PackedRingNotify, DeviceEventFlagsDecideWhetherPublishNotifies) {
  Packed s({.size = 8});
  const auto publish_one = [&](std::uint16_t flags) {
    s.device.set_device_event(flags, 3, true);
    EXPECT_TRUE(s.driver.add_one(readable(0), 0));
    const bool notify = s.driver.publish();
    for (const PackedChain& c : s.device.pop_all()) s.device.push(c, 0);
    s.take_all();
    return notify;
  };
  EXPECT_TRUE(publish_one(spec::EVENT_FLAGS_ENABLE));
  EXPECT_FALSE(publish_one(spec::EVENT_FLAGS_DISABLE));
  EXPECT_TRUE(publish_one(spec::EVENT_FLAGS_DESC));
  EXPECT_TRUE(publish_one(0x3));
  EXPECT_FALSE(publish_one(spec::EVENT_FLAGS_DISABLE | 0x4));  // reserved bits (§2.8.14) do not count
}

// §2.8.10, with VIRTIO_F_RING_EVENT_IDX and RING_EVENT_FLAGS_DESC: "Event will only trigger
// when this descriptor is made available", the descriptor at desc_event_off when the Ring Wrap
// Counter is desc_event_wrap (§2.8.14). Random bursts of lists of one to three descriptors
// through a ring of 7 for many laps, the event descriptor anywhere in the last or this lap:
// publish() notifies whenever the burst made that descriptor available (a missed one stalls
// the device), and otherwise not, but for a burst that fills the whole ring at once: there
// publish() notifies whatever the event descriptor (the `to - from >= size_` shortcut), a
// notification the device did not ask for, which §2.8.16 allows ("A driver MAY send multiple
// available buffer notifications"), though an exact answer is possible there too.
TEST(PackedRingNotify, WithEventIdxDescNotifiesWhenItsDescriptorIsMadeAvailableAndOtherwiseNot) {
  Packed s({.size = 7, .event_idx = true});
  std::mt19937 rng(44);
  const Segment three[] = {readable(0), readable(1), writable(2)};
  unsigned notified = 0, rounds = 0, whole_ring = 0;
  for (std::uint64_t token = 0; rounds < 5000; ++rounds) {
    const auto off = static_cast<std::uint16_t>(rng() % 7);
    const bool wrap = rng() % 2;
    s.device.set_device_event(spec::EVENT_FLAGS_DESC, off, wrap);
    for (unsigned burst = rng() % 4 + 1; burst > 0; --burst) {
      const unsigned n = rng() % 3 + 1;
      if (!(n == 1 ? s.driver.add_one(three[0], token) : s.driver.add(std::span(three, n), token))) break;
      ++token;
    }
    const bool notify = s.driver.publish();
    bool expected = false;
    unsigned descriptors = 0;
    const auto chains = s.device.pop_all();
    for (const PackedChain& c : chains) {
      std::uint16_t slot = c.slot;
      bool w = c.wrap;
      for (std::uint16_t i = 0; i < c.descriptors; ++i, ++descriptors) {
        expected = expected || (slot == off && w == wrap);
        if (++slot == 7) {
          slot = 0;
          w = !w;
        }
      }
    }
    if (descriptors == 7) {
      ++whole_ring;
      EXPECT_TRUE(notify || !expected) << "round " << rounds << " event " << off << "/" << wrap;
    } else {
      EXPECT_EQ(notify, expected) << "round " << rounds << " event " << off << "/" << wrap;
    }
    notified += notify;
    for (const PackedChain& c : chains) s.device.push(c, 0);
    s.take_all();
    ASSERT_FALSE(s.driver.broken());
  }
  EXPECT_GT(notified, 0u);
  EXPECT_LT(notified, rounds);
  EXPECT_GT(whole_ring, 0u);
  // An offset beyond the ring names no descriptor; netfront notifies rather than risk a stall.
  s.device.set_device_event(spec::EVENT_FLAGS_DESC, 7, true);
  ASSERT_TRUE(s.driver.add_one(readable(0), 0));
  EXPECT_TRUE(s.driver.publish());
}

// §2.8.10: the Driver Event Suppression structure "controls the used buffer notifications sent
// by the device"; §2.8.22: "a driver MAY disable used buffer notifications while processing the
// used buffers". A ring starts with them off (its queue polls first); enable and suppress
// write ENABLE and DISABLE, and nothing else (off_wrap stays 0), with event indices or not.
TEST(PackedRingNotifications, DisableAndEnableWriteTheDriverEventFlags) {
  for (const bool event_idx : {false, true}) {
    Packed s({.size = 5, .event_idx = event_idx});
    EXPECT_EQ(s.device.driver_event_flags(), spec::EVENT_FLAGS_DISABLE);
    EXPECT_FALSE(s.device.driver_wants_used_notification());
    EXPECT_FALSE(s.driver.enable_notifications());
    EXPECT_EQ(s.device.driver_event_flags(), spec::EVENT_FLAGS_ENABLE);
    EXPECT_TRUE(s.device.driver_wants_used_notification());
    s.driver.disable_notifications();
    EXPECT_EQ(s.device.driver_event_flags(), spec::EVENT_FLAGS_DISABLE);
    EXPECT_EQ(s.device.driver_event_off_wrap(), 0u);
  }
}

// §2.8.22: "beware the problem of missing notifications between emptying the ring and
// reenabling used buffer notifications. This is usually handled by re-checking for more used
// buffers after notifications are re-enabled": enable_notifications() is that re-check.
TEST(PackedRingNotifications, EnableNotificationsReportsUsedDescriptorsAlreadyThere) {
  Packed s({.size = 5});
  ASSERT_TRUE(s.driver.add_one(writable(0), 0));
  ASSERT_TRUE(s.driver.add_one(writable(1), 1));
  s.driver.publish();
  const auto chains = s.device.pop_all();
  ASSERT_EQ(chains.size(), 2u);
  EXPECT_FALSE(s.driver.enable_notifications());
  s.device.push(chains[0], 10);
  EXPECT_TRUE(s.driver.has_used());
  EXPECT_TRUE(s.driver.enable_notifications());
  ASSERT_EQ(s.take_all().size(), 1u);
  EXPECT_FALSE(s.driver.enable_notifications());
  s.device.push(chains[1], 10);
  EXPECT_TRUE(s.driver.enable_notifications());
}

// --- indirect descriptors (§2.8.7, §2.8.19) --------------------------------------------------

// §2.8.7: one ring descriptor "with Flags bit VIRTQ_DESC_F_INDIRECT on" whose "addr and len
// refer to the indirect table address and length in bytes"; "The VIRTQ_DESC_F_WRITE flags bit
// is the only valid flag for descriptors in the indirect table" (§2.8.19 "MUST NOT set any
// flags except DESC_F_WRITE"), and on the ring descriptor WRITE "is reserved"; the Buffer ID
// is the ring descriptor's. One slot per buffer: completion gives back one.
TEST(PackedRingIndirect, IndirectBufferTakesOneSlotAndATableOfWriteFlagsOnly) {
  Packed s({.size = 5, .indirect_max = 4});
  const Segment chain[] = {readable(1, 12), readable(2, 100), writable(3, 1500)};
  ASSERT_TRUE(s.driver.add_indirect(chain, 9));
  EXPECT_EQ(s.driver.free_descriptors(), 4u);
  s.driver.publish();
  const auto c = s.device.pop();
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->indirect);
  EXPECT_EQ(c->descriptors, 1u);
  EXPECT_EQ(c->first.flags, spec::DESC_F_INDIRECT | spec::DESC_F_AVAIL);
  EXPECT_EQ(c->first.len, 3 * 16u);
  EXPECT_EQ(c->first.id, c->id);
  EXPECT_GE(c->first.addr, s.tables.address());
  EXPECT_LE(c->first.addr + c->first.len, s.tables.address() + s.tables.size());
  EXPECT_EQ(c->first.addr % 16, 0u);
  ASSERT_EQ(c->elements.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c->elements[i].addr, chain[i].addr) << i;
    EXPECT_EQ(c->elements[i].len, chain[i].len) << i;
    EXPECT_EQ(c->elements[i].flags, chain[i].device_writable ? spec::DESC_F_WRITE : 0) << i;
  }
  s.device.push(*c, 1500);
  const auto used = s.take_all();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].token, 9u);
  EXPECT_EQ(used[0].len, 1500u);
  EXPECT_EQ(s.driver.free_descriptors(), 5u);
}

// §2.8.19 "The driver MUST NOT set the DESC_F_INDIRECT flag unless the VIRTIO_F_INDIRECT_DESC
// feature was negotiated" (no tables: no indirect buffers); §2.8.17 "A driver MUST NOT create
// a descriptor list longer than the Queue Size"; a table holds indirect_max; and an indirect
// buffer still takes a slot.
TEST(PackedRingIndirect, IndirectBufferIsRefusedWithoutTablesBeyondATableOrTheQueueSize) {
  const Segment six[] = {readable(0), readable(1), readable(2), readable(3), readable(4), writable(5)};
  {
    Packed s({.size = 5});
    EXPECT_FALSE(s.driver.add_indirect(std::span(six, 1), 1));
  }
  {
    Packed s({.size = 5, .indirect_max = 8});
    EXPECT_FALSE(s.driver.add_indirect(six, 1));
    EXPECT_FALSE(s.driver.add_indirect({}, 1));
    EXPECT_TRUE(s.driver.add_indirect(std::span(six, 5), 1));
  }
  {
    Packed s({.size = 5, .indirect_max = 2});
    EXPECT_FALSE(s.driver.add_indirect(std::span(six, 3), 1));
    EXPECT_EQ(s.driver.free_descriptors(), 5u);
  }
  {
    Packed s({.size = 2, .indirect_max = 2});
    EXPECT_TRUE(s.driver.add_indirect(std::span(six, 2), 1));
    EXPECT_TRUE(s.driver.add_indirect(std::span(six, 2), 2));
    EXPECT_FALSE(s.driver.add_indirect(std::span(six, 2), 3));
    s.driver.publish();
    EXPECT_EQ(s.device.pop_all().size(), 2u);
  }
}

// --- in-order use (§2.8.8) ------------------------------------------------------------------

// §2.8.8: "writing out a single used descriptor with the Buffer ID corresponding to the last
// descriptor in the batch. The device then skips forward in the ring according to the size of
// the batch", "overwriting the first available descriptor in the batch", and "The skipped
// buffers ... are assumed to have been used". Only the last has a length of its own. Slots the
// used descriptors skipped keep the driver's flags of that lap, which read as nonsense in the
// next lap (AVAIL != USED, USED equal to the new used wrap counter): the driver never looks at
// them, so the ring goes on unbroken.
TEST(PackedRingInOrder, OneUsedDescriptorCompletesTheBatchAndOnlyTheLastHasALength) {
  Packed s({.size = 7, .in_order = true});
  const Segment three[] = {writable(0), writable(1), writable(2)};
  ASSERT_TRUE(s.driver.add_one(writable(0), 10));
  ASSERT_TRUE(s.driver.add(three, 11));
  ASSERT_TRUE(s.driver.add_one(writable(2), 12));
  s.driver.publish();
  auto chains = s.device.pop_all();
  ASSERT_EQ(chains.size(), 3u);
  s.device.push_batch(chains[2].id, 99);
  EXPECT_EQ(s.device.descriptor(0).id, chains[2].id);  // over the batch's first slot
  EXPECT_EQ(s.device.next_used(), 5u);
  auto used = s.take_all();
  ASSERT_EQ(used.size(), 3u);
  EXPECT_EQ(tokens_of(used), (std::vector<std::uint64_t>{10, 11, 12}));
  EXPECT_FALSE(used[0].len_valid);
  EXPECT_FALSE(used[1].len_valid);
  EXPECT_TRUE(used[2].len_valid);
  EXPECT_EQ(used[2].len, 99u);
  EXPECT_EQ(s.driver.free_descriptors(), 7u);

  for (std::uint64_t t = 20; t < 22; ++t) ASSERT_TRUE(s.driver.add_one(writable(0), t));  // slots 5, 6
  s.driver.publish();
  chains = s.device.pop_all();
  s.device.push_batch(chains[1].id, 7);
  EXPECT_EQ(tokens_of(s.take_all()), (std::vector<std::uint64_t>{20, 21}));
  // Lap 2: slots 1-4 and 6 still hold lap 1's available flags.
  for (unsigned round = 0; round < 20; ++round) {
    for (std::uint64_t t = 0; t < 3; ++t) ASSERT_TRUE(s.driver.add_one(writable(0), t));
    s.driver.publish();
    chains = s.device.pop_all();
    ASSERT_EQ(chains.size(), 3u);
    s.device.push_batch(chains[2].id, 1);
    ASSERT_EQ(s.take_all().size(), 3u) << round;
    ASSERT_FALSE(s.driver.broken()) << round << ": " << describe(s.driver.error());
  }
}

// --- a device that writes garbage (checklist B1, B2, B5) --------------------------------------

// B5. §2.8.1: "VIRTQ_DESC_F_AVAIL and VIRTQ_DESC_F_USED bits are different for an available
// descriptor and equal for a used descriptor." A descriptor whose USED bit says "used in this
// lap" but whose AVAIL bit disagrees marks the ring broken, in either lap.
TEST(PackedRingFaults, UsedDescriptorWithAvailAndUsedDisagreeingMarksRingBroken) {
  for (const unsigned laps : {0u, 1u}) {
    Packed s({.size = 5});
    for (unsigned i = 0; i < laps; ++i) s.round_trip(5);
    ASSERT_TRUE(s.driver.add_one(writable(0), 1));
    s.driver.publish();
    const auto c = s.device.pop();
    ASSERT_TRUE(c);
    const bool wrap = s.device.used_wrap();
    s.device.write_next_used(c->id, 0, wrap ? spec::DESC_F_USED : spec::DESC_F_AVAIL);
    UsedChain u;
    EXPECT_FALSE(s.driver.take_used(u));
    EXPECT_EQ(s.driver.error(), RingError::PackedFlagsInvalid) << "lap " << laps + 1;
  }
}

// What the driver accepts: it finds used descriptors by the USED bit against its own used wrap
// counter (§2.8.1 "keep track of the last observed value", §2.8.22's example). A descriptor
// whose USED bit is not that counter reads as "not used yet", whatever its AVAIL bit or id,
// so a device that writes one only stalls its queue: nothing is taken, the ring is not
// broken, and a proper used descriptor over it later is taken.
TEST(PackedRingFaults, DescriptorWhoseUsedBitIsNotTheUsedWrapCounterIsNotUsedYet) {
  for (const unsigned laps : {0u, 1u}) {
    Packed s({.size = 5});
    for (unsigned i = 0; i < laps; ++i) s.round_trip(5);
    ASSERT_TRUE(s.driver.add_one(writable(0), 1));
    s.driver.publish();
    const auto c = s.device.pop();
    ASSERT_TRUE(c);
    const bool wrap = s.device.used_wrap();
    for (const std::uint16_t flags : {std::uint16_t{0}, spec::DESC_F_AVAIL, spec::DESC_F_USED, kAvailUsed}) {
      if (static_cast<bool>(flags & spec::DESC_F_USED) == wrap) continue;
      s.device.write_next_used(0xffff, 0, flags);
      UsedChain u;
      EXPECT_FALSE(s.driver.take_used(u)) << flags;
      EXPECT_FALSE(s.driver.has_used()) << flags;
      EXPECT_FALSE(s.driver.broken()) << flags;
    }
    s.device.push(*c, 5);
    const auto used = s.take_all();
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].token, 1u);
  }
}

// B1. The Buffer ID of a used descriptor names a buffer the driver made available (§2.8.6,
// §2.8.22's example: "assert(id < vq->size)"); one outside the queue marks the ring broken.
TEST(PackedRingFaults, UsedIdOutOfRangeMarksRingBroken) {
  for (const bool in_order : {false, true}) {
    for (const std::uint16_t id : {5, 6, 0x8000, 0xffff}) {
      Packed s({.size = 5, .in_order = in_order});
      ASSERT_TRUE(s.driver.add_one(writable(0), 1));
      s.driver.publish();
      ASSERT_TRUE(s.device.pop());
      s.device.push(id, 0, 1);
      UsedChain u;
      EXPECT_FALSE(s.driver.take_used(u)) << id;
      EXPECT_EQ(s.driver.error(), RingError::IdOutOfRange) << id << " in order " << in_order;
    }
  }
}

// B2. A buffer completed twice, or an id never made available, is not an outstanding buffer.
TEST(PackedRingFaults, UsedIdNotOutstandingMarksRingBroken) {
  for (const bool in_order : {false, true}) {
    {
      Packed s({.size = 5, .in_order = in_order});
      ASSERT_TRUE(s.driver.add_one(writable(0), 1));
      ASSERT_TRUE(s.driver.add_one(writable(1), 2));
      s.driver.publish();
      const auto chains = s.device.pop_all();
      s.device.push(chains[0], 0);
      s.device.push(chains[0].id, 0, 1);  // again, at the next used slot
      UsedChain u;
      ASSERT_TRUE(s.driver.take_used(u));
      EXPECT_EQ(u.token, 1u);
      EXPECT_FALSE(s.driver.take_used(u));
      EXPECT_EQ(s.driver.error(), RingError::IdNotOutstanding) << in_order;
    }
    {
      Packed s({.size = 5, .in_order = in_order});
      ASSERT_TRUE(s.driver.add_one(writable(0), 1));
      s.driver.publish();
      const auto c = s.device.pop();
      ASSERT_TRUE(c);
      s.device.push(static_cast<std::uint16_t>(c->id == 3 ? 4 : 3), 0, 1);
      UsedChain u;
      EXPECT_FALSE(s.driver.take_used(u));
      EXPECT_EQ(s.driver.error(), RingError::IdNotOutstanding) << in_order;
    }
  }
}

// A ring that stopped trusting its device gives it nothing more, and the first reason stays.
TEST(PackedRingFaults, BrokenRingRefusesAddAndPublishAndKeepsTheFirstReason) {
  Packed s({.size = 5, .indirect_max = 2});
  ASSERT_TRUE(s.driver.add_one(writable(0), 1));
  s.driver.publish();
  ASSERT_TRUE(s.device.pop());
  s.device.push(9, 0, 1);
  UsedChain u;
  EXPECT_FALSE(s.driver.take_used(u));
  ASSERT_EQ(s.driver.error(), RingError::IdOutOfRange);
  const Segment two[] = {readable(1), writable(2)};
  EXPECT_FALSE(s.driver.add_one(readable(1), 2));
  EXPECT_FALSE(s.driver.add(two, 3));
  EXPECT_FALSE(s.driver.add_indirect(two, 4));
  EXPECT_FALSE(s.driver.publish());
  EXPECT_FALSE(s.device.pop());
  EXPECT_EQ(s.driver.free_descriptors(), 4u);
  EXPECT_EQ(s.driver.drain_used([](std::uint64_t) {}), 0u);
  EXPECT_EQ(s.driver.error(), RingError::IdOutOfRange);
}

// B4 for packed: used descriptors overwrite available ones (§2.8), so the driver can only skip
// by its own record of each buffer's length (§2.8.6 "The driver needs to keep track of the
// size of the list corresponding to each buffer ID"). A device that scribbles the rest of a
// list's descriptors changes nothing.
TEST(PackedRingFaults, CompletionSkipsByTheDriversOwnRecordNotTheRing) {
  Packed s({.size = 7});
  const Segment three[] = {readable(0), readable(1), writable(2)};
  ASSERT_TRUE(s.driver.add(three, 1));
  ASSERT_TRUE(s.driver.add_one(writable(3), 2));
  s.driver.publish();
  const auto chains = s.device.pop_all();
  ASSERT_EQ(chains.size(), 2u);
  for (const std::uint16_t slot : {1, 2})
    s.device.write_descriptor(slot, {0xdeadbeef, 0xffffffff, 0xffff, spec::DESC_F_NEXT | spec::DESC_F_INDIRECT});
  s.device.push(chains[1], 0);
  s.device.push(chains[0], 0);
  EXPECT_EQ(tokens_of(s.take_all()), (std::vector<std::uint64_t>{2, 1}));
  EXPECT_FALSE(s.driver.broken());
  EXPECT_EQ(s.driver.free_descriptors(), 7u);
  s.round_trip(7);
}

// --- reset, draining, the wrap, the free ids --------------------------------------------------

// After a device reset (§2.4) the ring starts over: every buffer in flight, made available or
// not, dropped once; the descriptor ring zeroed (§2.8.13); both wrap counters 1 again (§2.8.1),
// so the next buffer is at slot 0 with AVAIL set for a device that starts over too.
TEST(PackedRingReset, ResetDropsEveryBufferInFlightAndStartsOverAtSlotZero) {
  for (const bool in_order : {false, true}) {
    Packed s({.size = 5, .in_order = in_order});
    s.round_trip(4);  // somewhere in the ring
    for (std::uint64_t t = 1; t <= 3; ++t) ASSERT_TRUE(s.driver.add_one(writable(0), t));
    s.driver.publish();
    const auto chains = s.device.pop_all();
    s.device.push(chains[0], 0);
    ASSERT_EQ(s.take_all().size(), 1u);
    ASSERT_TRUE(s.driver.add_one(writable(0), 4));  // never made available
    s.device.push(0xffff, 0, 1);                     // and the ring broke
    EXPECT_EQ(s.take_all().size(), 0u);
    ASSERT_TRUE(s.driver.broken());

    std::vector<std::uint64_t> dropped;
    s.driver.reset([&](std::uint64_t t) { dropped.push_back(t); });
    std::sort(dropped.begin(), dropped.end());
    EXPECT_EQ(dropped, (std::vector<std::uint64_t>{2, 3, 4})) << in_order;
    EXPECT_EQ(s.driver.free_descriptors(), 5u);
    EXPECT_EQ(s.driver.in_flight(), 0u);
    EXPECT_FALSE(s.driver.broken());
    EXPECT_FALSE(s.driver.has_used());
    PackedDeviceModel fresh(s.driver.addresses(), 5);
    ASSERT_TRUE(s.driver.add_one(writable(0), 6));
    s.driver.publish();
    const auto c = fresh.pop();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->slot, 0u);
    EXPECT_EQ(c->first.flags & kAvailUsed, spec::DESC_F_AVAIL);
    fresh.push(*c, 0);
    const auto used = s.take_all();
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].token, 6u);
  }
}

// drain_used() hands every completed buffer's token to the sink in the order the device used
// them (§2.8.12 "in the order in which they complete"; §2.8.8: a batch's buffers in ring
// order) and says how many.
TEST(PackedRingDrain, DrainUsedHandsEveryTokenInTheOrderTheDeviceUsedThem) {
  {
    Packed s({.size = 7});
    for (std::uint64_t t = 0; t < 5; ++t) ASSERT_TRUE(s.driver.add_one(readable(0), t));
    s.driver.publish();
    const auto chains = s.device.pop_all();
    for (const int i : {3, 0, 4, 1, 2}) s.device.push(chains[i], 0);
    std::vector<std::uint64_t> tokens;
    EXPECT_EQ(s.driver.drain_used([&](std::uint64_t t) { tokens.push_back(t); }), 5u);
    EXPECT_EQ(tokens, (std::vector<std::uint64_t>{3, 0, 4, 1, 2}));
    EXPECT_EQ(s.driver.free_descriptors(), 7u);
  }
  {
    Packed s({.size = 7, .in_order = true});
    const Segment two[] = {readable(0), readable(1)};
    for (std::uint64_t t = 0; t < 5; ++t)
      ASSERT_TRUE(t % 2 || t == 4 ? s.driver.add_one(readable(0), t) : s.driver.add(two, t));
    EXPECT_EQ(s.driver.free_descriptors(), 0u);
    s.driver.publish();
    const auto chains = s.device.pop_all();
    ASSERT_EQ(chains.size(), 5u);
    s.device.push_batch(chains[1].id, 0);
    s.device.push_batch(chains[2].id, 0);
    s.device.push_batch(chains[4].id, 0);
    std::vector<std::uint64_t> tokens;
    EXPECT_EQ(s.driver.drain_used([&](std::uint64_t t) { tokens.push_back(t); }), 5u);
    EXPECT_EQ(tokens, (std::vector<std::uint64_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(s.driver.free_descriptors(), 7u);
    EXPECT_EQ(s.driver.drain_used([](std::uint64_t) {}), 0u);
  }
}

// §2.8.1: the wrap counters over many laps of rings of 5 and 7 (laps that do not line up with
// the 16-bit ids or any power of two): more than 2^16 buffers of one to three descriptors (some
// indirect) in random bursts, used in random order (or, in order, in random batches with one
// used descriptor each), taken one by one or drained. Every buffer comes back once, in the
// order the device used it, with its length.
TEST(PackedRingWrap, WrapCountersHoldOverManyLapsOfRingsThatAreNotPowersOfTwo) {
  for (const std::uint16_t size : {5, 7}) {
    for (const bool in_order : {false, true}) {
      Packed s({.size = size, .in_order = in_order, .indirect_max = 3});
      std::mt19937 rng(size * 2 + in_order);
      const Segment three[] = {readable(0), writable(1), writable(2)};
      std::deque<std::uint64_t> posted;
      std::vector<std::pair<PackedChain, std::uint64_t>> held;
      std::vector<std::uint64_t> expected, got;
      std::uint64_t next = 0;
      while (next < 70000) {
        for (unsigned burst = rng() % 5 + 1; burst > 0; --burst) {
          const unsigned n = rng() % 3 + 1;
          const bool ok = rng() % 4 == 0 ? s.driver.add_indirect(std::span(three, n), next)
                          : n == 1       ? s.driver.add_one(three[0], next)
                                         : s.driver.add(std::span(three, n), next);
          if (!ok) break;
          posted.push_back(next++);
        }
        s.driver.publish();
        for (PackedChain& c : s.device.pop_all()) {
          held.emplace_back(std::move(c), posted.front());
          posted.pop_front();
        }
        ASSERT_TRUE(posted.empty());
        if (held.empty()) continue;
        const std::size_t k = rng() % held.size() + 1;
        if (in_order) {
          s.device.push_batch(held[k - 1].first.id, static_cast<std::uint32_t>(held[k - 1].second));
        } else {
          std::shuffle(held.begin(), held.end(), rng);
          for (std::size_t i = 0; i < k; ++i) s.device.push(held[i].first, static_cast<std::uint32_t>(held[i].second));
        }
        for (std::size_t i = 0; i < k; ++i) expected.push_back(held[i].second);
        held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(k));
        if (rng() % 2) {
          s.driver.drain_used([&](std::uint64_t t) { got.push_back(t); });
        } else {
          for (UsedChain u; s.driver.take_used(u);) {
            if (u.len_valid) {
              EXPECT_EQ(u.len, static_cast<std::uint32_t>(u.token));
            }
            got.push_back(u.token);
          }
        }
        ASSERT_FALSE(s.driver.broken()) << describe(s.driver.error());
      }
      EXPECT_EQ(got, expected) << size << " in order " << in_order;
      EXPECT_EQ(s.driver.in_flight(), held.size());
    }
  }
}

// §2.8.21.1 "Get the next free buffer id value": out of order, ids come back in any order and
// are handed out again (the model fails the test if one it still holds is), always below the
// queue size.
TEST(PackedRingFreeIds, OutOfOrderCompletionReusesTheFreedBufferIds) {
  Packed s({.size = 4});
  for (std::uint64_t t = 0; t < 4; ++t) ASSERT_TRUE(s.driver.add_one(writable(0), t));
  s.driver.publish();
  const auto chains = s.device.pop_all();
  ASSERT_EQ(chains.size(), 4u);
  s.device.push(chains[2], 0);
  s.device.push(chains[0], 0);
  EXPECT_EQ(tokens_of(s.take_all()), (std::vector<std::uint64_t>{2, 0}));
  ASSERT_TRUE(s.driver.add_one(writable(0), 8));
  ASSERT_TRUE(s.driver.add_one(writable(0), 9));
  EXPECT_FALSE(s.driver.add_one(writable(0), 10));
  s.driver.publish();
  const auto again = s.device.pop_all();
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ((std::set<std::uint16_t>{again[0].id, again[1].id}), (std::set<std::uint16_t>{chains[0].id, chains[2].id}));
  for (const PackedChain& c : {chains[3], again[1], chains[1], again[0]}) s.device.push(c, 0);
  EXPECT_EQ(tokens_of(s.take_all()), (std::vector<std::uint64_t>{3, 9, 1, 8}));
  EXPECT_EQ(s.driver.free_descriptors(), 4u);
}

}  // namespace
}  // namespace netfront::virtio::ring
