#include "cyray/object_store/object_store.h"

#include <gtest/gtest.h>

#include <cstring>
#include <unordered_map>

namespace cyray::object_store {

namespace {
ObjectID Id(uint32_t i) { return ObjectID::FromIndex(TaskID::ForDriverTask(JobID::FromInt(1)), i); }
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

class FakeSpillStorage : public SpillStorageInterface {
 public:
  Status Write(const ObjectID &id, const uint8_t *data, size_t size) override {
    files[id] = std::string(reinterpret_cast<const char *>(data), size);
    return Status::OK();
  }
  Status Read(const ObjectID &id, uint8_t *out, size_t size) override {
    auto it = files.find(id);
    if (it == files.end() || it->second.size() != size) return Status::IOError("missing");
    std::memcpy(out, it->second.data(), size);
    return Status::OK();
  }
  void Remove(const ObjectID &id) override { files.erase(id); }
  std::unordered_map<ObjectID, std::string> files;
};

class SpillingStoreTest : public ::testing::Test {
 protected:
  void PutFilled(uint32_t i, size_t size, char fill) {
    ObjectLocation loc;
    ASSERT_TRUE(store_.Create(Id(i), size, 0, 1, &loc).ok()) << i;
    std::memset(region_.data() + loc.offset, fill, size);
    ASSERT_TRUE(store_.Seal(Id(i), 1).ok());
  }
  std::vector<uint8_t> region_ = std::vector<uint8_t>(4096);
  Allocator allocator_{4096, 64};
  FakeSpillStorage spill_;
  ObjectStore store_{allocator_, region_.data(), &spill_};
};

TEST_F(SpillingStoreTest, FullStoreSpillsIdleObjectsAndRestoresThemOnGet) {
  PutFilled(1, 2048, 'a');
  PutFilled(2, 2048, 'b');
  PutFilled(3, 2048, 'c');  // no room: object 1 (least recently used) goes to disk
  EXPECT_EQ(spill_.files.count(Id(1)), 1u);
  EXPECT_EQ(store_.Stats().num_spilled, 1u);
  EXPECT_EQ(store_.Stats().spilled_bytes, 2048u);
  ObjectLocation loc;
  ASSERT_EQ(store_.Get(Id(1), 2, &loc), ObjectStore::GetResult::kFound);
  EXPECT_EQ(region_[loc.offset], 'a');
  EXPECT_EQ(region_[loc.offset + 2047], 'a');
  EXPECT_EQ(spill_.files.count(Id(1)), 0u) << "restored: the spill file goes";
  EXPECT_EQ(spill_.files.size(), 1u) << "another object made room for it";
}

TEST_F(SpillingStoreTest, ObjectsInUseAreNeverSpilled) {
  PutFilled(1, 2048, 'a');
  PutFilled(2, 2048, 'b');
  ObjectLocation loc;
  ASSERT_EQ(store_.Get(Id(1), 2, &loc), ObjectStore::GetResult::kFound);
  ASSERT_EQ(store_.Get(Id(2), 2, &loc), ObjectStore::GetResult::kFound);
  Status full = store_.Create(Id(3), 2048, 0, 1, &loc);
  EXPECT_EQ(full.code(), StatusCode::kObjectStoreFull);
  EXPECT_TRUE(spill_.files.empty());
  store_.Release(Id(2), 2);
  EXPECT_TRUE(store_.Create(Id(3), 2048, 0, 1, &loc).ok());
  EXPECT_EQ(spill_.files.count(Id(2)), 1u);
}

TEST_F(SpillingStoreTest, DeletingASpilledObjectRemovesItsFile) {
  PutFilled(1, 2048, 'a');
  PutFilled(2, 2048, 'b');
  PutFilled(3, 2048, 'c');
  ASSERT_EQ(spill_.files.count(Id(1)), 1u);
  store_.Delete(Id(1));
  EXPECT_TRUE(spill_.files.empty());
  EXPECT_EQ(store_.Stats().spilled_bytes, 0u);
  EXPECT_FALSE(store_.Contains(Id(1)));
}

TEST_F(SpillingStoreTest, SecondaryCopiesAreEvictedBeforePrimariesSpill) {
  PutFilled(1, 2048, 'a');  // primary, least recently used
  PutFilled(2, 2048, 'b');
  store_.MarkSecondary(Id(2));
  PutFilled(3, 2048, 'c');
  EXPECT_TRUE(spill_.files.empty()) << "nothing spilled while a secondary copy could go";
  EXPECT_FALSE(store_.Contains(Id(2)));
  EXPECT_TRUE(store_.Contains(Id(1)));
  PutFilled(4, 2048, 'd');  // no secondary left: the primary spills
  EXPECT_EQ(spill_.files.count(Id(1)), 1u);
}

}  // namespace cyray::object_store
