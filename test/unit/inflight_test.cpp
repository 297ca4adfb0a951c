// InflightTracker, the driver's private record of the chains it gave the device (checklist B4:
// completion goes by this record, never by the ring): chains started and finished by id out
// of order, and in order (VIRTIO_F_IN_ORDER, §2.7.9 / §2.8.8) where each chain's id is where
// the one before ended, one used entry completes a batch of the oldest, and ids wrap around a
// queue size that need not be a power of two (packed rings, §2.8.10.1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "drivers/virtio/ring/inflight.hpp"

namespace netfront::virtio::ring {
namespace {

TEST(InflightTracker, StartAndFinishTrackWhatIsOutstanding) {
  InflightTracker t(8);
  EXPECT_EQ(t.count(), 0u);
  for (std::uint32_t id = 0; id < 8; ++id) EXPECT_FALSE(t.outstanding(id));
  t.start(3, 33, 2);
  t.start(6, 66, 1);
  EXPECT_EQ(t.count(), 2u);
  EXPECT_TRUE(t.outstanding(3));
  EXPECT_TRUE(t.outstanding(6));
  EXPECT_FALSE(t.outstanding(4));  // inside chain 3, not a chain of its own
  // Beyond the queue. Ids from a vector, not constants: GCC 12 at -O2 folds a constant into
  // outstanding() and warns (-Warray-bounds) about the access its bounds check rules out.
  for (const std::uint32_t id : std::vector<std::uint32_t>{8, 0x10003, 0xffffffff})
    EXPECT_FALSE(t.outstanding(id)) << id;
  const CompletedChain c = t.finish(6);
  EXPECT_EQ(c.token, 66u);
  EXPECT_EQ(c.descriptors, 1u);
  EXPECT_FALSE(t.outstanding(6));
  EXPECT_TRUE(t.outstanding(3));
  EXPECT_EQ(t.count(), 1u);
  const CompletedChain d = t.finish(3);
  EXPECT_EQ(d.token, 33u);
  EXPECT_EQ(d.descriptors, 2u);
  EXPECT_EQ(t.count(), 0u);
}

// In order, a used entry naming the k-th oldest chain completes k + 1 chains (§2.7.9, §2.8.8:
// "a single used ring entry with the id corresponding to the head entry of the descriptor
// chain describing the last buffer in the batch"); an id not in flight completes none.
TEST(InflightTracker, BatchEndingAtCountsTheChainsFromTheOldest) {
  InflightTracker t(8);
  t.start(0, 100, 2);  // 0-1
  t.start(2, 101, 3);  // 2-4
  t.start(5, 102, 1);  // 5
  EXPECT_EQ(t.batch_ending_at(0), 1u);
  EXPECT_EQ(t.batch_ending_at(2), 2u);
  EXPECT_EQ(t.batch_ending_at(5), 3u);
  for (const std::uint16_t id : {1, 3, 4, 6, 7, 8, 0xffff}) EXPECT_EQ(t.batch_ending_at(id), 0u) << id;
  t.finish_oldest();
  EXPECT_EQ(t.batch_ending_at(0), 0u);
  EXPECT_EQ(t.batch_ending_at(2), 1u);
  EXPECT_EQ(t.batch_ending_at(5), 2u);
}

TEST(InflightTracker, FinishOldestOneAtATimeFollowsEachChainsLength) {
  InflightTracker t(8);
  t.start(0, 100, 2);
  t.start(2, 101, 3);
  t.start(5, 102, 1);
  const std::pair<std::uint64_t, std::uint16_t> expected[] = {{100, 2}, {101, 3}, {102, 1}};
  for (const auto& [token, descriptors] : expected) {
    const CompletedChain c = t.finish_oldest();
    EXPECT_EQ(c.token, token);
    EXPECT_EQ(c.descriptors, descriptors);
  }
  EXPECT_EQ(t.count(), 0u);
  t.start(6, 103, 1);  // the next chain starts where the last ended
  EXPECT_EQ(t.batch_ending_at(6), 1u);
  EXPECT_EQ(t.finish_oldest().token, 103u);
}

TEST(InflightTracker, FinishOldestKAtATimeCallsEachInOrder) {
  InflightTracker t(8);
  t.start(0, 100, 2);
  t.start(2, 101, 3);
  t.start(5, 102, 1);
  t.start(6, 103, 2);  // 6-7
  std::vector<CompletedChain> done;
  t.finish_oldest(3, [&](const CompletedChain& c) { done.push_back(c); });
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[0].token, 100u);
  EXPECT_EQ(done[1].token, 101u);
  EXPECT_EQ(done[2].token, 102u);
  EXPECT_EQ(done[1].descriptors, 3u);
  EXPECT_EQ(t.count(), 1u);
  EXPECT_FALSE(t.outstanding(0));
  EXPECT_FALSE(t.outstanding(2));
  EXPECT_FALSE(t.outstanding(5));
  EXPECT_EQ(t.batch_ending_at(6), 1u);
  t.finish_oldest(0, [&](const CompletedChain& c) { done.push_back(c); });
  EXPECT_EQ(done.size(), 3u);
  EXPECT_EQ(t.finish_oldest().token, 103u);
}

// After a device reset everything in flight is dropped once, and ids start from 0 again (the
// rings start over from their first entry).
TEST(InflightTracker, ClearDropsEveryChainOnceAndStartsOverFromIdZero) {
  InflightTracker t(8);
  t.start(0, 100, 2);
  t.start(2, 101, 3);
  t.finish_oldest();
  t.start(5, 102, 1);
  std::vector<std::uint64_t> dropped;
  t.clear([&](std::uint64_t token) { dropped.push_back(token); });
  std::sort(dropped.begin(), dropped.end());
  EXPECT_EQ(dropped, (std::vector<std::uint64_t>{101, 102}));
  EXPECT_EQ(t.count(), 0u);
  for (std::uint32_t id = 0; id < 8; ++id) EXPECT_FALSE(t.outstanding(id));
  t.start(0, 200, 1);
  EXPECT_EQ(t.batch_ending_at(0), 1u);
  EXPECT_EQ(t.finish_oldest().token, 200u);
  t.clear([&](std::uint64_t token) { dropped.push_back(token); });
  EXPECT_EQ(dropped.size(), 2u);  // nothing more in flight, nothing more dropped
}

// In order, ids run around a queue of 5 (a packed ring need not be a power of two, §2.8.10.1)
// by each chain's length, for more than 2^16 chains (the tracker's posting order is 16 bits):
// every batch ends where a shadow of the ids says, and comes out oldest first.
TEST(InflightTracker, InOrderIdsWrapAroundAQueueSizeThatIsNotAPowerOfTwo) {
  constexpr std::uint16_t n = 5;
  InflightTracker t(n);
  struct Chain {
    std::uint16_t id, descriptors;
    std::uint64_t token;
  };
  std::deque<Chain> shadow;
  unsigned next_id = 0, free = n;
  std::uint64_t token = 0, finished = 0;
  std::uint32_t seed = 1;
  const auto random = [&](unsigned m) {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) % m;
  };
  while (finished < 70000) {
    while (free > 0) {
      const auto d = static_cast<std::uint16_t>(random(std::min(free, 3u)) + 1);
      t.start(static_cast<std::uint16_t>(next_id), token, d);
      shadow.push_back({static_cast<std::uint16_t>(next_id), d, token++});
      next_id = (next_id + d) % n;
      free -= d;
      if (random(2)) break;
    }
    ASSERT_EQ(t.count(), shadow.size());
    if (shadow.empty()) continue;
    const unsigned k = random(static_cast<unsigned>(shadow.size())) + 1;
    ASSERT_EQ(t.batch_ending_at(shadow[k - 1].id), k) << "after " << finished;
    const auto check = [&](const CompletedChain& c) {
      EXPECT_EQ(c.token, shadow.front().token);
      EXPECT_EQ(c.descriptors, shadow.front().descriptors);
      free += shadow.front().descriptors;
      shadow.pop_front();
      ++finished;
    };
    if (random(2)) {
      t.finish_oldest(static_cast<std::uint16_t>(k), check);
    } else {
      for (unsigned i = 0; i < k; ++i) check(t.finish_oldest());
    }
  }
  EXPECT_EQ(t.count(), shadow.size());
}

}  // namespace
}  // namespace netfront::virtio::ring
