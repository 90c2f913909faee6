"""Actors on a real local cluster: handles, methods, ordering, errors, names and namespaces.

Concurrency (threaded, async, concurrency groups) is in test_actor_concurrency.py; killing,
exiting, crashes, restarts and lifetimes across drivers in test_actor_lifetimes.py.

Actor classes are defined inside the tests (workers cannot import test modules). Every test
appends the handles it makes to the `actors` fixture, which kills them at teardown.
"""

import os
import time

import psutil
import pytest
from conftest import assert_tasks_still_run, process_title, wait_for

import cyray as ray


def make_counter_class():
    """A Counter actor class, made at call time so that it is pickled by value."""

    @ray.remote
    class Counter:
        def __init__(self, start=0, *, step=1):
            self.value = start
            self.step = step

        def incr(self, by=None):
            self.value += self.step if by is None else by
            return self.value

        def get(self):
            return self.value

        def pid(self):
            return os.getpid()

    return Counter


# ---------------------------------------------------------------------------------------------
# Basics


def test_creation_returns_handle_at_once(ray_start_shared, actors, tmp_path):
    release = str(tmp_path / "release-init")

    @ray.remote
    class SlowStart:
        def __init__(self, path):
            deadline = time.time() + 30
            while not os.path.exists(path) and time.time() < deadline:
                time.sleep(0.01)
            self.started = os.path.exists(path)

        def started_ok(self):
            return self.started

    start = time.monotonic()
    handle = SlowStart.remote(release)
    actors.append(handle)
    # .remote() does not wait for __init__, which blocks until the file exists.
    assert time.monotonic() - start < 5
    assert isinstance(handle, ray.actor.ActorHandle)
    ref = handle.started_ok.remote()
    assert isinstance(ref, ray.ObjectRef)
    ready, _ = ray.wait([ref], timeout=0.5)
    assert ready == [], "a method ran before __init__ finished"
    open(release, "w").close()
    assert ray.get(ref, timeout=60) is True


def test_state_persists_across_calls(ray_start_shared, actors):
    Counter = make_counter_class()
    c = Counter.remote(10)
    actors.append(c)
    ref = c.incr.remote()
    assert isinstance(ref, ray.ObjectRef)
    assert ray.get(ref, timeout=60) == 11
    assert ray.get(c.incr.remote(), timeout=30) == 12
    assert ray.get([c.incr.remote(5), c.incr.remote(by=100)], timeout=30) == [17, 117]
    assert ray.get(c.get.remote(), timeout=30) == 117
    # Every call ran in the same process.
    assert len({ray.get(c.pid.remote(), timeout=30) for _ in range(3)}) == 1


def test_constructor_args_and_kwargs(ray_start_shared, actors):
    Counter = make_counter_class()
    by_position = Counter.remote(5)
    by_keywords = Counter.remote(start=100, step=10)
    default = Counter.remote()
    from_ref = Counter.remote(ray.put(1000), step=ray.put(2))  # refs resolved, as for tasks
    actors.extend([by_position, by_keywords, default, from_ref])
    results = ray.get([by_position.incr.remote(), by_keywords.incr.remote(),
                       default.incr.remote(), from_ref.incr.remote()], timeout=60)
    assert results == [6, 110, 1, 1002]


def test_method_args_kwargs_and_refs(ray_start_shared, actors):
    @ray.remote
    class Echo:
        def describe(self, a, b=10, *args, c="c", **kwargs):
            return a, b, args, c, kwargs

        def type_name(self, x):
            return type(x).__name__

        def inspect_nested(self, items, mapping):
            inner, other = items[0], mapping["ref"]
            return (isinstance(inner, ray.ObjectRef), ray.get(inner),
                    isinstance(other, ray.ObjectRef), ray.get(other))

    @ray.remote
    def produce(x):
        return x * 3

    e = Echo.remote()
    actors.append(e)
    assert ray.get(e.describe.remote(1), timeout=60) == (1, 10, (), "c", {})
    assert ray.get(e.describe.remote(a=7, b=8), timeout=30) == (7, 8, (), "c", {})
    assert ray.get(e.describe.remote(1, 2, 3, 4, c="x", d=5), timeout=30) == (
        1, 2, (3, 4), "x", {"d": 5})
    # Top-level ObjectRef arguments arrive as values: from a task, from put, as a keyword.
    assert ray.get(e.describe.remote(produce.remote(2), b=ray.put("put")), timeout=30) == (
        6, "put", (), "c", {})
    assert ray.get(e.type_name.remote(produce.remote(1)), timeout=30) == "int"
    # Nested ones stay refs.
    result = ray.get(e.inspect_nested.remote([produce.remote(5)], {"ref": ray.put("s")}),
                     timeout=30)
    assert result == (True, 15, True, "s")


