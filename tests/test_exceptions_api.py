"""cyray.exceptions has every class of Ray 2.60's ray.exceptions, with Ray's bases,
constructors and messages, and every one of them pickles."""

import pickle

import pytest

import cyray.exceptions as exc

# The exception classes of ray.exceptions (Ray 2.60) and their direct bases.
RAY_EXCEPTIONS = {
    "ActorAlreadyExistsError": ("ValueError", "RayError"),
    "ActorDiedError": ("RayActorError",),
    "ActorHandleNotFoundError": ("ValueError", "RayError"),
    "ActorPlacementGroupRemoved": ("RayError",),
    "ActorUnavailableError": ("RayActorError",),
    "ActorUnschedulableError": ("RayError",),
    "AsyncioActorExit": ("RayError",),
    "AuthenticationError": ("RayError",),
    "CrossLanguageError": ("RayError",),
    "GetTimeoutError": ("RayError", "TimeoutError"),
    "LocalRayletDiedError": ("RayError",),
    "NodeDiedError": ("RayError",),
    "ObjectFetchTimedOutError": ("ObjectLostError",),
    "ObjectFreedError": ("ObjectLostError",),
    "ObjectLostError": ("RayError",),
    "ObjectReconstructionFailedError": ("ObjectLostError",),
    "ObjectRefStreamEndOfStreamError": ("RayError",),
    "ObjectStoreFullError": ("RayError",),
    "OufOfBandObjectRefSerializationException": ("RayError",),
    "OutOfDiskError": ("RayError",),
    "OutOfMemoryError": ("RayError",),
    "OwnerDiedError": ("ObjectLostError",),
    "PendingCallsLimitExceeded": ("RayError",),
    "PlasmaObjectNotAvailable": ("RayError",),
    "RayActorError": ("RayError",),
    "RayCgraphCapacityExceeded": ("RaySystemError",),
    "RayChannelError": ("RaySystemError",),
    "RayChannelTimeoutError": ("RayChannelError", "TimeoutError"),
    "RayDirectTransportError": ("RaySystemError",),
    "RayError": ("Exception",),
    "RaySystemError": ("RayError",),
    "RayTaskError": ("RayError",),
    "ReferenceCountingAssertionError": ("ObjectLostError", "AssertionError"),
    "RpcError": ("RayError",),
    "RuntimeEnvSetupError": ("RayError",),
    "StreamingGeneratorReplayInconsistentError": ("RaySystemError",),
    "TaskCancelledError": ("RayError",),
    "TaskPlacementGroupRemoved": ("RayError",),
    "TaskUnschedulableError": ("RayError",),
    "UnserializableException": ("RayError",),
    "UserCodeException": ("RayError",),
    "WorkerCrashedError": ("RayError",),
}

OBJECT_HEX = "ab" * 28


def an_instance(name):
    """One instance of each class, built with the arguments Ray's constructor takes."""
    cls = getattr(exc, name)
    return {
        "ActorAlreadyExistsError": lambda: cls("The name x (namespace=ns) is already taken."),
        "ActorHandleNotFoundError": lambda: cls("no such handle"),
        "ActorDiedError": lambda: cls(),
        "ActorUnavailableError": lambda: cls("connection lost", b"\x02" * 16),
        "ActorUnschedulableError": lambda: cls("node 1 is dead"),
        "AuthenticationError": lambda: cls("Token mismatch"),
        "CrossLanguageError": lambda: cls(_ForeignException()),
        "NodeDiedError": lambda: cls("node died"),
        "ObjectReconstructionFailedError": lambda: cls(OBJECT_HEX, None, "no lineage"),
        "OutOfMemoryError": lambda: cls("memory low"),
        "RayActorError": lambda: cls("01" * 16, "it failed"),
        "RayTaskError": lambda: cls("f", "Traceback\nValueError: v", ValueError("v")),
        "RpcError": lambda: cls("unavailable", 14),
        "RuntimeEnvSetupError": lambda: cls("pip failed"),
        "TaskCancelledError": lambda: cls(None, "cancelled by user"),
        "TaskUnschedulableError": lambda: cls("infeasible"),
        "UnserializableException": lambda: cls("Traceback...\nValueError: v"),
    }.get(name, lambda: (cls("client exc", "tb") if issubclass(cls, exc.RaySystemError)
                         else cls(OBJECT_HEX, None, "") if issubclass(cls, exc.ObjectLostError)
                         else cls("detail")))()


class _ForeignException:
    language = 1  # JAVA
    formatted_exception_string = "java.lang.RuntimeException: boom"


def test_the_same_classes_as_ray():
    ours = {name for name in exc.__all__}
    assert ours == set(RAY_EXCEPTIONS)


@pytest.mark.parametrize("name", sorted(RAY_EXCEPTIONS))
def test_bases_as_ray(name):
    bases = tuple(base.__name__ for base in getattr(exc, name).__bases__)
    assert bases == RAY_EXCEPTIONS[name]


