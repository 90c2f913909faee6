#include "cyray/core_worker/core_worker_impl.h"

namespace cyray::core {

grpc::ServerUnaryReactor *CoreWorker::Impl::PushTask(grpc::CallbackServerContext *ctx,
                                                     const rpc::PushTaskRequest *request,
                                                     rpc::PushTaskReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = new TaskReactor();
  AcceptPush(request, reply, reactor);
  return reactor;
}

void CoreWorker::Impl::AcceptPush(const rpc::PushTaskRequest *request, rpc::PushTaskReply *reply,
                                  TaskResponder *reactor) {
  if (options_.is_driver) {
    reactor->Finish(Status::Disconnected("this process runs no tasks"));
    reactor->Release();
    return;
  }
  const rpc::TaskSpec &spec = request->task_spec();
  std::optional<CallOrder> order;
  if (spec.type() == rpc::ACTOR_TASK) {
    order = CallOrder{spec.caller_address().worker_id(), spec.actor_task_spec().caller_epoch(),
                      spec.actor_task_spec().sequence_number()};
  }
  std::vector<PendingExecution> abandoned;
  int start_executors = 0;
  OnTaskReceived(spec);
  auto result = receiver_.Push(PendingExecution{request, reply, reactor}, order, &abandoned,
                               &start_executors);
  if (start_executors > 0) {
    // A concurrent actor: more executor threads, until the worker exits.
    std::lock_guard<std::mutex> lock(executors_mu_);
    for (int i = 0; i < start_executors && !executors_closed_; ++i) {
      executors_.emplace_back([this] { (void)ExecutorLoop(false); });
    }
  }
  for (auto &pending : abandoned) {
    ForgetReceived(TaskID::FromBinary(pending.request->task_spec().task_id()));
    pending.reactor->Finish(Status::Disconnected("the caller gave up on this call"));
    pending.reactor->Release();
  }
  if (result == TaskReceiver<PendingExecution>::PushResult::kQueued) return;
  ForgetReceived(TaskID::FromBinary(spec.task_id()));
  reactor->Finish(
      Status::Disconnected(result == TaskReceiver<PendingExecution>::PushResult::kExiting
                               ? "this worker is exiting"
                               : "a call of an epoch its caller gave up"));
  reactor->Release();
}

Status CoreWorker::Impl::RunTaskLoop() { return ExecutorLoop(true); }

Status CoreWorker::Impl::ExecutorLoop(bool is_main) {
  const int64_t interval = CyrayConfig::Instance().get_check_signal_interval_ms();
  TaskContext context;
  while (true) {
    bool exit = false;
    std::optional<PendingExecution> next = receiver_.Next(interval, &exit);
    if (exit) return Status::OK();
    if (!next) {
      if (is_main) CYRAY_RETURN_NOT_OK(CheckSignals());
      continue;
    }
    PendingExecution pending = *next;
    bool exit_after = false;
    bool deferred = false;
    tls_task_context = &context;
    ExecuteOne(pending, &exit_after, &deferred);
    tls_task_context = nullptr;
    if (deferred) continue;  // CompleteDeferred answers, lets go of it and finishes it
    if (exit_after) {
      // Let the reply reach the caller before the process goes.
      pending.reactor->WaitDone(1000);
    }
    pending.reactor->Release();
    receiver_.Finish(exit_after);
  }
}

void CoreWorker::Impl::ExecuteOne(const PendingExecution &pending, bool *exit_after,
                                  bool *deferred) {
  const rpc::TaskSpec &spec = pending.request->task_spec();
  if (StartReceived(TaskID::FromBinary(spec.task_id()))) {
    // Cancelled while it waited here: it does not run.
    TaskExecutionResult result;
    ReplaceWithCancelled(spec, &result);
    FinishExecution(pending, Status::OK(), result);
    return;
  }
  TaskExecutionSpec exec;
  exec.task_type = spec.type();
  exec.job_id = spec.job_id();
  exec.task_id = spec.task_id();
  exec.parent_task_id = spec.parent_task_id();
  exec.name = spec.name();
  exec.function = {
      spec.function_descriptor().module_name(), spec.function_descriptor().function_name(),
      spec.function_descriptor().class_name(), spec.function_descriptor().function_id()};
  exec.num_returns = spec.num_returns();
  exec.max_calls = spec.max_calls();
  exec.retry_exceptions = spec.retry_exceptions();
  exec.serialized_retry_exception_allowlist = spec.serialized_retry_exception_allowlist();
  exec.max_retries = spec.max_retries();
  exec.attempt_number = spec.attempt_number();
  exec.streaming_generator = spec.streaming_generator();
  exec.returns_dynamic = spec.returns_dynamic();
  if (exec.streaming_generator || exec.returns_dynamic) {
    exec.generator_backpressure_num_objects = spec.generator_backpressure_num_objects();
    exec.caller_address = spec.caller_address().SerializeAsString();
    OnGeneratorTaskStart(spec);
  }
  if (spec.type() == rpc::ACTOR_TASK) {
    // An actor's calls hold what its creation leased, for its whole life.
    std::lock_guard<std::mutex> lock(exec_mu_);
    exec.resource_ids = actor_resource_ids_;
    exec.resource_amounts = actor_resource_amounts_;
  } else {
    for (const auto &alloc : pending.request->resource_mapping()) {
      auto &ids = exec.resource_ids[alloc.name()];
      for (const auto &inst : alloc.instances()) ids.push_back(inst.index());
    }
    for (const auto &[name, amount] : spec.required_resources()) {
      if (amount > 0) exec.resource_amounts[name] = amount;
    }
  }
  for (const auto &arg : spec.args()) {
    ObjectValue value;
    if (arg.in_plasma()) {
      ObjectID id = ObjectID::FromBinary(arg.object_ref().object_id());
      auto marker = std::make_shared<ObjectValue>();
      marker->in_plasma = true;
      value = *Materialize(id, marker, arg.object_ref().owner_address().SerializeAsString());
    } else {
      value.data = arg.data();
      value.metadata = arg.metadata();
    }
    for (const auto &ref : arg.nested_refs()) {
      value.nested_refs.push_back({ref.object_id(), ref.owner_address().SerializeAsString()});
    }
    exec.args.push_back(std::move(value));
  }
  if (spec.type() == rpc::ACTOR_CREATION_TASK) {
    const auto &creation = spec.actor_creation_spec();
    exec.actor_id = creation.actor_id();
    exec.actor_name = creation.name();
    exec.max_concurrency = creation.max_concurrency();
    exec.is_asyncio = creation.is_asyncio();
    for (const auto &[group, limit] : creation.concurrency_groups()) {
      exec.concurrency_groups[group] = limit;
    }
  } else if (spec.type() == rpc::ACTOR_TASK) {
    exec.actor_id = spec.actor_task_spec().actor_id();
    exec.concurrency_group = spec.actor_task_spec().concurrency_group();
  }
  {
    std::lock_guard<std::mutex> lock(context_mu_);
    job_id_ = JobID::FromBinary(spec.job_id());
    TaskContext &ctx = Context();
    ctx.task_id = TaskID::FromBinary(spec.task_id());
    ctx.num_returns = spec.num_returns();
    ctx.task_counter = 0;
    ctx.put_counter = 0;
    ctx.executing = true;
    ctx.name = spec.type() == rpc::ACTOR_CREATION_TASK
                   ? spec.function_descriptor().class_name() + ".__init__"
                   : spec.name();
    ctx.actor_id = exec.actor_id;
    ctx.attempt_number = spec.attempt_number();
    ctx.task_events_disabled = spec.disable_task_events();
    ctx.resource_ids = exec.resource_ids;
    ctx.resource_amounts = exec.resource_amounts;
  }
  if (task_events_) {
    TaskStatusDetail where;
    where.node_id = node_id_.Binary();
    where.worker_id = worker_id_.Binary();
    static const int32_t pid = static_cast<int32_t>(getpid());  // a syscall each call
    where.worker_pid = pid;
    RecordTaskStatus(spec, rpc::RUNNING, where);
  }
  // Read now: once a deferred result is reported (maybe before the callback
  // returns) the request, and `spec` in it, may be gone.
  const int task_type = spec.type();
  exec.execution_token = next_execution_token_++;
  {
    // Registered first: the deferred result may come before the callback returns.
    std::lock_guard<std::mutex> lock(deferred_mu_);
    deferred_[exec.execution_token] = pending;
  }
  TaskExecutionResult result;
  Status status = options_.execute_task
                      ? options_.execute_task(exec, &result)
                      : Status::NotImplemented("this process has no task execution callback");
  {
    std::lock_guard<std::mutex> lock(context_mu_);
    Context().executing = false;
  }
  if (task_type == rpc::ACTOR_CREATION_TASK && status.ok() && !result.is_application_error) {
    std::lock_guard<std::mutex> lock(exec_mu_);
    actor_id_ = exec.actor_id;
    actor_resource_ids_ = exec.resource_ids;
    actor_resource_amounts_ = exec.resource_amounts;
    // An async actor's calls run on its event loop (the executor only starts
    // them), so one executor serves it; threads would only fight for the GIL.
    receiver_.SetMaxExecutors(exec.is_asyncio ? 1 : exec.max_concurrency);
    // An out-of-order actor's caller numbers calls as it sends them (ready
    // ones first): releasing them in that order still runs each call as soon
    // as it is ready, and costs less than tracking arrivals.
  }
  if (status.ok() && result.deferred) {
    *deferred = true;
    return;
  }
  bool still_ours;
  {
    std::lock_guard<std::mutex> lock(deferred_mu_);
    still_ours = deferred_.erase(exec.execution_token) == 1;
  }
  if (!still_ours) {
    // Shutdown answered this call meanwhile and let go of it: touch nothing.
    *deferred = true;
    return;
  }
  *exit_after = result.exit_worker;
  if (task_type == rpc::ACTOR_TASK && status.ok() &&
      IsReceivedCancelled(TaskID::FromBinary(spec.task_id()))) {
    // As Ray: a cancelled actor call that ran on is answered as cancelled.
    ReplaceWithCancelled(spec, &result);
  }
  FinishExecution(pending, status, result);
}

void CoreWorker::Impl::FinishExecution(const PendingExecution &pending, const Status &status,
                                       TaskExecutionResult &result) {
  const rpc::TaskSpec &spec = pending.request->task_spec();
  rpc::PushTaskReply *reply = pending.reply;
  TaskID task_id = TaskID::FromBinary(spec.task_id());
  ForgetReceived(task_id);
  if (!status.ok()) {
    CYRAY_LOG(ERROR) << "task " << spec.name() << " could not run: " << status;
    result.returns.assign(spec.num_returns(),
                          *MakeErrorObject(rpc::SYSTEM_ERROR, status.ToString()));
    result.is_application_error = false;
    for (uint64_t i = 1; i <= spec.num_returns(); ++i) {
      lifetimes_.ReleaseNested(ObjectID::FromIndex(task_id, static_cast<uint32_t>(i)));
    }
  }
  RecordExecutionEnd(spec, status, result);
  // Returns that hold refs keep them alive until the caller lets go of them.
  std::vector<ObjectID> containers;
  for (size_t i = 0; i < result.returns.size(); ++i) {
    ObjectID id = ObjectID::FromIndex(task_id, static_cast<uint32_t>(i + 1));
    if (FillReturnObject(id, result.returns[i], reply->add_return_objects())) {
      containers.push_back(id);
    }
  }
  reply->set_num_generator_items(result.num_generator_items);
  reply->set_is_application_error(result.is_application_error);
  reply->set_is_retryable_error(result.is_retryable_error);
  reply->set_worker_exiting(result.exit_worker);
  rpc::Address caller = containers.empty() ? rpc::Address() : spec.caller_address();
  if (!result.exit_worker && receiver_.HasQueued()) {
    // More tasks wait here: this reply may share a write with theirs.
    pending.reactor->FinishBatched(Status::OK());
  } else {
    pending.reactor->Finish(Status::OK());
  }
  for (const auto &outer : containers) {
    client_pool_.WaitForRefRemoved(
        caller, outer.Binary(), [this, outer](const Status &) { lifetimes_.ReleaseNested(outer); });
  }
}

void CoreWorker::Impl::RecordBlocking(rpc::TaskStatus status) {
  if (!task_events_) return;
  std::string task_id;
  int32_t attempt;
  std::string job_id;
  {
    std::lock_guard<std::mutex> lock(context_mu_);
    const TaskContext &ctx = Context();
    if (!ctx.executing || ctx.task_events_disabled) return;
    task_id = ctx.task_id.Binary();
    attempt = static_cast<int32_t>(ctx.attempt_number);
    job_id = job_id_.Binary();
  }
  task_events_->Record(task_id, attempt, job_id, status);
}

void CoreWorker::Impl::RecordExecutionEnd(const rpc::TaskSpec &spec, const Status &status,
                                          const TaskExecutionResult &result) {
  if (!task_events_ || spec.disable_task_events()) return;
  TaskStatusDetail why;
  why.args_deserialized_ns = result.args_deserialized_ns;
  why.executed_ns = result.executed_ns;
  why.outputs_stored_ns = result.outputs_stored_ns;
  if (status.ok() && !result.is_application_error) {
    task_events_->Record(spec, rpc::FINISHED, why);
    return;
  }
  if (!status.ok()) {
    why.error_type = rpc::SYSTEM_ERROR;
    why.error_message = status.ToString();
  } else {
    why.error_type = result.error_type != 0 ? result.error_type : rpc::TASK_EXECUTION_EXCEPTION;
    why.error_message = result.error_message;
  }
  task_events_->Record(spec, rpc::FAILED, why);
}

bool CoreWorker::Impl::FillReturnObject(const ObjectID &id, ObjectValue &value,
                                        rpc::ReturnObject *ret) {
  ret->set_object_id(id.Binary());
  Status stored = Status::Invalid("inline");
  if (value.data.size() > max_inline_size_) {
    // Large: written once into the node's shared memory; the owner frees it.
    stored = plasma_->Put(id, value.data, value.metadata);
    if (!stored.ok() && stored.code() != StatusCode::kInvalid) {
      value = *MakeErrorObject(rpc::SYSTEM_ERROR,
                               "could not store the return value: " + stored.ToString());
      lifetimes_.ReleaseNested(id);  // the error holds none of the refs
    }
  }
  if (stored.ok()) {
    ret->set_in_plasma(true);
    ret->set_node_id(node_id_.Binary());
    ret->set_plasma_size(value.data.size() + value.metadata.size());
  } else {
    ret->set_data(std::move(value.data));
    ret->set_metadata(std::move(value.metadata));
  }
  FillNestedRefs(value.nested_refs, ret->mutable_nested_refs());
  return !value.nested_refs.empty();
}

void CoreWorker::Impl::CompleteDeferred(uint64_t token, TaskExecutionResult result) {
  PendingExecution pending{};
  {
    std::lock_guard<std::mutex> lock(deferred_mu_);
    auto it = deferred_.find(token);
    if (it == deferred_.end()) return;  // answered at shutdown already
    pending = it->second;
    deferred_.erase(it);
  }
  const rpc::TaskSpec &spec = pending.request->task_spec();
  if (IsReceivedCancelled(TaskID::FromBinary(spec.task_id()))) {
    ReplaceWithCancelled(spec, &result);
  }
  FinishExecution(pending, Status::OK(), result);
  if (result.exit_worker) pending.reactor->WaitDone(1000);
  pending.reactor->Release();
  receiver_.Finish(result.exit_worker);
}

}  // namespace cyray::core
