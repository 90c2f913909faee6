# Declarations of the C++ core worker (cpp/src/cyray/core_worker) for Cython.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libcpp cimport bool as c_bool
from libcpp.map cimport map as c_map
from libcpp.memory cimport shared_ptr
from libcpp.string cimport string as c_string
from libcpp.vector cimport vector

from common cimport CStatus


cdef extern from "cyray/core_worker/common.h" namespace "cyray::core" nogil:
    cdef cppclass CObjectRefInfo "cyray::core::ObjectRefInfo":
        c_string object_id
        c_string owner_address

    cdef cppclass CObjectValue "cyray::core::ObjectValue":
        c_string data
        c_string metadata
        vector[CObjectRefInfo] nested_refs
        c_bool in_plasma

    cdef cppclass CTaskArgInput "cyray::core::TaskArgInput":
        CTaskArgInput()
        c_bool is_ref
        CObjectRefInfo ref
        CObjectValue value

    cdef cppclass CFunctionDescriptorInfo "cyray::core::FunctionDescriptorInfo":
        c_string module_name
        c_string function_name
        c_string class_name
        c_string function_id

    cdef cppclass CTaskOptions "cyray::core::TaskOptions":
        CFunctionDescriptorInfo function
        c_string name
        uint64_t num_returns
        c_map[c_string, double] resources
        c_map[c_string, double] placement_resources
        c_string serialized_scheduling_strategy
        int max_retries
        c_bool retry_exceptions
        c_string serialized_retry_exception_allowlist
        int max_calls
        c_string concurrency_group
        c_bool max_task_retries_set
        c_bool streaming_generator
        c_bool returns_dynamic
        int64_t generator_backpressure_num_objects
        c_bool disable_task_events

    cdef cppclass CActorCreationOptions "cyray::core::ActorCreationOptions":
        int max_restarts
        int max_task_retries
        int max_concurrency
        c_bool is_asyncio
        c_string name
        c_string ray_namespace
        c_bool is_detached
        c_map[c_string, int] concurrency_groups
        c_bool allow_out_of_order_execution

    cdef cppclass CTaskExecutionSpec "cyray::core::TaskExecutionSpec":
        int task_type
        c_string job_id
        c_string task_id
        c_string parent_task_id
        c_string name
        CFunctionDescriptorInfo function
        vector[CObjectValue] args
        uint64_t num_returns
        int max_calls
        c_bool retry_exceptions
        c_string serialized_retry_exception_allowlist
        int max_retries
        uint32_t attempt_number
        c_map[c_string, vector[int64_t]] resource_ids
        c_map[c_string, double] resource_amounts
        c_string actor_id
        c_string actor_name
        c_string concurrency_group
        int max_concurrency
        c_bool is_asyncio
        c_map[c_string, int] concurrency_groups
        uint64_t execution_token
        c_bool streaming_generator
        c_bool returns_dynamic
        int64_t generator_backpressure_num_objects
        c_string caller_address

    cdef cppclass CTaskContextInfo "cyray::core::TaskContextInfo":
        c_bool executing
        c_string task_id
        c_string name
        c_string actor_id
        uint32_t attempt_number
        c_map[c_string, vector[int64_t]] resource_ids
        c_map[c_string, double] resource_amounts

    cdef cppclass CTaskExecutionResult "cyray::core::TaskExecutionResult":
        vector[CObjectValue] returns
        c_bool is_application_error
        c_bool is_retryable_error
        c_bool exit_worker
        c_bool deferred
        int64_t num_generator_items
        c_string error_message
        int64_t args_deserialized_ns
        int64_t executed_ns
        int64_t outputs_stored_ns

    int ErrorTypeOf(const c_string &metadata)
    c_string GeneratorItemId(const c_string &task_id, int64_t index)
    const uint8_t *ValueData(const CObjectValue &value)
    size_t ValueDataSize(const CObjectValue &value)
    c_string ValueMetadata(const CObjectValue &value)


