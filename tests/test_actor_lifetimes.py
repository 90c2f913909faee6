"""How actors end: ray.kill, __ray_terminate__, exit_actor, handles going out of scope,
crashes with and without restarts, drivers that exit (detached vs not), shutdown. Also
named actors seen from a second driver and actor output forwarded to the driver.

Every actor test checks that the actor's worker process really exits, by the pid a method
returns. Tests with a second driver join this test's cluster through
`cyray.init(address=info.address_info["gcs_address"])` (the `ray_start_with_info` fixture).
"""

import gc
import os
import re
import time

import pytest
from conftest import (
    has_prefixed_line,
    assert_tasks_still_run,
    cyray_processes,
    describe,
    is_alive,
    kill_processes,
    pid_gone_within,
    process_or_none,
    run_driver_script,
    wait_for,
    wait_until_gone,
)

import cyray as ray


def make_crasher_class():
    @ray.remote
    class Crasher:
        def __init__(self, start=0):
            self.value = start

        def incr(self):
            self.value += 1
            return self.value

        def pid(self):
            return os.getpid()

        def crash(self):
            os._exit(1)

        def crash_once(self, flag):
            if not os.path.exists(flag):
                open(flag, "w").close()
                os._exit(1)
            self.value += 1
            return self.value, os.getpid()

        def sleep(self, seconds):
            time.sleep(seconds)
            return "woke"

    return Crasher


def live_process(pid):
    proc = process_or_none(pid)
    assert proc is not None, f"actor process {pid} is not running"
    return proc


# ---------------------------------------------------------------------------------------------
# Ending an actor on purpose


def test_kill(ray_start_shared, actors):
    Crasher = make_crasher_class()
    a = Crasher.remote()
    actors.append(a)
    pid = ray.get(a.pid.remote(), timeout=60)
    proc = live_process(pid)
    running = a.sleep.remote(60)
    queued = a.incr.remote()
    time.sleep(0.3)
    start = time.monotonic()
    ray.kill(a)
    # The running call and the queued one fail, and so do calls made afterwards.
    for ref in (running, queued, a.incr.remote()):
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(ref, timeout=15)
    assert time.monotonic() - start < 20
    assert not wait_until_gone([proc], 10), f"killed actor's process {pid} still runs"
    assert_tasks_still_run()


def test_ray_terminate_finishes_pending_calls_first(ray_start_shared, actors):
    Crasher = make_crasher_class()
    a = Crasher.remote()
    actors.append(a)
    pid = ray.get(a.pid.remote(), timeout=60)
    proc = live_process(pid)
    slow = a.sleep.remote(0.5)
    pending = [a.incr.remote() for _ in range(5)]
    a.__ray_terminate__.remote()
    after = a.incr.remote()
    assert ray.get(slow, timeout=30) == "woke"
    assert ray.get(pending, timeout=30) == [1, 2, 3, 4, 5]
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(after, timeout=30)
    assert not wait_until_gone([proc], 10), f"terminated actor's process {pid} still runs"


def test_graceful_gcs_kill_finishes_received_calls_first(ray_start_shared, actors):
    """KillActor with force_kill=False (Ray's graceful kill, which ray.kill never asks for)
    lets the actor run the calls it has received, then it exits and is not restarted."""
    Crasher = make_crasher_class()
    a = Crasher.options(max_restarts=2).remote()
    actors.append(a)
    pid = ray.get(a.pid.remote(), timeout=60)
    proc = live_process(pid)
    slow = a.sleep.remote(1.0)
    pending = [a.incr.remote() for _ in range(3)]
    time.sleep(0.3)  # the calls reach the actor's worker
    ray._private.worker.global_worker.core_worker.kill_actor(a._actor_id, False, False)
    assert ray.get(slow, timeout=30) == "woke"
    assert ray.get(pending, timeout=30) == [1, 2, 3]
    assert not wait_until_gone([proc], 10), f"gracefully killed actor {pid} still runs"
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(a.incr.remote(), timeout=30)


def test_exit_actor(ray_start_shared, actors):
    @ray.remote
    class Quitter:
        def __init__(self):
            self.value = 0

        def incr(self):
            self.value += 1
            return self.value

        def pid(self):
            return os.getpid()

        def quit(self):
            ray.actor.exit_actor()
            return "not reached"

    q = Quitter.remote()
    actors.append(q)
    pid = ray.get(q.pid.remote(), timeout=60)
    proc = live_process(pid)
    before = q.incr.remote()
    quit_ref = q.quit.remote()
    assert ray.get(before, timeout=30) == 1
    # The quitting call itself must not hang nor return a value from after exit_actor().
    try:
        assert ray.get(quit_ref, timeout=30) is None
    except ray.exceptions.RayActorError:
        pass
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(q.incr.remote(), timeout=30)
    assert not wait_until_gone([proc], 10), f"exited actor's process {pid} still runs"


