"""Leases outlive neither their owner nor their raylet: a node gives back the workers and
requests of a driver on another node that exits or is killed, and a raylet stopping with
lease requests queued still exits on its own."""

import signal

import pytest
from conftest import DriverRun, wait_for

import cyray as ray
from cyray.cluster_utils import Cluster
from cyray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

STORE = 100 * 1024 * 1024


@pytest.fixture
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 1, "object_store_memory": STORE})
    cluster.far = cluster.add_node(num_cpus=1, resources={"far": 1}, object_store_memory=STORE)
    cluster.wait_for_nodes()
    cluster.connect()
    try:
        yield cluster
    finally:
        cluster.shutdown()


def _far_driver(cluster, tail):
    """A driver (separate process) that runs a task on the far node, then `tail`."""
    return f"""
import time
import cyray as ray
from cyray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

ray.init(address={cluster.address!r})
far = NodeAffinitySchedulingStrategy({cluster.far.node_id!r}, soft=False)

@ray.remote
def sleep(seconds):
    time.sleep(seconds)
    return "slept"

print("FIRST", ray.get(sleep.options(scheduling_strategy=far).remote(0)), flush=True)
{tail}
"""


def _far_cpu_free():
    return ray.available_resources().get("CPU", 0) == 2


def test_driver_that_exits_gives_back_its_lease_on_another_node(cluster, tmp_path):
    run = DriverRun(tmp_path, _far_driver(cluster, "ray.shutdown()"))
    try:
        run.wait(60)
        assert "FIRST slept" in run.stdout, run.stderr
    finally:
        run.stop()
    wait_for(_far_cpu_free, 15, message="the far node's CPU is free again")


def test_killed_driver_gives_back_its_leases_on_another_node(cluster, tmp_path):
    tail = ("ref = sleep.options(scheduling_strategy=far).remote(300)\n"
            "queued = sleep.options(scheduling_strategy=far).remote(300)\n"
            "print('RUNNING', flush=True)\n"
            "time.sleep(300)")
    run = DriverRun(tmp_path, _far_driver(cluster, tail))
    try:
        run.read_tagged_line("RUNNING", timeout=60)
        wait_for(lambda: ray.available_resources().get("CPU", 0) == 1, 15,
                 message="the far node's CPU is taken")
        run.popen.send_signal(signal.SIGKILL)
        run.popen.wait(timeout=10)
    finally:
        run.stop()
    # Its task's worker is ended, and its queued request is dropped.
    wait_for(_far_cpu_free, 20, message="the far node's CPU is free again")

    @ray.remote(resources={"far": 1})
    def works():
        return "yes"

    assert ray.get(works.remote(), timeout=30) == "yes"


def test_raylet_stopping_with_lease_requests_queued_exits(cluster, gate):
    far = NodeAffinitySchedulingStrategy(cluster.far.node_id, soft=False)
    running = gate.task.options(scheduling_strategy=far).remote(gate.path, 1)
    queued = [gate.task.options(scheduling_strategy=far).remote(gate.path, i)
              for i in range(3)]  # their lease requests wait at the far raylet
    wait_for(lambda: ray.available_resources().get("CPU", 0) == 1, 15,
             message="the far node's CPU is taken")
    cluster.remove_node(cluster.far, allow_graceful=True)
    assert cluster.far.raylet_process.returncode == 0, "the raylet did not exit on SIGTERM"
    del running, queued  # their refs were held until the node went
