"""A task's exception reaches the caller as a RayTaskError naming the task, also when the
exception itself cannot travel (as Ray: its cause is then a RayError saying why)."""

import pytest
from conftest import assert_tasks_still_run

import cyray as ray


def test_exception_that_cannot_be_rebuilt_names_task_type_and_message(ray_start_shared):
    @ray.remote
    def fails_with_a_custom_error():
        class QuotaError(Exception):
            # pickle rebuilds exceptions as cls(*self.args): one argument short here.
            def __init__(self, user, limit):
                super().__init__(f"user {user} is over {limit} GB")

        raise QuotaError("ada", 5)

    with pytest.raises(ray.exceptions.RayTaskError) as info:
        ray.get(fails_with_a_custom_error.remote(), timeout=60)
    text = str(info.value)
    assert "fails_with_a_custom_error()" in text
    assert "QuotaError: user ada is over 5 GB" in text
    assert "rebuilt" in str(info.value.cause)
    assert_tasks_still_run()


def test_exception_that_cannot_be_pickled_names_task_type_and_message(ray_start_shared):
    @ray.remote
    def fails_holding_a_lock():
        import threading

        error = RuntimeError("lock marker 31")
        error.lock = threading.Lock()
        raise error

    with pytest.raises(ray.exceptions.RayTaskError) as info:
        ray.get(fails_holding_a_lock.remote(), timeout=60)
    text = str(info.value)
    assert "fails_holding_a_lock()" in text and "RuntimeError: lock marker 31" in text
    assert "serialized" in str(info.value.cause)
    assert_tasks_still_run()


def test_actor_died_error_raised_in_a_task_stays_an_actor_error(ray_start_shared):
    @ray.remote
    class Doomed:
        def ping(self):
            return "pong"

    @ray.remote
    def call(handle):
        return ray.get(handle.ping.remote(), timeout=30)

    doomed = Doomed.remote()
    ray.kill(doomed)
    with pytest.raises(ray.exceptions.RayActorError) as info:
        ray.get(call.remote(doomed), timeout=60)
    assert isinstance(info.value, ray.exceptions.RayTaskError)
    assert isinstance(info.value.cause, ray.exceptions.ActorDiedError)
