#include "cyray/core_worker/core_worker_impl.h"

#include <sys/socket.h>
#include <unistd.h>

#include <future>

namespace cyray::core {

// A batch of task events gives up after this long (the GCS is gone or busy):
// events are for observing, and must never hold up a process's shutdown long.
constexpr int64_t kTaskEventsSendTimeoutMs = 2000;

namespace {

// The node's session directory: where its raylet's socket is.
std::string SessionDirOf(const CoreWorkerOptions &options) {
  const size_t slash = options.raylet_socket.rfind('/');
  return slash == std::string::npos ? "" : options.raylet_socket.substr(0, slash);
}

}  // namespace

Status CoreWorker::Impl::CheckSignals() {
  return options_.check_signals ? options_.check_signals() : Status::OK();
}

Status CoreWorker::Impl::Connect() {
  const auto &config = CyrayConfig::Instance();
  SetLogLevel(ParseLogLevel(config.log_level()));
  SetLogComponent(options_.is_driver ? "driver" : "worker");
  gcs_ = std::make_unique<rpc::GcsClient>(options_.gcs_address);
  CYRAY_RETURN_NOT_OK(gcs_->WaitUntilReady(config.rpc_connect_timeout_ms()));

  int port = 0;
  std::vector<grpc::Service *> services{this};
  // Only the node's own address: loopback for a local cluster.
  server_ = rpc::StartServer(options_.node_ip_address, &port, services);
  if (!server_ || port == 0) return Status::IOError("could not start the core worker server");
  address_.set_ip_address(options_.node_ip_address);
  address_.set_port(port);
  if (!options_.is_driver) {
    task_channel_ = std::make_unique<TaskChannelServer>(
        rpc::ClusterToken(), static_cast<uint32_t>(rpc::MaxMessageSize()),
        [this](const rpc::PushTaskRequest *request, rpc::PushTaskReply *reply,
               TaskResponder *responder) { AcceptPush(request, reply, responder); });
    int task_port = 0;
    CYRAY_RETURN_NOT_OK(
        task_channel_->Start(options_.node_ip_address, &task_port, SessionDirOf(options_)));
    address_.set_task_port(task_port);
  }
  address_.set_worker_id(worker_id_.Binary());

  if (options_.is_driver) {
    if (options_.job_id.empty()) {
      int job = 0;
      CYRAY_RETURN_NOT_OK(gcs_->GetNextJobID(&job));
      job_id_ = JobID::FromInt(static_cast<uint32_t>(job));
    } else {
      job_id_ = JobID::FromBinary(options_.job_id);
    }
    default_context_.task_id = TaskID::ForDriverTask(job_id_);
  } else {
    job_id_ = JobID::Nil();
    // Threads of a worker outside any task still need unique IDs for puts.
    default_context_.task_id = TaskID::FromRandom();
  }

  int node_manager_port = 0;
  std::string plasma_token;
  CYRAY_RETURN_NOT_OK(RegisterWithRaylet(&node_manager_port, &plasma_token));
  auto plasma = PlasmaClient::Connect(options_.raylet_socket, plasma_token);
  if (!plasma.ok()) return plasma.status();
  plasma_ = *plasma;
  max_inline_size_ = static_cast<size_t>(config.max_direct_call_object_size());
  address_.set_node_id(node_id_.Binary());
  serialized_address_ = address_.SerializeAsString();
  lifetimes_.SetSelfAddress(serialized_address_);

  if (options_.is_driver) {
    rpc::JobTableData job;
    job.set_job_id(job_id_.Binary());
    *job.mutable_driver_address() = address_;
    job.set_driver_pid(getpid());
    job.set_namespace_(options_.driver_namespace);
    job.set_entrypoint(options_.entrypoint);
    job.set_start_time_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
    CYRAY_RETURN_NOT_OK(gcs_->AddJob(job.SerializeAsString()));
  }

  // Both submitters run on the io thread and report results the same way.
  auto schedule_after = [this](int64_t delay_ms, std::function<void()> callback) {
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(delay_ms));
    timer->async_wait([timer, callback = std::move(callback)](const boost::system::error_code &ec) {
      if (!ec) callback();
    });
  };
  auto on_complete = [this](const rpc::TaskSpec &spec, const rpc::PushTaskReply &reply) {
    OnTaskComplete(spec, reply);
  };
  auto on_fail = [this](const rpc::TaskSpec &spec, int error_type, const std::string &message) {
    OnTaskFail(spec, error_type, message);
  };
  if (config.task_events_report_interval_ms() > 0) {
    task_events_ = std::make_unique<TaskEventBuffer>(
        static_cast<size_t>(config.task_events_max_buffer_size()),
        [this](const rpc::AddTaskEventDataRequest &request) {
          return gcs_->AddTaskEventData(request, kTaskEventsSendTimeoutMs);
        });
    task_events_->SetReporter(worker_id_.Binary(), node_id_.Binary());
    task_events_->Start(config.task_events_report_interval_ms());
  }
  lease_client_ = std::make_unique<RayletLeaseClient>(
      io_, call_tracker_, options_.node_ip_address + ":" + std::to_string(node_manager_port));
  submitter_ = std::make_unique<NormalTaskSubmitter>(
      *lease_client_, client_pool_, static_cast<int>(config.max_lease_requests_in_flight()),
      static_cast<int>(config.max_tasks_in_flight_per_worker()), config.lease_idle_linger_ms(),
      schedule_after, on_complete, on_fail);
  submitter_->SetStatusListener(
      [this](const rpc::TaskSpec &spec, rpc::TaskStatus status, const TaskStatusDetail &detail) {
        RecordTaskStatus(spec, status, detail);
      });
  gcs_actor_client_ = std::make_unique<GcsActorClient>(io_, call_tracker_, options_.gcs_address);
  actor_submitter_ = std::make_unique<ActorTaskSubmitter>(client_pool_, *gcs_actor_client_,
                                                          schedule_after, on_complete, on_fail,
                                                          config.actor_unavailable_timeout_ms());
  work_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
      io_.get_executor());
  io_thread_ = std::thread([this] { io_.run(); });
  raylet_reader_ = std::thread([this] { ReadRayletUntilClosed(); });
  connected_ = true;
  return Status::OK();
}

