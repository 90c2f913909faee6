#include "cyray/core_worker/object_lifetimes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>
#include <thread>

namespace cyray::core {

namespace {

ObjectID Id(uint32_t i) { return ObjectID::FromIndex(TaskID::ForDriverTask(JobID::FromInt(1)), i); }

ObjectValuePtr InSharedMemory() {
  auto value = std::make_shared<ObjectValue>();
  value->in_plasma = true;
  return value;
}

// The core worker's wiring: the reference counter's out-of-scope callback frees.
class ObjectLifetimesTest : public ::testing::Test {
 protected:
  ObjectLifetimesTest() { lifetimes_.SetSelfAddress("me"); }

  MemoryStore store_;
  std::mutex deleted_mu_;
  std::multiset<ObjectID> shared_deleted_;
  std::atomic<int> released_{0};
  ReferenceCounter refs_{[this](const ObjectID &id, bool owned) {
    lifetimes_.Free(id, owned, store_.GetIfExists(id));
  }};
  ObjectLifetimes lifetimes_{refs_,
                             store_,
                             {[this](const ObjectID &id) {
                                std::lock_guard<std::mutex> lock(deleted_mu_);
                                shared_deleted_.insert(id);
                              },
                              [this](const ObjectID &) { released_++; }}};
};

TEST_F(ObjectLifetimesTest, AReturnWhoseRefIsGoneIsFreedOnArrival) {
  lifetimes_.StoreIfReferenced(Id(1), InSharedMemory(), /*owned=*/true);
  EXPECT_FALSE(store_.Contains(Id(1)));
  EXPECT_EQ(shared_deleted_.count(Id(1)), 1u);
}

TEST_F(ObjectLifetimesTest, AReturnLivesUntilItsLastReference) {
  refs_.AddOwnedObject(Id(1));
  refs_.AddLocalReference(Id(1));
  lifetimes_.StoreIfReferenced(Id(1), InSharedMemory(), true);
  EXPECT_TRUE(store_.Contains(Id(1)));
  EXPECT_TRUE(shared_deleted_.empty());
  refs_.RemoveLocalReference(Id(1));
  EXPECT_FALSE(store_.Contains(Id(1)));
  EXPECT_EQ(shared_deleted_.count(Id(1)), 1u);
  EXPECT_EQ(released_.load(), 1);
}

TEST_F(ObjectLifetimesTest, NestedRefsLiveAsLongAsTheirContainer) {
  refs_.AddOwnedObject(Id(2));  // the inner object, put by this process
  refs_.AddLocalReference(Id(2));
  store_.Put(Id(2), InSharedMemory());
  refs_.AddOwnedObject(Id(1));  // a return that holds it
  refs_.AddLocalReference(Id(1));
  auto outer = std::make_shared<ObjectValue>();
  outer->nested_refs.push_back({Id(2).Binary(), "me"});
  outer->nested_refs.push_back({Id(3).Binary(), "someone else"});  // not ours: not kept
  lifetimes_.StoreIfReferenced(Id(1), outer, true);
  refs_.RemoveLocalReference(Id(2));  // the inner's own ref goes first
  EXPECT_TRUE(store_.Contains(Id(2)));
  EXPECT_EQ(lifetimes_.NumContainers(), 1u);
  refs_.RemoveLocalReference(Id(1));  // then the container: both are freed
  EXPECT_FALSE(store_.Contains(Id(1)));
  EXPECT_FALSE(store_.Contains(Id(2)));
  EXPECT_EQ(shared_deleted_.count(Id(2)), 1u);
  EXPECT_EQ(lifetimes_.NumContainers(), 0u);
}

TEST_F(ObjectLifetimesTest, BorrowedValuesNeverDeleteTheSharedCopy) {
  refs_.AddBorrowedObject(Id(1), "owner");
  refs_.AddLocalReference(Id(1));
  lifetimes_.StoreIfReferenced(Id(1), InSharedMemory(), /*owned=*/false);
  refs_.RemoveLocalReference(Id(1));
  EXPECT_FALSE(store_.Contains(Id(1)));
  EXPECT_TRUE(shared_deleted_.empty());
}

// Returns arriving while their refs are released on other threads: whatever
// the interleaving, nothing stays in the memory store and every shared copy is
// deleted (run under TSAN and ASAN by scripts/sanitizer_tests.sh).
TEST_F(ObjectLifetimesTest, ConcurrentReturnsAndReleasesLeaveNothingBehind) {
  constexpr uint32_t kObjects = 2000;
  for (uint32_t i = 1; i <= kObjects; ++i) {
    refs_.AddOwnedObject(Id(i));
    refs_.AddLocalReference(Id(i));
  }
  std::vector<uint32_t> order(kObjects);
  for (uint32_t i = 0; i < kObjects; ++i) order[i] = i + 1;
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  std::thread arrivals([&] {
    for (uint32_t i = 1; i <= kObjects; ++i)
      lifetimes_.StoreIfReferenced(Id(i), InSharedMemory(), true);
  });
  std::thread releases([&] {
    for (uint32_t i : order) refs_.RemoveLocalReference(Id(i));
  });
  arrivals.join();
  releases.join();
  EXPECT_EQ(store_.Size(), 0u);
  EXPECT_EQ(refs_.Size(), 0u);
  for (uint32_t i = 1; i <= kObjects; ++i) {
    ASSERT_GE(shared_deleted_.count(Id(i)), 1u) << "object " << i << " leaked";
  }
}

}  // namespace
}  // namespace cyray::core
