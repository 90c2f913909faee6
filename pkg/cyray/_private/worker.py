"""The per-process state of cyray (`global_worker`) and the core API: init,
shutdown, get, put, wait. Drivers create their cluster or connect to one;
workers are set up by cyray.workers.default_worker."""

import atexit
import contextvars
import inspect
import logging
import os
import signal
import sys
import threading

import setproctitle as _setproctitle

from cyray import exceptions
from cyray._private import call_site, logging_config, serialization
from cyray._private.config_knobs import knob
from cyray._private.function_manager import FunctionActorManager
from cyray._private.object_ref_generator import ObjectRefGenerator
from cyray._private.ray_context import BaseContext, RayContext  # noqa: F401 - Ray's names here
from cyray._raylet import CoreWorker, ObjectRef, all_object_refs

SCRIPT_MODE = 0
WORKER_MODE = 1

logger = logging.getLogger("cyray")


# The context of the actor call a coroutine runs: a snapshot taken when the call
# starts (the C++ context belongs to threads, and coroutines share one).
_coroutine_task_context = contextvars.ContextVar("cyray_task_context", default=None)


class Worker:
    """This process's connection to the cluster. The running task's context
    (id, name, resources) is not kept here: the C++ core owns it per executor
    thread (`task_context()`)."""

    def __init__(self):
        self.mode = None
        self.core_worker = None
        self.node = None
        self.node_ip_address = "127.0.0.1"
        self.gcs_address = None
        self.namespace = None
        self.log_monitor = None
        self.serialization = serialization
        self.max_inline_size = _max_inline_size()
        self.function_actor_manager = FunctionActorManager(self)
        self.lock = threading.RLock()
        self._saved_cuda_visible = None
        self._proctitle = None  # the title set last (by set_proctitle)
        self._task_set_cuda = False
        # The actor this worker hosts, its methods (bound once, at creation) and
        # how its calls run.
        self.actor = None
        self.actor_class_name = None
        self.actor_module = None
        self.actor_name = ""
        self.actor_reconstructed = False
        self.actor_gpu_ids = []
        self.actor_methods = {}
        self._actor_loop = None
        self._group_semaphores = {}
        # The normal task running on the main thread while its code may be
        # interrupted by a cancel (a SIGINT then raises KeyboardInterrupt).
        self.interruptible_task = None
        # Tasks and actor calls inside user code now (a SIGTERM then ends the process by
        # the signal: see default_worker).
        self.tasks_running = 0
        self._tasks_running_lock = threading.Lock()
        # The cluster token a driver was given or made (workers: $CYRAY_AUTH_TOKEN).
        self.auth_token = None
        # The asyncio tasks of an async actor's running calls, by task ID.
        self._running_coroutines = {}

    @property
    def connected(self):
        return self.core_worker is not None

    def check_connected(self):
        if not self.connected:
            raise exceptions.RaySystemError(
                "cyray is not initialized: call cyray.init() first")

    @property
    def current_job_id(self):
        return self.core_worker.get_job_id()

    def task_context(self):
        """The TaskContext of the task or actor call running here (a coroutine's
        snapshot, else this thread's in the C++ core), or None."""
        context = _coroutine_task_context.get()
        if context is not None:
            return context
        core_worker = self.core_worker
        return core_worker.get_current_task_context() if core_worker is not None else None

    @property
    def current_task_name(self):
        """What worker output is prefixed with: the actor's class, else the task's name."""
        if self.actor_class_name:
            return self.actor_class_name
        context = self.task_context()
        return context.name if context is not None else None

    def gpu_ids(self):
        context = self.task_context()
        if context is not None and "GPU" in context.resource_ids:
            return list(context.resource_ids["GPU"])
        return list(self.actor_gpu_ids)

    def set_proctitle(self, title):
        if title != self._proctitle:  # a syscall each time, and tasks repeat titles
            _setproctitle.setproctitle(title)
            self._proctitle = title

    def begin_task(self, job_id, task_gpu_ids):
        """Process-wide set-up for a task: the job's namespace and, for a normal
        task holding GPUs, CUDA_VISIBLE_DEVICES (its worker runs one task at a time)."""
        with self._tasks_running_lock:
            self.tasks_running += 1
        if self.mode == WORKER_MODE:
            self.namespace = self.function_actor_manager.job_namespace(job_id)
        if task_gpu_ids:
            self._saved_cuda_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in task_gpu_ids)
            self._task_set_cuda = True

    def end_task(self):
        with self._tasks_running_lock:
            self.tasks_running -= 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        if self._task_set_cuda:
            if self._saved_cuda_visible is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = self._saved_cuda_visible
            self._task_set_cuda = False

    def setup_actor(self, cls, args, kwargs, is_asyncio, groups, gpu_ids, module, name,
                    reconstructed):
        """Creates the actor: its GPUs (CUDA_VISIBLE_DEVICES for the process's
        lifetime, set before __init__ runs), its instance, its methods bound once
        from the class (an instance attribute cannot shadow one), its
        concurrency groups and, for async actors, its event loop."""
        self.actor_class_name = cls.__name__
        self.actor_module = module
        self.actor_name = name
        self.actor_reconstructed = reconstructed
        self.actor_gpu_ids = list(gpu_ids)
        if gpu_ids:
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpu_ids)
        instance = cls(*args, **kwargs)
        self.actor = instance
        self.actor_methods = _bind_methods(cls, instance)
        if is_asyncio:
            import asyncio

            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="cyray-actor-loop",
                             daemon=True).start()
            self._actor_loop = loop

            async def make_semaphores():
                return {g: asyncio.Semaphore(n) for g, n in groups.items()}

            self._group_semaphores = asyncio.run_coroutine_threadsafe(
                make_semaphores(), loop).result()
        else:
            self._group_semaphores = {g: threading.Semaphore(n) for g, n in groups.items()}

    def _actor_method(self, name):
        method = self.actor_methods.get(name)
        if method is None:
            raise AttributeError(f"'{self.actor_class_name}' actor has no method '{name}'")
        return method

    def is_coroutine_method(self, name):
        import inspect

        method = self.actor_methods.get(name)
        return self._actor_loop is not None and (
            inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method))

    def start_actor_coroutine(self, name, group, args, kwargs, done, task_id, drive=None):
        """Schedules an async method on the actor's loop; `done(outputs, exc)` runs
        on the loop when it finishes (once, even when cancelled before it started).
        The call keeps the context it started with. An async generator method's
        items are reported by `drive(async_generator)`, whose result is the outputs."""
        method = self._actor_method(name)
        semaphore = self._group_semaphores.get(group or "_default")
        context = self.task_context()
        loop = self._actor_loop

        async def run():
            _coroutine_task_context.set(context)
            try:
                async with semaphore if semaphore is not None else _no_limit():
                    if drive is not None:
                        outputs = await drive(method(*args, **kwargs))
                    else:
                        outputs = await method(*args, **kwargs)
            except BaseException as e:  # noqa: B036 - reported as the call's error
                if not isinstance(e, Exception):  # CancelledError: a BaseException
                    e = RuntimeError(repr(e)).with_traceback(e.__traceback__)
                done(None, e)
                return
            done(outputs, None)

        def finished(task):
            if self._running_coroutines.get(task_id) is task:
                del self._running_coroutines[task_id]
            if task.cancelled():  # cancelled before run() could report
                done(None, RuntimeError("cancelled"))

        def start():
            task = loop.create_task(run())
            self._running_coroutines[task_id] = task
            task.add_done_callback(finished)
            if self.core_worker.is_task_cancelled(task_id):  # cancel came first
                task.cancel()

        loop.call_soon_threadsafe(start)

    def cancel_running_task(self, task_id, task_type):
        """The core worker was asked to cancel a task that runs here (any thread)."""
        if task_type == 0:  # a normal task, on the main thread
            if self.interruptible_task == task_id:
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        elif self._actor_loop is not None:
            def cancel():
                task = self._running_coroutines.get(task_id)
                if task is not None:
                    task.cancel()

            self._actor_loop.call_soon_threadsafe(cancel)
        # A sync actor method runs on: it sees RuntimeContext.is_canceled().

    def on_sigint(self, signum, frame):
        """A worker's SIGINT handler: interrupts the running task only when it
        was cancelled (cancel_running_task sent the signal)."""
        task_id = self.interruptible_task
        if task_id is not None and self.core_worker.is_task_cancelled(task_id):
            raise KeyboardInterrupt(f"task {task_id.hex()} was cancelled")

    def run_actor_method(self, name, group, args, kwargs):
        method = self._actor_method(name)
        semaphore = self._group_semaphores.get(group or "_default")
        if self._actor_loop is not None:
            import asyncio
            import inspect

            context = self.task_context()

            async def run():
                _coroutine_task_context.set(context)
                async with semaphore if semaphore is not None else _no_limit():
                    value = method(*args, **kwargs)
                    if inspect.isawaitable(value):
                        value = await value
                    return value

            return asyncio.run_coroutine_threadsafe(run(), self._actor_loop).result()
        if semaphore is None:
            return method(*args, **kwargs)
        with semaphore:
            return method(*args, **kwargs)

    # ---- objects ---------------------------------------------------------------

    def put(self, value):
        if isinstance(value, ObjectRef):
            raise TypeError(
                "Calling 'put' on an ObjectRef is not allowed. If you really want to do "
                "this, wrap it in a list: cyray.put([ref]).")
        stored = self.serialize_or_store(value)
        ref = stored if isinstance(stored, ObjectRef) else \
            self.core_worker.put_serialized(*stored)
        if call_site.RECORDING:
            call_site.record(self.core_worker, (ref,), "put object")
        return ref

    def serialize_or_store(self, value):
        """`value` serialized as (data, metadata, nested refs) when it fits the
        inline limit; otherwise put in the node's object store (written in
        place, one copy) and returned as its ObjectRef. Task arguments go this
        way too, so nothing large ever rides inside an RPC, as in Ray."""
        payload, raws, metadata, nested = serialization.serialize_parts(value)
        if raws:
            size, parts = serialization.frame_layout(payload, raws)
            if size > self.max_inline_size:
                return self.core_worker.put_in_place(size, parts, metadata, nested)
            return serialization._frame(payload, raws), metadata, nested
        if len(payload) > self.max_inline_size:
            return self.core_worker.put_serialized(payload, metadata, nested)
        return payload, metadata, nested

    def get(self, object_refs, timeout=None):
        timeout_ms = _timeout_ms(timeout, "get")
        explain_after_ms = _explain_after_ms()
        if 0 < explain_after_ms and (timeout_ms < 0 or timeout_ms > explain_after_ms):
            # A get that waits long says once, in the log, why its refs are not ready.
            try:
                values = self.core_worker.get_objects(object_refs, explain_after_ms)
            except exceptions.GetTimeoutError:
                _explain_slow_get(object_refs, explain_after_ms / 1000)
                remaining = -1 if timeout_ms < 0 else timeout_ms - explain_after_ms
                values = self.core_worker.get_objects(object_refs, remaining)
        else:
            values = self.core_worker.get_objects(object_refs, timeout_ms)
        return [serialization.deserialize_or_raise(data, metadata)
                for data, metadata, _ in values]

    def wait(self, object_refs, num_returns, timeout, fetch_local=True):
        return self.core_worker.wait(object_refs, num_returns, _timeout_ms(timeout, "wait"),
                                     fetch_local)