Status CoreWorker::Impl::RegisterWithRaylet(int *node_manager_port, std::string *plasma_token) {
  auto fd = ConnectUnixSocket(options_.raylet_socket);
  if (!fd.ok()) return fd.status();
  raylet_fd_ = *fd;
  rpc::RegisterClientRequest request;
  request.set_worker_type(options_.is_driver ? rpc::DRIVER : rpc::WORKER);
  request.set_worker_id(worker_id_.Binary());
  request.set_pid(getpid());
  request.set_startup_token(options_.startup_token);
  request.set_job_id(job_id_.Binary());
  request.set_ip_address(options_.node_ip_address);
  request.set_port(address_.port());
  request.set_task_port(address_.task_port());
  if (options_.is_driver) request.set_auth_token(options_.auth_token);
  CYRAY_RETURN_NOT_OK(
      WriteFrame(raylet_fd_, rpc::REGISTER_CLIENT_REQUEST, request.SerializeAsString()));
  uint32_t type = 0;
  std::string body;
  CYRAY_RETURN_NOT_OK(ReadFrame(raylet_fd_, &type, &body));
  rpc::RegisterClientReply reply;
  if (type != rpc::REGISTER_CLIENT_REPLY || !reply.ParseFromString(body)) {
    return Status::IOError("bad registration reply from the raylet");
  }
  if (!reply.success()) {
    return Status::IOError("the raylet refused registration: " + reply.failure_reason());
  }
  node_id_ = NodeID::FromBinary(reply.node_id());
  client_pool_.SetLocalNode(node_id_.Binary(), SessionDirOf(options_));
  *node_manager_port = reply.node_manager_port();
  *plasma_token = reply.plasma_token();
  return Status::OK();
}

void CoreWorker::Impl::ReadRayletUntilClosed() {
  uint32_t type;
  std::string body;
  while (true) {
    Status s = ReadFrame(raylet_fd_, &type, &body);
    if (!s.ok()) break;
    if (type == rpc::NODE_REMOVED) {
      rpc::NodeRemoved node;
      if (node.ParseFromString(body)) asio::post(io_, [this, node] { OnNodeRemoved(node); });
    } else if (type == rpc::LOCAL_WARNING) {
      rpc::LocalWarning warning;
      if (warning.ParseFromString(body)) CYRAY_LOG(WARNING) << warning.message();
    }
  }
  if (shut_down_) return;
  if (!options_.is_driver) {
    // A worker without its raylet has no purpose; nothing it holds survives.
    CYRAY_LOG(WARNING) << "lost the connection to the raylet; exiting";
    ::_exit(1);
  }
  CYRAY_LOG(ERROR) << "lost the connection to the local raylet; tasks can no longer run";
  // Nothing submitted from here can run any more: fail it all now, with a
  // typed error, instead of letting callers wait for their own timeouts.
  asio::post(io_, [this] {
    const std::string message =
        "The local raylet of this driver died (its connection closed): tasks and actor calls "
        "can no longer be scheduled or reached from this process.";
    submitter_->FailAll(rpc::LOCAL_RAYLET_DIED, message);
    actor_submitter_->FailAll(rpc::LOCAL_RAYLET_DIED, message);
  });
}

void CoreWorker::Impl::NotifyRaylet(rpc::LocalMessageType type, const std::string &body) {
  std::lock_guard<std::mutex> lock(raylet_write_mu_);
  if (raylet_fd_ >= 0) (void)WriteFrame(raylet_fd_, type, body);
}

void CoreWorker::Impl::Shutdown() {
  if (shut_down_.exchange(true)) return;
  // First answer every call still waiting on us: the server's shutdown waits
  // for all of them.
  std::vector<PendingExecution> unanswered = receiver_.Stop();
  {
    std::lock_guard<std::mutex> lock(deferred_mu_);
    for (auto &[token, pending] : deferred_) unanswered.push_back(pending);
    deferred_.clear();
  }
  for (auto &pending : unanswered) {
    pending.reactor->Finish(Status::Disconnected("worker exiting"));
    pending.reactor->Release();
  }
  {
    std::lock_guard<std::mutex> lock(ref_removed_mu_);
    for (auto &[id, waiters] : ref_removed_waiters_) {
      for (auto *reactor : waiters) reactor->Finish(grpc::Status::OK);
    }
    ref_removed_waiters_.clear();
  }
  // Reports held back for a consumer (backpressure) are answered too.
  generator_streams_.ReleaseAll();
  {
    std::lock_guard<std::mutex> lock(object_requests_mu_);
    for (const auto &request : object_requests_) {
      if (!request->answered.exchange(true)) {
        request->reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "owner exiting"));
      }
    }
    object_requests_.clear();
  }
  {
    // Idle executor threads return within a signal-check interval of Stop and
    // are joined. Threads still inside a call (a SIGTERM cut the worker short)
    // may never return from user code: they end with the process.
    std::vector<std::thread> executors;
    {
      std::lock_guard<std::mutex> lock(executors_mu_);
      executors.swap(executors_);
      executors_closed_ = true;
    }
    bool calls_running = receiver_.Running() > 0;
    for (auto &thread : executors) {
      if (calls_running || thread.get_id() == std::this_thread::get_id()) {
        thread.detach();
      } else {
        thread.join();
      }
    }
  }
  if (raylet_fd_ >= 0) {
    rpc::DisconnectClient msg;
    msg.set_intentional(true);
    NotifyRaylet(rpc::DISCONNECT_CLIENT, msg.SerializeAsString());
  }
  // What this process saw last reaches the GCS before its job is marked finished.
  if (task_events_) task_events_->Stop();
  if (connected_ && options_.is_driver && gcs_) (void)gcs_->MarkJobFinished(job_id_.Binary());
  if (task_channel_) task_channel_->Stop();
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  }
  if (submitter_ && io_thread_.joinable()) {
    // The calls in flight fail as the client pool shuts down: a process going
    // away must not retry them (nor report them as its workers' deaths).
    auto failed = std::make_shared<std::promise<void>>();
    std::future<void> done = failed->get_future();
    asio::post(io_, [this, failed] {
      const std::string message = "the process that submitted it shut down";
      submitter_->FailAll(rpc::SYSTEM_ERROR, message);
      actor_submitter_->FailAll(rpc::SYSTEM_ERROR, message);
      failed->set_value();
    });
    done.wait_for(std::chrono::seconds(2));
  }
  // No completion callback may run once we return: they point into this object.
  client_pool_.Shutdown();
  call_tracker_.CancelAllAndWait(2000);
  if (work_) work_.reset();
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
  if (raylet_fd_ >= 0) ::shutdown(raylet_fd_, SHUT_RDWR);
  if (raylet_reader_.joinable()) raylet_reader_.join();
  if (raylet_fd_ >= 0) {
    ::close(raylet_fd_);
    raylet_fd_ = -1;
  }
}