def test_actor_exits_when_handle_goes_out_of_scope(ray_start_shared):
    Crasher = make_crasher_class()
    handle = Crasher.remote()
    pid = ray.get(handle.pid.remote(), timeout=60)
    proc = live_process(pid)
    # While the handle lives, so does the actor.
    time.sleep(1)
    assert is_alive(proc)
    del handle
    gc.collect()
    assert not wait_until_gone([proc], 10), (
        f"actor process {pid} still runs 10 s after its only handle was deleted")


def test_actor_lives_while_a_task_holds_its_handle(ray_start_shared, tmp_path):
    Crasher = make_crasher_class()
    release = str(tmp_path / "release")

    @ray.remote
    def hold_then_use(handle, path):
        deadline = time.time() + 30
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.01)
        return ray.get(handle.incr.remote())

    handle = Crasher.remote(10)
    pid = ray.get(handle.pid.remote(), timeout=60)
    proc = live_process(pid)
    ref = hold_then_use.remote(handle, release)
    del handle
    gc.collect()
    time.sleep(1.5)
    assert is_alive(proc), "the actor died while a task still held its handle"
    open(release, "w").close()
    assert ray.get(ref, timeout=30) == 11
    del ref
    assert not wait_until_gone([proc], 15), f"actor process {pid} outlived every handle"


# ---------------------------------------------------------------------------------------------
# Crashes and restarts


def test_crash_without_restarts(ray_start_shared, actors):
    Crasher = make_crasher_class()
    c = Crasher.remote()
    actors.append(c)
    assert ray.get(c.incr.remote(), timeout=60) == 1
    pid = ray.get(c.pid.remote(), timeout=30)
    start = time.monotonic()
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(c.crash.remote(), timeout=30)
    for _ in range(2):
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(c.incr.remote(), timeout=30)
    assert time.monotonic() - start < 20
    assert pid_gone_within(pid, 10)
    assert_tasks_still_run()


def test_restart_rebuilds_state(ray_start_shared, actors):
    Crasher = make_crasher_class()
    c = Crasher.options(max_restarts=1).remote(100)
    actors.append(c)
    assert ray.get([c.incr.remote(), c.incr.remote()], timeout=60) == [101, 102]
    first_pid = ray.get(c.pid.remote(), timeout=30)
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(c.crash.remote(), timeout=30)
    # Restarted: __init__ ran again with the original arguments, in a new process.
    assert ray.get(c.incr.remote(), timeout=60) == 101
    second_pid = ray.get(c.pid.remote(), timeout=30)
    assert second_pid != first_pid
    assert pid_gone_within(first_pid, 10)
    # The one restart is used up: the next crash is final.
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(c.crash.remote(), timeout=30)
    for _ in range(2):
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(c.incr.remote(), timeout=30)
    assert pid_gone_within(second_pid, 10)


def test_task_retried_after_restart(ray_start_shared, actors, tmp_path):
    Crasher = make_crasher_class()
    c = Crasher.options(max_restarts=1, max_task_retries=1).remote(0)
    actors.append(c)
    first_pid = ray.get(c.pid.remote(), timeout=60)
    flag = str(tmp_path / "crashed-once")
    # The first attempt kills the process; the retry runs on the restarted actor.
    value, pid = ray.get(c.crash_once.remote(flag), timeout=60)
    assert os.path.exists(flag)
    assert value == 1
    assert pid != first_pid
    assert ray.get(c.incr.remote(), timeout=30) == 2


def test_kill_with_restart_allowed(ray_start_shared, actors):
    Crasher = make_crasher_class()
    c = Crasher.options(max_restarts=1, max_task_retries=1).remote(0)
    actors.append(c)
    assert ray.get(c.incr.remote(), timeout=60) == 1
    first_pid = ray.get(c.pid.remote(), timeout=30)
    ray.kill(c, no_restart=False)
    assert pid_gone_within(first_pid, 10)
    assert ray.get(c.incr.remote(), timeout=60) == 1
    assert ray.get(c.pid.remote(), timeout=30) != first_pid
    ray.kill(c)  # no_restart=True by default
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(c.incr.remote(), timeout=30)


def test_kill_default_does_not_restart(ray_start_shared, actors):
    Crasher = make_crasher_class()
    c = Crasher.options(max_restarts=3).remote(0)
    actors.append(c)
    pid = ray.get(c.pid.remote(), timeout=60)
    ray.kill(c)
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(c.incr.remote(), timeout=30)
    assert pid_gone_within(pid, 10)


