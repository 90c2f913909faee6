#include "cyray/core_worker/task_submitter.h"

#include <algorithm>
#include <chrono>

#include "cyray/common/clock.h"
#include "cyray/common/logging.h"

namespace cyray::core {

namespace {
// How long an owner waits for the raylet to reap a dead worker, to name its fate.
constexpr int64_t kWorkerFailureCauseWaitMs = 1000;
// Before asking the local raylet again after a remote one failed to answer.
constexpr int64_t kRemoteLeaseRetryDelayMs = 100;
// Before asking a worker again to cancel a task it has not got yet.
constexpr int64_t kCancelRetryDelayMs = 100;
// The work one worker may have queued behind the task it runs, in us of the
// key's average task: enough to hide a round trip, little to wait behind.
constexpr double kPipelineBudgetUs = 1000;
// Tasks one worker may hold before any of its key has been timed.
constexpr int kUntimedPipelineDepth = 4;

}  // namespace

std::string CancelledMessage(const TaskID &task_id) {
  return "Task: " + task_id.Hex() + " was cancelled.";
}

NormalTaskSubmitter::NormalTaskSubmitter(LeaseClientInterface &leases,
                                         WorkerClientInterface &workers,
                                         int max_lease_requests_in_flight,
                                         int max_tasks_in_flight_per_worker,
                                         int64_t lease_idle_linger_ms, ScheduleAfter schedule_after,
                                         OnComplete on_complete, OnFail on_fail)
    : leases_(leases),
      workers_(workers),
      max_lease_requests_in_flight_(std::max(1, max_lease_requests_in_flight)),
      max_tasks_in_flight_per_worker_(std::max(1, max_tasks_in_flight_per_worker)),
      lease_idle_linger_ms_(lease_idle_linger_ms),
      schedule_after_(std::move(schedule_after)),
      on_complete_(std::move(on_complete)),
      on_fail_(std::move(on_fail)),
      now_us_(SteadyNowUs) {}

int NormalTaskSubmitter::PipelineDepth(const KeyState &state) const {
  if (state.service_us <= 0)
    return std::min(kUntimedPipelineDepth, max_tasks_in_flight_per_worker_);
  const double depth = 1 + kPipelineBudgetUs / state.service_us;
  return depth >= max_tasks_in_flight_per_worker_ ? max_tasks_in_flight_per_worker_
                                                  : static_cast<int>(depth);
}

void NormalTaskSubmitter::TimeReply(const LeasedWorkerPtr &worker, int64_t pushed_us) {
  const int64_t now = now_us_();
  // The worker took this task up when it was pushed, or when the one before
  // it on this worker answered, whichever came later.
  const double sample =
      static_cast<double>(std::max<int64_t>(1, now - std::max(pushed_us, worker->last_reply_us)));
  worker->last_reply_us = now;
  double &average = keys_[worker->key].service_us;
  average = average <= 0 ? sample : 0.8 * average + 0.2 * sample;
}

std::string NormalTaskSubmitter::SchedulingKey(const rpc::TaskSpec &spec) {
  // Resources in key order (std::map), then the function.
  std::map<std::string, double> sorted(spec.required_resources().begin(),
                                       spec.required_resources().end());
  std::string key;
  for (const auto &[name, amount] : sorted) key += name + "=" + std::to_string(amount) + ";";
  key += "|" + spec.function_descriptor().function_id();
  if (spec.has_scheduling_strategy()) key += "|" + spec.scheduling_strategy().SerializeAsString();
  return key;
}

size_t NormalTaskSubmitter::NumQueued() const {
  size_t n = 0;
  for (const auto &[key, state] : keys_) n += state.queue.size();
  return n;
}

void NormalTaskSubmitter::SubmitTask(rpc::TaskSpec spec) {
  if (failed_error_type_ != 0) {
    on_fail_(spec, failed_error_type_, failed_message_);
    return;
  }
  if (!cancelled_elsewhere_.empty() && cancelled_elsewhere_.erase(spec.task_id()) > 0) {
    on_fail_(spec, rpc::TASK_CANCELLED, CancelledMessage(spec));
    return;
  }
  Notify(spec, rpc::PENDING_NODE_ASSIGNMENT);
  std::string key = SchedulingKey(spec);
  KeyState &state = keys_[key];
  state.queue.push_back(std::move(spec));
  if (!state.parked.empty()) {
    LeasedWorkerPtr worker = state.parked.back();
    state.parked.pop_back();
    OnWorkerIdle(worker);
    return;
  }
  RequestLeasesIfNeeded(key);
}

void NormalTaskSubmitter::RequestLeasesIfNeeded(const std::string &key) {
  KeyState &state = keys_[key];
  int wanted =
      static_cast<int>(std::min<size_t>(state.queue.size(), max_lease_requests_in_flight_));
  while (state.pending_lease_requests < wanted) {
    state.pending_lease_requests++;
    RequestLease(key, "", false);
  }
}

void NormalTaskSubmitter::RequestLease(const std::string &key, const std::string &raylet,
                                       bool grant_or_reject) {
  KeyState &state = keys_[key];
  if (state.queue.empty()) {
    state.pending_lease_requests--;
    return;
  }
  // The raylet needs the resources and the caller, not the arguments.
  rpc::TaskSpec resource_spec = state.queue.front();
  resource_spec.clear_args();
  std::pair<std::string, std::string> where{raylet, resource_spec.task_id()};
  state.lease_requests.insert(where);
  state.owner_id = resource_spec.caller_address().worker_id();
  leases_.RequestWorkerLease(
      raylet, resource_spec, static_cast<int64_t>(state.queue.size()), grant_or_reject,
      [this, key, where](const Status &status, const rpc::RequestWorkerLeaseReply &reply) {
        auto &requests = keys_[key].lease_requests;
        auto it = requests.find(where);
        if (it != requests.end()) requests.erase(it);
        OnLeaseReply(key, where.first, status, reply);
      });
}

void NormalTaskSubmitter::CancelLeasesIfIdle(const std::string &key) {
  KeyState &state = keys_[key];
  if (!state.queue.empty() || state.lease_requests.empty()) return;
  std::set<std::pair<std::string, std::string>> targets(state.lease_requests.begin(),
                                                        state.lease_requests.end());
  for (const auto &[raylet, task_id] : targets) {
    leases_.CancelWorkerLease(raylet, task_id, state.owner_id);
  }
}

void NormalTaskSubmitter::OnLeaseReply(const std::string &key, const std::string &raylet,
                                       const Status &status,
                                       const rpc::RequestWorkerLeaseReply &reply) {
  KeyState &state = keys_[key];
  if (status.ok() && reply.retry_at_raylet_address().port() != 0) {
    // Spillback: the same request (still pending) goes to the named raylet.
    const auto &target = reply.retry_at_raylet_address();
    RequestLease(key, target.ip_address() + ":" + std::to_string(target.port()), true);
    return;
  }
  if (status.ok() && reply.rejected()) {
    RequestLease(key, "", false);
    return;
  }
  if (!status.ok() && !raylet.empty() && failed_error_type_ == 0) {
    // A remote raylet did not answer (its node may have died): start over at
    // the local raylet, which will not pick a dead node.
    CYRAY_LOG(INFO) << "lease request to raylet " << raylet << " failed (" << status
                    << "); asking the local raylet again";
    schedule_after_(kRemoteLeaseRetryDelayMs, [this, key] { RequestLease(key, "", false); });
    return;
  }
  state.pending_lease_requests--;
  if (!status.ok() || reply.infeasible() || reply.canceled()) {
    int error_type = rpc::RAYLET_DIED;
    std::string message = "could not lease a worker from the local raylet: " + status.ToString();
    if (status.ok()) {
      error_type = reply.infeasible() ? rpc::TASK_UNSCHEDULABLE_ERROR : rpc::SYSTEM_ERROR;
      message = reply.failure_message();
    }
    if (status.ok() && !reply.infeasible() && state.queue.size() > 0) {
      // Canceled: ask again.
      RequestLeasesIfNeeded(key);
      return;
    }
    // Nothing queued of this key can run: fail it all.
    std::deque<rpc::TaskSpec> failed;
    failed.swap(state.queue);
    for (auto &spec : failed) on_fail_(spec, error_type, message);
    return;
  }
  auto worker = std::make_shared<LeasedWorker>();
  worker->key = key;
  worker->raylet = raylet;
  worker->address = reply.worker_address();
  worker->resource_mapping = reply.resource_mapping();
  leased_workers_++;
  OnWorkerIdle(worker);
}

void NormalTaskSubmitter::OnWorkerIdle(const LeasedWorkerPtr &worker) {
  if (worker->released || worker->failed) return;
  KeyState &state = keys_[worker->key];
  if (state.queue.empty()) {
    if (worker->in_flight == 0) Park(worker);
    return;
  }
  // Always one task; more only while the queue outnumbers the leases still
  // coming (those tasks would otherwise wait for a worker anyway).
  while (!state.queue.empty() && !worker->released) {
    bool first = worker->in_flight == 0;
    bool pipeline = worker->in_flight < PipelineDepth(state) &&
                    state.queue.size() > static_cast<size_t>(state.pending_lease_requests) &&
                    state.queue.front().max_calls() == 0;
    if (!first && !pipeline) break;
    rpc::TaskSpec spec = std::move(state.queue.front());
    state.queue.pop_front();
    PushTask(worker, std::move(spec));
  }
}

void NormalTaskSubmitter::Park(const LeasedWorkerPtr &worker) {
  if (lease_idle_linger_ms_ <= 0 || !schedule_after_) {
    ReleaseWorker(worker, false, "");
    return;
  }
  uint64_t generation = ++worker->park_generation;
  keys_[worker->key].parked.push_back(worker);
  schedule_after_(lease_idle_linger_ms_, [this, worker, generation] {
    auto &parked = keys_[worker->key].parked;
    auto it = std::find(parked.begin(), parked.end(), worker);
    if (it == parked.end() || worker->park_generation != generation) return;
    parked.erase(it);
    ReleaseWorker(worker, false, "");
  });
}

void NormalTaskSubmitter::ReleaseWorker(const LeasedWorkerPtr &worker, bool disconnect,
                                        const std::string &reason) {
  if (worker->released) return;
  worker->released = true;
  leased_workers_--;
  leases_.ReturnWorker(worker->raylet, worker->address.worker_id(), disconnect, reason);
}

void NormalTaskSubmitter::PushTask(const LeasedWorkerPtr &worker, rpc::TaskSpec spec) {
  if (status_listener_) {
    TaskStatusDetail where;
    where.node_id = worker->address.node_id();
    where.worker_id = worker->address.worker_id();
    Notify(spec, rpc::SUBMITTED_TO_WORKER, where);
  }
  auto request = std::make_shared<rpc::PushTaskRequest>();
  request->set_intended_worker_id(worker->address.worker_id());
  *request->mutable_resource_mapping() = worker->resource_mapping;
  *request->mutable_task_spec() = std::move(spec);
  // The callbacks keep the spec where it is, inside the request: not a copy.
  std::shared_ptr<rpc::TaskSpec> shared_spec(request, request->mutable_task_spec());
  worker->in_flight++;
  auto completed = std::make_shared<bool>(false);
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  const int64_t pushed_us = now_us_();
  in_flight_[shared_spec->task_id()] = InFlightTask{worker, cancelled};
  // A final reply completes the task right where it arrives, so the caller's
  // get wakes without waiting for the submitter's thread.
  auto on_reply_thread = [this, shared_spec, completed, cancelled](
                             const Status &status, const rpc::PushTaskReply &reply) {
    bool retry = !cancelled->load() && reply.is_application_error() && reply.is_retryable_error() &&
                 HasRetriesLeft(*shared_spec);
    if (status.ok() && !retry) {
      on_complete_(*shared_spec, reply);
      *completed = true;
    }
  };
  workers_.PushTask(
      worker->address, request,
      [this, worker, shared_spec, completed, cancelled, pushed_us](
          const Status &status, const rpc::PushTaskReply &reply) {
        worker->in_flight--;
        if (status.ok()) TimeReply(worker, pushed_us);
        rpc::TaskSpec &spec = *shared_spec;
        in_flight_.erase(spec.task_id());
        if (status.ok() && *completed) cancelled_elsewhere_.erase(spec.task_id());
        if (!status.ok()) {
          // The worker died (or became unreachable) while running the task. Ask
          // its raylet how it ended before giving it back: a worker given back
          // first would be killed by the raylet, which would then blame itself.
          worker->failed = true;
          std::string push_error = status.message();
          auto failed = std::make_shared<rpc::TaskSpec>(std::move(spec));
          leases_.GetWorkerFailureCause(
              worker->raylet, worker->address.worker_id(), kWorkerFailureCauseWaitMs,
              [this, worker, failed, push_error, cancelled](const std::string &detail) {
                ReleaseWorker(worker, true, "push failed: " + push_error);
                std::string message =
                    "The worker running task " + failed->name() +
                    " died unexpectedly: " + (detail.empty() ? push_error : detail) + ".";
                std::string key = worker->key;
                RetryOrFail(std::move(*failed), rpc::WORKER_DIED, message, cancelled->load());
                RequestLeasesIfNeeded(key);
              });
          return;
        }
        if (!*completed) {
          // A retryable application error with retries left (unless it was
          // cancelled after the reply arrived).
          if (cancelled->load()) {
            on_fail_(spec, rpc::TASK_CANCELLED, CancelledMessage(spec));
          } else {
            spec.set_attempt_number(spec.attempt_number() + 1);
            Notify(spec, rpc::PENDING_NODE_ASSIGNMENT);
            keys_[worker->key].queue.push_back(std::move(spec));
          }
        }
        if (reply.worker_exiting()) {
          std::string key = worker->key;
          ReleaseWorker(worker, true, "worker exiting");
          RequestLeasesIfNeeded(key);
        } else {
          OnWorkerIdle(worker);
        }
      },
      on_reply_thread);
}

bool NormalTaskSubmitter::CancelTask(const std::string &task_id, bool force_kill, bool recursive) {
  for (auto &[key, state] : keys_) {
    for (auto it = state.queue.begin(); it != state.queue.end(); ++it) {
      if (it->task_id() != task_id) continue;
      rpc::TaskSpec spec = std::move(*it);
      state.queue.erase(it);
      on_fail_(spec, rpc::TASK_CANCELLED, CancelledMessage(spec));
      CancelLeasesIfIdle(key);
      return true;
    }
  }
  auto it = in_flight_.find(task_id);
  if (it == in_flight_.end()) {
    // Between attempts (its worker died and the cause is being asked), or
    // not here yet: it must not run again.
    cancelled_elsewhere_.insert(task_id);
    return false;
  }
  it->second.cancelled->store(true);
  SendCancel(task_id, force_kill, recursive);
  return true;
}

void NormalTaskSubmitter::SendCancel(const std::string &task_id, bool force_kill, bool recursive) {
  auto it = in_flight_.find(task_id);
  if (it == in_flight_.end()) return;  // answered meanwhile
  workers_.CancelTask(it->second.worker->address, task_id, force_kill, recursive,
                      [this, task_id, force_kill, recursive](bool attempt_succeeded) {
                        if (attempt_succeeded || !schedule_after_) return;
                        schedule_after_(kCancelRetryDelayMs,
                                        [this, task_id, force_kill, recursive] {
                                          SendCancel(task_id, force_kill, recursive);
                                        });
                      });
}

void NormalTaskSubmitter::OnNodeRemoved(const std::string &node_id) {
  for (auto &[key, state] : keys_) {
    for (auto it = state.parked.begin(); it != state.parked.end();) {
      if ((*it)->address.node_id() == node_id) {
        (*it)->released = true;
        leased_workers_--;
        it = state.parked.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void NormalTaskSubmitter::FailAll(int error_type, const std::string &message) {
  failed_error_type_ = error_type;
  failed_message_ = message;
  for (auto &[key, state] : keys_) {
    std::deque<rpc::TaskSpec> failed;
    failed.swap(state.queue);
    for (auto &spec : failed) on_fail_(spec, error_type, message);
    CancelLeasesIfIdle(key);
  }
}

bool NormalTaskSubmitter::HasRetriesLeft(const rpc::TaskSpec &spec) {
  return spec.max_retries() < 0 || static_cast<int64_t>(spec.attempt_number()) < spec.max_retries();
}

void NormalTaskSubmitter::RetryOrFail(rpc::TaskSpec spec, int error_type,
                                      const std::string &message, bool cancelled) {
  if (cancelled || cancelled_elsewhere_.erase(spec.task_id()) > 0) {
    on_fail_(spec, rpc::TASK_CANCELLED, CancelledMessage(spec));
    return;
  }
  if (failed_error_type_ != 0) {
    on_fail_(spec, failed_error_type_, failed_message_ + " (" + message + ")");
    return;
  }
  if (HasRetriesLeft(spec)) {
    CYRAY_LOG(INFO) << "retrying task " << spec.name() << " (attempt " << spec.attempt_number() + 1
                    << "): " << message;
    TaskStatusDetail why;
    why.error_type = error_type;
    why.error_message = message;
    Notify(spec, rpc::FAILED, why);
    spec.set_attempt_number(spec.attempt_number() + 1);
    SubmitTask(std::move(spec));
    return;
  }
  on_fail_(spec, error_type, message);
}

}  // namespace cyray::core
