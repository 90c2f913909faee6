// LeaseManager: grants worker leases against the node's resources. Requests
// queue in arrival order; a request is granted when its demand fits and an
// idle worker exists (workers are started for waiting demand); a demand larger
// than the node's totals is answered as infeasible at once. Not thread-safe:
// used only on the raylet's main thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "cyray/raylet/resources.h"
#include "cyray/raylet/worker_pool.h"

namespace cyray::raylet {

struct LeaseReply {
  enum class Kind { kGranted, kInfeasible, kCanceled };
  Kind kind = Kind::kGranted;
  WorkerPtr worker;  // when granted; its `allocation` says what it holds
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
};

class LeaseManager {
 public:
  LeaseManager(NodeResources &resources, WorkerPoolInterface &pool);

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
  void OnWorkerBlocked(const WorkerPtr &worker);
  void OnWorkerUnblocked(const WorkerPtr &worker);

  size_t NumQueued() const { return queue_.size(); }

 private:
  void ReleaseLease(const WorkerPtr &worker);

  NodeResources &resources_;
  WorkerPoolInterface &pool_;
  std::deque<LeaseRequest> queue_;
};

}  // namespace cyray::raylet
