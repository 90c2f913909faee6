// Cancellation (ray.cancel), both sides of it:
// - the owner: its submitted tasks that have not ended (SubmittedTask), so a
//   cancel finds the task wherever it is: resolving arguments, queued in a
//   submitter, or pushed to a worker;
// - the worker: the tasks pushed to it and not answered (ReceivedTask), so a
//   cancel skips a queued one, interrupts a running one (through the
//   execution layer's callback) or, forced, ends the process.
#include <unistd.h>

#include <chrono>
#include <future>

#include "cyray/core_worker/core_worker_impl.h"

namespace cyray::core {

namespace {
// How long a forced cancel lets the worker's reply leave before it exits.
constexpr int64_t kForceExitDelayMs = 50;
// How long a borrower waits for the owner to take a cancel request.
constexpr int64_t kRemoteCancelTimeoutMs = 10000;
}  // namespace

// ---- Owner side ---------------------------------------------------------------

void CoreWorker::Impl::RememberSubmitted(const rpc::TaskSpec &spec) {
  SubmittedTask task;
  task.parent = TaskID::FromBinary(spec.parent_task_id());
  if (spec.type() == rpc::ACTOR_TASK) task.actor_id = spec.actor_task_spec().actor_id();
  task.num_returns = spec.num_returns();
  std::lock_guard<std::mutex> lock(submitted_mu_);
  submitted_tasks_.emplace(TaskID::FromBinary(spec.task_id()), std::move(task));
}

void CoreWorker::Impl::ForgetSubmitted(const rpc::TaskSpec &spec) {
  std::lock_guard<std::mutex> lock(submitted_mu_);
  submitted_tasks_.erase(TaskID::FromBinary(spec.task_id()));
}

bool CoreWorker::Impl::SubmittedCancelled(const TaskID &task_id) {
  if (!any_cancel_.load()) return false;
  std::lock_guard<std::mutex> lock(submitted_mu_);
  auto it = submitted_tasks_.find(task_id);
  return it != submitted_tasks_.end() && it->second.cancelled;
}

Status CoreWorker::Impl::CancelObjectTask(const std::string &object_id,
                                          const std::string &owner_address, bool force_kill,
                                          bool recursive) {
  if (!connected_ || shut_down_) return Status::Disconnected("the core worker is not connected");
  ObjectID id = ObjectID::FromBinary(object_id);
  if (owner_address.empty() || owner_address == serialized_address_ ||
      reference_counter_.IsOwned(id)) {
    return CancelOwnedTask(id.TaskId(), force_kill, recursive);
  }
  // A borrowed ref: its owner cancels the task.
  rpc::Address owner;
  owner.ParseFromString(owner_address);
  auto answer = std::make_shared<std::promise<std::pair<Status, std::string>>>();
  client_pool_.RemoteCancelTask(owner, object_id, force_kill, recursive,
                                [answer](const Status &status, const std::string &error) {
                                  answer->set_value({status, error});
                                });
  auto future = answer->get_future();
  if (future.wait_for(std::chrono::milliseconds(kRemoteCancelTimeoutMs)) !=
      std::future_status::ready) {
    return Status::TimedOut("the owner of the object did not answer the cancel request");
  }
  auto [status, error] = future.get();
  if (!status.ok()) {
    // The owner is gone: so is the task (its returns fail with OwnerDiedError).
    return Status::OK();
  }
  return error.empty() ? Status::OK() : Status::Invalid(error);
}

Status CoreWorker::Impl::CancelOwnedTask(const TaskID &task_id, bool force_kill, bool recursive) {
  SubmittedTask task;
  {
    std::lock_guard<std::mutex> lock(submitted_mu_);
    auto it = submitted_tasks_.find(task_id);
    if (it == submitted_tasks_.end()) return Status::OK();  // ended: nothing to cancel
    if (force_kill && !it->second.actor_id.empty()) {
      return Status::Invalid("force=True is not supported for actor tasks.");
    }
    it->second.cancelled = true;
    task = it->second;
  }
  any_cancel_.store(true);
  asio::post(io_, [this, task_id, task, force_kill, recursive] {
    bool found = task.actor_id.empty()
                     ? submitter_->CancelTask(task_id.Binary(), force_kill, recursive)
                     : actor_submitter_->CancelTask(task.actor_id, task_id.Binary(), recursive);
    if (found) return;
    {
      std::lock_guard<std::mutex> lock(submitted_mu_);
      if (submitted_tasks_.count(task_id) == 0) return;  // it ended meanwhile
    }
    // Still resolving its arguments: its returns fail now, and the task is
    // dropped once they resolve (see SubmitTask).
    auto error = MakeErrorObject(rpc::TASK_CANCELLED, CancelledMessage(task_id));
    for (uint64_t i = 1; i <= task.num_returns; ++i) {
      lifetimes_.StoreIfReferenced(ObjectID::FromIndex(task_id, static_cast<uint32_t>(i)), error,
                                   /*owned=*/true);
    }
  });
  return Status::OK();
}

void CoreWorker::Impl::CancelChildren(const TaskID &parent, bool force_kill) {
  std::vector<std::pair<TaskID, bool>> children;  // (task, is an actor call)
  {
    std::lock_guard<std::mutex> lock(submitted_mu_);
    for (const auto &[id, task] : submitted_tasks_) {
      if (task.parent == parent) children.push_back({id, !task.actor_id.empty()});
    }
  }
  for (const auto &[child, is_actor_call] : children) {
    (void)CancelOwnedTask(child, force_kill && !is_actor_call, /*recursive=*/true);
  }
}

grpc::ServerUnaryReactor *CoreWorker::Impl::RemoteCancelTask(
    grpc::CallbackServerContext *ctx, const rpc::RemoteCancelTaskRequest *request,
    rpc::RemoteCancelTaskReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  Status status = CancelOwnedTask(ObjectID::FromBinary(request->object_id()).TaskId(),
                                  request->force_kill(), request->recursive());
  if (!status.ok()) reply->set_error(status.message());
  auto *reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

// ---- Worker side --------------------------------------------------------------

void CoreWorker::Impl::OnTaskReceived(const rpc::TaskSpec &spec) {
  std::lock_guard<std::mutex> lock(received_mu_);
  received_tasks_[TaskID::FromBinary(spec.task_id())] = ReceivedTask{spec.type(), false, false};
}

bool CoreWorker::Impl::StartReceived(const TaskID &task_id) {
  std::lock_guard<std::mutex> lock(received_mu_);
  auto it = received_tasks_.find(task_id);
  if (it == received_tasks_.end()) return false;
  it->second.running = true;
  return it->second.cancelled;
}

void CoreWorker::Impl::ForgetReceived(const TaskID &task_id) {
  std::lock_guard<std::mutex> lock(received_mu_);
  received_tasks_.erase(task_id);
}

bool CoreWorker::Impl::IsReceivedCancelled(const TaskID &task_id) const {
  std::lock_guard<std::mutex> lock(received_mu_);
  auto it = received_tasks_.find(task_id);
  return it != received_tasks_.end() && it->second.cancelled;
}

void CoreWorker::Impl::ReplaceWithCancelled(const rpc::TaskSpec &spec,
                                            TaskExecutionResult *result) {
  TaskID task_id = TaskID::FromBinary(spec.task_id());
  // The refs the discarded returns held are let go of.
  for (uint64_t i = 1; i <= spec.num_returns(); ++i) {
    lifetimes_.ReleaseNested(ObjectID::FromIndex(task_id, static_cast<uint32_t>(i)));
  }
  result->returns.assign(spec.num_returns(),
                         *MakeErrorObject(rpc::TASK_CANCELLED, CancelledMessage(spec)));
  result->is_application_error = true;
  result->is_retryable_error = false;
  result->error_type = rpc::TASK_CANCELLED;
  result->error_message = CancelledMessage(spec);
}

grpc::ServerUnaryReactor *CoreWorker::Impl::CancelTask(grpc::CallbackServerContext *ctx,
                                                       const rpc::CancelTaskRequest *request,
                                                       rpc::CancelTaskReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  TaskID task_id = TaskID::FromBinary(request->intended_task_id());
  bool found = false;
  bool running = false;
  int task_type = 0;
  {
    std::lock_guard<std::mutex> lock(received_mu_);
    auto it = received_tasks_.find(task_id);
    if (it != received_tasks_.end()) {
      found = true;
      running = it->second.running;
      task_type = it->second.task_type;
      it->second.cancelled = true;
    }
  }
  reply->set_attempt_succeeded(found);
  if (!found) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  CYRAY_LOG(INFO) << "cancelling task " << task_id.Hex() << (running ? " (running)" : " (queued)")
                  << (request->force_kill() ? ", killing the worker" : "");
  if (request->recursive()) CancelChildren(task_id, request->force_kill());
  if (request->force_kill() && task_type == rpc::NORMAL_TASK) {
    reactor->Finish(grpc::Status::OK);
    // The owner learns the rest from the failed push: the task ends cancelled.
    std::thread([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(kForceExitDelayMs));
      _exit(1);
    }).detach();
    return reactor;
  }
  if (running && options_.cancel_running) options_.cancel_running(task_id.Binary(), task_type);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace cyray::core
