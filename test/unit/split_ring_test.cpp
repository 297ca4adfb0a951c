// The driver side of split virtqueues (virtio 1.2 §2.7), SplitRing, over plain memory with no
// DPDK running, against a device written from the spec (ring_model.hpp): what over() accepts,
// how chains are laid out and exposed, how notifications are decided and suppressed, indirect
// tables, in-order batches, reset and the 16-bit index wrap, and what a device writing garbage
// into the used ring gets (checklist B1-B4, B6 in docs/reliability.md). Each test cites the
// clause it checks; the model checks the driver's requirements on every chain it reads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <random>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "drivers/virtio/ring/ring_layout.hpp"
#include "drivers/virtio/ring/split_ring.hpp"
#include "ring_model.hpp"

namespace netfront::virtio::ring {
namespace {

using netfront::testing::ring_model::entry_placed_at;
using netfront::testing::ring_model::PlainMemory;
using netfront::testing::ring_model::readable;
using netfront::testing::ring_model::tokens_of;
using netfront::testing::ring_model::writable;
using netfront::testing::ring_model::SplitChain;
using netfront::testing::ring_model::SplitDescriptor;
using netfront::testing::ring_model::SplitDeviceModel;
namespace ring_model = netfront::testing::ring_model;
namespace spec = netfront::testing::ring_model::spec;

// A ring over memory of its own (filled with `fill` before the ring is made) and a device
// on the addresses the ring gives.
struct Split {
  explicit Split(RingOptions o, std::byte fill = std::byte{0})
      : mem(SplitLayout::of(o.size).total, fill), tables(indirect_tables_size(o, sizeof(virtq_desc))),
        driver(ring_model::make_ring<SplitRing>(o, mem.dma(), tables.dma())),
        device(driver.addresses(), o.size, {o.event_idx, o.in_order}) {}

  // Every used chain the driver takes now.
  std::vector<UsedChain> take_all() { return ring_model::take_all(driver); }

