// WorkerExits: how each worker process of this raylet ended. A worker whose
// connection closed (or that the raylet killed) is "exiting" until its process
// is reaped; then its exit detail ("worker pid 123 was killed by signal 9
// (SIGKILL)", "exited with code 3", and why the runtime killed it, if it did)
// is kept for a while so owners can ask why their task's worker died
// (GetWorkerFailureCause), and the GCS is told with the detail. Pure
// bookkeeping, no processes or clocks of its own: NodeManager feeds it on its
// main thread; not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "cyray/common/id.h"

namespace cyray::raylet {

// "exited with code 3" / "was killed by signal 9 (SIGKILL)" for a waitpid status.
std::string DescribeWaitStatus(int wait_status);

struct WorkerExit {
  WorkerID worker_id;
  int pid = 0;
  bool is_driver = false;
  // The worker announced that it exits on purpose (max_calls, exit_actor).
  bool intentional = false;
  // What the raylet saw first: "its connection closed", "killed when ...".
  std::string why;
  // The runtime killed it, and why (empty when it died on its own).
  std::string killed_by_runtime;
  // Set once reaped: "worker pid 123 exited with code 3 ...".
  std::string detail;
  bool reaped = false;
};

class WorkerExits {
 public:
  // Called with every finished exit (reaped, or given up on after a timeout).
  using OnFinal = std::function<void(const WorkerExit &)>;
  explicit WorkerExits(OnFinal on_final, size_t max_kept = 1000)
      : on_final_(std::move(on_final)), max_kept_(max_kept) {}

  // The worker is gone from the raylet's view; its process may still run.
  void OnGone(const WorkerID &worker_id, int pid, bool is_driver, bool intentional,
              const std::string &why, int64_t now_ms);
  // The runtime is killing the process `pid` on purpose, for `reason`.
  void OnKilledByRuntime(int pid, const std::string &reason);
  // waitpid returned `wait_status` for `pid`. Returns true when it was a
  // worker this tracker knew as gone (its exit is now final).
  bool OnReaped(int pid, int wait_status);
  // Finishes exits whose processes were not reaped within `timeout_ms`.
  void ExpireUnreaped(int64_t now_ms, int64_t timeout_ms);

  // The final exit of `worker_id`, when known.
  std::optional<WorkerExit> Find(const WorkerID &worker_id) const;
  // True while the worker is gone but its exit is not final yet.
  bool IsPending(const WorkerID &worker_id) const;

 private:
  void Finish(WorkerExit exit);

  OnFinal on_final_;
  size_t max_kept_;
  // Gone, waiting to be reaped: by pid.
  std::unordered_map<int, WorkerExit> pending_;
  std::unordered_map<int, int64_t> pending_since_ms_;
  // Kill reasons for pids not (yet) known as gone.
  std::unordered_map<int, std::string> kill_reasons_;
  // Final exits, oldest first, bounded by max_kept_.
  std::deque<WorkerID> order_;
  std::unordered_map<WorkerID, WorkerExit> final_;
};

}  // namespace cyray::raylet