ObjectID CoreWorker::Impl::NextPutId() {
  std::lock_guard<std::mutex> lock(context_mu_);
  TaskContext &ctx = Context();
  return ObjectID::FromIndex(ctx.task_id,
                             static_cast<uint32_t>(ctx.num_returns + ++ctx.put_counter));
}

Status CoreWorker::Impl::CreatePut(size_t data_size, const std::string &metadata,
                                   ObjectRefInfo *ref, uint8_t **address) {
  ObjectID id = NextPutId();
  CYRAY_RETURN_NOT_OK(plasma_->Create(id, data_size, metadata.size(), address));
  std::memcpy(*address + data_size, metadata.data(), metadata.size());
  ref->object_id = id.Binary();
  ref->owner_address = serialized_address_;
  return Status::OK();
}

Status CoreWorker::Impl::SealPut(const ObjectRefInfo &ref,
                                 const std::vector<ObjectRefInfo> &nested_refs,
                                 uint64_t object_size) {
  ObjectID id = ObjectID::FromBinary(ref.object_id);
  CYRAY_RETURN_NOT_OK(plasma_->Seal(id));
  object_directory_.AddPrimary(id, node_id_);
  reference_counter_.AddOwnedObject(id);
  lifetimes_.PinNested(id, nested_refs);
  auto marker = std::make_shared<ObjectValue>();
  marker->in_plasma = true;
  marker->nested_refs = nested_refs;
  marker->plasma_size = object_size;
  memory_store_.Put(id, marker);
  return Status::OK();
}

Status CoreWorker::Impl::Put(const ObjectValue &value, ObjectRefInfo *ref) {
  ObjectID id = NextPutId();
  reference_counter_.AddOwnedObject(id);
  lifetimes_.PinNested(id, value.nested_refs);
  if (value.data.size() > max_inline_size_) {
    CYRAY_RETURN_NOT_OK(plasma_->Put(id, value.data, value.metadata));
    object_directory_.AddPrimary(id, node_id_);
    auto marker = std::make_shared<ObjectValue>();
    marker->in_plasma = true;
    marker->nested_refs = value.nested_refs;
    marker->plasma_size = value.data.size() + value.metadata.size();
    memory_store_.Put(id, marker);
  } else {
    memory_store_.Put(id, std::make_shared<ObjectValue>(value));
  }
  ref->object_id = id.Binary();
  ref->owner_address = serialized_address_;
  return Status::OK();
}

void CoreWorker::Impl::OnObjectOutOfScope(const ObjectID &id, bool owned) {
  if (owned) {
    std::string actor_id;
    {
      std::lock_guard<std::mutex> lock(actor_handles_mu_);
      auto it = actor_handles_.find(id);
      if (it != actor_handles_.end()) {
        actor_id = it->second;
        actor_handles_.erase(it);
      }
    }
    if (!actor_id.empty()) {
      // Every handle is gone: the actor ends after the calls already made.
      TaskOptions terminate;
      terminate.function.function_name = "__ray_terminate__";
      terminate.name = "__ray_terminate__";
      terminate.num_returns = 0;
      std::vector<ObjectRefInfo> no_returns;
      (void)SubmitActorTask(actor_id, terminate, {}, &no_returns);
      return;
    }
  }
  lifetimes_.Free(id, owned, memory_store_.GetIfExists(id));
}

void CoreWorker::Impl::AnswerRefRemovedWaiters(const ObjectID &id) {
  std::vector<grpc::ServerUnaryReactor *> waiters;
  {
    std::lock_guard<std::mutex> lock(ref_removed_mu_);
    auto it = ref_removed_waiters_.find(id);
    if (it == ref_removed_waiters_.end()) return;
    waiters = std::move(it->second);
    ref_removed_waiters_.erase(it);
  }
  for (auto *reactor : waiters) reactor->Finish(grpc::Status::OK);
}

void CoreWorker::Impl::StartFetch(const ObjectID &id, const std::string &owner_address) {
  {
    std::lock_guard<std::mutex> lock(fetch_mu_);
    if (!fetching_.insert(id).second) return;
  }
  rpc::Address owner;
  owner.ParseFromString(owner_address);
  CYRAY_LOG(DEBUG) << "fetching " << id.Hex() << " from its owner at " << owner.ip_address() << ":"
                   << owner.port();
  client_pool_.GetObjectStatus(
      owner, id.Binary(),
      [this, id, owner](const Status &status, const rpc::GetObjectStatusReply &reply) {
        ObjectValuePtr value;
        if (status.ok() && reply.status() == rpc::GetObjectStatusReply::CREATED) {
          value = ValueFromReturn(reply.object());
        } else if (status.ok()) {
          value = MakeErrorObject(rpc::OBJECT_LOST, "Object " + id.Hex() +
                                                        " was freed by its owner before it "
                                                        "could be fetched.");
        } else {
          value = MakeErrorObject(rpc::OWNER_DIED,
                                  "The owner of object " + id.Hex() + " (worker at " +
                                      owner.ip_address() + ":" + std::to_string(owner.port()) +
                                      ") died or is unreachable: " + status.message());
        }
        lifetimes_.StoreIfReferenced(id, value, /*owned=*/false);
        std::lock_guard<std::mutex> lock(fetch_mu_);
        fetching_.erase(id);
      });
}

void CoreWorker::Impl::OnObjectReady(const ObjectID &id, ObjectReadyCallback callback,
                                     void *context) {
  StartFetchesFor({id});
  memory_store_.GetAsync(id, [callback, context](ObjectValuePtr) { callback(context); });
}

void CoreWorker::Impl::StartFetchesFor(const std::vector<ObjectID> &ids) {
  for (const auto &id : ids) {
    if (memory_store_.Contains(id)) continue;
    if (auto owner = reference_counter_.BorrowedOwnerAddress(id)) StartFetch(id, *owner);
  }
}

