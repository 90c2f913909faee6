"""cancel(): tasks queued, waiting for arguments, running and forced; recursion; no
retries; actor calls (queued, sync running, async running). Expected behaviour is Ray's
(checked against Ray 2.60), except that cyray also interrupts a task blocked in a sleep
or a syscall, where Ray waits for the next Python bytecode."""

import time

import pytest

from conftest import wait_for


def _get_error(ray, ref, timeout=20):
    with pytest.raises(Exception) as info:
        ray.get(ref, timeout=timeout)
    return info.value


def _started(ray, path, timeout=20):
    """Waits until a task has written its marker file."""
    import os

    wait_for(lambda: os.path.exists(path), timeout)


def test_running_task_is_interrupted_even_in_a_sleep(ray_start_shared, tmp_path):
    ray = ray_start_shared
    marker = str(tmp_path / "started")

    @ray.remote
    def sleeper(path):
        open(path, "w").close()
        time.sleep(1000)
        return "finished"

    ref = sleeper.remote(marker)
    _started(ray, marker)
    start = time.monotonic()
    ray.cancel(ref)
    error = _get_error(ray, ref)
    assert isinstance(error, ray.exceptions.TaskCancelledError)
    assert isinstance(error, ray.exceptions.RayTaskError)  # raised inside the task, as Ray
    assert "sleep" in str(error)  # the traceback shows where it was interrupted
    assert time.monotonic() - start < 15


def test_task_that_catches_the_interrupt_returns_its_value(ray_start_shared, tmp_path):
    ray = ray_start_shared
    marker = str(tmp_path / "started")

    @ray.remote
    def catcher(path):
        open(path, "w").close()
        try:
            while True:
                time.sleep(0.01)
        except KeyboardInterrupt:
            return "caught"

    ref = catcher.remote(marker)
    _started(ray, marker)
    ray.cancel(ref)
    assert ray.get(ref, timeout=20) == "caught"