  PlainMemory mem, tables;
  SplitRing driver;
  SplitDeviceModel device;
};

bool disjoint(std::uint64_t a, std::size_t a_len, std::uint64_t b, std::size_t b_len) {
  return a + a_len <= b || b + b_len <= a;
}

// --- over(): what a ring may be built on --------------------------------------------------

// §2.7: "Queue Size value is always a power of 2. The maximum Queue Size value is 32768."
TEST(SplitRingOver, QueueSizeThatIsNotAPowerOfTwoFromOneTo32768IsRefused) {
  for (const std::uint16_t size : {0, 3, 6, 100, 255, 32767, 32769, 49152, 65535}) {
    PlainMemory mem(SplitLayout::of(size).total + 4096);  // room enough: only the size is wrong
    EXPECT_FALSE(SplitRing::over({.size = size}, mem.dma())) << size;
  }
  for (const std::uint16_t size : {1, 2, 4, 256, 32768}) {
    PlainMemory mem(SplitLayout::of(size).total);
    EXPECT_TRUE(SplitRing::over({.size = size}, mem.dma())) << size;
  }
}

// §2.7.1 "The driver MUST ensure that the physical address of the first byte of each
// virtqueue part is a multiple of the specified alignment value": 16 for the descriptor table,
// which starts the ring's memory; and the memory must hold all three parts.
TEST(SplitRingOver, MemoryTooSmallOrNotOnA16ByteBoundaryIsRefused) {
  const RingOptions o{.size = 64};
  const std::size_t need = SplitLayout::of(64).total;
  PlainMemory mem(need + 64);
  EXPECT_TRUE(SplitRing::over(o, mem.dma(0, need)));
  EXPECT_FALSE(SplitRing::over(o, mem.dma(0, need - 1)));
  EXPECT_FALSE(SplitRing::over(o, mem.dma(8, need)));
  EXPECT_FALSE(SplitRing::over(o, DmaMemory::over({mem.data(), need}, mem.address() + 8)));  // device address off
  EXPECT_FALSE(SplitRing::over(o, DmaMemory::over({mem.data() + 8, need}, mem.address())));  // bytes off
  EXPECT_FALSE(SplitRing::over(o, DmaMemory{}));
}

// Indirect tables (§2.7.5.3) are descriptors too: with VIRTIO_F_INDIRECT_DESC the ring needs
// one table of indirect_max descriptors per entry, on a descriptor boundary.
TEST(SplitRingOver, IndirectTablesMissingShortOrMisalignedAreRefused) {
  const RingOptions o{.size = 8, .indirect_max = 4};
  PlainMemory mem(SplitLayout::of(8).total);
  const std::size_t need = 8 * 4 * sizeof(virtq_desc);
  PlainMemory tables(need + 64);
  EXPECT_TRUE(SplitRing::over(o, mem.dma(), tables.dma(0, need)));
  EXPECT_FALSE(SplitRing::over(o, mem.dma()));
  EXPECT_FALSE(SplitRing::over(o, mem.dma(), tables.dma(0, need - 1)));
  EXPECT_FALSE(SplitRing::over(o, mem.dma(), tables.dma(8, need)));
}

// §2.7 alignment table: descriptor table 16-aligned, 16 * size bytes; available ring 2-aligned,
// 6 + 2 * size; used ring 4-aligned, 6 + 8 * size. The three parts a device is given lie in
// the memory the ring was built on and do not overlap.
TEST(SplitRingOver, PartsLieInTheMemoryApartWithTheSpecAlignment) {
  for (const std::uint16_t size : {1, 2, 8, 256, 32768}) {
    PlainMemory mem(SplitLayout::of(size).total), none(0);
    SplitRing r = ring_model::make_ring<SplitRing>({.size = size}, mem.dma(), none.dma());
    const QueueAddresses a = r.addresses();
    const std::size_t desc = 16u * size, avail = 6 + 2u * size, used = 6 + 8u * size;
    EXPECT_EQ(a.desc % 16, 0u) << size;
    EXPECT_EQ(a.driver % 2, 0u) << size;
    EXPECT_EQ(a.device % 4, 0u) << size;
    const std::uint64_t begin = mem.address(), end = begin + mem.size();
    const std::pair<std::uint64_t, std::size_t> parts[] = {{a.desc, desc}, {a.driver, avail}, {a.device, used}};
    for (const auto& [at, len] : parts) {
      EXPECT_GE(at, begin) << size;
      EXPECT_LE(at + len, end) << size;
    }
    EXPECT_TRUE(disjoint(a.desc, desc, a.driver, avail) && disjoint(a.desc, desc, a.device, used) &&
                disjoint(a.driver, avail, a.device, used))
        << size;
  }
}

// §2.7.10.1 "The driver MUST initialize flags in the used ring to 0 when allocating the used
// ring"; §2.7.6, §2.7.8: both idx fields start at 0. Whatever the memory held before.
TEST(SplitRingOver, UsedFlagsAndBothIndicesStartAtZeroWhateverTheMemoryHeld) {
  Split s({.size = 16}, std::byte{0xa5});
  EXPECT_EQ(s.device.used_flags(), 0u);
  EXPECT_EQ(s.device.used_idx(), 0u);
  EXPECT_EQ(s.device.avail_idx(), 0u);
  EXPECT_FALSE(s.device.pop());
  EXPECT_EQ(s.driver.free_descriptors(), 16u);
  EXPECT_EQ(s.driver.in_flight(), 0u);
}

// --- supplying buffers (§2.7.13) ---------------------------------------------------------

// §2.7.13.1: "Set d.addr ... Set d.len ... If b is device-writable, set d.flags to
// VIRTQ_DESC_F_WRITE, otherwise 0", and no NEXT for a buffer of one element.
TEST(SplitRingAdd, AddOneWritesOneDescriptorWithWriteOnlyWhenDeviceWritable) {
  Split s({.size = 8});
  ASSERT_TRUE(s.driver.add_one(readable(1, 60), 101));
  ASSERT_TRUE(s.driver.add_one(writable(2, 1500), 102));
  EXPECT_EQ(s.driver.free_descriptors(), 6u);
  EXPECT_EQ(s.driver.in_flight(), 2u);
  s.driver.publish();
  const auto chains = s.device.pop_all();
  ASSERT_EQ(chains.size(), 2u);
  for (const SplitChain& c : chains) {
    EXPECT_FALSE(c.indirect);
    EXPECT_EQ(c.entries.size(), 1u);
  }
  EXPECT_EQ(chains[0].first.addr, readable(1).addr);
  EXPECT_EQ(chains[0].first.len, 60u);
  EXPECT_EQ(chains[0].first.flags, 0u);
  EXPECT_EQ(chains[1].first.addr, writable(2).addr);
  EXPECT_EQ(chains[1].first.len, 1500u);
  EXPECT_EQ(chains[1].first.flags, spec::DESC_F_WRITE);
  EXPECT_NE(chains[0].head, chains[1].head);
}

// §2.7.13.1: "If there is a buffer element after this: Set d.next to the index of the next
// free descriptor element. Set the VIRTQ_DESC_F_NEXT bit in d.flags." The device finds the
// elements, in order, by following next from the head.
TEST(SplitRingAdd, ChainIsLinkedByNextAndItsLastDescriptorHasNoNext) {
  Split s({.size = 8});
  const Segment chain[] = {readable(1, 12), readable(2, 1514), writable(3, 4)};
  ASSERT_TRUE(s.driver.add(chain, 7));
  EXPECT_EQ(s.driver.free_descriptors(), 5u);
  EXPECT_EQ(s.driver.in_flight(), 1u);
  s.driver.publish();
  const auto c = s.device.pop();
  ASSERT_TRUE(c);
  ASSERT_EQ(c->elements.size(), 3u);
  EXPECT_EQ(std::set<std::uint16_t>(c->entries.begin(), c->entries.end()).size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c->elements[i].addr, chain[i].addr) << i;
    EXPECT_EQ(c->elements[i].len, chain[i].len) << i;
    EXPECT_EQ(c->elements[i].flags & spec::DESC_F_WRITE, chain[i].device_writable ? spec::DESC_F_WRITE : 0) << i;
    EXPECT_EQ(c->elements[i].flags & spec::DESC_F_NEXT, i < 2 ? spec::DESC_F_NEXT : 0) << i;
    if (i < 2) {
      EXPECT_EQ(c->elements[i].next, c->entries[i + 1]) << i;
    }
  }
}

// §2.7.13.2: "the driver MAY add many descriptor chains before it updates idx (at which point
// they become visible to the device)"; §2.7.13.3 "Once available idx is updated by the driver,
// this exposes the descriptor and its contents."
TEST(SplitRingPublish, NothingIsVisibleToTheDeviceUntilPublish) {
  Split s({.size = 8});
  const Segment two[] = {readable(1), writable(2)};
  ASSERT_TRUE(s.driver.add_one(readable(0), 0));
  ASSERT_TRUE(s.driver.add(two, 1));
  ASSERT_TRUE(s.driver.add_one(writable(3), 2));
  EXPECT_EQ(s.device.avail_idx(), 0u);
  EXPECT_FALSE(s.device.pop());
  s.driver.publish();
  EXPECT_EQ(s.device.avail_idx(), 3u);
  const auto chains = s.device.pop_all();
  ASSERT_EQ(chains.size(), 3u);
  EXPECT_EQ(chains[0].elements.size(), 1u);
  EXPECT_EQ(chains[1].elements.size(), 2u);
  EXPECT_EQ(chains[2].first.addr, writable(3).addr);
}

// §2.7.13: "The available idx is increased by the number of descriptor chain heads added to the
// available ring", one store for all of them; §2.7.6.1 "A driver MUST NOT decrement the
// available idx". A publish with nothing added leaves idx alone and asks for no notification.
TEST(SplitRingPublish, PublishRaisesTheIndexByTheChainsAddedSinceTheLast) {
  Split s({.size = 8});
  for (unsigned i = 0; i < 2; ++i) ASSERT_TRUE(s.driver.add_one(readable(i), i));
  EXPECT_TRUE(s.driver.publish());
  EXPECT_EQ(s.device.avail_idx(), 2u);
  for (unsigned i = 2; i < 5; ++i) ASSERT_TRUE(s.driver.add_one(readable(i), i));
  EXPECT_EQ(s.device.avail_idx(), 2u);
  EXPECT_TRUE(s.driver.publish());
  EXPECT_EQ(s.device.avail_idx(), 5u);
  EXPECT_FALSE(s.driver.publish());
  EXPECT_EQ(s.device.avail_idx(), 5u);
  EXPECT_EQ(s.device.pop_all().size(), 5u);
}

// §2.7.13.1 "Get the next free descriptor table entry": a chain needs as many free descriptors
// as it has elements (at least one), up to the whole table; refused otherwise, changing nothing.
TEST(SplitRingAdd, ChainIsRefusedWhenDescriptorsRunOutAndNothingChanges) {
  Split s({.size = 4});
  EXPECT_FALSE(s.driver.add({}, 9));  // a buffer has at least one element
  const Segment five[] = {readable(0), readable(1), readable(2), readable(3), readable(4)};
  EXPECT_FALSE(s.driver.add(five, 9));  // longer than the table
  const Segment three[] = {readable(0), readable(1), writable(2)};
  ASSERT_TRUE(s.driver.add(three, 1));
  EXPECT_FALSE(s.driver.add(std::span(three, 2), 2));
  EXPECT_EQ(s.driver.free_descriptors(), 1u);
  EXPECT_EQ(s.driver.in_flight(), 1u);
  ASSERT_TRUE(s.driver.add_one(writable(3), 3));
  EXPECT_FALSE(s.driver.add_one(writable(4), 4));
  EXPECT_EQ(s.driver.free_descriptors(), 0u);
  s.driver.publish();
  EXPECT_EQ(s.device.avail_idx(), 2u);
  EXPECT_EQ(s.device.pop_all().size(), 2u);

  Split whole({.size = 4});
  EXPECT_TRUE(whole.driver.add(std::span(five, 4), 1));  // as long as the table is fine
  whole.driver.publish();
  const auto c = whole.device.pop();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->elements.size(), 4u);
}

