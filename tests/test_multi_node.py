"""Several raylets on this machine forming one cluster (cyray.cluster_utils.Cluster): tasks
and actors placed across nodes, objects moved between them, and nodes dying under work.

The module's cluster is a head (1 CPU) and two nodes with 1 CPU each, the first with the
custom resource "a" and label zone=a, the second with "b" and zone=b; the driver runs on the
head. Tests that kill nodes add their own and remove them; one attaches a second driver (a
subprocess) to such a node.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest
from conftest import wait_for

import cyray as ray
from cyray.cluster_utils import Cluster
from cyray.exceptions import (
    ActorDiedError,
    NodeDiedError,
    ObjectLostError,
    TaskUnschedulableError,
)
from cyray.util.scheduling_strategies import (
    In,
    NodeAffinitySchedulingStrategy,
    NodeLabelSchedulingStrategy,
)
from cyray.util.state import get_actor

STORE = 300 * 1024 * 1024


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 1, "object_store_memory": STORE})
    cluster.node_a = cluster.add_node(num_cpus=1, resources={"a": 1}, labels={"zone": "a"},
                                      object_store_memory=STORE)
    cluster.node_b = cluster.add_node(num_cpus=1, resources={"b": 1}, labels={"zone": "b"},
                                      object_store_memory=STORE)
    cluster.wait_for_nodes()
    cluster.connect()
    try:
        yield cluster
    finally:
        cluster.shutdown()


def where_task():
    """A remote function returning the node it ran on (defined per call: pickled by value)."""
    def node_of():
        return ray.get_runtime_context().get_node_id()

    return ray.remote(node_of)


def pinned(node, soft=False):
    return NodeAffinitySchedulingStrategy(node.node_id, soft=soft)


def test_task_needing_a_nodes_resource_runs_there(cluster):
    where = where_task()
    assert ray.get(where.options(resources={"a": 1}).remote(), timeout=30) == \
        cluster.node_a.node_id
    assert ray.get(where.options(resources={"b": 0.5}).remote(), timeout=30) == \
        cluster.node_b.node_id


def test_one_cpu_nodes_run_sleeping_tasks_in_parallel(cluster):
    @ray.remote
    def sleeper():
        time.sleep(1.5)
        return ray.get_runtime_context().get_node_id()

    ray.get(sleeper.remote(), timeout=30)  # workers started
    start = time.monotonic()
    nodes = ray.get([sleeper.remote() for _ in range(3)], timeout=60)
    elapsed = time.monotonic() - start
    assert len(set(nodes)) == 3
    assert elapsed < 4.0, f"3 tasks of 1.5 s on 3 one-CPU nodes took {elapsed:.1f} s"


def test_spread_puts_two_long_tasks_on_two_nodes(cluster):
    @ray.remote(scheduling_strategy="SPREAD")
    def long_task():
        time.sleep(1.0)
        return ray.get_runtime_context().get_node_id()

    assert len(set(ray.get([long_task.remote() for _ in range(2)], timeout=60))) == 2


def test_node_affinity_hard_and_soft(cluster):
    where = where_task()
    for node in (cluster.node_a, cluster.node_b, cluster.head_node):
        assert ray.get(where.options(scheduling_strategy=pinned(node)).remote(),
                       timeout=30) == node.node_id
    unknown = NodeAffinitySchedulingStrategy("ab" * 28, soft=False)
    with pytest.raises(TaskUnschedulableError, match="not an alive node"):
        ray.get(where.options(scheduling_strategy=unknown).remote(), timeout=30)
    soft = NodeAffinitySchedulingStrategy("ab" * 28, soft=True)
    assert ray.get(where.options(scheduling_strategy=soft).remote(), timeout=30)

    @ray.remote
    class Pinned:
        def ping(self):
            return "pong"

    # An actor that can never be placed: its calls raise Ray's ActorUnschedulableError.
    actor = Pinned.options(scheduling_strategy=unknown).remote()
    with pytest.raises(ray.exceptions.ActorUnschedulableError, match="not schedulable"):
        ray.get(actor.ping.remote(), timeout=30)


def test_soft_affinity_to_a_busy_node_waits_there_unless_told_otherwise(cluster, gate):
    node = cluster.node_a  # 1 CPU, held below until the gate opens
    busy = gate.task.options(scheduling_strategy=pinned(node)).remote(gate.path, "held")
    wait_for(lambda: ray.available_resources().get("CPU", 0) <= 2, 30,
             message="the node's CPU is taken")
    where = where_task()
    # As Ray: soft affinity to a node that could fit the task queues it there.
    waiting = where.options(scheduling_strategy=pinned(node, soft=True)).remote()
    spilled = where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
        node.node_id, soft=True, _spill_on_unavailable=True)).remote()
    assert ray.get(spilled, timeout=30) != node.node_id
    with pytest.raises(TaskUnschedulableError, match="_fail_on_unavailable"):
        ray.get(where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
            node.node_id, soft=False, _fail_on_unavailable=True)).remote(), timeout=30)
    assert not ray.wait([waiting], timeout=0.5)[0]
    gate.open()
    assert ray.get(busy, timeout=30) == "held"
    assert ray.get(waiting, timeout=30) == node.node_id


def test_labels_choose_the_node(cluster):
    where = where_task()
    zone_b = NodeLabelSchedulingStrategy({"zone": In("b")})
    assert ray.get(where.options(scheduling_strategy=zone_b).remote(), timeout=30) == \
        cluster.node_b.node_id
    assert ray.get(where.options(label_selector={"zone": "a"}).remote(), timeout=30) == \
        cluster.node_a.node_id


def test_actor_is_placed_on_the_node_that_fits(cluster):
    @ray.remote(resources={"b": 0.1})
    class OnB:
        def where(self):
            return ray.get_runtime_context().get_node_id()

    actor = OnB.remote()
    assert ray.get(actor.where.remote(), timeout=30) == cluster.node_b.node_id
    ray.kill(actor)


def test_object_made_on_one_node_is_read_on_another_and_passed_to_a_third(cluster):
    @ray.remote
    def make(n):
        return np.arange(n, dtype=np.uint8)

    @ray.remote
    def checksum(array):
        return int(array.sum()), ray.get_runtime_context().get_node_id()

    size = 50 * 1024 * 1024
    ref = make.options(scheduling_strategy=pinned(cluster.node_a)).remote(size)
    expected = int(np.arange(size, dtype=np.uint8).sum())
    value = ray.get(ref, timeout=60)  # pulled to the head
    assert value.nbytes == size and int(value.sum()) == expected
    total, node = ray.get(checksum.options(scheduling_strategy=pinned(cluster.node_b)).remote(ref),
                          timeout=60)
    assert (total, node) == (expected, cluster.node_b.node_id)
    # A put on the head, read by a task on another node.
    put = ray.put(np.ones(size, dtype=np.uint8))
    assert ray.get(checksum.options(scheduling_strategy=pinned(cluster.node_a)).remote(put),
                   timeout=60)[0] == size


def test_wait_fetch_local_pulls_ready_objects_here(cluster):
    @ray.remote
    def make():
        return np.full(20 * 1024 * 1024, 5, dtype=np.uint8)

    def local_store_objects():
        return ray._private.state.object_store_stats()["num_objects"]

    far = make.options(scheduling_strategy=pinned(cluster.node_b)).remote()
    ready, _ = ray.wait([far], timeout=30, fetch_local=False)
    assert ready
    before = local_store_objects()
    ready, _ = ray.wait([far], timeout=30, fetch_local=True)
    assert ready and local_store_objects() == before + 1, "the object was pulled here"


def test_infeasible_task_waits_and_starts_when_a_fitting_node_joins(cluster):
    where = where_task()
    ref = where.options(resources={"later": 1}).remote()
    ready, _ = ray.wait([ref], timeout=1.0)
    assert not ready, "no node has 'later' yet: the task waits"
    node = cluster.add_node(num_cpus=1, resources={"later": 1}, object_store_memory=STORE)
    try:
        assert ray.get(ref, timeout=30) == node.node_id
    finally:
        cluster.remove_node(node)


def test_nodes_and_resources_are_cluster_wide(cluster):
    totals = ray.cluster_resources()
    assert totals["CPU"] == 3 and totals["a"] == 1 and totals["b"] == 1
    assert totals["node:127.0.0.1"] == 3
    wait_for(lambda: ray.available_resources().get("CPU") == 3, 10,
             message="every CPU free again")
    alive = [node for node in ray.nodes() if node["Alive"]]
    assert {node["NodeManagerHostname"] for node in alive} == {socket.gethostname()}
    assert {node["NodeName"] for node in alive} == {"127.0.0.1"}


# ---- nodes that die ---------------------------------------------------------------------


def _started(path):
    return lambda: os.path.exists(path)


def test_task_on_a_removed_node_is_retried_elsewhere(cluster, tmp_path):
    node = cluster.add_node(num_cpus=1, object_store_memory=STORE)
    marker = str(tmp_path / "started")

    @ray.remote(max_retries=2)
    def slow(marker):
        if not os.path.exists(marker):
            open(marker, "w").close()
            time.sleep(60)
        return ray.get_runtime_context().get_node_id()

    ref = slow.options(scheduling_strategy=pinned(node, soft=True)).remote(marker)
    wait_for(_started(marker), 30, message="the task started on the doomed node")
    cluster.remove_node(node, allow_graceful=False)
    assert ray.get(ref, timeout=60) != node.node_id


def test_actor_on_a_removed_node_restarts_elsewhere(cluster):
    node = cluster.add_node(num_cpus=1, object_store_memory=STORE)

    @ray.remote(max_restarts=1)
    class Where:
        def where(self):
            return ray.get_runtime_context().get_node_id()

    actor = Where.options(scheduling_strategy=pinned(node, soft=True)).remote()
    assert ray.get(actor.where.remote(), timeout=30) == node.node_id
    cluster.remove_node(node, allow_graceful=False)

    def answers_elsewhere():
        try:
            return ray.get(actor.where.remote(), timeout=10) != node.node_id
        except ray.exceptions.RayActorError:
            return False  # calls made while it restarts may fail

    wait_for(answers_elsewhere, 60, interval=0.5, message="the actor answers from another node")
    ray.kill(actor)


def test_actor_on_a_removed_node_dies_of_its_node(cluster, tmp_path):
    """With no restarts, the actor dies with its node: its call in flight and every later call
    raise ActorDiedError in Ray's words, caused by a NodeDiedError naming the node."""
    node = cluster.add_node(num_cpus=1, object_store_memory=STORE)
    marker = str(tmp_path / "started")

    @ray.remote(max_restarts=0)
    class Sleeper:
        def where(self):
            return ray.get_runtime_context().get_node_id()

        def sleep(self, marker):
            open(marker, "w").close()
            time.sleep(60)

    actor = Sleeper.options(scheduling_strategy=pinned(node)).remote()
    assert ray.get(actor.where.remote(), timeout=30) == node.node_id
    in_flight = actor.sleep.remote(marker)
    wait_for(_started(marker), 30, message="the call started on the doomed node")
    cluster.remove_node(node, allow_graceful=False)
    for ref in (in_flight, actor.where.remote()):
        start = time.monotonic()
        with pytest.raises(ActorDiedError) as info:
            ray.get(ref, timeout=60)
        assert time.monotonic() - start < 30
        died = info.value
        assert (f"The actor died because its node has died. Node Id: {node.node_id}\n"
                "\tthe actor's node was terminated unexpectedly: ") in str(died)
        assert f"\tip: {node.node_ip_address}\n" in str(died)
        assert died.actor_id == actor._actor_id.hex()
        node_died = died.__cause__
        assert type(node_died) is NodeDiedError
        assert node_died.node_id == node.node_id and node.node_id in str(node_died)
        assert node_died.node_ip_address == node.node_ip_address
    row = get_actor(actor._actor_id.hex())
    assert row.state == "DEAD" and row.node_id == node.node_id
    assert row.death_cause["error_type"] == "ACTOR_DIED"
    assert row.death_cause["message"].startswith(
        f"The actor died because its node has died. Node Id: {node.node_id}")


