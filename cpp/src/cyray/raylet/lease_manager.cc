#include "cyray/raylet/lease_manager.h"

#include "cyray/common/logging.h"

namespace cyray::raylet {

LeaseManager::LeaseManager(NodeResources &resources, WorkerPoolInterface &pool)
    : resources_(resources), pool_(pool) {}

void LeaseManager::QueueLease(LeaseRequest request) {
  if (request.placement_demand.empty()) request.placement_demand = request.demand;
  if (!resources_.IsFeasible(request.placement_demand)) {
    LeaseReply reply;
    reply.kind = LeaseReply::Kind::kInfeasible;
    reply.message = "the task requires " + ResourceSetToString(request.placement_demand) +
                    " but this node has only " + ResourceSetToString(resources_.total()) +
                    " in total, so it can never be scheduled";
    request.on_reply(reply);
    return;
  }
  queue_.push_back(std::move(request));
  ScheduleAndDispatch();
}

void LeaseManager::ScheduleAndDispatch() {
  int waiting_for_worker = 0;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (!resources_.CanAllocate(it->placement_demand) || !resources_.CanAllocate(it->demand)) {
      ++it;
      continue;
    }
    WorkerPtr worker = pool_.PopIdleWorker(it->use);
    if (!worker) {
      ++waiting_for_worker;
      ++it;
      continue;
    }
    auto allocation = resources_.Allocate(it->demand);
    CYRAY_CHECK(allocation.has_value());
    worker->leased = true;
    if (!worker->use) worker->use = it->use;
    worker->lease_owner = it->owner_id;
    worker->allocation = *allocation;
    worker->released_cpu = 0;
    LeaseReply reply;
    reply.worker = worker;
    auto on_reply = std::move(it->on_reply);
    it = queue_.erase(it);
    on_reply(reply);
  }
  if (waiting_for_worker > 0) pool_.StartWorkersForDemand(waiting_for_worker);
}

void LeaseManager::ReleaseLease(const WorkerPtr &worker) {
  if (!worker->leased) return;
  if (worker->released_cpu > 0) resources_.ReacquireCpu(worker->released_cpu);
  resources_.Release(worker->allocation);
  worker->leased = false;
  worker->lease_owner = WorkerID::Nil();
  worker->allocation = ResourceAllocation{};
  worker->released_cpu = 0;
}

void LeaseManager::ReturnWorker(const WorkerPtr &worker, bool disconnect) {
  ReleaseLease(worker);
  if (disconnect) {
    pool_.DisconnectWorker(worker, /*kill=*/true);
  } else {
    pool_.PushIdleWorker(worker);
  }
  ScheduleAndDispatch();
}

void LeaseManager::OnWorkerGone(const WorkerPtr &worker) {
  ReleaseLease(worker);
  pool_.DisconnectWorker(worker, /*kill=*/false);
  ScheduleAndDispatch();
}

void LeaseManager::CancelLeasesOf(const WorkerID &owner_id) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->owner_id == owner_id) {
      LeaseReply reply;
      reply.kind = LeaseReply::Kind::kCanceled;
      reply.message = "the lease owner disconnected";
      auto on_reply = std::move(it->on_reply);
      it = queue_.erase(it);
      on_reply(reply);
    } else {
      ++it;
    }
  }
}

void LeaseManager::OnWorkerBlocked(const WorkerPtr &worker) {
  if (!worker->leased || worker->released_cpu > 0) return;
  auto cpu = worker->allocation.amounts.find("CPU");
  if (cpu == worker->allocation.amounts.end() || cpu->second <= 0) return;
  worker->released_cpu = cpu->second;
  resources_.ReleaseCpu(cpu->second);
  ScheduleAndDispatch();
}

void LeaseManager::OnWorkerUnblocked(const WorkerPtr &worker) {
  if (!worker->leased || worker->released_cpu <= 0) return;
  resources_.ReacquireCpu(worker->released_cpu);
  worker->released_cpu = 0;
}

}  // namespace cyray::raylet
