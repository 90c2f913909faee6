"""Exceptions raised by cyray, named and arranged as Ray's (ray.exceptions)."""

import os


class RayError(Exception):
    """Base of every cyray error."""


class RaySystemError(RayError):
    """A failure of cyray itself (a process or connection), not of user code."""

    def __init__(self, client_exc="", traceback_str=None):
        super().__init__(client_exc)
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
    zero, as in Ray."""

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
        return "\n".join(out)

    def __str__(self):
        return self._message()

    def __reduce__(self):
        return (
            RayTaskError,
            (self.function_name, self.traceback_str, self.cause, self.proctitle, self.pid,
             self.ip),
        )

    def as_instanceof_cause(self):
        """An exception that is both a RayTaskError and an instance of the cause."""
        cause_cls = type(self.cause)
        if issubclass(cause_cls, RayTaskError):
            return self
        try:
            cls = _dual_class(cause_cls)
            err = cls.__new__(cls)
            RayTaskError.__init__(
                err, self.function_name, self.traceback_str, self.cause, self.proctitle,
                self.pid, self.ip)
            err.args = self.cause.args if hasattr(self.cause, "args") else ()
            return err
        except TypeError:
            return self


_DUAL_CLASSES = {}


def _dual_class(cause_cls):
    cls = _DUAL_CLASSES.get(cause_cls)
    if cls is None:
        name = f"RayTaskError({cause_cls.__name__})"

        def __str__(self):
            return RayTaskError._message(self)

        def __reduce__(self):
            return RayTaskError.__reduce__(self)

        cls = type(name, (RayTaskError, cause_cls),
                   {"__str__": __str__, "__reduce__": __reduce__,
                    "__module__": cause_cls.__module__})
        cls.__qualname__ = name
        _DUAL_CLASSES[cause_cls] = cls
    return cls


class WorkerCrashedError(RayError):
    """The worker running the task died before it finished (after all retries)."""

    def __str__(self):
        return (self.args[0] if self.args else
                "The worker died unexpectedly while executing this task.")


class TaskUnschedulableError(RayError):
    """The task cannot be scheduled: no node can ever satisfy its resources."""


class TaskCancelledError(RayError):
    """The task was cancelled."""


class ObjectLostError(RayError):
    """The object's value is lost and cannot be recovered."""


class OwnerDiedError(ObjectLostError):
    """The process that owned the object died, so its value cannot be fetched."""


class ObjectStoreFullError(RayError):
    """The object store has no room for the object, even after spilling."""


class GetTimeoutError(RayError, TimeoutError):
    """`get` or `wait` passed its timeout before the objects were ready."""


class RayActorError(RayError):
    """The actor died or could not be created."""


class ActorDiedError(RayActorError):
    """The actor died."""


class ActorUnavailableError(RayError):
    """The actor is temporarily unreachable."""


class RuntimeEnvSetupError(RayError):
    """The runtime environment could not be set up."""


class NodeDiedError(RayError):
    """The node died."""


class LocalRayletDiedError(RayError):
    """The raylet of this node died."""


class CrossLanguageError(RayError):
    pass


__all__ = [name for name, obj in list(globals().items())
           if isinstance(obj, type) and issubclass(obj, BaseException)]
