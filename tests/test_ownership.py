"""Exact ownership: no copy of an object outlives its last reference (task returns whose
refs are already gone, refs nested in other objects), and values above the inline limit
travel through the object store, never inside an RPC."""

import gc
import time
import warnings

import numpy as np
import pytest

import cyray as ray
from cyray._private.state import object_store_stats

MiB = 1024 * 1024


def wait_store_empty(timeout=30):
    deadline = time.time() + timeout
    while True:
        gc.collect()
        stats = object_store_stats()
        if stats["num_objects"] == 0:
            return stats
        assert time.time() < deadline, f"the object store still holds {stats}"
        time.sleep(0.1)


@pytest.fixture
def small_store():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, object_store_memory=100 * MiB)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_fire_and_forget_returns_leave_the_store_empty(small_store):
    @ray.remote
    def make():
        return np.ones(2 * MiB, dtype=np.uint8)

    refs = [make.remote() for _ in range(300)]
    ray.wait(refs, num_returns=len(refs), timeout=120)
    del refs  # dropped, some before their task finished
    for _ in range(300):
        make.remote()  # never held at all
    # Every return lands; none survives its (absent) reference.
    time.sleep(1)
    wait_store_empty(timeout=60)
    big = ray.put(np.zeros(80 * MiB, dtype=np.uint8))
    assert ray.get(big).nbytes == 80 * MiB


def test_nested_ref_lives_as_long_as_its_container(ray_start_shared):
    wait_store_empty()
    inner = ray.put(np.arange(MiB // 8, dtype=np.int64))
    outer = ray.put([inner])
    del inner
    gc.collect()
    time.sleep(0.2)
    assert object_store_stats()["num_objects"] == 1  # kept by the container
    (nested,) = ray.get(outer)
    assert int(ray.get(nested)[-1]) == MiB // 8 - 1
    del nested, outer
    wait_store_empty()


def test_ref_returned_by_a_task_outlives_the_task(ray_start_shared):
    wait_store_empty()

    @ray.remote
    def make_inner():
        # The worker owns `inner`; only the returned list refers to it.
        inner = ray.put(np.full(MiB // 8, 7, dtype=np.int64))
        return [inner]

    outer = make_inner.remote()
    time.sleep(0.5)  # the worker's own ref is long gone
    (inner,) = ray.get(outer, timeout=30)
    assert int(ray.get(inner, timeout=30)[0]) == 7
    del inner, outer
    wait_store_empty()


def test_large_argument_by_value_goes_through_the_store(ray_start_shared):
    @ray.remote
    def total(array):
        return int(array[::4096].sum()), array.flags.writeable

    array = np.ones(300 * MiB, dtype=np.uint8)
    assert ray.get(total.remote(array), timeout=120) == (300 * MiB // 4096, False)
    del array

    @ray.remote
    def length(data):
        return len(data)

    assert ray.get(length.remote(b"x" * (5 * MiB)), timeout=60) == 5 * MiB
    wait_store_empty()


def test_argument_larger_than_the_store_is_a_clear_error(small_store):
    @ray.remote
    def length(array):
        return len(array)

    with pytest.raises(ray.exceptions.ObjectStoreFullError):
        length.remote(np.ones(150 * MiB, dtype=np.uint8))
    assert ray.get(length.remote(np.ones(10 * MiB, dtype=np.uint8)), timeout=60) == 10 * MiB


def test_two_gib_argument():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=1, object_store_memory=2 * 1024 * MiB + 256 * MiB)
    try:
        @ray.remote
        def size(array):
            return array.nbytes, int(array[-1])

        array = np.ones(2 * 1024 * MiB, dtype=np.uint8)
        assert ray.get(size.remote(array), timeout=300) == (2 * 1024 * MiB, 1)
    finally:
        ray.shutdown()


def test_large_closure_exports_with_a_warning(ray_start_shared):
    captured = np.ones(12 * MiB, dtype=np.uint8)

    @ray.remote
    def uses_capture():
        return int(captured[::MiB].sum())

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ray.get(uses_capture.remote(), timeout=60) == 12
    assert any("is very large" in str(w.message) for w in caught)


def test_oversized_closure_is_a_value_error(ray_start_shared, monkeypatch):
    from cyray._private import function_manager

    monkeypatch.setattr(function_manager, "FUNCTION_SIZE_ERROR_THRESHOLD", 5 * MiB)
    captured = np.ones(6 * MiB, dtype=np.uint8)

    @ray.remote
    def too_big():
        return len(captured)

    with pytest.raises(ValueError, match="too_big is too large"):
        too_big.remote()
