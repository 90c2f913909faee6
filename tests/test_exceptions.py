"""The exception hierarchy matches Ray's (no cluster)."""

import pickle

import pytest

from cyray import exceptions as exc


def test_task_error_is_instance_of_cause():
    try:
        _ = 1 / 0
    except ZeroDivisionError as e:
        err = exc.RayTaskError("divide", "Traceback...\nZeroDivisionError: division by zero",
                               e).as_instanceof_cause()
    assert isinstance(err, exc.RayTaskError)
    assert isinstance(err, ZeroDivisionError)
    assert "divide()" in str(err)
    with pytest.raises(ZeroDivisionError):
        raise err


def test_task_error_pickles():
    err = exc.RayTaskError("f", "tb", ValueError("bad"))
    back = pickle.loads(pickle.dumps(err.as_instanceof_cause()))
    assert isinstance(back, exc.RayTaskError)
    assert isinstance(back.cause, ValueError)


def test_hierarchy():
    assert issubclass(exc.GetTimeoutError, TimeoutError)
    assert issubclass(exc.OwnerDiedError, exc.ObjectLostError)
    assert issubclass(exc.ActorDiedError, exc.RayActorError)
    for cls in (exc.WorkerCrashedError, exc.RaySystemError, exc.ObjectStoreFullError):
        assert issubclass(cls, exc.RayError)
