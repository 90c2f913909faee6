#include "cyray/core_worker/actor_task_submitter.h"

#include "cyray/common/id.h"
#include "cyray/common/logging.h"

namespace cyray::core {

namespace {
constexpr int64_t kPollRetryDelayMs = 200;
// Before asking an actor again to cancel a call it has not got yet.
constexpr int64_t kCancelRetryDelayMs = 100;
}  // namespace

ActorTaskSubmitter::ActorTaskSubmitter(WorkerClientInterface &workers,
                                       ActorStateSourceInterface &states,
                                       ScheduleAfter schedule_after, OnComplete on_complete,
                                       OnFail on_fail, int64_t unavailable_timeout_ms)
    : workers_(workers),
      states_(states),
      schedule_after_(std::move(schedule_after)),
      on_complete_(std::move(on_complete)),
      on_fail_(std::move(on_fail)),
      unavailable_timeout_ms_(unavailable_timeout_ms) {}

void ActorTaskSubmitter::AddActor(const std::string &actor_id) {
  actors_.try_emplace(actor_id);
  Poll(actor_id);
}

bool ActorTaskSubmitter::IsDead(const std::string &actor_id) const {
  auto it = actors_.find(actor_id);
  return it != actors_.end() && it->second.dead;
}

void ActorTaskSubmitter::Poll(const std::string &actor_id) {
  ActorQueue &queue = actors_[actor_id];
  if (queue.polling || queue.dead || failed_error_type_ != 0) return;
  queue.polling = true;
  states_.WaitActorStateChange(
      actor_id, queue.version,
      [this, actor_id](const Status &status, const rpc::ActorTableData &table) {
        ActorQueue &queue = actors_[actor_id];
        queue.polling = false;
        if (!status.ok()) {
          // The GCS is unreachable for now: ask again a little later.
          schedule_after_(kPollRetryDelayMs, [this, actor_id] { Poll(actor_id); });
          return;
        }
        OnActorState(actor_id, table);
        Poll(actor_id);
      });
}

int64_t ActorTaskSubmitter::MaxRetries(const ActorQueue &queue, const rpc::TaskSpec &spec) {
  return spec.actor_task_spec().max_retries_set() ? spec.max_retries() : queue.max_task_retries;
}

bool ActorTaskSubmitter::HasRetriesLeft(const ActorQueue &queue, const rpc::TaskSpec &spec) const {
  int64_t max_retries = MaxRetries(queue, spec);
  return max_retries < 0 || static_cast<int64_t>(spec.attempt_number()) < max_retries;
}

bool ActorTaskSubmitter::RetriesOnError(const rpc::PushTaskReply &reply, const rpc::TaskSpec &spec,
                                        int64_t max_retries) {
  return reply.is_application_error() && reply.is_retryable_error() &&
         (max_retries < 0 || static_cast<int64_t>(spec.attempt_number()) < max_retries);
}

void ActorTaskSubmitter::OnActorState(const std::string &actor_id,
                                      const rpc::ActorTableData &table) {
  ActorQueue &queue = actors_[actor_id];
  if (failed_error_type_ != 0) return;
  if (table.version() <= queue.version && table.state() != rpc::ActorTableData::DEAD) return;
  queue.version = table.version();
  queue.max_task_retries = table.max_task_retries();
  queue.out_of_order = table.allow_out_of_order_execution();
  if (table.state() == rpc::ActorTableData::DEAD) {
    queue.dead = true;
    queue.alive = false;
    queue.death_cause = table.death_cause();
    queue.death_error_type =
        table.death_error_type() != 0 ? table.death_error_type() : rpc::ACTOR_DIED;
    FailAll(queue, queue.death_error_type,
            queue.death_cause.empty() ? "The actor died." : queue.death_cause);
    return;
  }
  if (table.state() != rpc::ActorTableData::ALIVE) {
    queue.alive = false;
    return;
  }
  bool new_incarnation = queue.address.worker_id() != table.address().worker_id();
  queue.address = table.address();
  queue.alive = true;
  if (new_incarnation) {
    RequeueInFlight(queue, rpc::ACTOR_DIED,
                    "The actor died while running this call, and the call has no retries left "
                    "(max_task_retries).");
    queue.next_seq = 0;
    queue.epoch = 0;
  }
  SendPending(actor_id);
}

void ActorTaskSubmitter::OnNodeRemoved(const std::string &node_id) {
  for (auto &[actor_id, queue] : actors_) {
    if (!queue.alive || queue.address.node_id() != node_id) continue;
    // Its worker may linger a moment after its raylet: a call sent now could
    // still run there, then be lost with the node.
    queue.alive = false;
    Poll(actor_id);
  }
}

void ActorTaskSubmitter::OnUnreachable(const std::string &actor_id, uint64_t generation,
                                       int64_t version) {
  ActorQueue &queue = actors_[actor_id];
  if (failed_error_type_ != 0 || queue.dead || queue.alive ||
      generation != queue.unreachable_generation || version != queue.version) {
    return;  // the GCS reported a change meanwhile: handled there
  }
  // Still alive by the GCS, still unreachable: the calls in flight may or may
  // not have run. Later calls are numbered afresh in a new epoch, so the actor
  // does not wait for the ones it never got.
  RequeueInFlight(queue, rpc::ACTOR_UNAVAILABLE,
                  "The actor is unavailable: it is alive as far as the GCS knows, but calls to it "
                  "failed for " +
                      std::to_string(unavailable_timeout_ms_) + " ms (" + queue.last_push_error +
                      "). The call may or may not have run.");
  queue.epoch++;
  queue.next_seq = 0;
  queue.alive = true;
  SendPending(actor_id);
}

void ActorTaskSubmitter::RequeueInFlight(ActorQueue &queue, int error_type,
                                         const std::string &message) {
  std::deque<InFlightCall> resend;
  for (auto &[seq, call] : queue.in_flight) {
    if (call.done->load()) continue;  // its reply made it after all
    if (call.cancelled) {
      Fail(call.spec, call.done, rpc::TASK_CANCELLED, CancelledMessage(call.spec));
    } else if (HasRetriesLeft(queue, call.spec)) {
      call.spec.set_attempt_number(call.spec.attempt_number() + 1);
      resend.push_back(std::move(call));
    } else {
      Fail(call.spec, call.done, error_type, message);
    }
  }
  queue.in_flight.clear();
  // In their original order, ahead of the calls not sent yet.
  for (auto it = resend.rbegin(); it != resend.rend(); ++it) {
    queue.pending.push_front(PendingCall{0, true, std::move(it->spec), it->done});
  }
}

void ActorTaskSubmitter::Fail(const rpc::TaskSpec &spec, const DoneFlag &done, int error_type,
                              const std::string &message) {
  if (!done->exchange(true)) on_fail_(spec, error_type, message);
}

void ActorTaskSubmitter::FailAll(ActorQueue &queue, int error_type, const std::string &message) {
  for (auto &[seq, call] : queue.in_flight) Fail(call.spec, call.done, error_type, message);
  queue.in_flight.clear();
  for (auto &call : queue.pending) Fail(call.spec, call.done, error_type, message);
  queue.pending.clear();
}

void ActorTaskSubmitter::FailAll(int error_type, const std::string &message) {
  failed_error_type_ = error_type;
  failed_message_ = message;
  for (auto &[actor_id, queue] : actors_) {
    queue.alive = false;
    FailAll(queue, error_type, message);
  }
}

bool ActorTaskSubmitter::CancelTask(const std::string &actor_id, const std::string &task_id,
                                    bool recursive) {
  auto found = actors_.find(actor_id);
  if (found == actors_.end()) return false;
  ActorQueue &queue = found->second;
  for (auto it = queue.pending.begin(); it != queue.pending.end(); ++it) {
    if (it->spec.task_id() != task_id) continue;
    PendingCall call = std::move(*it);
    queue.pending.erase(it);
    Fail(call.spec, call.done, rpc::TASK_CANCELLED, CancelledMessage(call.spec));
    // A call behind it may be ready to go now.
    if (queue.alive) SendPending(actor_id);
    return true;
  }
  for (auto &[seq, call] : queue.in_flight) {
    if (call.spec.task_id() != task_id) continue;
    call.cancelled = true;
    SendCancel(actor_id, task_id, recursive);
    return true;
  }
  return false;
}

void ActorTaskSubmitter::SendCancel(const std::string &actor_id, const std::string &task_id,
                                    bool recursive) {
  ActorQueue &queue = actors_[actor_id];
  bool in_flight = false;
  for (auto &[seq, call] : queue.in_flight) in_flight |= call.spec.task_id() == task_id;
  if (!in_flight || !queue.alive) return;  // answered, or resent/failed on a restart
  workers_.CancelTask(queue.address, task_id, /*force_kill=*/false, recursive,
                      [this, actor_id, task_id, recursive](bool attempt_succeeded) {
                        if (attempt_succeeded || !schedule_after_) return;
                        schedule_after_(kCancelRetryDelayMs, [this, actor_id, task_id, recursive] {
                          SendCancel(actor_id, task_id, recursive);
                        });
                      });
}

uint64_t ActorTaskSubmitter::Enqueue(rpc::TaskSpec spec) {
  std::string actor_id = spec.actor_task_spec().actor_id();
  ActorQueue &queue = actors_[actor_id];
  uint64_t ticket = next_ticket_++;
  if (failed_error_type_ != 0) {
    on_fail_(spec, failed_error_type_, failed_message_);
    return ticket;
  }
  if (queue.dead) {
    on_fail_(spec, queue.death_error_type,
             queue.death_cause.empty() ? "The actor is dead." : queue.death_cause);
    return ticket;
  }
  queue.pending.push_back(
      PendingCall{ticket, false, std::move(spec), std::make_shared<std::atomic<bool>>(false)});
  if (!queue.alive) Poll(actor_id);
  return ticket;
}

void ActorTaskSubmitter::MarkReady(const std::string &actor_id, uint64_t ticket,
                                   rpc::TaskSpec resolved) {
  ActorQueue &queue = actors_[actor_id];
  for (auto &call : queue.pending) {
    if (call.ticket == ticket) {
      call.ready = true;
      call.spec = std::move(resolved);
      break;
    }
  }
  if (queue.alive) SendPending(actor_id);
}

void ActorTaskSubmitter::SendPending(const std::string &actor_id) {
  ActorQueue &queue = actors_[actor_id];
  while (queue.alive) {
    // In order: the first call, once ready. Out of order: the first ready one.
    auto next = queue.pending.begin();
    if (queue.out_of_order) {
      while (next != queue.pending.end() && !next->ready) ++next;
    }
    if (next == queue.pending.end() || !next->ready) break;
    if (next->done->load()) {
      // Requeued for a resend, but its reply came after all: it must not run twice.
      queue.pending.erase(next);
      continue;
    }
    rpc::TaskSpec spec = std::move(next->spec);
    DoneFlag done = next->done;
    queue.pending.erase(next);
    uint64_t seq = queue.next_seq++;
    uint64_t epoch = queue.epoch;
    spec.mutable_actor_task_spec()->set_sequence_number(seq);
    spec.mutable_actor_task_spec()->set_caller_epoch(epoch);
    if (!spec.actor_task_spec().max_retries_set()) {
      // The call's retry limit travels with it from now on: the owner's
      // lineage reads it when the call completes.
      spec.set_max_retries(queue.max_task_retries);
      spec.mutable_actor_task_spec()->set_max_retries_set(true);
    }
    auto request = std::make_shared<rpc::PushTaskRequest>();
    request->set_intended_worker_id(queue.address.worker_id());
    *request->mutable_task_spec() = spec;
    // The reply-thread callback reads the spec inside the request: not another copy.
    std::shared_ptr<const rpc::TaskSpec> shared_spec(request, &request->task_spec());
    int64_t max_retries = MaxRetries(queue, spec);
    queue.in_flight.emplace(seq, InFlightCall{std::move(spec), done});
    std::string incarnation = queue.address.worker_id();
    // A successful reply completes the call where it arrives (once, whichever
    // attempt answers first); the submitter's thread then updates its queues.
    // An error the call is retried for is left to the submitter's thread.
    auto on_reply_thread = [this, shared_spec, done, max_retries](const Status &status,
                                                                  const rpc::PushTaskReply &reply) {
      if (status.ok() && !RetriesOnError(reply, *shared_spec, max_retries) &&
          !done->exchange(true)) {
        on_complete_(*shared_spec, reply);
      }
    };
    workers_.PushTask(
        queue.address, request,
        [this, actor_id, seq, epoch, incarnation, max_retries](const Status &status,
                                                               const rpc::PushTaskReply &reply) {
          ActorQueue &queue = actors_[actor_id];
          // A reply from an incarnation or epoch we moved on from: its calls
          // were requeued or given up.
          if (queue.address.worker_id() != incarnation || queue.epoch != epoch) return;
          auto it = queue.in_flight.find(seq);
          if (it == queue.in_flight.end()) return;
          if (!status.ok()) {
            // The actor is probably dead; the GCS says whether it comes back.
            // Until then nothing more is sent to this incarnation. If the GCS
            // keeps saying it is alive, OnUnreachable gives up on these calls.
            queue.alive = false;
            queue.last_push_error = status.message();
            uint64_t generation = ++queue.unreachable_generation;
            int64_t version = queue.version;
            schedule_after_(unavailable_timeout_ms_, [this, actor_id, generation, version] {
              OnUnreachable(actor_id, generation, version);
            });
            Poll(actor_id);
            return;
          }
          InFlightCall call = std::move(it->second);
          queue.in_flight.erase(it);
          if (RetriesOnError(reply, call.spec, max_retries)) {
            if (call.cancelled) {
              if (!call.done->exchange(true)) on_complete_(call.spec, reply);
              return;
            }
            // Run it again (retry_exceptions), ahead of the calls not sent yet.
            call.spec.set_attempt_number(call.spec.attempt_number() + 1);
            queue.pending.push_front(PendingCall{0, true, std::move(call.spec), call.done});
            SendPending(actor_id);
          }
        },
        on_reply_thread);
  }
}

}  // namespace cyray::core
