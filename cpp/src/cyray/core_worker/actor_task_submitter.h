// ActorTaskSubmitter: sends a caller's actor method calls straight to the
// actor's worker, numbered per actor incarnation so the actor runs them in
// submission order. It follows each actor's state through the GCS (long
// polls): calls wait while the actor is being created or restarted, calls in
// flight when it died are resent to the new incarnation while they have
// retries left (max_task_retries, the call's own or the actor's), a call
// that raised is run again when it asked for it (retry_exceptions) while
// retries are left, and every call to a dead actor fails with
// its death cause. Not thread-safe: used on the core worker's io thread only.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "cyray/common/status.h"
#include "cyray/core_worker/task_submitter.h"
#include "cyray/protobuf/gcs_service.pb.h"

namespace cyray::core {

// The GCS's view of actors, as the submitter needs it (a seam for fakes).
class ActorStateSourceInterface {
 public:
  virtual ~ActorStateSourceInterface() = default;
  // Answers once the actor's version exceeds `known_version` or it is dead.
  virtual void WaitActorStateChange(
      const std::string &actor_id, int64_t known_version,
      std::function<void(const Status &, const rpc::ActorTableData &)> callback) = 0;
};

class ActorTaskSubmitter {
 public:
  using OnComplete = NormalTaskSubmitter::OnComplete;
  using OnFail = NormalTaskSubmitter::OnFail;
  using ScheduleAfter = NormalTaskSubmitter::ScheduleAfter;

  // A push that fails while the GCS keeps reporting the same incarnation alive
  // for `unavailable_timeout_ms` makes the calls in flight fail with
  // ACTOR_UNAVAILABLE (or be resent while they have retries left).
  ActorTaskSubmitter(WorkerClientInterface &workers, ActorStateSourceInterface &states,
                     ScheduleAfter schedule_after, OnComplete on_complete, OnFail on_fail,
                     int64_t unavailable_timeout_ms = 5000);

  // Starts following an actor (idempotent).
  void AddActor(const std::string &actor_id);
  // Takes a call's place in line (in submission order) before its arguments
  // are resolved; returns a ticket for MarkReady.
  uint64_t Enqueue(rpc::TaskSpec spec);
  // The call's arguments are resolved: it may be sent once those before it are.
  void MarkReady(const std::string &actor_id, uint64_t ticket, rpc::TaskSpec resolved);
  // Cancels a call: one not sent yet fails with TASK_CANCELLED at once; the
  // actor is asked to cancel one it has (a queued call is skipped, a running
  // coroutine is cancelled, a running method sees is_canceled()), and it is
  // not resent after a restart. Returns false when the call is not here.
  bool CancelTask(const std::string &actor_id, const std::string &task_id, bool recursive);
  // True once the GCS reported the actor dead.
  bool IsDead(const std::string &actor_id) const;
  // No actor can be reached any more (the local raylet died): fails every
  // pending and in-flight call, and every later one, with `error_type`.
  void FailAll(int error_type, const std::string &message);
  // A node died: actors whose incarnation ran there get nothing more until the
  // GCS reports their next incarnation (or their death).
  void OnNodeRemoved(const std::string &node_id);

 private:
  // Set once a call's result (or failure) is delivered; shared by every
  // attempt of the call and read on the reply thread, so it completes once.
  using DoneFlag = std::shared_ptr<std::atomic<bool>>;
  struct PendingCall {
    uint64_t ticket;
    bool ready;
    rpc::TaskSpec spec;
    DoneFlag done;
  };
  struct InFlightCall {
    rpc::TaskSpec spec;
    DoneFlag done;
    bool cancelled = false;
  };
  struct ActorQueue {
    int64_t version = -1;
    bool alive = false;
    bool dead = false;
    std::string death_cause;
    int death_error_type = 0;
    int max_task_retries = 0;
    // Ready calls go at once, past calls still resolving their arguments.
    bool out_of_order = false;
    rpc::Address address;
    bool polling = false;
    // Numbering restarts from 0 in each (incarnation, epoch); the epoch moves
    // on when calls to a live but unreachable actor are given up.
    uint64_t epoch = 0;
    uint64_t next_seq = 0;
    // Bumped by each failed push, so only the latest failure's timer acts.
    uint64_t unreachable_generation = 0;
    std::string last_push_error;
    std::deque<PendingCall> pending;             // not sent to this incarnation
    std::map<uint64_t, InFlightCall> in_flight;  // by sequence number
  };

  void Poll(const std::string &actor_id);
  void OnActorState(const std::string &actor_id, const rpc::ActorTableData &table);
  void SendPending(const std::string &actor_id);
  // The timer of a failed push: the actor is still alive by the GCS, yet
  // unreachable. Gives up on (or resends) the calls in flight.
  void OnUnreachable(const std::string &actor_id, uint64_t generation, int64_t version);
  void FailAll(ActorQueue &queue, int error_type, const std::string &message);
  // Calls in flight go back to the front of the queue to be resent while they
  // have retries left (max_task_retries); the others fail with `error_type`.
  void RequeueInFlight(ActorQueue &queue, int error_type, const std::string &message);
  // Fails a call unless it was already delivered.
  void Fail(const rpc::TaskSpec &spec, const DoneFlag &done, int error_type,
            const std::string &message);
  bool HasRetriesLeft(const ActorQueue &queue, const rpc::TaskSpec &spec) const;
  // The call's own max_task_retries, else the actor's.
  static int64_t MaxRetries(const ActorQueue &queue, const rpc::TaskSpec &spec);
  // Whether a reply is an application error the call runs again for.
  static bool RetriesOnError(const rpc::PushTaskReply &reply, const rpc::TaskSpec &spec,
                             int64_t max_retries);
  // Asks the actor to cancel an in-flight call, again while it has not got it.
  void SendCancel(const std::string &actor_id, const std::string &task_id, bool recursive);

  WorkerClientInterface &workers_;
  ActorStateSourceInterface &states_;
  ScheduleAfter schedule_after_;
  OnComplete on_complete_;
  OnFail on_fail_;
  int64_t unavailable_timeout_ms_;
  std::unordered_map<std::string, ActorQueue> actors_;
  // Set by FailAll(error_type, message).
  int failed_error_type_ = 0;
  std::string failed_message_;
  uint64_t next_ticket_ = 1;
};

}  // namespace cyray::core
