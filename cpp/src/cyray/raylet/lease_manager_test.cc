#include "cyray/raylet/lease_manager.h"

#include <gtest/gtest.h>

#include <deque>

namespace cyray::raylet {

class FakeWorkerPool : public WorkerPoolInterface {
 public:
  WorkerPtr PopIdleWorker(const WorkerUse &use) override {
    for (auto it = idle.begin(); it != idle.end(); ++it) {
      if ((*it)->use && !(*(*it)->use == use)) continue;
      auto w = *it;
      idle.erase(it);
      return w;
    }
    return nullptr;
  }
  void PushIdleWorker(const WorkerPtr &w) override { idle.push_back(w); }
  void StartWorkersForDemand(int demand) override { last_demand = demand; }
  void DisconnectWorker(const WorkerPtr &w, bool kill) override {
    disconnected.push_back(w);
    killed += kill ? 1 : 0;
  }
  void AddIdle() {
    auto w = std::make_shared<Worker>();
    w->worker_id = WorkerID::FromRandom();
    idle.push_back(w);
  }
  std::deque<WorkerPtr> idle;
  std::vector<WorkerPtr> disconnected;
  int killed = 0;
  int last_demand = 0;
};

class LeaseManagerTest : public ::testing::Test {
 protected:
  LeaseRequest Request(ResourceSet demand, std::vector<LeaseReply> *replies,
                       WorkerID owner = WorkerID::Nil()) {
    return LeaseRequest{std::move(demand), owner,
                        [replies](const LeaseReply &r) { replies->push_back(r); }};
  }
  NodeResources resources_{{{"CPU", 2}, {"GPU", 1}}};
  FakeWorkerPool pool_;
  LeaseManager manager_{resources_, pool_};
};

TEST_F(LeaseManagerTest, GrantsWhenResourcesAndWorkerAreAvailable) {
  pool_.AddIdle();
  std::vector<LeaseReply> replies;
  manager_.QueueLease(Request({{"CPU", 1}}, &replies));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].kind, LeaseReply::Kind::kGranted);
  EXPECT_TRUE(replies[0].worker->leased);
  EXPECT_DOUBLE_EQ(resources_.Available()["CPU"], 1);
}

TEST_F(LeaseManagerTest, StartsWorkersForWaitingDemand) {
  std::vector<LeaseReply> replies;
  manager_.QueueLease(Request({{"CPU", 1}}, &replies));
  manager_.QueueLease(Request({{"CPU", 1}}, &replies));
  EXPECT_TRUE(replies.empty());
  EXPECT_EQ(pool_.last_demand, 2);
  pool_.AddIdle();
  manager_.ScheduleAndDispatch();
  EXPECT_EQ(replies.size(), 1u);
  EXPECT_EQ(manager_.NumQueued(), 1u);
}

TEST_F(LeaseManagerTest, QueuesUntilResourcesAreReturned) {
  pool_.AddIdle();
  pool_.AddIdle();
  std::vector<LeaseReply> replies;
  manager_.QueueLease(Request({{"CPU", 2}}, &replies));
  manager_.QueueLease(Request({{"CPU", 2}}, &replies));
  ASSERT_EQ(replies.size(), 1u);
  manager_.ReturnWorker(replies[0].worker, false);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[1].kind, LeaseReply::Kind::kGranted);
  EXPECT_DOUBLE_EQ(resources_.Available()["CPU"], 0);
}

TEST_F(LeaseManagerTest, InfeasibleDemandIsAnsweredAtOnce) {
  std::vector<LeaseReply> replies;
  manager_.QueueLease(Request({{"CPU", 3}}, &replies));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].kind, LeaseReply::Kind::kInfeasible);
  EXPECT_NE(replies[0].message.find("CPU: 3"), std::string::npos);
  EXPECT_EQ(manager_.NumQueued(), 0u);
}

