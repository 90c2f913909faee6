#include "cyray/raylet/worker_pool.h"

#include <algorithm>

#include "cyray/common/logging.h"
#include "cyray/common/secure_random.h"

namespace cyray::raylet {

WorkerPool::WorkerPool(ProcessLauncherInterface &launcher, int maximum_startup_concurrency,
                       std::function<int64_t()> now_ms)
    : launcher_(launcher),
      maximum_startup_concurrency_(std::max(1, maximum_startup_concurrency)),
      now_ms_(std::move(now_ms)) {}

bool WorkerPool::StartOne() {
  // Random, so no other local process can guess one and pose as a worker.
  int64_t token = SecureRandomPositiveInt64();
  while (starting_.count(token)) token = SecureRandomPositiveInt64();
  auto pid = launcher_.Launch(token);
  if (!pid.ok()) {
    CYRAY_LOG(ERROR) << "failed to start a worker: " << pid.status();
    return false;
  }
  starting_[token] = StartingProcess{*pid, now_ms_()};
  return true;
}

void WorkerPool::Prestart(int count) {
  for (int i = 0; i < count; ++i) StartOne();
}

void WorkerPool::StartWorkersForDemand(int demand) {
  int want = std::min(demand, maximum_startup_concurrency_);
  while (NumStarting() < want) {
    if (!StartOne()) break;
  }
}

Status WorkerPool::RegisterWorker(const WorkerPtr &worker) {
  auto it = starting_.find(worker->startup_token);
  if (it == starting_.end()) {
    return Status::Invalid("unknown startup token " + std::to_string(worker->startup_token));
  }
  if (it->second.pid != worker->pid) {
    CYRAY_LOG(WARNING) << "worker registered with pid " << worker->pid << " but pid "
                       << it->second.pid << " was started for its token";
  }
  starting_.erase(it);
  registered_[worker->worker_id] = worker;
  PushIdleWorker(worker);
  return Status::OK();
}

void WorkerPool::RegisterDriver(const WorkerPtr &driver) {
  registered_[driver->worker_id] = driver;
}

WorkerPtr WorkerPool::PopIdleWorker(const WorkerUse &use) {
  // Most recently used first: its caches (imported functions) are warm.
  for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
    const WorkerPtr worker = *it;
    if (worker->use && !(*worker->use == use)) continue;
    idle_.erase(std::next(it).base());
    return worker;
  }
  return nullptr;
}

void WorkerPool::PushIdleWorker(const WorkerPtr &worker) {
  worker->idle_since_ms = now_ms_();
  idle_.push_back(worker);
}

void WorkerPool::DisconnectWorker(const WorkerPtr &worker, bool kill) {
  registered_.erase(worker->worker_id);
  idle_.erase(std::remove(idle_.begin(), idle_.end(), worker), idle_.end());
  if (kill && !worker->is_driver && worker->pid > 0) launcher_.Kill(worker->pid, true);
}

WorkerPtr WorkerPool::GetWorker(const WorkerID &worker_id) const {
  auto it = registered_.find(worker_id);
  return it == registered_.end() ? nullptr : it->second;
}

WorkerPtr WorkerPool::GetWorkerByConnection(uint64_t connection_id) const {
  for (const auto &[id, worker] : registered_) {
    if (worker->connection_id == connection_id) return worker;
  }
  return nullptr;
}

WorkerPtr WorkerPool::OnProcessExit(int pid) {
  for (auto it = starting_.begin(); it != starting_.end(); ++it) {
    if (it->second.pid == pid) {
      CYRAY_LOG(WARNING) << "worker process " << pid << " exited before registering";
      starting_.erase(it);
      return nullptr;
    }
  }
  for (const auto &[id, worker] : registered_) {
    if (worker->pid == pid && !worker->is_driver) return worker;
  }
  return nullptr;
}

void WorkerPool::KillUnregisteredAfter(int64_t timeout_ms) {
  int64_t now = now_ms_();
  for (auto it = starting_.begin(); it != starting_.end();) {
    if (now - it->second.start_ms > timeout_ms) {
      CYRAY_LOG(WARNING) << "worker process " << it->second.pid << " did not register within "
                         << timeout_ms << " ms; killing it";
      launcher_.Kill(it->second.pid, true);
      it = starting_.erase(it);
    } else {
      ++it;
    }
  }
}

void WorkerPool::TrimIdleWorkers(int soft_limit, int64_t idle_ms) {
  int64_t now = now_ms_();
  int workers = 0;
  for (const auto &[id, worker] : registered_) workers += worker->is_driver ? 0 : 1;
  // Oldest idle first.
  while (workers > soft_limit && !idle_.empty() && now - idle_.front()->idle_since_ms >= idle_ms) {
    WorkerPtr worker = idle_.front();
    DisconnectWorker(worker, /*kill=*/true);
    --workers;
  }
}

std::vector<WorkerPtr> WorkerPool::AllWorkers() const {
  std::vector<WorkerPtr> out;
  for (const auto &[id, worker] : registered_) out.push_back(worker);
  return out;
}

std::vector<int> WorkerPool::AllPids() const {
  std::vector<int> pids;
  for (const auto &[token, proc] : starting_) pids.push_back(proc.pid);
  for (const auto &[id, worker] : registered_) {
    if (!worker->is_driver) pids.push_back(worker->pid);
  }
  return pids;
}

void WorkerPool::KillAll() {
  for (int pid : AllPids()) launcher_.Kill(pid, false);
}

}  // namespace cyray::raylet