class _no_limit:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


def _bind_methods(cls, instance):
    """{name: callable} of every method of `cls`, bound to `instance` (static and
    class methods as the class defines them), as Ray binds an actor's methods."""
    methods = {}
    for name in dir(cls):
        try:
            member = inspect.getattr_static(cls, name)
        except AttributeError:
            continue
        if isinstance(member, staticmethod):
            methods[name] = member.__func__
        elif isinstance(member, classmethod):
            methods[name] = member.__get__(None, cls)
        elif inspect.isfunction(member):
            methods[name] = member.__get__(instance, cls)
    return methods


def _max_inline_size():
    return knob("max_direct_call_object_size")


_EXPLAIN_AFTER_MS = None


def _explain_after_ms():
    """get_explain_after_s in ms, read once (every get asks)."""
    global _EXPLAIN_AFTER_MS
    if _EXPLAIN_AFTER_MS is None:
        _EXPLAIN_AFTER_MS = int(knob("get_explain_after_s") * 1000)
    return _EXPLAIN_AFTER_MS


def _explain_slow_get(object_refs, waited_s):
    """Logs, from a thread of its own (the get goes on waiting), why the first refs of a
    long get are not ready."""

    def explain_in_background():
        from cyray.util.explainer import explain

        try:
            for ref in object_refs[:3]:
                logger.warning("get() has waited %.0f s for %d ref(s). %s", waited_s,
                               len(object_refs), explain(ref))
        except Exception as e:  # the explanation is a courtesy: never fail the get
            logger.warning("get() has waited %.0f s; no explanation: %s", waited_s, e)

    threading.Thread(target=explain_in_background, name="cyray-explain", daemon=True).start()


