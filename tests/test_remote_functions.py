"""Remote functions on a real local cluster: submit, get, put, wait, nesting, context."""

import os
import time

import pytest
from conftest import wait_for

import cyray as ray


def test_remote_returns_object_ref(ray_start_shared):
    @ray.remote
    def add_one(x):
        return x + 1

    ref = add_one.remote(1)
    assert isinstance(ref, ray.ObjectRef)
    assert ray.get(ref) == 2
    # Getting the same ref again gives the same value.
    assert ray.get(ref) == 2


def test_get_list_keeps_order(ray_start_shared):
    @ray.remote
    def identity(x):
        return x

    refs = [identity.remote(i) for i in range(20)]
    assert all(isinstance(r, ray.ObjectRef) for r in refs)
    assert ray.get(refs) == list(range(20))
    assert ray.get(list(reversed(refs))) == list(reversed(range(20)))
    assert ray.get([]) == []


def test_positional_keyword_and_default_args(ray_start_shared):
    @ray.remote
    def describe(a, b=10, *args, c="c", **kwargs):
        return a, b, args, c, kwargs

    assert ray.get(describe.remote(1)) == (1, 10, (), "c", {})
    assert ray.get(describe.remote(1, 2)) == (1, 2, (), "c", {})
    assert ray.get(describe.remote(a=7, b=8)) == (7, 8, (), "c", {})
    assert ray.get(describe.remote(1, 2, 3, 4, c="x", d=5)) == (1, 2, (3, 4), "x", {"d": 5})


def test_values_round_trip_by_value(ray_start_shared):
    class Point:
        def __init__(self, x, y):
            self.x, self.y = x, y

    @ray.remote
    def echo(value):
        return value

    @ray.remote
    def norm2(p):
        return p.x * p.x + p.y * p.y

    values = [None, 0, -3.5, "text", b"\x00bytes", (1, "a"), [1, [2, [3]]],
              {"k": {"nested": [1, 2]}}, {1, 2, 3}, 2**80]
    assert ray.get([echo.remote(v) for v in values]) == values
    assert ray.get(norm2.remote(Point(3, 4))) == 25
    back = ray.get(echo.remote(Point(1, 2)))
    assert (back.x, back.y) == (1, 2)


def test_large_values(ray_start_shared):
    np = pytest.importorskip("numpy")

    @ray.remote
    def total(arr):
        return int(arr.sum()), arr.shape

    @ray.remote
    def make(n):
        return np.ones(n, dtype=np.int64)

    arr = np.arange(1_000_000, dtype=np.int64)  # 8 MB: beyond any inline-argument limit
    assert ray.get(total.remote(arr)) == (int(arr.sum()), arr.shape)
    ref = ray.put(arr)
    assert ray.get(total.remote(ref)) == (int(arr.sum()), arr.shape)
    assert np.array_equal(ray.get(ref), arr)
    big = ray.get(make.remote(2_000_000))
    assert big.shape == (2_000_000,) and int(big.sum()) == 2_000_000
    blob = os.urandom(3 * 1024 * 1024)

    @ray.remote
    def length(b):
        return len(b), b[:16], b[-16:]

    assert ray.get(length.remote(blob)) == (len(blob), blob[:16], blob[-16:])


def test_object_ref_argument_is_resolved(ray_start_shared):
    @ray.remote
    def add_one(x):
        return x + 1

    @ray.remote
    def type_name(x):
        return type(x).__name__

    # A chain of dependent tasks: each receives the previous task's value.
    ref = add_one.remote(0)
    for _ in range(4):
        ref = add_one.remote(ref)
    assert ray.get(ref) == 5
    assert ray.get(type_name.remote(add_one.remote(1))) == "int"
    assert ray.get(type_name.remote(x=ray.put(3))) == "int"


def test_nested_object_ref_stays_a_ref(ray_start_shared):
    @ray.remote
    def produce():
        return 41

    @ray.remote
    def inspect_container(items, mapping):
        inner = items[0]
        other = mapping["ref"]
        return (isinstance(inner, ray.ObjectRef), ray.get(inner),
                isinstance(other, ray.ObjectRef), ray.get(other))

    put_ref = ray.put("stored")
    result = ray.get(inspect_container.remote([produce.remote()], {"ref": put_ref}))
    assert result == (True, 41, True, "stored")