def test_method_num_returns(ray_start_shared, actors):
    @ray.remote
    class Splitter:
        @ray.method(num_returns=2)
        def pair(self, x):
            return x, x + 1

        def triple(self, x):
            return x, x * 2, x * 3

    s = Splitter.remote()
    actors.append(s)
    a, b = s.pair.remote(1)
    assert isinstance(a, ray.ObjectRef) and isinstance(b, ray.ObjectRef) and a != b
    assert ray.get([a, b], timeout=60) == [1, 2]
    refs = s.triple.options(num_returns=3).remote(2)
    assert len(refs) == 3
    assert ray.get(list(refs), timeout=30) == [2, 4, 6]
    # Without options, one ref holding the tuple; .options() did not change the method.
    one = s.triple.remote(2)
    assert isinstance(one, ray.ObjectRef)
    assert ray.get(one, timeout=30) == (2, 4, 6)
    x, y = s.pair.options(num_returns=2).remote(10)
    assert ray.get([x, y], timeout=30) == [10, 11]


def test_direct_calls_raise_type_error(ray_start_shared, actors):
    Counter = make_counter_class()
    with pytest.raises(TypeError, match=r"\.remote\("):
        Counter()
    with pytest.raises(TypeError, match=r"\.remote\("):
        Counter(5)
    c = Counter.remote()
    actors.append(c)
    with pytest.raises(TypeError, match="remote"):
        c.incr()
    # The actor is fine and the failed direct call did nothing.
    assert ray.get(c.incr.remote(), timeout=60) == 1


def test_actor_options_num_cpus_and_default_actors(ray_start_shared, actors):
    Counter = make_counter_class()
    # Actors with default options hold no CPU once created: more of them than CPUs can live.
    many = [Counter.remote(i) for i in range(5)]
    actors.extend(many)
    assert ray.get([c.incr.remote() for c in many], timeout=90) == [1, 2, 3, 4, 5]
    wait_for(lambda: ray.available_resources().get("CPU", 0) == 2, 15,
             message="2 CPUs available with only default-option actors alive")
    assert_tasks_still_run()
    # num_cpus=1 holds a CPU for the actor's lifetime.
    holder = Counter.options(num_cpus=1, name="cpu_holder").remote(7)
    actors.append(holder)
    assert ray.get(holder.incr.remote(), timeout=60) == 8
    wait_for(lambda: ray.available_resources().get("CPU", 0) == 1, 15,
             message="1 CPU available while a num_cpus=1 actor lives")
    assert ray.get_actor("cpu_holder")._actor_id == holder._actor_id
    assert_tasks_still_run()
    ray.kill(holder)
    wait_for(lambda: ray.available_resources().get("CPU", 0) == 2, 15,
             message="the actor's CPU to be given back after ray.kill")


def test_actor_process_title(ray_start_shared, actors, tmp_path):
    release = str(tmp_path / "release")

    @ray.remote
    class TitledActor:
        def pid(self):
            return os.getpid()

        def hold(self, path):
            deadline = time.time() + 30
            while not os.path.exists(path) and time.time() < deadline:
                time.sleep(0.01)
            return "released"

    a = TitledActor.remote()
    actors.append(a)
    pid = ray.get(a.pid.remote(), timeout=60)
    assert pid != os.getpid()
    held = a.hold.remote(release)
    try:
        wait_for(lambda: "hold" in process_title(pid), 15,
                 message="the title to name the running method")
        assert process_title(pid).startswith("cyray::TitledActor"), process_title(pid)
    finally:
        open(release, "w").close()
    assert ray.get(held, timeout=30) == "released"
    wait_for(lambda: "hold" not in process_title(pid), 15,
             message="the title to drop the method name once it returned")
    assert process_title(pid).startswith("cyray::TitledActor"), process_title(pid)
    assert psutil.pid_exists(pid)


# ---------------------------------------------------------------------------------------------
# Ordering


def make_log_class():
    @ray.remote
    class Log:
        def __init__(self):
            self.items = []

        def append(self, item):
            self.items.append(item)
            return len(self.items)

        def get(self):
            return list(self.items)

    return Log


