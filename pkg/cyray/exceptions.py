"""Exceptions raised by cyray, named, arranged and constructed as Ray's (ray.exceptions).

Every class here pickles (a task may catch one and raise it again, or return it)."""

import os
import pickle

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

    def __init__(self, function_name, traceback_str, cause, proctitle=None, pid=None, ip=None):
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause
        self.proctitle = proctitle
        self.pid = pid if pid is not None else os.getpid()
        self.ip = ip
        super().__init__(self._message())

    def _message(self):
        lines = self.traceback_str.rstrip().split("\n") if self.traceback_str else []
        head = f"{type(self.cause).__name__}"
        where = f"(pid={self.pid}, ip={self.ip})" if self.ip else f"(pid={self.pid})"
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
             self.proctitle, self.pid, self.ip),
        )

    def as_instanceof_cause(self):
        """An exception that is both a RayTaskError and an instance of the cause."""
        cause_cls = type(self.cause)
        if issubclass(cause_cls, RayTaskError) or issubclass(RayTaskError, cause_cls):
            return self
        try:
            cls = _dual_class(cause_cls)
            # Not through any __init__: the cause's class may take other arguments.
            err = cls.__new__(cls)
        except TypeError:
            return self
        err.__dict__.update(function_name=self.function_name, traceback_str=self.traceback_str,
                            cause=self.cause, proctitle=self.proctitle, pid=self.pid,
                            ip=self.ip)
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


def _rebuild_task_error(function_name, traceback_str, pickled_cause, proctitle, pid, ip):
    data, type_name, message, reason = pickled_cause
    cause = None
    if data is not None:
        try:
            cause = pickle.loads(data)
        except Exception as e:
            reason = f"it could not be rebuilt here: {type(e).__name__}: {e}"
    else:
        reason = f"it could not be serialized: {reason}"
    if cause is None:
        cause = _UnavailableCause(
            f"The original exception {type_name}({message!r}) of {function_name}() is not "
            f"available: {reason}. Make the exception class picklable (its constructor "
            "called with self.args rebuilds it) and importable by the caller.")
    return RayTaskError(function_name, traceback_str, cause, proctitle, pid, ip)


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

    def __str__(self):
        return (self.args[0] if self.args else
                "The worker died unexpectedly while executing this task.")


class LocalRayletDiedError(RayError):
    """The raylet of this node died, so the task could not run."""

    def __str__(self):
        text = "The task's local raylet died. Check raylet.out for more information."
        return f"{text}\n{self.args[0]}" if self.args and self.args[0] else text


class NodeDiedError(RayError):
    """The node is dead or unreachable."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


class TaskUnschedulableError(RayError):
    """The task cannot be scheduled: no node can ever satisfy its resources."""

    def __init__(self, error_message):
        super().__init__(error_message)
        self.error_message = error_message

    def __str__(self):
        return f"The task is not schedulable: {self.error_message}"


class TaskCancelledError(RayError):
    """The task was cancelled."""

    def __init__(self, task_id=None, error_message=None):
        super().__init__(task_id, error_message)
        self.task_id = task_id
        self.error_message = error_message

    def __str__(self):
        text = f"Task: {self.task_id} was cancelled. " if self.task_id else ""
        return text + (self.error_message or "")


class ObjectLostError(RayError):
    """The object's value is lost and cannot be recovered."""


class OwnerDiedError(ObjectLostError):
    """The process that owned the object died, so its value cannot be fetched."""


class ObjectStoreFullError(RayError):
    """The object store has no room for the object, even after spilling."""


class GetTimeoutError(RayError, TimeoutError):
    """`get` or `wait` passed its timeout before the objects were ready."""


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
        if isinstance(cause, RayTaskError):
            init_failed = True
            error_msg = f"The actor died because of an error raised in its creation task, {cause}"
        elif cause is not None:
            raise TypeError(f"ActorDiedError takes the RayTaskError of the actor's creation "
                            f"task or None, got {type(cause).__name__}")
        super().__init__(None, error_msg, init_failed, False)
        self.args = (cause,)

    @staticmethod
    def from_task_error(task_error):
        return ActorDiedError(task_error)


class ActorUnavailableError(RayActorError):
    """The actor cannot be reached for now but may come back; the call may or may not
    have run."""

    def __init__(self, error_message, actor_id):
        actor_hex = actor_id.hex() if isinstance(actor_id, bytes) else actor_id
        who = f"The actor {actor_hex}" if actor_hex else "The actor"
        error_msg = (f"{who} is unavailable: {error_message}. The task may or may not have "
                     "been executed on the actor.")
        super().__init__(actor_hex, error_msg, False, False)
        self.args = (error_message, actor_id)


class PendingCallsLimitExceeded(RayError):
    """More calls are pending on an actor handle than its `max_pending_calls` allows."""


class RuntimeEnvSetupError(RayError):
    """The runtime environment could not be set up."""

    def __init__(self, error_message=None):
        super().__init__(error_message)
        self.error_message = error_message

    def __str__(self):
        return "\n".join(["Failed to set up runtime environment.",
                          *([self.error_message] if self.error_message else [])])


class CrossLanguageError(RayError):
    pass


__all__ = [name for name, obj in list(globals().items())
           if isinstance(obj, type) and issubclass(obj, BaseException)
           and not name.startswith("_")]
