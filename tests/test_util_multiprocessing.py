"""cyray.util.multiprocessing.Pool: multiprocessing.Pool's API over actors (as Ray's)."""

import logging
import multiprocessing
import os
import pickle
import threading

import pytest
from conftest import wait_for

from cyray.util.multiprocessing import Pool, TimeoutError


def test_timeout_error_is_multiprocessings():
    assert TimeoutError is multiprocessing.TimeoutError


def test_map_starmap_apply(ray_start_shared):
    def square(x):
        return x * x

    def add(a, b=0, c=0):
        return a + b + c

    with Pool(processes=2) as pool:
        assert pool.map(square, range(10)) == [x * x for x in range(10)]
        assert pool.map(square, (x for x in range(7)), chunksize=3) == [x * x for x in range(7)]
        assert pool.map(square, []) == []
        assert pool.starmap(add, [(1, 2), (3, 4), (5, 6)]) == [3, 7, 11]
        assert pool.starmap_async(add, [(1, 1)] * 5, chunksize=2).get(timeout=60) == [2] * 5
        assert pool.apply(add, (1, 2)) == 3
        assert pool.apply(add, (1,), {"c": 5}) == 6
        assert pool.apply(add, (1,), kwds={"b": 2}) == 3
        assert pool.apply_async(add, kwargs={"a": 4}).get(timeout=60) == 4
        with pytest.raises(TypeError, match="not both"):
            pool.apply_async(add, (1,), {"b": 1}, kwds={"b": 1})
        with pytest.raises(ValueError, match="chunksize"):
            pool.map(square, [1], chunksize=0)


def test_errors_and_callbacks(ray_start_shared):
    def fail_on_three(x):
        if x == 3:
            raise KeyError(f"bad {x}")
        return x

    got, errors = [], []
    with Pool(processes=2) as pool:
        # The item's own exception type, as multiprocessing raises it.
        with pytest.raises(KeyError, match="bad 3"):
            pool.map(fail_on_three, range(6))
        with pytest.raises(ZeroDivisionError):
            pool.apply(divmod, (1, 0))

        done = threading.Event()
        result = pool.map_async(fail_on_three, [1, 2], callback=got.append,
                                error_callback=errors.append)
        assert result.get(timeout=60) == [1, 2]
        assert result.ready() and result.successful()
        failed = pool.map_async(fail_on_three, range(5), chunksize=1,
                                callback=got.append,
                                error_callback=lambda e: (errors.append(e), done.set()))
        failed.wait(60)
        assert failed.ready() and not failed.successful()
        assert done.is_set()
        with pytest.raises(KeyError):
            failed.get()
        single = pool.apply_async(fail_on_three, (7,), callback=got.append)
        assert single.get(timeout=60) == 7
    assert got == [[1, 2], 7]  # callback ran before get() returned, never on failure
    assert len(errors) == 1 and isinstance(errors[0], KeyError)


def test_async_result_timeout_and_not_ready(ray_start_shared, tmp_path):
    gate_path = str(tmp_path / "open")

    def wait_for_gate(value):
        import time
        while not os.path.exists(gate_path):
            time.sleep(0.01)
        return value

    with Pool(processes=1) as pool:
        try:
            result = pool.apply_async(wait_for_gate, ("done",))
            with pytest.raises(TimeoutError):
                result.get(timeout=0.1)
            result.wait(0.1)
            assert not result.ready()
            with pytest.raises(ValueError, match="not ready"):
                result.successful()
            iterator = pool.imap(wait_for_gate, [1])
            with pytest.raises(TimeoutError):
                iterator.next(timeout=0.1)
        finally:
            open(gate_path, "w").close()
        assert result.get(timeout=60) == "done"
        assert result.successful()
        assert iterator.next(timeout=60) == 1
        with pytest.raises(StopIteration):
            iterator.next()


