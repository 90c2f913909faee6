"""Actors: what `@cyray.remote` makes of a class (ActorClass), the handles to
its instances (ActorHandle) and their methods (ActorMethod), as in Ray."""

import inspect

import cloudpickle

from cyray.exceptions import ActorAlreadyExistsError

from cyray._private import call_site
from cyray._private.function_manager import FunctionDescriptor
from cyray._private.object_ref_generator import ObjectRefGenerator
from cyray._private.options import (
    actor_placement_demand,
    resource_demand,
    validate_actor_options,
)
from cyray._private.worker import global_worker
from cyray._raylet import GENERATOR_STREAMING, ActorID
from cyray.remote_function import _positional_range, _task_args, generator_mode

# Executors an async actor may use at once by default (as Ray).
DEFAULT_ASYNC_MAX_CONCURRENCY = 1000


# Options of a method that each call carries (and .options() may change).
_PER_CALL_OPTIONS = ("max_task_retries", "retry_exceptions", "_generator_backpressure_num_objects")

# The keywords of @method, in Ray's order.
_METHOD_OPTIONS = ["num_returns", "concurrency_group", "max_task_retries", "retry_exceptions",
                   "_generator_backpressure_num_objects", "_num_objects_per_yield",
                   "enable_task_events", "tensor_transport"]


def _check_method_options(options, what):
    """Raises for a value of an actor method's option (Ray checks fewer of them), or
    NotImplementedError for one cyray cannot honour yet."""
    from cyray._private.options import check_retry_exceptions

    num_returns = options.get("num_returns")
    if num_returns is not None and num_returns not in ("dynamic", "streaming"):
        if isinstance(num_returns, bool) or not isinstance(num_returns, int):
            raise TypeError(f"num_returns must be an int, but got {num_returns!r}.")
        if num_returns < 0:
            raise ValueError(f"num_returns must be >= 0, but got {num_returns}.")
    group = options.get("concurrency_group")
    if group is not None and not isinstance(group, str):
        raise TypeError(f"concurrency_group must be a string, but got {group!r}.")
    retries = options.get("max_task_retries")
    if retries is not None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < -1:
            raise ValueError("The keyword 'max_task_retries' only accepts None, 0, -1 or a "
                             "positive integer, where -1 represents infinity.")
    retry_exceptions = options.get("retry_exceptions")
    if retry_exceptions is not None:
        check_retry_exceptions("retry_exceptions", retry_exceptions)
    events = options.get("enable_task_events")
    if events is not None and not isinstance(events, bool):
        raise TypeError(f"enable_task_events must be a bool, but got {events!r}.")
    if options.get("_generator_backpressure_num_objects") is not None:
        from cyray._private.options import check_generator_backpressure

        check_generator_backpressure("_generator_backpressure_num_objects",
                                     options["_generator_backpressure_num_objects"])
    if options.get("_num_objects_per_yield") is not None:
        raise NotImplementedError(f"{what}: _num_objects_per_yield is not supported yet by "
                                  "cyray.")
    if options.get("tensor_transport") not in (None, "object_store", "OBJECT_STORE"):
        raise NotImplementedError(f"{what}: tensor_transport={options['tensor_transport']!r} "
                                  "is not supported by cyray (only the object store).")


def method(*args, **kwargs):
    """Options for one actor method, as ray.method: @cyray.method(num_returns=2,
    concurrency_group="io")."""
    if args:
        raise AssertionError(
            "The @ray.method decorator must be applied using no arguments or at least one of "
            f"the arguments in the list {_METHOD_OPTIONS}, for example "
            "'@ray.method(num_returns=2)'.")
    for key in kwargs:
        if key not in _METHOD_OPTIONS:
            raise AssertionError(f"Unexpected keyword argument to @ray.method: '{key}'. The "
                                 f"supported keyword arguments are {_METHOD_OPTIONS}")
    _check_method_options(kwargs, "@cyray.method")

    def decorate(function):
        if kwargs.get("num_returns") is not None:
            function.__ray_num_returns__ = kwargs["num_returns"]
        if kwargs.get("concurrency_group") is not None:
            function.__ray_concurrency_group__ = kwargs["concurrency_group"]
        function.__ray_method_options__ = {
            key: kwargs[key] for key in _PER_CALL_OPTIONS if kwargs.get(key) is not None}
        return function

    return decorate


