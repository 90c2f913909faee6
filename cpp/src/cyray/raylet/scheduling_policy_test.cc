#include "cyray/raylet/scheduling_policy.h"

#include <gtest/gtest.h>

#include <set>

namespace cyray::raylet {
namespace {

using Kind = SchedulingDecision::Kind;

class SchedulingPolicyTest : public ::testing::Test {
 protected:
  SchedulingPolicyTest() : view(local), policy(0.5, [this] { return next_random++; }) {
    AddNode(local, {{"CPU", 2}}, {{"CPU", 2}});
  }

  NodeID AddNode(NodeID id, ResourceSet total, ResourceSet available, LabelSet labels = {}) {
    NodeView node;
    node.node_id = id;
    node.ip_address = "127.0.0.1";
    node.total = std::move(total);
    node.available = std::move(available);
    node.labels = std::move(labels);
    view.Upsert(node);
    if (id == local) view.SetLocalAvailable(node.available);
    return id;
  }

  SchedulingDecision Schedule(ResourceSet demand, rpc::SchedulingStrategy strategy = {},
                              bool grant_or_reject = false) {
    return policy.Schedule(view, demand, strategy, grant_or_reject);
  }

  NodeID local = NodeID::FromRandom();
  ClusterView view;
  uint64_t next_random = 0;
  SchedulingPolicy policy;
};

TEST_F(SchedulingPolicyTest, KeepsWorkLocalBelowTheThreshold) {
  AddNode(NodeID::FromRandom(), {{"CPU", 2}}, {{"CPU", 2}});
  auto d = Schedule({{"CPU", 1}});
  EXPECT_EQ(d.kind, Kind::kLocal);
}

TEST_F(SchedulingPolicyTest, SpillsToAFreeNodeWhenLocalIsFull) {
  view.SetLocalAvailable({{"CPU", 0}});
  NodeID other = AddNode(NodeID::FromRandom(), {{"CPU", 2}}, {{"CPU", 2}});
  auto d = Schedule({{"CPU", 1}});
  EXPECT_EQ(d.kind, Kind::kSpillback);
  EXPECT_EQ(d.node, other);
}

TEST_F(SchedulingPolicyTest, PrefersTheLeastUtilisedNodeAboveTheThreshold) {
  view.SetLocalAvailable({{"CPU", 0.5}});                     // 75% used
  AddNode(NodeID::FromRandom(), {{"CPU", 4}}, {{"CPU", 1}});  // 75% used
  NodeID idle = AddNode(NodeID::FromRandom(), {{"CPU", 4}}, {{"CPU", 4}});
  for (int i = 0; i < 5; i++) {
    auto d = Schedule({{"CPU", 0.5}});
    EXPECT_EQ(d.kind, Kind::kSpillback);
    EXPECT_EQ(d.node, idle);
  }
}

TEST_F(SchedulingPolicyTest, QueuesLocallyWhenNothingIsFreeButLocalFits) {
  view.SetLocalAvailable({{"CPU", 0}});
  AddNode(NodeID::FromRandom(), {{"CPU", 2}}, {{"CPU", 0}});
  EXPECT_EQ(Schedule({{"CPU", 1}}).kind, Kind::kLocal);
}

TEST_F(SchedulingPolicyTest, CustomResourceOnlyElsewhere) {
  NodeID gpu_node = AddNode(NodeID::FromRandom(), {{"CPU", 1}, {"GPU", 1}}, {{"CPU", 1}});
  // Busy: still sent there to queue, since only it could ever fit.
  auto d = Schedule({{"GPU", 1}});
  EXPECT_EQ(d.kind, Kind::kSpillback);
  EXPECT_EQ(d.node, gpu_node);
}

TEST_F(SchedulingPolicyTest, InfeasibleEverywhere) {
  AddNode(NodeID::FromRandom(), {{"CPU", 2}}, {{"CPU", 2}});
  auto d = Schedule({{"CPU", 64}});
  EXPECT_EQ(d.kind, Kind::kInfeasible);
  EXPECT_NE(d.message.find("CPU: 64"), std::string::npos);
}

TEST_F(SchedulingPolicyTest, DeadNodesAreNotCandidates) {
  NodeView dead;
  dead.node_id = NodeID::FromRandom();
  dead.total = {{"special", 1}};
  dead.available = {{"special", 1}};
  dead.alive = false;
  view.Upsert(dead);
  EXPECT_EQ(Schedule({{"special", 1}}).kind, Kind::kInfeasible);
}

TEST_F(SchedulingPolicyTest, SpreadAlternatesOverFreeNodes) {
  NodeID other = AddNode(NodeID::FromRandom(), {{"CPU", 2}}, {{"CPU", 2}});
  rpc::SchedulingStrategy spread;
  spread.set_kind(rpc::SchedulingStrategy::SPREAD);
  std::set<NodeID> chosen;
  for (int i = 0; i < 4; i++) {
    auto d = Schedule({{"CPU", 1}}, spread);
    chosen.insert(d.kind == Kind::kLocal ? local : d.node);
  }
  EXPECT_EQ(chosen, (std::set<NodeID>{local, other}));
}

TEST_F(SchedulingPolicyTest, HardAffinityGoesThereEvenWhenBusy) {
  NodeID target = AddNode(NodeID::FromRandom(), {{"CPU", 1}}, {{"CPU", 0}});
  rpc::SchedulingStrategy affinity;
  affinity.set_kind(rpc::SchedulingStrategy::NODE_AFFINITY);
  affinity.set_node_id(target.Binary());
  auto d = Schedule({{"CPU", 1}}, affinity);
  EXPECT_EQ(d.kind, Kind::kSpillback);
  EXPECT_EQ(d.node, target);
  // Soft: still there, queued while it is busy (as Ray).
  affinity.set_soft(true);
  d = Schedule({{"CPU", 1}}, affinity);
  EXPECT_EQ(d.kind, Kind::kSpillback);
  EXPECT_EQ(d.node, target);
  // Soft with _spill_on_unavailable: elsewhere while it is busy.
  affinity.set_spill_on_unavailable(true);
  EXPECT_EQ(Schedule({{"CPU", 1}}, affinity).kind, Kind::kLocal);
  // _fail_on_unavailable: fails while it is busy, soft or not.
  affinity.set_spill_on_unavailable(false);
  affinity.set_fail_on_unavailable(true);
  EXPECT_EQ(Schedule({{"CPU", 1}}, affinity).kind, Kind::kUnschedulable);
  affinity.set_soft(false);
  EXPECT_EQ(Schedule({{"CPU", 1}}, affinity).kind, Kind::kUnschedulable);
}

TEST_F(SchedulingPolicyTest, AffinityToAnUnknownNode) {
  rpc::SchedulingStrategy affinity;
  affinity.set_kind(rpc::SchedulingStrategy::NODE_AFFINITY);
  affinity.set_node_id(NodeID::FromRandom().Binary());
  EXPECT_EQ(Schedule({{"CPU", 1}}, affinity).kind, Kind::kUnschedulable);
  affinity.set_soft(true);
  EXPECT_EQ(Schedule({{"CPU", 1}}, affinity).kind, Kind::kLocal);
}

TEST_F(SchedulingPolicyTest, LabelsFilterAndPrefer) {
  NodeID ssd = AddNode(NodeID::FromRandom(), {{"CPU", 2}}, {{"CPU", 2}}, {{"disk", "ssd"}});
  NodeID hdd = AddNode(NodeID::FromRandom(), {{"CPU", 2}}, {{"CPU", 2}}, {{"disk", "hdd"}});
  rpc::SchedulingStrategy labels;
  labels.set_kind(rpc::SchedulingStrategy::NODE_LABEL);
  auto *hard = labels.add_hard();
  hard->set_key("disk");
  hard->set_op(rpc::LabelMatch::IN);
  hard->add_values("ssd");
  EXPECT_EQ(Schedule({{"CPU", 1}}, labels).node, ssd);
  labels.clear_hard();
  auto *soft = labels.add_soft_labels();
  soft->set_key("disk");
  soft->set_op(rpc::LabelMatch::NOT_IN);
  soft->add_values("ssd");
  // The local node has no "disk" label, so it matches NOT_IN too; make it busy.
  view.SetLocalAvailable({{"CPU", 0}});
  EXPECT_EQ(Schedule({{"CPU", 1}}, labels).node, hdd);
  labels.clear_soft_labels();
  auto *exists = labels.add_hard();
  exists->set_key("gpu-type");
  exists->set_op(rpc::LabelMatch::EXISTS);
  EXPECT_EQ(Schedule({{"CPU", 1}}, labels).kind, Kind::kInfeasible);
}

TEST_F(SchedulingPolicyTest, SpilledRequestsAreQueuedOrRejectedNeverBounced) {
  view.SetLocalAvailable({{"CPU", 0}});
  AddNode(NodeID::FromRandom(), {{"CPU", 2}}, {{"CPU", 2}});
  EXPECT_EQ(Schedule({{"CPU", 1}}, {}, /*grant_or_reject=*/true).kind, Kind::kLocal);
  EXPECT_EQ(Schedule({{"GPU", 1}}, {}, /*grant_or_reject=*/true).kind, Kind::kReject);
}

}  // namespace
}  // namespace cyray::raylet