Status CoreWorker::Impl::Get(const std::vector<std::string> &ids, int64_t timeout_ms,
                             std::vector<ObjectValuePtr> *out) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::vector<ObjectID> object_ids;
  bool all_present = true;
  for (const auto &id : ids) {
    object_ids.push_back(ObjectID::FromBinary(id));
    all_present = all_present && memory_store_.Contains(object_ids.back());
  }
  for (const auto &id : object_ids) {
    if (!reference_counter_.Has(id) && !memory_store_.Contains(id)) {
      return Status::NotFound("Object " + id.Hex() +
                              " is not known to this process (its ObjectRef was released).");
    }
  }
  StartFetchesFor(object_ids);
  bool notify = !all_present && ShouldLendCpuWhileWaiting();
  // A worker waiting in get lends its CPU back to the raylet meanwhile.
  if (notify) NotifyRaylet(rpc::NOTIFY_TASK_BLOCKED, "");
  if (!all_present) RecordBlocking(rpc::RUNNING_IN_RAY_GET);
  Status s = memory_store_.Get(
      object_ids, object_ids.size(), timeout_ms, [this] { return CheckSignals(); },
      CyrayConfig::Instance().get_check_signal_interval_ms(), out, /*stop_on_error=*/true);
  if (!all_present) RecordBlocking(rpc::RUNNING);
  if (notify) NotifyRaylet(rpc::NOTIFY_TASK_UNBLOCKED, "");
  if (s.ok()) {
    // Stopped at an error before the rest arrived: the caller raises the first
    // error it reads, so the error stands in for the objects still missing.
    ObjectValuePtr error;
    for (const auto &value : *out) {
      if (value && ErrorTypeOf(value->metadata) != 0) error = value;
    }
    for (size_t i = 0; i < out->size(); ++i) {
      int64_t left_ms = -1;
      if (timeout_ms >= 0) {
        left_ms = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                           deadline - std::chrono::steady_clock::now())
                                           .count());
      }
      (*out)[i] = (*out)[i] ? Materialize(object_ids[i], (*out)[i], "", left_ms) : error;
      if (!(*out)[i]) return Status::TimedOut("Get timed out: some object(s) not ready.");
    }
  }
  return s;
}

bool CoreWorker::Impl::ShouldLendCpuWhileWaiting() {
  {
    std::lock_guard<std::mutex> lock(exec_mu_);
    if (!actor_id_.empty()) return false;  // an actor holds no task CPU to lend
  }
  std::lock_guard<std::mutex> lock(context_mu_);
  return Context().executing;
}

Status CoreWorker::Impl::Wait(const std::string &packed_ids, int num_objects, int64_t timeout_ms,
                              bool fetch_local, std::vector<bool> *ready) {
  if (packed_ids.size() % ObjectID::kSize != 0) {
    return Status::Invalid("wait: object IDs must be " + std::to_string(ObjectID::kSize) +
                           " bytes each");
  }
  std::vector<ObjectID> object_ids;
  object_ids.reserve(packed_ids.size() / ObjectID::kSize);
  for (size_t at = 0; at < packed_ids.size(); at += ObjectID::kSize) {
    object_ids.push_back(
        ObjectID::FromBinary(std::string_view(packed_ids).substr(at, ObjectID::kSize)));
  }
  // The common case in a loop of waits: answered from one pass over the store.
  std::vector<size_t> remote;
  const size_t present =
      memory_store_.MarkPresent(object_ids, ready, fetch_local ? &remote : nullptr);
  std::vector<ObjectID> missing;
  for (size_t i = 0; i < object_ids.size(); ++i) {
    if (!(*ready)[i]) missing.push_back(object_ids[i]);
  }
  StartFetchesFor(missing);
  if (present >= static_cast<size_t>(num_objects) || timeout_ms == 0) {
    // Ready and local: a shared-memory object another node holds is pulled
    // here first (a failed pull shows at get).
    for (size_t i : remote)
      (void)Materialize(object_ids[i], memory_store_.GetIfExists(object_ids[i]));
    return Status::OK();
  }
  bool notify =
      present < static_cast<size_t>(num_objects) && timeout_ms != 0 && ShouldLendCpuWhileWaiting();
  // As in get: a task waiting lends its CPU back, so nested waits cannot deadlock.
  if (notify) NotifyRaylet(rpc::NOTIFY_TASK_BLOCKED, "");
  const bool blocks = present < static_cast<size_t>(num_objects) && timeout_ms != 0;
  if (blocks) RecordBlocking(rpc::RUNNING_IN_RAY_WAIT);
  std::vector<ObjectValuePtr> values;
  Status s = memory_store_.Get(
      object_ids, static_cast<size_t>(num_objects), timeout_ms, [this] { return CheckSignals(); },
      CyrayConfig::Instance().get_check_signal_interval_ms(), &values);
  if (blocks) RecordBlocking(rpc::RUNNING);
  if (notify) NotifyRaylet(rpc::NOTIFY_TASK_UNBLOCKED, "");
  if (!s.ok() && !s.IsTimedOut()) return s;
  ready->clear();
  for (size_t i = 0; i < values.size(); ++i) {
    ready->push_back(values[i] != nullptr);
    // Ready and local: a shared-memory object another node holds is pulled
    // here first (a failed pull shows at get).
    if (fetch_local && values[i] && values[i]->in_plasma && !values[i]->plasma) {
      (void)Materialize(object_ids[i], values[i]);
    }
  }
  return Status::OK();
}

void CoreWorker::Impl::FillCommonSpec(rpc::TaskSpec *spec, const TaskOptions &options,
                                      const std::vector<TaskArgInput> &args) {
  spec->set_language(rpc::PYTHON);
  auto *fd = spec->mutable_function_descriptor();
  fd->set_module_name(options.function.module_name);
  fd->set_function_name(options.function.function_name);
  fd->set_class_name(options.function.class_name);
  fd->set_function_id(options.function.function_id);
  *spec->mutable_caller_address() = address_;
  spec->set_num_returns(options.num_returns);
  for (const auto &[name, amount] : options.resources) {
    if (amount > 0) (*spec->mutable_required_resources())[name] = amount;
  }
  for (const auto &[name, amount] : options.placement_resources) {
    if (amount > 0) (*spec->mutable_required_placement_resources())[name] = amount;
  }
  if (!options.serialized_scheduling_strategy.empty()) {
    spec->mutable_scheduling_strategy()->ParseFromString(options.serialized_scheduling_strategy);
  }
  spec->set_max_retries(options.max_retries);
  spec->set_retry_exceptions(options.retry_exceptions);
  spec->set_serialized_retry_exception_allowlist(options.serialized_retry_exception_allowlist);
  spec->set_name(options.name);
  spec->set_max_calls(options.max_calls);
  spec->set_streaming_generator(options.streaming_generator);
  spec->set_returns_dynamic(options.returns_dynamic);
  spec->set_generator_backpressure_num_objects(options.generator_backpressure_num_objects);
  spec->set_disable_task_events(options.disable_task_events);
  for (const auto &arg : args) {
    auto *out = spec->add_args();
    if (arg.is_ref) {
      out->set_is_inline(false);
      out->mutable_object_ref()->set_object_id(arg.ref.object_id);
      out->mutable_object_ref()->mutable_owner_address()->ParseFromString(arg.ref.owner_address);
      if (arg.ref.owner_address != serialized_address_) {
        reference_counter_.AddBorrowedObject(ObjectID::FromBinary(arg.ref.object_id),
                                             arg.ref.owner_address);
      }
    } else {
      out->set_is_inline(true);
      out->set_data(arg.value.data);
      out->set_metadata(arg.value.metadata);
      FillNestedRefs(arg.value.nested_refs, out->mutable_nested_refs());
    }
  }
}

