"""Exceptions raised by cyray, named, arranged and constructed as Ray's (ray.exceptions).

Every class here pickles (a task may catch one and raise it again, or return it)."""

import os
import pickle
import re

import cloudpickle


class RayError(Exception):
    """Base of every cyray error."""


class RaySystemError(RayError):
    """A failure of cyray itself (a process or connection), not of user code."""

    def __init__(self, client_exc="", traceback_str=None):
        super().__init__(client_exc, traceback_str)
        self.client_exc = client_exc
        self.traceback_str = traceback_str

    def __str__(self):
        text = f"System error: {self.client_exc}"
        if self.traceback_str:
            text += f"\ntraceback: {self.traceback_str}"
        return text


class RayTaskError(RayError):
    """A task or actor method raised; carries the remote traceback and cause.

    `as_instanceof_cause()` makes an object that is also an instance of the
    cause's type, so `except ZeroDivisionError` catches a remote division by
    zero, as in Ray.

    The cause travels pickled apart from the rest: when it cannot be pickled where it was
    raised, or rebuilt where it is caught (its class is missing there, or its constructor
    needs arguments that pickle does not keep), the error still arrives, naming the task,
    with the original type and message in its traceback and a RayError as cause saying
    why the original is not there."""

    def __init__(self, function_name, traceback_str, cause, proctitle=None, pid=None, ip=None,
                 actor_repr=None, actor_id=None):
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause
        self.proctitle = proctitle
        self.pid = pid if pid is not None else os.getpid()
        self.ip = ip
        # The repr and hex ID of the actor whose method raised, when known (as Ray).
        self.actor_repr = actor_repr
        self._actor_id = actor_id
        super().__init__(self._message())

    def _message(self):
        lines = self.traceback_str.rstrip().split("\n") if self.traceback_str else []
        head = f"{type(self.cause).__name__}"
        where = f"pid={self.pid}, ip={self.ip}" if self.ip else f"pid={self.pid}"
        actor_repr = self.__dict__.get("actor_repr")
        if actor_repr:
            where += f", actor_id={self.__dict__.get('_actor_id')}, repr={actor_repr}"
        where = f"({where})"
        out = [f"{self.function_name}() {where}", *lines]
        if not lines:
            out.append(f"{head}: {self.cause}")
        elif isinstance(self.cause, _UnavailableCause):
            out.append(str(self.cause))
        return "\n".join(out)

    def __str__(self):
        return self._message()

    def __reduce__(self):
        return (
            _rebuild_task_error,
            (self.function_name, self.traceback_str, _pickled_cause(self.cause),
             self.proctitle, self.pid, self.ip, self.__dict__.get("actor_repr"),
             self.__dict__.get("_actor_id")),
        )

    def as_instanceof_cause(self):
        """An exception that is both a RayTaskError and an instance of the cause."""
        cause_cls = type(self.cause)
        if (isinstance(self, UnserializableException) or issubclass(cause_cls, RayTaskError)
                or issubclass(RayTaskError, cause_cls)):
            return self
        try:
            cls = _dual_class(cause_cls)
            # Not through any __init__: the cause's class may take other arguments.
            err = cls.__new__(cls)
        except TypeError:
            return self
        err.__dict__.update(function_name=self.function_name, traceback_str=self.traceback_str,
                            cause=self.cause, proctitle=self.proctitle, pid=self.pid,
                            ip=self.ip, actor_repr=self.__dict__.get("actor_repr"),
                            _actor_id=self.__dict__.get("_actor_id"))
        err.args = self.cause.args if hasattr(self.cause, "args") else ()
        return err


class _UnavailableCause(RayError):
    """Stands for the cause of a RayTaskError that could not be pickled where it was raised
    or rebuilt where it is caught (a RayError, as Ray makes it); says which exception it
    was and why."""


def _pickled_cause(cause):
    """(pickled cause or None, its type's name, its message, why it could not be pickled)."""
    try:
        return cloudpickle.dumps(cause, protocol=5), _type_name(cause), str(cause), ""
    except Exception as e:
        return None, _type_name(cause), _safe_str(cause), f"{type(e).__name__}: {e}"


