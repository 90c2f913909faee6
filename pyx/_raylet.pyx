# cython: language_level=3
# distutils: language = c++
"""cyray._raylet: the Cython layer over cyray's C++ core.

Each subsystem is a .pxi included below; the C++ API is declared in the .pxd
files beside this one (common.pxd, core_worker.pxd). The task-execution path,
`execute_task`, lives here."""

import inspect
import os
import pickle
import sys
import time
import traceback

from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libcpp cimport bool as c_bool
from libcpp.map cimport map as c_map
from libcpp.string cimport string as c_string
from libcpp.vector cimport vector

from common cimport *
from core_worker cimport *

include "status.pxi"
include "ids.pxi"
include "config.pxi"
include "object_ref.pxi"
include "core_worker.pxi"
include "generator_execution.pxi"

# rpc::TaskType
NORMAL_TASK = 0
ACTOR_CREATION_TASK = 1
ACTOR_TASK = 2

_worker_module = None
# The process title for when this worker waits for tasks again (see execute_task).
_idle_title = None


def _global_worker():
    global _worker_module
    if _worker_module is None:
        from cyray._private import worker as _worker_module_import
        _worker_module = _worker_module_import
    return _worker_module.global_worker


cdef CStatus task_execution_handler(const CTaskExecutionSpec &spec,
                                    CTaskExecutionResult *result) noexcept with gil:
    """Called by the C++ task loop on the main thread for each pushed task."""
    try:
        execute_task(spec, result)
    except BaseException as e:  # noqa: B036 - nothing may escape into C++
        if isinstance(e, (SystemExit, KeyboardInterrupt)):
            result.exit_worker = True
        return CStatus.Unknown(traceback.format_exc().encode("utf-8", "replace"))
    return CStatus.OK()


cdef list _deserialize_args(const CTaskExecutionSpec &spec, serialization):
    cdef size_t i
    args = []
    for i in range(spec.args.size()):
        if spec.args[i].in_plasma:
            data, metadata, _ = _value_tuple(
                <shared_ptr[const CObjectValue]>make_shared[CObjectValue](spec.args[i]))
        else:
            data = spec.args[i].data
            metadata = spec.args[i].metadata
        if metadata == b"KW":
            args.append(_KeywordNames(pickle.loads(data)))
        else:
            args.append(serialization.deserialize_or_raise(data, metadata))
    return args


class _KeywordNames(tuple):
    """Marks the trailing argument that names the keyword arguments."""


cdef tuple _split_args(list flat):
    if flat and type(flat[-1]) is _KeywordNames:
        names = flat.pop()
        n = len(names)
        return flat[:len(flat) - n], dict(zip(names, flat[len(flat) - n:]))
    return flat, {}


cdef void _store_return(CoreWorker core_worker, CTaskExecutionResult *result,
                        tuple serialized, const c_string &task_id, uint64_t index):
    cdef CObjectValue value
    _fill_value(&value, serialized[0], serialized[1], serialized[2])
    if not value.nested_refs.empty():
        # While the ObjectRefs in `serialized` still live: the caller's copy of
        # this return keeps them alive from now on.
        core_worker.core_worker.PinReturnNestedRefs(task_id, index, value.nested_refs)
    result.returns.push_back(value)


def _outcome(worker, str name, str title, uint64_t num_returns, outputs, exc,
             bint retry_exceptions, bytes allowlist):
    """(serialized returns, is_application_error, is_retryable_error, exit_worker,
    error message) of a call that returned `outputs` or raised `exc`."""
    serialization = worker.serialization
    if exc is None:
        try:
            if num_returns == 1:
                outputs = (outputs,)
            elif num_returns == 0:
                outputs = ()
            else:
                outputs = tuple(outputs)
                if len(outputs) != num_returns:
                    raise ValueError(
                        f"Task {name} declared num_returns={num_returns} but returned "
                        f"{len(outputs)} values.")
            return [serialization.serialize(value) for value in outputs], False, False, False, ""
        except Exception as e:
            exc = e
    from cyray.actor import _ActorExit

    if isinstance(exc, _ActorExit):
        return [serialization.serialize(None)] * num_returns, False, False, True, ""
    error = _task_error(worker, name, title, exc)
    data, metadata = serialization.serialize_error(error)
    retryable = retry_exceptions and (
        not allowlist or isinstance(exc, tuple(pickle.loads(allowlist))))
    return [(data, metadata, [])] * num_returns, True, retryable, False, str(error)


