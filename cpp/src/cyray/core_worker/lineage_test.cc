#include "cyray/core_worker/lineage.h"

#include <gtest/gtest.h>

#include <set>

namespace cyray::core {
namespace {

class LineageTableTest : public ::testing::Test {
 protected:
  // A retryable task `index` (one return) whose arguments in shared memory
  // are `args`.
  rpc::TaskSpec Task(uint64_t index, const std::vector<ObjectID> &args, int max_retries = 3) {
    rpc::TaskSpec spec;
    spec.set_task_id(TaskID::ForNormalTask(JobID::FromInt(1), TaskID(), index).Binary());
    spec.set_max_retries(max_retries);
    for (const ObjectID &arg : args) {
      auto *a = spec.add_args();
      a->set_in_plasma(true);
      a->mutable_object_ref()->set_object_id(arg.Binary());
    }
    return spec;
  }
  ObjectID Return(const rpc::TaskSpec &spec) {
    return ObjectID::FromIndex(TaskID::FromBinary(spec.task_id()), 1);
  }
  // Records `spec` with its one return in scope.
  ObjectID Run(const rpc::TaskSpec &spec) {
    ObjectID ret = Return(spec);
    in_scope.insert(ret);
    table.Record(spec, {ret});
    return ret;
  }
  void Release(const ObjectID &id) {
    in_scope.erase(id);
    table.OnOutOfScope(id);
  }

  std::set<ObjectID> in_scope;
  LineageTable table{[this](const ObjectID &id) { return in_scope.count(id) > 0; }};
};

TEST_F(LineageTableTest, KeptWhileInScope) {
  ObjectID x = Run(Task(1, {}));
  EXPECT_TRUE(table.CanRebuild(x));
  Release(x);
  EXPECT_FALSE(table.CanRebuild(x));
  EXPECT_EQ(table.NumObjects(), 0u);
  EXPECT_EQ(table.NumTasks(), 0u);
}

TEST_F(LineageTableTest, AnArgumentOutOfScopeIsKeptForALaterTaskAndRebuiltFirst) {
  ObjectID x = Run(Task(1, {}));
  ObjectID y = Run(Task(2, {x}));
  Release(x);  // the user dropped x; y's lineage still needs it
  EXPECT_EQ(table.NumTasks(), 2u);
  EXPECT_TRUE(table.CanRebuild(y));
  auto rebuild = table.StartRebuild(y);
  ASSERT_TRUE(rebuild.has_value());
  ASSERT_EQ(rebuild->args_to_rebuild.size(), 1u);
  EXPECT_EQ(rebuild->args_to_rebuild[0], x);
  // Once under way, a second loss of the same task does not start another.
  EXPECT_FALSE(table.StartRebuild(y).has_value());
  // Dropping y drops x's lineage too.
  Release(y);
  EXPECT_EQ(table.NumObjects(), 0u);
  EXPECT_EQ(table.NumTasks(), 0u);
}

TEST_F(LineageTableTest, AnArgumentInScopeOutlivesTheTaskThatPinnedIt) {
  ObjectID x = Run(Task(1, {}));
  ObjectID y = Run(Task(2, {x}));
  Release(y);
  EXPECT_TRUE(table.CanRebuild(x));
  EXPECT_EQ(table.NumTasks(), 1u);
  Release(x);
  EXPECT_EQ(table.NumTasks(), 0u);
}

TEST_F(LineageTableTest, ALongChainIsDroppedWhenItsLastObjectIs) {
  ObjectID previous = Run(Task(1, {}));
  for (uint64_t i = 2; i <= 50; ++i) {
    ObjectID next = Run(Task(i, {previous}));
    Release(previous);
    previous = next;
  }
  EXPECT_EQ(table.NumTasks(), 50u);
  EXPECT_TRUE(table.CanRebuild(previous));
  Release(previous);
  EXPECT_EQ(table.NumObjects(), 0u);
  EXPECT_EQ(table.NumTasks(), 0u);
}

TEST_F(LineageTableTest, NotRebuildableWhenATaskOnTheWayCannotRunAgain) {
  ObjectID x = Run(Task(1, {}, /*max_retries=*/0));
  ObjectID y = Run(Task(2, {x}));
  EXPECT_TRUE(table.CanRebuild(y));  // x is in scope: its value is still there
  Release(x);
  EXPECT_FALSE(table.CanRebuild(y));
}

TEST_F(LineageTableTest, AnArgumentWithoutLineageMustStayInScope) {
  ObjectID put = ObjectID::FromRandom();
  in_scope.insert(put);
  ObjectID y = Run(Task(1, {put}));
  EXPECT_TRUE(table.CanRebuild(y));
  in_scope.erase(put);
  EXPECT_FALSE(table.CanRebuild(y));
}

TEST_F(LineageTableTest, RetriesRunOut) {
  rpc::TaskSpec spec = Task(1, {}, /*max_retries=*/1);
  ObjectID x = Run(spec);
  ASSERT_TRUE(table.StartRebuild(x).has_value());
  spec.set_attempt_number(1);
  table.Record(spec, {x});  // the rebuild finished
  EXPECT_FALSE(table.CanRebuild(x));
  EXPECT_FALSE(table.EndRebuild(TaskID::FromBinary(spec.task_id())));
}

TEST_F(LineageTableTest, AReturnAlreadyOutOfScopeIsNotKept) {
  rpc::TaskSpec spec = Task(1, {});
  table.Record(spec, {Return(spec)});
  EXPECT_EQ(table.NumTasks(), 0u);
}

}  // namespace
}  // namespace cyray::core