def _timeout_ms(timeout, what):
    if timeout is None:
        return -1
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        raise TypeError(f"{what}: timeout must be a number of seconds or None, "
                        f"got {type(timeout).__name__}")
    if timeout < 0:
        raise ValueError(f"{what}: timeout must be >= 0 or None, got {timeout}")
    return int(timeout * 1000)


global_worker = Worker()
_atexit_registered = False


def _check_object_refs(object_refs, what, generators_allowed=False):
    if isinstance(object_refs, ObjectRef):
        return [object_refs], True
    if type(object_refs) is list and all_object_refs(object_refs):
        return list(object_refs), False  # the common case, checked at C speed
    if not isinstance(object_refs, (list, tuple)):
        raise (TypeError if what == "wait" else ValueError)(
            f"Invalid type of object refs, {type(object_refs).__name__}, is given. "
            f"'object_refs' passed to cyray.{what} must either be an ObjectRef or a list "
            "of ObjectRefs.")
    for ref in object_refs:
        if not isinstance(ref, ObjectRef) and not (
                generators_allowed and isinstance(ref, ObjectRefGenerator)):
            raise TypeError(
                f"cyray.{what} takes ObjectRefs, but the list holds a "
                f"{type(ref).__name__} ({serialization._short_repr(ref, 40)}). Pass the "
                "ObjectRefs returned by .remote() or cyray.put().")
    return list(object_refs), False


