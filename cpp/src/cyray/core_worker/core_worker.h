// CoreWorker: the C++ core inside every driver and worker process, wrapped by
// cyray._raylet. It owns the objects this process creates (memory store and
// reference counts), submits tasks (dependency resolution, leases, PushTask),
// serves CoreWorkerService (PushTask, GetObjectStatus) and, in a worker, runs
// pushed tasks on the calling (main) thread through the execution callback.
//
// Threads: public methods may be called from any thread (the Python thread
// usually, with the GIL released); internal work runs on one io thread and on
// gRPC's threads. This header is seen by Cython: no gRPC or protobuf here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cyray/common/status.h"
#include "cyray/core_worker/common.h"

namespace cyray::core {

// Runs one task (takes the GIL in Python); fills `result`. A bad Status means
// the worker could not run it at all (a system error).
using TaskExecutionCallback = Status (*)(const TaskExecutionSpec &spec,
                                         TaskExecutionResult *result);
// Returns a bad Status (Interrupted) when Python has a pending exception from
// a signal handler, e.g. KeyboardInterrupt.
using CheckSignalsCallback = Status (*)();
// Cancel was asked for a task this worker runs (`task_type` an rpc::TaskType):
// interrupts a normal task, cancels an async actor call's coroutine. Runs on
// a gRPC thread (takes the GIL in Python).
using CancelRunningCallback = void (*)(const std::string &task_id, int task_type);
// An object became ready (see CoreWorker::OnObjectReady).
using ObjectReadyCallback = void (*)(void *context);

struct CoreWorkerOptions {
  bool is_driver = true;
  std::string raylet_socket;
  std::string gcs_address;
  std::string node_ip_address = "127.0.0.1";
  int64_t startup_token = -1;
  // Binary JobID; a driver with none gets a new one from the GCS.
  std::string job_id;
  std::string driver_namespace;
  std::string entrypoint;
  // The cluster token (drivers present it to their raylet; empty: none).
  std::string auth_token;
  TaskExecutionCallback execute_task = nullptr;
  CheckSignalsCallback check_signals = nullptr;
  CancelRunningCallback cancel_running = nullptr;
};

class CoreWorker {
 public:
  explicit CoreWorker(const CoreWorkerOptions &options);
  ~CoreWorker();
  CoreWorker(const CoreWorker &) = delete;
  CoreWorker &operator=(const CoreWorker &) = delete;

  // Starts the gRPC server, connects to the raylet and (drivers) registers the job.
  Status Connect();
  // Stops serving and disconnects; idempotent.
  void Shutdown();

  std::string WorkerId() const;
  std::string JobId() const;
  std::string NodeId() const;
  // Serialized rpc::Address of this process (the owner address of its objects).
  std::string SerializedAddress() const;
  // The task being executed, or the driver task.
  std::string CurrentTaskId() const;
  // Everything about the task or actor call running on the calling thread.
  TaskContextInfo CurrentTaskContext() const;

  Status Put(const ObjectValue &value, ObjectRefInfo *ref);
  // A put written in place: reserves `data_size` bytes in the shared-memory
  // store for the caller to fill, then SealPut makes it the object `ref`.
  Status CreatePut(size_t data_size, const std::string &metadata, ObjectRefInfo *ref,
                   uint8_t **address);
  // `object_size` is what CreatePut allocated (data and metadata), for `cyray memory`.
  Status SealPut(const ObjectRefInfo &ref, const std::vector<ObjectRefInfo> &nested_refs,
                 uint64_t object_size);
  // Waits for all `ids`; `timeout_ms` < 0 waits forever.
  Status Get(const std::vector<std::string> &ids, int64_t timeout_ms,
             std::vector<ObjectValuePtr> *out);
  // Calls `callback(context)` once `object_id` is ready here (its value or
  // error is in this process; a borrowed one is fetched from its owner), at
  // once if it is. It runs on whichever thread made it ready; no lock held.
  void OnObjectReady(const std::string &object_id, ObjectReadyCallback callback, void *context);
  // Marks which of the IDs are ready once `num_objects` are or the timeout
  // passes; with `fetch_local`, ready objects held only on other nodes are
  // pulled here. `packed_ids` holds the object IDs back to back (one
  // allocation for any number: wait is called in loops over long lists).
  Status Wait(const std::string &packed_ids, int num_objects, int64_t timeout_ms, bool fetch_local,
              std::vector<bool> *ready);

  // A Python ObjectRef was created / destroyed. `owner_address` is empty for
  // objects this process owns.
  void AddLocalReference(const std::string &object_id, const std::string &owner_address);
  // Where the ref was created (CYRAY_record_ref_creation_sites=1), for `cyray memory`.
  void SetCallSite(const std::string &object_id, const std::string &call_site);
  void RemoveLocalReference(const std::string &object_id);