def test_task_can_return_refs(ray_start_shared):
    @ray.remote
    def leaf(x):
        return x * 10

    @ray.remote
    def spawn(n):
        return [leaf.remote(i) for i in range(n)]

    refs = ray.get(spawn.remote(4))
    assert len(refs) == 4 and all(isinstance(r, ray.ObjectRef) for r in refs)
    assert ray.get(refs) == [0, 10, 20, 30]


def test_num_returns(ray_start_shared):
    @ray.remote(num_returns=2)
    def pair():
        return 1, 2

    @ray.remote(num_returns=3)
    def triple(x):
        return x, x + 1, x + 2

    @ray.remote(num_returns=1)
    def single():
        return (1, 2)

    a, b = pair.remote()
    assert isinstance(a, ray.ObjectRef) and isinstance(b, ray.ObjectRef)
    assert a != b
    assert ray.get([a, b]) == [1, 2]
    refs = triple.remote(5)
    assert len(refs) == 3
    assert ray.get(list(refs)) == [5, 6, 7]
    one = single.remote()
    assert isinstance(one, ray.ObjectRef)
    assert ray.get(one) == (1, 2)


def test_options(ray_start_shared):
    @ray.remote
    def spread(n):
        return tuple(range(n))

    refs = spread.options(num_returns=3).remote(3)
    assert len(refs) == 3
    assert ray.get(list(refs)) == [0, 1, 2]
    named = spread.options(name="my_named_task").remote(2)
    assert isinstance(named, ray.ObjectRef)
    assert ray.get(named) == (0, 1)
    both = spread.options(num_returns=2, name="split_in_two").remote(2)
    assert ray.get(list(both)) == [0, 1]
    # .options() does not change the function itself.
    plain = spread.remote(2)
    assert isinstance(plain, ray.ObjectRef)
    assert ray.get(plain) == (0, 1)


def test_put_and_get(ray_start_shared):
    obj = {"k": [1, 2, 3], "s": "text"}
    ref = ray.put(obj)
    assert isinstance(ref, ray.ObjectRef)
    assert ray.get(ref) == obj

    @ray.remote
    def get_k(d):
        return d["k"]

    assert ray.get(get_k.remote(ref)) == [1, 2, 3]
    assert ray.get([ray.put(i) for i in range(10)]) == list(range(10))


def test_put_inside_task(ray_start_shared):
    @ray.remote
    def put_and_return():
        return [ray.put("made in a task")]

    [inner] = ray.get(put_and_return.remote())
    assert isinstance(inner, ray.ObjectRef)
    assert ray.get(inner) == "made in a task"


def test_wait(ray_start_shared, gate):
    @ray.remote
    def quick(x):
        return x

    fast = [quick.remote(i) for i in range(3)]
    slow = gate.task.remote(gate.path, "slow")
    refs = [fast[0], slow, fast[1], fast[2]]

    ready, not_ready = ray.wait(refs, num_returns=3, timeout=30)
    # Input order is kept within each list.
    assert ready == [fast[0], fast[1], fast[2]]
    assert not_ready == [slow]

    # num_returns=1 is the default: one ready ref, the rest not ready, nothing lost.
    ready, not_ready = ray.wait(refs)
    assert len(ready) == 1 and len(not_ready) == 3
    assert ready[0] in fast
    assert sorted(ready + not_ready, key=refs.index) == refs

    # The timeout bounds the wait when fewer than num_returns are ready.
    start = time.monotonic()
    ready, not_ready = ray.wait(refs, num_returns=4, timeout=0.3)
    elapsed = time.monotonic() - start
    assert 0.2 <= elapsed < 5
    assert ready == fast and not_ready == [slow]
    assert ray.wait([slow], timeout=0) == ([], [slow])

    gate.open()
    ready, not_ready = ray.wait(refs, num_returns=4, timeout=30)
    assert ready == refs and not_ready == []
    assert ray.get(slow) == "slow"


def test_wait_num_returns_subset_keeps_order(ray_start_shared):
    @ray.remote
    def quick(x):
        return x

    refs = [quick.remote(i) for i in range(6)]
    ray.get(refs)
    ready, not_ready = ray.wait(refs, num_returns=2, timeout=10)
    assert len(ready) == 2 and len(not_ready) == 4
    assert set(ready).isdisjoint(not_ready)
    assert ready == sorted(ready, key=refs.index)
    assert not_ready == sorted(not_ready, key=refs.index)


