"""Actors: what `@cyray.remote` makes of a class (ActorClass), the handles to
its instances (ActorHandle) and their methods (ActorMethod), as in Ray."""

import inspect

import cloudpickle

from cyray._private.function_manager import FunctionDescriptor
from cyray._private.options import (
    actor_placement_demand,
    resource_demand,
    validate_actor_options,
)
from cyray._raylet import ActorID

# Executors an async actor may use at once by default (as Ray).
DEFAULT_ASYNC_MAX_CONCURRENCY = 1000


def method(*args, **kwargs):
    """Options for one actor method: @cyray.method(num_returns=2, concurrency_group="io")."""
    valid = {"num_returns", "concurrency_group"}
    unknown = set(kwargs) - valid
    if args or unknown:
        raise ValueError(f"@cyray.method takes only the keyword options {sorted(valid)}, got "
                         f"{sorted(unknown) or args}")

    def decorate(function):
        if "num_returns" in kwargs:
            function.__ray_num_returns__ = kwargs["num_returns"]
        if "concurrency_group" in kwargs:
            function.__ray_concurrency_group__ = kwargs["concurrency_group"]
        return function

    return decorate


class _ActorExit(Exception):
    """Raised by exit_actor() to end the actor after the current call."""


def exit_actor():
    """Ends the current actor once this call returns (as ray.actor.exit_actor)."""
    from cyray._private.worker import global_worker

    if global_worker.actor is None:
        raise TypeError("exit_actor() can only be called inside an actor method")
    raise _ActorExit()


