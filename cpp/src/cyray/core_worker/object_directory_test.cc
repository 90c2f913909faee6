#include "cyray/core_worker/object_directory.h"

#include <gtest/gtest.h>

namespace cyray::core {
namespace {

ObjectID Id(uint32_t i) { return ObjectID::FromIndex(TaskID::FromRandom(), i); }

TEST(ObjectDirectoryTest, TracksCopiesUntilFreed) {
  ObjectDirectory directory;
  NodeID a = NodeID::FromRandom(), b = NodeID::FromRandom();
  ObjectID id = Id(1);
  directory.AddPrimary(id, a);
  EXPECT_TRUE(directory.AddCopy(id, b));
  std::vector<NodeID> nodes;
  EXPECT_EQ(directory.Locations(id, &nodes), ObjectDirectory::State::kPresent);
  EXPECT_EQ(nodes.size(), 2u);
  EXPECT_EQ(directory.Remove(id).size(), 2u);
  EXPECT_EQ(directory.Locations(id, &nodes), ObjectDirectory::State::kUnknown);
  EXPECT_FALSE(directory.AddCopy(id, b)) << "a copy of a freed object is not recorded";
}

TEST(ObjectDirectoryTest, ObjectIsLostWithItsLastNode) {
  ObjectDirectory directory;
  NodeID a = NodeID::FromRandom(), b = NodeID::FromRandom();
  ObjectID kept = Id(1), lost = Id(2);
  directory.AddPrimary(kept, a);
  directory.AddCopy(kept, b);
  directory.AddPrimary(lost, b);
  auto gone = directory.RemoveNode(b).lost;
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0], lost);
  std::vector<NodeID> nodes;
  EXPECT_EQ(directory.Locations(kept, &nodes), ObjectDirectory::State::kPresent);
  EXPECT_EQ(nodes, std::vector<NodeID>{a});
  EXPECT_EQ(directory.Locations(lost, &nodes), ObjectDirectory::State::kLost);
  directory.MarkReconstructing(lost);
  EXPECT_EQ(directory.Locations(lost, &nodes), ObjectDirectory::State::kReconstructing);
  directory.AddPrimary(lost, a);  // the task ran again
  EXPECT_EQ(directory.Locations(lost, &nodes), ObjectDirectory::State::kPresent);
}

TEST(ObjectDirectoryTest, RebuildableObjectsAreNeverSeenLost) {
  ObjectDirectory directory;
  NodeID a = NodeID::FromRandom();
  ObjectID rebuildable = Id(1), not_rebuildable = Id(2);
  directory.AddPrimary(rebuildable, a);
  directory.AddPrimary(not_rebuildable, a);
  auto removal = directory.RemoveNode(a, [&](const ObjectID &id) { return id == rebuildable; });
  EXPECT_EQ(removal.rebuilding, std::vector<ObjectID>{rebuildable});
  EXPECT_EQ(removal.lost, std::vector<ObjectID>{not_rebuildable});
  std::vector<NodeID> nodes;
  EXPECT_EQ(directory.Locations(rebuildable, &nodes), ObjectDirectory::State::kReconstructing);
  directory.MarkLost(rebuildable);  // the rebuild failed
  EXPECT_EQ(directory.Locations(rebuildable, &nodes),
            ObjectDirectory::State::kReconstructionFailed);
}

}  // namespace
}  // namespace cyray::core