TEST_F(LeaseManagerTest, SmallerRequestsPassABlockedLargeOne) {
  pool_.AddIdle();
  pool_.AddIdle();
  std::vector<LeaseReply> replies;
  manager_.QueueLease(Request({{"CPU", 1}}, &replies));
  manager_.QueueLease(Request({{"CPU", 2}}, &replies));
  manager_.QueueLease(Request({{"CPU", 1}}, &replies));
  EXPECT_EQ(replies.size(), 2u);
  EXPECT_EQ(manager_.NumQueued(), 1u);
}

TEST_F(LeaseManagerTest, GpuLeaseCarriesInstance) {
  pool_.AddIdle();
  std::vector<LeaseReply> replies;
  manager_.QueueLease(Request({{"CPU", 1}, {"GPU", 1}}, &replies));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].worker->allocation.instances["GPU"].count(0), 1u);
}

TEST_F(LeaseManagerTest, DeadWorkerReleasesItsLease) {
  pool_.AddIdle();
  std::vector<LeaseReply> replies;
  manager_.QueueLease(Request({{"CPU", 2}}, &replies));
  manager_.OnWorkerGone(replies[0].worker);
  EXPECT_DOUBLE_EQ(resources_.Available()["CPU"], 2);
  EXPECT_EQ(pool_.disconnected.size(), 1u);
}

TEST_F(LeaseManagerTest, ReturnWithDisconnectKillsTheWorker) {
  pool_.AddIdle();
  std::vector<LeaseReply> replies;
  manager_.QueueLease(Request({{"CPU", 1}}, &replies));
  manager_.ReturnWorker(replies[0].worker, true);
  EXPECT_EQ(pool_.killed, 1);
  EXPECT_TRUE(pool_.idle.empty());
}

TEST_F(LeaseManagerTest, BlockedWorkerLendsItsCpu) {
  pool_.AddIdle();
  pool_.AddIdle();
  std::vector<LeaseReply> replies;
  manager_.QueueLease(Request({{"CPU", 2}}, &replies));
  manager_.QueueLease(Request({{"CPU", 1}}, &replies));
  ASSERT_EQ(replies.size(), 1u);
  manager_.OnWorkerBlocked(replies[0].worker);
  ASSERT_EQ(replies.size(), 2u);
  manager_.OnWorkerUnblocked(replies[0].worker);
  EXPECT_DOUBLE_EQ(resources_.Available()["CPU"], -1);
  manager_.ReturnWorker(replies[1].worker, false);
  manager_.ReturnWorker(replies[0].worker, false);
  EXPECT_DOUBLE_EQ(resources_.Available()["CPU"], 2);
}

TEST_F(LeaseManagerTest, CanceledWhenOwnerLeaves) {
  WorkerID owner = WorkerID::FromRandom();
  std::vector<LeaseReply> replies;
  manager_.QueueLease(Request({{"CPU", 1}}, &replies, owner));
  manager_.CancelLeasesOf(owner);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].kind, LeaseReply::Kind::kCanceled);
}

}  // namespace cyray::raylet

namespace cyray::raylet {

TEST_F(LeaseManagerTest, PlacementDemandMustFitButOnlyTheDemandIsHeld) {
  pool_.AddIdle();
  pool_.AddIdle();
  std::vector<LeaseReply> replies;
  LeaseRequest actor = Request({}, &replies);
  actor.placement_demand = {{"CPU", 1}};
  actor.use.actor = true;
  manager_.QueueLease(std::move(actor));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_DOUBLE_EQ(resources_.Available()["CPU"], 2);  // placed with 1, holds 0
  EXPECT_TRUE(replies[0].worker->use->actor);
  LeaseRequest too_big = Request({}, &replies);
  too_big.placement_demand = {{"CPU", 3}};
  manager_.QueueLease(std::move(too_big));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[1].kind, LeaseReply::Kind::kInfeasible);
}

