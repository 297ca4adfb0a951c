// RingQueue: values in order across growth and wrap-around, and slots that keep what they own.
#include <gtest/gtest.h>

#include <vector>

#include "netfront/detail/ring_queue.hpp"

namespace netfront::detail {
namespace {

TEST(RingQueueTest, ValuesComeOutInOrderAcrossGrowthAndWrapAround) {
  RingQueue<int> q(4);
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < round % 7 + 1; ++i) q.push(next_in++);  // grows past 4, then wraps
    for (int i = 0; i < round % 5 && !q.empty(); ++i) EXPECT_EQ(q.pop(), next_out++);
  }
  while (!q.empty()) EXPECT_EQ(q.pop(), next_out++);
  EXPECT_EQ(next_in, next_out);
  EXPECT_EQ(q.size(), 0u);
}

TEST(RingQueueTest, ASlotKeepsWhatItOwnsForTheNextItemPutThere) {
  RingQueue<std::vector<int>> q(2);
  std::vector<int>& first = q.push_slot();
  first.assign(100, 7);
  const auto* storage = first.data();
  q.pop_front();
  q.push_slot();      // the second slot
  q.pop_front();
  std::vector<int>& again = q.push_slot();  // the first slot once more, with its contents
  EXPECT_EQ(again.data(), storage);
  EXPECT_EQ(again.size(), 100u);
  // Growing moves the queued slots in order.
  q.push_slot().assign(1, 1);
  q.push_slot().assign(1, 2);
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q.front().size(), 100u);
  q.pop_front();
  EXPECT_EQ(q.front(), std::vector<int>{1});
  q.pop_front();
  EXPECT_EQ(q.front(), std::vector<int>{2});
}

}  // namespace
}  // namespace netfront::detail
