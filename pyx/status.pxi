# The one place where a C++ Status becomes a Python exception.
from cyray import exceptions as _exc


cdef int check_status(const CStatus &status) except -1:
    if status.ok():
        return 0
    cdef CStatusCode code = status.code()
    message = status.message().decode("utf-8", "replace")
    if code == CStatusCode_Interrupted:
        # Re-raise what the signal handler raised (KeyboardInterrupt, SystemExit).
        global _pending_signal_exception
        pending, _pending_signal_exception = _pending_signal_exception, None
        if pending is not None:
            raise pending
        raise KeyboardInterrupt(message)
    if code == CStatusCode_TimedOut:
        raise _exc.GetTimeoutError(message)
    if code == CStatusCode_Invalid:
        raise ValueError(message)
    if code == CStatusCode_KeyError:
        raise KeyError(message)
    if code == CStatusCode_NotFound:
        raise _exc.ObjectLostError(message)
    if code == CStatusCode_ObjectStoreFull:
        raise _exc.ObjectStoreFullError(message)
    if code == CStatusCode_NotImplemented:
        raise NotImplementedError(message)
    raise _exc.RaySystemError(message)