// --- available buffer notifications (§2.7.10) --------------------------------------------

// §2.7.10.1, without VIRTIO_F_EVENT_IDX: "If flags is 1, the driver SHOULD NOT send a
// notification. If flags is 0, the driver MUST send a notification." and "The driver MUST
// ignore the avail_event value."
TEST(SplitRingNotify, PublishNotifiesUnlessTheDeviceSetNoNotify) {
  Split s({.size = 8});
  ASSERT_TRUE(s.driver.add_one(readable(0), 0));
  EXPECT_TRUE(s.driver.publish());
  s.device.set_no_notify(true);
  ASSERT_TRUE(s.driver.add_one(readable(1), 1));
  EXPECT_FALSE(s.driver.publish());
  s.device.set_avail_event(2);  // exactly the entry about to be placed: still to be ignored
  ASSERT_TRUE(s.driver.add_one(readable(2), 2));
  EXPECT_FALSE(s.driver.publish());
  s.device.set_no_notify(false);
  s.device.set_avail_event(100);
  ASSERT_TRUE(s.driver.add_one(readable(3), 3));
  EXPECT_TRUE(s.driver.publish());
}

// §2.7.10.1, with VIRTIO_F_EVENT_IDX: "The driver MUST ignore the lower bit of flags" and "If
// the idx field in the available ring (which determined where that descriptor index was
// placed) was equal to avail_event, the driver MUST send a notification. Otherwise the driver
// SHOULD NOT". Bursts of every size, avail_event around them, across the 16-bit wrap.
TEST(SplitRingNotify, WithEventIdxPublishNotifiesExactlyWhenAnEntryIsPlacedAtAvailEvent) {
  Split s({.size = 8, .event_idx = true});
  std::mt19937 rng(2027);
  unsigned notified = 0;
  std::uint16_t idx = 0;
  for (unsigned round = 0; round < 20000; ++round) {
    const auto burst = static_cast<unsigned>(rng() % 8 + 1);
    s.device.set_avail_event(static_cast<std::uint16_t>(idx + static_cast<int>(rng() % 16) - 4));
    s.device.set_no_notify(rng() % 2);
    for (unsigned i = 0; i < burst; ++i) ASSERT_TRUE(s.driver.add_one(readable(i), i));
    const bool notify = s.driver.publish();
    const auto now = static_cast<std::uint16_t>(idx + burst);
    EXPECT_EQ(notify, s.device.driver_must_notify(idx, now)) << "round " << round << " idx " << idx;
    notified += notify;
    idx = now;
    for (const SplitChain& c : s.device.pop_all()) s.device.push(c, 0);
    ASSERT_EQ(s.take_all().size(), burst);
  }
  EXPECT_EQ(s.device.avail_idx(), idx);
  EXPECT_GT(notified, 0u);  // both answers came up
  EXPECT_LT(notified, 20000u);
}

// vring_need_event() is both sides' test for §2.7.7.2 and §2.7.10.1; it must say what the
// spec's words say ("an entry was placed at idx == event" while idx went from old to new) for
// every distance, across the wrap at 65536.
TEST(SplitRingNotify, VringNeedEventIsTheSpecRuleAcrossTheIndexWrap) {
  for (const std::uint16_t old_idx : {0, 1, 100, 32767, 65530, 65535}) {
    for (unsigned n = 0; n <= 40; ++n) {
      const auto new_idx = static_cast<std::uint16_t>(old_idx + n);
      for (int d = -50; d <= 50; ++d) {
        const auto event = static_cast<std::uint16_t>(old_idx + d);
        EXPECT_EQ(vring_need_event(event, new_idx, old_idx), entry_placed_at(event, old_idx, new_idx))
            << "old " << old_idx << " new " << new_idx << " event " << event;
      }
    }
  }
}

// --- used buffer notifications (§2.7.7) -------------------------------------------------------

// §2.7.7.1, without VIRTIO_F_EVENT_IDX: "The driver MUST set flags to 0 or 1. The driver MAY
// set flags to 1 to advise the device that notifications are not needed." A ring starts
// suppressed (its queue polls first); enable and suppress flip VIRTQ_AVAIL_F_NO_INTERRUPT.
TEST(SplitRingNotifications, WithoutEventIdxNotificationsStartDisabledAndToggleTheAvailFlag) {
  Split s({.size = 8});
  EXPECT_EQ(s.device.avail_flags(), spec::AVAIL_F_NO_INTERRUPT);
  EXPECT_FALSE(s.device.must_notify_driver(0, 1));
  EXPECT_FALSE(s.driver.enable_notifications());
  EXPECT_EQ(s.device.avail_flags(), 0u);
  EXPECT_TRUE(s.device.must_notify_driver(0, 1));
  s.driver.disable_notifications();
  EXPECT_EQ(s.device.avail_flags(), spec::AVAIL_F_NO_INTERRUPT);
  EXPECT_FALSE(s.device.must_notify_driver(0, 1));
}

