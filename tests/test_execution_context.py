"""The execution context (task id, name, actor, resources) comes from the C++ core per
executor thread, and coroutines keep the one their call started with: concurrent calls
never see each other's context, and an actor's GPUs are its own for its lifetime."""

import os
import threading
import time

import pytest

import cyray as ray


def test_concurrent_threaded_calls_keep_their_own_task_ids(ray_start_shared, actors):
    @ray.remote(max_concurrency=2)
    class Threaded:
        def __init__(self):
            self.started = threading.Event()

        def long(self):
            ctx = ray.get_runtime_context()
            before = (ctx.get_task_id(), ctx.get_task_name())
            self.started.set()
            time.sleep(0.5)  # a short call starts and finishes meanwhile
            return before, (ctx.get_task_id(), ctx.get_task_name())

        def short(self):
            self.started.wait(10)
            return ray.get_runtime_context().get_task_id()

    actor = Threaded.remote()
    actors.append(actor)
    long_ref = actor.long.remote()
    short_id = ray.get(actor.short.remote(), timeout=30)
    before, after = ray.get(long_ref, timeout=30)
    assert before[0] is not None and before == after
    assert before[1] == "Threaded.long"
    assert short_id is not None and short_id != before[0]


def test_async_actor_calls_keep_their_task_ids_across_awaits(ray_start_shared, actors):
    import asyncio

    @ray.remote
    class Async:
        async def call(self, delay):
            ctx = ray.get_runtime_context()
            before = ctx.get_task_id()
            await asyncio.sleep(delay)
            return before, ctx.get_task_id(), ctx.get_task_name()

    actor = Async.remote()
    actors.append(actor)
    results = ray.get([actor.call.remote(0.3 - 0.1 * i) for i in range(3)], timeout=30)
    ids = [before for before, _, _ in results]
    assert all(i is not None for i in ids)
    assert len(set(ids)) == 3
    assert all(before == after for before, after, _ in results)
    assert all(name == "Async.call" for _, _, name in results)


def test_task_context_fields(ray_start_shared):
    @ray.remote(num_cpus=1)
    def describe():
        ctx = ray.get_runtime_context()
        return (ctx.get_task_id(), ctx.get_task_name(), ctx.get_assigned_resources(),
                ctx.get_actor_id(), ctx.get_actor_name())

    task_id, name, resources, actor_id, actor_name = ray.get(
        describe.options(name="named_task").remote(), timeout=30)
    assert task_id and name == "named_task"
    assert resources == {"CPU": 1.0}
    assert actor_id is None and actor_name is None
    driver = ray.get_runtime_context()
    assert driver.get_task_id() is None
    assert "task_id" not in driver.get() and driver.get()["job_id"] == driver.job_id


def test_actor_context_fields(ray_start_shared, actors):
    @ray.remote(max_restarts=1)
    class Named:
        def info(self):
            ctx = ray.get_runtime_context()
            return ctx.get_actor_name(), ctx.was_current_actor_reconstructed, ctx.get_actor_id()

        def me(self):
            return ray.get_runtime_context().current_actor

        def die(self):
            os._exit(1)

    actor = Named.options(name="context_named").remote()
    actors.append(actor)
    name, reconstructed, actor_id = ray.get(actor.info.remote(), timeout=30)
    assert (name, reconstructed) == ("context_named", False)
    assert actor_id == actor._actor_id.hex()
    handle = ray.get(actor.me.remote(), timeout=30)
    assert ray.get(handle.info.remote(), timeout=30)[2] == actor_id
    actor.die.remote()
    deadline = time.time() + 30
    while True:
        try:
            assert ray.get(actor.info.remote(), timeout=30)[1] is True
            break
        except ray.exceptions.RayActorError:
            assert time.time() < deadline
            time.sleep(0.2)


def test_gpu_actor_sees_its_gpus_for_its_lifetime(ray_start_gpus, actors):
    @ray.remote(num_gpus=1)
    class GpuActor:
        def __init__(self):
            self.at_init = (ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES"))

        def gpus(self):
            ctx = ray.get_runtime_context()
            return (self.at_init, ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES"),
                    ctx.get_accelerator_ids(), ctx.get_assigned_resources())

    actor = GpuActor.remote()
    actors.append(actor)
    at_init, ids, env, accelerators, resources = ray.get(actor.gpus.remote(), timeout=60)
    assert len(ids) == 1 and ids[0] in (0, 1)
    assert at_init == (ids, str(ids[0]))
    assert env == str(ids[0])
    assert accelerators == {"GPU": [str(ids[0])]}
    assert resources.get("GPU") == 1.0

    @ray.remote(num_gpus=1)
    def gpu_task():
        return ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")

    task_ids, task_env = ray.get(gpu_task.remote(), timeout=60)
    assert len(task_ids) == 1 and task_ids != ids  # the actor holds the other GPU
    assert task_env == str(task_ids[0])


def test_instance_attribute_does_not_shadow_a_method(ray_start_shared, actors):
    @ray.remote
    class Shadowed:
        def __init__(self):
            self.value = 5
            self.get = "not a method"  # named like a method

        def get(self):
            return self.value

        @staticmethod
        def static(x):
            return x + 1

    actor = Shadowed.remote()
    actors.append(actor)
    assert ray.get(actor.get.remote(), timeout=30) == 5
    assert ray.get(actor.static.remote(1), timeout=30) == 2


def test_worker_output_is_prefixed_with_the_task_name(ray_start_shared, capfd):
    @ray.remote
    def chatty():
        print("hello from chatty")
        return os.getpid()

    pid = ray.get(chatty.remote(), timeout=30)
    deadline = time.time() + 10
    out = ""
    while time.time() < deadline:
        out += capfd.readouterr().out
        if f"(chatty pid={pid}) hello from chatty" in out:
            return
        time.sleep(0.1)
    pytest.fail(f"no prefixed line in {out!r}")
