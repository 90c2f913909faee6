// Plain value types the core worker shares with the Cython layer. No gRPC or
// protobuf here (this header is compiled into the extension).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cyray::core {

// An ObjectRef's identity: the object ID and its owner's serialized Address.
struct ObjectRefInfo {
  std::string object_id;      // binary ObjectID
  std::string owner_address;  // serialized rpc::Address
};

class PlasmaBuffer;

// A value as stored: serialized bytes plus metadata that says how to read them
// ("E<n>" marks an error object of rpc::ErrorType n). Large values live in the
// node's shared-memory store instead: `in_plasma` marks them, and `plasma`
// holds them mapped once read (data and metadata are then empty).
struct ObjectValue {
  std::string data;
  std::string metadata;
  std::vector<ObjectRefInfo> nested_refs;
  bool in_plasma = false;
  std::shared_ptr<PlasmaBuffer> plasma;
  // in_plasma: bytes it takes in the store, when known (for `cyray memory`).
  uint64_t plasma_size = 0;
};

// The bytes of a value wherever they live (in-process or shared memory).
const uint8_t *ValueData(const ObjectValue &value);
size_t ValueDataSize(const ObjectValue &value);
std::string ValueMetadata(const ObjectValue &value);

using ObjectValuePtr = std::shared_ptr<const ObjectValue>;

// Metadata of an error object of rpc::ErrorType `error_type`.
std::string ErrorMetadata(int error_type);
// The rpc::ErrorType of an error object, or 0 when `metadata` is not an error.
int ErrorTypeOf(const std::string &metadata);
// An error object whose data is the UTF-8 `message`.
ObjectValuePtr MakeErrorObject(int error_type, const std::string &message);

// One argument of a task being submitted: a value or a reference.
struct TaskArgInput {
  bool is_ref = false;
  ObjectRefInfo ref;  // when is_ref
  ObjectValue value;  // otherwise
};

struct FunctionDescriptorInfo {
  std::string module_name;
  std::string function_name;
  std::string class_name;
  std::string function_id;
};

// What the caller of SubmitTask decides about a task.
struct TaskOptions {
  FunctionDescriptorInfo function;
  std::string name;
  uint64_t num_returns = 1;
  std::map<std::string, double> resources;
  // What a node must have free to place it, when more than `resources`.
  std::map<std::string, double> placement_resources;
  // A serialized rpc::SchedulingStrategy (empty: DEFAULT).
  std::string serialized_scheduling_strategy;
  int max_retries = 3;
  bool retry_exceptions = false;
  std::string serialized_retry_exception_allowlist;
  int max_calls = 0;
  // Actor method calls only: the group, and whether max_retries is the
  // call's own max_task_retries (else the actor's applies).
  std::string concurrency_group;
  bool max_task_retries_set = false;
  // A generator: its items are reported as they are yielded and read from an
  // ObjectRefGenerator (streaming) or listed by its one return (dynamic).
  bool streaming_generator = false;
  bool returns_dynamic = false;
  // The generator pauses while this many items are not taken (<= 0: never).
  int64_t generator_backpressure_num_objects = -1;
  // enable_task_events=False: no task events for it.
  bool disable_task_events = false;
};

// What an actor's creator decides about it (besides its TaskOptions).
struct ActorCreationOptions {
  int max_restarts = 0;
  int max_task_retries = 0;
  int max_concurrency = 1;
  bool is_asyncio = false;
  std::string name;
  std::string ray_namespace;
  bool is_detached = false;
  std::map<std::string, int> concurrency_groups;
  bool allow_out_of_order_execution = false;
};

// What the worker's execution callback gets for one task.
struct TaskExecutionSpec {
  int task_type = 0;  // rpc::TaskType
  std::string job_id;
  std::string task_id;
  std::string parent_task_id;
  std::string name;
  FunctionDescriptorInfo function;
  std::vector<ObjectValue> args;
  uint64_t num_returns = 1;
  int max_calls = 0;
  bool retry_exceptions = false;
  std::string serialized_retry_exception_allowlist;
  int max_retries = 0;
  uint32_t attempt_number = 0;
  // Instances held by the lease, e.g. {"GPU": [1]} (an actor's calls: the
  // actor's, held for its lifetime), and the amounts, e.g. {"CPU": 1.0}.
  std::map<std::string, std::vector<int64_t>> resource_ids;
  std::map<std::string, double> resource_amounts;
  // Actor creation and actor method calls.
  std::string actor_id;
  // Actor creation: the name it was given (empty when unnamed).
  std::string actor_name;
  std::string concurrency_group;
  int max_concurrency = 1;
  bool is_asyncio = false;
  std::map<std::string, int> concurrency_groups;
  // Names this execution for CoreWorker::CompleteDeferred.
  uint64_t execution_token = 0;
  // A generator task (see TaskOptions): report items with ReportGeneratorItem.
  bool streaming_generator = false;
  bool returns_dynamic = false;
  int64_t generator_backpressure_num_objects = -1;
  // The caller's serialized rpc::Address (the owner of the task's objects).
  std::string caller_address;
};

// The task or actor call the calling thread runs, as the core worker knows it
// (the one source of the execution context; empty in a driver's threads).
struct TaskContextInfo {
  bool executing = false;
  std::string task_id;
  std::string name;
  std::string actor_id;
  uint32_t attempt_number = 0;
  std::map<std::string, std::vector<int64_t>> resource_ids;
  std::map<std::string, double> resource_amounts;
};

struct TaskExecutionResult {
  std::vector<ObjectValue> returns;  // one per return
  bool is_application_error = false;
  bool is_retryable_error = false;
  // The worker must exit after replying (max_calls reached).
  bool exit_worker = false;
  // The callback started the work (e.g. a coroutine on an event loop) and will
  // report its result later through CoreWorker::CompleteDeferred.
  bool deferred = false;
  // A generator task: how many items it reported (its error included).
  int64_t num_generator_items = 0;
  // An application error: what it says (for task events); TASK_CANCELLED
  // instead of TASK_EXECUTION_EXCEPTION when a cancel ended the task.
  std::string error_message;
  int error_type = 0;
  // Where the run's time went (wall clock ns; 0 when not measured): its
  // arguments were ready, its function returned, its outputs were stored.
  int64_t args_deserialized_ns = 0;
  int64_t executed_ns = 0;
  int64_t outputs_stored_ns = 0;
};

// The ObjectID of item `index` of generator task `task_id`: far above the
// indexes of its returns and puts.
std::string GeneratorItemId(const std::string &task_id, int64_t index);

}  // namespace cyray::core