def test_calls_from_driver_run_in_submission_order(ray_start_shared, actors):
    Log = make_log_class()
    log = Log.remote()
    actors.append(log)
    refs = [log.append.remote(i) for i in range(1000)]
    # Submitted after all appends, so it sees all of them.
    assert ray.get(log.get.remote(), timeout=90) == list(range(1000))
    assert ray.get(refs, timeout=30) == list(range(1, 1001))


def test_a_result_is_not_held_back_by_the_call_queued_after_it(ray_start_shared, actors):
    # The worker may hold a reply briefly to share a write with the next call's, when
    # that call is already queued; never for as long as that call runs.
    @ray.remote
    class Sleeper:
        def ping(self):
            return "pong"

        def sleep(self, seconds):
            time.sleep(seconds)

    actor = Sleeper.remote()
    actors.append(actor)
    ray.get(actor.ping.remote())
    quick = actor.ping.remote()
    slow = actor.sleep.remote(5)
    start = time.monotonic()
    ready, _ = ray.wait([quick], timeout=3)
    assert ready == [quick], "the first call's result waited for the one after it"
    assert time.monotonic() - start < 3
    ray.get(slow)


def test_order_waits_for_argument_dependencies(ray_start_shared, actors, gate):
    # Ray's documented example: a call whose argument is not ready yet still runs before the
    # calls submitted after it by the same caller.
    Log = make_log_class()
    log = Log.remote()
    actors.append(log)
    assert ray.get(log.get.remote(), timeout=60) == []
    first = log.append.remote(gate.task.remote(gate.path, "delayed"))
    second = log.append.remote("second")
    ready, _ = ray.wait([second], timeout=1)
    assert ready == [], "a later call ran before an earlier one whose argument was pending"
    gate.open()
    assert ray.get([first, second], timeout=60) == [1, 2]
    assert ray.get(log.get.remote(), timeout=30) == ["delayed", "second"]


def test_two_callers_each_keep_their_order(ray_start_shared, actors):
    Log = make_log_class()

    @ray.remote
    def feed(log, tag, n):
        refs = [log.append.remote((tag, i)) for i in range(n)]
        ray.get(refs)
        return n

    log = Log.remote()
    actors.append(log)
    ray.get(log.get.remote(), timeout=60)
    n = 300
    from_task = feed.remote(log, "B", n)
    from_driver = [log.append.remote(("A", i)) for i in range(n)]
    assert ray.get(from_task, timeout=90) == n
    ray.get(from_driver, timeout=60)
    items = ray.get(log.get.remote(), timeout=30)
    assert len(items) == 2 * n
    assert [i for tag, i in items if tag == "A"] == list(range(n))
    assert [i for tag, i in items if tag == "B"] == list(range(n))


# ---------------------------------------------------------------------------------------------
# Handles passed around


def test_handle_passed_to_task(ray_start_shared, actors):
    Counter = make_counter_class()

    @ray.remote
    def bump(counter, times):
        for _ in range(times):
            ray.get(counter.incr.remote())
        return ray.get(counter.get.remote())

    @ray.remote
    def read_all(handles):
        return [ray.get(h.get.remote()) for h in handles]

    @ray.remote
    def identity(x):
        return x

    c = Counter.remote(0)
    other = Counter.remote(50)
    actors.extend([c, other])
    assert ray.get(bump.remote(c, 3), timeout=60) == 3
    assert ray.get(c.get.remote(), timeout=30) == 3  # the task changed the same actor
    assert ray.get([bump.remote(c, 2), bump.remote(c, 2)], timeout=60)[-1] >= 5
    assert ray.get(c.get.remote(), timeout=30) == 7
    # Handles pickled inside a list argument stay handles.
    assert ray.get(read_all.remote([c, other]), timeout=60) == [7, 50]
    # A handle can come back from a task and still works.
    [back] = ray.get(identity.remote([c]), timeout=30)
    assert back._actor_id == c._actor_id
    assert ray.get(back.incr.remote(), timeout=30) == 8


def test_handle_passed_to_other_actor(ray_start_shared, actors):
    Counter = make_counter_class()

    @ray.remote
    class Forwarder:
        def __init__(self, target):
            self.target = target

        def forward(self, by):
            return ray.get(self.target.incr.remote(by))

        def read_other(self, other):
            return ray.get(other.get.remote())

    target = Counter.remote(0)
    other = Counter.remote(42)
    fwd = Forwarder.remote(target)
    actors.extend([target, other, fwd])
    assert ray.get(fwd.forward.remote(5), timeout=60) == 5
    assert ray.get(fwd.forward.remote(5), timeout=30) == 10
    assert ray.get(target.get.remote(), timeout=30) == 10
    assert ray.get(fwd.read_other.remote(other), timeout=60) == 42


