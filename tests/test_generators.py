"""Generator tasks and actor methods, as Ray 2.60 (checked side by side): streaming
ObjectRefGenerators (the default), num_returns="dynamic", num_returns=N, errors at
their position, backpressure, retries, cancel, and the items' lifetimes."""

import asyncio
import os
import pickle
import time

import numpy as np
import pytest

from conftest import wait_for
from cyray._private.state import object_store_stats


def _values(ray, generator):
    out = []
    for ref in generator:
        try:
            out.append(ray.get(ref, timeout=30))
        except Exception as e:  # noqa: BLE001 - the position of the error is the point
            out.append(e)
    return out


def test_items_arrive_as_they_are_yielded(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def slow_count(n):
        for i in range(n):
            yield i
            time.sleep(1)

    gen = slow_count.remote(3)
    assert isinstance(gen, ray.ObjectRefGenerator)
    start = time.monotonic()
    first = next(gen)
    assert isinstance(first, ray.ObjectRef)
    assert ray.get(first) == 0
    assert time.monotonic() - start < 1.5  # long before the task ends
    assert not gen.is_finished()
    assert [ray.get(r) for r in gen] == [1, 2]
    with pytest.raises(StopIteration):
        next(gen)
    assert gen.is_finished()
    assert ray.get(gen.completed()) is None


def test_error_is_an_item_at_its_position(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def fails_after_two():
        yield 1
        yield 2
        raise ValueError("boom")

    gen = fails_after_two.remote()
    values = _values(ray, gen)
    assert values[:2] == [1, 2] and len(values) == 3
    assert isinstance(values[2], ray.exceptions.RayTaskError)
    assert isinstance(values[2], ValueError) and "boom" in str(values[2])
    assert ray.get(gen.completed()) is None  # as Ray: the error is only an item

    @ray.remote
    def fails_at_once():
        raise KeyError("k")
        yield  # unreachable: makes it a generator

    values = _values(ray, fails_at_once.remote())
    assert len(values) == 1 and isinstance(values[0], KeyError)


def test_async_for_in_a_driver(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def count(n):
        yield from range(n)

    async def main():
        return [await ref async for ref in count.remote(4)]

    assert asyncio.run(main()) == [0, 1, 2, 3]


def test_generator_handle_api(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def two():
        yield "a"
        yield "b"

    gen = two.remote()
    assert ray.get(gen) is gen  # as Ray
    with pytest.raises(TypeError):
        ray.get([gen])
    with pytest.raises(TypeError, match="Serializing a ObjectRefGenerator is not allowed"):
        pickle.dumps(gen)
    with pytest.raises(NotImplementedError, match="`gen.send` is not supported"):
        gen.send(1)
    ready, _ = ray.wait([gen], timeout=30)
    assert ready == [gen]
    assert gen.next_ready()
    assert ray.get(next(gen)) == "a"


def test_backpressure_pauses_the_generator(ray_start_shared, tmp_path):
    ray = ray_start_shared
    log = tmp_path / "yielded"

    @ray.remote(_generator_backpressure_num_objects=2)
    def produce(path, n):
        for i in range(n):
            with open(path, "a") as f:
                f.write(f"{i}\n")
            yield i

    gen = produce.remote(str(log), 6)
    wait_for(lambda: log.exists() and len(log.read_text().split()) >= 2, 30)
    time.sleep(1.5)
    assert len(log.read_text().split()) == 2  # waits for the consumer
    assert ray.get(next(gen)) == 0
    wait_for(lambda: len(log.read_text().split()) == 3, 30)
    time.sleep(0.5)
    assert len(log.read_text().split()) == 3
    assert [ray.get(r) for r in gen] == [1, 2, 3, 4, 5]

    with pytest.raises(ValueError, match="_generator_backpressure_num_objects=0 is not allowed"):
        produce.options(_generator_backpressure_num_objects=0)
    with pytest.raises(TypeError):
        produce.options(_generator_backpressure_num_objects=1.5)


def test_dropping_the_generator_lets_a_paused_task_finish(ray_start_shared, tmp_path):
    ray = ray_start_shared
    done = tmp_path / "done"

    @ray.remote(_generator_backpressure_num_objects=1)
    def produce(path):
        for i in range(5):
            yield i
        open(path, "w").close()

    gen = produce.remote(str(done))
    completed = gen.completed()
    time.sleep(1)
    assert not done.exists()
    del gen
    assert ray.get(completed, timeout=30) is None
    assert done.exists()


def test_dynamic(ray_start_shared):
    ray = ray_start_shared

    @ray.remote(num_returns="dynamic")
    def items(n, fail):
        for i in range(n):
            yield i
        if fail:
            raise ValueError("late")

    ref = items.remote(3, False)
    assert isinstance(ref, ray.ObjectRef)
    dynamic = ray.get(ref)
    assert isinstance(dynamic, ray.DynamicObjectRefGenerator)
    assert len(dynamic) == 3
    refs = list(dynamic)
    assert ray.get(refs) == [0, 1, 2]
    assert len(dynamic) == 0  # taken once, as Ray

    dynamic = ray.get(items.remote(2, True))
    assert len(dynamic) == 3
    values = _values(ray, dynamic)
    assert values[:2] == [0, 1] and isinstance(values[2], ValueError)

    @ray.remote
    def consume(dynamic):
        return sum(ray.get(list(dynamic)))

    # The listing (and its items) can be passed on like any value.
    assert ray.get(consume.remote(ray.get(items.remote(4, False)))) == 6


def test_fixed_num_returns_takes_the_first_items(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def letters():
        yield "a"
        yield "b"
        yield "c"

    assert ray.get(letters.options(num_returns=2).remote()) == ["a", "b"]
    assert ray.get(letters.options(num_returns=1).remote()) == "a"
    with pytest.raises(ValueError, match="Task returned 3 objects, but num_returns=4"):
        ray.get(letters.options(num_returns=4).remote())
    assert isinstance(letters.options(num_returns="streaming").remote(), ray.ObjectRefGenerator)

    @ray.remote
    def plain():
        return 1

    with pytest.raises(ValueError, match="can only be used with generator functions"):
        plain.options(num_returns="streaming")


def test_actor_generator_methods(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    class Sync:
        def count(self, n):
            yield from range(n)

        def broken(self):
            yield "ok"
            raise RuntimeError("mid-stream")

        @ray.method(num_returns=2)
        def pair(self):
            yield 1
            yield 2

    @ray.remote
    class Async:
        async def count(self, n):
            for i in range(n):
                await asyncio.sleep(0.01)
                yield i

        async def ping(self):
            return "pong"

    s = Sync.remote()
    assert [ray.get(r) for r in s.count.remote(3)] == [0, 1, 2]
    values = _values(ray, s.broken.remote())
    assert values[0] == "ok" and isinstance(values[1], RuntimeError)
    assert ray.get(s.pair.remote()) == [1, 2]
    a = Async.remote()
    gen = a.count.remote(5)
    assert isinstance(gen, ray.ObjectRefGenerator)
    assert ray.get(a.ping.remote()) == "pong"
    assert [ray.get(r) for r in gen] == [0, 1, 2, 3, 4]
    dynamic = ray.get(a.count.options(num_returns="dynamic").remote(2))
    assert ray.get(list(dynamic)) == [0, 1]
    ray.kill(s)
    ray.kill(a)


def test_retry_after_the_worker_died_continues_without_repeats(ray_start_shared, tmp_path):
    ray = ray_start_shared
    marker = tmp_path / "attempt"

    @ray.remote(max_retries=2)
    def flaky(path):
        first = not os.path.exists(path)
        open(path, "a").close()
        for i in range(5):
            if first and i == 2:
                time.sleep(0.5)  # the reports of the items yielded so far leave first
                os._exit(1)
            yield ("first" if first else "retry", i)

    values = [ray.get(r, timeout=60) for r in flaky.remote(str(marker))]
    assert [i for _, i in values] == [0, 1, 2, 3, 4]
    assert values[0][0] == "first" and values[4][0] == "retry"


def test_retry_exceptions_hides_the_failed_attempt(ray_start_shared, tmp_path):
    ray = ray_start_shared
    marker = tmp_path / "attempt"

    @ray.remote(max_retries=1, retry_exceptions=True)
    def flaky(path):
        first = not os.path.exists(path)
        open(path, "a").close()
        for i in range(3):
            if first and i == 1:
                raise ValueError("transient")
            yield i

    assert [ray.get(r) for r in flaky.remote(str(marker))] == [0, 1, 2]


def test_worker_death_without_retries_ends_the_stream_with_the_error(ray_start_shared):
    ray = ray_start_shared

    @ray.remote(max_retries=0)
    def dies():
        yield 1
        time.sleep(0.5)  # the item's report leaves before the worker dies
        os._exit(1)

    values = _values(ray, dies.remote())
    assert values[0] == 1 and len(values) == 2
    assert isinstance(values[1], ray.exceptions.WorkerCrashedError)


def test_cancel_a_generator(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def forever():
        i = 0
        while True:
            yield i
            i += 1
            time.sleep(0.05)

    gen = forever.remote()
    assert ray.get(next(gen)) == 0
    ray.cancel(gen)
    values = _values(ray, gen)
    assert values and isinstance(values[-1], ray.exceptions.TaskCancelledError)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(gen.completed(), timeout=30)


def test_large_items_travel_through_the_object_store_and_are_freed(ray_start_shared):
    ray = ray_start_shared
    baseline = object_store_stats()["num_objects"]

    @ray.remote
    def arrays(n):
        for i in range(n):
            yield np.full(500_000, i, dtype=np.float64)

    gen = arrays.remote(4)
    sums = [float(ray.get(r).sum()) for r in gen]
    assert sums == [0.0, 500_000.0, 1_000_000.0, 1_500_000.0]
    del gen
    wait_for(lambda: object_store_stats()["num_objects"] == baseline, 30,
             message="the items to be freed")


def test_items_of_a_dropped_generator_are_freed(ray_start_shared, tmp_path):
    ray = ray_start_shared
    done = tmp_path / "done"
    baseline = object_store_stats()["num_objects"]

    @ray.remote
    def arrays(path):
        for i in range(6):
            time.sleep(0.1)
            yield np.full(300_000, i, dtype=np.float64)
        open(path, "w").close()

    gen = arrays.remote(str(done))
    completed = gen.completed()
    ray.get(next(gen))
    del gen  # items reported from now on have no consumer
    assert ray.get(completed, timeout=30) is None
    assert done.exists()
    wait_for(lambda: object_store_stats()["num_objects"] == baseline, 30,
             message="the dropped generator's items to be freed")


def test_shutdown_with_a_paused_generator_alive_does_not_hang(tmp_path):
    from conftest import run_driver_script

    result = run_driver_script(tmp_path, """
        import time
        import cyray as ray
        ray.init(num_cpus=2)

        @ray.remote(_generator_backpressure_num_objects=1)
        def produce():
            for i in range(100):
                yield i

        gen = produce.remote()  # kept alive past shutdown
        assert ray.get(next(gen)) == 0
        time.sleep(1)  # the worker waits for the consumer
        start = time.monotonic()
        ray.shutdown()
        print("shutdown took", round(time.monotonic() - start, 1))
    """, timeout=60)
    assert result.returncode == 0, result.stderr
    took = float(result.stdout.split("shutdown took")[1].split()[0])
    assert took < 10


def test_a_cancelled_anext_loses_no_item(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def slow():
        time.sleep(1)
        yield "first"
        yield "second"

    async def main():
        gen = slow.remote()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(gen.__anext__(), 0.2)  # cancelled while it waits
        return [await ref async for ref in gen]

    assert asyncio.run(main()) == ["first", "second"]


def test_future_callbacks_may_submit_tasks(ray_start_shared):
    """A future's done-callback runs on the resolver thread, not on a core worker thread:
    it may submit a task and wait for it."""
    ray = ray_start_shared

    @ray.remote
    def one():
        return 1

    import concurrent.futures

    outcome = concurrent.futures.Future()

    def on_done(fut):
        try:
            outcome.set_result(fut.result() + ray.get(one.remote(), timeout=30))
        except Exception as e:  # noqa: BLE001 - reported through the test's future
            outcome.set_exception(e)

    one.remote().future().add_done_callback(on_done)
    assert outcome.result(timeout=60) == 2