# A second driver, attached to the raylet at argv[2] (init's _node_ip_address picks the node):
# it starts an actor on the head (argv[5]) and a task on its own node, waits for the task, and
# prints as JSON the actor's ID, what get() raised, what a new task raised, and how long
# shutdown took.
ATTACHED_DRIVER = textwrap.dedent("""
    import json, sys, time
    import cyray as ray
    from cyray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    address, ip, token, marker, head_id = sys.argv[1:6]
    ray.init(address=address, _node_ip_address=ip, _token=token)
    node_id = ray.get_runtime_context().get_node_id()

    @ray.remote(num_cpus=0)
    class OnTheHead:
        def ping(self):
            return "pong"

    on_head = NodeAffinitySchedulingStrategy(head_id, soft=False)
    actor = OnTheHead.options(scheduling_strategy=on_head).remote()
    assert ray.get(actor.ping.remote(), timeout=30) == "pong"

    @ray.remote
    def sleep_here(marker):
        open(marker, "w").close()
        time.sleep(600)

    here = NodeAffinitySchedulingStrategy(node_id, soft=False)
    ref = sleep_here.options(scheduling_strategy=here).remote(marker)

    def raised(call):
        start = time.monotonic()
        try:
            call()
            return None
        except Exception as e:
            return {"type": f"{type(e).__module__}.{type(e).__name__}", "message": str(e),
                    "seconds": time.monotonic() - start}

    result = {"node_id": node_id, "actor_id": actor._actor_id.hex(),
              "get": raised(lambda: ray.get(ref, timeout=120)),
              "new_task": raised(lambda: ray.get(sleep_here.remote(marker), timeout=30))}
    start = time.monotonic()
    ray.shutdown()
    result["shutdown_seconds"] = time.monotonic() - start
    print(json.dumps(result), flush=True)
""")


