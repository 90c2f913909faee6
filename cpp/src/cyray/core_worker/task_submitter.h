// NormalTaskSubmitter: runs an owner's normal tasks on leased workers. Tasks
// queue per scheduling key (resource shape + function); the submitter asks the
// raylet for leases while tasks wait, pushes tasks to each leased worker (up
// to a few in flight when more tasks wait than leases are coming, so the
// worker never idles on a round trip; one at a time otherwise), reuses the lease for the next
// queued task of the same key and returns it when the queue has stayed empty for a short linger (so
// a loop of submit-then-get does not pay a lease round trip per task). A worker that dies fails its
// task, which is retried while retries remain; a task that raised is retried only when it asked for
// it. Not thread-safe: used on the core worker's io thread only.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "cyray/common/id.h"
#include "cyray/common/status.h"
#include "cyray/core_worker/task_event_buffer.h"
#include "cyray/protobuf/core_worker.pb.h"
#include "cyray/protobuf/node_manager.pb.h"

namespace cyray::core {

// The raylets, as seen by the submitter (a seam for fakes). `raylet` is the
// "host:port" of a raylet's gRPC server; empty means the local raylet.
class LeaseClientInterface {
 public:
  virtual ~LeaseClientInterface() = default;
  // `grant_or_reject`: the request was spilled back to `raylet`, which must not
  // spill it again.
  virtual void RequestWorkerLease(
      const std::string &raylet, const rpc::TaskSpec &resource_spec, int64_t backlog,
      bool grant_or_reject,
      std::function<void(const Status &, const rpc::RequestWorkerLeaseReply &)> callback) = 0;
  virtual void ReturnWorker(const std::string &raylet, const std::string &worker_id,
                            bool disconnect, const std::string &reason) = 0;
  // The owner `owner_id` no longer needs the leases it asked `raylet` for
  // `task_id`: the raylet answers them as canceled.
  virtual void CancelWorkerLease(const std::string &raylet, const std::string &task_id,
                                 const std::string &owner_id) = 0;
  // How a worker leased from `raylet` ended ("worker pid 1 was killed by
  // signal 9 (SIGKILL)"), waiting up to `wait_ms` for its exit to be reaped;
  // empty when unknown.
  virtual void GetWorkerFailureCause(const std::string &raylet, const std::string &worker_id,
                                     int64_t wait_ms,
                                     std::function<void(const std::string &)> callback) = 0;
};

// Leased workers, as seen by the submitter (a seam for fakes).
class WorkerClientInterface {
 public:
  virtual ~WorkerClientInterface() = default;
  using PushCallback = std::function<void(const Status &, const rpc::PushTaskReply &)>;
  // `callback` runs on the submitter's thread; `on_reply_thread`, when given,
  // runs first on the thread that received the reply (it must be thread-safe).
  // The request is read, not kept: a caller may hold it (and the spec in it) on.
  virtual void PushTask(const rpc::Address &worker,
                        std::shared_ptr<const rpc::PushTaskRequest> request, PushCallback callback,
                        PushCallback on_reply_thread = nullptr) = 0;
  // Asks the worker running (or holding) `task_id` to cancel it. `callback`
  // runs on the submitter's thread with whether the worker had the task.
  virtual void CancelTask(const rpc::Address &worker, const std::string &task_id, bool force_kill,
                          bool recursive, std::function<void(bool attempt_succeeded)> callback) = 0;
};

// The message of a cancelled task's TASK_CANCELLED error.
std::string CancelledMessage(const TaskID &task_id);
inline std::string CancelledMessage(const rpc::TaskSpec &spec) {
  return CancelledMessage(TaskID::FromBinary(spec.task_id()));
}

class NormalTaskSubmitter {
 public:
  // `on_complete` gets the final reply of a task; `on_fail` an error to store
  // in all of its returns (rpc::ErrorType and message).
  // May run on any thread (it is called as soon as a final reply arrives).
  using OnComplete = std::function<void(const rpc::TaskSpec &, const rpc::PushTaskReply &)>;
  using OnFail = std::function<void(const rpc::TaskSpec &, int error_type, const std::string &)>;
  // Runs a callback on the submitter's thread after a delay in ms.
  using ScheduleAfter = std::function<void(int64_t, std::function<void()>)>;

  NormalTaskSubmitter(LeaseClientInterface &leases, WorkerClientInterface &workers,
                      int max_lease_requests_in_flight, int max_tasks_in_flight_per_worker,
                      int64_t lease_idle_linger_ms, ScheduleAfter schedule_after,
                      OnComplete on_complete, OnFail on_fail);

  // Told each state change of a task here (for task events): waiting for a
  // lease, pushed to a worker, an attempt failed and is retried.
  using StatusListener =
      std::function<void(const rpc::TaskSpec &, rpc::TaskStatus, const TaskStatusDetail &)>;
  void SetStatusListener(StatusListener listener) { status_listener_ = std::move(listener); }
  // The clock (us) that times tasks for the pipeline depth; a steady clock by default.
  void SetClock(std::function<int64_t()> now_us) { now_us_ = std::move(now_us); }

