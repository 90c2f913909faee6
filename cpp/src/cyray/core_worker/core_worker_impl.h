// CoreWorker::Impl, shared by the core worker's source files: core_worker.cc
// (connection, objects, submission) and task_execution.cc (receiving and
// running pushed tasks). Internal: not seen by Cython (it includes gRPC).
#pragma once

#include "cyray/core_worker/core_worker.h"

#include <sys/socket.h>
#include <unistd.h>
#include <atomic>
#include <boost/asio.hpp>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>
#include "absl/base/thread_annotations.h"
#include "cyray/common/config.h"
#include "cyray/common/id.h"
#include "cyray/common/local_socket.h"
#include "cyray/common/logging.h"
#include "cyray/core_worker/actor_task_submitter.h"
#include "cyray/core_worker/generator_streams.h"
#include "cyray/core_worker/lineage.h"
#include "cyray/core_worker/memory_store.h"
#include "cyray/core_worker/object_directory.h"
#include "cyray/core_worker/object_lifetimes.h"
#include "cyray/core_worker/plasma_client.h"
#include "cyray/core_worker/reference_counter.h"
#include "cyray/core_worker/rpc_clients.h"
#include "cyray/core_worker/task_channel.h"
#include "cyray/core_worker/task_event_buffer.h"
#include "cyray/core_worker/task_receiver.h"
#include "cyray/core_worker/task_submitter.h"
#include "cyray/protobuf/core_worker.grpc.pb.h"
#include "cyray/protobuf/gcs_service.pb.h"
#include "cyray/protobuf/local_protocol.pb.h"
#include "cyray/rpc/gcs_client.h"
#include "cyray/rpc/grpc_util.h"

namespace cyray::core {

namespace asio = boost::asio;

namespace internal {

inline ObjectValuePtr ValueFromReturn(const rpc::ReturnObject &ret) {
  auto value = std::make_shared<ObjectValue>();
  value->in_plasma = ret.in_plasma();
  value->plasma_size = ret.plasma_size();
  value->data = ret.data();
  value->metadata = ret.metadata();
  for (const auto &ref : ret.nested_refs()) {
    value->nested_refs.push_back({ref.object_id(), ref.owner_address().SerializeAsString()});
  }
  return value;
}

inline void FillNestedRefs(const std::vector<ObjectRefInfo> &refs,
                           google::protobuf::RepeatedPtrField<rpc::ObjectReference> *out) {
  for (const auto &ref : refs) {
    auto *r = out->Add();
    r->set_object_id(ref.object_id);
    r->mutable_owner_address()->ParseFromString(ref.owner_address);
  }
}

// The object IDs a submitted task keeps alive: its reference arguments and
// the refs nested in its inline arguments.
inline std::vector<ObjectID> ArgumentObjectIds(const rpc::TaskSpec &spec) {
  std::vector<ObjectID> ids;
  for (const auto &arg : spec.args()) {
    if (!arg.object_ref().object_id().empty()) {
      ids.push_back(ObjectID::FromBinary(arg.object_ref().object_id()));
    }
    for (const auto &nested : arg.nested_refs()) {
      ids.push_back(ObjectID::FromBinary(nested.object_id()));
    }
  }
  return ids;
}

// A PushTask call that came over gRPC (from the GCS: actor creation).
class TaskReactor : public grpc::ServerUnaryReactor, public TaskResponder {
 public:
  void Finish(const Status &status) override {
    grpc::ServerUnaryReactor::Finish(
        status.ok() ? grpc::Status::OK
                    : grpc::Status(grpc::StatusCode::UNAVAILABLE, status.message()));
  }
  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    Release();
  }
  void WaitDone(int64_t timeout_ms) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return done_; });
  }
  // Two owners: gRPC (until OnDone) and the task loop (until it let go).
  void Release() override {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<int> refs_{2};
};

// A pushed task waiting to run on an executor thread.
struct PendingExecution {
  const rpc::PushTaskRequest *request;
  rpc::PushTaskReply *reply;
  TaskResponder *reactor;
};