def _rebuild_task_error(function_name, traceback_str, pickled_cause, proctitle, pid, ip,
                        actor_repr=None, actor_id=None, unrebuildable=False):
    data, type_name, message, reason = pickled_cause
    cause = None
    if data is not None:
        try:
            cause = pickle.loads(data)
        except Exception as e:
            reason = f"it could not be rebuilt here: {type(e).__name__}: {e}"
            unrebuildable = True
    else:
        reason = f"it could not be serialized: {reason}"
    if cause is None:
        cause = _UnavailableCause(
            f"The original exception {type_name}({message!r}) of {function_name}() is not "
            f"available: {reason}. Make the exception class picklable (its constructor "
            "called with self.args rebuilds it) and importable by the caller.")
    # A cause pickled where it was raised but not rebuilt here is what Ray reports as
    # UnserializableException; this error is that and still the RayTaskError it was.
    cls = _UnrebuildableTaskError if unrebuildable else RayTaskError
    return cls(function_name, traceback_str, cause, proctitle, pid, ip, actor_repr, actor_id)


def _type_name(value):
    cls = type(value)
    return cls.__qualname__ if cls.__module__ in ("builtins", "__main__") else \
        f"{cls.__module__}.{cls.__qualname__}"


def _safe_str(value):
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}>"


_DUAL_CLASSES = {}


def _dual_class(cause_cls):
    cls = _DUAL_CLASSES.get(cause_cls)
    if cls is None:
        name = f"RayTaskError({cause_cls.__name__})"

        def __str__(self):
            return RayTaskError._message(self)

        def __reduce__(self):
            return RayTaskError.__reduce__(self)

        def __getattr__(self, attr):
            # What the cause's class keeps in its instances (as Ray's dual class).
            cause = self.__dict__.get("cause")
            if cause is None:
                raise AttributeError(attr)
            return getattr(cause, attr)

        cls = type(name, (RayTaskError, cause_cls),
                   {"__str__": __str__, "__reduce__": __reduce__, "__getattr__": __getattr__,
                    "__module__": cause_cls.__module__})
        cls.__qualname__ = name
        _DUAL_CLASSES[cause_cls] = cls
    return cls


class WorkerCrashedError(RayError):
    """The worker running the task died before it finished (after all retries)."""

    BASE_ERROR_MSG = ("The worker died unexpectedly while executing this task. Check "
                      "python-core-worker-*.log files for more information.")

    def __str__(self):
        # cyray's core says how the worker ended (signal, exit code) after Ray's text.
        detail = self.args[0] if self.args else None
        return f"{self.BASE_ERROR_MSG}\n{detail}" if detail else self.BASE_ERROR_MSG


class LocalRayletDiedError(RayError):
    """The raylet of this node died, so the task could not run."""

    def __str__(self):
        text = "The task's local raylet died. Check raylet.out for more information."
        return f"{text}\n{self.args[0]}" if self.args and self.args[0] else text


class NodeDiedError(RayError):
    """The node is dead or unreachable."""

    def __init__(self, message, node_id=None, node_ip_address=None):
        super().__init__(message)
        self.message = message
        # The node's ID in hex and its IP, when known (cyray's; Ray's has only the message).
        self.node_id = node_id
        self.node_ip_address = node_ip_address

    def __str__(self):
        return self.message


class TaskUnschedulableError(RayError):
    """The task cannot be scheduled: no node can ever satisfy its resources."""

    def __init__(self, error_message):
        super().__init__(error_message)
        self.error_message = error_message

    def __str__(self):
        return f"The task is not schedulable: {self.error_message}"


class ActorUnschedulableError(RayError):
    """The actor cannot be scheduled (e.g. the node it must run on is dead)."""

    def __init__(self, error_message):
        super().__init__(error_message)
        self.error_message = error_message

    def __str__(self):
        return f"The actor is not schedulable: {self.error_message}"


class TaskCancelledError(RayError):
    """The task was cancelled."""

    def __init__(self, task_id=None, error_message=None):
        super().__init__(task_id, error_message)
        self.task_id = task_id
        self.error_message = error_message

    def __str__(self):
        text = f"Task: {self.task_id} was cancelled. " if self.task_id else ""
        return text + (self.error_message or "")


# ---- lost objects -----------------------------------------------------------------------

# How Ray joins the lines of a recorded call site (ray_constants.CALL_STACK_LINE_DELIMITER).
_CALL_STACK_LINE_DELIMITER = " | "
# An ObjectID in hex (28 bytes).
_OBJECT_HEX = re.compile(r"\b[0-9a-f]{56}\b")