# ---------------------------------------------------------------------------------------------
# Several drivers


def connected_driver(address, namespace, body):
    """The source of a driver that joins the cluster at `address` in `namespace`."""
    return (
        "import os\n"
        "import sys\n"
        "import time\n\n"
        "import cyray as ray\n\n"
        f"ray.init(address={address!r}, namespace={namespace!r})\n\n"
        + body
    )


def test_second_driver_gets_named_actor(ray_start_with_info, actors, tmp_path):
    ray, info = ray_start_with_info
    Crasher = make_crasher_class()
    shared = Crasher.options(name="shared_counter", namespace="multi_driver",
                             lifetime="detached").remote(10)
    actors.append(shared)
    assert ray.get(shared.incr.remote(), timeout=60) == 11
    body = """
h = ray.get_actor("shared_counter")
print("VALUE", ray.get(h.incr.remote(), timeout=60), flush=True)
print("PID", ray.get(h.pid.remote(), timeout=60), flush=True)
try:
    ray.get_actor("shared_counter", namespace="elsewhere")
    print("OTHER_NAMESPACE found", flush=True)
except ValueError:
    print("OTHER_NAMESPACE missing", flush=True)
"""
    address = info.address_info["gcs_address"]
    run = run_driver_script(tmp_path, connected_driver(address, "multi_driver", body), timeout=90)
    assert run.returncode == 0, run.stderr
    assert "VALUE 12" in run.stdout, run.stdout + run.stderr
    assert "OTHER_NAMESPACE missing" in run.stdout, run.stdout
    pid = int(re.search(r"PID (\d+)", run.stdout).group(1))
    # Same actor, state shared, and still alive after the second driver left.
    assert ray.get(shared.pid.remote(), timeout=30) == pid
    assert ray.get(shared.incr.remote(), timeout=30) == 13
    ray.kill(shared)
    assert pid_gone_within(pid, 10)


def test_actor_dies_with_the_driver_that_made_it(ray_start_with_info, tmp_path):
    ray, info = ray_start_with_info
    body = """
@ray.remote
class Keeper:
    def pid(self):
        return os.getpid()


k = Keeper.options(name="keeper").remote()
print("ACTOR_PID", ray.get(k.pid.remote(), timeout=60), flush=True)
# Exits without ray.shutdown() and with the handle alive.
"""
    address = info.address_info["gcs_address"]
    run = run_driver_script(tmp_path, connected_driver(address, "lifetimes", body), timeout=90)
    assert run.returncode == 0, run.stderr
    pid = int(re.search(r"ACTOR_PID (\d+)", run.stdout).group(1))
    assert pid != run.pid
    assert pid_gone_within(pid, 15), (
        f"actor {pid} of a driver that exited still runs after 15 s")

    def name_released():
        try:
            ray.get_actor("keeper", namespace="lifetimes")
        except ValueError:
            return True
        return False

    wait_for(name_released, 15, message="the dead actor's name to be released")
    # The cluster of the first driver is unharmed.
    assert_tasks_still_run()


def test_detached_actor_outlives_its_driver(ray_start_with_info, tmp_path):
    ray, info = ray_start_with_info
    body = """
@ray.remote
class Keeper:
    def __init__(self):
        self.value = 41

    def incr(self):
        self.value += 1
        return self.value

    def pid(self):
        return os.getpid()


d = Keeper.options(name="d", lifetime="detached").remote()
print("VALUE", ray.get(d.incr.remote(), timeout=60), flush=True)
print("ACTOR_PID", ray.get(d.pid.remote(), timeout=60), flush=True)
"""
    address = info.address_info["gcs_address"]
    run = run_driver_script(tmp_path, connected_driver(address, "detached_ns", body), timeout=90)
    assert run.returncode == 0, run.stderr
    assert "VALUE 42" in run.stdout, run.stdout
    pid = int(re.search(r"ACTOR_PID (\d+)", run.stdout).group(1))
    proc = live_process(pid)
    # Give a wrongful cleanup of the finished job time to happen.
    time.sleep(3)
    assert is_alive(proc), "the detached actor died with its driver"
    with pytest.raises(ValueError):
        ray.get_actor("d")  # this driver's namespace is another one
    d = ray.get_actor("d", namespace="detached_ns")
    assert ray.get(d.incr.remote(), timeout=30) == 43
    assert ray.get(d.pid.remote(), timeout=30) == pid
    ray.kill(d)
    assert not wait_until_gone([proc], 10), f"killed detached actor {pid} still runs"


# ---------------------------------------------------------------------------------------------
# Output and shutdown