// What a thread is running: IDs of tasks and puts it creates derive from it.
struct TaskContext {
  TaskID task_id;
  uint64_t num_returns = 0;
  uint64_t task_counter = 0;
  uint64_t put_counter = 0;
  bool executing = false;
  std::string name;
  std::string actor_id;
  uint32_t attempt_number = 0;
  // enable_task_events=False for the running task.
  bool task_events_disabled = false;
  std::map<std::string, std::vector<int64_t>> resource_ids;
  std::map<std::string, double> resource_amounts;
};

// Set on executor threads while they run a task; other threads (a driver's,
// or threads a task starts) use the process's default context.
inline thread_local TaskContext *tls_task_context = nullptr;

// A GetObjectStatus call waiting for its object; answered once, by whichever
// comes first: the object or shutdown.
struct PendingObjectRequest {
  grpc::ServerUnaryReactor *reactor;
  rpc::GetObjectStatusReply *reply;
  std::atomic<bool> answered{false};
};

}  // namespace internal

using namespace internal;  // NOLINT: the Impl sources share these helpers

// Threads that touch an Impl: the Python threads calling CoreWorker's public
// methods (GIL released), the io thread (submitters, dependency resolution,
// timers), gRPC's callback threads (handlers and client completions), the
// raylet reader thread, and the executor threads of a worker (the main thread
// and a concurrent actor's extra ones). Every field that more than one of
// them touches is guarded by the mutex its ABSL_GUARDED_BY names (checked
// under clang's -Wthread-safety; documentation under gcc), or is atomic, or
// is set once in Connect before any other thread starts.
class CoreWorker::Impl : public rpc::CoreWorkerService::CallbackService {
 public:
  explicit Impl(const CoreWorkerOptions &options)
      : options_(options),
        worker_id_(WorkerID::FromRandom()),
        reference_counter_(
            [this](const ObjectID &id, bool owned) { OnObjectOutOfScope(id, owned); }),
        client_pool_(io_, call_tracker_),
        lifetimes_(reference_counter_, memory_store_,
                   {[this](const ObjectID &id) {
                      if (plasma_) plasma_->Delete({id});
                      FreeRemoteCopies(id);
                    },
                    [this](const ObjectID &id) { AnswerRefRemovedWaiters(id); }}) {}

  ~Impl() override { Shutdown(); }

  Status Connect();
  void Shutdown();
  Status Put(const ObjectValue &value, ObjectRefInfo *ref);
  Status CreatePut(size_t data_size, const std::string &metadata, ObjectRefInfo *ref,
                   uint8_t **address);
  Status SealPut(const ObjectRefInfo &ref, const std::vector<ObjectRefInfo> &nested_refs,
                 uint64_t object_size);
  ObjectID NextPutId();
  Status Get(const std::vector<std::string> &ids, int64_t timeout_ms,
             std::vector<ObjectValuePtr> *out);
  Status Wait(const std::string &packed_ids, int num_objects, int64_t timeout_ms, bool fetch_local,
              std::vector<bool> *ready);
  Status SubmitTask(const TaskOptions &options, const std::vector<TaskArgInput> &args,
                    std::vector<ObjectRefInfo> *returns);
  Status RunTaskLoop();
  void CompleteDeferred(uint64_t token, TaskExecutionResult result);
  Status CreateActor(const TaskOptions &options, const ActorCreationOptions &actor_options,
                     const std::vector<TaskArgInput> &args, std::string *actor_id);
  void AddActorHandle(const std::string &actor_id);
  Status SubmitActorTask(const std::string &actor_id, const TaskOptions &options,
                         const std::vector<TaskArgInput> &args,
                         std::vector<ObjectRefInfo> *returns);