def _can_bind(ip):
    with socket.socket() as probe:
        try:
            probe.bind((ip, 0))
            return True
        except OSError:
            return False


def _running(procs):
    """Those of the psutil processes `procs` that still run (an unreaped zombie has ended)."""
    def running(proc):
        try:
            return proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    return [proc for proc in procs if running(proc)]


def _pid_running(pid):
    try:
        return bool(_running([psutil.Process(pid)]))
    except psutil.Error:
        return False


def test_driver_whose_raylet_is_killed_gets_local_raylet_died(cluster, tmp_path):
    """A driver attached to a node other than the head (one with an IP of its own, 127.0.0.2)
    whose raylet is killed while its task runs there: get() raises LocalRayletDiedError at
    once (no hang), and so does a new task; the driver shuts down, the node's workers exit,
    the actor the driver owned on the head ends with it, and the rest of the cluster works
    on."""
    ip = "127.0.0.2"
    if not _can_bind(ip):
        pytest.skip(f"this machine cannot bind {ip} (a loopback address besides 127.0.0.1)")
    node = cluster.add_node(num_cpus=1, node_ip_address=ip, object_store_memory=STORE)
    marker = str(tmp_path / "started")
    driver = subprocess.Popen(
        [sys.executable, "-c", ATTACHED_DRIVER, cluster.address, ip,
         cluster.head_node.local_node.auth_token, marker, cluster.head_node.node_id],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: os.path.exists(marker) or driver.poll() is not None, 60,
                 message="the driver's task to start on its node")
        assert driver.poll() is None, driver.communicate()[1]
        workers = psutil.Process(node.raylet_process.pid).children(recursive=True)
        assert workers
        cluster.remove_node(node, allow_graceful=False)
        out, err = driver.communicate(timeout=90)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
    assert driver.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["node_id"] == node.node_id, "the driver was attached to the doomed node"
    for call in ("get", "new_task"):
        raised = result[call]
        assert raised is not None, f"{call} returned after the driver's raylet died"
        assert raised["type"] == "cyray.exceptions.LocalRayletDiedError", raised
        # Ray's words first, then what it means for this process.
        assert raised["message"].startswith("The task's local raylet died. Check raylet.out "
                                            "for more information."), raised
        assert "The local raylet of this driver died" in raised["message"], raised
        assert raised["seconds"] < 15, raised
    assert result["shutdown_seconds"] < 10
    # The rest of the cluster works on, from the head's driver.
    assert ray.get(where_task().remote(), timeout=30) in {
        n.node_id for n in (cluster.head_node, cluster.node_a, cluster.node_b)}
    wait_for(lambda: ray.cluster_resources().get("CPU") == 3, 10,
             message="the dead node's CPU to leave the cluster")
    # Nothing is left behind: the node's workers followed their raylet, and the actor the
    # driver owned died with its owner's node, its worker ended.
    wait_for(lambda: not _running(workers), 15, message="the dead node's workers to exit")

    def dead_actor():
        row = get_actor(result["actor_id"])
        return row if row.state == "DEAD" else None

    actor = wait_for(dead_actor, 15, message="the driver's actor to die")
    assert "The actor's owner died: its node " + node.node_id in actor.death_cause["message"]
    wait_for(lambda: not _pid_running(actor.pid), 15,
             message="the driver's actor's worker to exit")