def _task_error(worker, str name, str title, exc):
    """The RayTaskError a task's exception travels as (naming the task and where)."""
    from cyray.exceptions import RayTaskError

    if isinstance(exc, RayTaskError):
        # An argument was an upstream task's error: pass it on unchanged.
        return exc
    frames = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    tb = "".join(traceback.format_exception(type(exc), exc, frames))
    return RayTaskError(name, tb, exc, title, os.getpid(), worker.node_ip_address)


cdef void _apply_outcome(CoreWorker core_worker, CTaskExecutionResult *result, tuple outcome,
                         const c_string &task_id):
    serialized, is_application_error, is_retryable_error, exit_worker, error_message = outcome
    cdef uint64_t index = 0
    result.returns.clear()
    for item in serialized:
        index += 1
        _store_return(core_worker, result, item, task_id, index)
    result.is_application_error = is_application_error
    result.is_retryable_error = is_retryable_error
    result.exit_worker = exit_worker
    if error_message:
        result.error_message = error_message.encode("utf-8", "replace")


cdef class _DeferredCompletion:
    """Reports the result of an async actor call once its coroutine is done."""
    cdef uint64_t token
    cdef c_string task_id
    cdef object worker, name, title
    cdef uint64_t num_returns
    cdef bint retry_exceptions
    cdef bytes retry_exception_allowlist

    def __init__(self, worker, str name, str title, uint64_t num_returns):
        self.worker = worker
        self.name = name
        self.title = title
        self.num_returns = num_returns

    def done(self, outputs=None, exc=None):
        cdef CTaskExecutionResult result
        cdef CoreWorker core_worker = self.worker.core_worker
        if core_worker is None:
            return  # the worker is shutting down; the call was answered already
        if isinstance(outputs, _GeneratorEnd):
            result.num_generator_items = outputs.num_items
            outputs = outputs.value
        outcome = _outcome(self.worker, self.name, self.title, self.num_returns, outputs, exc,
                           self.retry_exceptions, self.retry_exception_allowlist or b"")
        _apply_outcome(core_worker, &result, outcome, self.task_id)
        with nogil:
            core_worker.core_worker.CompleteDeferred(self.token, result)


def _run_interruptible(worker, bytes task_id, function, args, kwargs):
    """Runs a normal task's function where a cancel may interrupt it (SIGINT to the
    main thread, see Worker.cancel_running_task)."""
    worker.interruptible_task = task_id
    try:
        if worker.core_worker.is_task_cancelled(task_id):  # the cancel came first
            raise KeyboardInterrupt
        return function(*args, **kwargs)
    finally:
        worker.interruptible_task = None