class ObjectLostError(RayError):
    """The object's value is lost and cannot be recovered.

    Constructed as Ray's, from the object's hex ID, its owner's serialized Address and the
    call site that created it. cyray's core reports a lost object with a sentence naming it
    and saying why ("Object 1f... was freed by its owner before it could be fetched."):
    given that sentence alone, the error takes the object's ID from it and says it in
    place of Ray's generic explanation."""

    def __init__(self, object_ref_hex, owner_address=None, call_site=""):
        super().__init__(object_ref_hex, owner_address, call_site)
        self.object_ref_hex = object_ref_hex
        self.owner_address = owner_address
        self.call_site = (call_site or "").replace(_CALL_STACK_LINE_DELIMITER, "\n  ")
        self._detail = None
        if (isinstance(object_ref_hex, str) and owner_address is None and not call_site
                and not _OBJECT_HEX.fullmatch(object_ref_hex)):
            found = _OBJECT_HEX.search(object_ref_hex)
            self._detail = object_ref_hex
            self.object_ref_hex = found.group(0) if found else ""

    def _base_str(self):
        text = f"Failed to retrieve object {self.object_ref_hex}. "
        if self.call_site:
            return text + f"The ObjectRef was created at: {self.call_site}"
        # Ray suggests RAY_record_ref_creation_sites=1 here; cyray records no call sites.
        return text + "cyray does not record where ObjectRefs are created."

    def _explanation(self):
        return (f"All copies of {self.object_ref_hex} have been lost due to node failure. "
                "Check the cluster's logs for more information about the failure.")

    def __str__(self):
        return f"{self._base_str()}\n\n{self._detail or self._explanation()}"


class ObjectFetchTimedOutError(ObjectLostError):
    """Fetching the object timed out: no location of it was found."""

    def _explanation(self):
        return (f"Fetch for object {self.object_ref_hex} timed out because no locations were "
                "found for the object. This may indicate a system-level bug.")


class ReferenceCountingAssertionError(ObjectLostError, AssertionError):
    """The object was deleted while a reference to it still existed."""

    def _explanation(self):
        return ("The object has already been deleted by the reference counting protocol. "
                "This should not happen.")


class ObjectFreedError(ObjectLostError):
    """The object was freed by the application (the internal `free` call)."""

    def _explanation(self):
        return ("The object was manually freed using the internal `free` call. Please ensure "
                "that `free` is only called once the object is no longer needed.")


class OwnerDiedError(ObjectLostError):
    """The process that owned the object died, so its value cannot be fetched."""

    def _explanation(self):
        logs = "the session's logs directory"
        where = None
        if self.owner_address:
            try:
                from cyray.protobuf import common_pb2

                address = common_pb2.Address()
                address.ParseFromString(self.owner_address)
                worker_hex = address.worker_id.hex()
                where = (f"Owner worker ID: {worker_hex}, owner node ID: "
                         f"{address.node_id.hex() or 'unknown'}, owner address: "
                         f"{address.ip_address}:{address.port}.")
                logs = f"the files naming {worker_hex} at IP address {address.ip_address}"
            except Exception:
                where = None
        text = ("The object's owner has exited. This is the Python worker that first created "
                "the ObjectRef via `.remote()` or `ray.put()`. Check the cluster's logs "
                f"({logs}) for more information about the Python worker failure.")
        return f"{text}\n\n{where}" if where else text


class ObjectReconstructionFailedError(ObjectLostError):
    """Every copy of the object was lost and running its task again to rebuild it
    failed (cyray rebuilds the returns of retryable tasks whose arguments were inline)."""

    def __init__(self, object_ref_hex, reason=None, reason_message=None, owner_address=None,
                 call_site=""):
        super().__init__(object_ref_hex, owner_address, call_site)
        self.args = (object_ref_hex, reason, reason_message, owner_address, call_site)
        self.reason = reason
        self.reason_message = reason_message or (
            "Unknown error reason. This should not happen, please file an issue at "
            "https://github.com/ray-project/ray/issues.")

    def __str__(self):
        name = self.reason if isinstance(self.reason, str) else "UNKNOWN"
        if self.reason is not None and not isinstance(self.reason, str):
            try:
                from cyray.protobuf import common_pb2

                name = common_pb2.ErrorType.Name(self.reason)
            except Exception:
                name = str(self.reason)
        return f"{self._base_str()}\n\n[{name}] {self.reason_message}"