def test_imap_and_imap_unordered(ray_start_shared):
    def double(x):
        if x == 5:
            raise ValueError("five")
        return 2 * x

    consumed = []

    def lazily(n):
        for i in range(n):
            consumed.append(i)
            yield i

    with Pool(processes=2) as pool:
        assert list(pool.imap(double, range(5))) == [0, 2, 4, 6, 8]
        assert list(pool.imap(double, range(5), chunksize=2)) == [0, 2, 4, 6, 8]
        assert sorted(pool.imap_unordered(double, range(5), chunksize=3)) == [0, 2, 4, 6, 8]
        assert list(pool.imap(double, [])) == []

        # The input is read as results are taken: one chunk in flight per actor.
        iterator = pool.imap(abs, lazily(100), chunksize=2)
        assert next(iterator) == 0
        assert len(consumed) < 100
        assert list(iterator) == list(range(1, 100))

        # A failed item raises when reached; iteration goes on after it.
        iterator = pool.imap(double, [4, 5, 6])
        assert next(iterator) == 8
        with pytest.raises(ValueError, match="five"):
            next(iterator)
        assert next(iterator) == 12


def test_initializer_and_maxtasksperchild(ray_start_shared):
    def init(value):
        os.environ["POOL_INIT_VALUE"] = value

    def read_env(_):
        return os.environ.get("POOL_INIT_VALUE"), os.getpid()

    with Pool(processes=1, initializer=init, initargs=("set",)) as pool:
        results = pool.map(read_env, range(3), chunksize=1)
        assert {value for value, _ in results} == {"set"}
        assert len({pid for _, pid in results}) == 1

    with Pool(processes=1, maxtasksperchild=1) as pool:
        pids = [pool.apply(os.getpid) for _ in range(3)]
        assert len(set(pids)) == 3


def test_close_join_terminate(ray_start_shared):
    def identity(x):
        return x

    pool = Pool(processes=2)
    pending = pool.map_async(identity, range(4))
    pool.close()
    with pytest.raises(ValueError, match="Pool not running"):
        pool.map(identity, [1])
    with pytest.raises(ValueError, match="Pool not running"):
        pool.apply_async(identity, (1,))
    pool.join()  # work given before close still finishes
    assert pending.get(timeout=60) == [0, 1, 2, 3]

    pool = Pool(processes=1)
    with pytest.raises(ValueError, match="still running"):
        pool.join()
    actor = pool._actors[0][0]
    pool.terminate()
    pool.join()
    with pytest.raises(ray_start_shared.exceptions.RayActorError):
        ray_start_shared.get(actor.ping.remote(), timeout=60)
    with pytest.raises(ValueError, match="Pool not running"):
        pool.apply(identity, (1,))


def test_arguments_checked(ray_start_shared, caplog):
    with pytest.raises(ValueError, match="must be >0"):
        Pool(processes=0)
    with pytest.raises(ValueError, match="only 2 CPUs"):
        Pool(processes=3)
    with pytest.raises(ValueError):
        Pool(processes=1, ray_remote_args={"num_cpus": -1})  # forwarded to .options()
    with caplog.at_level(logging.WARNING, logger="cyray.util.multiprocessing.pool"):
        with Pool(processes=1, context=multiprocessing.get_context("spawn")) as pool:
            assert pool.apply(abs, (-3,)) == 3
    assert "'context' argument is not supported" in caplog.text
    with Pool(processes=1) as pool:
        with pytest.raises(NotImplementedError, match="cannot be passed"):
            pickle.dumps(pool)


def test_pool_starts_cyray_when_not_initialized():
    import cyray

    if cyray.is_initialized():
        cyray.shutdown()
    try:
        with Pool(processes=1) as pool:
            assert cyray.is_initialized()
            assert cyray.cluster_resources()["CPU"] == 1
            assert pool.map(abs, [-1, -2]) == [1, 2]
    finally:
        cyray.shutdown()
    wait_for(lambda: not cyray.is_initialized(), 10, message="shutdown")