// §2.7.7.1, with VIRTIO_F_EVENT_IDX: "The driver MUST set flags to 0", and uses used_event:
// "notifications are unnecessary until the device writes an entry with an index specified by
// used_event". Suppressed, the device is not asked for one for many entries; enabled, it is
// asked at the very next entry.
TEST(SplitRingNotifications, WithEventIdxNotificationsUseUsedEventAndTheFlagsStayZero) {
  Split s({.size = 8, .event_idx = true});
  EXPECT_EQ(s.device.avail_flags(), 0u);
  std::uint64_t token = 0;
  const auto use_one = [&] {  // one chain through the device; whether it must notify
    EXPECT_TRUE(s.driver.add_one(readable(0), token++));
    s.driver.publish();
    const auto c = s.device.pop();
    EXPECT_TRUE(c);
    const std::uint16_t old = s.device.used_idx();
    s.device.push(*c, 0);
    return s.device.must_notify_driver(old, static_cast<std::uint16_t>(old + 1));
  };
  for (unsigned i = 0; i < 100; ++i) {  // suppressed from the start
    EXPECT_FALSE(use_one()) << i;
    ASSERT_EQ(s.take_all().size(), 1u);
  }
  EXPECT_FALSE(s.driver.enable_notifications());
  EXPECT_EQ(s.device.used_event(), 100u);  // the next entry the driver will read
  EXPECT_EQ(s.device.avail_flags(), 0u);
  EXPECT_TRUE(use_one());
  s.driver.disable_notifications();
  EXPECT_EQ(s.device.avail_flags(), 0u);
  EXPECT_EQ(s.device.used_event(), 99u);  // just behind: not reached again for 2^16 entries
  for (unsigned i = 0; i < 100; ++i) {
    EXPECT_FALSE(use_one()) << i;
    ASSERT_EQ(s.take_all().size(), i == 0 ? 2u : 1u);
  }
}


// §2.7.14: "beware the problem of missing notifications between emptying the ring and
// reenabling notifications. This is usually handled by re-checking for more used buffers after
// notifications are re-enabled": enable_notifications() is that re-check.
TEST(SplitRingNotifications, EnableNotificationsReportsUsedEntriesAlreadyThere) {
  for (const bool event_idx : {false, true}) {
    Split s({.size = 8, .event_idx = event_idx});
    ASSERT_TRUE(s.driver.add_one(writable(0), 0));
    ASSERT_TRUE(s.driver.add_one(writable(1), 1));
    s.driver.publish();
    const auto chains = s.device.pop_all();
    ASSERT_EQ(chains.size(), 2u);
    EXPECT_FALSE(s.driver.enable_notifications()) << event_idx;
    s.device.push(chains[0], 10);
    EXPECT_TRUE(s.driver.has_used()) << event_idx;
    EXPECT_TRUE(s.driver.enable_notifications()) << event_idx;
    ASSERT_EQ(s.take_all().size(), 1u);
    EXPECT_FALSE(s.driver.enable_notifications()) << event_idx;
    s.device.push(chains[1], 10);
    EXPECT_TRUE(s.driver.enable_notifications()) << event_idx;
  }
}

// --- indirect descriptors (§2.7.5.3) ------------------------------------------------------

// §2.7.5.3: the ring descriptor refers to the table, "addr and len refer to the indirect table
// address and length in bytes"; the table's descriptors are "chained by next" from index 0.
// §2.7.5.3.1 "A driver MUST NOT set both VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT", and the
// device ignores WRITE on it (§2.7.5.3.2), so netfront sets neither. One table descriptor per
// chain: completion gives back one.
TEST(SplitRingIndirect, IndirectChainTakesOneDescriptorMarkedIndirectAlone) {
  Split s({.size = 8, .indirect_max = 4});
  const Segment chain[] = {readable(1, 12), readable(2, 100), writable(3, 1500)};
  ASSERT_TRUE(s.driver.add_indirect(chain, 9));
  EXPECT_EQ(s.driver.free_descriptors(), 7u);
  s.driver.publish();
  const auto c = s.device.pop();
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->indirect);
  EXPECT_EQ(c->entries.size(), 1u);
  EXPECT_EQ(c->first.flags, spec::DESC_F_INDIRECT);
  EXPECT_EQ(c->first.len, 3 * 16u);
  EXPECT_GE(c->first.addr, s.tables.address());
  EXPECT_LE(c->first.addr + c->first.len, s.tables.address() + s.tables.size());
  EXPECT_EQ(c->first.addr % 16, 0u);
  ASSERT_EQ(c->elements.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c->elements[i].addr, chain[i].addr) << i;
    EXPECT_EQ(c->elements[i].len, chain[i].len) << i;
    EXPECT_EQ(c->elements[i].flags & spec::DESC_F_WRITE, chain[i].device_writable ? spec::DESC_F_WRITE : 0) << i;
    EXPECT_EQ(c->elements[i].flags & spec::DESC_F_NEXT, i < 2 ? spec::DESC_F_NEXT : 0) << i;
  }
  s.device.push(*c, 1500);
  const auto used = s.take_all();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].token, 9u);
  EXPECT_EQ(used[0].len, 1500u);
  EXPECT_EQ(s.driver.free_descriptors(), 8u);
}