class _ActorExit(Exception):
    """Raised by exit_actor() to end the actor after the current call."""


def exit_actor():
    """Ends the current actor once this call returns, as ray.actor.exit_actor: an
    intentional exit, so the actor is not restarted and later calls fail with
    ActorDiedError. Called in __init__, the actor ends before it is ever ready."""
    from cyray._private.worker import WORKER_MODE, global_worker

    in_actor = (global_worker.mode == WORKER_MODE and global_worker.connected
                and global_worker.core_worker.get_current_actor_id() is not None)
    if not in_actor:
        raise TypeError(f"exit_actor API is called on a non-actor worker, "
                        f"{global_worker.mode}. Call this API inside an actor methods if "
                        "you'd like to exit the actor gracefully.")
    raise _ActorExit()


# Methods every actor has, as Ray's: __ray_ready__ (True once created), __ray_call__
# (runs fn(actor, *args, **kwargs) in the actor) and __ray_terminate__.
_BUILTIN_METHODS = ("__ray_ready__", "__ray_call__", "__ray_terminate__")


def _with_builtin_methods(cls):
    """A subclass of `cls` named as it, with the methods every Ray actor has."""

    def __ray_ready__(self):
        return True

    def __ray_call__(self, fn, *args, **kwargs):
        return fn(self, *args, **kwargs)

    try:
        actor_cls = type(cls.__name__, (cls,), {
            "__ray_ready__": __ray_ready__, "__ray_call__": __ray_call__,
            "__ray_actor_class__": cls, "__module__": cls.__module__,
            "__qualname__": cls.__qualname__, "__doc__": cls.__doc__})
    except TypeError:  # a class that cannot be subclassed: as it is
        return cls
    return actor_cls