// A task's spec must fit in one PushTask message (large arguments travel
// through the object store, so only very many small ones can exceed it).
static Status CheckSpecSize(const rpc::TaskSpec &spec) {
  // Cheap first: inline arguments are what can make a spec large, and the
  // rest of a spec is small; the exact size is only computed near the limit.
  const size_t limit = static_cast<size_t>(rpc::MaxMessageSize());
  size_t inline_bytes = 0;
  for (const auto &arg : spec.args()) inline_bytes += arg.data().size() + arg.metadata().size();
  if (inline_bytes < limit / 2) return Status::OK();
  size_t size = spec.ByteSizeLong();
  if (size + 4096 > limit) {
    return Status::Invalid("The task " + spec.name() +
                           " is too large to send: its arguments take " + std::to_string(size) +
                           " bytes inline, above the " + std::to_string(limit) +
                           "-byte message limit (CYRAY_max_grpc_message_size). Pass fewer or "
                           "larger arguments, or put them in the object store first.");
  }
  return Status::OK();
}

Status CoreWorker::Impl::SubmitTask(const TaskOptions &options,
                                    const std::vector<TaskArgInput> &args,
                                    std::vector<ObjectRefInfo> *returns) {
  if (!connected_ || shut_down_) return Status::Disconnected("the core worker is not connected");
  auto spec = std::make_shared<rpc::TaskSpec>();
  {
    std::lock_guard<std::mutex> lock(context_mu_);
    TaskContext &ctx = Context();
    uint64_t counter = ++ctx.task_counter;
    spec->set_job_id(job_id_.Binary());
    spec->set_parent_task_id(ctx.task_id.Binary());
    spec->set_parent_counter(counter);
    spec->set_task_id(TaskID::ForNormalTask(job_id_, ctx.task_id, counter).Binary());
  }
  spec->set_type(rpc::NORMAL_TASK);
  FillCommonSpec(spec.get(), options, args);
  CYRAY_RETURN_NOT_OK(CheckSpecSize(*spec));
  TaskID task_id = TaskID::FromBinary(spec->task_id());
  for (uint64_t i = 1; i <= options.num_returns; ++i) {
    ObjectID id = ObjectID::FromIndex(task_id, static_cast<uint32_t>(i));
    reference_counter_.AddOwnedObject(id);
    returns->push_back({id.Binary(), serialized_address_});
  }
  reference_counter_.AddSubmittedTaskReferences(ArgumentObjectIds(*spec));
  RememberSubmitted(*spec);
  RecordTaskSubmitted(*spec);
  if (options.streaming_generator || options.returns_dynamic) {
    generator_streams_.Create(task_id, options.generator_backpressure_num_objects);
  }
  asio::post(io_, [this, spec] {
    ResolveDependencies(spec, [this](rpc::TaskSpec resolved) {
      if (SubmittedCancelled(TaskID::FromBinary(resolved.task_id()))) {
        OnTaskFail(resolved, rpc::TASK_CANCELLED, CancelledMessage(resolved));
        return;
      }
      submitter_->SubmitTask(std::move(resolved));
    });
  });
  return Status::OK();
}

Status CoreWorker::Impl::CreateActor(const TaskOptions &options,
                                     const ActorCreationOptions &actor_options,
                                     const std::vector<TaskArgInput> &args,
                                     std::string *actor_id_out) {
  if (!connected_ || shut_down_) return Status::Disconnected("the core worker is not connected");
  auto spec = std::make_shared<rpc::TaskSpec>();
  ActorID actor_id;
  {
    std::lock_guard<std::mutex> lock(context_mu_);
    TaskContext &ctx = Context();
    uint64_t counter = ++ctx.task_counter;
    actor_id = ActorID::Of(job_id_, ctx.task_id, counter);
    spec->set_job_id(job_id_.Binary());
    spec->set_parent_task_id(ctx.task_id.Binary());
    spec->set_parent_counter(counter);
  }
  spec->set_task_id(TaskID::ForActorCreationTask(actor_id).Binary());
  spec->set_type(rpc::ACTOR_CREATION_TASK);
  TaskOptions creation_options = options;
  creation_options.num_returns = 1;
  creation_options.max_retries = 0;
  FillCommonSpec(spec.get(), creation_options, args);
  CYRAY_RETURN_NOT_OK(CheckSpecSize(*spec));
  auto *creation = spec->mutable_actor_creation_spec();
  creation->set_actor_id(actor_id.Binary());
  creation->set_max_restarts(actor_options.max_restarts);
  creation->set_max_task_retries(actor_options.max_task_retries);
  creation->set_max_concurrency(actor_options.max_concurrency);
  creation->set_is_asyncio(actor_options.is_asyncio);
  creation->set_name(actor_options.name);
  creation->set_ray_namespace(actor_options.ray_namespace);
  creation->set_is_detached(actor_options.is_detached);
  creation->set_allow_out_of_order_execution(actor_options.allow_out_of_order_execution);
  for (const auto &[group, limit] : actor_options.concurrency_groups) {
    (*creation->mutable_concurrency_groups())[group] = limit;
  }
  CYRAY_RETURN_NOT_OK(gcs_->RegisterActor(spec->SerializeAsString()));
  reference_counter_.AddSubmittedTaskReferences(ArgumentObjectIds(*spec));
  RecordTaskSubmitted(*spec);
  std::string id = actor_id.Binary();
  asio::post(io_, [this, spec, id] {
    actor_submitter_->AddActor(id);
    ResolveDependencies(spec, [this](rpc::TaskSpec resolved) {
      RecordTaskStatus(resolved, rpc::PENDING_NODE_ASSIGNMENT);
      auto held = std::make_shared<rpc::TaskSpec>(std::move(resolved));
      gcs_actor_client_->CreateActor(*held, [this, held](const Status &status) {
        if (!status.ok()) CYRAY_LOG(ERROR) << "could not create an actor: " << status;
        reference_counter_.RemoveSubmittedTaskReferences(ArgumentObjectIds(*held));
      });
    });
  });
  *actor_id_out = id;
  return Status::OK();
}