class ObjectStoreFullError(RayError):
    """The object store has no room for the object, even after spilling."""

    def __str__(self):
        return super().__str__() + (
            "\nThe local object store is full of objects that are still in scope and cannot "
            "be evicted.")


class OutOfDiskError(RayError):
    """The object store and the local disk are both full."""

    def __str__(self):
        return super().__str__() + (
            "\nThe object cannot be created because the local object store is full and the "
            "local disk's utilization is over capacity (95% by default). Tip: Use `df` on this "
            "node to check disk usage.")


class OutOfMemoryError(RayError):
    """The node ran low on memory and tasks or actors were killed to free some."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


class GetTimeoutError(RayError, TimeoutError):
    """`get` or `wait` passed its timeout before the objects were ready."""


class PlasmaObjectNotAvailable(RayError):
    """An object was not available within the given timeout."""


# ---- actors -----------------------------------------------------------------------------


class RayActorError(RayError):
    """The actor failed before finishing the call: it died (ActorDiedError) or is
    unreachable for now (ActorUnavailableError)."""

    BASE_ERROR_MSG = "The actor experienced an error before finishing this task."

    def __init__(self, actor_id=None, error_msg=BASE_ERROR_MSG, actor_init_failed=False,
                 preempted=False):
        super().__init__(actor_id, error_msg, actor_init_failed, preempted)
        # The actor's ID in hex, when known.
        self.actor_id = actor_id
        self.error_msg = error_msg
        self._actor_init_failed = actor_init_failed
        self._preempted = preempted

    def __str__(self):
        return self.error_msg

    @property
    def actor_init_failed(self):
        """Whether the actor died in its __init__."""
        return self._actor_init_failed

    @property
    def preempted(self):
        """Whether the actor died because its node was preempted (never, in cyray)."""
        return self._preempted


class ActorDiedError(RayActorError):
    """The actor died: before or while running the call, or it was killed."""

    BASE_ERROR_MSG = "The actor died unexpectedly before finishing this task."

    def __init__(self, cause=None):
        error_msg = ActorDiedError.BASE_ERROR_MSG
        init_failed = False
        actor_id = None
        if isinstance(cause, RayTaskError):
            init_failed = True
            actor_id = cause.__dict__.get("_actor_id")
            error_msg = f"The actor died because of an error raised in its creation task, {cause}"
        elif cause is not None:
            raise TypeError(f"ActorDiedError takes the RayTaskError of the actor's creation "
                            f"task or None, got {type(cause).__name__}")
        super().__init__(actor_id, error_msg, init_failed, False)
        self.args = (cause,)

    @staticmethod
    def from_task_error(task_error):
        return ActorDiedError(task_error)

    # Its __cause__ (the NodeDiedError of a node's death) travels with it when pickled.
    def __reduce__(self):
        state = dict(self.__dict__)
        if self.__cause__ is not None:
            state["__cause__"] = self.__cause__
        return type(self), self.args, state

    def __setstate__(self, state):
        state = dict(state)
        cause = state.pop("__cause__", None)
        self.__dict__.update(state)
        if cause is not None:
            self.__cause__ = cause


class ActorUnavailableError(RayActorError):
    """The actor cannot be reached for now but may come back; the call may or may not
    have run."""

    def __init__(self, error_message, actor_id):
        actor_hex = actor_id.hex() if isinstance(actor_id, bytes) else actor_id
        error_msg = (f"The actor {actor_hex} is unavailable: {error_message}. The task may or "
                     "may not have been executed on the actor.")
        super().__init__(actor_hex, error_msg, False, False)
        self.args = (error_message, actor_id)


class AsyncioActorExit(RayError):
    """Raised in an asyncio actor that exits on purpose (exit_actor())."""


class ActorAlreadyExistsError(ValueError, RayError):
    """A named actor of that name already exists in the namespace (also a ValueError)."""

    def __init__(self, error_message):
        super().__init__(error_message)
        self.error_message = error_message

    def __str__(self):
        return self.error_message


class ActorHandleNotFoundError(ValueError, RayError):
    """The actor handle is not known to this session (e.g. made before shutdown/init);
    also a ValueError."""

    def __init__(self, error_message):
        super().__init__(error_message)
        self.error_message = error_message

    def __str__(self):
        return self.error_message


class PendingCallsLimitExceeded(RayError):
    """More calls are pending on an actor handle than its `max_pending_calls` allows."""


# ---- placement groups, runtime environments ---------------------------------------------


class TaskPlacementGroupRemoved(RayError):
    """The placement group of the task was removed."""

    def __str__(self):
        return "The placement group corresponding to this task has been removed."


class ActorPlacementGroupRemoved(RayError):
    """The placement group of the actor was removed."""

    def __str__(self):
        return "The placement group corresponding to this Actor has been removed."


class RuntimeEnvSetupError(RayError):
    """The runtime environment could not be set up."""

    def __init__(self, error_message=None):
        super().__init__(error_message)
        self.error_message = error_message

    def __str__(self):
        return "\n".join(["Failed to set up runtime environment.",
                          *([self.error_message] if self.error_message else [])])


# ---- system -----------------------------------------------------------------------------


class AuthenticationError(RayError):
    """The cluster's authentication token is missing or does not match."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message
        self.__suppress_context__ = True

    def __str__(self):
        return (f"{self.message}. Ensure that the token for the cluster is available to this "
                "process (cyray reads it from the cluster's session directory or is given it "
                "through init(_token=...)).")