TEST_F(LeaseManagerTest, WorkersKeepTheUseOfTheirFirstLease) {
  pool_.AddIdle();
  std::vector<LeaseReply> replies;
  manager_.QueueLease(Request({{"CPU", 1}}, &replies));
  ASSERT_EQ(replies.size(), 1u);
  WorkerPtr cpu_worker = replies[0].worker;
  manager_.ReturnWorker(cpu_worker, false);
  // A GPU task and an actor do not get the worker that ran a CPU task.
  LeaseRequest gpu = Request({{"GPU", 1}}, &replies);
  gpu.use.gpu = true;
  manager_.QueueLease(std::move(gpu));
  LeaseRequest actor = Request({{"CPU", 1}}, &replies);
  actor.use.actor = true;
  manager_.QueueLease(std::move(actor));
  EXPECT_EQ(replies.size(), 1u);
  EXPECT_EQ(pool_.last_demand, 2);
  pool_.AddIdle();
  manager_.ScheduleAndDispatch();
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_NE(replies[1].worker, cpu_worker);
  EXPECT_TRUE(replies[1].worker->use->gpu);
  // Another CPU task reuses the CPU worker.
  manager_.QueueLease(Request({{"CPU", 1}}, &replies));
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[2].worker, cpu_worker);
}

// The same manager inside a two-node cluster view.
class ClusterLeaseManagerTest : public LeaseManagerTest {
 protected:
  ClusterLeaseManagerTest() {
    NodeView self;
    self.node_id = local_;
    self.total = resources_.total();
    view_.Upsert(self);
    other_.node_id = NodeID::FromRandom();
    other_.ip_address = "127.0.0.2";
    other_.port = 1234;
    other_.total = {{"CPU", 4}, {"disk", 1}};
    other_.available = other_.total;
  }
  NodeID local_ = NodeID::FromRandom();
  NodeView other_;
  int64_t now_ms_ = 0;
  ClusterView view_{local_, [this] { return now_ms_; }};
  SchedulingPolicy policy_{0.5, [] { return 0; }};
  LeaseManager cluster_manager_{resources_, pool_, &view_, &policy_};
};

TEST_F(ClusterLeaseManagerTest, SpillsWhatOnlyAnotherNodeHas) {
  view_.Upsert(other_);
  std::vector<LeaseReply> replies;
  cluster_manager_.QueueLease(Request({{"disk", 1}}, &replies));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].kind, LeaseReply::Kind::kSpillback);
  EXPECT_EQ(replies[0].spillback->Address(), "127.0.0.2:1234");
}

TEST_F(ClusterLeaseManagerTest, InfeasibleWaitsForANodeThatFits) {
  std::vector<LeaseReply> replies;
  cluster_manager_.QueueLease(Request({{"disk", 1}}, &replies));
  EXPECT_TRUE(replies.empty());
  EXPECT_EQ(cluster_manager_.NumInfeasible(), 1u);
  auto demands = cluster_manager_.Demands();
  ASSERT_EQ(demands.size(), 1u);
  EXPECT_TRUE(demands[0].infeasible);
  view_.Upsert(other_);
  cluster_manager_.OnClusterViewChanged();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].kind, LeaseReply::Kind::kSpillback);
  EXPECT_EQ(cluster_manager_.NumInfeasible(), 0u);
}

TEST_F(ClusterLeaseManagerTest, InfeasibleRequestsOfAGoneOwnerAreCanceled) {
  std::vector<LeaseReply> replies;
  std::vector<std::string> warnings;
  cluster_manager_.set_on_infeasible(
      [&](const LeaseRequest &, const std::string &why) { warnings.push_back(why); });
  WorkerID owner = WorkerID::FromRandom();
  cluster_manager_.QueueLease(Request({{"disk", 1}}, &replies, owner));
  EXPECT_EQ(warnings.size(), 1u);
  cluster_manager_.CancelLeasesOf(owner);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].kind, LeaseReply::Kind::kCanceled);
  EXPECT_EQ(cluster_manager_.NumInfeasible(), 0u);
}

