"""Concurrency inside one actor: the default (one call at a time), threaded actors
(max_concurrency), async actors and concurrency groups.

Overlap is proven with barriers created in the actor's __init__ (the calls can only pass
if they wait at the same time); each barrier has a timeout, so a non-concurrent actor makes
the test fail with BrokenBarrierError instead of hanging.
"""

import asyncio
import threading
import time

import pytest

import cyray as ray


def make_tracker_class():
    """An actor that counts the calls in flight and remembers the peak."""

    @ray.remote
    class Tracker:
        def __init__(self):
            self.lock = threading.Lock()
            self.active = 0
            self.peak = 0

        def work(self, seconds):
            with self.lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            time.sleep(seconds)
            with self.lock:
                self.active -= 1
            return self.peak

        def get_peak(self):
            return self.peak

    return Tracker


def test_default_actor_runs_one_call_at_a_time(ray_start_shared, actors):
    Tracker = make_tracker_class()
    t = Tracker.remote()
    actors.append(t)
    ray.get(t.get_peak.remote(), timeout=60)
    ray.get([t.work.remote(0.2) for _ in range(4)], timeout=60)
    assert ray.get(t.get_peak.remote(), timeout=30) == 1


def test_threaded_actor_calls_overlap(ray_start_shared, actors):
    @ray.remote(max_concurrency=4)
    class Rendezvous:
        def __init__(self, parties):
            self.barrier = threading.Barrier(parties, timeout=10)

        def meet(self, i):
            self.barrier.wait()
            return i

    r = Rendezvous.remote(4)
    actors.append(r)
    # All 4 must wait at the barrier at the same time to pass it.
    assert ray.get([r.meet.remote(i) for i in range(4)], timeout=60) == [0, 1, 2, 3]
    # The actor is reusable: 4 more.
    assert ray.get([r.meet.remote(i) for i in range(4, 8)], timeout=60) == [4, 5, 6, 7]


def test_threaded_actor_max_concurrency_is_a_cap(ray_start_shared, actors):
    Tracker = make_tracker_class()
    t = Tracker.options(max_concurrency=3).remote()
    actors.append(t)
    ray.get(t.get_peak.remote(), timeout=60)
    ray.get([t.work.remote(0.3) for _ in range(9)], timeout=60)
    peak = ray.get(t.get_peak.remote(), timeout=30)
    assert 1 < peak <= 3, peak


def test_async_actor_100_sleeps_overlap(ray_start_shared, actors):
    @ray.remote
    class AsyncSleeper:
        def __init__(self):
            self.active = 0
            self.peak = 0

        async def nap(self, i):
            self.active += 1
            self.peak = max(self.peak, self.active)
            await asyncio.sleep(0.5)
            self.active -= 1
            return i

        async def get_peak(self):
            return self.peak

    a = AsyncSleeper.remote()
    actors.append(a)
    assert ray.get(a.get_peak.remote(), timeout=60) == 0  # the actor is up
    start = time.monotonic()
    # One after another that would be 50 s; the default max_concurrency of an async actor
    # (1000 in Ray) lets all 100 sleep at once.
    assert ray.get([a.nap.remote(i) for i in range(100)], timeout=60) == list(range(100))
    elapsed = time.monotonic() - start
    assert elapsed < 4.0, f"100 async sleeps of 0.5 s took {elapsed:.1f} s"
    assert ray.get(a.get_peak.remote(), timeout=30) > 10


def test_async_actor_max_concurrency_is_a_cap(ray_start_shared, actors):
    @ray.remote(max_concurrency=2)
    class AsyncTracker:
        def __init__(self):
            self.active = 0
            self.peak = 0

        async def nap(self):
            self.active += 1
            self.peak = max(self.peak, self.active)
            await asyncio.sleep(0.2)
            self.active -= 1

        async def get_peak(self):
            return self.peak

    a = AsyncTracker.remote()
    actors.append(a)
    ray.get(a.get_peak.remote(), timeout=60)
    ray.get([a.nap.remote() for _ in range(8)], timeout=60)
    assert ray.get(a.get_peak.remote(), timeout=30) == 2


def test_async_actor_state_and_errors(ray_start_shared, actors):
    @ray.remote
    class AsyncCounter:
        def __init__(self):
            self.value = 0

        async def incr(self):
            await asyncio.sleep(0)
            self.value += 1
            return self.value

        async def fail(self, message):
            await asyncio.sleep(0)
            raise KeyError(message)

    c = AsyncCounter.remote()
    actors.append(c)
    assert sorted(ray.get([c.incr.remote() for _ in range(20)], timeout=60)) == list(
        range(1, 21))
    with pytest.raises(KeyError) as info:
        ray.get(c.fail.remote("async marker"), timeout=30)
    assert isinstance(info.value, ray.exceptions.RayTaskError)
    assert "async marker" in str(info.value)
    assert ray.get(c.incr.remote(), timeout=30) == 21


def test_concurrency_group_threaded(ray_start_shared, actors):
    @ray.remote(concurrency_groups={"io": 2})
    class Grouped:
        def __init__(self):
            self.io_barrier = threading.Barrier(2, timeout=10)
            self.runtime_barrier = threading.Barrier(2, timeout=10)

        @ray.method(concurrency_group="io")
        def io_meet(self, i):
            self.io_barrier.wait()
            return i

        def runtime_meet(self, i):
            self.runtime_barrier.wait()
            return i

        def plain(self):
            return "plain"

    g = Grouped.remote()
    actors.append(g)
    assert ray.get(g.plain.remote(), timeout=60) == "plain"
    # Two calls of the "io" group (2 threads) overlap.
    assert ray.get([g.io_meet.remote(0), g.io_meet.remote(1)], timeout=60) == [0, 1]
    # The default group has its own thread: it serves while an io call blocks.
    blocked = g.io_meet.remote(2)
    assert ray.get(g.plain.remote(), timeout=5) == "plain"
    assert ray.get([blocked, g.io_meet.remote(3)], timeout=30) == [2, 3]
    # The group can also be chosen per call.
    io = g.runtime_meet.options(concurrency_group="io")
    assert ray.get([io.remote(0), io.remote(1)], timeout=60) == [0, 1]


def test_concurrency_group_async(ray_start_shared, actors):
    @ray.remote(concurrency_groups={"io": 2})
    class AsyncGrouped:
        def __init__(self):
            self.active = 0
            self.peak = 0
            self.arrived = 0
            self.event = None

        @ray.method(concurrency_group="io")
        async def io_meet(self, i):
            # An asyncio rendezvous of 2 (the event is made on the actor's loop).
            if self.event is None:
                self.event = asyncio.Event()
            self.arrived += 1
            if self.arrived == 2:
                self.event.set()
            await asyncio.wait_for(self.event.wait(), timeout=10)
            return i

        @ray.method(concurrency_group="io")
        async def io_nap(self):
            self.active += 1
            self.peak = max(self.peak, self.active)
            await asyncio.sleep(0.2)
            self.active -= 1

        async def get_peak(self):
            return self.peak

    g = AsyncGrouped.remote()
    actors.append(g)
    assert ray.get(g.get_peak.remote(), timeout=60) == 0
    assert ray.get([g.io_meet.remote(0), g.io_meet.remote(1)], timeout=60) == [0, 1]
    ray.get([g.io_nap.remote() for _ in range(6)], timeout=60)
    assert ray.get(g.get_peak.remote(), timeout=30) == 2