void CoreWorker::Impl::AddActorHandle(const std::string &actor_id) {
  if (!connected_ || shut_down_) return;
  asio::post(io_, [this, actor_id] { actor_submitter_->AddActor(actor_id); });
}

Status CoreWorker::Impl::SubmitActorTask(const std::string &actor_id, const TaskOptions &options,
                                         const std::vector<TaskArgInput> &args,
                                         std::vector<ObjectRefInfo> *returns) {
  if (!connected_ || shut_down_) return Status::Disconnected("the core worker is not connected");
  auto spec = std::make_shared<rpc::TaskSpec>();
  ActorID actor = ActorID::FromBinary(actor_id);
  {
    std::lock_guard<std::mutex> lock(context_mu_);
    TaskContext &ctx = Context();
    uint64_t counter = ++ctx.task_counter;
    spec->set_job_id(job_id_.Binary());
    spec->set_parent_task_id(ctx.task_id.Binary());
    spec->set_parent_counter(counter);
    spec->set_task_id(TaskID::ForActorTask(job_id_, ctx.task_id, counter, actor).Binary());
  }
  spec->set_type(rpc::ACTOR_TASK);
  FillCommonSpec(spec.get(), options, args);
  CYRAY_RETURN_NOT_OK(CheckSpecSize(*spec));
  spec->mutable_actor_task_spec()->set_actor_id(actor_id);
  spec->mutable_actor_task_spec()->set_concurrency_group(options.concurrency_group);
  spec->mutable_actor_task_spec()->set_max_retries_set(options.max_task_retries_set);
  TaskID task_id = TaskID::FromBinary(spec->task_id());
  for (uint64_t i = 1; i <= options.num_returns; ++i) {
    ObjectID id = ObjectID::FromIndex(task_id, static_cast<uint32_t>(i));
    reference_counter_.AddOwnedObject(id);
    returns->push_back({id.Binary(), serialized_address_});
  }
  reference_counter_.AddSubmittedTaskReferences(ArgumentObjectIds(*spec));
  {
    std::lock_guard<std::mutex> lock(pending_calls_mu_);
    pending_actor_calls_[actor_id]++;
  }
  RememberSubmitted(*spec);
  RecordTaskSubmitted(*spec);
  if (options.streaming_generator || options.returns_dynamic) {
    generator_streams_.Create(task_id, options.generator_backpressure_num_objects);
  }
  asio::post(io_, [this, spec, actor_id] {
    // Take the call's place in line now; send it once its arguments resolve.
    uint64_t ticket = actor_submitter_->Enqueue(*spec);
    ResolveDependencies(spec, [this, actor_id, ticket](rpc::TaskSpec resolved) {
      RecordTaskStatus(resolved, rpc::SUBMITTED_TO_WORKER);
      actor_submitter_->MarkReady(actor_id, ticket, std::move(resolved));
    });
  });
  return Status::OK();
}

void CoreWorker::Impl::ResolveDependencies(std::shared_ptr<rpc::TaskSpec> spec,
                                           std::function<void(rpc::TaskSpec)> done) {
  auto remaining = std::make_shared<int>(0);
  std::vector<int> ref_args;
  for (int i = 0; i < spec->args_size(); ++i) {
    if (!spec->args(i).is_inline() && !spec->args(i).in_plasma()) ref_args.push_back(i);
  }
  if (ref_args.empty()) return done(std::move(*spec));
  *remaining = static_cast<int>(ref_args.size());
  auto shared_done = std::make_shared<std::function<void(rpc::TaskSpec)>>(std::move(done));
  for (int i : ref_args) {
    ObjectID id = ObjectID::FromBinary(spec->args(i).object_ref().object_id());
    if (!reference_counter_.IsOwned(id)) {
      StartFetch(id, spec->args(i).object_ref().owner_address().SerializeAsString());
    }
    memory_store_.GetAsync(id, [this, spec, i, remaining, shared_done](ObjectValuePtr value) {
      asio::post(io_, [spec, i, remaining, shared_done, value] {
        // Inline the value, keeping the reference so its count can be released;
        // a large value stays in shared memory and the executor maps it.
        auto *arg = spec->mutable_args(i);
        if (value->in_plasma) {
          arg->set_in_plasma(true);
        } else {
          arg->set_is_inline(true);
          arg->set_data(value->data);
          arg->set_metadata(value->metadata);
        }
        FillNestedRefs(value->nested_refs, arg->mutable_nested_refs());
        if (--*remaining == 0) (*shared_done)(std::move(*spec));
      });
    });
  }
}

void CoreWorker::Impl::ActorCallFinished(const rpc::TaskSpec &spec) {
  if (spec.type() != rpc::ACTOR_TASK) return;
  std::lock_guard<std::mutex> lock(pending_calls_mu_);
  auto it = pending_actor_calls_.find(spec.actor_task_spec().actor_id());
  if (it != pending_actor_calls_.end() && --it->second <= 0) pending_actor_calls_.erase(it);
}

void CoreWorker::Impl::OnTaskComplete(const rpc::TaskSpec &spec, const rpc::PushTaskReply &reply) {
  ActorCallFinished(spec);
  ForgetSubmitted(spec);
  RecordLineage(spec, reply);
  const bool generator = spec.streaming_generator() || spec.returns_dynamic();
  for (const auto &ret : reply.return_objects()) {
    if (ret.in_plasma()) {
      object_directory_.AddPrimary(
          ObjectID::FromBinary(ret.object_id()),
          ret.node_id().empty() ? node_id_ : NodeID::FromBinary(ret.node_id()));
    }
    ObjectValuePtr value = ValueFromReturn(ret);
    if (spec.returns_dynamic()) value = WithGeneratorItems(spec, reply, value);
    lifetimes_.StoreIfReferenced(ObjectID::FromBinary(ret.object_id()), value, /*owned=*/true);
  }
  if (generator) OnGeneratorTaskComplete(spec, reply);
  reference_counter_.RemoveSubmittedTaskReferences(ArgumentObjectIds(spec));
}

