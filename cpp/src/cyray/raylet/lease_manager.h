// LeaseManager: grants worker leases against the node's resources. With a
// cluster view and a scheduling policy, each request first goes where the
// policy says: queued here, spilled back to another node (the owner asks
// there), or held as infeasible until a node that fits joins. Queued requests
// are granted in arrival order when their demand fits and an idle worker
// exists (workers are started for waiting demand); one that waits while the
// view shows another node with room is spilled there. Without a view (unit
// tests of this node alone) a demand larger than the node's totals is
// answered as infeasible at once. Not thread-safe: used only on the raylet's
// main thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "cyray/raylet/resources.h"
#include "cyray/raylet/scheduling_policy.h"
#include "cyray/raylet/worker_pool.h"

namespace cyray::raylet {

struct LeaseReply {
  enum class Kind { kGranted, kInfeasible, kCanceled, kSpillback, kRejected };
  Kind kind = Kind::kGranted;
  WorkerPtr worker;  // when granted; its `allocation` says what it holds
  // kSpillback: the raylet to ask instead.
  const NodeView *spillback = nullptr;
  std::string message;
};

struct LeaseRequest {
  // What the lease holds while it runs.
  ResourceSet demand;
  WorkerID owner_id;
  std::function<void(const LeaseReply &)> on_reply;
  // What must be free to grant it, when more than `demand` (a default actor
  // needs 1 CPU to be placed and holds none); empty: `demand`.
  ResourceSet placement_demand;
  WorkerUse use;
  rpc::SchedulingStrategy strategy;
  // Spilled here by another raylet: queue or reject, never spill again.
  bool grant_or_reject = false;
  // The task it is for and the owner's tasks queued behind it (for the state API).
  std::string task_id;
  std::string task_name;
  int64_t backlog_size = 0;
  // The node the owner runs on (Nil when unknown).
  NodeID owner_node;
};

class LeaseManager {
 public:
  // `view` and `policy` may be null: then every request is for this node.
  LeaseManager(NodeResources &resources, WorkerPoolInterface &pool, ClusterView *view = nullptr,
               SchedulingPolicy *policy = nullptr);

  void QueueLease(LeaseRequest request);
  // Grants what can be granted now; call after anything that frees resources
  // or workers.
  void ScheduleAndDispatch();
  // The owner is done with the worker: its resources are released and it is
  // reused, or ended when `disconnect`.
  void ReturnWorker(const WorkerPtr &worker, bool disconnect);
  // The worker died or disconnected: release what its lease held.
  void OnWorkerGone(const WorkerPtr &worker);
  // Answers the queued requests of `owner_id` as canceled (the owner is gone).
  void CancelLeasesOf(const WorkerID &owner_id);
  // Cancels the waiting requests `owner_id` made for `task_id` (its tasks of
  // that shape were cancelled or failed); returns how many.
  int CancelLease(const WorkerID &owner_id, const std::string &task_id);
  // Answers kCanceled (with `why`) to every waiting request `match` selects.
  int CancelWhere(const std::function<bool(const LeaseRequest &)> &match, const std::string &why);
  void OnWorkerBlocked(const WorkerPtr &worker);
  void OnWorkerUnblocked(const WorkerPtr &worker);

  // Called when a request is held as infeasible, with its owner and why.
  void set_on_infeasible(std::function<void(const LeaseRequest &, const std::string &)> callback) {
    on_infeasible_ = std::move(callback);
  }
  // The cluster view changed: infeasible requests may fit somewhere now, and
  // queued ones may have room elsewhere.
  void OnClusterViewChanged();
  // Queued and infeasible demand by shape, for the GCS's view.
  struct Demand {
    ResourceSet shape;
    int64_t count = 0;
    bool infeasible = false;
  };
  std::vector<Demand> Demands() const;

  // Every request waiting here, queued ones first (in the order they are
  // served), then infeasible ones.
  void ForEachWaiting(const std::function<void(const LeaseRequest &, bool infeasible)> &fn) const {
    for (const auto &request : queue_) fn(request, false);
    for (const auto &request : infeasible_) fn(request, true);
  }

  size_t NumQueued() const { return queue_.size(); }
  size_t NumInfeasible() const { return infeasible_.size(); }

 private:
  void ReleaseLease(const WorkerPtr &worker);
  // Answers or queues a request that is not queued here yet.
  void Route(LeaseRequest request);
  // Answers `request` according to `decision` unless it is to be queued here;
  // returns false when the caller should queue it.
  bool AnswerElsewhere(LeaseRequest &request, const SchedulingDecision &decision);

  NodeResources &resources_;
  WorkerPoolInterface &pool_;
  ClusterView *view_;
  SchedulingPolicy *policy_;
  std::deque<LeaseRequest> queue_;
  // Requests no alive node can fit, waiting for one that can.
  std::deque<LeaseRequest> infeasible_;
  std::function<void(const LeaseRequest &, const std::string &)> on_infeasible_;
};

}  // namespace cyray::raylet
