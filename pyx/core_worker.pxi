# CoreWorker: owns the C++ core worker of this process (driver or worker).
from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_FillInfo
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_CheckSignals
from cpython.ref cimport Py_DECREF, Py_INCREF
from libc.string cimport memcpy
from libcpp.memory cimport make_shared, shared_ptr
from libcpp.vector cimport vector

# The exception a signal handler raised while C++ was waiting, re-raised by
# check_status once the wait returns (see status.pxi).
_pending_signal_exception = None


cdef void set_idle_title() noexcept:
    """Titles this worker idle, once its last task ended and none runs."""
    global _idle_title
    title, _idle_title = _idle_title, None
    try:
        worker = _global_worker()
        if worker.tasks_running == 0:
            worker.set_proctitle(title)
    except BaseException:  # noqa: B036 - a title is not worth failing a wait for
        pass


cdef CStatus check_signals_callback() noexcept with gil:
    """Called every get_check_signal_interval_ms while C++ waits: by a worker's task
    loop waiting for tasks, and by gets and waits."""
    global _pending_signal_exception
    if _idle_title is not None:
        set_idle_title()
    try:
        PyErr_CheckSignals()
    except BaseException as e:  # noqa: B036 - handed back to Python after the wait
        _pending_signal_exception = e
        return CStatus.Interrupted(b"interrupted by a signal")
    return CStatus.OK()


cdef void cancel_running_callback(const c_string &task_id, int task_type) noexcept with gil:
    """The core worker was asked to cancel a task this worker runs."""
    try:
        _global_worker().cancel_running_task(task_id, task_type)
    except BaseException:  # noqa: B036 - nothing may escape into C++
        traceback.print_exc()


cdef void object_ready_callback(void *context) noexcept with gil:
    """An object a future waits for is ready: hands the future's resolver to the
    resolver thread (it reads the value, which may mean pulling it from another node,
    and runs the future's callbacks: not on a thread of the core worker)."""
    resolve = <object>context
    Py_DECREF(resolve)  # the reference on_object_ready took
    try:
        _resolver().put(resolve)
    except BaseException:  # noqa: B036 - nothing may escape into C++
        traceback.print_exc()


_resolver_queue = None
_resolver_lock = threading.Lock()


def _resolver():
    """The queue of this process's future-resolver thread (started on first use)."""
    global _resolver_queue
    if _resolver_queue is None:
        with _resolver_lock:
            if _resolver_queue is None:
                import queue

                work = queue.SimpleQueue()
                threading.Thread(target=_run_resolvers, args=(work,), daemon=True,
                                 name="cyray-future-resolver").start()
                _resolver_queue = work
    return _resolver_queue


def _run_resolvers(work):
    while True:
        resolve = work.get()
        try:
            resolve()
        except BaseException:  # noqa: B036 - one failing resolver must not end the thread
            traceback.print_exc()


cdef class SharedMemoryValue:
    """Read-only bytes of a value in the node's shared-memory store. Numpy arrays
    read from it point into the store, which keeps the value while they live."""
    cdef shared_ptr[const CObjectValue] value
    cdef const uint8_t *data
    cdef size_t size

    def __getbuffer__(self, Py_buffer *view, int flags):
        if flags & PyBUF_WRITABLE:
            raise BufferError("values in the object store are immutable (read-only)")
        PyBuffer_FillInfo(view, self, <void *>self.data, self.size, 1, flags)

    def __releasebuffer__(self, Py_buffer *view):
        pass

    def __len__(self):
        return self.size


cdef tuple _value_tuple(shared_ptr[const CObjectValue] value):
    """(data, metadata, nested refs): data is bytes, or a read-only memoryview of
    shared memory for a value in the object store."""
    cdef size_t i
    cdef const CObjectValue *v = value.get()
    cdef SharedMemoryValue shared
    nested = [(v.nested_refs[i].object_id, v.nested_refs[i].owner_address)
              for i in range(v.nested_refs.size())]
    if v.in_plasma:
        shared = SharedMemoryValue.__new__(SharedMemoryValue)
        shared.value = value
        shared.data = ValueData(v[0])
        shared.size = ValueDataSize(v[0])
        return (memoryview(shared), ValueMetadata(v[0]), nested)
    return (v.data, v.metadata, nested)


