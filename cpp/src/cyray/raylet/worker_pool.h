// WorkerPool: starts worker processes, matches their registration to the start
// (by startup token), keeps the idle ones for reuse and forgets dead ones.
// Process creation goes through ProcessLauncherInterface so tests use a fake.
// Not thread-safe: used only on the raylet's main thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <unordered_map>
#include <vector>

#include "cyray/common/status.h"
#include "cyray/raylet/worker.h"

namespace cyray::raylet {

class ProcessLauncherInterface {
 public:
  virtual ~ProcessLauncherInterface() = default;
  // Starts a worker process that will register with `startup_token`.
  virtual StatusOr<int> Launch(int64_t startup_token) = 0;
  // Sends SIGTERM (or SIGKILL when `force`).
  virtual void Kill(int pid, bool force) = 0;
};

// What the lease manager needs of a pool (a seam for fakes).
class WorkerPoolInterface {
 public:
  virtual ~WorkerPoolInterface() = default;
  // The most recently used idle worker that can serve `use`, if any.
  virtual WorkerPtr PopIdleWorker(const WorkerUse &use) = 0;
  virtual void PushIdleWorker(const WorkerPtr &worker) = 0;
  // Makes sure enough workers are starting for `demand` waiting leases.
  virtual void StartWorkersForDemand(int demand) = 0;
  virtual void DisconnectWorker(const WorkerPtr &worker, bool kill) = 0;
};

class WorkerPool : public WorkerPoolInterface {
 public:
  WorkerPool(ProcessLauncherInterface &launcher, int maximum_startup_concurrency,
             std::function<int64_t()> now_ms);

  void Prestart(int count);
  // Number of started processes that have not registered yet.
  int NumStarting() const { return static_cast<int>(starting_.size()); }
  int NumIdle() const { return static_cast<int>(idle_.size()); }
  int NumRegistered() const { return static_cast<int>(registered_.size()); }

  // A worker process connected and announced itself; it becomes idle.
  // Fails for an unknown startup token.
  Status RegisterWorker(const WorkerPtr &worker);
  // A driver connected (not part of the pool's idle set).
  void RegisterDriver(const WorkerPtr &driver);

  WorkerPtr PopIdleWorker(const WorkerUse &use) override;
  void PushIdleWorker(const WorkerPtr &worker) override;
  void StartWorkersForDemand(int demand) override;
  // Forgets the worker; with `kill`, ends its process.
  void DisconnectWorker(const WorkerPtr &worker, bool kill) override;

  WorkerPtr GetWorker(const WorkerID &worker_id) const;
  WorkerPtr GetWorkerByConnection(uint64_t connection_id) const;
  // A child process exited; returns the worker it was, if it had registered.
  WorkerPtr OnProcessExit(int pid);
  // Kills processes that started more than `timeout_ms` ago without registering.
  void KillUnregisteredAfter(int64_t timeout_ms);
  // Ends idle workers above `soft_limit` that have been idle for `idle_ms`.
  void TrimIdleWorkers(int soft_limit, int64_t idle_ms);
  std::vector<WorkerPtr> AllWorkers() const;
  std::vector<int> AllPids() const;
  // Ends every worker process (raylet shutdown).
  void KillAll();

 private:
  struct StartingProcess {
    int pid;
    int64_t start_ms;
  };
  bool StartOne();

  ProcessLauncherInterface &launcher_;
  int maximum_startup_concurrency_;
  std::function<int64_t()> now_ms_;
  std::map<int64_t, StartingProcess> starting_;  // by startup token
  std::unordered_map<WorkerID, WorkerPtr> registered_;
  std::deque<WorkerPtr> idle_;
};

}  // namespace cyray::raylet