  // Queues a task whose arguments are all resolved (inline).
  void SubmitTask(rpc::TaskSpec spec);
  // Nothing can run any more (the local raylet died): fails every queued task
  // and, from now on, every task submitted or retried, with `error_type`.
  void FailAll(int error_type, const std::string &message);

  // Cancels a task. One still queued here fails with TASK_CANCELLED at once;
  // one pushed to a worker is interrupted there (with `force_kill` its worker
  // is killed) and is never retried. Returns false when the submitter does
  // not have the task (its arguments are still being resolved, or it ended).
  bool CancelTask(const std::string &task_id, bool force_kill, bool recursive);

  // A node died: leases parked on it are dropped (their workers are gone).
  void OnNodeRemoved(const std::string &node_id);

  size_t NumQueued() const;
  size_t NumLeasedWorkers() const { return leased_workers_; }

 private:
  struct LeasedWorker {
    std::string key;
    // The raylet that granted the lease ("" when the local one).
    std::string raylet;
    rpc::Address address;
    google::protobuf::RepeatedPtrField<rpc::ResourceAllocation> resource_mapping;
    // Bumped each time the worker is parked, so a stale linger timer is ignored.
    uint64_t park_generation = 0;
    int in_flight = 0;
    // When its last reply came (the clock's us), to time the task after it.
    int64_t last_reply_us = 0;
    // Set when the worker failed or is exiting: push nothing more to it.
    bool released = false;
    // A push to it failed: it is given back once its raylet said how it ended.
    bool failed = false;
  };
  using LeasedWorkerPtr = std::shared_ptr<LeasedWorker>;
  // A task pushed to a worker and not answered yet. `cancelled` is read on
  // the reply thread too.
  struct InFlightTask {
    LeasedWorkerPtr worker;
    std::shared_ptr<std::atomic<bool>> cancelled;
  };
  struct KeyState {
    std::deque<rpc::TaskSpec> queue;
    int pending_lease_requests = 0;
    // Where each pending request waits: (raylet, the task its spec names).
    std::multiset<std::pair<std::string, std::string>> lease_requests;
    // Who asks (this process's worker ID, from the specs' caller address).
    std::string owner_id;
    // Leased workers with nothing to do, kept for the linger period.
    std::deque<LeasedWorkerPtr> parked;
    // How long a task of this key keeps a worker busy (us, a moving average
    // over replies); 0 before the first reply.
    double service_us = 0;
  };

  static std::string SchedulingKey(const rpc::TaskSpec &spec);
  // How many tasks of `state` one worker may hold at once: deep for short
  // tasks (a round trip per task would leave workers waiting), 1 for long ones
  // (tasks queued behind a busy worker could have run on the next one leased).
  int PipelineDepth(const KeyState &state) const;
  // A reply came from `worker` for a task pushed at `pushed_us`: times it.
  void TimeReply(const LeasedWorkerPtr &worker, int64_t pushed_us);
  void RequestLeasesIfNeeded(const std::string &key);
  // Nothing of `key` is queued any more: its pending lease requests are
  // cancelled at their raylets (they would hold demand, or a worker, for
  // nothing).
  void CancelLeasesIfIdle(const std::string &key);
  // One lease request of `key` (counted in pending_lease_requests) to `raylet`.
  void RequestLease(const std::string &key, const std::string &raylet, bool grant_or_reject);
  void OnLeaseReply(const std::string &key, const std::string &raylet, const Status &status,
                    const rpc::RequestWorkerLeaseReply &reply);
  void OnWorkerIdle(const LeasedWorkerPtr &worker);
  void Park(const LeasedWorkerPtr &worker);
  void PushTask(const LeasedWorkerPtr &worker, rpc::TaskSpec spec);
  void ReleaseWorker(const LeasedWorkerPtr &worker, bool disconnect, const std::string &reason);
  // Retries the task when it has retries left and was not cancelled;
  // otherwise fails it.
  void RetryOrFail(rpc::TaskSpec spec, int error_type, const std::string &message,
                   bool cancelled = false);
  // Sends a cancel request for an in-flight task, again while the worker has
  // not got the task yet (the push may still be on its way).
  void SendCancel(const std::string &task_id, bool force_kill, bool recursive);
  static bool HasRetriesLeft(const rpc::TaskSpec &spec);

  LeaseClientInterface &leases_;
  WorkerClientInterface &workers_;
  int max_lease_requests_in_flight_;
  int max_tasks_in_flight_per_worker_;
  int64_t lease_idle_linger_ms_;
  ScheduleAfter schedule_after_;
  OnComplete on_complete_;
  OnFail on_fail_;
  std::function<int64_t()> now_us_;
  StatusListener status_listener_;
  void Notify(const rpc::TaskSpec &spec, rpc::TaskStatus status,
              const TaskStatusDetail &detail = {}) {
    if (status_listener_) status_listener_(spec, status, detail);
  }
  std::unordered_map<std::string, KeyState> keys_;
  // By task ID.
  std::unordered_map<std::string, InFlightTask> in_flight_;
  // Tasks cancelled while neither queued nor in flight (between attempts):
  // failed instead of run when they come back.
  std::unordered_set<std::string> cancelled_elsewhere_;
  // Set by FailAll.
  int failed_error_type_ = 0;
  std::string failed_message_;
  size_t leased_workers_ = 0;
};

}  // namespace cyray::core