cdef void _fill_value(CObjectValue *out, bytes data, bytes metadata, list nested_refs):
    cdef CObjectRefInfo info
    out.data = data
    out.metadata = metadata
    for ref in nested_refs:
        info.object_id = (<ObjectRef>ref)._binary
        info.owner_address = (<ObjectRef>ref)._owner_address
        out.nested_refs.push_back(info)


cdef vector[c_string] _id_vector(list object_refs) except *:
    cdef vector[c_string] ids
    ids.reserve(len(object_refs))
    for ref in object_refs:
        ids.push_back((<ObjectRef>ref)._binary)
    return ids


cdef c_string _packed_ids(list object_refs) except *:
    """The refs' object IDs back to back, in one string (see CoreWorker::Wait)."""
    cdef c_string packed
    cdef bytes binary
    packed.reserve(len(object_refs) * ObjectRef._SIZE)
    for ref in object_refs:
        binary = (<ObjectRef>ref)._binary
        packed.append(PyBytes_AS_STRING(binary), PyBytes_GET_SIZE(binary))
    return packed


cdef void _fill_task_options(CTaskOptions *options, tuple descriptor, str name,
                             uint64_t num_returns, dict resources):
    module_name, function_name, function_id = descriptor
    options.function.module_name = module_name.encode()
    options.function.function_name = function_name.encode()
    options.function.function_id = function_id
    options.name = name.encode()
    options.num_returns = num_returns
    for key, amount in resources.items():
        options.resources[key.encode()] = amount


cdef int _fill_args(vector[CTaskArgInput] *c_args, list args) except -1:
    cdef CTaskArgInput c_arg
    for arg in args:
        c_arg = CTaskArgInput()
        if type(arg) is ObjectRef:
            c_arg.is_ref = True
            c_arg.ref.object_id = (<ObjectRef>arg)._binary
            c_arg.ref.owner_address = (<ObjectRef>arg)._owner_address
        else:
            c_arg.is_ref = False
            _fill_value(&c_arg.value, arg[0], arg[1], arg[2])
        c_args.push_back(c_arg)
    return 0


# How a task's generator reports its items (TaskOptions): none, streaming, dynamic.
GENERATOR_NONE = 0
GENERATOR_STREAMING = 1
GENERATOR_DYNAMIC = 2


cdef void _fill_generator_options(CTaskOptions *options, int generator_mode,
                                  int64_t backpressure):
    options.streaming_generator = generator_mode == GENERATOR_STREAMING
    options.returns_dynamic = generator_mode == GENERATOR_DYNAMIC
    options.generator_backpressure_num_objects = backpressure


cdef list _refs_of(vector[CObjectRefInfo] &returns):
    return [ObjectRef(returns[i].object_id, returns[i].owner_address)
            for i in range(returns.size())]


class TaskContext:
    """A snapshot of one execution's context: what get_runtime_context() reads."""
    __slots__ = ("task_id", "name", "actor_id", "attempt_number", "resource_ids",
                 "resource_amounts")

    def __init__(self, task_id, name, actor_id, attempt_number, resource_ids,
                 resource_amounts):
        self.task_id = task_id
        self.name = name
        self.actor_id = actor_id
        self.attempt_number = attempt_number
        self.resource_ids = resource_ids
        self.resource_amounts = resource_amounts


cdef object _task_context_of(const CTaskContextInfo &info):
    cdef c_map[c_string, vector[int64_t]] ids = info.resource_ids
    cdef c_map[c_string, double] amounts = info.resource_amounts
    return TaskContext(
        TaskID(info.task_id), info.name.decode("utf-8", "replace"),
        ActorID(info.actor_id) if not info.actor_id.empty() else None, info.attempt_number,
        {k.decode(): list(v) for k, v in ids}, {k.decode(): v for k, v in amounts})


def set_cluster_token(str token):
    """The cluster token this process's RPCs carry and its servers require; set it
    before connecting anything (empty: none)."""
    CSetClusterToken(token.encode())