def _call_signature(cls, name, member):
    """The signature a call of method `name` is checked against at .remote() (without
    self, defaults and annotations: it travels with the handle), or None."""
    try:
        static = inspect.getattr_static(cls, name)
        signature = inspect.signature(member)
    except (AttributeError, TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    if inspect.isfunction(static) and params:
        params = params[1:]  # self
    return inspect.Signature([
        p.replace(default=None if p.default is not p.empty else p.empty,
                  annotation=p.empty) for p in params])


def _method_meta(cls):
    """{method name: (num_returns, concurrency_group, call signature or None,
    {per-call option: value} from @method)}. A generator method's num_returns is
    "streaming" unless it says otherwise (as Ray)."""
    meta = {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("__") and name not in ("__call__", *_BUILTIN_METHODS):
            continue
        if inspect.isfunction(member) or inspect.ismethod(member):
            is_generator = (inspect.isgeneratorfunction(member)
                            or inspect.isasyncgenfunction(member))
            meta[name] = (getattr(member, "__ray_num_returns__",
                                  "streaming" if is_generator else 1),
                          getattr(member, "__ray_concurrency_group__", ""),
                          _call_signature(cls, name, member),
                          getattr(member, "__ray_method_options__", {}))
    meta.setdefault("__ray_terminate__", (1, "", inspect.Signature(), {}))
    return meta


def _check_call(signature, args, kwargs, what):
    """Ray checks a call's arguments against the method's signature at .remote()."""
    if signature is None:
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{what}.remote(): {e}") from None


def _check_namespace(namespace):
    if not isinstance(namespace, str):
        raise TypeError("namespace must be None or a string.")
    if namespace == "":
        raise ValueError('"" is not a valid namespace. Pass None to not specify a namespace.')


def _out_of_order_execution(options, is_asyncio, max_concurrency):
    """Ray's allow_out_of_order_execution: the default for async and threaded actors, which
    cannot run calls in submission order (False is refused for them); False otherwise."""
    value = options.get("allow_out_of_order_execution")
    if value is None:
        return is_asyncio or max_concurrency > 1
    if is_asyncio and not value:
        raise ValueError("If you're using async actors, Ray can't execute actor tasks in "
                         "order. Set `allow_out_of_order_execution=True` to allow "
                         "out-of-order execution.")
    if max_concurrency > 1 and not value:
        raise ValueError("If you're using multi-threaded actors, Ray can't execute actor "
                         "tasks in order. Set `allow_out_of_order_execution=True` to allow "
                         "out-of-order execution.")
    return value


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
        """A copy of this class with some options changed, as in Ray (concurrency groups
        belong to the class and cannot change here)."""
        validate_actor_options(options, in_options=True)
        return _ActorClassWithOptions(self, {**self._options, **options})

    def remote(self, *args, **kwargs):
        return self._remote(args, kwargs, self._options)

    def bind(self, *args, **kwargs):
        raise NotImplementedError(_NO_DAGS)

    def _export(self, worker):
        if self._pickled is None:
            try:
                self._pickled = cloudpickle.dumps(_with_builtin_methods(self._cls), protocol=5)
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
        name = options.get("name")
        if name == "":
            raise ValueError("Actor name cannot be an empty string.")
        name = name or ""
        if options.get("namespace") is not None:
            _check_namespace(options["namespace"])
        _auto_init()
        worker = global_worker
        namespace = options.get("namespace") or worker.namespace
        get_if_exists = bool(name and options.get("get_if_exists"))
        if get_if_exists:
            existing = _get_named_actor(name, namespace)
            if existing is not None:
                return existing
        descriptor = self._export(worker)
        groups = dict(options.get("concurrency_groups") or {})
        max_concurrency = options.get("max_concurrency")
        if max_concurrency is None:
            max_concurrency = DEFAULT_ASYNC_MAX_CONCURRENCY if self._is_asyncio else 1
        out_of_order = _out_of_order_execution(options, self._is_asyncio, max_concurrency)
        resources = resource_demand(options, default_cpus=0)
        lifetime = options.get("lifetime")
        try:
            actor_id = worker.core_worker.create_actor(
                (descriptor.module_name, descriptor.function_name, descriptor.function_id),
                self.__name__, _task_args(worker, args, kwargs, self.__qualname__),
                resources, options.get("max_restarts") or 0,
                options.get("max_task_retries") or 0,
                max_concurrency + sum(groups.values()), self._is_asyncio, name, namespace,
                lifetime == "detached",
                # The default group's limit travels with the others.
                {"_default": max_concurrency, **groups},
                actor_placement_demand(options, resources),
                encode_scheduling_strategy(options.get("scheduling_strategy"),
                                           options.get("label_selector")),
                out_of_order, options.get("enable_task_events") is not False)
        except ValueError as e:
            if not name or _NAME_TAKEN not in str(e):
                raise
            # Another thread or driver registered the name first (the GCS registers
            # names one at a time): with get_if_exists, that actor is the one.
            existing = _get_named_actor(name, namespace) if get_if_exists else None
            if existing is not None:
                return existing
            raise ActorAlreadyExistsError(str(e)) from None
        # Unnamed, non-detached actors end when their last handle goes.
        handle_ref = None
        if not name and lifetime != "detached":
            handle_ref = worker.core_worker.track_actor_handles(actor_id)
        max_pending_calls = options.get("max_pending_calls")
        meta = self._meta
        if options.get("enable_task_events") is False:
            # The actor's setting is each method's default (a method's own wins).
            meta = {method: (returns, group, signature, {"enable_task_events": False, **opts})
                    for method, (returns, group, signature, opts) in meta.items()}
        return ActorHandle(actor_id, descriptor.module_name, self.__name__, meta,
                           handle_ref, -1 if max_pending_calls is None else max_pending_calls)


# What the GCS says when an actor's name is taken in its namespace (as Ray's message).
_NAME_TAKEN = "is already taken"

_NO_DAGS = ("bind(): Ray's DAG API (ray.dag, compiled graphs) is not supported by cyray; call "
            ".remote() instead.")


class _ActorClassWithOptions:
    """What ActorClass.options() returns: .remote() and .bind() as the class's."""

    def __init__(self, actor_class, options):
        self._actor_class = actor_class
        self._options = options

    def remote(self, *args, **kwargs):
        return self._actor_class._remote(args, kwargs, self._options)

    def bind(self, *args, **kwargs):
        raise NotImplementedError(_NO_DAGS)


class ActorMethod:
    def __init__(self, handle, name, num_returns, concurrency_group, signature=None,
                 method_options=None, positional=None):
        self._handle = handle
        self._name = name
        self._num_returns = num_returns
        self._concurrency_group = concurrency_group
        self._signature = signature
        # (fewest, most) positional arguments that bind without keywords (see
        # remote_function._positional_range); None: every call is bound.
        self._positional = positional
        # max_task_retries, retry_exceptions, _generator_backpressure_num_objects
        self._method_options = method_options or {}

    def __call__(self, *args, **kwargs):
        raise TypeError(
            f"Actor methods cannot be called directly. Instead of running "
            f"'object.{self._name}()', try 'object.{self._name}.remote()'.")

    def options(self, **options):
        """This method with some options changed for the calls made through it."""
        valid = ("num_returns", "concurrency_group", "name", "max_task_retries",
                 "retry_exceptions", "enable_task_events", "tensor_transport",
                 "_generator_backpressure_num_objects")
        unknown = [key for key in options if key not in valid]
        if unknown:
            raise ValueError(f"Invalid option keyword(s) {unknown} for an actor method; valid "
                             f"ones are {list(valid)}")
        _check_method_options(options, f"{self._handle._class_name}.{self._name}.options()")
        name = options.get("name")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, but got {name!r}.")
        num_returns = options.get("num_returns")
        group = options.get("concurrency_group")
        method_options = {**self._method_options, **{
            key: options[key] for key in _PER_CALL_OPTIONS if options.get(key) is not None}}
        return _ActorMethodWithOptions(
            self, self._num_returns if num_returns is None else num_returns,
            self._concurrency_group if group is None else group, name, method_options)

    def remote(self, *args, **kwargs):
        return self._remote(args, kwargs, self._num_returns, self._concurrency_group)

    def bind(self, *args, **kwargs):
        raise NotImplementedError(_NO_DAGS)

    def _remote(self, args, kwargs, num_returns, concurrency_group, name=None,
                method_options=None):
        handle = self._handle
        positional = self._positional
        if kwargs or positional is None or not positional[0] <= len(args) <= positional[1]:
            # Plain positional calls that fit are checked above without bind (~10 us).
            _check_call(self._signature, args, kwargs, f"{handle._class_name}.{self._name}")
        limit = handle._max_pending_calls
        if limit > 0 and global_worker.core_worker.num_pending_actor_calls(
                handle._actor_id) >= limit:
            from cyray.exceptions import PendingCallsLimitExceeded

            raise PendingCallsLimitExceeded(
                f"The task {handle._class_name}.{self._name} could not be submitted to "
                f"{handle!r} because more than {limit} tasks are queued on the actor. This "
                "limit can be adjusted with the `max_pending_calls` actor option.")
        num_returns, mode = generator_mode(num_returns, False)
        method_options = self._method_options if method_options is None else method_options
        backpressure = method_options.get("_generator_backpressure_num_objects")
        retry = method_options.get("retry_exceptions", False)
        refs = global_worker.core_worker.submit_actor_task(
            handle._actor_id, (handle._module, handle._class_name, self._name),
            name or f"{handle._class_name}.{self._name}",
            _task_args(global_worker, args, kwargs, f"{handle._class_name}.{self._name}"),
            num_returns, concurrency_group or "", mode,
            -1 if backpressure is None else backpressure,
            method_options.get("max_task_retries"), bool(retry),
            cloudpickle.dumps(tuple(retry)) if isinstance(retry, (list, tuple)) else b"",
            method_options.get("enable_task_events") is not False)
        if call_site.RECORDING:
            call_site.record(global_worker.core_worker, refs, "actor call")
        if mode == GENERATOR_STREAMING:
            return ObjectRefGenerator(refs[0], global_worker)
        if num_returns == 1:
            return refs[0]
        return refs


class _ActorMethodWithOptions:
    """What ActorMethod.options() returns."""

    def __init__(self, method, num_returns, concurrency_group, name, method_options):
        self._method = method
        self._num_returns = num_returns
        self._concurrency_group = concurrency_group
        self._name = name
        self._method_options = method_options

    def remote(self, *args, **kwargs):
        return self._method._remote(args, kwargs, self._num_returns, self._concurrency_group,
                                    self._name, self._method_options)

    def bind(self, *args, **kwargs):
        raise NotImplementedError(_NO_DAGS)


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
        # The connection it was made in (a handle is not valid after shutdown/init).
        self._session = _session()

    def __getattr__(self, name):
        meta = self.__dict__.get("_meta", {})
        if name not in meta and name not in _BUILTIN_METHODS:
            # Ray's error, at attribute access.
            raise AttributeError(f"'ActorHandle' object has no attribute '{name}'")
        num_returns, group, signature, method_options = meta.get(name, (1, "", None, {}))
        # Each method's positional range, worked out once per handle.
        ranges = self.__dict__.setdefault("_positional_ranges", {})
        if name not in ranges:
            ranges[name] = _positional_range(signature)
        return ActorMethod(self, name, num_returns, group, signature, method_options,
                           ranges[name])

    def __repr__(self):
        return f"Actor({self._class_name}, {self._actor_id.hex()})"

    def __hash__(self):
        return hash(self._actor_id)

    def __eq__(self, other):
        return isinstance(other, ActorHandle) and other._actor_id == self._actor_id

    def __reduce__(self):
        return _rebuild_actor_handle, (self._actor_id.binary(), self._module, self._class_name,
                                       self._meta, self._handle_ref, self._max_pending_calls)


def _session():
    """This process's connection to the cluster (its core worker's ID), or None."""
    from cyray._private.worker import global_worker

    core_worker = global_worker.core_worker
    return core_worker.get_worker_id().binary() if core_worker is not None else None


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
    """The handle of the actor named `name` (in `namespace`, default the job's), as
    ray.get_actor."""
    from cyray._private.worker import _auto_init, global_worker

    if not name:
        raise ValueError("Please supply a non-empty value to get_actor")
    if not isinstance(name, str):
        raise TypeError(f"get_actor takes the actor's name as a string, got "
                        f"{type(name).__name__}")
    if namespace is not None:
        _check_namespace(namespace)
    _auto_init()
    ns = namespace if namespace is not None else global_worker.namespace
    handle = _get_named_actor(name, ns)
    if handle is None:
        raise ValueError(
            f"Failed to look up actor with name '{name}'. This could because 1. You are "
            "trying to look up a named actor you didn't create. 2. The named actor died. 3. "
            "You did not use a namespace matching the namespace of the actor.")
    return handle


def kill(actor, *, no_restart=True):
    """Ends an actor at once, as ray.kill: calls in flight fail with RayActorError."""
    from cyray._private.worker import global_worker
    from cyray.exceptions import ActorHandleNotFoundError

    if not isinstance(actor, ActorHandle):
        raise ValueError("ray.kill() only supported for actors. For tasks, try ray.cancel(). "
                         f"Got: {type(actor)}.")
    global_worker.check_connected()
    if actor._session is not None and actor._session != _session():
        raise ActorHandleNotFoundError(
            "ActorHandle objects are not valid across cyray sessions. This handle was made "
            "before the last shutdown() and init(); create a new actor handle in the current "
            "session.")
    global_worker.core_worker.kill_actor(actor._actor_id, True, no_restart)
