#include "cyray/object_store/allocator.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace cyray::object_store {

TEST(AllocatorTest, AllocationsAreAlignedAndDisjoint) {
  Allocator alloc(1024, 64);
  auto a = alloc.Allocate(10);
  auto b = alloc.Allocate(100);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a % 64, 0u);
  EXPECT_EQ(*b % 64, 0u);
  EXPECT_GE(*b, *a + 64);
  EXPECT_EQ(alloc.used(), 64u + 128u);
}

TEST(AllocatorTest, FullStoreRefusesThenAcceptsAfterFree) {
  Allocator alloc(256, 64);
  auto a = alloc.Allocate(128);
  auto b = alloc.Allocate(128);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(alloc.Allocate(1).has_value());
  EXPECT_TRUE(alloc.Free(*a));
  EXPECT_TRUE(alloc.Allocate(128).has_value());
}

TEST(AllocatorTest, LargerThanCapacityIsRefused) {
  Allocator alloc(1024, 64);
  EXPECT_FALSE(alloc.Allocate(2048).has_value());
  EXPECT_EQ(alloc.used(), 0u);
}

TEST(AllocatorTest, FreeingCoalescesNeighbours) {
  Allocator alloc(64 * 4, 64);
  auto a = alloc.Allocate(64), b = alloc.Allocate(64), c = alloc.Allocate(64),
       d = alloc.Allocate(64);
  ASSERT_TRUE(a && b && c && d);
  alloc.Free(*a);
  alloc.Free(*c);
  // Fragmented: two free ranges of 64, no room for 128.
  EXPECT_EQ(alloc.LargestFreeRange(), 64u);
  EXPECT_FALSE(alloc.Allocate(128).has_value());
  alloc.Free(*b);  // joins a, b and c
  EXPECT_EQ(alloc.LargestFreeRange(), 192u);
  alloc.Free(*d);
  EXPECT_EQ(alloc.LargestFreeRange(), 256u);
  EXPECT_EQ(alloc.used(), 0u);
}

TEST(AllocatorTest, DoubleOrBogusFreeIsRejected) {
  Allocator alloc(1024, 64);
  auto a = alloc.Allocate(64);
  EXPECT_TRUE(alloc.Free(*a));
  EXPECT_FALSE(alloc.Free(*a));
  EXPECT_FALSE(alloc.Free(12345));
}

TEST(AllocatorTest, RandomWorkloadReturnsToOneFreeRange) {
  Allocator alloc(1 << 20, 64);
  std::mt19937 rng(7);
  std::vector<size_t> live;
  for (int i = 0; i < 5000; ++i) {
    if (!live.empty() && (rng() % 2 == 0)) {
      size_t k = rng() % live.size();
      ASSERT_TRUE(alloc.Free(live[k]));
      live.erase(live.begin() + static_cast<long>(k));
    } else if (auto off = alloc.Allocate(1 + rng() % 4096)) {
      live.push_back(*off);
    }
  }
  for (size_t off : live) ASSERT_TRUE(alloc.Free(off));
  EXPECT_EQ(alloc.used(), 0u);
  EXPECT_EQ(alloc.LargestFreeRange(), alloc.capacity());
}

}  // namespace cyray::object_store