  grpc::ServerUnaryReactor *PushTask(grpc::CallbackServerContext *ctx,
                                     const rpc::PushTaskRequest *request,
                                     rpc::PushTaskReply *reply) override;
  // Queues a pushed task (from gRPC or the task channel) or answers it at once.
  void AcceptPush(const rpc::PushTaskRequest *request, rpc::PushTaskReply *reply,
                  TaskResponder *responder);
  grpc::ServerUnaryReactor *GetObjectStatus(grpc::CallbackServerContext *ctx,
                                            const rpc::GetObjectStatusRequest *request,
                                            rpc::GetObjectStatusReply *reply) override;
  grpc::ServerUnaryReactor *AddBorrower(grpc::CallbackServerContext *ctx,
                                        const rpc::AddBorrowerRequest *request,
                                        rpc::AddBorrowerReply *reply) override;
  grpc::ServerUnaryReactor *WaitForRefRemoved(grpc::CallbackServerContext *ctx,
                                              const rpc::WaitForRefRemovedRequest *request,
                                              rpc::WaitForRefRemovedReply *reply) override;
  grpc::ServerUnaryReactor *GetObjectLocations(grpc::CallbackServerContext *ctx,
                                               const rpc::GetObjectLocationsRequest *request,
                                               rpc::GetObjectLocationsReply *reply) override;
  grpc::ServerUnaryReactor *AddObjectLocation(grpc::CallbackServerContext *ctx,
                                              const rpc::AddObjectLocationRequest *request,
                                              rpc::AddObjectLocationReply *reply) override;
  grpc::ServerUnaryReactor *CancelTask(grpc::CallbackServerContext *ctx,
                                       const rpc::CancelTaskRequest *request,
                                       rpc::CancelTaskReply *reply) override;
  grpc::ServerUnaryReactor *RemoteCancelTask(grpc::CallbackServerContext *ctx,
                                             const rpc::RemoteCancelTaskRequest *request,
                                             rpc::RemoteCancelTaskReply *reply) override;
  grpc::ServerUnaryReactor *GetCoreWorkerStats(grpc::CallbackServerContext *ctx,
                                               const rpc::GetCoreWorkerStatsRequest *request,
                                               rpc::GetCoreWorkerStatsReply *reply) override;
  grpc::ServerUnaryReactor *ReportGeneratorItemReturns(
      grpc::CallbackServerContext *ctx, const rpc::ReportGeneratorItemReturnsRequest *request,
      rpc::ReportGeneratorItemReturnsReply *reply) override;
  void OnObjectReady(const ObjectID &id, ObjectReadyCallback callback, void *context);
  // This process let go of `id`: answers the WaitForRefRemoved calls for it.
  void AnswerRefRemovedWaiters(const ObjectID &id);
  // A Python ObjectRef appeared; tells a remote owner about the borrow.
  void AddLocalReference(const std::string &object_id, const std::string &owner_address);

  CoreWorkerOptions options_;
  WorkerID worker_id_;
  JobID job_id_;
  NodeID node_id_;
  rpc::Address address_;
  std::string serialized_address_;

  MemoryStore memory_store_;
  ReferenceCounter reference_counter_;
  asio::io_context io_;
  // Declared before the clients that use it, so it outlives them.
  rpc::CallTracker call_tracker_;
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread io_thread_;
  CoreWorkerClientPool client_pool_;
  std::unique_ptr<rpc::GcsClient> gcs_;
  std::unique_ptr<RayletLeaseClient> lease_client_;
  std::unique_ptr<NormalTaskSubmitter> submitter_;
  std::unique_ptr<GcsActorClient> gcs_actor_client_;
  std::unique_ptr<ActorTaskSubmitter> actor_submitter_;
  std::unique_ptr<grpc::Server> server_;
  // Workers only: where owners push tasks (drivers run none).
  std::unique_ptr<TaskChannelServer> task_channel_;
  // Task events for the GCS (null when task_events_report_interval_ms is 0).
  std::unique_ptr<TaskEventBuffer> task_events_;
  void RecordTaskStatus(const rpc::TaskSpec &spec, rpc::TaskStatus status,
                        const TaskStatusDetail &detail = {}) {
    if (task_events_) task_events_->Record(spec, status, detail);
  }
  // The task running on this thread blocks in get/wait (RUNNING_IN_RAY_GET /
  // RUNNING_IN_RAY_WAIT) or goes on (RUNNING); nothing outside a task.
  void RecordBlocking(rpc::TaskStatus status);
  // A task this worker ran ended: FINISHED, or FAILED and why.
  void RecordExecutionEnd(const rpc::TaskSpec &spec, const Status &status,
                          const TaskExecutionResult &result);
  void RecordTaskSubmitted(const rpc::TaskSpec &spec) {
    if (task_events_) task_events_->RecordSubmitted(spec, rpc::PENDING_ARGS_AVAIL);
  }
  // The node's shared-memory object store, for values above the inline limit.
  std::shared_ptr<PlasmaClient> plasma_;
  size_t max_inline_size_ = 0;

