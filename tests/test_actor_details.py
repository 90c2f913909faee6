"""Details of actors as Ray has them: __ray_ready__/__ray_call__, argument and name checks,
@method options, exit_actor() in __init__, get_if_exists under races, stale handles."""

import subprocess
import sys
import textwrap
import threading
import time

import pytest

import cyray
from cyray import exceptions as exc


def test_ray_ready_and_ray_call(ray_start_shared, actors):
    ray = ray_start_shared

    @ray.remote
    class Counter:
        def __init__(self, start):
            self.value = start

    counter = Counter.remote(5)
    actors.append(counter)
    assert ray.get(counter.__ray_ready__.remote()) is True
    assert ray.get(counter.__ray_call__.remote(lambda self, n: self.value + n, 2)) == 7


def test_unknown_method_is_an_attribute_error_at_access(ray_start_shared, actors):
    ray = ray_start_shared

    @ray.remote
    class Plain:
        def f(self):
            return 1

    plain = Plain.remote()
    actors.append(plain)
    with pytest.raises(AttributeError, match="'ActorHandle' object has no attribute 'g'"):
        plain.g  # noqa: B018
    with pytest.raises(TypeError, match=r"'object\.f\(\)', try 'object\.f\.remote\(\)'"):
        plain.f()


def test_call_arguments_are_checked_at_remote(ray_start_shared, actors):
    ray = ray_start_shared

    @ray.remote
    class Adder:
        def add(self, a, b=2, *, c=0):
            return a + b + c

        @staticmethod
        def twice(x):
            return 2 * x

    adder = Adder.remote()
    actors.append(adder)
    with pytest.raises(TypeError, match="missing a required argument: 'a'"):
        adder.add.remote()
    with pytest.raises(TypeError, match="too many positional arguments"):
        adder.add.remote(1, 2, 3)
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'd'"):
        adder.add.options(name="x").remote(1, d=3)
    assert ray.get([adder.add.remote(1, c=1), adder.twice.remote(4)]) == [4, 8]