class RpcError(RayError):
    """An error of the underlying RPC system."""

    def __init__(self, message, rpc_code=None):
        super().__init__(message, rpc_code)
        self.message = message
        self.rpc_code = rpc_code

    def __str__(self):
        return self.message


class UserCodeException(RayError):
    """Wraps an exception raised by user code (retry_exceptions looks at its cause)."""


class CrossLanguageError(RayError):
    """An exception raised in another language (never, in cyray: Python only)."""

    def __init__(self, ray_exception):
        language = getattr(ray_exception, "language", None)
        if isinstance(language, int):
            language = {0: "PYTHON", 1: "JAVA", 2: "CPP"}.get(language, str(language))
        formatted = getattr(ray_exception, "formatted_exception_string", ray_exception)
        super().__init__(f"An exception raised from {language}:\n{formatted}")

    def __reduce__(self):
        return _rebuild_plain, (type(self), self.args, self.__dict__)


def _rebuild_plain(cls, args, state):
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class UnserializableException(RayError):
    """An exception (the cause of a task's error) could not be deserialized here; says
    what it was, with its traceback."""

    def __init__(self, original_stack_trace):
        super().__init__(original_stack_trace)
        self._original_stack_trace = original_stack_trace

    def __str__(self):
        return ("Failed to deserialize exception. Refer to "
                "https://docs.ray.io/en/latest/ray-core/objects/serialization.html"
                "#custom-serializers-for-exceptions for more information.\n"
                f"Original exception:\n{self._original_stack_trace}")


class _UnrebuildableTaskError(RayTaskError, UnserializableException):
    """A RayTaskError whose cause was pickled where it was raised but cannot be unpickled
    here: an UnserializableException, as in Ray, that still names the task."""

    def __init__(self, *args):
        RayTaskError.__init__(self, *args)
        self._original_stack_trace = f"RayTaskError: {self._message()}"

    __str__ = UnserializableException.__str__

    def __reduce__(self):
        rebuild, args = RayTaskError.__reduce__(self)
        return rebuild, (*args, True)


class ObjectRefStreamEndOfStreamError(RayError):
    """A streaming generator has no more ObjectRefs to give."""


class OufOfBandObjectRefSerializationException(RayError):
    """An ObjectRef was pickled out of band (with plain cloudpickle), an anti-pattern."""


class StreamingGeneratorReplayInconsistentError(RaySystemError):
    """A streaming generator task's replay produced a different number of objects."""


class RayChannelError(RaySystemError):
    """A system error of a compiled-graph channel (no compiled graphs in cyray)."""


class RayChannelTimeoutError(RayChannelError, TimeoutError):
    """A compiled-graph channel operation timed out."""


class RayCgraphCapacityExceeded(RaySystemError):
    """A compiled-graph channel's buffer is full."""


class RayDirectTransportError(RaySystemError):
    """An error during a direct-transport transfer."""


__all__ = [name for name, obj in list(globals().items())
           if isinstance(obj, type) and issubclass(obj, BaseException)
           and not name.startswith("_")]
