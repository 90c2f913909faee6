"""cyray.util: as_completed, map_unordered, list_named_actors, get_node_ip_address,
inspect_serializability and register_serializer (as ray.util)."""

import io
import threading

import pytest
from conftest import wait_for

import cyray.util
from cyray.util.check_serialize import FailureTuple


class Locked:
    """A value that does not pickle (it holds a lock); rebuilt by its serializer."""

    def __init__(self, x):
        self.x = x
        self.lock = threading.Lock()


# ---------------------------------------------------------------------------------------
# Without a cluster


def test_inspect_serializability_serializable():
    out = io.StringIO()
    assert cyray.util.inspect_serializability([1, "a", {"b": 2}], print_file=out) == (True, set())
    assert "Checking Serializability of" in out.getvalue()


def test_inspect_serializability_finds_global_of_function():
    lock = threading.Lock()

    def uses_lock():
        return lock

    out = io.StringIO()
    ok, failures = cyray.util.inspect_serializability(uses_lock, name="uses_lock",
                                                      print_file=out)
    assert not ok
    (failure,) = failures
    assert isinstance(failure, FailureTuple)
    assert failure.obj is lock and failure.parent is uses_lock
    assert failure.path == ("uses_lock", "lock")
    assert repr(failure).startswith("FailTuple(lock [path=uses_lock -> lock")
    text = out.getvalue()
    assert "!!! FAIL serialization" in text and "was found to be non-serializable" in text


def test_inspect_serializability_finds_attribute_and_respects_depth():
    value = Locked(1)
    ok, failures = cyray.util.inspect_serializability(value, print_file=io.StringIO())
    assert not ok
    assert [(f.obj, f.path, f.parent) for f in failures] == [(value.lock, ("lock",), value)]

    # depth=0: no looking inside; the object itself is reported.
    ok, failures = cyray.util.inspect_serializability(value, depth=0, print_file=io.StringIO())
    assert not ok
    assert [(f.obj, f.path, f.parent) for f in failures] == [(value, (), None)]


def test_register_serializer_in_this_process():
    from cyray._private import serialization

    with pytest.raises(TypeError):
        serialization.serialize(Locked(1))
    with pytest.raises(TypeError, match="callable"):
        cyray.util.register_serializer(Locked, serializer=1, deserializer=lambda x: x)
    with pytest.raises(TypeError, match="class"):
        cyray.util.register_serializer(Locked(1), serializer=str, deserializer=str)
    cyray.util.register_serializer(Locked, serializer=lambda v: v.x,
                                   deserializer=lambda x: Locked(x + 100))
    try:
        assert cyray.util.inspect_serializability(Locked(1), print_file=io.StringIO())[0]
    finally:
        cyray.util.deregister_serializer(Locked)
    cyray.util.deregister_serializer(Locked)  # no serializer: nothing happens
    assert not cyray.util.inspect_serializability(Locked(1), print_file=io.StringIO())[0]


def test_get_node_ip_address_without_cluster():
    if cyray.is_initialized():
        cyray.shutdown()
    address = cyray.util.get_node_ip_address()
    parts = address.split(".")
    assert len(parts) == 4 and all(p.isdigit() for p in parts)


# ---------------------------------------------------------------------------------------
# On a cluster


def test_register_serializer_across_processes(ray_start_shared):
    ray = ray_start_shared

    class Locked:  # local: pickled by value, so workers can load it
        def __init__(self, x):
            self.x = x
            self.lock = threading.Lock()

    @ray.remote
    def read_x(value):
        return value.x

    @ray.remote
    def echo(value):
        return value

    with pytest.raises(TypeError):
        ray.put(Locked(1))
    cyray.util.register_serializer(Locked, serializer=lambda v: v.x,
                                   deserializer=lambda x: Locked(x + 100))
    try:
        assert ray.get(ray.put(Locked(1))).x == 101
        # The worker reads the value with the deserializer pickled into it ...
        assert ray.get(read_x.remote(Locked(2))) == 102
        # ... but pickling it back there needs a registration in that worker, as in Ray.
        with pytest.raises(TypeError):
            ray.get(echo.remote(Locked(3)))
    finally:
        cyray.util.deregister_serializer(Locked)
    with pytest.raises(TypeError):
        ray.put(Locked(1))


