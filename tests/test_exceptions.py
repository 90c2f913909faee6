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


# ---- error objects as the core worker stores them ---------------------------------------


def error_object(name, message):
    from cyray.protobuf import common_pb2

    return message.encode(), b"E%d" % common_pb2.ErrorType.Value(name)


@pytest.mark.parametrize("name,cls", [
    ("ACTOR_DIED", "ActorDiedError"),
    ("ACTOR_UNAVAILABLE", "ActorUnavailableError"),
    ("LOCAL_RAYLET_DIED", "LocalRayletDiedError"),
    ("WORKER_DIED", "WorkerCrashedError"),
    ("OWNER_DIED", "OwnerDiedError"),
    ("OBJECT_LOST", "ObjectLostError"),
    ("TASK_UNSCHEDULABLE_ERROR", "TaskUnschedulableError"),
    ("TASK_CANCELLED", "TaskCancelledError"),
    ("SYSTEM_ERROR", "RaySystemError"),
])
def test_error_objects_raise_rays_exception_with_their_message(name, cls):
    from cyray._private import serialization

    data, metadata = error_object(name, "detail marker 77")
    with pytest.raises(getattr(exc, cls)) as info:
        serialization.deserialize_or_raise(data, metadata)
    assert "detail marker 77" in str(info.value)
    # It survives pickling (a task may catch it and raise it again).
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is type(info.value) and str(back) == str(info.value)


def test_actor_death_by_its_node_raises_actor_died_with_a_node_died_cause():
    """The GCS's death cause for an actor whose node died, as a failed call's error object
    carries it: Ray's message, the actor's ID, and a NodeDiedError naming the node."""
    from cyray._private import actor_death, serialization
    from cyray.protobuf import gcs_service_pb2 as gcs_pb2

    actor = gcs_pb2.ActorTableData(actor_id=b"\xab" * 16, class_name="test.<locals>.Counter",
                                   pid=42, ray_namespace="ns")
    node = gcs_pb2.GcsNodeInfo(node_id=b"\xcd" * 28, node_manager_address="10.0.0.2",
                               death_reason="its raylet's connection to the GCS closed")
    cause = actor_death.node_died(actor, node, expected=False)
    data, metadata = error_object("ACTOR_DIED", cause)
    with pytest.raises(exc.ActorDiedError) as info:
        serialization.deserialize_or_raise(data, metadata)
    died = info.value
    assert str(died) == (
        "The actor died unexpectedly before finishing this task.\n"
        "\tclass_name: Counter\n"
        f"\tactor_id: {'ab' * 16}\n"
        "\tpid: 42\n"
        "\tnamespace: ns\n"
        "\tip: 10.0.0.2\n"
        f"The actor died because its node has died. Node Id: {'cd' * 28}\n"
        "\tthe actor's node was terminated unexpectedly: its raylet's connection to the GCS "
        "closed")
    assert died.actor_id == "ab" * 16 and not died.actor_init_failed
    node_died = died.__cause__
    assert type(node_died) is exc.NodeDiedError
    assert (node_died.node_id, node_died.node_ip_address) == ("cd" * 28, "10.0.0.2")
    assert "cd" * 28 in str(node_died) and "IP: 10.0.0.2" in str(node_died)
    # The cause survives pickling (a task may catch the error and raise it again).
    back = pickle.loads(pickle.dumps(died))
    assert str(back) == str(died) and str(back.__cause__) == str(node_died)
    # The state API shows Ray's error_message: the cause without its header.
    assert actor_death.message(cause).startswith("The actor died because its node has died.")
    expected = actor_death.node_died(actor, node, expected=True)
    assert "the actor's node was terminated expectedly: " in expected


def test_other_actor_deaths_have_no_cause():
    from cyray._private import serialization

    with pytest.raises(exc.ActorDiedError) as info:
        serialization.deserialize_or_raise(*error_object("ACTOR_DIED", "The actor is dead."))
    assert info.value.__cause__ is None and info.value.actor_id is None


def test_actor_errors_are_ray_actor_errors():
    assert issubclass(exc.ActorDiedError, exc.RayActorError)
    assert issubclass(exc.ActorUnavailableError, exc.RayActorError)
    died = exc.ActorDiedError()
    assert str(died) == exc.ActorDiedError.BASE_ERROR_MSG and not died.actor_init_failed
    init_error = exc.RayTaskError("Counter", "Traceback...\nValueError: bad", ValueError("bad"))
    failed = exc.ActorDiedError.from_task_error(init_error)
    assert failed.actor_init_failed and "creation task" in str(failed)
    unavailable = exc.ActorUnavailableError("connection lost", b"\x01" * 16)
    assert unavailable.actor_id == "01" * 16 and "connection lost" in str(unavailable)
    assert str(exc.NodeDiedError("node 1 died")) == "node 1 died"


def test_ray_exception_names():
    for name in ("RayError", "RayTaskError", "RayActorError", "ActorDiedError",
                 "ActorUnavailableError", "LocalRayletDiedError", "NodeDiedError",
                 "WorkerCrashedError", "TaskUnschedulableError", "TaskCancelledError",
                 "ObjectLostError", "OwnerDiedError", "ObjectStoreFullError", "GetTimeoutError",
                 "RaySystemError", "PendingCallsLimitExceeded", "RuntimeEnvSetupError"):
        assert name in exc.__all__ and issubclass(getattr(exc, name), exc.RayError)


# ---- task errors whose cause cannot travel ------------------------------------------------


class NeedsTwoArguments(Exception):
    def __init__(self, code, detail):
        super().__init__(f"code {code}: {detail}")


class HoldsALock(Exception):
    def __init__(self, message):
        import threading

        super().__init__(message)
        self.lock = threading.Lock()


def raised(error):
    import traceback

    try:
        raise error
    except Exception as e:
        tb = traceback.format_exc()
        return exc.RayTaskError("my_task", tb, e, pid=123, ip="10.0.0.1")


@pytest.mark.parametrize("error,reason", [
    (NeedsTwoArguments(7, "disk full"), "rebuilt"),
    (HoldsALock("lock held"), "serialized"),
])
def test_a_cause_that_cannot_travel_still_names_task_type_and_message(error, reason):
    from cyray._private import serialization

    data, metadata = serialization.serialize_error(raised(error))
    with pytest.raises(exc.RayTaskError) as info:
        serialization.deserialize_or_raise(data, metadata)
    text = str(info.value)
    assert "my_task()" in text and "pid=123" in text
    assert type(error).__name__ in text and str(error) in text
    assert isinstance(info.value.cause, exc.RayError) and reason in str(info.value.cause)


def test_a_cause_that_travels_is_rebuilt():
    from cyray._private import serialization

    data, metadata = serialization.serialize_error(raised(KeyError("k")))
    with pytest.raises(KeyError) as info:
        serialization.deserialize_or_raise(data, metadata)
    assert isinstance(info.value, exc.RayTaskError) and info.value.cause.args == ("k",)


def test_instance_of_a_cause_whose_constructor_takes_other_arguments():
    err = raised(NeedsTwoArguments(3, "no space")).as_instanceof_cause()
    assert isinstance(err, NeedsTwoArguments) and isinstance(err, exc.RayTaskError)
    assert err.args == ("code 3: no space",) and "my_task()" in str(err)
    died = raised(exc.ActorDiedError()).as_instanceof_cause()
    assert isinstance(died, exc.RayActorError) and not died.actor_init_failed
