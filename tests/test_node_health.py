"""Node health: the GCS marks a hung raylet dead once it has been silent for
health_check_period_ms x health_check_failure_threshold (a raylet that exits is caught at
once through its connection: see test_multi_node.py), every node learns of the death, and
the raylet, once it runs again, finds itself dead and exits with its workers."""

import signal
import time

import psutil
import pytest
from conftest import wait_for

import cyray as ray
from cyray.cluster_utils import Cluster

PERIOD_MS, THRESHOLD = 200, 5


@pytest.fixture
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": 100 * 1024 * 1024,
        "_system_config": {"health_check_period_ms": PERIOD_MS,
                           "health_check_failure_threshold": THRESHOLD}})
    cluster.connect()
    try:
        yield cluster
    finally:
        cluster.shutdown()


def _node(node_id):
    return next(n for n in ray.nodes() if n["NodeID"] == node_id)


def test_hung_raylet_is_marked_dead_within_the_threshold(cluster):
    node = cluster.add_node(num_cpus=1, resources={"far": 1},
                            object_store_memory=100 * 1024 * 1024)
    cluster.wait_for_nodes()
    workers = psutil.Process(node.raylet_process.pid).children(recursive=True)
    node.raylet_process.send_signal(signal.SIGSTOP)  # alive, connected, silent
    stopped = time.monotonic()
    try:
        wait_for(lambda: not _node(node.node_id)["Alive"], 15,
                 message="the hung node is marked dead")
        took = time.monotonic() - stopped
        limit = PERIOD_MS * THRESHOLD / 1000
        assert limit * 0.8 <= took <= limit + 5, took
        assert "no heartbeat" in _node(node.node_id)["DeathReason"]
        assert ray.cluster_resources().get("far", 0) == 0
    finally:
        node.raylet_process.send_signal(signal.SIGCONT)
    # Running again, the raylet learns the GCS counts it dead, and ends with its workers.
    node.raylet_process.wait(timeout=30)
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"left running: {alive}"
