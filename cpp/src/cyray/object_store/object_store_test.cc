#include "cyray/object_store/object_store.h"

#include <gtest/gtest.h>

namespace cyray::object_store {

namespace {
ObjectID Id(uint32_t i) {
  return ObjectID::FromIndex(TaskID::ForDriverTask(JobID::FromInt(1)), i);
}
}  // namespace

class ObjectStoreTest : public ::testing::Test {
 protected:
  Allocator allocator_{4096, 64};
  ObjectStore store_{allocator_};
  ObjectLocation loc_;
};

TEST_F(ObjectStoreTest, UnsealedObjectsAreInvisibleUntilSealed) {
  std::vector<ObjectID> sealed;
  store_.set_on_sealed([&](const ObjectID &id) { sealed.push_back(id); });
  ASSERT_TRUE(store_.Create(Id(1), 100, 8, /*client=*/1, &loc_).ok());
  EXPECT_EQ(loc_.data_size, 100u);
  EXPECT_EQ(store_.Get(Id(1), 2, &loc_), ObjectStore::GetResult::kNotSealed);
  EXPECT_FALSE(store_.Seal(Id(1), /*client=*/2).ok()) << "only the creator seals";
  ASSERT_TRUE(store_.Seal(Id(1), 1).ok());
  EXPECT_EQ(sealed, std::vector<ObjectID>{Id(1)});
  EXPECT_EQ(store_.Get(Id(1), 2, &loc_), ObjectStore::GetResult::kFound);
  EXPECT_FALSE(store_.Seal(Id(1), 1).ok()) << "sealed once";
}

TEST_F(ObjectStoreTest, DuplicateCreateIsRejected) {
  ASSERT_TRUE(store_.Create(Id(1), 10, 0, 1, &loc_).ok());
  EXPECT_EQ(store_.Create(Id(1), 10, 0, 1, &loc_).code(), StatusCode::kInvalid);
}

TEST_F(ObjectStoreTest, FullStoreSaysWhy) {
  Status too_big = store_.Create(Id(1), 10000, 0, 1, &loc_);
  EXPECT_EQ(too_big.code(), StatusCode::kObjectStoreFull);
  EXPECT_NE(too_big.message().find("whole object store"), std::string::npos);
  ASSERT_TRUE(store_.Create(Id(2), 4000, 0, 1, &loc_).ok());
  Status full = store_.Create(Id(3), 200, 0, 1, &loc_);
  EXPECT_EQ(full.code(), StatusCode::kObjectStoreFull);
  EXPECT_NE(full.message().find("in use"), std::string::npos);
}

TEST_F(ObjectStoreTest, DeleteWaitsForReaders) {
  ASSERT_TRUE(store_.Create(Id(1), 1000, 0, 1, &loc_).ok());
  ASSERT_TRUE(store_.Seal(Id(1), 1).ok());
  ASSERT_EQ(store_.Get(Id(1), 2, &loc_), ObjectStore::GetResult::kFound);
  ASSERT_EQ(store_.Get(Id(1), 2, &loc_), ObjectStore::GetResult::kFound);
  store_.Delete(Id(1));
  EXPECT_EQ(store_.Get(Id(1), 3, &loc_), ObjectStore::GetResult::kMissing)
      << "a deleted object is gone for new readers";
  EXPECT_GT(store_.Stats().used, 0u);
  store_.Release(Id(1), 2);
  EXPECT_GT(store_.Stats().used, 0u) << "one reference left";
  store_.Release(Id(1), 2);
  EXPECT_EQ(store_.Stats().used, 0u);
  EXPECT_FALSE(store_.Contains(Id(1)));
}

TEST_F(ObjectStoreTest, CreatorDisconnectAbortsHalfWrittenObjects) {
  ASSERT_TRUE(store_.Create(Id(1), 1000, 0, 1, &loc_).ok());
  ASSERT_TRUE(store_.Create(Id(2), 1000, 0, 1, &loc_).ok());
  ASSERT_TRUE(store_.Seal(Id(2), 1).ok());
  store_.DisconnectClient(1);
  EXPECT_FALSE(store_.Contains(Id(1)));
  EXPECT_TRUE(store_.Contains(Id(2))) << "sealed objects outlive their creator's connection";
  EXPECT_EQ(store_.Stats().num_unsealed, 0u);
}

TEST_F(ObjectStoreTest, ReaderDisconnectReleasesItsReferences) {
  ASSERT_TRUE(store_.Create(Id(1), 1000, 0, 1, &loc_).ok());
  ASSERT_TRUE(store_.Seal(Id(1), 1).ok());
  ASSERT_EQ(store_.Get(Id(1), 7, &loc_), ObjectStore::GetResult::kFound);
  store_.Delete(Id(1));
  EXPECT_TRUE(store_.Contains(Id(1)));
  store_.DisconnectClient(7);
  EXPECT_FALSE(store_.Contains(Id(1)));
  EXPECT_EQ(store_.Stats().used, 0u);
}

}  // namespace cyray::object_store