  Status SubmitTask(const TaskOptions &options, const std::vector<TaskArgInput> &args,
                    std::vector<ObjectRefInfo> *returns);

  // Cancels the task that makes `object_id` (ray.cancel): a task not running
  // yet fails with TASK_CANCELLED; a running one is interrupted (force_kill:
  // its worker is killed); `recursive` cancels the tasks it submitted too. A
  // borrowed ref's owner is asked. Nothing happens to a task that ended.
  // Invalid for force_kill on an actor call.
  Status CancelTask(const std::string &object_id, const std::string &owner_address, bool force_kill,
                    bool recursive);
  // Whether cancel was asked for `task_id`, a task this worker runs.
  bool IsTaskCancelled(const std::string &task_id) const;

  // Generators, owner side (ObjectRefGenerator): waits up to `timeout_ms`
  // (< 0: no limit) for the next item of generator task `task_id`. Sets
  // *item_id, whose reference the caller takes over (an ObjectRef adopts it),
  // or *end once the task ended and every item was taken.
  Status GeneratorNext(const std::string &task_id, int64_t timeout_ms, std::string *item_id,
                       bool *end);
  // Whether GeneratorNext would return at once; whether the stream ended.
  bool GeneratorNextReady(const std::string &task_id) const;
  bool GeneratorIsFinished(const std::string &task_id) const;
  // The consumer let go of the generator: items not taken are released.
  void DropGenerator(const std::string &task_id);
  // Generators, worker side: reports item `index` of the generator task
  // `task_id` this worker runs to its owner (a large value goes to the
  // object store first). Blocks while the owner holds it back (backpressure).
  Status ReportGeneratorItem(const std::string &task_id, int64_t index, ObjectValue value);
  // Waits until the owner acknowledged every item reported for `task_id`.
  Status FlushGeneratorItems(const std::string &task_id);

  // Keeps the refs inside return `return_index` (from 1) of the task
  // `task_id` this worker is executing alive for as long as the caller holds
  // that return (nested reference counting). Call while the refs still live.
  void PinReturnNestedRefs(const std::string &task_id, uint64_t return_index,
                           const std::vector<ObjectRefInfo> &refs);

  // Registers an actor with the GCS (fails with KeyError when its name is
  // taken) and has it created once its arguments are ready. `options.function`
  // names the class.
  Status CreateActor(const TaskOptions &options, const ActorCreationOptions &actor_options,
                     const std::vector<TaskArgInput> &args, std::string *actor_id);
  // Makes the handles of an actor this process created count like an object
  // reference: the returned ref lives in every handle (borrowed by other
  // processes that get one); when the last goes, the actor is told to end
  // once the calls already made are done.
  ObjectRefInfo TrackActorHandles(const std::string &actor_id);
  // Starts following an actor whose handle this process got from elsewhere.
  void AddActorHandle(const std::string &actor_id);
  // Calls this process submitted to the actor that have not finished yet.
  int64_t NumPendingActorCalls(const std::string &actor_id) const;
  // Calls a method (`options.function.function_name`) of an actor.
  Status SubmitActorTask(const std::string &actor_id, const TaskOptions &options,
                         const std::vector<TaskArgInput> &args,
                         std::vector<ObjectRefInfo> *returns);
  Status KillActor(const std::string &actor_id, bool force_kill, bool no_restart);
  // Serialized rpc::ActorTableData and the creation rpc::TaskSpec of a named actor.
  Status GetNamedActor(const std::string &name, const std::string &ray_namespace, bool *found,
                       std::string *actor_table, std::string *creation_spec);
  // The actor this worker runs (empty when none).
  std::string CurrentActorId() const;

  // Reports the result of an execution the callback deferred (any thread).
  void CompleteDeferred(uint64_t execution_token, TaskExecutionResult result);

  // Worker only: executes pushed tasks until it must exit (max_calls,
  // exit_actor, shutdown) or a signal check fails.
  Status RunTaskLoop();

  // The GCS internal KV (functions are exported through it).
  Status KVGet(const std::string &ns, const std::string &key, std::string *value, bool *found);
  Status KVPut(const std::string &ns, const std::string &key, const std::string &value,
               bool overwrite, bool *added);
  // Serialized rpc::GcsNodeInfo of every node.
  Status GetAllNodeInfo(std::vector<std::string> *nodes);

  // The node's shared-memory store: bytes in total, in use, and objects.
  Status ObjectStoreStats(uint64_t *capacity, uint64_t *used, uint64_t *num_objects,
                          uint64_t *spilled_bytes);

  // Counts for tests and introspection.
  size_t NumObjectsInMemoryStore() const;
  size_t NumReferences() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cyray::core
