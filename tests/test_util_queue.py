"""cyray.util.queue: an actor-backed FIFO queue shared by tasks and actors (as ray.util.queue)."""

import asyncio
import queue as stdlib_queue

import pytest
from conftest import wait_for

from cyray.util.queue import Empty, Full, Queue


def test_exceptions_subclass_stdlib():
    assert issubclass(Empty, stdlib_queue.Empty)
    assert issubclass(Full, stdlib_queue.Full)


def test_fifo_order_and_sizes(ray_start_shared):
    q = Queue()
    try:
        assert q.empty() and not q.full()
        assert q.size() == q.qsize() == len(q) == 0
        for i in range(5):
            q.put(i)
        assert q.qsize() == 5 and len(q) == 5 and not q.empty()
        assert [q.get() for _ in range(5)] == [0, 1, 2, 3, 4]
        assert q.empty()
    finally:
        q.shutdown()


def test_nowait_and_timeouts(ray_start_shared):
    q = Queue(maxsize=2)
    try:
        with pytest.raises(Empty):
            q.get_nowait()
        with pytest.raises(Empty):
            q.get(block=False)
        with pytest.raises(Empty):
            q.get(timeout=0.2)
        q.put_nowait("a")
        q.put("b", block=False)
        assert q.full()
        with pytest.raises(Full):
            q.put_nowait("c")
        with pytest.raises(Full):
            q.put("c", timeout=0.2)
        with pytest.raises(ValueError, match="non-negative"):
            q.put("c", timeout=-1)
        with pytest.raises(ValueError, match="non-negative"):
            q.get(timeout=-1)
        assert q.get_nowait() == "a"
        assert q.get(timeout=5) == "b"
    finally:
        q.shutdown()


def test_batches(ray_start_shared):
    q = Queue(maxsize=3)
    try:
        q.put_nowait_batch([1, 2])
        with pytest.raises(Full, match="Cannot add 2 items"):
            q.put_nowait_batch([3, 4])
        assert q.qsize() == 2  # all or nothing
        with pytest.raises(TypeError, match="Iterable"):
            q.put_nowait_batch(5)
        with pytest.raises(Empty, match="Cannot get 3 items"):
            q.get_nowait_batch(3)
        with pytest.raises(TypeError, match="int"):
            q.get_nowait_batch("2")
        with pytest.raises(ValueError, match="nonnegative"):
            q.get_nowait_batch(-1)
        assert q.get_nowait_batch(0) == []
        assert q.get_nowait_batch(2) == [1, 2]
    finally:
        q.shutdown()


def test_blocked_get_is_woken_by_put_from_a_task(ray_start_shared):
    """A get that waits in the driver does not stop a task's put through a pickled handle."""
    q = Queue()

    @ray_start_shared.remote
    def producer(q, items):
        for item in items:
            q.put(item)
        return len(items)

    try:
        ref = producer.remote(q, ["x", "y", "z"])
        assert [q.get(timeout=60) for _ in range(3)] == ["x", "y", "z"]
        assert ray_start_shared.get(ref) == 3
    finally:
        q.shutdown()


def test_shared_by_producer_and_consumer_actors(ray_start_shared, actors):
    ray = ray_start_shared
    q = Queue(maxsize=1)  # the producer must wait for the consumer

    @ray.remote
    class Consumer:
        def __init__(self, q):
            self.q = q

        def take(self, n):
            return [self.q.get(timeout=60) for _ in range(n)]

    @ray.remote
    def produce(q, n):
        for i in range(n):
            q.put(i, timeout=60)

    try:
        consumer = Consumer.remote(q)
        actors.append(consumer)
        done = produce.remote(q, 6)
        assert ray.get(consumer.take.remote(6), timeout=120) == list(range(6))
        ray.get(done, timeout=60)
        assert q.empty()
    finally:
        q.shutdown()


def test_async_variants(ray_start_shared):
    q = Queue(maxsize=1)

    async def run():
        await q.put_async(1)
        with pytest.raises(Full):
            await q.put_async(2, block=False)
        with pytest.raises(Full):
            await q.put_async(2, timeout=0.1)
        with pytest.raises(ValueError):
            await q.put_async(2, timeout=-1)
        assert await q.get_async() == 1
        with pytest.raises(Empty):
            await q.get_async(block=False)
        with pytest.raises(Empty):
            await q.get_async(timeout=0.1)
        with pytest.raises(ValueError):
            await q.get_async(timeout=-1)

    try:
        asyncio.run(run())
    finally:
        q.shutdown()


def test_actor_options_and_shutdown(ray_start_shared):
    ray = ray_start_shared
    q = Queue(actor_options={"name": "util-queue-test", "num_cpus": 0})
    q.put(1)
    assert ray.get_actor("util-queue-test") is not None
    q.shutdown()
    assert q.actor is None

    def name_released():
        try:
            ray.get_actor("util-queue-test")
        except ValueError:
            return True
        return False

    wait_for(name_released, 60, message="the queue actor to exit")

    q = Queue()
    actor = q.actor
    q.shutdown(force=True)
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(actor.qsize.remote(), timeout=60)
