"""Scheduling details where cyray follows Ray (each found running Ray's own tests)."""

import time

import pytest

import cyray as ray


@pytest.fixture
def one_cpu():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=1)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_wait_inside_a_task_lends_its_cpu(one_cpu):
    @ray.remote
    def leaf(x):
        return x

    @ray.remote
    def parent():
        refs = [leaf.remote(i) for i in range(3)]
        ready, _ = ray.wait(refs, num_returns=3, timeout=30)
        return len(ready)

    # One CPU: the parent holds it while it waits, unless waiting gives it back.
    assert ray.get(parent.remote(), timeout=60) == 3


def test_get_raises_at_once_when_one_object_is_an_error(ray_start_shared, gate):
    @ray.remote
    def fail():
        raise ValueError("boom")

    slow = gate.task.remote(gate.path, "slow")
    start = time.time()
    with pytest.raises(ValueError, match="boom"):
        ray.get([slow, fail.remote()], timeout=30)
    assert time.time() - start < 10, "get should not wait for the slow object"
    gate.open()
    assert ray.get(slow, timeout=30) == "slow"


def test_max_pending_calls_is_enforced(ray_start_shared, gate, actors):
    @ray.remote(max_pending_calls=2)
    class Limited:
        def block(self, path):
            import os

            while not os.path.exists(path):
                time.sleep(0.01)
            return "done"

    actor = Limited.remote()
    actors.append(actor)
    refs = [actor.block.remote(gate.path), actor.block.remote(gate.path)]
    with pytest.raises(ray.exceptions.PendingCallsLimitExceeded, match="max_pending_calls"):
        actor.block.remote(gate.path)
    gate.open()
    assert ray.get(refs, timeout=30) == ["done", "done"]
    # Room again once they finished.
    assert ray.get(actor.block.remote(gate.path), timeout=30) == "done"
