"""Lineage reconstruction across arguments: an object lost with its node is rebuilt by
running its task again, and when that task took another object in shared memory whose value
is gone too (freed once out of scope, or lost with the node), that object's task runs first.

Each test adds its own worker node (1 CPU) to a head with 1 CPU, makes objects there, and
kills the node (SIGKILL); the rebuilds run on the head.
"""

import os

import numpy as np
import pytest

import cyray as ray
from cyray.cluster_utils import Cluster
from cyray.exceptions import ObjectLostError
from cyray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

STORE = 200 * 1024 * 1024
SIZE = 4 * 1024 * 1024  # in shared memory, not inline


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 1, "object_store_memory": STORE})
    cluster.connect()
    try:
        yield cluster
    finally:
        cluster.shutdown()


def _node(cluster):
    node = cluster.add_node(num_cpus=1, object_store_memory=STORE)
    cluster.wait_for_nodes()
    return node


def _on(node):
    return NodeAffinitySchedulingStrategy(node.node_id, soft=True)


def _runs(path):
    """The nodes a task logging to `path` ran on, in order."""
    return open(path).read().split() if os.path.exists(path) else []


def _tasks():
    """make and add_one, logging each run's node (defined per call: pickled by value)."""
    def log_run(path):
        with open(path, "a") as f:
            f.write(ray.get_runtime_context().get_node_id() + "\n")

    @ray.remote(max_retries=2)
    def make(log, value):
        log_run(log)
        return np.full(SIZE, value, dtype=np.uint8)

    @ray.remote(max_retries=2)
    def add_one(log, array):
        log_run(log)
        return array + 1

    return make, add_one


def test_argument_freed_before_the_loss_is_rebuilt_first(cluster, tmp_path):
    node = _node(cluster)
    make, add_one = _tasks()
    make_log, add_log = str(tmp_path / "make"), str(tmp_path / "add")
    x = make.options(scheduling_strategy=_on(node)).remote(make_log, 5)
    y = add_one.options(scheduling_strategy=_on(node)).remote(add_log, x)
    assert ray.wait([y], timeout=60, fetch_local=False)[0]
    del x  # out of scope: its value is freed, its lineage kept for y's
    cluster.remove_node(node, allow_graceful=False)
    value = ray.get(y, timeout=90)
    assert value.nbytes == SIZE and int(value[0]) == 6 and int(value[-1]) == 6
    head = cluster.head_node.node_id
    assert _runs(make_log) == [node.node_id, head]
    assert _runs(add_log) == [node.node_id, head]


def test_chain_of_freed_arguments_is_rebuilt_in_order(cluster, tmp_path):
    node = _node(cluster)
    make, add_one = _tasks()
    logs = [str(tmp_path / f"step{i}") for i in range(4)]
    ref = make.options(scheduling_strategy=_on(node)).remote(logs[0], 1)
    for log in logs[1:]:
        ref = add_one.options(scheduling_strategy=_on(node)).remote(log, ref)
    assert ray.wait([ref], timeout=60, fetch_local=False)[0]
    cluster.remove_node(node, allow_graceful=False)
    assert int(ray.get(ref, timeout=120)[0]) == 4
    head = cluster.head_node.node_id
    assert [_runs(log) for log in logs] == [[node.node_id, head]] * 4


def test_argument_still_held_elsewhere_is_not_rebuilt(cluster, tmp_path):
    node = _node(cluster)
    make, add_one = _tasks()
    x = ray.put(np.full(SIZE, 10, dtype=np.uint8))  # on the head, which survives
    add_log = str(tmp_path / "add")
    y = add_one.options(scheduling_strategy=_on(node)).remote(add_log, x)
    assert ray.wait([y], timeout=60, fetch_local=False)[0]
    cluster.remove_node(node, allow_graceful=False)
    assert int(ray.get(y, timeout=90)[0]) == 11
    assert _runs(add_log) == [node.node_id, cluster.head_node.node_id]


def test_freed_argument_that_cannot_run_again_leaves_the_object_lost(cluster, tmp_path):
    node = _node(cluster)
    make, add_one = _tasks()
    x = make.options(scheduling_strategy=_on(node), max_retries=0).remote(
        str(tmp_path / "make"), 3)
    y = add_one.options(scheduling_strategy=_on(node)).remote(str(tmp_path / "add"), x)
    assert ray.wait([y], timeout=60, fetch_local=False)[0]
    del x
    cluster.remove_node(node, allow_graceful=False)
    with pytest.raises(ObjectLostError):
        ray.get(y, timeout=60)


def test_object_of_an_actor_call_is_rebuilt_by_the_restarted_actor(cluster, tmp_path):
    node = _node(cluster)
    log = str(tmp_path / "calls")

    @ray.remote(max_restarts=1, max_task_retries=1)
    class Maker:
        def make(self, value):
            with open(log, "a") as f:
                f.write(ray.get_runtime_context().get_node_id() + "\n")
            return np.full(SIZE, value, dtype=np.uint8)

    maker = Maker.options(scheduling_strategy=_on(node)).remote()
    ref = maker.make.remote(9)
    assert ray.wait([ref], timeout=60, fetch_local=False)[0]
    cluster.remove_node(node, allow_graceful=False)
    value = ray.get(ref, timeout=90)
    assert int(value[0]) == 9 and int(value[-1]) == 9
    assert _runs(log) == [node.node_id, cluster.head_node.node_id]


def test_object_of_a_call_to_an_actor_that_cannot_restart_is_not_rebuilt(cluster, tmp_path):
    node = _node(cluster)

    @ray.remote(max_restarts=0)
    class Maker:
        def make(self):
            return np.full(SIZE, 1, dtype=np.uint8)

    maker = Maker.options(scheduling_strategy=_on(node)).remote()
    ref = maker.make.options(max_task_retries=1).remote()
    assert ray.wait([ref], timeout=60, fetch_local=False)[0]
    cluster.remove_node(node, allow_graceful=False)
    with pytest.raises(ObjectLostError):  # ObjectReconstructionFailedError is one
        ray.get(ref, timeout=60)
