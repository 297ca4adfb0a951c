#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <vector>

#include "netfront/buffer.hpp"
#include "netfront/packet_pool.hpp"
#include "netfront/page_pool.hpp"

namespace netfront {
namespace {

class BufferTest : public testing::Test {
 protected:
  void SetUp() override {
    auto made = PacketPool::create({.size = 63, .cache = 0});
    ASSERT_TRUE(made) << made.error().to_string();
    pool_.emplace(std::move(*made));
  }
  void TearDown() override {
    // Every test must give back every mbuf it took: no view outlives its test.
    EXPECT_EQ(pool_->in_use(), 0u);
  }
  Buffer make(std::size_t n) {
    auto b = Buffer::create(pool_->get(), n);
    EXPECT_TRUE(b) << b.error().to_string();
    return std::move(*b);
  }
  std::optional<PacketPool> pool_;
};

TEST_F(BufferTest, CreateIsZeroFilledAndSized) {
  Buffer b = make(100);
  EXPECT_EQ(b.length(), 100u);
  for (std::size_t i = 0; i < b.length(); ++i) ASSERT_EQ(b.get_u8(i), 0);
  EXPECT_EQ(pool_->in_use(), 1u);
}

TEST_F(BufferTest, CopyFromCopiesOnce) {
  std::array<std::byte, 5> src{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5}};
  auto b = Buffer::copy_from(pool_->get(), src);
  ASSERT_TRUE(b);
  src[0] = std::byte{9};  // the buffer owns its own copy
  EXPECT_EQ(b->get_u8(0), 1);
  EXPECT_EQ(b->get_u8(4), 5);
}

TEST_F(BufferTest, TooLargeForAPoolBufferIsAnErrorAndLeaksNothing) {
  auto b = Buffer::create(pool_->get(), 1 << 16);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message().find("does not fit"), std::string::npos);
}

TEST_F(BufferTest, ExhaustedPoolIsAnError) {
  std::vector<Buffer> all;
  for (;;) {
    auto b = Buffer::create(pool_->get(), 10);
    if (!b) {
      EXPECT_NE(b.error().message().find("exhausted"), std::string::npos);
      break;
    }
    all.push_back(std::move(*b));
  }
  EXPECT_EQ(all.size(), pool_->capacity());
}

TEST_F(BufferTest, SubSharesBytesWithoutCopying) {
  Buffer b = make(64);
  Buffer s = b.sub(10, 20);
  EXPECT_EQ(s.length(), 20u);
  EXPECT_EQ(s.data(), b.data() + 10);
  EXPECT_EQ(s.offset(), b.offset() + 10);
  EXPECT_EQ(s.iova(), b.iova() + 10);
  s.set_u8(0, 0xab);
  EXPECT_EQ(b.get_u8(10), 0xab);
  EXPECT_EQ(b.refcount(), 2u);
  EXPECT_EQ(pool_->in_use(), 1u);
}

TEST_F(BufferTest, ShiftAndSplitCoverTheWholeView) {
  Buffer b = make(30);
  for (std::size_t i = 0; i < 30; ++i) b.set_u8(i, static_cast<std::uint8_t>(i));
  Buffer tail = b.shift(12);
  EXPECT_EQ(tail.length(), 18u);
  EXPECT_EQ(tail.get_u8(0), 12);
  auto [head, rest] = b.split(7);
  EXPECT_EQ(head.length(), 7u);
  EXPECT_EQ(rest.length(), 23u);
  EXPECT_EQ(rest.get_u8(0), 7);
  EXPECT_EQ(b.shift(30).length(), 0u);  // shifting to the very end is an empty view
  EXPECT_EQ(b.refcount(), 4u);
}

TEST_F(BufferTest, OutOfBoundsAccessThrowsAndNamesTheRange) {
  Buffer b = make(8);
  EXPECT_THROW((void)b.sub(4, 5), std::out_of_range);
  EXPECT_THROW((void)b.shift(9), std::out_of_range);
  EXPECT_THROW((void)b.split(9), std::out_of_range);
  EXPECT_THROW((void)b.get_be16(7), std::out_of_range);
  EXPECT_THROW((void)b.get_le64(1), std::out_of_range);
  EXPECT_THROW(b.set_be32(5, 1), std::out_of_range);
  EXPECT_THROW((void)b.sub(SIZE_MAX, 2), std::out_of_range);  // no wrap-around in the check
  EXPECT_NO_THROW((void)b.get_le64(0));
  try {
    (void)b.get_be32(6);
    FAIL();
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "netfront::Buffer: 4 bytes at offset 6 are outside a buffer of 8 bytes");
  }
}

TEST_F(BufferTest, BigAndLittleEndianAccessors) {
  Buffer b = make(16);
  b.set_be16(0, 0x1234);
  EXPECT_EQ(b.get_u8(0), 0x12);
  EXPECT_EQ(b.get_u8(1), 0x34);
  EXPECT_EQ(b.get_le16(0), 0x3412);
  b.set_le32(2, 0xa1b2c3d4);
  EXPECT_EQ(b.get_u8(2), 0xd4);
  EXPECT_EQ(b.get_be32(2), 0xd4c3b2a1u);
  b.set_be64(8, 0x0102030405060708ull);
  EXPECT_EQ(b.get_u8(8), 0x01);
  EXPECT_EQ(b.get_u8(15), 0x08);
  EXPECT_EQ(b.get_le64(8), 0x0807060504030201ull);
  b.set_le64(8, 0x1122334455667788ull);
  EXPECT_EQ(b.get_be64(8), 0x8877665544332211ull);
  // Unaligned offsets work.
  b.set_be32(3, 0xdeadbeef);
  EXPECT_EQ(b.get_be32(3), 0xdeadbeefu);
}