def is_initialized():
    return global_worker.connected


def init(address=None, *, num_cpus=None, num_gpus=None, resources=None, memory=None,
         object_store_memory=None, namespace=None, ignore_reinit_error=False,
         log_to_driver=True, include_dashboard=None, configure_logging=True,
         logging_level=logging.INFO, logging_format=None, local_mode=False, runtime_env=None,
         _node_ip_address="127.0.0.1", _token=None, **kwargs):
    """Starts a local cluster (address=None) or connects to one, as ray.init; returns a
    RayContext (also a context manager that shuts down on exit)."""
    global _atexit_registered
    worker = global_worker
    with worker.lock:
        if worker.connected:
            if ignore_reinit_error:
                return _context_info(worker)
            raise RuntimeError(
                "Maybe you called cyray.init twice by accident? This error can be suppressed "
                "by passing in 'ignore_reinit_error=True' or by calling 'cyray.shutdown()' "
                "prior to 'cyray.init()'.")
        if "_memory" in kwargs:  # Ray's spelling of memory=
            memory = kwargs.pop("_memory")
        labels = kwargs.pop("labels", None)
        node_name = kwargs.pop("_node_name", None)
        system_config = kwargs.pop("_system_config", None)
        if system_config is not None and not isinstance(system_config, dict):
            raise TypeError("The _system_config must be a dict.")
        # Ray's other keywords: their default is what cyray does; another value is refused.
        dashboard_host = kwargs.pop("dashboard_host", "127.0.0.1")
        dashboard_port = kwargs.pop("dashboard_port", None)
        ray_init_defaults = {
            "job_config": None,
            "logging_config": None, "enable_resource_isolation": False, "cgroup_path": None,
            "system_reserved_cpu": None, "system_reserved_memory": None,
            "proxy_server_url": None, "_enable_object_reconstruction": False,
            "_plasma_directory": None, "object_spilling_directory": None,
            "_driver_object_store_memory": None, "_redis_username": "",
            "_redis_password": "", "_temp_dir": None, "_metrics_export_port": None,
            "_tracing_startup_hook": None, "_skip_env_hook": False,
        }
        for key, value in list(kwargs.items()):
            if key in ray_init_defaults:
                if value != ray_init_defaults[key]:
                    raise NotImplementedError(
                        f"cyray.init({key}={value!r}) is not supported by cyray.")
                del kwargs[key]
        if kwargs:
            raise RuntimeError(f"Unknown keyword argument(s): {', '.join(kwargs)}")
        if local_mode:
            raise RuntimeError("`local_mode` is no longer supported. For interactive "
                               "debugging consider using the Ray distributed debugger.")
        if namespace is not None:
            if not isinstance(namespace, str):
                raise TypeError("namespace must be None or a string.")
            if namespace == "":
                raise ValueError('"" is not a valid namespace. Pass None to not specify a '
                                 "namespace.")
        if isinstance(address, str) and address.startswith("ray://"):
            raise NotImplementedError(
                f"init(address={address!r}): Ray Client (ray://) is not supported by cyray; "
                "run the driver on a node of the cluster and pass the GCS address host:port "
                "or \"auto\".")
        if runtime_env:
            raise NotImplementedError("cyray does not support runtime_env yet")
        if include_dashboard not in (None, False, True):
            raise TypeError(f"include_dashboard takes True, False or None, got "
                            f"{include_dashboard!r}")
        if not include_dashboard and (dashboard_port is not None
                                      or dashboard_host != "127.0.0.1"):
            raise ValueError(
                "cyray.init(dashboard_host=..., dashboard_port=...) without "
                "include_dashboard=True: cyray's dashboard is off unless asked for; pass "
                "include_dashboard=True to start it.")
        if address is not None and (dashboard_port is not None
                                    or dashboard_host != "127.0.0.1"):
            raise ValueError(
                "When connecting to an existing cluster (address=...), dashboard_host and "
                "dashboard_port must not be given: the head node's dashboard is set when the "
                "cluster starts (`cyray start --head --include-dashboard`).")
        level = logging_config.logging_level(logging_level)
        if configure_logging:
            logging_config.configure_logger(level, logging_format)
        if address is not None and (num_cpus is not None or num_gpus is not None or resources
                                    or memory is not None or object_store_memory is not None
                                    or labels is not None or node_name is not None
                                    or system_config):
            raise ValueError(
                "When connecting to an existing cluster (address=...), num_cpus, num_gpus, "
                "resources, memory, object_store_memory, labels, _node_name and "
                "_system_config must not be given: they are set when the cluster starts.")
        from cyray._private.node import (
            LocalNode,
            find_auth_token,
            find_local_node,
            resolve_address,
        )
        from cyray._raylet import set_cluster_token

        if address is not None:
            # Join a running cluster through its GCS; start nothing.
            gcs_address = resolve_address(address)
            token = find_auth_token(gcs_address, _token)
            set_cluster_token(token)
            raylet_socket, logs_dir = find_local_node(gcs_address, _node_ip_address)
            node = None
            if include_dashboard:
                from cyray.dashboard.lookup import cluster_dashboard_url

                if not cluster_dashboard_url(gcs_address, token):
                    raise ValueError(
                        f"init(address={address!r}, include_dashboard=True): the cluster at "
                        f"{gcs_address} runs no dashboard, and a driver that joins a cluster "
                        "starts none. Start the cluster's head with it (`cyray start --head "
                        "--include-dashboard`, or init(include_dashboard=True)).")
        else:
            node = LocalNode(
                _node_resources(num_cpus, num_gpus, resources, memory, object_store_memory),
                node_ip_address=_node_ip_address,
                log_level=logging_config.process_log_level(
                    level, explicit=logging_level != logging.INFO),
                labels=labels, node_name=node_name, system_config=system_config,
                include_dashboard=bool(include_dashboard), dashboard_host=dashboard_host,
                dashboard_port=dashboard_port)
            token = node.auth_token
            set_cluster_token(token)
            node.start()
            gcs_address, raylet_socket, logs_dir = node.gcs_address, node.raylet_socket, \
                node.logs_dir
        global_worker.auth_token = token  # for the few GCS calls made from Python
        try:
            core_worker = CoreWorker(True, raylet_socket, gcs_address, _node_ip_address, -1, b"",
                                     namespace or "", " ".join(sys.argv), token)
            core_worker.connect()
        except BaseException:
            if node is not None:
                node.kill_all()
            raise
        worker.node = node
        worker.core_worker = core_worker
        worker.mode = SCRIPT_MODE
        worker.gcs_address = gcs_address
        worker.node_ip_address = _node_ip_address
        worker.namespace = namespace or core_worker.get_job_id().hex()
        worker.dashboard_url = node.dashboard_url if node is not None else \
            _cluster_dashboard_url(core_worker)
        script_dir = os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv[0] else ""
        worker.function_actor_manager.export_job_config(
            core_worker.get_job_id(), [p for p in (script_dir, os.getcwd()) if p],
            worker.namespace)
        if log_to_driver:
            from cyray._private.log_monitor import LogMonitor

            worker.log_monitor = LogMonitor(logs_dir)
            worker.log_monitor.start()
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
        return _context_info(worker)


