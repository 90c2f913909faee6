"""`cyray.cluster_utils.Cluster`: several real raylets on 127.0.0.1 forming one cluster.

The module's cluster is a head with 1 CPU plus two nodes, with this process connected to
it as a driver; tests that add or remove nodes add their own to it. No task here runs on a
node other than the head.
"""

import signal
import subprocess

import psutil
import pytest
from conftest import wait_until_gone

import cyray
from cyray._private.node import raylet_binary
from cyray.cluster_utils import Cluster
from cyray.scripts.cli import parse_labels

STORE_BYTES = 100 * 1024 * 1024
# A knob with its default value, to see _system_config reach every node's processes.
SYSTEM_CONFIG = {"gcs_heartbeat_interval_ms": 500}


def _raylet_takes_labels():
    usage = subprocess.run([raylet_binary(), "--help"], capture_output=True, text=True)
    return "--labels" in usage.stdout + usage.stderr


def _nodes_by_id():
    return {n["NodeID"]: n for n in cyray.nodes()}


def _process_tree(popen):
    """psutil.Process of `popen` and of every process below it."""
    root = psutil.Process(popen.pid)
    return [root] + root.children(recursive=True)


@pytest.fixture(scope="module")
def cluster():
    if cyray.is_initialized():  # another module's shared cluster
        cyray.shutdown()
    cluster = Cluster(initialize_head=True, connect=True,
                      head_node_args={"num_cpus": 1, "object_store_memory": STORE_BYTES,
                                      "_system_config": SYSTEM_CONFIG})
    try:
        cluster.add_node(num_cpus=2, resources={"ssd": 2}, labels={"zone": "a"},
                         object_store_memory=STORE_BYTES)
        cluster.add_node(num_cpus=1, labels={"zone": "b"}, node_name="node-b",
                         object_store_memory=STORE_BYTES)
        yield cluster
    finally:
        cluster.shutdown()


def test_nodes_lists_every_node_with_its_resources(cluster):
    nodes = _nodes_by_id()
    assert len([n for n in nodes.values() if n["Alive"]]) == 3
    head = nodes[cluster.head_node.node_id]
    assert head["IsHeadNode"] and head["Resources"]["CPU"] == 1
    assert head["Resources"]["node:__internal_head__"] == 1
    workers = sorted((nodes[n.node_id] for n in cluster.worker_nodes),
                     key=lambda n: n["Resources"]["CPU"])
    assert [w["Resources"]["CPU"] for w in workers] == [1, 2]
    assert workers[1]["Resources"]["ssd"] == 2 and "ssd" not in workers[0]["Resources"]
    assert workers[0]["NodeName"] == "node-b"
    for node in (head, *workers):
        assert node["NodeManagerAddress"] == "127.0.0.1"
        assert node["Resources"]["node:127.0.0.1"] == 1
        assert node["Resources"]["object_store_memory"] == STORE_BYTES
        assert node["ObjectStoreSocketName"] == node["RayletSocketName"]
    assert not any("node:__internal_head__" in w["Resources"] for w in workers)
    assert len({n["RayletSocketName"] for n in nodes.values()}) == 3


def test_node_objects(cluster):
    head = cluster.head_node
    assert head.is_head() and head.address == cluster.address == cluster.gcs_address
    assert cluster.list_all_nodes()[0] is head and len(cluster.list_all_nodes()) == 3
    for node in cluster.list_all_nodes():
        assert node.unique_id == node.node_id and len(node.node_id) == 56
        assert node.node_ip_address == "127.0.0.1"
        assert node.all_processes_alive()
        assert node.labels["ray.io/node-id"] == node.node_id
    assert set(head.all_processes) == {"raylet", "gcs_server"}


def test_labels_reach_the_gcs(cluster):
    if not _raylet_takes_labels():
        pytest.skip("this raylet binary has no --labels flag yet")
    nodes = _nodes_by_id()
    labels = {n.labels.get("zone"): nodes[n.node_id]["Labels"] for n in cluster.worker_nodes}
    for zone in ("a", "b"):
        assert labels[zone]["zone"] == zone
    for node in cluster.list_all_nodes():
        assert nodes[node.node_id]["Labels"]["ray.io/node-id"] == node.node_id


def test_cluster_resources_sum_the_nodes(cluster):
    total = cyray.cluster_resources()
    assert total["CPU"] == 4
    assert total["ssd"] == 2
    assert total["node:127.0.0.1"] == 3
    assert total["node:__internal_head__"] == 1
    assert total["object_store_memory"] == 3 * STORE_BYTES


def test_system_config_reaches_every_node(cluster):
    name, value = next(iter(SYSTEM_CONFIG.items()))
    for node in cluster.list_all_nodes():
        env = psutil.Process(node.raylet_process.pid).environ()
        assert env[f"CYRAY_{name}"] == str(value)