ACTOR_PRINT_DRIVER = """
import os
import sys
import time

import cyray as ray

ray.init(num_cpus=1)


@ray.remote
class Chatty:
    def speak(self, tag):
        print("actor-stdout-marker", tag, flush=True)
        print("actor-stderr-marker", tag, file=sys.stderr, flush=True)
        return os.getpid()


c = Chatty.remote()
pid = ray.get(c.speak.remote("Y1"))
print("ACTOR_PID", pid, flush=True)
time.sleep(2)
ray.shutdown()
print("DRIVER_DONE", flush=True)
"""


def test_actor_output_reaches_driver(tmp_path):
    run = run_driver_script(tmp_path, ACTOR_PRINT_DRIVER)
    assert run.returncode == 0, run.stderr
    out, err = run.stdout, run.stderr
    assert "DRIVER_DONE" in out, err
    pid = int(re.search(r"ACTOR_PID (\d+)", out).group(1))
    assert pid != run.pid
    assert has_prefixed_line(out, "Chatty", pid, "actor-stdout-marker Y1"), out
    assert has_prefixed_line(err, "Chatty", pid, "actor-stderr-marker Y1"), err


def test_shutdown_with_live_actors_leaves_no_process():
    if ray.is_initialized():
        ray.shutdown()
    procs = []
    try:
        ray.init(num_cpus=2)
        Crasher = make_crasher_class()

        @ray.remote(max_concurrency=2)
        class Threaded:
            def pid(self):
                return os.getpid()

        @ray.remote
        class Async:
            async def pid(self):
                return os.getpid()

        handles = [Crasher.remote(), Crasher.options(num_cpus=1).remote(),
                   Crasher.options(name="detached_at_shutdown", lifetime="detached").remote(),
                   Threaded.remote(), Async.remote()]
        busy = handles[0]
        actor_pids = set(ray.get([h.pid.remote() for h in handles], timeout=90))
        assert len(actor_pids) == len(handles)
        busy.sleep.remote(60)  # a call still running at shutdown
        procs = cyray_processes()
        assert actor_pids <= {p.pid for p in procs}, (actor_pids, describe(procs))

        ray.shutdown()
        survivors = wait_until_gone(procs, timeout=5)
        assert not survivors, f"still running 5 s after shutdown: {describe(survivors)}"
        late = cyray_processes()
        assert not late, f"cyray processes left after shutdown: {describe(late)}"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        kill_processes(procs + cyray_processes())



def test_call_on_a_dropped_handle_still_returns(ray_start_shared):
    import asyncio

    @ray.remote
    class AsyncActor:
        async def slow(self, x):
            await asyncio.sleep(0.3)
            return x * 2

    @ray.remote(max_concurrency=2)
    class ThreadedActor:
        def slow(self, x):
            time.sleep(0.3)
            return x * 3

    # The handle is gone as soon as .remote() returns: calls already made run first.
    assert ray.get(AsyncActor.remote().slow.remote(21), timeout=60) == 42
    assert ray.get(ThreadedActor.remote().slow.remote(5), timeout=60) == 15
    handle = AsyncActor.remote()
    refs = [handle.slow.remote(i) for i in range(5)]
    del handle
    assert ray.get(refs, timeout=60) == [0, 2, 4, 6, 8]


def _raylet_process():
    import psutil

    for proc in psutil.Process().children(recursive=True):
        try:
            if any("cyray/core/raylet" in part for part in proc.cmdline()):
                return proc
        except psutil.Error:
            continue
    raise AssertionError("no raylet among this test's processes")


def test_local_raylet_death_fails_pending_and_new_calls_promptly(ray_start):
    @ray.remote
    class Sleeper:
        def ping(self):
            return "pong"

        def sleep(self):
            time.sleep(60)

    @ray.remote
    def slow_task():
        time.sleep(60)

    actor = Sleeper.remote()
    assert ray.get(actor.ping.remote(), timeout=60) == "pong"
    pending_call = actor.sleep.remote()
    pending_task = slow_task.remote()
    time.sleep(0.5)
    _raylet_process().kill()
    start = time.time()
    for ref in (pending_call, pending_task, actor.ping.remote()):
        with pytest.raises((ray.exceptions.LocalRayletDiedError, ray.exceptions.RayActorError,
                            ray.exceptions.WorkerCrashedError)) as info:
            ray.get(ref, timeout=10)
        assert not isinstance(info.value, ray.exceptions.GetTimeoutError)
    assert time.time() - start < 2.5, "calls should fail within about 2 s of the raylet's death"
    with pytest.raises(ray.exceptions.LocalRayletDiedError):
        ray.get(actor.ping.remote(), timeout=10)
