"""The `cyray` command: start a cluster that outlives the command, use it, stop it."""

import subprocess
import sys

from conftest import DriverRun

import cyray as ray


def cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "cyray.scripts.cli", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_start_status_connect_stop(tmp_path):
    if ray.is_initialized():
        ray.shutdown()
    started = cli("start", "--head", "--num-cpus", "1")
    try:
        assert started.returncode == 0, started.stderr
        address = started.stdout.split("GCS address:")[1].split()[0]
        status = cli("status", "--address", address)
        assert status.returncode == 0, status.stderr
        assert "ALIVE" in status.stdout and "CPU: " in status.stdout
        # Memory is detected as Ray does: a schedulable resource of the node.
        assert "    memory: " in status.stdout, status.stdout
        # A second node on this machine joins with no extra step: it finds the cluster
        # token in the head's session directory.
        joined = cli("start", "--address", address, "--num-cpus", "1")
        assert joined.returncode == 0, joined.stderr
        assert cli("status", "--address", address).stdout.count("ALIVE") == 2
        # A workload whose tasks land on both nodes: one pinned to each alive node.
        run = DriverRun(tmp_path, f"""
            import cyray as ray
            from cyray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
            ray.init(address="{address}")
            print("SUM", sum(ray.get([ray.remote(lambda x: x + 1).remote(i) for i in range(10)])))

            @ray.remote
            def where():
                return ray.get_runtime_context().get_node_id()

            nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
            ran_on = ray.get([where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                node, soft=False)).remote() for node in nodes])
            print("NODES", len(set(ran_on)), sorted(ran_on) == sorted(nodes))
            ray.shutdown()
        """)
        try:
            run.wait(60)
        finally:
            run.stop()
        assert "SUM 55" in run.stdout, run.stderr
        assert "NODES 2 True" in run.stdout, run.stdout
        # The cluster outlived that driver.
        assert cli("status", "--address", address).returncode == 0
    finally:
        stopped = cli("stop")
    assert stopped.returncode == 0 and "ended 3 process" in stopped.stdout, stopped.stdout
    assert cli("status", "--address", address, timeout=60).returncode != 0