// §2.7.5.3.1: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT flag unless the
// VIRTIO_F_INDIRECT_DESC feature was negotiated" (no tables: no indirect chains) and "A driver
// MUST NOT create a descriptor chain longer than the Queue Size of the device"; a table holds
// indirect_max; and a table still takes a ring descriptor.
TEST(SplitRingIndirect, IndirectChainIsRefusedWithoutTablesBeyondATableOrTheQueueSize) {
  const Segment five[] = {readable(0), readable(1), readable(2), readable(3), writable(4)};
  {
    Split s({.size = 8});
    EXPECT_FALSE(s.driver.add_indirect(std::span(five, 1), 1));
  }
  {
    Split s({.size = 4, .indirect_max = 8});
    EXPECT_FALSE(s.driver.add_indirect(five, 1));
    EXPECT_FALSE(s.driver.add_indirect({}, 1));
    EXPECT_TRUE(s.driver.add_indirect(std::span(five, 4), 1));
  }
  {
    Split s({.size = 8, .indirect_max = 2});
    EXPECT_FALSE(s.driver.add_indirect(std::span(five, 3), 1));
    EXPECT_EQ(s.driver.free_descriptors(), 8u);
  }
  {
    Split s({.size = 2, .indirect_max = 2});
    EXPECT_TRUE(s.driver.add_indirect(std::span(five, 2), 1));
    EXPECT_TRUE(s.driver.add_indirect(std::span(five, 2), 2));
    EXPECT_FALSE(s.driver.add_indirect(std::span(five, 2), 3));
    s.driver.publish();
    EXPECT_EQ(s.device.pop_all().size(), 2u);
  }
}

// --- in-order use (§2.7.9) ------------------------------------------------------------------

// §2.7.5 "If VIRTIO_F_IN_ORDER has been negotiated, driver uses descriptors in ring order:
// starting from offset 0 in the table, and wrapping around at the end of the table", and
// §2.7.5.2: "driver MUST set next to 0 for the last descriptor in the table ... and to x + 1
// for the rest"; §2.7.5.3.1: indirect tables too, "next taking the value of 1 for the 1st
// descriptor, 2 for the 2nd one". (The in-order model checks every chain for these.)
TEST(SplitRingInOrder, DescriptorsAreUsedInTableOrderAndTheLastChainsToZero) {
  Split s({.size = 8, .in_order = true, .indirect_max = 3});
  const Segment four[] = {readable(0), readable(1), writable(2), writable(3)};
  ASSERT_TRUE(s.driver.add(std::span(four, 3), 0));
  ASSERT_TRUE(s.driver.add(std::span(four, 2), 1));
  ASSERT_TRUE(s.driver.add_indirect(std::span(four, 3), 2));
  s.driver.publish();
  auto chains = s.device.pop_all();
  ASSERT_EQ(chains.size(), 3u);
  EXPECT_EQ(chains[0].entries, (std::vector<std::uint16_t>{0, 1, 2}));
  EXPECT_EQ(chains[1].entries, (std::vector<std::uint16_t>{3, 4}));
  EXPECT_EQ(chains[2].entries, (std::vector<std::uint16_t>{5}));
  EXPECT_EQ(chains[2].elements[0].next, 1u);
  EXPECT_EQ(chains[2].elements[1].next, 2u);
  s.device.push_batch(chains[2].head, 0);
  ASSERT_EQ(s.take_all().size(), 3u);
  ASSERT_TRUE(s.driver.add(four, 3));
  s.driver.publish();
  const auto c = s.device.pop();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->entries, (std::vector<std::uint16_t>{6, 7, 0, 1}));
  EXPECT_EQ(c->elements[1].next, 0u);  // descriptor 7, the table's last
}

// §2.7.9: the device may write "a single used ring entry with the id corresponding to the head
// entry of the descriptor chain describing the last buffer in the batch", "increments the used
// idx by the size of the batch", and "The skipped buffers ... are assumed to have been used".
// Only the batch's last chain has a length of its own (len_valid).
TEST(SplitRingInOrder, OneUsedEntryCompletesTheBatchAndOnlyTheLastHasALength) {
  Split s({.size = 8, .in_order = true});
  const Segment two[] = {writable(0), writable(1)};
  ASSERT_TRUE(s.driver.add_one(writable(0), 10));
  ASSERT_TRUE(s.driver.add(two, 11));
  ASSERT_TRUE(s.driver.add_one(writable(2), 12));
  ASSERT_TRUE(s.driver.add_one(writable(3), 13));
  s.driver.publish();
  const auto chains = s.device.pop_all();
  ASSERT_EQ(chains.size(), 4u);
  s.device.push_batch(chains[3].head, 777);
  EXPECT_EQ(s.device.used_idx(), 4u);
  const auto used = s.take_all();
  ASSERT_EQ(used.size(), 4u);
  EXPECT_EQ(tokens_of(used), (std::vector<std::uint64_t>{10, 11, 12, 13}));
  for (std::size_t i = 0; i < 3; ++i) EXPECT_FALSE(used[i].len_valid) << i;
  EXPECT_TRUE(used[3].len_valid);
  EXPECT_EQ(used[3].len, 777u);
  EXPECT_EQ(s.driver.free_descriptors(), 8u);
  EXPECT_EQ(s.driver.in_flight(), 0u);
  EXPECT_FALSE(s.driver.broken());
}

// §2.7.9: "the used ring entry at an offset matching the first available ring entry in the
// batch, the used ring entry for the next batch at an offset matching the first available ring
// entry in the next batch": batches of any size follow one another, single entries among them.
TEST(SplitRingInOrder, BatchesAndSingleEntriesFollowOneAnother) {
  Split s({.size = 8, .in_order = true});
  for (std::uint64_t t = 0; t < 6; ++t) ASSERT_TRUE(s.driver.add_one(writable(0), t));
  s.driver.publish();
  const auto chains = s.device.pop_all();
  ASSERT_EQ(chains.size(), 6u);
  s.device.push_batch(chains[1].head, 100);  // 0, 1
  s.device.push_batch(chains[2].head, 200);  // 2
  s.device.push_batch(chains[5].head, 500);  // 3, 4, 5
  const auto used = s.take_all();
  ASSERT_EQ(used.size(), 6u);
  EXPECT_EQ(tokens_of(used), (std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5}));
  const bool valid[] = {false, true, true, false, false, true};
  const std::uint32_t len[] = {0, 100, 200, 0, 0, 500};
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(used[i].len_valid, valid[i]) << i;
    if (valid[i]) {
      EXPECT_EQ(used[i].len, len[i]) << i;
    }
  }
}

// --- a device that writes garbage (checklist B1-B4, B6) ----------------------------------