cdef execute_task(const CTaskExecutionSpec &spec, CTaskExecutionResult *result):
    global _idle_title
    worker = _global_worker()
    serialization = worker.serialization
    cdef int task_type = spec.task_type
    cdef bint is_generator = spec.streaming_generator or spec.returns_dynamic
    generator = _generator_spec(spec) if is_generator else None
    job_id = JobID(spec.job_id)
    function_name = spec.function.function_name.decode()
    class_name = spec.function.class_name.decode()
    cdef uint64_t num_returns = spec.num_returns
    cdef c_map[c_string, int] c_groups
    cdef c_map[c_string, vector[int64_t]] c_resource_ids
    cdef _DeferredCompletion completion

    # What runs: a function, an actor's class (creation) or one of its methods.
    if task_type == ACTOR_TASK:
        name = class_name
        title = f"cyray::{class_name}.{function_name}"
        idle_title = f"cyray::{class_name}"
    else:
        execution_info = worker.function_actor_manager.cached_execution_info(
            spec.function.function_id)
        if execution_info is None:  # loaded once per function
            from cyray._private.function_manager import FunctionDescriptor

            descriptor = FunctionDescriptor(
                spec.function.module_name.decode(),
                class_name if task_type == ACTOR_CREATION_TASK else function_name,
                spec.function.function_id)
            execution_info = worker.function_actor_manager.get_execution_info(
                job_id, descriptor)
        if task_type == ACTOR_CREATION_TASK:
            name = class_name
            title = idle_title = f"cyray::{class_name}"
        else:
            name = spec.name.decode() or execution_info.function_name
            title = f"cyray::{name}"
            idle_title = "cyray::IDLE"
    # The task's context (id, name, resources) lives in the C++ core; here
    # only what is process-wide: the job's namespace and, for a normal task,
    # the GPUs it holds (an actor's are set once, for its lifetime).
    if task_type == NORMAL_TASK and spec.resource_ids.count(b"GPU"):
        c_resource_ids = spec.resource_ids
        worker.begin_task(job_id, [int(i) for i in c_resource_ids[b"GPU"]])
    else:
        worker.begin_task(job_id, None)
    worker.set_proctitle(title)
    outputs, exc = None, None
    try:
        try:
            args, kwargs = _split_args(_deserialize_args(spec, serialization))
            result.args_deserialized_ns = time.time_ns()
            if task_type == ACTOR_CREATION_TASK:
                c_groups = spec.concurrency_groups
                groups = {k.decode(): v for k, v in c_groups}
                c_resource_ids = spec.resource_ids
                gpu_ids = [int(i) for i in c_resource_ids[b"GPU"]] \
                    if spec.resource_ids.count(b"GPU") else []
                worker.setup_actor(execution_info.function, args, kwargs, spec.is_asyncio,
                                   groups, gpu_ids, spec.function.module_name.decode(),
                                   spec.actor_name.decode(), spec.attempt_number > 0)
                outputs = None
            elif task_type == ACTOR_TASK:
                if function_name == "__ray_terminate__":
                    from cyray.actor import _ActorExit

                    raise _ActorExit()
                if worker.is_coroutine_method(function_name):
                    # Runs on the actor's event loop; the executor moves on.
                    completion = _DeferredCompletion(worker, name, title, num_returns)
                    completion.token = spec.execution_token
                    completion.task_id = spec.task_id
                    completion.retry_exceptions = spec.retry_exceptions
                    completion.retry_exception_allowlist = \
                        spec.serialized_retry_exception_allowlist
                    drive = _async_generator_driver(worker, generator, name, title) \
                        if is_generator else None
                    worker.start_actor_coroutine(function_name, spec.concurrency_group.decode(),
                                                 args, kwargs, completion.done, spec.task_id,
                                                 drive)
                    result.deferred = True
                    return
                outputs = worker.run_actor_method(
                    function_name, spec.concurrency_group.decode(), args, kwargs)
                if is_generator:
                    outputs = _drive_generator(worker, generator, outputs, name, title)
                elif inspect.isgenerator(outputs):
                    outputs = _first_items(outputs, num_returns)
            elif is_generator:
                outputs = _run_interruptible(
                    worker, spec.task_id, _call_and_drive_generator,
                    (worker, generator, execution_info.function, args, kwargs, name, title), {})
            else:
                outputs = _run_interruptible(worker, spec.task_id, execution_info.function,
                                             args, kwargs)
                if inspect.isgenerator(outputs):
                    outputs = _first_items(outputs, num_returns)
        except Exception as e:
            exc = e
        except KeyboardInterrupt as e:
            # A cancel interrupted the task (any other SIGINT is ignored in workers).
            if task_type != NORMAL_TASK or not worker.core_worker.is_task_cancelled(spec.task_id):
                raise
            from cyray.exceptions import TaskCancelledError

            exc = TaskCancelledError(TaskID(spec.task_id)).with_traceback(e.__traceback__)
        result.executed_ns = time.time_ns()
        if isinstance(outputs, _GeneratorEnd):
            result.num_generator_items = outputs.num_items
            outputs = outputs.value
        outcome = _outcome(worker, name, title, num_returns, outputs, exc,
                           spec.retry_exceptions, spec.serialized_retry_exception_allowlist)
        _apply_outcome(worker.core_worker, result, outcome, spec.task_id)
        result.outputs_stored_ns = time.time_ns()
    finally:
        worker.end_task()
        # Titled idle once the worker waits for tasks (check_signals_callback), not
        # between tasks that follow one another: two syscalls per task otherwise.
        _idle_title = idle_title
    if spec.max_calls > 0:
        if worker.function_actor_manager.count_call(spec.function.function_id) >= spec.max_calls:
            result.exit_worker = True