TEST_F(ClusterLeaseManagerTest, AnOwnerCancelsOnlyTheRequestsOfOneTask) {
  std::vector<LeaseReply> replies;
  WorkerID owner = WorkerID::FromRandom();
  LeaseRequest first = Request({{"disk", 1}}, &replies, owner);
  first.task_id = "t1";
  LeaseRequest again = Request({{"disk", 1}}, &replies, owner);
  again.task_id = "t1";
  LeaseRequest other = Request({{"disk", 1}}, &replies, owner);
  other.task_id = "t2";
  cluster_manager_.QueueLease(std::move(first));
  cluster_manager_.QueueLease(std::move(again));
  cluster_manager_.QueueLease(std::move(other));
  EXPECT_EQ(cluster_manager_.CancelLease(WorkerID::FromRandom(), "t1"), 0) << "another owner";
  EXPECT_EQ(cluster_manager_.CancelLease(owner, "t1"), 2);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].kind, LeaseReply::Kind::kCanceled);
  EXPECT_EQ(cluster_manager_.NumInfeasible(), 1u);  // t2's still waits
  int waiting = 0;
  cluster_manager_.ForEachWaiting([&](const LeaseRequest &request, bool infeasible) {
    EXPECT_EQ(request.task_id, "t2");
    EXPECT_TRUE(infeasible);
    waiting++;
  });
  EXPECT_EQ(waiting, 1);
}

TEST_F(ClusterLeaseManagerTest, QueuedRequestMovesWhenAnotherNodeFrees) {
  pool_.AddIdle();
  pool_.AddIdle();
  std::vector<LeaseReply> replies;
  cluster_manager_.QueueLease(Request({{"CPU", 2}}, &replies));
  cluster_manager_.QueueLease(Request({{"CPU", 1}}, &replies));
  ASSERT_EQ(replies.size(), 1u);  // the second waits: nothing free anywhere it knows
  EXPECT_EQ(cluster_manager_.NumQueued(), 1u);
  view_.Upsert(other_);
  cluster_manager_.OnClusterViewChanged();
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[1].kind, LeaseReply::Kind::kSpillback);
  // Counted against the other node for a while, then its report stands again
  // (a request that came and went leaves its report unchanged).
  EXPECT_DOUBLE_EQ(view_.Find(other_.node_id)->available.at("CPU"), 3);
  now_ms_ += ClusterView::kSubtractionLifetimeMs;
  view_.ExpireSubtractions();
  EXPECT_DOUBLE_EQ(view_.Find(other_.node_id)->available.at("CPU"), 4);
}

TEST_F(ClusterLeaseManagerTest, QueuedRequestStaysWhenNoOtherNodeHasRoom) {
  pool_.AddIdle();
  std::vector<LeaseReply> replies;
  cluster_manager_.QueueLease(Request({{"CPU", 2}}, &replies));
  LeaseRequest spread = Request({{"CPU", 1}}, &replies);
  spread.strategy.set_kind(rpc::SchedulingStrategy::SPREAD);
  cluster_manager_.QueueLease(std::move(spread));
  other_.available = {{"CPU", 0}};
  view_.Upsert(other_);
  cluster_manager_.OnClusterViewChanged();
  EXPECT_EQ(replies.size(), 1u) << "not sent to a node that is just as busy";
  EXPECT_EQ(cluster_manager_.NumQueued(), 1u);
}

TEST_F(ClusterLeaseManagerTest, SpilledRequestThatCannotFitIsRejected) {
  view_.Upsert(other_);
  std::vector<LeaseReply> replies;
  LeaseRequest request = Request({{"disk", 1}}, &replies);
  request.grant_or_reject = true;
  cluster_manager_.QueueLease(std::move(request));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].kind, LeaseReply::Kind::kRejected);
}

}  // namespace cyray::raylet