void CoreWorker::Impl::OnTaskFail(const rpc::TaskSpec &spec, int error_type,
                                  const std::string &message) {
  ActorCallFinished(spec);
  ForgetSubmitted(spec);
  TaskID task_id = TaskID::FromBinary(spec.task_id());
  if (lineage_.EndRebuild(task_id)) {
    // The values of returns still in scope are there already (as lost
    // markers): the rebuild failing makes them lost for good. Returns brought
    // back only to rebuild a later task get the error, which that task then
    // fails with.
    CYRAY_LOG(WARNING) << "rebuilding the returns of task " << spec.name()
                       << " failed: " << message;
    auto error = MakeErrorObject(
        rpc::OBJECT_RECONSTRUCTION_FAILED,
        "rebuilding it by running task " + spec.name() + " again failed: " + message);
    for (uint64_t i = 1; i <= spec.num_returns(); ++i) {
      ObjectID id = ObjectID::FromIndex(task_id, static_cast<uint32_t>(i));
      object_directory_.MarkLost(id);
      if (!memory_store_.Contains(id)) lifetimes_.StoreIfReferenced(id, error, /*owned=*/true);
    }
    reference_counter_.RemoveSubmittedTaskReferences(ArgumentObjectIds(spec));
    return;
  }
  TaskStatusDetail why;
  why.error_type = error_type;
  why.error_message = message;
  RecordTaskStatus(spec, rpc::FAILED, why);
  auto error = MakeErrorObject(error_type, message);
  if (spec.streaming_generator() || spec.returns_dynamic()) OnGeneratorTaskFail(spec, error);
  for (uint64_t i = 1; i <= spec.num_returns(); ++i) {
    lifetimes_.StoreIfReferenced(ObjectID::FromIndex(task_id, static_cast<uint32_t>(i)), error,
                                 /*owned=*/true);
  }
  reference_counter_.RemoveSubmittedTaskReferences(ArgumentObjectIds(spec));
}

grpc::ServerUnaryReactor *CoreWorker::Impl::GetObjectStatus(
    grpc::CallbackServerContext *ctx, const rpc::GetObjectStatusRequest *request,
    rpc::GetObjectStatusReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  ObjectID id = ObjectID::FromBinary(request->object_id());
  CYRAY_LOG(DEBUG) << "GetObjectStatus " << id.Hex() << " known=" << reference_counter_.Has(id);
  if (!reference_counter_.Has(id) && !memory_store_.Contains(id)) {
    reply->set_status(rpc::GetObjectStatusReply::OUT_OF_SCOPE);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  auto request_state = std::make_shared<PendingObjectRequest>();
  request_state->reactor = reactor;
  request_state->reply = reply;
  {
    std::lock_guard<std::mutex> lock(object_requests_mu_);
    if (shut_down_) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "owner exiting"));
      return reactor;
    }
    object_requests_.insert(request_state);
  }
  memory_store_.GetAsync(id, [this, request_state, id](ObjectValuePtr value) {
    if (request_state->answered.exchange(true)) return;
    auto *reply = request_state->reply;
    reply->set_status(rpc::GetObjectStatusReply::CREATED);
    auto *obj = reply->mutable_object();
    obj->set_object_id(id.Binary());
    obj->set_in_plasma(value->in_plasma);
    obj->set_data(value->data);
    obj->set_metadata(value->metadata);
    FillNestedRefs(value->nested_refs, obj->mutable_nested_refs());
    request_state->reactor->Finish(grpc::Status::OK);
    std::lock_guard<std::mutex> lock(object_requests_mu_);
    object_requests_.erase(request_state);
  });
  return reactor;
}