def _node_resources(num_cpus, num_gpus, resources, memory, object_store_memory=None):
    """The resources of a node started here, "memory" and "object_store_memory" included
    (detected as Ray does when not given)."""
    from cyray._private.node import detect_num_gpus, resolve_memory
    from cyray._private.options import check_resource_amount

    if num_cpus is None:
        num_cpus = os.cpu_count() or 1
    if num_gpus is None:
        num_gpus = detect_num_gpus()
    check_resource_amount("num_cpus", num_cpus)
    check_resource_amount("num_gpus", num_gpus)
    if memory is not None:
        check_resource_amount("memory", memory)
    if object_store_memory is not None:
        check_resource_amount("object_store_memory", object_store_memory)
    memory, object_store_memory = resolve_memory(memory, object_store_memory)
    out = {"CPU": num_cpus, "GPU": num_gpus, "memory": memory,
           "object_store_memory": object_store_memory}
    for name, amount in (resources or {}).items():
        if name in ("CPU", "GPU", "memory", "object_store_memory"):
            raise ValueError(
                f"Use num_cpus/num_gpus/memory/object_store_memory instead of "
                f"resources={{'{name}': ...}} in cyray.init().")
        check_resource_amount(f"resources[{name!r}]", amount)
        out[name] = amount
    return {k: v for k, v in out.items() if v}