  // The raylet connection: registration, blocked/unblocked notices, liveness.
  int raylet_fd_ = -1;
  std::mutex raylet_write_mu_;
  std::thread raylet_reader_;

  // Counters of every TaskContext are guarded by context_mu_.
  mutable std::mutex context_mu_;
  TaskContext default_context_;
  TaskContext &Context() { return tls_task_context ? *tls_task_context : default_context_; }
  const TaskContext &Context() const {
    return tls_task_context ? *tls_task_context : default_context_;
  }
  // The actor this worker hosts, once its creation task succeeded, and the
  // resource instances its lease holds for its lifetime (exec_mu_).
  std::string actor_id_ ABSL_GUARDED_BY(exec_mu_);
  std::map<std::string, std::vector<int64_t>> actor_resource_ids_ ABSL_GUARDED_BY(exec_mu_);
  std::map<std::string, double> actor_resource_amounts_ ABSL_GUARDED_BY(exec_mu_);

  // Actor calls submitted and not yet finished, per actor (max_pending_calls).
  mutable std::mutex pending_calls_mu_;
  std::unordered_map<std::string, int64_t> pending_actor_calls_ ABSL_GUARDED_BY(pending_calls_mu_);
  void ActorCallFinished(const rpc::TaskSpec &spec);

  // Handle refs of actors this process created (see TrackActorHandles).
  std::mutex actor_handles_mu_;
  std::unordered_map<ObjectID, std::string> actor_handles_ ABSL_GUARDED_BY(actor_handles_mu_);

  // The nodes holding copies of the shared-memory objects this process owns.
  ObjectDirectory object_directory_;
  // Lineage: the tasks that made the shared-memory objects this process owns,
  // kept while they may be needed to rebuild a lost object (lineage.h).
  LineageTable lineage_{[this](const ObjectID &id) { return reference_counter_.Has(id); }};
  void RecordLineage(const rpc::TaskSpec &spec, const rpc::PushTaskReply &reply);
  // Whether the task of a lost object can run again to rebuild it.
  bool CanRebuild(const ObjectID &id);
  // Runs the task of a lost object again (once per task), after rebuilding
  // those of its arguments that left scope since.
  void Rebuild(const ObjectID &id);
  // When values arrive and copies go, and nested reference counting.
  ObjectLifetimes lifetimes_;

  // WaitForRefRemoved calls from owners, answered when our borrow ends.
  std::mutex ref_removed_mu_;
  std::unordered_map<ObjectID, std::vector<grpc::ServerUnaryReactor *>> ref_removed_waiters_
      ABSL_GUARDED_BY(ref_removed_mu_);

  // GetObjectStatus calls from borrowers still waiting for their objects.
  std::mutex object_requests_mu_;
  std::unordered_set<std::shared_ptr<PendingObjectRequest>> object_requests_
      ABSL_GUARDED_BY(object_requests_mu_);

  // Borrowed objects being fetched from their owners.
  std::mutex fetch_mu_;
  std::unordered_set<ObjectID> fetching_ ABSL_GUARDED_BY(fetch_mu_);