grpc::ServerUnaryReactor *CoreWorker::Impl::AddBorrower(grpc::CallbackServerContext *ctx,
                                                        const rpc::AddBorrowerRequest *request,
                                                        rpc::AddBorrowerReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  ObjectID id = ObjectID::FromBinary(request->object_id());
  bool found = !shut_down_ && reference_counter_.AddBorrower(id);
  reply->set_found(found);
  if (found) {
    // The borrow lasts until the borrower says so, or is gone.
    client_pool_.WaitForRefRemoved(
        request->borrower_address(), request->object_id(),
        [this, id](const Status &) { reference_counter_.RemoveBorrower(id); });
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor *CoreWorker::Impl::WaitForRefRemoved(
    grpc::CallbackServerContext *ctx, const rpc::WaitForRefRemovedRequest *request,
    rpc::WaitForRefRemovedReply *reply) {
  if (auto *rejected = rpc::RejectIfUnauthenticated(ctx)) return rejected;
  auto *reactor = ctx->DefaultReactor();
  ObjectID id = ObjectID::FromBinary(request->object_id());
  {
    std::lock_guard<std::mutex> lock(ref_removed_mu_);
    if (!shut_down_ && reference_counter_.Has(id)) {
      ref_removed_waiters_[id].push_back(reactor);
      return reactor;
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

void CoreWorker::Impl::AddLocalReference(const std::string &object_id,
                                         const std::string &owner_address) {
  ObjectID id = ObjectID::FromBinary(object_id);
  bool borrowed = !owner_address.empty() && owner_address != serialized_address_;
  bool tell_owner = borrowed && reference_counter_.AddBorrowedObject(id, owner_address);
  reference_counter_.AddLocalReference(id);
  if (tell_owner && connected_ && !shut_down_) {
    rpc::Address owner;
    owner.ParseFromString(owner_address);
    bool found = false;
    // Failures need no handling here: a later get reports the lost owner.
    (void)client_pool_.AddBorrower(owner, object_id, address_, &found);
  }
}

// ---- CoreWorker: forwards to Impl -------------------------------------------

CoreWorker::CoreWorker(const CoreWorkerOptions &options) : impl_(std::make_unique<Impl>(options)) {}
CoreWorker::~CoreWorker() = default;
Status CoreWorker::Connect() { return impl_->Connect(); }
void CoreWorker::Shutdown() { impl_->Shutdown(); }
std::string CoreWorker::WorkerId() const { return impl_->worker_id_.Binary(); }
std::string CoreWorker::JobId() const {
  std::lock_guard<std::mutex> lock(impl_->context_mu_);
  return impl_->job_id_.Binary();
}
std::string CoreWorker::NodeId() const { return impl_->node_id_.Binary(); }
std::string CoreWorker::SerializedAddress() const { return impl_->serialized_address_; }
std::string CoreWorker::CurrentTaskId() const {
  std::lock_guard<std::mutex> lock(impl_->context_mu_);
  return impl_->Context().task_id.Binary();
}
TaskContextInfo CoreWorker::CurrentTaskContext() const {
  TaskContextInfo info;
  std::lock_guard<std::mutex> lock(impl_->context_mu_);
  const TaskContext &ctx = impl_->Context();
  info.executing = ctx.executing;
  if (!ctx.executing) return info;
  info.task_id = ctx.task_id.Binary();
  info.name = ctx.name;
  info.actor_id = ctx.actor_id;
  info.attempt_number = ctx.attempt_number;
  info.resource_ids = ctx.resource_ids;
  info.resource_amounts = ctx.resource_amounts;
  return info;
}
std::string CoreWorker::CurrentActorId() const {
  std::lock_guard<std::mutex> lock(impl_->exec_mu_);
  return impl_->actor_id_;
}
Status CoreWorker::CreateActor(const TaskOptions &options,
                               const ActorCreationOptions &actor_options,
                               const std::vector<TaskArgInput> &args, std::string *actor_id) {
  return impl_->CreateActor(options, actor_options, args, actor_id);
}
void CoreWorker::AddActorHandle(const std::string &actor_id) { impl_->AddActorHandle(actor_id); }
int64_t CoreWorker::NumPendingActorCalls(const std::string &actor_id) const {
  std::lock_guard<std::mutex> lock(impl_->pending_calls_mu_);
  auto it = impl_->pending_actor_calls_.find(actor_id);
  return it == impl_->pending_actor_calls_.end() ? 0 : it->second;
}
ObjectRefInfo CoreWorker::TrackActorHandles(const std::string &actor_id) {
  // Index 0 of the creation task: an object ID nothing else uses.
  ObjectID id = ObjectID::FromIndex(TaskID::ForActorCreationTask(ActorID::FromBinary(actor_id)), 0);
  {
    std::lock_guard<std::mutex> lock(impl_->actor_handles_mu_);
    impl_->actor_handles_[id] = actor_id;
  }
  impl_->reference_counter_.AddOwnedObject(id);
  return {id.Binary(), impl_->serialized_address_};
}
void CoreWorker::OnObjectReady(const std::string &object_id, ObjectReadyCallback callback,
                               void *context) {
  impl_->OnObjectReady(ObjectID::FromBinary(object_id), callback, context);
}
Status CoreWorker::CancelTask(const std::string &object_id, const std::string &owner_address,
                              bool force_kill, bool recursive) {
  return impl_->CancelObjectTask(object_id, owner_address, force_kill, recursive);
}
bool CoreWorker::IsTaskCancelled(const std::string &task_id) const {
  return impl_->IsReceivedCancelled(TaskID::FromBinary(task_id));
}
void CoreWorker::CompleteDeferred(uint64_t execution_token, TaskExecutionResult result) {
  impl_->CompleteDeferred(execution_token, std::move(result));
}
Status CoreWorker::SubmitActorTask(const std::string &actor_id, const TaskOptions &options,
                                   const std::vector<TaskArgInput> &args,
                                   std::vector<ObjectRefInfo> *returns) {
  return impl_->SubmitActorTask(actor_id, options, args, returns);
}
Status CoreWorker::KillActor(const std::string &actor_id, bool force_kill, bool no_restart) {
  return impl_->gcs_->KillActor(actor_id, force_kill, no_restart);
}
Status CoreWorker::GetNamedActor(const std::string &name, const std::string &ray_namespace,
                                 bool *found, std::string *actor_table,
                                 std::string *creation_spec) {
  return impl_->gcs_->GetNamedActorInfo(name, ray_namespace, found, actor_table, creation_spec);
}
Status CoreWorker::Put(const ObjectValue &value, ObjectRefInfo *ref) {
  return impl_->Put(value, ref);
}
Status CoreWorker::CreatePut(size_t data_size, const std::string &metadata, ObjectRefInfo *ref,
                             uint8_t **address) {
  return impl_->CreatePut(data_size, metadata, ref, address);
}
Status CoreWorker::SealPut(const ObjectRefInfo &ref, const std::vector<ObjectRefInfo> &nested_refs,
                           uint64_t object_size) {
  return impl_->SealPut(ref, nested_refs, object_size);
}
Status CoreWorker::Get(const std::vector<std::string> &ids, int64_t timeout_ms,
                       std::vector<ObjectValuePtr> *out) {
  return impl_->Get(ids, timeout_ms, out);
}
Status CoreWorker::Wait(const std::string &packed_ids, int num_objects, int64_t timeout_ms,
                        bool fetch_local, std::vector<bool> *ready) {
  return impl_->Wait(packed_ids, num_objects, timeout_ms, fetch_local, ready);
}
void CoreWorker::AddLocalReference(const std::string &object_id, const std::string &owner_address) {
  impl_->AddLocalReference(object_id, owner_address);
}
void CoreWorker::SetCallSite(const std::string &object_id, const std::string &call_site) {
  impl_->reference_counter_.SetCallSite(ObjectID::FromBinary(object_id), call_site);
}
void CoreWorker::RemoveLocalReference(const std::string &object_id) {
  impl_->reference_counter_.RemoveLocalReference(ObjectID::FromBinary(object_id));
}
Status CoreWorker::SubmitTask(const TaskOptions &options, const std::vector<TaskArgInput> &args,
                              std::vector<ObjectRefInfo> *returns) {
  return impl_->SubmitTask(options, args, returns);
}
Status CoreWorker::RunTaskLoop() { return impl_->RunTaskLoop(); }
void CoreWorker::PinReturnNestedRefs(const std::string &task_id, uint64_t return_index,
                                     const std::vector<ObjectRefInfo> &refs) {
  impl_->lifetimes_.PinNested(
      ObjectID::FromIndex(TaskID::FromBinary(task_id), static_cast<uint32_t>(return_index)), refs);
}
Status CoreWorker::KVGet(const std::string &ns, const std::string &key, std::string *value,
                         bool *found) {
  std::optional<std::string> result;
  CYRAY_RETURN_NOT_OK(impl_->gcs_->KVGet(ns, key, &result));
  *found = result.has_value();
  if (result) *value = std::move(*result);
  return Status::OK();
}
Status CoreWorker::KVPut(const std::string &ns, const std::string &key, const std::string &value,
                         bool overwrite, bool *added) {
  return impl_->gcs_->KVPut(ns, key, value, overwrite, added);
}
Status CoreWorker::GetAllNodeInfo(std::vector<std::string> *nodes) {
  return impl_->gcs_->GetAllNodeInfo(nodes);
}
Status CoreWorker::ObjectStoreStats(uint64_t *capacity, uint64_t *used, uint64_t *num_objects,
                                    uint64_t *spilled_bytes) {
  if (!impl_->plasma_) return Status::Disconnected("not connected to the object store");
  return impl_->plasma_->Stats(capacity, used, num_objects, spilled_bytes);
}
size_t CoreWorker::NumObjectsInMemoryStore() const { return impl_->memory_store_.Size(); }
size_t CoreWorker::NumReferences() const { return impl_->reference_counter_.Size(); }

}  // namespace cyray::core
