"""FunctionActorManager: exports remote functions to the GCS internal KV (from
drivers) and loads them in workers, cached in `execution_infos`."""

import hashlib
import os
import pickle
import sys
import threading
from collections import namedtuple

import cloudpickle

from cyray import exceptions

KV_NAMESPACE = b"fun"

FunctionExecutionInfo = namedtuple(
    "FunctionExecutionInfo", ["function", "function_name", "max_calls"])


class FunctionDescriptor:
    """Names a remote function: its module, qualified name and export id."""

    __slots__ = ("module_name", "function_name", "function_id")

    def __init__(self, module_name, function_name, function_id):
        self.module_name = module_name
        self.function_name = function_name
        self.function_id = function_id

    @classmethod
    def for_function(cls, function, pickled_function):
        digest = hashlib.sha1(pickled_function)
        digest.update(function.__module__.encode())
        digest.update(function.__qualname__.encode())
        return cls(function.__module__, function.__qualname__, digest.digest())

    def as_tuple(self):
        return (self.module_name, self.function_name, self.function_id)

    def __repr__(self):
        return f"FunctionDescriptor({self.module_name}.{self.function_name})"


def function_key(job_id, function_id):
    return b"RemoteFunction:" + job_id.hex().encode() + b":" + function_id.hex().encode()


def job_config_key(job_id):
    return b"JobConfig:" + job_id.hex().encode()


class FunctionActorManager:
    def __init__(self, worker):
        self._worker = worker
        self._lock = threading.Lock()
        # function_id -> FunctionExecutionInfo, in workers.
        self.execution_infos = {}
        # function_id -> calls executed by this worker (for max_calls).
        self._num_calls = {}
        # Jobs whose sys.path entries this worker has added.
        self._jobs_seen = set()
        self._job_namespaces = {}
        # (job_id, function_id) exported by this driver.
        self._exported = set()

    def export_job_config(self, job_id, sys_path, namespace):
        self._worker.core_worker.kv_put(
            KV_NAMESPACE, job_config_key(job_id),
            pickle.dumps({"sys_path": sys_path, "namespace": namespace}))

    def job_namespace(self, job_id):
        """The namespace of a job's driver (tasks and actors of the job share it)."""
        self._prepare_job(job_id)
        return self._job_namespaces.get(job_id)

    def export(self, job_id, descriptor, pickled_function, max_calls, kind="remote function"):
        key = (job_id, descriptor.function_id)
        if key in self._exported:
            return
        check_oversized_function(pickled_function, descriptor.function_name, kind)
        record = pickle.dumps({
            "function": pickled_function,
            "module": descriptor.module_name,
            "name": descriptor.function_name,
            "max_calls": max_calls,
        })
        self._worker.core_worker.kv_put(
            KV_NAMESPACE, function_key(job_id, descriptor.function_id), record, False)
        self._exported.add(key)

    def _prepare_job(self, job_id):
        if job_id in self._jobs_seen:
            return
        raw = self._worker.core_worker.kv_get(KV_NAMESPACE, job_config_key(job_id))
        if raw is not None:
            config = pickle.loads(raw)
            for path in reversed(config.get("sys_path", [])):
                if path and path not in sys.path:
                    sys.path.insert(1, path)
            self._job_namespaces[job_id] = config.get("namespace")
        self._jobs_seen.add(job_id)

    def cached_execution_info(self, function_id):
        """The function `function_id` if this worker has loaded it, else None (the
        executor's per-task lookup: no descriptor to build)."""
        return self.execution_infos.get(function_id)

    def get_execution_info(self, job_id, descriptor):
        info = self.execution_infos.get(descriptor.function_id)
        if info is not None:
            return info
        with self._lock:
            info = self.execution_infos.get(descriptor.function_id)
            if info is None:
                info = self._load_function(job_id, descriptor)
                self.execution_infos[descriptor.function_id] = info
        return info

    def _load_function(self, job_id, descriptor):
        self._prepare_job(job_id)
        raw = self._worker.core_worker.kv_get(
            KV_NAMESPACE, function_key(job_id, descriptor.function_id))
        if raw is None:
            raise exceptions.RaySystemError(
                f"function {descriptor.module_name}.{descriptor.function_name} was not "
                f"exported for job {job_id.hex()}")
        record = pickle.loads(raw)
        try:
            function = cloudpickle.loads(record["function"])
        except Exception as e:
            raise exceptions.RaySystemError(
                f"could not load function {record['module']}.{record['name']} in the worker: "
                f"{type(e).__name__}: {e}. Is its module importable on every node?") from e
        return FunctionExecutionInfo(function, record["name"], record["max_calls"])

    def count_call(self, function_id):
        """Counts one more execution; returns the total for this worker."""
        n = self._num_calls.get(function_id, 0) + 1
        self._num_calls[function_id] = n
        return n


# Ray's limits for an exported function or class (ray_constants): a warning above
# the first, a ValueError above the second (overridable as in Ray).
FUNCTION_SIZE_WARN_THRESHOLD = 10**7
FUNCTION_SIZE_ERROR_THRESHOLD = int(os.environ.get("FUNCTION_SIZE_ERROR_THRESHOLD", 10**8))


def check_oversized_function(pickled, name, kind):
    """Warns about (or refuses) a function or class whose pickle is very large:
    almost always a large value captured from the enclosing scope."""
    size = len(pickled)
    advice = ("Check that its definition is not implicitly capturing a large array or other "
              "object in scope. Tip: use cyray.put() to put large objects in the object store.")
    if size > FUNCTION_SIZE_ERROR_THRESHOLD:
        raise ValueError(
            f"The {kind} {name} is too large ({size // (1024 * 1024)} MiB > "
            f"FUNCTION_SIZE_ERROR_THRESHOLD={FUNCTION_SIZE_ERROR_THRESHOLD // (1024 * 1024)} "
            f"MiB). {advice}")
    if size > FUNCTION_SIZE_WARN_THRESHOLD:
        import warnings

        warnings.warn(f"The {kind} {name} is very large ({size // (1024 * 1024)} MiB). {advice}",
                      UserWarning, stacklevel=4)