def _method_meta(cls):
    """{method name: (num_returns, concurrency_group)} of a class."""
    meta = {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("__") and name not in ("__call__",):
            continue
        if inspect.isfunction(member) or inspect.ismethod(member):
            meta[name] = (getattr(member, "__ray_num_returns__", 1),
                          getattr(member, "__ray_concurrency_group__", ""))
    return meta


def _is_asyncio(cls):
    return any(inspect.iscoroutinefunction(m) or inspect.isasyncgenfunction(m)
               for _, m in inspect.getmembers(cls, inspect.isfunction))


class ActorClass:
    """A class whose instances live in worker processes: `Cls.remote(...)`."""

    def __init__(self, cls, options):
        validate_actor_options(options)
        self._cls = cls
        self._options = dict(options)
        self._pickled = None
        self._descriptor = None
        self._meta = _method_meta(cls)
        self._is_asyncio = _is_asyncio(cls)
        self.__name__ = cls.__name__
        self.__qualname__ = cls.__qualname__
        self.__module__ = cls.__module__
        self.__doc__ = cls.__doc__
        try:
            self._init_signature = inspect.signature(cls.__init__)
        except (TypeError, ValueError):
            self._init_signature = None

    def __call__(self, *args, **kwargs):
        raise TypeError(
            f"Actors cannot be instantiated directly. Instead of '{self.__name__}()', use "
            f"'{self.__name__}.remote()'.")

    def options(self, **options):
        validate_actor_options(options)
        merged = {**self._options, **options}
        parent = self

        class ActorClassWithOptions:
            def remote(self, *args, **kwargs):
                return parent._remote(args, kwargs, merged)

        return ActorClassWithOptions()

    def remote(self, *args, **kwargs):
        return self._remote(args, kwargs, self._options)

    def _export(self, worker):
        if self._pickled is None:
            try:
                self._pickled = cloudpickle.dumps(self._cls, protocol=5)
            except Exception as e:
                raise TypeError(f"Could not serialize the actor class {self.__qualname__}: "
                                f"{type(e).__name__}: {e}") from e
            self._descriptor = FunctionDescriptor.for_function(self._cls, self._pickled)
        worker.function_actor_manager.export(
            worker.current_job_id, self._descriptor, self._pickled, 0, kind="actor")
        return self._descriptor

    def _remote(self, args, kwargs, options):
        from cyray._private.worker import _auto_init, global_worker
        from cyray.remote_function import _task_args, encode_scheduling_strategy

        if self._init_signature is not None and self._cls.__init__ is not object.__init__:
            try:
                self._init_signature.bind(None, *args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{self.__qualname__}.remote(): {e}") from None
        _auto_init()
        worker = global_worker
        name = options.get("name") or ""
        namespace = options.get("namespace") or worker.namespace
        if name and options.get("get_if_exists"):
            existing = _get_named_actor(name, namespace)
            if existing is not None:
                return existing
        descriptor = self._export(worker)
        groups = dict(options.get("concurrency_groups") or {})
        max_concurrency = options.get("max_concurrency")
        if max_concurrency is None:
            max_concurrency = DEFAULT_ASYNC_MAX_CONCURRENCY if self._is_asyncio else 1
        resources = resource_demand(options, default_cpus=0)
        lifetime = options.get("lifetime")
        actor_id = worker.core_worker.create_actor(
            (descriptor.module_name, descriptor.function_name, descriptor.function_id),
            self.__name__, _task_args(worker, args, kwargs, self.__qualname__),
            resources, options.get("max_restarts") or 0, options.get("max_task_retries") or 0,
            max_concurrency + sum(groups.values()), self._is_asyncio, name, namespace,
            lifetime == "detached",
            # The default group's limit travels with the others.
            {"_default": max_concurrency, **groups},
            actor_placement_demand(options, resources),
            encode_scheduling_strategy(options.get("scheduling_strategy"),
                                       options.get("label_selector")))
        # Unnamed, non-detached actors end when their last handle goes.
        handle_ref = None
        if not name and lifetime != "detached":
            handle_ref = worker.core_worker.track_actor_handles(actor_id)
        max_pending_calls = options.get("max_pending_calls")
        return ActorHandle(actor_id, descriptor.module_name, self.__name__, self._meta,
                           handle_ref, -1 if max_pending_calls is None else max_pending_calls)


class ActorMethod:
    def __init__(self, handle, name, num_returns, concurrency_group):
        self._handle = handle
        self._name = name
        self._num_returns = num_returns
        self._concurrency_group = concurrency_group

    def __call__(self, *args, **kwargs):
        raise TypeError(
            f"Actor methods cannot be called directly. Instead of running "
            f"'actor.{self._name}()', try 'actor.{self._name}.remote()'.")

    def options(self, **options):
        unknown = set(options) - {"num_returns", "concurrency_group", "name"}
        if unknown:
            raise ValueError(f"Invalid option(s) {sorted(unknown)} for an actor method; valid "
                             "ones are ['concurrency_group', 'name', 'num_returns']")
        parent = self

        class MethodWithOptions:
            def remote(self, *args, **kwargs):
                return parent._remote(args, kwargs, options.get("num_returns",
                                                                parent._num_returns),
                                      options.get("concurrency_group",
                                                  parent._concurrency_group),
                                      options.get("name"))

        return MethodWithOptions()

    def remote(self, *args, **kwargs):
        return self._remote(args, kwargs, self._num_returns, self._concurrency_group)

    def _remote(self, args, kwargs, num_returns, concurrency_group, name=None):
        from cyray._private.worker import global_worker
        from cyray.remote_function import _task_args

        handle = self._handle
        limit = handle._max_pending_calls
        if limit > 0 and global_worker.core_worker.num_pending_actor_calls(
                handle._actor_id) >= limit:
            from cyray.exceptions import PendingCallsLimitExceeded

            raise PendingCallsLimitExceeded(
                f"The task {handle._class_name}.{self._name} could not be submitted to "
                f"{handle!r} because more than {limit} tasks are queued on the actor. This "
                "limit can be adjusted with the `max_pending_calls` actor option.")
        refs = global_worker.core_worker.submit_actor_task(
            handle._actor_id, (handle._module, handle._class_name, self._name),
            name or f"{handle._class_name}.{self._name}",
            _task_args(global_worker, args, kwargs, f"{handle._class_name}.{self._name}"),
            num_returns, concurrency_group or "")
        if num_returns == 1:
            return refs[0]
        return refs


class ActorHandle:
    """A handle to an actor: call its methods with `handle.method.remote(...)`."""

    def __init__(self, actor_id, module, class_name, meta, handle_ref=None,
                 max_pending_calls=-1):
        self._actor_id = actor_id
        self._module = module
        self._class_name = class_name
        self._meta = meta
        # Calls submitted through this process and not finished may not exceed
        # it (-1: no limit), as Ray's max_pending_calls.
        self._max_pending_calls = max_pending_calls
        # Counted by the actor's creator like an ObjectRef (borrowed by other
        # processes): when every handle is gone, the actor ends.
        self._handle_ref = handle_ref

    def __getattr__(self, name):
        meta = self.__dict__.get("_meta", {})
        if name == "__ray_terminate__":
            return ActorMethod(self, name, 1, "")
        if name not in meta:
            raise AttributeError(f"'{self.__dict__.get('_class_name')}' actor has no method "
                                 f"'{name}'")
        num_returns, group = meta[name]
        return ActorMethod(self, name, num_returns, group)

    def __repr__(self):
        return f"Actor({self._class_name}, {self._actor_id.hex()})"

    def __hash__(self):
        return hash(self._actor_id)

    def __eq__(self, other):
        return isinstance(other, ActorHandle) and other._actor_id == self._actor_id

    def __reduce__(self):
        return _rebuild_actor_handle, (self._actor_id.binary(), self._module, self._class_name,
                                       self._meta, self._handle_ref, self._max_pending_calls)


def _rebuild_actor_handle(actor_id, module, class_name, meta, handle_ref=None,
                          max_pending_calls=-1):
    from cyray._private.worker import global_worker

    handle = ActorHandle(ActorID(actor_id), module, class_name, meta, handle_ref,
                         max_pending_calls)
    if global_worker.connected:
        global_worker.core_worker.add_actor_handle(handle._actor_id)
    return handle


def _get_named_actor(name, namespace):
    from cyray._private.worker import global_worker
    from cyray.protobuf import common_pb2, gcs_service_pb2

    found = global_worker.core_worker.get_named_actor(name, namespace)
    if found is None:
        return None
    table = gcs_service_pb2.ActorTableData()
    table.ParseFromString(found[0])
    spec = common_pb2.TaskSpec()
    spec.ParseFromString(found[1])
    fd = spec.function_descriptor
    from cyray import JobID

    info = global_worker.function_actor_manager.get_execution_info(
        JobID(table.job_id), FunctionDescriptor(fd.module_name, fd.class_name, fd.function_id))
    actor_id = ActorID(table.actor_id)
    global_worker.core_worker.add_actor_handle(actor_id)
    return ActorHandle(actor_id, fd.module_name, info.function.__name__,
                       _method_meta(info.function))


def get_actor(name, namespace=None):
    """The handle of the actor named `name` (in `namespace`, default the job's)."""
    from cyray._private.worker import global_worker

    if not isinstance(name, str) or not name:
        raise ValueError(f"get_actor needs a non-empty actor name, got {name!r}")
    global_worker.check_connected()
    ns = namespace if namespace is not None else global_worker.namespace
    handle = _get_named_actor(name, ns)
    if handle is None:
        raise ValueError(
            f"Failed to look up actor with name '{name}' in namespace '{ns}'. It was never "
            "created, it died, or it lives in another namespace (pass namespace=...).")
    return handle


def kill(actor, *, no_restart=True):
    """Ends an actor at once, as ray.kill: calls in flight fail with RayActorError."""
    from cyray._private.worker import global_worker

    if not isinstance(actor, ActorHandle):
        raise ValueError(f"cyray.kill() only supports actor handles, got "
                         f"{type(actor).__name__}. For tasks, cancel is not supported yet.")
    global_worker.check_connected()
    global_worker.core_worker.kill_actor(actor._actor_id, True, no_restart)
