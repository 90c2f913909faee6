"""asyncio with ObjectRefs, as Ray: `await ref`, asyncio.gather/wait, ref.future() and
ref.as_future() in a driver's event loop and inside async actors, without blocking the
loop; a blocking get inside an async actor works and warns once."""

import asyncio
import concurrent.futures
import threading
import time

import pytest


def test_await_in_a_driver_loop(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def square(x):
        return x * x

    async def main():
        one = await square.remote(3)
        many = await asyncio.gather(*[square.remote(i) for i in range(20)])
        return one, many

    assert asyncio.run(main()) == (9, [i * i for i in range(20)])


def test_await_does_not_block_the_loop(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def slow():
        time.sleep(1.5)
        return "slow"

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        value = await slow.remote()
        tick_task.cancel()
        return value, ticks

    value, ticks = asyncio.run(main())
    assert value == "slow"
    assert ticks >= 10  # the loop kept running while the task did


def test_asyncio_wait_and_errors(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def fail():
        raise ValueError("boom")

    @ray.remote
    def sleep(seconds):
        time.sleep(seconds)
        return seconds

    async def main():
        done, pending = await asyncio.wait(
            [sleep.remote(0).as_future(), sleep.remote(10).as_future()],
            return_when=asyncio.FIRST_COMPLETED)
        with pytest.raises(ValueError, match="boom"):
            await fail.remote()
        for fut in pending:
            fut.cancel()
        return [f.result() for f in done], len(pending)

    assert asyncio.run(main()) == ([0], 1)


def test_future_resolves_without_a_thread_per_ref(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def echo(x):
        return x

    before = threading.active_count()
    futures = [echo.remote(i).future() for i in range(200)]
    assert threading.active_count() - before < 5
    assert [f.result(timeout=30) for f in futures] == list(range(200))
    assert isinstance(futures[0], concurrent.futures.Future)
    # A ref that is ready already resolves at once; so does a put.
    assert ray.put("x").future().result(timeout=5) == "x"


def test_await_a_ref_another_process_owns(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def make():
        return [ray.put("borrowed")]

    [inner] = ray.get(make.remote())

    async def main():
        return await inner

    assert asyncio.run(main()) == "borrowed"


def test_await_inside_async_actor(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def slow(x):
        time.sleep(0.5)
        return x

    @ray.remote
    class Worker:
        def __init__(self):
            self.calls = 0

        async def fan_out(self, n):
            return sum(await asyncio.gather(*[slow.remote(i) for i in range(n)]))

        async def ping(self):
            self.calls += 1
            return "pong"

        async def other_actor(self, handle):
            return await handle.ping.remote()

    a = Worker.remote()
    b = Worker.remote()
    ref = a.fan_out.remote(4)
    # The actor's loop is free while fan_out awaits: its other calls run meanwhile.
    assert ray.get(a.ping.remote(), timeout=10) == "pong"
    assert ray.get(ref, timeout=30) == 6
    assert ray.get(a.other_actor.remote(b), timeout=30) == "pong"
    ray.kill(a)
    ray.kill(b)


def test_blocking_get_inside_async_actor_works_and_warns(ray_start, capfd):
    ray = ray_start

    @ray.remote
    def one():
        return 1

    @ray.remote
    class A:
        async def blocking(self):
            return ray.get(one.remote()) + ray.get(one.remote())

    a = A.remote()
    assert ray.get(a.blocking.remote(), timeout=30) == 2
    assert ray.get(a.blocking.remote(), timeout=30) == 2
    deadline = time.monotonic() + 10
    text = ""
    while time.monotonic() < deadline:
        text += capfd.readouterr().err
        if "blocking cyray.get inside async actor" in text:
            break
        time.sleep(0.2)
    assert text.count("Using blocking cyray.get inside async actor") == 1