def _cluster_dashboard_url(core_worker):
    """The "host:port" of the joined cluster's dashboard (from the GCS's KV), or None."""
    from cyray.dashboard import KV_NAMESPACE, KV_URL_KEY

    try:
        url = core_worker.kv_get(KV_NAMESPACE, KV_URL_KEY)
    except Exception:
        return None
    return url.decode() if url else None


def _context_info(worker):
    node = worker.node
    dashboard_url = getattr(worker, "dashboard_url", None)
    context = RayContext({
        "node_ip_address": worker.node_ip_address,
        "raylet_ip_address": worker.node_ip_address,
        "gcs_address": worker.gcs_address,
        "address": worker.gcs_address,
        "session_dir": node.session_dir if node else None,
        "raylet_socket_name": node.raylet_socket if node else None,
        "webui_url": dashboard_url,
        "node_id": worker.core_worker.get_node_id().hex(),
    })
    context.dashboard_url = dashboard_url  # as Ray: "host:port", None without a dashboard
    return context


def shutdown(_exiting_interpreter=False):
    """Disconnects and ends every process this driver started."""
    worker = global_worker
    with worker.lock:
        if worker.mode != SCRIPT_MODE:
            return
        if worker.core_worker is not None:
            worker.core_worker.shutdown()
            # Handles destroyed from now on must not reach for the old core worker.
            worker.core_worker = None
        if worker.log_monitor is not None:
            worker.log_monitor.stop()
            worker.log_monitor = None
        if worker.node is not None:
            worker.node.kill_all()
            worker.node.remove_session_dir()
            worker.node = None
        worker.core_worker = None
        worker.mode = None
        worker.function_actor_manager = FunctionActorManager(worker)


