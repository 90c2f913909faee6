#include "cyray/common/id.h"

#include <gtest/gtest.h>

#include <unordered_set>

namespace cyray {

TEST(IdTest, SizesMatchRayLayouts) {
  EXPECT_EQ(JobID::kSize, 4u);
  EXPECT_EQ(ActorID::kSize, 16u);
  EXPECT_EQ(TaskID::kSize, 24u);
  EXPECT_EQ(ObjectID::kSize, 28u);
  EXPECT_EQ(NodeID::kSize, 28u);
  EXPECT_EQ(WorkerID::kSize, 28u);
  EXPECT_EQ(PlacementGroupID::kSize, 18u);
}

TEST(IdTest, NilIsAllOnes) {
  EXPECT_TRUE(ObjectID::Nil().IsNil());
  EXPECT_EQ(JobID::Nil().Hex(), "ffffffff");
  EXPECT_FALSE(NodeID::FromRandom().IsNil());
}

TEST(IdTest, HexAndBinaryRoundTrip) {
  NodeID id = NodeID::FromRandom();
  EXPECT_EQ(NodeID::FromHex(id.Hex()), id);
  EXPECT_EQ(NodeID::FromBinary(id.Binary()), id);
  EXPECT_EQ(id.Hex().size(), 56u);
  EXPECT_TRUE(NodeID::FromHex("zz").IsNil());
  EXPECT_TRUE(NodeID::FromBinary("short").IsNil());
  EXPECT_EQ(JobID::FromHex("0A0b0C0d").Hex(), "0a0b0c0d");
}

TEST(IdTest, RandomIdsDiffer) {
  std::unordered_set<WorkerID> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(WorkerID::FromRandom());
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(IdTest, JobIdFromInt) {
  JobID job = JobID::FromInt(7);
  EXPECT_EQ(job.ToInt(), 7u);
  EXPECT_EQ(job.Hex(), "07000000");
}

TEST(IdTest, TaskIdEmbedsJobAndIsDeterministic) {
  JobID job = JobID::FromInt(3);
  TaskID driver = TaskID::ForDriverTask(job);
  TaskID a = TaskID::ForNormalTask(job, driver, 1);
  TaskID b = TaskID::ForNormalTask(job, driver, 1);
  TaskID c = TaskID::ForNormalTask(job, driver, 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a.JobId(), job);
  EXPECT_EQ(driver.JobId(), job);
  EXPECT_NE(a, driver);
}

TEST(IdTest, ObjectIdDerivesFromTaskAndIndex) {
  JobID job = JobID::FromInt(1);
  TaskID task = TaskID::ForNormalTask(job, TaskID::ForDriverTask(job), 9);
  ObjectID o1 = ObjectID::FromIndex(task, 1);
  ObjectID o2 = ObjectID::FromIndex(task, 2);
  EXPECT_NE(o1, o2);
  EXPECT_EQ(o1.TaskId(), task);
  EXPECT_EQ(o2.ObjectIndex(), 2u);
  EXPECT_EQ(o1.Hex().substr(0, 48), task.Hex());
}

TEST(IdTest, ActorAndPlacementGroupIdsNameTheirJob) {
  JobID job = JobID::FromInt(42);
  ActorID actor = ActorID::Of(job, TaskID::ForDriverTask(job), 1);
  EXPECT_EQ(actor.JobId(), job);
  EXPECT_EQ(TaskID::ForActorCreationTask(actor).ActorId(), actor);
  EXPECT_EQ(PlacementGroupID::Of(job).JobId(), job);
  EXPECT_EQ(ActorID::NilFromJob(job).JobId(), job);
}

}  // namespace cyray