// B1. §2.7.8: a used element's id "indicates the head entry of the descriptor chain", an index
// into a table of queue-size entries; anything else marks the ring broken, and nothing is
// handed out. 0x10000 would name chain 0 if the driver kept only 16 bits of the 32.
TEST(SplitRingFaults, UsedIdOutOfRangeMarksRingBroken) {
  for (const bool in_order : {false, true}) {
    for (const std::uint32_t id : {8u, 9u, 0xffffu, 0x10000u, 0xffffffffu}) {
      Split s({.size = 8, .in_order = in_order});
      ASSERT_TRUE(s.driver.add_one(writable(0), 1));
      s.driver.publish();
      ASSERT_TRUE(s.device.pop());
      s.device.write_used_elem(0, id, 64);
      s.device.set_used_idx(1);
      UsedChain u;
      EXPECT_FALSE(s.driver.take_used(u)) << id;
      EXPECT_TRUE(s.driver.broken()) << id;
      EXPECT_EQ(s.driver.error(), RingError::IdOutOfRange) << id << " in order " << in_order;
    }
  }
}

// B2. §2.7.8: the id "matches an entry placed in the available ring by the guest earlier": a
// chain completed twice, a descriptor inside a chain, or one never made available is not an
// outstanding chain.
TEST(SplitRingFaults, UsedIdNotOutstandingMarksRingBroken) {
  for (const bool in_order : {false, true}) {
    {  // the same chain twice
      Split s({.size = 8, .in_order = in_order});
      ASSERT_TRUE(s.driver.add_one(writable(0), 1));
      ASSERT_TRUE(s.driver.add_one(writable(1), 2));
      s.driver.publish();
      const auto chains = s.device.pop_all();
      s.device.push(chains[0], 10);
      s.device.write_used_elem(1, chains[0].head, 10);
      s.device.set_used_idx(2);
      UsedChain u;
      ASSERT_TRUE(s.driver.take_used(u));
      EXPECT_EQ(u.token, 1u);
      EXPECT_FALSE(s.driver.take_used(u));
      EXPECT_EQ(s.driver.error(), RingError::IdNotOutstanding) << in_order;
    }
    for (const int which : {1, 5}) {  // the second descriptor of a chain; a free descriptor
      Split s({.size = 8, .in_order = in_order});
      const Segment three[] = {writable(0), writable(1), writable(2)};
      ASSERT_TRUE(s.driver.add(three, 1));
      s.driver.publish();
      const auto c = s.device.pop();
      ASSERT_TRUE(c);
      const std::uint16_t id = which == 1 ? c->entries[1] : 5;
      s.device.write_used_elem(0, id, 10);
      s.device.set_used_idx(1);
      UsedChain u;
      EXPECT_FALSE(s.driver.take_used(u));
      EXPECT_EQ(s.driver.error(), RingError::IdNotOutstanding) << in_order << " id " << id;
    }
  }
}

// B3. §2.7.8: used idx "indicates where the device would put the next descriptor entry in the
// ring ... This starts at 0, and increases", and the device can only use what it was given:
// an index further ahead than the chains in flight, or one that went back, marks the ring
// broken. Exactly the chains in flight is fine.
TEST(SplitRingFaults, UsedIndexPastTheChainsInFlightOrBackMarksRingBroken) {
  const auto ring_with_two = [](Split& s) {
    ASSERT_TRUE(s.driver.add_one(writable(0), 1));
    ASSERT_TRUE(s.driver.add_one(writable(1), 2));
    s.driver.publish();
    const auto chains = s.device.pop_all();
    s.device.write_used_elem(0, chains[0].head, 1);
    s.device.write_used_elem(1, chains[1].head, 1);
  };
  for (const std::uint16_t idx : {3, 8, 0x8000, 0xffff}) {
    Split s({.size = 8});
    ring_with_two(s);
    s.device.set_used_idx(idx);
    UsedChain u;
    EXPECT_FALSE(s.driver.take_used(u)) << idx;
    EXPECT_EQ(s.driver.error(), RingError::UsedIndexJump) << idx;
  }
  {
    Split s({.size = 8});
    ring_with_two(s);
    s.device.set_used_idx(2);
    EXPECT_EQ(s.take_all().size(), 2u);
    EXPECT_FALSE(s.driver.broken());
    ASSERT_TRUE(s.driver.add_one(writable(0), 3));
    s.driver.publish();
    s.device.set_used_idx(1);  // back by one
    UsedChain u;
    EXPECT_FALSE(s.driver.take_used(u));
    EXPECT_EQ(s.driver.error(), RingError::UsedIndexJump);
  }
}

// B6. §2.7.9: one entry completes the batch ending at its id, and "increments the used idx by
// the size of the batch": an entry whose batch is longer than the index moved marks the ring
// broken (a batch as long as the move is fine).
TEST(SplitRingFaults, InOrderBatchLongerThanTheUsedIndexMovedMarksRingBroken) {
  for (const std::uint16_t moved : {1, 2, 3}) {
    Split s({.size = 8, .in_order = true});
    for (std::uint64_t t = 0; t < 3; ++t) ASSERT_TRUE(s.driver.add_one(writable(0), t));
    s.driver.publish();
    const auto chains = s.device.pop_all();
    s.device.write_used_elem(0, chains[2].head, 64);
    s.device.set_used_idx(moved);
    const auto used = s.take_all();
    if (moved == 3) {
      EXPECT_EQ(used.size(), 3u);
      EXPECT_FALSE(s.driver.broken());
    } else {
      EXPECT_TRUE(used.empty()) << moved;
      EXPECT_EQ(s.driver.error(), RingError::InOrderBatchInvalid) << moved;
    }
  }
}