def _auto_init():
    if not global_worker.connected:
        init()


_warned_blocking_get_in_async_actor = False


def _warn_if_blocking_an_event_loop():
    """As Ray: a get inside an async actor blocks its event loop; say so once."""
    global _warned_blocking_get_in_async_actor
    if _warned_blocking_get_in_async_actor or global_worker._actor_loop is None:
        return
    import asyncio

    if asyncio._get_running_loop() is global_worker._actor_loop:
        _warned_blocking_get_in_async_actor = True
        logger.warning("Using blocking cyray.get inside async actor. This blocks the event "
                       "loop. Please use `await` on object ref with asyncio.gather if you "
                       "want to yield execution to the event loop instead.")


def get(object_refs, *, timeout=None, progress=False):
    """The values of `object_refs` (one ObjectRef or a list), as ray.get. Beyond Ray:
    progress=True draws a progress bar while many refs become ready."""
    if isinstance(object_refs, ObjectRefGenerator):
        return object_refs  # as Ray: its items are read by iterating it
    refs, single = _check_object_refs(object_refs, "get")
    _auto_init()
    _warn_if_blocking_an_event_loop()
    if progress and not single:
        import time

        from cyray.util.progress import progress as progress_bar

        start = time.monotonic()
        for _ in progress_bar(refs, desc="get", timeout=timeout):
            pass
        if timeout is not None:
            timeout = max(0.0, timeout - (time.monotonic() - start))
    values = global_worker.get(refs, timeout)
    return values[0] if single else values


def put(value, *, _owner=None):
    """Stores `value` in the object store and returns its ObjectRef, as ray.put."""
    if _owner is not None:
        from cyray.actor import ActorHandle

        if not isinstance(_owner, ActorHandle):
            raise TypeError(f"put(_owner=...) expects an actor handle, got "
                            f"{type(_owner).__name__}")
        raise NotImplementedError(
            "put(_owner=...): ownership transfer to another actor is not supported yet by "
            "cyray; the object is owned by the process that puts it")
    _auto_init()
    return global_worker.put(value)


def cancel(ray_waitable, *, force=False, recursive=True):
    """Cancels the task that makes `ray_waitable`, as ray.cancel.

    A task not running yet never runs, and getting its value raises TaskCancelledError.
    A running task gets KeyboardInterrupt in its code (TaskCancelledError on get); with
    force=True its worker is killed instead. A running actor call is not interrupted: an
    async one's coroutine is cancelled, a sync one sees RuntimeContext.is_canceled(), and
    its result is TaskCancelledError. recursive=True cancels the tasks it submitted too.
    Cancelled tasks are not retried; cancelling a finished task does nothing."""
    if isinstance(ray_waitable, ObjectRefGenerator):
        ray_waitable = ray_waitable.completed()
    if not isinstance(ray_waitable, ObjectRef):
        raise TypeError("cancel() only supported for object refs. For actors, try kill(). "
                        f"Got: {type(ray_waitable)}.")
    if not isinstance(force, bool):
        raise TypeError(f"force must be True or False, got {type(force).__name__} {force!r}")
    if not isinstance(recursive, bool):
        raise TypeError(f"recursive must be True or False, got {type(recursive).__name__} "
                        f"{recursive!r}")
    global_worker.check_connected()
    global_worker.core_worker.cancel_task(ray_waitable, force, recursive)


