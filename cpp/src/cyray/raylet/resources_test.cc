#include "cyray/raylet/resources.h"

#include <gtest/gtest.h>

namespace cyray::raylet {

TEST(NodeResourcesTest, AllocateAndReleasePlainResources) {
  NodeResources node({{"CPU", 2}, {"custom", 1}});
  auto a = node.Allocate({{"CPU", 1.5}});
  ASSERT_TRUE(a.has_value());
  EXPECT_DOUBLE_EQ(node.Available()["CPU"], 0.5);
  EXPECT_FALSE(node.CanAllocate({{"CPU", 1}}));
  EXPECT_TRUE(node.CanAllocate({{"CPU", 0.5}, {"custom", 1}}));
  node.Release(*a);
  EXPECT_DOUBLE_EQ(node.Available()["CPU"], 2);
}

TEST(NodeResourcesTest, FeasibilityUsesTotals) {
  NodeResources node({{"CPU", 2}});
  EXPECT_TRUE(node.IsFeasible({{"CPU", 2}}));
  EXPECT_FALSE(node.IsFeasible({{"CPU", 3}}));
  EXPECT_FALSE(node.IsFeasible({{"GPU", 1}}));
  EXPECT_TRUE(node.IsFeasible({{"GPU", 0}}));
}

TEST(NodeResourcesTest, GpusAreHandedOutAsDistinctInstances) {
  NodeResources node({{"CPU", 4}, {"GPU", 2}});
  auto a = node.Allocate({{"GPU", 1}});
  auto b = node.Allocate({{"GPU", 1}});
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->instances["GPU"].size(), 1u);
  ASSERT_EQ(b->instances["GPU"].size(), 1u);
  EXPECT_NE(a->instances["GPU"].begin()->first, b->instances["GPU"].begin()->first);
  EXPECT_FALSE(node.Allocate({{"GPU", 1}}).has_value());
  node.Release(*a);
  auto c = node.Allocate({{"GPU", 1}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->instances["GPU"].begin()->first, a->instances["GPU"].begin()->first);
}

TEST(NodeResourcesTest, FractionalGpusShareAnInstance) {
  NodeResources node({{"GPU", 1}});
  auto a = node.Allocate({{"GPU", 0.5}});
  auto b = node.Allocate({{"GPU", 0.5}});
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(node.CanAllocate({{"GPU", 0.5}}));
  node.Release(*a);
  EXPECT_TRUE(node.CanAllocate({{"GPU", 0.5}}));
  EXPECT_FALSE(node.CanAllocate({{"GPU", 1}}));
}

TEST(NodeResourcesTest, BlockedWorkerCpuCanBeLentAndTakenBack) {
  NodeResources node({{"CPU", 1}});
  auto a = node.Allocate({{"CPU", 1}});
  node.ReleaseCpu(1);
  EXPECT_TRUE(node.CanAllocate({{"CPU", 1}}));
  auto b = node.Allocate({{"CPU", 1}});
  node.ReacquireCpu(1);
  EXPECT_DOUBLE_EQ(node.Available()["CPU"], -1);
  node.Release(*b);
  node.Release(*a);
  EXPECT_DOUBLE_EQ(node.Available()["CPU"], 1);
}

}  // namespace cyray::raylet