  // Tasks pushed to this worker, in the order they run: by RunTaskLoop on the
  // main thread and by the extra executor threads of a concurrent actor.
  TaskReceiver<PendingExecution> receiver_;
  std::mutex executors_mu_;
  std::vector<std::thread> executors_ ABSL_GUARDED_BY(executors_mu_);  // joined by Shutdown
  // Shutdown took them: start no more.
  bool executors_closed_ ABSL_GUARDED_BY(executors_mu_) = false;
  // Guards actor_id_ and the actor's resources below.
  mutable std::mutex exec_mu_;
  // Executions whose results come later (async actor calls), by token.
  std::mutex deferred_mu_;
  std::unordered_map<uint64_t, PendingExecution> deferred_ ABSL_GUARDED_BY(deferred_mu_);
  std::atomic<uint64_t> next_execution_token_{1};

  // ---- Cancellation (task_cancellation.cc) ----
  // Owner: tasks this process submitted that have not ended.
  struct SubmittedTask {
    TaskID parent;
    std::string actor_id;  // empty for a normal task
    uint64_t num_returns = 0;
    bool cancelled = false;
  };
  std::mutex submitted_mu_;
  std::unordered_map<TaskID, SubmittedTask> submitted_tasks_ ABSL_GUARDED_BY(submitted_mu_);
  // Set by the first cancel: until then nothing is looked up per task.
  std::atomic<bool> any_cancel_{false};
  void RememberSubmitted(const rpc::TaskSpec &spec);
  void ForgetSubmitted(const rpc::TaskSpec &spec);
  // Whether cancel was asked for a task this process submitted.
  bool SubmittedCancelled(const TaskID &task_id);
  Status CancelObjectTask(const std::string &object_id, const std::string &owner_address,
                          bool force_kill, bool recursive);
  Status CancelOwnedTask(const TaskID &task_id, bool force_kill, bool recursive);
  // Cancels the tasks `parent` submitted (recursive cancel).
  void CancelChildren(const TaskID &parent, bool force_kill);
  // Worker: tasks pushed to this worker and not answered yet.
  struct ReceivedTask {
    int task_type = 0;
    bool running = false;
    bool cancelled = false;
  };
  mutable std::mutex received_mu_;
  std::unordered_map<TaskID, ReceivedTask> received_tasks_ ABSL_GUARDED_BY(received_mu_);
  void OnTaskReceived(const rpc::TaskSpec &spec);
  // Marks it running; true when it was cancelled before it could start.
  bool StartReceived(const TaskID &task_id);
  void ForgetReceived(const TaskID &task_id);
  bool IsReceivedCancelled(const TaskID &task_id) const;
  // The returns become TASK_CANCELLED errors (a cancelled call's value is dropped).
  void ReplaceWithCancelled(const rpc::TaskSpec &spec, TaskExecutionResult *result);