def test_actor_created_inside_task(ray_start_shared):
    Counter = make_counter_class()

    @ray.remote
    def use_private_actor(n):
        c = Counter.remote(100)
        values = [ray.get(c.incr.remote()) for _ in range(n)]
        ray.kill(c)
        return values

    assert ray.get(use_private_actor.remote(3), timeout=90) == [101, 102, 103]


# ---------------------------------------------------------------------------------------------
# Errors


def test_method_exception_keeps_actor_alive(ray_start_shared, actors):
    @ray.remote
    class Fragile:
        def __init__(self):
            self.calls = 0

        def work(self, x):
            self.calls += 1
            if x < 0:
                raise ValueError(f"negative input {x}")
            return self.calls

    f = Fragile.remote()
    actors.append(f)
    assert ray.get(f.work.remote(1), timeout=60) == 1
    ref = f.work.remote(-7)
    with pytest.raises(ValueError) as info:
        ray.get(ref, timeout=30)
    err = info.value
    assert isinstance(err, ray.exceptions.RayTaskError)
    assert isinstance(err.cause, ValueError)
    assert "negative input -7" in str(err)
    assert "work" in str(err)
    with pytest.raises(ray.exceptions.RayTaskError, match="negative input -7"):
        ray.get(ref, timeout=30)
    # The actor keeps serving with its state intact (the failed call counted too).
    assert ray.get(f.work.remote(1), timeout=30) == 3
    with pytest.raises(ValueError):
        ray.get(f.work.remote(-1), timeout=30)
    assert ray.get(f.work.remote(2), timeout=30) == 5


def test_constructor_failure_fails_every_call(ray_start_shared, actors):
    @ray.remote
    class Broken:
        def __init__(self, message):
            raise RuntimeError(message)

        def ping(self):
            return "pong"

    b = Broken.remote("constructor marker 4242")
    actors.append(b)
    start = time.monotonic()
    for _ in range(3):
        with pytest.raises(ray.exceptions.RayActorError) as info:
            ray.get(b.ping.remote(), timeout=30)
        assert "constructor marker 4242" in str(info.value)
    assert time.monotonic() - start < 30
    # Other work is unaffected.
    assert_tasks_still_run()


def test_kill_takes_an_actor_handle(ray_start_shared):
    with pytest.raises(ValueError):
        ray.kill("not an actor")

    @ray.remote
    def f():
        return 1

    with pytest.raises(ValueError):
        ray.kill(f.remote())


# ---------------------------------------------------------------------------------------------
# Runtime context, ActorPool


def test_runtime_context_actor_id(ray_start_shared, actors):
    @ray.remote
    class Who:
        def actor_id(self):
            return ray.get_runtime_context().get_actor_id()

    @ray.remote
    def task_actor_id():
        return ray.get_runtime_context().get_actor_id()

    a, b = Who.remote(), Who.remote()
    actors.extend([a, b])
    a_id, b_id = ray.get([a.actor_id.remote(), b.actor_id.remote()], timeout=60)
    assert isinstance(a_id, str) and len(a_id) == 32  # ActorID: 16 bytes
    assert a_id == a._actor_id.hex()
    assert b_id == b._actor_id.hex()
    assert a_id != b_id
    # Ray's layout: 12 unique bytes, then the job ID.
    assert a_id.endswith(ray.get_runtime_context().get_job_id())
    assert ray.get_runtime_context().get_actor_id() is None
    assert ray.get(task_actor_id.remote(), timeout=30) is None


def test_actor_pool(ray_start_shared, actors):
    @ray.remote
    class Doubler:
        def double(self, v):
            time.sleep(0.01 * (v % 3))  # uneven durations: results must still be in order
            return 2 * v

    workers = [Doubler.remote(), Doubler.remote()]
    actors.extend(workers)
    pool = ray.util.ActorPool(workers)
    results = list(pool.map(lambda a, v: a.double.remote(v), range(10)))
    assert results == [2 * i for i in range(10)]
    unordered = list(pool.map_unordered(lambda a, v: a.double.remote(v), range(6)))
    assert sorted(unordered) == [0, 2, 4, 6, 8, 10]
    assert not pool.has_next()
    pool.submit(lambda a, v: a.double.remote(v), 5)
    pool.submit(lambda a, v: a.double.remote(v), 6)
    pool.submit(lambda a, v: a.double.remote(v), 7)  # waits for an idle actor
    assert pool.has_next()
    assert [pool.get_next(timeout=30) for _ in range(3)] == [10, 12, 14]
    assert not pool.has_next()


