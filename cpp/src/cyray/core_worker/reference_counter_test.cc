#include "cyray/core_worker/reference_counter.h"

#include <gtest/gtest.h>

namespace cyray::core {

namespace {
ObjectID Id(uint32_t i) { return ObjectID::FromIndex(TaskID::ForDriverTask(JobID::FromInt(1)), i); }
}  // namespace

class ReferenceCounterTest : public ::testing::Test {
 protected:
  std::vector<ObjectID> deleted_;
  ReferenceCounter counter_{[this](const ObjectID &id, bool) { deleted_.push_back(id); }};
};

TEST_F(ReferenceCounterTest, LastLocalReferenceDeletes) {
  counter_.AddOwnedObject(Id(1));
  counter_.AddLocalReference(Id(1));
  counter_.AddLocalReference(Id(1));
  counter_.RemoveLocalReference(Id(1));
  EXPECT_TRUE(deleted_.empty());
  counter_.RemoveLocalReference(Id(1));
  EXPECT_EQ(deleted_, std::vector<ObjectID>{Id(1)});
  EXPECT_FALSE(counter_.Has(Id(1)));
}

TEST_F(ReferenceCounterTest, SubmittedTasksKeepArgumentsAlive) {
  counter_.AddOwnedObject(Id(1));
  counter_.AddLocalReference(Id(1));
  counter_.AddSubmittedTaskReferences({Id(1)});
  counter_.RemoveLocalReference(Id(1));
  EXPECT_TRUE(counter_.Has(Id(1)));
  counter_.RemoveSubmittedTaskReferences({Id(1)});
  EXPECT_FALSE(counter_.Has(Id(1)));
  EXPECT_EQ(deleted_.size(), 1u);
}

TEST_F(ReferenceCounterTest, BorrowedObjectsRememberTheirOwner) {
  counter_.AddBorrowedObject(Id(2), "owner-address");
  counter_.AddLocalReference(Id(2));
  EXPECT_FALSE(counter_.IsOwned(Id(2)));
  EXPECT_EQ(counter_.BorrowedOwnerAddress(Id(2)).value(), "owner-address");
  counter_.AddOwnedObject(Id(3));
  EXPECT_FALSE(counter_.BorrowedOwnerAddress(Id(3)).has_value());
  EXPECT_TRUE(counter_.IsOwned(Id(3)));
}

TEST_F(ReferenceCounterTest, BorrowersKeepOwnedObjectsAlive) {
  counter_.AddOwnedObject(Id(4));
  counter_.AddLocalReference(Id(4));
  ASSERT_TRUE(counter_.AddBorrower(Id(4)));
  counter_.RemoveLocalReference(Id(4));
  EXPECT_TRUE(counter_.Has(Id(4)));
  counter_.RemoveBorrower(Id(4));
  EXPECT_FALSE(counter_.Has(Id(4)));
  EXPECT_FALSE(counter_.AddBorrower(Id(4))) << "gone objects take no borrowers";
}

TEST_F(ReferenceCounterTest, OwnerIsToldOncePerBorrow) {
  EXPECT_TRUE(counter_.AddBorrowedObject(Id(5), "owner"));
  counter_.AddLocalReference(Id(5));
  EXPECT_FALSE(counter_.AddBorrowedObject(Id(5), "owner"));
  counter_.RemoveLocalReference(Id(5));
  EXPECT_TRUE(counter_.AddBorrowedObject(Id(5), "owner")) << "a new borrow after the last";
}

TEST_F(ReferenceCounterTest, RemovingUnknownReferencesIsHarmless) {
  counter_.RemoveLocalReference(Id(9));
  counter_.RemoveSubmittedTaskReferences({Id(9)});
  EXPECT_TRUE(deleted_.empty());
  EXPECT_EQ(counter_.Size(), 0u);
}

}  // namespace cyray::core