def wait(object_refs, *, num_returns=1, timeout=None, fetch_local=True, progress=False):
    """(ready, not_ready) once `num_returns` of `object_refs` are ready, as ray.wait.

    fetch_local: with True (the default), a ready object that only another node holds is
    pulled to this node before wait returns; with False it is ready wherever it is.
    Beyond Ray: progress=True draws a progress bar toward `num_returns`."""
    if not isinstance(fetch_local, bool):
        raise TypeError(f"fetch_local must be True or False, got {type(fetch_local).__name__} "
                        f"{fetch_local!r}")
    if isinstance(object_refs, (ObjectRef, ObjectRefGenerator)):
        raise TypeError("wait() expected a list of ObjectRefs or ObjectRefGenerators, got a "
                        "single ObjectRef or ObjectRefGenerator")
    if type(object_refs) is list and all_object_refs(object_refs):
        refs, generators = list(object_refs), False  # the common case, checked at C speed
    else:
        refs, _ = _check_object_refs(object_refs, "wait", generators_allowed=True)
        generators = any(isinstance(ref, ObjectRefGenerator) for ref in refs)
    if not refs:
        return [], []
    if len(set(refs)) != len(refs):
        raise ValueError("Wait requires a list of unique object refs.")
    if not isinstance(num_returns, int) or isinstance(num_returns, bool) or num_returns <= 0:
        raise ValueError(f"Invalid number of objects to return {num_returns!r}: "
                         "num_returns must be a positive integer.")
    if num_returns > len(refs):
        raise ValueError("num_returns cannot be greater than the number of objects provided "
                         f"to cyray.wait ({num_returns} > {len(refs)}).")
    _auto_init()
    if generators:
        return _wait_with_generators(refs, num_returns, timeout, fetch_local)
    if progress and num_returns > 1:
        return _wait_with_progress(refs, num_returns, timeout, fetch_local)
    return global_worker.wait(refs, num_returns, timeout, fetch_local)


def _wait_with_progress(refs, num_returns, timeout, fetch_local):
    """wait() in short rounds, drawing a bar of the refs ready so far."""
    import time

    from cyray.util.progress import _POLL_S, _make_bar

    deadline = None if timeout is None else time.monotonic() + timeout
    ready, pending = [], list(refs)
    bar = _make_bar(num_returns, "wait")
    try:
        while len(ready) < num_returns:
            step = _POLL_S if deadline is None else max(0.0, min(_POLL_S,
                                                               deadline - time.monotonic()))
            now_ready, pending = global_worker.wait(pending, len(pending), step, fetch_local)
            take = now_ready[:num_returns - len(ready)]
            pending = now_ready[len(take):] + pending
            ready += take
            if take:
                bar.update(len(take))
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        bar.close()
    order = {id(ref): i for i, ref in enumerate(refs)}
    pending.sort(key=lambda ref: order[id(ref)])
    return ready, pending


def _wait_with_generators(refs, num_returns, timeout, fetch_local):
    """wait() over ObjectRefs and ObjectRefGenerators: a generator is ready when its
    next item is (or it ended), as Ray. Checked in short rounds (generators are rare
    in waits)."""
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    plain = [ref for ref in refs if isinstance(ref, ObjectRef)]
    while True:
        ready = {id(g) for g in refs if isinstance(g, ObjectRefGenerator)
                 and (g.next_ready() or g.is_finished())}
        if plain:
            left = num_returns - len(ready)
            slice_s = 0.01 if deadline is None else max(0, min(0.01, deadline - time.monotonic()))
            ready_refs, _ = global_worker.wait(plain, max(1, min(left, len(plain))), slice_s,
                                               fetch_local)
            ready.update(id(r) for r in ready_refs)
        elif len(ready) < num_returns and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.01)
        if len(ready) >= num_returns or (deadline is not None and time.monotonic() >= deadline):
            done = [r for r in refs if id(r) in ready][:num_returns]
            chosen = {id(r) for r in done}
            return done, [r for r in refs if id(r) not in chosen]