// A ring that stopped trusting its device gives it nothing more: no chain is placed or
// exposed, nothing is taken, and the first reason stays.
TEST(SplitRingFaults, BrokenRingRefusesAddAndPublishAndKeepsTheFirstReason) {
  Split s({.size = 8, .indirect_max = 2});
  ASSERT_TRUE(s.driver.add_one(writable(0), 1));
  s.driver.publish();
  ASSERT_TRUE(s.device.pop());
  s.device.write_used_elem(0, 8, 0);
  s.device.set_used_idx(1);
  UsedChain u;
  EXPECT_FALSE(s.driver.take_used(u));
  ASSERT_EQ(s.driver.error(), RingError::IdOutOfRange);
  const Segment two[] = {readable(1), writable(2)};
  EXPECT_FALSE(s.driver.add_one(readable(1), 2));
  EXPECT_FALSE(s.driver.add(two, 3));
  EXPECT_FALSE(s.driver.add_indirect(two, 4));
  EXPECT_FALSE(s.driver.publish());
  EXPECT_EQ(s.device.avail_idx(), 1u);
  EXPECT_EQ(s.driver.free_descriptors(), 7u);
  s.device.set_used_idx(0x8000);  // another fault
  EXPECT_FALSE(s.driver.take_used(u));
  EXPECT_EQ(s.driver.error(), RingError::IdOutOfRange);
  EXPECT_EQ(s.driver.drain_used([](std::uint64_t) {}), 0u);
}

// B4. The descriptor table is the driver's (§2.7.5: the device reads it), but a device may
// write it after taking the chains. Completion goes by the driver's own record: every chain
// comes back with its token, exactly its descriptors are freed, and the table is whole again
// (the model checks that no descriptor the device holds is handed out twice).
TEST(SplitRingFaults, CompletionNeverReadsTheDescriptorsBack) {
  for (const bool in_order : {false, true}) {
    Split s({.size = 8, .in_order = in_order});
    const Segment three[] = {readable(0), readable(1), writable(2)};
    ASSERT_TRUE(s.driver.add(three, 1));
    ASSERT_TRUE(s.driver.add(std::span(three, 2), 2));
    ASSERT_TRUE(s.driver.add_one(writable(3), 3));
    s.driver.publish();
    const auto chains = s.device.pop_all();
    ASSERT_EQ(chains.size(), 3u);
    for (std::uint16_t i = 0; i < 8; ++i)
      s.device.write_descriptor(i, {0xdeadbeef, 0xffffffff, spec::DESC_F_NEXT | spec::DESC_F_INDIRECT,
                                    static_cast<std::uint16_t>((i + 5) % 8)});
    std::vector<std::uint64_t> tokens;
    if (in_order) {
      s.device.push_batch(chains[2].head, 9);
      tokens = {1, 2, 3};
    } else {
      s.device.push(chains[1], 9);
      s.device.push(chains[2], 9);
      s.device.push(chains[0], 9);
      tokens = {2, 3, 1};
    }
    EXPECT_EQ(tokens_of(s.take_all()), tokens) << in_order;
    EXPECT_EQ(s.driver.free_descriptors(), 8u) << in_order;
    EXPECT_EQ(s.driver.in_flight(), 0u);
    EXPECT_FALSE(s.driver.broken());
    for (std::uint64_t t = 0; t < 8; ++t) ASSERT_TRUE(s.driver.add_one(writable(0), 10 + t)) << t;
    EXPECT_FALSE(s.driver.add_one(writable(0), 99));
    s.driver.publish();
    std::set<std::uint16_t> heads;
    for (const SplitChain& c : s.device.pop_all()) {
      EXPECT_EQ(c.elements.size(), 1u);
      EXPECT_EQ(c.first.flags, spec::DESC_F_WRITE);  // written afresh, not the device's garbage
      heads.insert(c.head);
    }
    EXPECT_EQ(heads.size(), 8u);
  }
}

// --- reset, draining, the index wrap, the free list ----------------------------------------

// After a device reset (§2.4) the rings start over: every chain in flight, made available or
// not, is dropped once, the ring is empty and trusted again, its memory as at the start
// (§2.7.10.1 used flags 0, both indices 0), and the next chain starts at descriptor 0.
TEST(SplitRingReset, ResetDropsEveryChainInFlightAndStartsOver) {
  for (const bool in_order : {false, true}) {
    Split s({.size = 8, .in_order = in_order});
    for (std::uint64_t t = 1; t <= 3; ++t) ASSERT_TRUE(s.driver.add_one(writable(0), t));
    s.driver.publish();
    const auto chains = s.device.pop_all();
    s.device.push(chains[0], 0);
    ASSERT_EQ(s.take_all().size(), 1u);
    ASSERT_TRUE(s.driver.add_one(writable(0), 4));  // never made available
    const Segment two[] = {writable(0), writable(1)};
    ASSERT_TRUE(s.driver.add(two, 5));
    s.device.set_used_idx(7);  // and the ring broke
    EXPECT_EQ(s.take_all().size(), 0u);
    ASSERT_TRUE(s.driver.broken());

    std::vector<std::uint64_t> dropped;
    s.driver.reset([&](std::uint64_t t) { dropped.push_back(t); });
    std::sort(dropped.begin(), dropped.end());
    EXPECT_EQ(dropped, (std::vector<std::uint64_t>{2, 3, 4, 5})) << in_order;
    EXPECT_EQ(s.driver.free_descriptors(), 8u);
    EXPECT_EQ(s.driver.in_flight(), 0u);
    EXPECT_FALSE(s.driver.broken());
    EXPECT_FALSE(s.driver.has_used());
    SplitDeviceModel fresh(s.driver.addresses(), 8, {.in_order = in_order});
    EXPECT_EQ(fresh.used_flags(), 0u);
    EXPECT_EQ(fresh.used_idx(), 0u);
    EXPECT_EQ(fresh.avail_idx(), 0u);
    ASSERT_TRUE(s.driver.add_one(writable(0), 6));
    s.driver.publish();
    const auto c = fresh.pop();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->head, 0u);
    fresh.push(*c, 0);
    const auto used = s.take_all();
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].token, 6u);
  }
}