TEST_F(BufferTest, CopiesShareAndLastViewReturnsTheMbuf) {
  {
    Buffer a = make(10);
    Buffer copy = a;
    EXPECT_EQ(a.refcount(), 2u);
    Buffer moved = std::move(copy);
    EXPECT_EQ(a.refcount(), 2u);
    EXPECT_EQ(copy.mbuf(), nullptr);  // NOLINT: a moved-from view is empty
    a = Buffer();
    EXPECT_EQ(moved.refcount(), 1u);
    EXPECT_EQ(pool_->in_use(), 1u);
  }
  EXPECT_EQ(pool_->in_use(), 0u);
}

TEST_F(BufferTest, AdoptTakesTheCallersReferenceAndShareAddsOne) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_->get());
  ASSERT_NE(m, nullptr);
  rte_pktmbuf_append(m, 60);
  {
    Buffer shared = Buffer::share(m);
    EXPECT_EQ(shared.length(), 60u);
    EXPECT_EQ(rte_mbuf_refcnt_read(m), 2u);
  }
  EXPECT_EQ(rte_mbuf_refcnt_read(m), 1u);
  { Buffer owner = Buffer::adopt(m); }
  EXPECT_EQ(pool_->in_use(), 0u);
}

TEST_F(BufferTest, PrependGrowsIntoHeadroom) {
  Buffer b = make(20);
  ASSERT_GE(b.headroom(), 12u);
  Buffer with_header = b.prepend(12);
  EXPECT_EQ(with_header.length(), 32u);
  EXPECT_EQ(with_header.data() + 12, b.data());
  EXPECT_THROW((void)b.prepend(b.headroom() + 1), std::out_of_range);
}

TEST_F(BufferTest, CopyInCopyOutAndFill) {
  Buffer b = make(6);
  const std::array<std::byte, 3> in{std::byte{7}, std::byte{8}, std::byte{9}};
  b.copy_in(3, in);
  std::array<std::byte, 4> out{};
  b.copy_out(2, out);
  EXPECT_EQ(out[0], std::byte{0});
  EXPECT_EQ(out[1], std::byte{7});
  EXPECT_EQ(out[3], std::byte{9});
  EXPECT_THROW(b.copy_in(4, in), std::out_of_range);
  b.fill(std::byte{0xff});
  EXPECT_EQ(b.get_be16(4), 0xffff);
}

TEST(PagePoolTest, BuffersArePageAlignedWholePagesAndReturnToThePool) {
  auto pool = PagePool::create(2, 4);
  ASSERT_TRUE(pool) << pool.error().to_string();
  {
    auto page = pool->get();
    ASSERT_TRUE(page) << page.error().to_string();
    EXPECT_EQ(page->pages(), 2u);
    EXPECT_EQ(page->length(), 8192u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(page->data()) % 4096, 0u);
    EXPECT_EQ(page->as_buffer().iova() % 4096, 0u);
    Buffer view = page->as_buffer().sub(4096, 100);  // Io_page.to_cstruct, then slice
    view.set_be32(0, 42);
    EXPECT_EQ(page->as_buffer().get_be32(4096), 42u);
    EXPECT_EQ(pool->in_use(), 1u);
  }
  EXPECT_EQ(pool->in_use(), 0u);
}

TEST(PacketPoolTest, ASmallPoolTakesTheLargestCacheItCanHaveAndHandsOutEveryBuffer) {
  for (unsigned size : {1u, 15u, 255u}) {
    auto pool = PacketPool::create({.size = size});  // the default cache (256) is too big for these
    ASSERT_TRUE(pool) << size << ": " << pool.error().to_string();
    std::vector<rte_mbuf*> taken(size);
    ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool->get(), taken.data(), size), 0) << size;
    EXPECT_EQ(rte_pktmbuf_alloc(pool->get()), nullptr) << size;
    rte_pktmbuf_free_bulk(taken.data(), size);
  }
}

TEST(PacketPoolTest, AMovedFromPoolHasNoBuffersAndSaysSo) {
  auto pool = PacketPool::create({.size = 63});
  ASSERT_TRUE(pool);
  PacketPool moved = std::move(*pool);
  EXPECT_EQ(pool->get(), nullptr);
  EXPECT_EQ(pool->in_use(), 0u);
  EXPECT_EQ(pool->capacity(), 0u);
  EXPECT_EQ(pool->data_room(), 0u);
  EXPECT_EQ(moved.capacity(), 63u);
  auto pages = PagePool::create(1, 4);
  ASSERT_TRUE(pages);
  PagePool kept = std::move(*pages);
  EXPECT_EQ(pages->in_use(), 0u);
  EXPECT_FALSE(pages->get());
  auto other = PagePool::create(1, 2);
  ASSERT_TRUE(other);
  kept = std::move(*other);  // the first pool is freed, the second one kept
  auto page = kept.get();
  ASSERT_TRUE(page);
  EXPECT_EQ(kept.in_use(), 1u);
}

TEST(PagePoolTest, BadSizesAreErrors) {
  EXPECT_FALSE(PagePool::create(0, 4));
  EXPECT_FALSE(PagePool::create(16, 4));
  EXPECT_FALSE(PagePool::create(1, 0));
}

}  // namespace
}  // namespace netfront
