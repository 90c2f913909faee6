#include "cyray/raylet/lease_manager.h"

#include <map>

#include "cyray/common/logging.h"

namespace cyray::raylet {

LeaseManager::LeaseManager(NodeResources &resources, WorkerPoolInterface &pool, ClusterView *view,
                           SchedulingPolicy *policy)
    : resources_(resources), pool_(pool), view_(view), policy_(policy) {}

void LeaseManager::QueueLease(LeaseRequest request) {
  if (request.placement_demand.empty()) request.placement_demand = request.demand;
  Route(std::move(request));
  ScheduleAndDispatch();
}

void LeaseManager::Route(LeaseRequest request) {
  if (view_ == nullptr || policy_ == nullptr) {
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
    return;
  }
  view_->SetLocalAvailable(resources_.Available());
  view_->ExpireSubtractions();
  SchedulingDecision decision = policy_->Schedule(*view_, request.placement_demand,
                                                  request.strategy, request.grant_or_reject);
  CYRAY_LOG(DEBUG) << "lease request for " << ResourceSetToString(request.placement_demand)
                   << " (strategy " << request.strategy.kind() << "): decision "
                   << static_cast<int>(decision.kind) << " node "
                   << decision.node.Hex().substr(0, 6) << ", local free "
                   << ResourceSetToString(resources_.Available());
  if (decision.kind == SchedulingDecision::Kind::kInfeasible) {
    CYRAY_LOG(WARNING) << "a lease request cannot be scheduled right now: " << decision.message;
    if (on_infeasible_) on_infeasible_(request, decision.message);
    infeasible_.push_back(std::move(request));
    return;
  }
  if (!AnswerElsewhere(request, decision)) queue_.push_back(std::move(request));
}

bool LeaseManager::AnswerElsewhere(LeaseRequest &request, const SchedulingDecision &decision) {
  LeaseReply reply;
  reply.message = decision.message;
  switch (decision.kind) {
    case SchedulingDecision::Kind::kLocal:
    case SchedulingDecision::Kind::kInfeasible:
      return false;
    case SchedulingDecision::Kind::kSpillback:
      reply.kind = LeaseReply::Kind::kSpillback;
      reply.spillback = view_->Find(decision.node);
      // Until the node's next report, count the request against it, so one
      // pass does not send it more than it has.
      view_->Subtract(decision.node, request.placement_demand);
      break;
    case SchedulingDecision::Kind::kReject:
      reply.kind = LeaseReply::Kind::kRejected;
      break;
    case SchedulingDecision::Kind::kUnschedulable:
      reply.kind = LeaseReply::Kind::kInfeasible;
      break;
  }
  request.on_reply(reply);
  return true;
}

void LeaseManager::OnClusterViewChanged() {
  if (view_ == nullptr || policy_ == nullptr) return;
  std::deque<LeaseRequest> waiting;
  waiting.swap(infeasible_);
  for (auto &request : waiting) Route(std::move(request));
  ScheduleAndDispatch();
}

std::vector<LeaseManager::Demand> LeaseManager::Demands() const {
  std::map<std::pair<ResourceSet, bool>, int64_t> counts;
  for (const auto &request : queue_) counts[{request.placement_demand, false}]++;
  for (const auto &request : infeasible_) counts[{request.placement_demand, true}]++;
  std::vector<Demand> out;
  for (const auto &[key, count] : counts) out.push_back({key.first, count, key.second});
  return out;
}

void LeaseManager::ScheduleAndDispatch() {
  int waiting_for_worker = 0;
  bool view_current = false;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (!resources_.CanAllocate(it->placement_demand) || !resources_.CanAllocate(it->demand)) {
      // Busy here: another node may have room now.
      if (view_ != nullptr && policy_ != nullptr && !it->grant_or_reject) {
        if (!view_current) {
          view_->SetLocalAvailable(resources_.Available());
          view_->ExpireSubtractions();
        }
        view_current = true;
        SchedulingDecision decision =
            policy_->Schedule(*view_, it->placement_demand, it->strategy, false);
        // Only to a node with room now: waiting there is no better than here.
        const NodeView *target = decision.kind == SchedulingDecision::Kind::kSpillback
                                     ? view_->Find(decision.node)
                                     : nullptr;
        if (target != nullptr && SchedulingPolicy::Fits(target->available, it->placement_demand)) {
          LeaseRequest request = std::move(*it);
          it = queue_.erase(it);
          AnswerElsewhere(request, decision);
          continue;
        }
      }
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
    worker->lease_owner_node = it->owner_node;
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
  worker->lease_owner_node = NodeID::Nil();
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

int LeaseManager::CancelWhere(const std::function<bool(const LeaseRequest &)> &match,
                              const std::string &why) {
  int cancelled = 0;
  for (auto *queue : {&queue_, &infeasible_}) {
    for (auto it = queue->begin(); it != queue->end();) {
      if (match(*it)) {
        LeaseReply reply;
        reply.kind = LeaseReply::Kind::kCanceled;
        reply.message = why;
        auto on_reply = std::move(it->on_reply);
        it = queue->erase(it);
        on_reply(reply);
        cancelled++;
      } else {
        ++it;
      }
    }
  }
  return cancelled;
}

void LeaseManager::CancelLeasesOf(const WorkerID &owner_id) {
  CancelWhere([&](const LeaseRequest &request) { return request.owner_id == owner_id; },
              "the lease owner disconnected");
}

int LeaseManager::CancelLease(const WorkerID &owner_id, const std::string &task_id) {
  return CancelWhere(
      [&](const LeaseRequest &request) {
        return request.owner_id == owner_id && request.task_id == task_id;
      },
      "the owner no longer needs the lease");
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