@pytest.mark.parametrize("name", sorted(RAY_EXCEPTIONS))
def test_every_class_pickles(name):
    error = an_instance(name)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)


def test_messages_as_ray():
    assert str(exc.TaskUnschedulableError("x")) == "The task is not schedulable: x"
    assert str(exc.ActorUnschedulableError("x")) == "The actor is not schedulable: x"
    assert str(exc.ActorAlreadyExistsError("taken")) == "taken"
    assert isinstance(exc.ActorAlreadyExistsError("taken"), ValueError)
    assert str(exc.TaskPlacementGroupRemoved()) == (
        "The placement group corresponding to this task has been removed.")
    assert str(exc.CrossLanguageError(_ForeignException())) == (
        "An exception raised from JAVA:\njava.lang.RuntimeException: boom")
    assert str(exc.UnserializableException("TB")).startswith(
        "Failed to deserialize exception.")
    assert str(exc.UnserializableException("TB")).endswith("Original exception:\nTB")
    assert str(exc.RaySystemError("boom")) == "System error: boom"
    assert str(exc.WorkerCrashedError()).startswith(
        "The worker died unexpectedly while executing this task.")
    unavailable = exc.ActorUnavailableError("gone", None)
    assert str(unavailable).startswith("The actor None is unavailable: gone.")


def test_object_lost_errors_as_ray():
    lost = exc.ObjectLostError(OBJECT_HEX, None, "f at a.py:3 | g at b.py:4")
    assert lost.object_ref_hex == OBJECT_HEX and lost.call_site == "f at a.py:3\n  g at b.py:4"
    assert str(lost).startswith(f"Failed to retrieve object {OBJECT_HEX}. The ObjectRef was "
                                "created at: f at a.py:3")
    assert f"All copies of {OBJECT_HEX} have been lost" in str(lost)
    timed_out = exc.ObjectFetchTimedOutError(OBJECT_HEX, None, "")
    assert isinstance(timed_out, exc.ObjectLostError)
    assert f"Fetch for object {OBJECT_HEX} timed out" in str(timed_out)
    assert isinstance(exc.ReferenceCountingAssertionError(OBJECT_HEX, None, ""), AssertionError)


def test_an_object_lost_error_of_the_core_names_the_object_and_why():
    # cyray's core reports a lost object with one sentence naming it.
    lost = exc.OwnerDiedError(f"The owner of object {OBJECT_HEX} died: connection refused")
    assert lost.object_ref_hex == OBJECT_HEX
    assert str(lost).startswith(f"Failed to retrieve object {OBJECT_HEX}.")
    assert str(lost).endswith("died: connection refused")
    assert str(pickle.loads(pickle.dumps(lost))) == str(lost)


def test_task_error_names_the_actor():
    error = exc.RayTaskError("A.f", "Traceback\nValueError: v", ValueError("v"), pid=7,
                             ip="10.0.0.1", actor_repr="A(1)", actor_id="ff" * 16)
    assert "(pid=7, ip=10.0.0.1, actor_id=" + "ff" * 16 + ", repr=A(1))" in str(error)
    back = pickle.loads(pickle.dumps(error.as_instanceof_cause()))
    assert isinstance(back.cause, ValueError) and back.actor_repr == "A(1)"


class _NeedsTwoArguments(Exception):
    def __init__(self, code, detail):
        super().__init__(f"code {code}: {detail}")


def test_a_cause_that_cannot_be_rebuilt_is_an_unserializable_exception():
    from cyray._private import serialization

    try:
        raise _NeedsTwoArguments(3, "disk full")
    except Exception as e:
        error = exc.RayTaskError("my_task", "Traceback\n_NeedsTwoArguments: code 3: disk full",
                                 e)
    data, metadata = serialization.serialize_error(error)
    with pytest.raises(exc.UnserializableException) as info:
        serialization.deserialize_or_raise(data, metadata)
    # As Ray's, and still the task's error.
    assert str(info.value).startswith("Failed to deserialize exception.")
    assert "my_task()" in str(info.value) and "code 3: disk full" in str(info.value)
    assert isinstance(info.value, exc.RayTaskError)
    back = pickle.loads(pickle.dumps(info.value))
    assert isinstance(back, exc.UnserializableException) and str(back) == str(info.value)


def test_a_task_whose_exception_cannot_be_rebuilt_raises_unserializable(ray_start_shared):
    ray = ray_start_shared

    class NeedsTwo(Exception):
        def __init__(self, code, detail):
            super().__init__(f"code {code}: {detail}")

    @ray.remote
    def fail():
        raise NeedsTwo(7, "no space")

    with pytest.raises(exc.UnserializableException, match="code 7: no space"):
        ray.get(fail.remote())