cdef class GcsClient:
    """Blocking calls to a GCS server, for drivers joining an existing cluster."""
    cdef CGcsClient *client

    def __cinit__(self, str address, int64_t timeout_ms=10000):
        self.client = new CGcsClient(address.encode(), timeout_ms)

    def __dealloc__(self):
        del self.client

    def wait_until_ready(self, int64_t timeout_ms):
        cdef CStatus status
        with nogil:
            status = self.client.WaitUntilReady(timeout_ms)
        check_status(status)

    def get_all_node_info(self):
        cdef vector[c_string] nodes
        cdef CStatus status
        with nogil:
            status = self.client.GetAllNodeInfo(&nodes)
        check_status(status)
        return [nodes[i] for i in range(nodes.size())]


cdef class CoreWorker:
    """The C++ core worker of this process; created by cyray.init() or a worker."""
    cdef CCoreWorker *core_worker
    cdef bint is_driver

    def __cinit__(self, bint is_driver, str raylet_socket, str gcs_address,
                  str node_ip_address, int64_t startup_token=-1, bytes job_id=b"",
                  str namespace="", str entrypoint="", str auth_token=""):
        cdef CCoreWorkerOptions options
        options.is_driver = is_driver
        options.raylet_socket = raylet_socket.encode()
        options.gcs_address = gcs_address.encode()
        options.node_ip_address = node_ip_address.encode()
        options.startup_token = startup_token
        options.job_id = job_id
        options.driver_namespace = namespace.encode()
        options.entrypoint = entrypoint.encode()
        options.auth_token = auth_token.encode()
        options.execute_task = task_execution_handler
        options.check_signals = check_signals_callback
        options.cancel_running = cancel_running_callback
        self.is_driver = is_driver
        self.core_worker = new CCoreWorker(options)

    def __dealloc__(self):
        if self.core_worker != NULL:
            with nogil:
                self.core_worker.Shutdown()
            del self.core_worker
            self.core_worker = NULL

    def connect(self):
        global _ref_counting_worker
        cdef CStatus status
        with nogil:
            status = self.core_worker.Connect()
        check_status(status)
        _ref_counting_worker = self

    def shutdown(self):
        global _ref_counting_worker
        if _ref_counting_worker is self:
            _ref_counting_worker = None
        with nogil:
            self.core_worker.Shutdown()

    def get_worker_id(self):
        return WorkerID(self.core_worker.WorkerId())

    def get_job_id(self):
        return JobID(self.core_worker.JobId())

    def get_node_id(self):
        return NodeID(self.core_worker.NodeId())

    def get_current_task_id(self):
        return TaskID(self.core_worker.CurrentTaskId())

    def get_current_task_context(self):
        """The task or actor call running on this thread, as the C++ core knows
        it: a TaskContext, or None when the thread runs none."""
        cdef CTaskContextInfo info = self.core_worker.CurrentTaskContext()
        if not info.executing:
            return None
        return _task_context_of(info)

    def address(self):
        return self.core_worker.SerializedAddress()

    def add_local_reference(self, bytes object_id, bytes owner_address):
        cdef c_string c_id = object_id, c_owner = owner_address
        with nogil:
            # May tell a remote owner about the borrow (a blocking RPC).
            self.core_worker.AddLocalReference(c_id, c_owner)

    def set_call_site(self, bytes object_id, str call_site):
        """Where a ref was created, for `cyray memory` (when recording is on)."""
        self.core_worker.SetCallSite(object_id, call_site.encode())

    def put_serialized(self, bytes data, bytes metadata, list nested_refs):
        cdef CObjectValue value
        cdef CObjectRefInfo ref
        cdef CStatus status
        _fill_value(&value, data, metadata, nested_refs)
        with nogil:
            status = self.core_worker.Put(value, &ref)
        check_status(status)
        return ObjectRef(ref.object_id, ref.owner_address)

    def put_in_place(self, size_t data_size, list parts, bytes metadata, list nested_refs):
        """Puts a large value written straight into shared memory: `parts` are
        (offset, buffer) pairs covering its `data_size` bytes (one copy)."""
        cdef CObjectRefInfo ref
        cdef vector[CObjectRefInfo] nested
        cdef CObjectRefInfo info
        cdef uint8_t *address = NULL
        cdef c_string c_metadata = metadata
        cdef CStatus status
        cdef const uint8_t[::1] view
        cdef size_t offset, n
        with nogil:
            status = self.core_worker.CreatePut(data_size, c_metadata, &ref, &address)
        check_status(status)
        for offset, part in parts:
            view = memoryview(part).cast("B")
            n = view.shape[0]
            if n:
                with nogil:
                    memcpy(address + offset, &view[0], n)
        for r in nested_refs:
            info.object_id = (<ObjectRef>r)._binary
            info.owner_address = (<ObjectRef>r)._owner_address
            nested.push_back(info)
        with nogil:
            status = self.core_worker.SealPut(ref, nested, data_size + c_metadata.size())
        check_status(status)
        return ObjectRef(ref.object_id, ref.owner_address)

    def get_objects(self, list object_refs, int64_t timeout_ms):
        """[(data, metadata, nested)] of `object_refs`; raises on timeout."""
        cdef vector[c_string] ids = _id_vector(object_refs)
        cdef vector[shared_ptr[const CObjectValue]] values
        cdef CStatus status
        with nogil:
            status = self.core_worker.Get(ids, timeout_ms, &values)
        check_status(status)
        return [_value_tuple(values[i]) for i in range(values.size())]

    def on_object_ready(self, ObjectRef ref, resolve):
        """Calls `resolve()` (any thread, with the GIL) once `ref` is ready here."""
        cdef c_string object_id = ref.binary()
        Py_INCREF(resolve)
        with nogil:
            self.core_worker.OnObjectReady(object_id, object_ready_callback, <void *>resolve)

    # -- generators: the owner's side (ObjectRefGenerator) --

    def generator_next(self, bytes task_id, int64_t timeout_ms):
        """The next item's ObjectRef of generator task `task_id`, or None at the end;
        GetTimeoutError when none came within `timeout_ms` (< 0: no limit)."""
        cdef c_string c_task_id = task_id
        cdef c_string item_id
        cdef c_bool end = False
        cdef CStatus status
        with nogil:
            status = self.core_worker.GeneratorNext(c_task_id, timeout_ms, &item_id, &end)
        check_status(status)
        if end:
            return None
        return _adopt_object_ref(item_id, self.address())

    def generator_next_ready(self, bytes task_id):
        return self.core_worker.GeneratorNextReady(task_id)

    def generator_is_finished(self, bytes task_id):
        return self.core_worker.GeneratorIsFinished(task_id)

    def drop_generator(self, bytes task_id):
        cdef c_string c_task_id = task_id
        with nogil:
            self.core_worker.DropGenerator(c_task_id)

    # -- generators: the executing worker's side --

    def report_generator_item(self, bytes task_id, int64_t index, tuple serialized):
        """Sends item `index` (serialized as (data, metadata, nested refs)) to the
        generator's owner; blocks under backpressure."""
        cdef c_string c_task_id = task_id
        cdef CObjectValue value
        cdef CStatus status
        _fill_value(&value, serialized[0], serialized[1], serialized[2])
        with nogil:
            status = self.core_worker.ReportGeneratorItem(c_task_id, index, value)
        check_status(status)

    def flush_generator_items(self, bytes task_id):
        cdef c_string c_task_id = task_id
        cdef CStatus status
        with nogil:
            status = self.core_worker.FlushGeneratorItems(c_task_id)
        check_status(status)

    def cancel_task(self, ObjectRef ref, bint force_kill, bint recursive):
        """Cancels the task that makes `ref` (see CoreWorker::CancelTask)."""
        cdef c_string object_id = ref.binary()
        cdef c_string owner_address = ref.owner_address()
        cdef CStatus status
        with nogil:
            status = self.core_worker.CancelTask(object_id, owner_address, force_kill, recursive)
        check_status(status)

    def is_task_cancelled(self, bytes task_id):
        cdef c_string c_task_id = task_id
        return self.core_worker.IsTaskCancelled(c_task_id)

    def wait(self, list object_refs, int num_returns, int64_t timeout_ms,
             bint fetch_local=True):
        """(ready, not_ready): the first `num_returns` ready refs in list order, and the
        rest in list order."""
        cdef c_string ids = _packed_ids(object_refs)
        cdef vector[c_bool] ready
        cdef CStatus status
        with nogil:
            status = self.core_worker.Wait(ids, num_returns, timeout_ms, fetch_local, &ready)
        check_status(status)
        cdef list ready_refs = []
        cdef list not_ready = []
        cdef size_t i
        cdef int taken = 0
        for i in range(ready.size()):
            if ready[i] and taken < num_returns:
                ready_refs.append(object_refs[i])
                taken += 1
            else:
                not_ready.append(object_refs[i])
        return ready_refs, not_ready

    def submit_task(self, tuple function_descriptor, str name, list args, uint64_t num_returns,
                    dict resources, int max_retries, bint retry_exceptions,
                    bytes retry_exception_allowlist, int max_calls,
                    bytes scheduling_strategy=b"", int generator_mode=0,
                    int64_t generator_backpressure=-1, bint enable_task_events=True):
        """Submits a normal task. `args` items are ObjectRefs (passed by
        reference) or (data, metadata, nested_refs) tuples (inline)."""
        cdef CTaskOptions options
        cdef vector[CTaskArgInput] c_args
        cdef vector[CObjectRefInfo] returns
        cdef CStatus status
        _fill_task_options(&options, function_descriptor, name, num_returns, resources)
        options.max_retries = max_retries
        options.retry_exceptions = retry_exceptions
        options.serialized_retry_exception_allowlist = retry_exception_allowlist
        options.max_calls = max_calls
        options.serialized_scheduling_strategy = scheduling_strategy
        options.disable_task_events = not enable_task_events
        _fill_generator_options(&options, generator_mode, generator_backpressure)
        _fill_args(&c_args, args)
        with nogil:
            status = self.core_worker.SubmitTask(options, c_args, &returns)
        check_status(status)
        return _refs_of(returns)

    def create_actor(self, tuple class_descriptor, str name, list args, dict resources,
                     int max_restarts, int max_task_retries, int max_concurrency,
                     bint is_asyncio, str actor_name, str ray_namespace, bint is_detached,
                     dict concurrency_groups, dict placement_resources=None,
                     bytes scheduling_strategy=b"", bint allow_out_of_order_execution=False,
                     bint enable_task_events=True):
        """Registers and creates an actor; returns its ActorID. Raises
        ValueError when `actor_name` is taken in `ray_namespace`."""
        cdef CTaskOptions options
        cdef CActorCreationOptions actor_options
        cdef vector[CTaskArgInput] c_args
        cdef c_string actor_id
        cdef CStatus status
        module_name, class_name, class_id = class_descriptor
        _fill_task_options(&options, (module_name, "__init__", class_id), name, 1, resources)
        options.function.class_name = class_name.encode()
        for key, amount in (placement_resources or {}).items():
            options.placement_resources[key.encode()] = amount
        options.serialized_scheduling_strategy = scheduling_strategy
        options.disable_task_events = not enable_task_events
        actor_options.max_restarts = max_restarts
        actor_options.max_task_retries = max_task_retries
        actor_options.max_concurrency = max_concurrency
        actor_options.is_asyncio = is_asyncio
        actor_options.name = actor_name.encode()
        actor_options.ray_namespace = ray_namespace.encode()
        actor_options.is_detached = is_detached
        actor_options.allow_out_of_order_execution = allow_out_of_order_execution
        for group, limit in concurrency_groups.items():
            actor_options.concurrency_groups[group.encode()] = limit
        _fill_args(&c_args, args)
        with nogil:
            status = self.core_worker.CreateActor(options, actor_options, c_args, &actor_id)
        if status.code() == CStatusCode_KeyError:
            raise ValueError(status.message().decode())
        check_status(status)
        return ActorID(actor_id)

    def track_actor_handles(self, ActorID actor_id):
        """The ObjectRef every handle of a new actor carries (see the C++ docs)."""
        cdef CObjectRefInfo ref = self.core_worker.TrackActorHandles(actor_id._binary)
        return ObjectRef(ref.object_id, ref.owner_address)

    def num_pending_actor_calls(self, ActorID actor_id):
        """Calls this process submitted to the actor that have not finished."""
        return self.core_worker.NumPendingActorCalls(actor_id._binary)

    def add_actor_handle(self, ActorID actor_id):
        self.core_worker.AddActorHandle(actor_id._binary)

    def submit_actor_task(self, ActorID actor_id, tuple method_descriptor, str name, list args,
                          uint64_t num_returns, str concurrency_group, int generator_mode=0,
                          int64_t generator_backpressure=-1, max_task_retries=None,
                          bint retry_exceptions=False, bytes retry_exception_allowlist=b"",
                          bint enable_task_events=True):
        cdef CTaskOptions options
        cdef vector[CTaskArgInput] c_args
        cdef vector[CObjectRefInfo] returns
        cdef c_string c_actor_id = actor_id._binary
        cdef CStatus status
        module_name, class_name, method_name = method_descriptor
        _fill_task_options(&options, (module_name, method_name, b""), name, num_returns, {})
        options.function.class_name = class_name.encode()
        # None: the actor's max_task_retries apply.
        options.max_task_retries_set = max_task_retries is not None
        options.max_retries = max_task_retries if max_task_retries is not None else 0
        options.retry_exceptions = retry_exceptions
        options.serialized_retry_exception_allowlist = retry_exception_allowlist
        options.concurrency_group = concurrency_group.encode()
        options.disable_task_events = not enable_task_events
        _fill_generator_options(&options, generator_mode, generator_backpressure)
        _fill_args(&c_args, args)
        with nogil:
            status = self.core_worker.SubmitActorTask(c_actor_id, options, c_args, &returns)
        check_status(status)
        return _refs_of(returns)

    def kill_actor(self, ActorID actor_id, bint force_kill, bint no_restart):
        cdef c_string c_actor_id = actor_id._binary
        cdef CStatus status
        with nogil:
            status = self.core_worker.KillActor(c_actor_id, force_kill, no_restart)
        check_status(status)

    def get_named_actor(self, str name, str ray_namespace):
        """(serialized ActorTableData, serialized creation TaskSpec), or None."""
        cdef c_string c_name = name.encode(), c_ns = ray_namespace.encode()
        cdef c_string table, spec
        cdef c_bool found = False
        cdef CStatus status
        with nogil:
            status = self.core_worker.GetNamedActor(c_name, c_ns, &found, &table, &spec)
        check_status(status)
        return (table, spec) if found else None

    def get_current_actor_id(self):
        cdef c_string actor_id = self.core_worker.CurrentActorId()
        return ActorID(actor_id) if not actor_id.empty() else None

    def run_task_loop(self):
        cdef CStatus status
        with nogil:
            status = self.core_worker.RunTaskLoop()
        check_status(status)

    def kv_get(self, bytes namespace, bytes key):
        cdef c_string c_ns = namespace, c_key = key, value
        cdef c_bool found = False
        cdef CStatus status
        with nogil:
            status = self.core_worker.KVGet(c_ns, c_key, &value, &found)
        check_status(status)
        return value if found else None

    def kv_put(self, bytes namespace, bytes key, bytes value, bint overwrite=True):
        cdef c_string c_ns = namespace, c_key = key, c_value = value
        cdef c_bool added = False
        cdef CStatus status
        with nogil:
            status = self.core_worker.KVPut(c_ns, c_key, c_value, overwrite, &added)
        check_status(status)
        return added

    def get_all_node_info(self):
        """Serialized GcsNodeInfo of every node."""
        cdef vector[c_string] nodes
        cdef CStatus status
        with nogil:
            status = self.core_worker.GetAllNodeInfo(&nodes)
        check_status(status)
        return [nodes[i] for i in range(nodes.size())]

    def object_store_stats(self):
        cdef uint64_t capacity = 0, used = 0, num_objects = 0, spilled = 0
        cdef CStatus status
        with nogil:
            status = self.core_worker.ObjectStoreStats(&capacity, &used, &num_objects, &spilled)
        check_status(status)
        return {"capacity_bytes": capacity, "used_bytes": used, "num_objects": num_objects,
                "spilled_bytes": spilled}

    def stats(self):
        return {
            "objects_in_memory_store": self.core_worker.NumObjectsInMemoryStore(),
            "references": self.core_worker.NumReferences(),
        }