def _made_on(node, max_retries):
    @ray.remote(max_retries=max_retries)
    def make():
        return np.full(8 * 1024 * 1024, 7, dtype=np.uint8)

    ref = make.options(scheduling_strategy=pinned(node, soft=True)).remote()
    ready, _ = ray.wait([ref], timeout=30, fetch_local=False)
    assert ready
    return ref


def test_object_whose_only_copy_died_raises_object_lost(cluster):
    node = cluster.add_node(num_cpus=1, object_store_memory=STORE)
    ref = _made_on(node, max_retries=0)
    cluster.remove_node(node, allow_graceful=False)
    start = time.monotonic()
    with pytest.raises(ObjectLostError):
        ray.get(ref, timeout=60)
    assert time.monotonic() - start < 30


def test_lost_object_of_a_retryable_task_is_rebuilt(cluster):
    node = cluster.add_node(num_cpus=1, object_store_memory=STORE)
    ref = _made_on(node, max_retries=1)
    cluster.remove_node(node, allow_graceful=False)
    value = ray.get(ref, timeout=60)
    assert value.nbytes == 8 * 1024 * 1024 and int(value[0]) == 7



def test_failed_rebuild_raises_object_reconstruction_failed(cluster, tmp_path):
    node = cluster.add_node(num_cpus=1, object_store_memory=STORE)
    marker = str(tmp_path / "made")

    @ray.remote(max_retries=1)
    def make_once(path):
        if os.path.exists(path):
            os._exit(1)  # every run after the first dies: the rebuild fails
        open(path, "w").close()
        return np.full(8 * 1024 * 1024, 7, dtype=np.uint8)

    ref = make_once.options(scheduling_strategy=pinned(node, soft=True)).remote(marker)
    ready, _ = ray.wait([ref], timeout=30, fetch_local=False)
    assert ready
    cluster.remove_node(node, allow_graceful=False)
    with pytest.raises(ray.exceptions.ObjectReconstructionFailedError,
                       match="OBJECT_RECONSTRUCTION_FAILED"):
        ray.get(ref, timeout=60)


def test_graceful_node_removal_under_running_work(cluster, tmp_path):
    # SIGTERM to the node: a running call sees its actor die, a running task is retried
    # elsewhere; neither sees a SystemExit raised inside its code.
    node = cluster.add_node(num_cpus=2, object_store_memory=STORE)
    cluster.wait_for_nodes()
    started = str(tmp_path / "started")

    @ray.remote(max_restarts=0)
    class Slow:
        def run(self):
            open(started, "a").close()
            time.sleep(60)

    @ray.remote(max_retries=1)
    def slow_task(path):
        if not os.path.exists(path):
            open(path, "w").close()
            time.sleep(60)
        return ray.get_runtime_context().get_node_id()

    actor = Slow.options(scheduling_strategy=pinned(node)).remote()
    call = actor.run.remote()
    task_marker = str(tmp_path / "task")
    task = slow_task.options(scheduling_strategy=pinned(node, soft=True)).remote(task_marker)
    wait_for(lambda: os.path.exists(started) and os.path.exists(task_marker), 30,
             message="the call and the task run on the node")
    cluster.remove_node(node, allow_graceful=True)
    assert node.raylet_process.returncode == 0
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(call, timeout=30)
    assert ray.get(task, timeout=60) != node.node_id