cdef extern from "cyray/core_worker/core_worker.h" namespace "cyray::core" nogil:
    ctypedef CStatus (*CTaskExecutionCallback)(
        const CTaskExecutionSpec &spec, CTaskExecutionResult *result) noexcept
    ctypedef CStatus (*CCheckSignalsCallback)() noexcept
    ctypedef void (*CCancelRunningCallback)(const c_string &task_id, int task_type) noexcept
    ctypedef void (*CObjectReadyCallback)(void *context) noexcept

    cdef cppclass CCoreWorkerOptions "cyray::core::CoreWorkerOptions":
        c_bool is_driver
        c_string raylet_socket
        c_string gcs_address
        c_string node_ip_address
        int64_t startup_token
        c_string job_id
        c_string driver_namespace
        c_string entrypoint
        c_string auth_token
        CTaskExecutionCallback execute_task
        CCheckSignalsCallback check_signals
        CCancelRunningCallback cancel_running

    cdef cppclass CCoreWorker "cyray::core::CoreWorker":
        CCoreWorker(const CCoreWorkerOptions &options)
        CStatus Connect()
        void Shutdown()
        c_string WorkerId()
        c_string JobId()
        c_string NodeId()
        c_string SerializedAddress()
        c_string CurrentTaskId()
        CTaskContextInfo CurrentTaskContext()
        CStatus Put(const CObjectValue &value, CObjectRefInfo *ref)
        CStatus CreatePut(size_t data_size, const c_string &metadata, CObjectRefInfo *ref,
                          uint8_t **address)
        CStatus SealPut(const CObjectRefInfo &ref, const vector[CObjectRefInfo] &nested_refs,
                        uint64_t object_size)
        CStatus Get(const vector[c_string] &ids, int64_t timeout_ms,
                    vector[shared_ptr[const CObjectValue]] *out)
        CStatus Wait(const c_string &packed_ids, int num_objects, int64_t timeout_ms,
                     c_bool fetch_local, vector[c_bool] *ready)
        void AddLocalReference(const c_string &object_id, const c_string &owner_address)
        void SetCallSite(const c_string &object_id, const c_string &call_site)
        void RemoveLocalReference(const c_string &object_id)
        CStatus SubmitTask(const CTaskOptions &options, const vector[CTaskArgInput] &args,
                           vector[CObjectRefInfo] *returns)
        CStatus RunTaskLoop()
        void PinReturnNestedRefs(const c_string &task_id, uint64_t return_index,
                                 const vector[CObjectRefInfo] &refs)
        void CompleteDeferred(uint64_t execution_token, CTaskExecutionResult result)
        CStatus CreateActor(const CTaskOptions &options,
                            const CActorCreationOptions &actor_options,
                            const vector[CTaskArgInput] &args, c_string *actor_id)
        void AddActorHandle(const c_string &actor_id)
        int64_t NumPendingActorCalls(const c_string &actor_id)
        void OnObjectReady(const c_string &object_id, CObjectReadyCallback callback,
                           void *context)
        CStatus CancelTask(const c_string &object_id, const c_string &owner_address,
                           c_bool force_kill, c_bool recursive)
        c_bool IsTaskCancelled(const c_string &task_id)
        CStatus GeneratorNext(const c_string &task_id, int64_t timeout_ms, c_string *item_id,
                              c_bool *end)
        c_bool GeneratorNextReady(const c_string &task_id)
        c_bool GeneratorIsFinished(const c_string &task_id)
        void DropGenerator(const c_string &task_id)
        CStatus ReportGeneratorItem(const c_string &task_id, int64_t index, CObjectValue value)
        CStatus FlushGeneratorItems(const c_string &task_id)
        CObjectRefInfo TrackActorHandles(const c_string &actor_id)
        CStatus SubmitActorTask(const c_string &actor_id, const CTaskOptions &options,
                                const vector[CTaskArgInput] &args,
                                vector[CObjectRefInfo] *returns)
        CStatus KillActor(const c_string &actor_id, c_bool force_kill, c_bool no_restart)
        CStatus GetNamedActor(const c_string &name, const c_string &ray_namespace,
                              c_bool *found, c_string *actor_table, c_string *creation_spec)
        c_string CurrentActorId()
        CStatus KVGet(const c_string &ns, const c_string &key, c_string *value, c_bool *found)
        CStatus KVPut(const c_string &ns, const c_string &key, const c_string &value,
                      c_bool overwrite, c_bool *added)
        CStatus GetAllNodeInfo(vector[c_string] *nodes)
        CStatus ObjectStoreStats(uint64_t *capacity, uint64_t *used, uint64_t *num_objects,
                                 uint64_t *spilled_bytes)
        size_t NumObjectsInMemoryStore()
        size_t NumReferences()


cdef extern from "cyray/rpc/cluster_token.h" namespace "cyray::rpc" nogil:
    void CSetClusterToken "cyray::rpc::SetClusterToken"(const c_string &token)


cdef extern from "cyray/rpc/gcs_client.h" namespace "cyray::rpc" nogil:
    cdef cppclass CGcsClient "cyray::rpc::GcsClient":
        CGcsClient(const c_string &address, int64_t timeout_ms)
        CStatus WaitUntilReady(int64_t timeout_ms)
        CStatus GetAllNodeInfo(vector[c_string] *nodes)