def test_names_and_namespaces_are_checked_as_ray(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    class Named:
        pass

    with pytest.raises(ValueError, match="Actor name cannot be an empty string."):
        Named.options(name="").remote()
    with pytest.raises(ValueError, match='"" is not a valid namespace'):
        Named.options(name="n", namespace="").remote()
    with pytest.raises(TypeError, match="The type of keyword 'namespace' must be"):
        Named.options(namespace=1)
    with pytest.raises(ValueError, match="Please supply a non-empty value to get_actor"):
        ray.get_actor("")
    with pytest.raises(ValueError, match='"" is not a valid namespace'):
        ray.get_actor("x", namespace="")
    with pytest.raises(ValueError, match="Failed to look up actor with name 'nobody'"):
        ray.get_actor("nobody")


def test_a_taken_name_raises_actor_already_exists(ray_start_shared, actors):
    ray = ray_start_shared

    @ray.remote
    class Named:
        pass

    first = Named.options(name="taken-name").remote()
    actors.append(first)
    with pytest.raises(exc.ActorAlreadyExistsError, match="The name taken-name .* is already "
                                                          "taken"):
        Named.options(name="taken-name").remote()
    # Also a ValueError, as in Ray.
    with pytest.raises(ValueError):
        Named.options(name="taken-name").remote()


def test_class_options_are_validated_as_ray(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    class Plain:
        def f(self):
            return 1

    with pytest.raises(ValueError, match="Setting 'concurrency_groups' is not supported in "
                                         "'.options\\(\\)'."):
        Plain.options(concurrency_groups={"io": 1})
    with pytest.raises(ValueError, match="Invalid option keyword foo for actors."):
        Plain.options(foo=1)
    with pytest.raises(TypeError, match="The type of keyword 'num_cpus' must be"):
        Plain.options(num_cpus="x")
    with pytest.raises(ValueError, match="The keyword 'max_restarts' only accepts None, 0, -1"):
        Plain.options(max_restarts=-2)
    with pytest.raises(NotImplementedError, match="DAG"):
        Plain.bind()
    with pytest.raises(NotImplementedError, match="DAG"):
        Plain.options(num_cpus=1).bind()


def test_method_options_as_ray():
    with pytest.raises(AssertionError, match="Unexpected keyword argument to @ray.method: "
                                             "'foo'"):
        cyray.method(foo=1)
    with pytest.raises(AssertionError, match="must be applied using no arguments"):
        cyray.method(1)
    with pytest.raises(ValueError, match="num_returns must be >= 0, but got -1."):
        cyray.method(num_returns=-1)
    cyray.method(max_task_retries=None, retry_exceptions=False, enable_task_events=False)
    cyray.method(max_task_retries=2, retry_exceptions=[ValueError])
    with pytest.raises(ValueError, match="max_task_retries"):
        cyray.method(max_task_retries=-2)


def test_method_call_options(ray_start_shared, actors):
    ray = ray_start_shared

    @ray.remote
    class Pair:
        @ray.method(num_returns=2)
        def two(self):
            return 1, 2

    pair = Pair.remote()
    actors.append(pair)
    assert ray.get(pair.two.remote()) == [1, 2]
    assert ray.get(pair.two.options(num_returns=1).remote()) == (1, 2)
    with pytest.raises(ValueError, match="num_returns must be >= 0"):
        pair.two.options(num_returns=-1)
    with pytest.raises(ValueError, match="max_task_retries"):
        pair.two.options(max_task_retries=-5)


def test_method_retry_exceptions_per_method_and_per_call(ray_start_shared, actors):
    ray = ray_start_shared

    @ray.remote
    class Flaky:
        def __init__(self):
            self.calls = {}

        def _fail_first(self, key, times, error):
            self.calls[key] = self.calls.get(key, 0) + 1
            if self.calls[key] <= times:
                raise error(f"attempt {self.calls[key]}")
            return self.calls[key]

        @ray.method(max_task_retries=2, retry_exceptions=True)
        def retried(self, key, times):
            return self._fail_first(key, times, RuntimeError)

        @ray.method(max_task_retries=3, retry_exceptions=[KeyError])
        def only_key_errors(self, key, error_name):
            return self._fail_first(key, 1, {"KeyError": KeyError, "IndexError": IndexError}[
                error_name])

        def plain(self, key, times):
            return self._fail_first(key, times, RuntimeError)

        async def async_plain(self, key, times):
            return self._fail_first(key, times, RuntimeError)

    actor = Flaky.remote()
    actors.append(actor)
    assert ray.get(actor.retried.remote("a", 2)) == 3  # third attempt succeeds
    with pytest.raises(RuntimeError, match="attempt 3"):
        ray.get(actor.retried.remote("b", 3))  # retries run out
    assert ray.get(actor.only_key_errors.remote("c", "KeyError")) == 2
    with pytest.raises(IndexError):
        ray.get(actor.only_key_errors.remote("d", "IndexError"))  # not in the allowlist
    with pytest.raises(RuntimeError):
        ray.get(actor.plain.remote("e", 1))  # no retries unless asked
    # Per call, through .options().
    assert ray.get(actor.plain.options(max_task_retries=1, retry_exceptions=True).remote(
        "f", 1)) == 2
    # The per-call option overrides the method's.
    with pytest.raises(RuntimeError):
        ray.get(actor.retried.options(max_task_retries=0).remote("g", 1))

    @ray.remote
    class AsyncFlaky:
        def __init__(self):
            self.calls = 0

        @ray.method(max_task_retries=1, retry_exceptions=True)
        async def once(self):
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("first")
            return self.calls

    async_actor = AsyncFlaky.remote()
    actors.append(async_actor)
    assert ray.get(async_actor.once.remote()) == 2


def test_exit_actor_in_init_ends_the_actor_intentionally(ray_start_shared):
    ray = ray_start_shared

    @ray.remote(max_restarts=2)
    class Leaves:
        def __init__(self):
            from cyray.actor import exit_actor

            exit_actor()

        def f(self):
            return 1

    leaves = Leaves.remote()
    for call in (leaves.__ray_ready__, leaves.f):
        with pytest.raises(exc.ActorDiedError) as info:
            ray.get(call.remote(), timeout=60)
        # An intentional exit, not an error in __init__ (and no restart).
        assert not info.value.actor_init_failed
        assert "intentionally" in str(info.value)


def test_exit_actor_outside_an_actor_is_a_type_error(ray_start_shared):
    from cyray.actor import exit_actor

    with pytest.raises(TypeError, match="exit_actor API is called on a non-actor worker"):
        exit_actor()


def test_get_if_exists_from_many_threads_gives_one_actor(ray_start_shared, actors):
    ray = ray_start_shared

    @ray.remote
    class Single:
        def pid(self):
            import os

            return os.getpid()

    handles, errors = [], []

    def get_or_create():
        try:
            handles.append(Single.options(name="single", get_if_exists=True).remote())
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=get_or_create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    actors.extend(handles[:1])
    assert len({h._actor_id for h in handles}) == 1
    assert len(set(ray.get([h.pid.remote() for h in handles]))) == 1


DRIVER = textwrap.dedent("""
    import sys
    import cyray as ray

    ray.init(address=sys.argv[1], namespace="shared", log_to_driver=False)

    @ray.remote(lifetime="detached")
    class Single:
        def ready(self):
            return True

    handle = Single.options(name="one-of-many", get_if_exists=True).remote()
    ray.get(handle.ready.remote())
    print(handle._actor_id.hex())
    ray.shutdown()
""")


def test_get_if_exists_from_several_drivers_gives_one_actor(ray_start_with_info):
    ray, info = ray_start_with_info
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, info.address_info["gcs_address"]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            outputs.append(out.strip().splitlines()[-1])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert len(set(outputs)) == 1
    ray.kill(ray.get_actor("one-of-many", namespace="shared"))


def test_kill_with_a_handle_of_an_earlier_session(ray_start):
    ray = ray_start

    @ray.remote
    class Plain:
        pass

    old = Plain.remote()
    ray.shutdown()
    ray.init(num_cpus=1)
    with pytest.raises(exc.ActorHandleNotFoundError, match="not valid across"):
        ray.kill(old)
    with pytest.raises(ValueError, match="only supported for actors"):
        ray.kill(1)


def test_allow_out_of_order_execution(ray_start_shared, actors):
    ray = ray_start_shared

    @ray.remote
    def slow():
        time.sleep(2)
        return "slow"

    @ray.remote
    class Log:
        def __init__(self):
            self.seen = []

        def record(self, value):
            self.seen.append(value)
            return list(self.seen)

    # In order (the default for a plain actor): the second call waits for the first,
    # whose argument is not ready yet.
    in_order = Log.remote()
    actors.append(in_order)
    first = in_order.record.remote(slow.remote())
    second = in_order.record.remote("quick")
    assert ray.get(second, timeout=30) == ["slow", "quick"]
    ray.get(first)
    # Out of order: the ready call runs first.
    out_of_order = Log.options(allow_out_of_order_execution=True).remote()
    actors.append(out_of_order)
    first = out_of_order.record.remote(slow.remote())
    assert ray.get(out_of_order.record.remote("quick"), timeout=30) == ["quick"]
    assert ray.get(first, timeout=30) == ["quick", "slow"]

    # Ray refuses in-order execution for actors that cannot keep it.
    @ray.remote
    class AsyncActor:
        async def f(self):
            return 1

    with pytest.raises(ValueError, match="async actors, Ray can't execute actor tasks in"):
        AsyncActor.options(allow_out_of_order_execution=False).remote()
    with pytest.raises(ValueError, match="multi-threaded actors"):
        Log.options(max_concurrency=2, allow_out_of_order_execution=False).remote()