# ---------------------------------------------------------------------------------------------
# Names and namespaces (one driver; several drivers: test_actor_lifetimes.py)


def test_named_actor_get_actor(ray_start_shared, actors):
    Counter = make_counter_class()

    @ray.remote
    def bump_by_name(name):
        return ray.get(ray.get_actor(name).incr.remote())

    c = Counter.options(name="named_c1").remote(5)
    actors.append(c)
    # The name is registered by the time .remote() returns.
    found = ray.get_actor("named_c1")
    assert isinstance(found, ray.actor.ActorHandle)
    assert found._actor_id == c._actor_id
    assert ray.get(found.incr.remote(), timeout=60) == 6
    assert ray.get(c.incr.remote(), timeout=30) == 7
    # A task runs in its driver's namespace and finds the actor by name too.
    assert ray.get(bump_by_name.remote("named_c1"), timeout=60) == 8
    assert ray.get(c.get.remote(), timeout=30) == 8


def test_get_actor_missing_name(ray_start_shared):
    with pytest.raises(ValueError, match="no_such_actor_7f3a"):
        ray.get_actor("no_such_actor_7f3a")
    with pytest.raises(ValueError, match="no_such_actor_7f3a"):
        ray.get_actor("no_such_actor_7f3a", namespace="some_namespace")


def test_name_taken_and_get_if_exists(ray_start_shared, actors):
    Counter = make_counter_class()
    first = Counter.options(name="named_c2").remote(100)
    actors.append(first)
    assert ray.get(first.incr.remote(), timeout=60) == 101
    with pytest.raises(ValueError, match="named_c2"):
        Counter.options(name="named_c2").remote(0)
    # get_if_exists gives back the live actor; its constructor arguments are ignored.
    again = Counter.options(name="named_c2", get_if_exists=True).remote(0)
    assert again._actor_id == first._actor_id
    assert ray.get(again.incr.remote(), timeout=30) == 102
    # get_if_exists with a free name creates the actor.
    fresh = Counter.options(name="named_c3", get_if_exists=True).remote(7)
    actors.append(fresh)
    assert fresh._actor_id != first._actor_id
    assert ray.get(fresh.incr.remote(), timeout=60) == 8
    # The taken name still maps to the first actor, unchanged by the failed creation.
    assert ray.get(ray.get_actor("named_c2").get.remote(), timeout=30) == 102


def test_name_is_freed_when_actor_dies(ray_start_shared, actors):
    Counter = make_counter_class()
    c = Counter.options(name="named_c4").remote(1)
    actors.append(c)
    assert ray.get(c.incr.remote(), timeout=60) == 2
    ray.kill(c)

    def name_free():
        try:
            ray.get_actor("named_c4")
        except ValueError:
            return True
        return False

    wait_for(name_free, 15, message="the name of a killed actor to be released")
    replacement = Counter.options(name="named_c4").remote(50)
    actors.append(replacement)
    assert ray.get(ray.get_actor("named_c4").incr.remote(), timeout=60) == 51


def test_namespaces(ray_start_shared, actors):
    Counter = make_counter_class()
    one = Counter.options(name="ns_actor", namespace="actor_ns1").remote(1)
    # The same name in another namespace is another actor.
    two = Counter.options(name="ns_actor", namespace="actor_ns2").remote(2)
    actors.extend([one, two])
    found_one = ray.get_actor("ns_actor", namespace="actor_ns1")
    found_two = ray.get_actor("ns_actor", namespace="actor_ns2")
    assert found_one._actor_id == one._actor_id
    assert found_two._actor_id == two._actor_id
    assert ray.get([found_one.get.remote(), found_two.get.remote()], timeout=60) == [1, 2]
    # Not visible from the driver's own (anonymous) namespace, nor from a third one.
    with pytest.raises(ValueError, match="ns_actor"):
        ray.get_actor("ns_actor")
    with pytest.raises(ValueError, match="ns_actor"):
        ray.get_actor("ns_actor", namespace="actor_ns3")
    # Taken within its namespace.
    with pytest.raises(ValueError, match="ns_actor"):
        Counter.options(name="ns_actor", namespace="actor_ns1").remote(0)
    # A name in the driver's namespace does not collide with ns1's.
    mine = Counter.options(name="ns_actor").remote(3)
    actors.append(mine)
    assert ray.get(ray.get_actor("ns_actor").get.remote(), timeout=60) == 3
    assert ray.get(found_one.get.remote(), timeout=30) == 1
