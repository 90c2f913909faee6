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


def test_actor_killed_right_after_creation_frees_its_cpu(one_cpu):
    @ray.remote(num_cpus=1)
    class Holder:
        def ping(self):
            return "pong"

    for _ in range(3):
        ray.kill(Holder.remote())
    survivor = Holder.remote()
    assert ray.get(survivor.ping.remote(), timeout=30) == "pong"
    ray.kill(survivor)


def test_workers_of_cpu_tasks_are_not_reused_for_gpu_tasks_or_actors():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=1, num_gpus=1)
    try:
        import os

        @ray.remote
        def cpu_task():
            return os.getpid()

        @ray.remote(num_gpus=1, num_cpus=0)
        def gpu_task():
            return os.getpid()

        @ray.remote
        class Actor:
            def pid(self):
                return os.getpid()

        cpu_pids = {ray.get(cpu_task.remote(), timeout=30) for _ in range(3)}
        gpu_pid = ray.get(gpu_task.remote(), timeout=30)
        assert gpu_pid not in cpu_pids  # CUDA_VISIBLE_DEVICES lives in the process
        actor = Actor.remote()
        actor_pid = ray.get(actor.pid.remote(), timeout=30)
        # A worker that ran tasks may own objects others use: it does not become an actor.
        assert actor_pid not in cpu_pids | {gpu_pid}
        assert ray.get(cpu_task.remote(), timeout=30) != gpu_pid
    finally:
        ray.shutdown()


def test_default_actor_needs_a_cpu_to_be_placed():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=0)
    try:
        @ray.remote
        class Actor:
            def ping(self):
                return "pong"

        actor = Actor.remote()
        # Ray places a default actor only where 1 CPU is free (it runs on 0).
        ref = actor.ping.remote()
        ready, _ = ray.wait([ref], timeout=2)
        if ready:  # cyray fails an actor no node can place (Ray waits for an autoscaler)
            with pytest.raises(ray.exceptions.RayActorError, match="CPU"):
                ray.get(ref)
        explicit = Actor.options(num_cpus=0).remote()
        assert ray.get(explicit.ping.remote(), timeout=30) == "pong"
    finally:
        ray.shutdown()
