"""The shared-memory object store: zero-copy reads, freeing, limits."""

import gc
import os

import numpy as np
import psutil
import pytest

import cyray as ray
from cyray._private.state import object_store_stats

MB = 1 << 20


def wait_for_used(predicate, timeout=10):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        used = object_store_stats()["used_bytes"]
        if predicate(used):
            return used
        time.sleep(0.05)
    return object_store_stats()["used_bytes"]


def test_large_put_is_read_zero_copy_and_read_only(ray_start_shared):
    array = np.arange(4 * MB, dtype=np.uint8)
    ref = ray.put(array)
    first, second = ray.get(ref), ray.get(ref)
    assert np.array_equal(first, array)
    assert not first.flags.writeable
    # Both reads map the same shared memory: no copy was made.
    assert np.shares_memory(first, second)
    with pytest.raises(ValueError):
        first[0] = 1


def test_small_values_stay_in_process(ray_start_shared):
    before = object_store_stats()["num_objects"]
    ref = ray.put(np.zeros(10))
    assert ray.get(ref).sum() == 0
    assert object_store_stats()["num_objects"] == before


def test_deleting_the_last_ref_frees_the_store(ray_start_shared):
    gc.collect()
    base = wait_for_used(lambda used: True)
    ref = ray.put(np.ones(8 * MB, dtype=np.uint8))
    assert object_store_stats()["used_bytes"] >= base + 8 * MB
    value = ray.get(ref)
    del ref
    gc.collect()
    # A reader still maps it: kept until the array goes too.
    assert object_store_stats()["used_bytes"] >= base + 8 * MB
    del value
    gc.collect()
    assert wait_for_used(lambda used: used <= base) <= base


def test_large_task_arguments_and_returns_travel_through_the_store(ray_start_shared):
    @ray.remote
    def checksum(x):
        return int(x.sum()), x.flags.writeable

    @ray.remote
    def make(n):
        return np.ones(n, dtype=np.uint8)

    array = np.ones(3 * MB, dtype=np.uint8)
    assert ray.get(checksum.remote(ray.put(array))) == (3 * MB, False)
    assert ray.get(checksum.remote(array)) == (3 * MB, False)
    made = ray.get(make.remote(5 * MB))
    assert made.shape == (5 * MB,) and not made.flags.writeable
    assert ray.get(checksum.remote(make.remote(2 * MB)))[0] == 2 * MB


def test_many_readers_share_one_copy(ray_start_shared):
    @ray.remote
    def rss_growth(x):
        process = psutil.Process(os.getpid())
        before = process.memory_info().rss
        total = int(x.sum())  # touches every page
        return total, process.memory_info().rss - before

    ref = ray.put(np.ones(64 * MB, dtype=np.uint8))
    results = ray.get([rss_growth.remote(ref) for _ in range(4)])
    for total, growth in results:
        assert total == 64 * MB
        # Shared pages are counted once mapped, but nothing is copied into the
        # heap: growth stays near the array's size, never a multiple of it.
        assert growth < 80 * MB


def test_object_larger_than_the_store_is_a_clear_error(ray_start):
    ray.shutdown()
    ray.init(num_cpus=1, object_store_memory=64 * MB)
    with pytest.raises(ray.exceptions.ObjectStoreFullError, match="object_store_memory"):
        ray.put(np.ones(100 * MB, dtype=np.uint8))
    # The store still works afterwards.
    assert ray.get(ray.put(np.ones(MB, dtype=np.uint8))).sum() == MB


def test_object_of_a_dead_owner_raises_owner_died(ray_start_shared):
    @ray.remote(max_calls=1)
    def make_and_exit():
        # Owned by this worker, which exits after the call (max_calls=1).
        return [ray.put(np.ones(2 * MB, dtype=np.uint8)), ray.put("small")]

    large, small = ray.get(make_and_exit.remote())
    import time

    time.sleep(1.0)
    for ref in (large, small):
        with pytest.raises(ray.exceptions.OwnerDiedError):
            ray.get(ref, timeout=30)


def test_garbage_on_the_raylet_socket_closes_only_that_client(ray_start_shared):
    import socket
    import struct

    from cyray._private.worker import global_worker

    path = global_worker.node.raylet_socket
    for junk in (struct.pack("<II", 12, 3) + b"abc",          # bad create request
                 struct.pack("<II", 999, 0),                   # unknown message type
                 struct.pack("<II", 1, 1 << 30)):              # absurd frame length
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            s.sendall(junk)
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass
            except (ConnectionResetError, socket.timeout):
                pass

    @ray.remote
    def still_fine():
        return "ok"

    assert ray.get(still_fine.remote(), timeout=30) == "ok"
    assert ray.get(ray.put(np.ones(2 * MB, dtype=np.uint8))).sum() == 2 * MB


def test_more_data_than_the_store_holds_spills_and_restores(ray_start):
    ray.shutdown()
    ray.init(num_cpus=1, object_store_memory=64 * MB)
    refs = [ray.put(np.full(20 * MB, i, dtype=np.uint8)) for i in range(8)]  # 160 MB
    stats = object_store_stats()
    assert stats["spilled_bytes"] >= 80 * MB, stats
    assert stats["used_bytes"] <= 64 * MB
    for i, ref in enumerate(refs):
        value = ray.get(ref)
        assert value[0] == i and value[-1] == i
        del value


def test_full_store_of_objects_in_use_fails_after_a_bounded_wait(ray_start):
    import time

    ray.shutdown()
    ray.init(num_cpus=1, object_store_memory=64 * MB)
    held = [ray.get(ray.put(np.ones(25 * MB, dtype=np.uint8))) for _ in range(2)]
    start = time.monotonic()
    with pytest.raises(ray.exceptions.ObjectStoreFullError, match="in use"):
        ray.put(np.ones(30 * MB, dtype=np.uint8))
    assert time.monotonic() - start < 30
    del held


def test_a_borrower_keeps_the_object_after_the_owner_drops_it(ray_start_shared):
    @ray.remote
    class Keeper:
        def keep(self, refs):
            self.refs = refs  # borrowed: refs nested in an argument stay refs
            return True

        def read(self):
            return [int(ray.get(r).sum()) for r in self.refs]

    keeper = Keeper.remote()
    big, small = ray.put(np.ones(2 * MB, dtype=np.uint8)), ray.put(np.ones(10, dtype=np.uint8))
    assert ray.get(keeper.keep.remote([big, small]), timeout=30)
    del big, small
    gc.collect()
    import time

    time.sleep(0.5)
    assert ray.get(keeper.read.remote(), timeout=30) == [2 * MB, 10]
    ray.kill(keeper)