def test_register_serializer_in_a_worker(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def make(x):
        import threading

        class Guarded:
            def __init__(self, x):
                self.x = x
                self.lock = threading.Lock()

        cyray.util.register_serializer(Guarded, serializer=lambda v: v.x,
                                       deserializer=lambda x: ("rebuilt", x))
        return ray.get(ray.put(Guarded(x))), Guarded(x)

    assert ray.get(make.remote(7)) == (("rebuilt", 7), ("rebuilt", 7))


def test_as_completed(ray_start_shared, gate):
    ray = ray_start_shared

    @ray.remote
    def identity(x):
        return x

    refs = [identity.remote(i) for i in range(5)]
    assert sorted(cyray.util.as_completed(refs, chunk_size=2)) == [0, 1, 2, 3, 4]
    got = list(cyray.util.as_completed(refs, yield_obj_refs=True))
    assert sorted(got, key=lambda r: r.hex()) == sorted(refs, key=lambda r: r.hex())
    assert list(cyray.util.as_completed([])) == []
    with pytest.raises(ValueError, match="chunk_size"):
        list(cyray.util.as_completed(refs, chunk_size=0))
    with pytest.raises(ValueError, match="num_returns"):
        list(cyray.util.as_completed(refs, num_returns=1))

    # A value that is ready comes out while another is still pending.
    slow = gate.task.remote(gate.path, "slow")
    results = cyray.util.as_completed([slow, identity.remote("fast")], chunk_size=1,
                                      timeout=0.05)
    assert next(results) == "fast"
    gate.open()
    assert next(results) == "slow"


def test_map_unordered(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def square(x):
        return x * x

    assert sorted(cyray.util.map_unordered(square, range(7), backpressure_size=2,
                                           chunk_size=1)) == [x * x for x in range(7)]
    assert sorted(cyray.util.map_unordered(square, [1, 2], backpressure_size=None)) == [1, 4]
    with pytest.raises(ValueError, match="backpressure_size"):
        list(cyray.util.map_unordered(square, [1], backpressure_size=0))


def test_get_node_ip_address_connected(ray_start_shared):
    ray = ray_start_shared

    @ray.remote
    def address_in_worker():
        return cyray.util.get_node_ip_address()

    driver = cyray.util.get_node_ip_address()
    assert driver == ray.nodes()[0]["NodeManagerAddress"]
    assert ray.get(address_in_worker.remote()) == driver


def test_list_named_actors(ray_start_shared, actors):
    ray = ray_start_shared
    namespace = ray.get_runtime_context().namespace

    @ray.remote
    class Named:
        def ping(self):
            return "pong"

    @ray.remote
    def names_in_worker():
        return cyray.util.list_named_actors()

    first = Named.options(name="first").remote()
    other = Named.options(name="elsewhere", namespace="util-misc-other").remote()
    Named.remote()  # unnamed: never listed
    actors.extend([first, other])
    ray.get([first.ping.remote(), other.ping.remote()])

    assert sorted(cyray.util.list_named_actors()) == ["first"]
    everything = cyray.util.list_named_actors(all_namespaces=True)
    assert {"name": "first", "namespace": namespace} in everything
    assert {"name": "elsewhere", "namespace": "util-misc-other"} in everything
    assert ray.get(names_in_worker.remote()) == ["first"]

    ray.kill(first)
    wait_for(lambda: "first" not in cyray.util.list_named_actors(), 60,
             message="the killed actor's name to go")
    ray.kill(other)


def test_list_named_actors_starts_cyray():
    if cyray.is_initialized():
        cyray.shutdown()
    try:
        assert cyray.util.list_named_actors() == []
        assert cyray.is_initialized()
    finally:
        cyray.shutdown()
