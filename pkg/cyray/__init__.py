"""cyray: a distributed task and actor runtime that speaks Ray Core's API.

    import cyray as ray
"""

__version__ = "0.1.0"

from cyray import exceptions  # noqa: E402
from cyray._private.state import available_resources, cluster_resources, nodes  # noqa: E402
from cyray._private.timeline import timeline  # noqa: E402
from cyray._private.worker import (  # noqa: E402
    SCRIPT_MODE,
    WORKER_MODE,
    cancel,
    get,
    init,
    is_initialized,
    put,
    shutdown,
    wait,
)
from cyray._raylet import (  # noqa: E402
    ActorID,
    JobID,
    NodeID,
    ObjectID,
    ObjectRef,
    PlacementGroupID,
    TaskID,
    UniqueID,
    WorkerID,
)
from cyray._private.object_ref_generator import (  # noqa: E402
    DynamicObjectRefGenerator,
    ObjectRefGenerator,
)
from cyray import actor, util  # noqa: E402
from cyray.actor import ActorClass, get_actor, kill, method  # noqa: E402
from cyray.remote_function import RemoteFunction  # noqa: E402
from cyray.runtime_context import get_runtime_context  # noqa: E402
from cyray._private.api_names import (  # noqa: E402
    ActorClassID,
    ClientBuilder,
    ClusterID,
    FunctionID,
    Language,
    client,
    cpp_function,
    java_actor_class,
    java_function,
)


def remote(*args, **kwargs):
    """Makes a function a remote function, as ray.remote:

        @cyray.remote
        def f(x): ...

        @cyray.remote(num_cpus=2, max_retries=1)
        def g(x): ...
    """
    import inspect

    def decorate(target):
        if inspect.isclass(target):
            return ActorClass(target, kwargs)
        if not callable(target):
            raise TypeError(f"@cyray.remote takes a function, got {type(target).__name__}")
        return RemoteFunction(target, kwargs)

    if len(args) == 1 and not kwargs and callable(args[0]):
        return decorate(args[0])
    if args:
        from cyray._private.options import ACTOR_OPTIONS, TASK_OPTIONS

        # Ray's AssertionError and message.
        raise AssertionError(
            "The @ray.remote decorator must be applied either with no arguments and no "
            "parentheses, for example '@ray.remote', or it must be applied using some of the "
            f"arguments in the list {list({**TASK_OPTIONS, **ACTOR_OPTIONS})}, for example "
            "'@ray.remote(num_returns=2, resources={\"CustomResource\": 1})'.")
    return decorate


def get_gpu_ids():
    """The GPU indices held by the running task or actor (empty in a driver)."""
    from cyray._private.worker import global_worker

    return [int(i) for i in global_worker.gpu_ids()]


__all__ = [
    "__version__", "exceptions", "init", "shutdown", "is_initialized", "remote", "get", "cancel",
    "ObjectRefGenerator", "DynamicObjectRefGenerator",
    "put", "wait", "get_runtime_context", "get_gpu_ids", "cluster_resources",
    "available_resources", "nodes", "timeline", "ObjectRef", "get_actor", "kill", "method", "actor",
    "util", "RemoteFunction", "ActorID", "JobID",
    "NodeID", "ObjectID", "PlacementGroupID", "TaskID", "UniqueID", "WorkerID",
    "ActorClassID", "ClusterID", "FunctionID", "Language", "SCRIPT_MODE", "WORKER_MODE",
    "client", "ClientBuilder", "cpp_function", "java_actor_class", "java_function",
]