def test_worker_survives_an_interrupted_task(ray_start_shared, tmp_path):
    ray = ray_start_shared
    marker = str(tmp_path / "started")

    @ray.remote
    def busy(path):
        import os

        with open(path + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(path + ".tmp", path)
        while True:
            pass

    @ray.remote
    def pid():
        import os

        time.sleep(0.05)
        return os.getpid()

    ref = busy.remote(marker)
    _started(ray, marker)
    interrupted = int(open(marker).read())
    ray.cancel(ref)
    _get_error(ray, ref)
    # The interrupted worker did not exit: it runs later tasks.
    wait_for(lambda: interrupted in ray.get([pid.remote() for _ in range(4)]), 30,
             message="the interrupted worker to run another task")


def test_queued_task_never_runs(ray_start_shared, tmp_path):
    ray = ray_start_shared
    ran = tmp_path / "ran"

    @ray.remote(num_cpus=2)
    def block(path, seconds):
        open(path, "w").close()
        time.sleep(seconds)

    @ray.remote(num_cpus=2)
    def record(path):
        open(path, "w").close()

    started = str(tmp_path / "blocking")
    blocker = block.remote(started, 3)
    _started(ray, started)  # holds both CPUs now: the next task can only queue
    queued = record.remote(str(ran))
    time.sleep(0.5)
    ray.cancel(queued)
    error = _get_error(ray, queued, timeout=5)
    assert type(error) is ray.exceptions.TaskCancelledError
    ray.get(blocker)
    time.sleep(0.5)
    assert not ran.exists()


def test_task_waiting_for_its_arguments_fails_at_once(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def slow():
        time.sleep(3)
        return 1

    @ray.remote
    def add_one(x):
        return x + 1

    dep = slow.remote()
    ref = add_one.remote(dep)
    ray.cancel(ref)
    start = time.monotonic()
    assert type(_get_error(ray, ref, timeout=2)) is ray.exceptions.TaskCancelledError
    assert time.monotonic() - start < 2
    assert ray.get(dep) == 1  # the argument's task is not touched


def test_cancel_of_a_finished_task_does_nothing(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def f():
        return "done"

    ref = f.remote()
    assert ray.get(ref) == "done"
    ray.cancel(ref)
    ray.cancel(ref, force=True)
    assert ray.get(ref) == "done"


def test_force_kills_the_worker(ray_start_shared, tmp_path):
    ray = ray_start_shared
    marker = tmp_path / "pid"

    @ray.remote(max_retries=3)
    def sleeper(path):
        import os

        with open(path + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(path + ".tmp", path)
        time.sleep(1000)

    ref = sleeper.remote(str(marker))
    _started(ray, str(marker))
    pid = int(marker.read_text())
    ray.cancel(ref, force=True)
    assert type(_get_error(ray, ref)) is ray.exceptions.TaskCancelledError
    import psutil

    wait_for(lambda: not psutil.pid_exists(pid) or
             psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, 10)
    # Not retried despite max_retries=3: the marker is not written again.
    marker.unlink()
    time.sleep(1)
    assert not marker.exists()


def test_cancelled_task_is_not_retried(ray_start_shared, tmp_path):
    ray = ray_start_shared
    marker = tmp_path / "attempts"

    @ray.remote(max_retries=3, retry_exceptions=True)
    def spin(path):
        with open(path, "a") as f:
            f.write("x")
        while True:
            time.sleep(0.01)

    ref = spin.remote(str(marker))
    _started(ray, str(marker))
    ray.cancel(ref)
    assert isinstance(_get_error(ray, ref), ray.exceptions.TaskCancelledError)
    time.sleep(1)
    assert marker.read_text() == "x"


def test_recursive_cancel_reaches_the_tasks_it_submitted(ray_start_shared, tmp_path):
    ray = ray_start_shared

    @ray.remote
    class Holder:
        def __init__(self):
            self.refs = None

        def set(self, refs):
            self.refs = refs

        def get(self):
            return self.refs

    @ray.remote
    def child():
        time.sleep(1000)

    @ray.remote
    def parent(holder):
        ray.get(holder.set.remote([child.remote()]))
        time.sleep(1000)

    for recursive in (True, False):
        holder = Holder.remote()
        ref = parent.remote(holder)
        wait_for(lambda h=holder: ray.get(h.get.remote()) is not None, 20)
        [child_ref] = ray.get(holder.get.remote())
        ray.cancel(ref, recursive=recursive)
        assert isinstance(_get_error(ray, ref), ray.exceptions.TaskCancelledError)
        if recursive:
            assert isinstance(_get_error(ray, child_ref, timeout=10),
                              ray.exceptions.TaskCancelledError)
        else:
            ready, _ = ray.wait([child_ref], timeout=1)
            assert not ready  # still running
            ray.cancel(child_ref)  # by the borrower: its owner cancels it
            assert isinstance(_get_error(ray, child_ref, timeout=10),
                              ray.exceptions.TaskCancelledError)
        ray.kill(holder)


def test_invalid_arguments(ray_start_shared):
    ray = ray_start_shared
    with pytest.raises(TypeError, match="only supported for object refs"):
        ray.cancel("not a ref")

    @ray.remote
    class A:
        def f(self):
            return 1

    a = A.remote()
    with pytest.raises(ValueError, match="force=True is not supported for actor tasks"):
        ray.cancel(a.f.remote(), force=True)
    with pytest.raises(TypeError, match="force"):
        ray.cancel(a.f.remote(), force="yes")
    ray.kill(a)


def test_actor_calls(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    class Sync:
        def watch(self):
            for _ in range(300):
                time.sleep(0.05)
                if ray.get_runtime_context().is_canceled():
                    return "saw cancel"
            return "not cancelled"

        def quick(self):
            return ray.get_runtime_context().is_canceled()

    actor = Sync.remote()
    running = actor.watch.remote()
    queued = actor.quick.remote()
    time.sleep(1)
    ray.cancel(queued)
    ray.cancel(running)
    # The running call saw the cancel and stopped; its value is dropped, as Ray.
    assert isinstance(_get_error(ray, running), ray.exceptions.TaskCancelledError)
    assert isinstance(_get_error(ray, queued), ray.exceptions.TaskCancelledError)
    assert ray.get(actor.quick.remote()) is False  # the actor goes on
    ray.kill(actor)


def test_async_actor_call_gets_cancelled_error(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    class Async:
        def __init__(self):
            self.saw_cancelled_error = False

        async def wait_forever(self):
            import asyncio

            try:
                await asyncio.sleep(1000)
            except asyncio.CancelledError:
                self.saw_cancelled_error = True
                raise

        async def saw(self):
            return self.saw_cancelled_error

    actor = Async.remote()
    ref = actor.wait_forever.remote()
    time.sleep(1)
    ray.cancel(ref)
    assert isinstance(_get_error(ray, ref), ray.exceptions.TaskCancelledError)
    assert ray.get(actor.saw.remote()) is True
    ray.kill(actor)


def test_is_canceled_outside_tasks(ray_start_shared):
    ray = ray_start_shared
    assert ray.get_runtime_context().is_canceled() is False

    @ray.remote
    def f():
        return ray.get_runtime_context().is_canceled()

    assert ray.get(f.remote()) is False