def test_connect_attaches_the_driver_to_the_head(cluster):
    assert cluster.connected
    head_id = cluster.head_node.node_id
    assert cyray.get_runtime_context().get_node_id() == head_id

    @cyray.remote(resources={"node:__internal_head__": 0.01})
    def node_of_task():
        return cyray.get_runtime_context().get_node_id()

    assert cyray.get(node_of_task.remote(), timeout=30) == head_id


@pytest.mark.parametrize("graceful", [True, False], ids=["graceful", "crash"])
def test_remove_node_ends_its_processes(cluster, graceful):
    node = cluster.add_node(num_cpus=1, object_store_memory=STORE_BYTES)
    assert _nodes_by_id()[node.node_id]["Alive"]
    procs = _process_tree(node.raylet_process)
    assert len(procs) > 1, "the raylet started no worker"
    assert cluster.remaining_processes_alive()
    node.raylet_process.send_signal(signal.SIGSTOP)  # still alive: stopped, not dead
    assert cluster.remaining_processes_alive()
    node.raylet_process.send_signal(signal.SIGCONT)
    cluster.remove_node(node, allow_graceful=graceful)
    assert cluster.remaining_processes_alive()  # a removed node no longer counts
    assert node not in cluster.worker_nodes and not node.any_processes_alive()
    expected = 0 if graceful else -signal.SIGKILL
    assert node.raylet_process.returncode == expected
    assert not wait_until_gone(procs, timeout=5)
    cluster.wait_for_nodes(timeout=30)
    assert not _nodes_by_id()[node.node_id]["Alive"]
    assert sum(n["Alive"] for n in cyray.nodes()) == 3
    assert cyray.cluster_resources()["CPU"] == 4


def test_shutdown_ends_every_process_and_disconnects(cluster):
    # Runs after the other tests of the module's cluster: it ends that cluster.
    assert psutil.Process().children(recursive=True)
    cluster.shutdown()
    assert not cyray.is_initialized() and not cluster.connected
    assert cluster.head_node is None and not cluster.worker_nodes
    left = wait_until_gone(psutil.Process().children(recursive=True), timeout=5)
    assert not left, f"left running: {left}"
    cluster.shutdown()  # again: nothing to do


def test_a_fresh_cluster_shuts_down_cleanly():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1,
                                                            "object_store_memory": STORE_BYTES})
    try:
        node = cluster.add_node(num_cpus=1, object_store_memory=STORE_BYTES)
        procs = _process_tree(cluster.head_node.raylet_process) + _process_tree(
            node.raylet_process) + [psutil.Process(cluster.head_node.gcs_process.pid)]
        cluster.connect()
    finally:
        cluster.shutdown()
    assert not cyray.is_initialized()
    assert not wait_until_gone(procs, timeout=5)
    assert not wait_until_gone(psutil.Process().children(recursive=True), timeout=5)


@pytest.mark.parametrize("node_args, error, message", [
    ({"num_cpu": 1}, TypeError, "unexpected keyword arguments ['num_cpu']"),
    ({"labels": ["zone"]}, TypeError, "dict of str to str"),
    ({"labels": {"zone": 1}}, TypeError, "dict of str to str"),
    ({"labels": {"": "a"}}, ValueError, "non-empty"),
    ({"labels": {"zone": ""}}, ValueError, "non-empty"),
    ({"labels": {"a,b": "c"}}, ValueError, "neither ',' nor '='"),
    ({"labels": {"zone": "a=b"}}, ValueError, "neither ',' nor '='"),
    ({"labels": {"ray.io/node-id": "x"}}, ValueError, "reserved"),
    ({"_system_config": {"no_such_knob": 1}}, ValueError, "no config knob 'no_such_knob'"),
    ({"num_cpus": -1}, ValueError, "num_cpus"),
])
def test_bad_node_args_start_nothing(node_args, error, message):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    cluster = Cluster(shutdown_at_exit=False)
    with pytest.raises(error) as info:
        cluster.add_node(**node_args)
    assert message in str(info.value)
    assert cluster.head_node is None
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


def test_misuse_of_the_cluster_is_refused():
    with pytest.raises(ValueError, match="initialize_head"):
        Cluster(connect=True)
    cluster = Cluster(shutdown_at_exit=False)
    with pytest.raises(RuntimeError, match="no head node"):
        cluster.connect()
    with pytest.raises(ValueError, match="not a node of this cluster"):
        cluster.remove_node(object())
    assert cluster.address is None and cluster.list_all_nodes() == []
    cluster.wait_for_nodes()  # no head: nothing to wait for
    cluster.shutdown()


def test_cli_labels():
    assert parse_labels('{"zone": "a", "gpu": "a100"}') == {"zone": "a", "gpu": "a100"}
    assert parse_labels("zone=a,gpu=a100") == {"zone": "a", "gpu": "a100"}
    assert parse_labels(None) == {}
    for bad in ('{"zone": 1}', '["zone"]', "{zone", "zone", '{"a=b": "c"}'):
        with pytest.raises(ValueError):
            parse_labels(bad)