  // ---- Streaming generators (streaming_generator.cc) ----
  // Owner: the items of the generator tasks this process submitted. Each
  // item reported and not taken yet is held by one local reference.
  GeneratorStreams generator_streams_;
  Status GeneratorNext(const TaskID &generator, int64_t timeout_ms, std::string *item_id,
                       bool *end);
  void DropGenerator(const TaskID &generator);
  // A generator task ended (its items were all reported first; its returns
  // are stored): the stream learns its length, or is dropped when dynamic.
  void OnGeneratorTaskComplete(const rpc::TaskSpec &spec, const rpc::PushTaskReply &reply);
  // A dynamic generator's return value, listing (and so holding) its items.
  ObjectValuePtr WithGeneratorItems(const rpc::TaskSpec &spec, const rpc::PushTaskReply &reply,
                                    const ObjectValuePtr &value);
  // Holds a reported item for the consumer (GeneratorStreams' on_fresh).
  std::function<void()> HoldForConsumer(const ObjectID &item_id);
  // A generator task failed for good: its error becomes its last item.
  void OnGeneratorTaskFail(const rpc::TaskSpec &spec, const ObjectValuePtr &error);
  // Ends a stream with `error` as its item after the `num_items` reported.
  void AppendGeneratorError(const TaskID &generator, int64_t num_items,
                            const ObjectValuePtr &error);
  // Worker: where the items of each running generator go, and how many
  // reports are not acknowledged yet.
  struct GeneratorReports {
    rpc::Address owner;
    uint32_t attempt_number = 0;
    int64_t backpressure = 0;
    int64_t outstanding = 0;
    // A report failed: the owner may miss an item, so the task must fail.
    std::string failed_report;
  };
  std::mutex generator_reports_mu_;
  std::condition_variable generator_reports_cv_;
  std::unordered_map<TaskID, GeneratorReports> generator_reports_
      ABSL_GUARDED_BY(generator_reports_mu_);
  void OnGeneratorTaskStart(const rpc::TaskSpec &spec);
  Status ReportGeneratorItem(const TaskID &generator, int64_t index, ObjectValue value);
  Status FlushGeneratorItems(const TaskID &generator);
  // Fills `ret` with value `id` as a task return travels: inline, or put in
  // this node's store when large. Returns whether it holds refs (the caller
  // keeps them alive until the owner lets go of `id`).
  bool FillReturnObject(const ObjectID &id, ObjectValue &value, rpc::ReturnObject *ret);

  std::atomic<bool> connected_{false};
  std::atomic<bool> shut_down_{false};

 private:
  Status RegisterWithRaylet(int *node_manager_port, std::string *plasma_token);
  void ReadRayletUntilClosed();
  void NotifyRaylet(rpc::LocalMessageType type, const std::string &body);
  void ResolveDependencies(std::shared_ptr<rpc::TaskSpec> spec,
                           std::function<void(rpc::TaskSpec)> done);
  void StartFetch(const ObjectID &id, const std::string &owner_address);
  void StartFetchesFor(const std::vector<ObjectID> &ids);
  void OnTaskComplete(const rpc::TaskSpec &spec, const rpc::PushTaskReply &reply);
  void OnTaskFail(const rpc::TaskSpec &spec, int error_type, const std::string &message);
  Status CheckSignals();
  // A task (not an actor) waiting in get or wait lends its CPU to the raylet.
  bool ShouldLendCpuWhileWaiting();
  void OnObjectOutOfScope(const ObjectID &id, bool owned);
  // The value itself for a shared-memory marker (mapped, zero-copy), pulled
  // into this node's store first when another node has it; others as is.
  // `owner_address` is the object's owner (empty: looked up).
  // With `timeout_ms` >= 0, returns null when a pull did not end in time.
  ObjectValuePtr Materialize(const ObjectID &id, const ObjectValuePtr &value,
                             const std::string &owner_address = "", int64_t timeout_ms = -1);
  // Asks the local raylet to pull `id` from the nodes that hold it; blocks
  // (TimedOut when `timeout_ms` >= 0 passes first).
  Status PullToLocalStore(const ObjectID &id, const std::string &owner_address,
                          rpc::PullObjectReply *reply, int64_t timeout_ms = -1);
  // Drops the copies of a freed object on other nodes (through the local raylet).
  void FreeRemoteCopies(const ObjectID &id);
  // A node died (the raylet said so): copies there are gone; objects left
  // with none are lost.
  void OnNodeRemoved(const rpc::NodeRemoved &node);
  // Runs one task; *deferred when its result comes later via CompleteDeferred.
  void ExecuteOne(const PendingExecution &pending, bool *exit_after, bool *deferred);
  // Fills the reply of a finished execution and sends it.
  void FinishExecution(const PendingExecution &pending, const Status &status,
                       TaskExecutionResult &result);
  // Runs queued tasks until exit; the main thread also checks signals.
  Status ExecutorLoop(bool is_main);
  void FillCommonSpec(rpc::TaskSpec *spec, const TaskOptions &options,
                      const std::vector<TaskArgInput> &args);
};

}  // namespace cyray::core