// drain_used() hands every completed chain's token to the sink in the order the device used
// them (§2.7.8: the used ring's order; §2.7.9: a batch's chains in ring order) and says how
// many.
TEST(SplitRingDrain, DrainUsedHandsEveryTokenInTheOrderTheDeviceUsedThem) {
  {
    Split s({.size = 8});
    for (std::uint64_t t = 0; t < 5; ++t) ASSERT_TRUE(s.driver.add_one(readable(0), t));
    s.driver.publish();
    const auto chains = s.device.pop_all();
    for (const int i : {3, 0, 4, 1, 2}) s.device.push(chains[i], 0);
    std::vector<std::uint64_t> tokens;
    EXPECT_EQ(s.driver.drain_used([&](std::uint64_t t) { tokens.push_back(t); }), 5u);
    EXPECT_EQ(tokens, (std::vector<std::uint64_t>{3, 0, 4, 1, 2}));
    EXPECT_EQ(s.driver.free_descriptors(), 8u);
  }
  {
    Split s({.size = 8, .in_order = true});
    const Segment two[] = {readable(0), readable(1)};
    for (std::uint64_t t = 0; t < 5; ++t) ASSERT_TRUE(t % 2 ? s.driver.add_one(readable(0), t) : s.driver.add(two, t));
    EXPECT_EQ(s.driver.free_descriptors(), 0u);
    s.driver.publish();
    const auto chains = s.device.pop_all();
    ASSERT_EQ(chains.size(), 5u);
    s.device.push_batch(chains[1].head, 0);
    s.device.push_batch(chains[2].head, 0);
    s.device.push_batch(chains[4].head, 0);
    std::vector<std::uint64_t> tokens;
    EXPECT_EQ(s.driver.drain_used([&](std::uint64_t t) { tokens.push_back(t); }), 5u);
    EXPECT_EQ(tokens, (std::vector<std::uint64_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(s.driver.free_descriptors(), 8u);
    EXPECT_EQ(s.driver.drain_used([&](std::uint64_t) {}), 0u);
  }
}

// §2.7.13.3 "idx always increments, and wraps naturally at 65536", and so does used idx: more
// than 2^16 chains of one to three descriptors (some indirect) through a ring of 8, in random
// bursts, completed in random order (or, in order, in random batches), taken one by one or
// drained, with event indices deciding the notifications. Every chain comes back once, in the
// order the device used it.
TEST(SplitRingWrap, SixteenBitIndicesWrapWithoutLosingAChain) {
  for (const bool in_order : {false, true}) {
    Split s({.size = 8, .event_idx = true, .in_order = in_order, .indirect_max = 3});
    std::mt19937 rng(in_order ? 7 : 8);
    const Segment three[] = {readable(0), writable(1), writable(2)};
    std::deque<std::uint64_t> posted;  // tokens made available, in order: the device pops them so
    std::vector<std::pair<SplitChain, std::uint64_t>> held;
    std::vector<std::uint64_t> expected, got;
    std::uint64_t next = 0;
    std::uint16_t avail = 0;
    while (next < 70000) {
      for (unsigned burst = rng() % 6 + 1; burst > 0; --burst) {
        const unsigned n = rng() % 3 + 1;
        const bool ok = rng() % 4 == 0 ? s.driver.add_indirect(std::span(three, n), next)
                        : n == 1       ? s.driver.add_one(three[0], next)
                                       : s.driver.add(std::span(three, n), next);
        if (!ok) break;
        posted.push_back(next++);
      }
      const std::uint16_t was = avail;
      avail = static_cast<std::uint16_t>(avail + posted.size());
      s.device.set_avail_event(static_cast<std::uint16_t>(was + rng() % 4));
      EXPECT_EQ(s.driver.publish(), s.device.driver_must_notify(was, avail));
      for (SplitChain& c : s.device.pop_all()) {
        held.emplace_back(std::move(c), posted.front());
        posted.pop_front();
      }
      ASSERT_TRUE(posted.empty());
      if (held.empty()) continue;
      if (in_order) {
        const std::size_t k = rng() % held.size() + 1;
        s.device.push_batch(held[k - 1].first.head, 0);
        for (std::size_t i = 0; i < k; ++i) expected.push_back(held[i].second);
        held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(k));
      } else {
        std::shuffle(held.begin(), held.end(), rng);
        const std::size_t k = rng() % held.size() + 1;
        for (std::size_t i = 0; i < k; ++i) {
          s.device.push(held[i].first, static_cast<std::uint32_t>(held[i].second));
          expected.push_back(held[i].second);
        }
        held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(k));
      }
      if (rng() % 2) {
        s.driver.drain_used([&](std::uint64_t t) { got.push_back(t); });
      } else {
        for (UsedChain u; s.driver.take_used(u);) {
          if (!in_order) {
            EXPECT_EQ(u.len, static_cast<std::uint32_t>(u.token));
          }
          got.push_back(u.token);
        }
      }
      ASSERT_FALSE(s.driver.broken()) << describe(s.driver.error());
    }
    EXPECT_EQ(got, expected) << in_order;
    EXPECT_EQ(s.device.avail_idx(), static_cast<std::uint16_t>(next));
    EXPECT_EQ(s.device.used_idx(), static_cast<std::uint16_t>(got.size()));
    EXPECT_EQ(s.driver.in_flight(), held.size());
  }
}

// §2.7.13.1 "Get the next free descriptor table entry": out of order, descriptors come back in
// any order and a new chain is built from exactly those given back (the model fails the test
// if one the device still holds is handed out).
TEST(SplitRingFreeList, OutOfOrderCompletionReusesExactlyTheFreedDescriptors) {
  Split s({.size = 4});
  for (std::uint64_t t = 0; t < 4; ++t) ASSERT_TRUE(s.driver.add_one(writable(0), t));
  s.driver.publish();
  const auto chains = s.device.pop_all();
  ASSERT_EQ(chains.size(), 4u);
  s.device.push(chains[2], 0);
  s.device.push(chains[0], 0);
  EXPECT_EQ(tokens_of(s.take_all()), (std::vector<std::uint64_t>{2, 0}));
  EXPECT_EQ(s.driver.free_descriptors(), 2u);
  const Segment two[] = {readable(5), writable(6)};
  ASSERT_TRUE(s.driver.add(two, 9));
  EXPECT_FALSE(s.driver.add_one(writable(7), 10));
  s.driver.publish();
  const auto c = s.device.pop();
  ASSERT_TRUE(c);
  EXPECT_EQ(std::set<std::uint16_t>(c->entries.begin(), c->entries.end()),
            (std::set<std::uint16_t>{chains[0].head, chains[2].head}));
  s.device.push(chains[3], 0);
  s.device.push(*c, 0);
  s.device.push(chains[1], 0);
  EXPECT_EQ(tokens_of(s.take_all()), (std::vector<std::uint64_t>{3, 9, 1}));
  EXPECT_EQ(s.driver.free_descriptors(), 4u);
}

}  // namespace
}  // namespace netfront::virtio::ring