def test_get_timeout(ray_start_shared, gate):
    @ray.remote
    def quick():
        return "quick"

    slow = gate.task.remote(gate.path, "finally")
    start = time.monotonic()
    with pytest.raises(ray.exceptions.GetTimeoutError) as info:
        ray.get(slow, timeout=0.5)
    elapsed = time.monotonic() - start
    assert isinstance(info.value, TimeoutError)
    assert 0.4 <= elapsed < 5
    with pytest.raises(TimeoutError):
        ray.get([quick.remote(), slow], timeout=0.2)
    gate.open()
    assert ray.get(slow, timeout=30) == "finally"


def test_nested_submission_depth_3(ray_start_shared):
    @ray.remote
    def leaf(x):
        return x * 2

    @ray.remote
    def middle(x):
        return sum(ray.get([leaf.remote(x), leaf.remote(x + 1)]))

    @ray.remote
    def top(x):
        return sum(ray.get([middle.remote(x), middle.remote(x + 10)]))

    # top(1) = middle(1) + middle(11) = (2 + 4) + (22 + 24): 3 levels, 7 tasks, with up to
    # 3 tasks blocked in ray.get on a 2-CPU cluster.
    assert ray.get(top.remote(1), timeout=120) == 52
    assert ray.get([top.remote(0), top.remote(2)], timeout=120) == [44, 60]


def test_fan_out_10000_tasks(ray_start_shared):
    @ray.remote
    def identity(i):
        return i

    n = 10_000
    refs = [identity.remote(i) for i in range(n)]
    assert len(set(refs)) == n
    values = ray.get(refs, timeout=150)
    assert sum(values) == n * (n - 1) // 2
    assert values[:3] == [0, 1, 2] and values[-1] == n - 1


def _is_hex(text, length):
    return isinstance(text, str) and len(text) == length and int(text, 16) >= 0


def test_runtime_context(ray_start_shared):
    ctx = ray.get_runtime_context()
    job_id = ctx.get_job_id()
    node_id = ctx.get_node_id()
    assert _is_hex(job_id, 8)  # JobID: 4 bytes
    assert _is_hex(node_id, 56)  # NodeID: 28 bytes
    driver_task_id = ctx.get_task_id()
    assert driver_task_id is None or isinstance(driver_task_id, str)

    @ray.remote
    def ids():
        c = ray.get_runtime_context()
        return c.get_job_id(), c.get_task_id(), c.get_node_id()

    first, second = ray.get([ids.remote(), ids.remote()])
    assert first[0] == second[0] == job_id
    assert first[2] == second[2] == node_id
    assert _is_hex(first[1], 48) and _is_hex(second[1], 48)  # TaskID: 24 bytes
    assert first[1] != second[1]
    assert driver_task_id not in (first[1], second[1])
    assert node_id == ray.nodes()[0]["NodeID"]


def test_cluster_and_available_resources(ray_start_shared, gate):
    total = ray.cluster_resources()
    assert total["CPU"] == 2
    wait_for(lambda: ray.available_resources().get("CPU", 0) == 2, 15,
             message="2 CPUs available on an idle cluster")
    held = gate.task.options(num_cpus=1).remote(gate.path, "held")
    wait_for(lambda: ray.available_resources().get("CPU", 0) == 1, 15,
             message="1 CPU available while a 1-CPU task runs")
    assert ray.cluster_resources()["CPU"] == 2
    gate.open()
    assert ray.get(held, timeout=30) == "held"
    wait_for(lambda: ray.available_resources().get("CPU", 0) == 2, 15,
             message="the CPU to be given back")


def test_nodes(ray_start_shared):
    nodes = ray.nodes()
    assert len(nodes) == 1
    node = nodes[0]
    assert node["Alive"] is True
    assert _is_hex(node["NodeID"], 56)
    assert node["Resources"]["CPU"] == 2


def test_is_initialized_and_reinit(ray_start_shared):
    assert ray.is_initialized()
    with pytest.raises(RuntimeError):
        ray.init(num_cpus=2)
    ray.init(num_cpus=2, ignore_reinit_error=True)
    assert ray.is_initialized()

    @ray.remote
    def still_works():
        return "yes"

    assert ray.get(still_works.remote()) == "yes"
