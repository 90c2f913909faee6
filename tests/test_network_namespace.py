"""Two nodes with two addresses: a second raylet in its own network namespace, joined to the
head through a veth pair, so that nothing depends on every node being 127.0.0.1.

The test makes the namespace, the veth pair and the addresses (10.213.<n>.1 on this side,
.2 inside; a private range only this test uses) and always removes them. It is skipped
with the reason when the machine cannot create network namespaces (not root, no `ip`)."""

import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import cyray as ray
from cyray._private.node import LocalNode

MIB = 1024 * 1024
STORE = 400 * MIB


def _run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30)


def _namespaces_unavailable():
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"cyrayprobe{os.getpid()}"
    made = _run("ip", "netns", "add", probe)
    if made.returncode != 0:
        return f"this machine cannot create network namespaces: {made.stderr.strip()}"
    _run("ip", "netns", "del", probe)
    return None


@pytest.fixture
def namespace():
    reason = _namespaces_unavailable()
    if reason:
        pytest.skip(reason)
    n = os.getpid() % 200 + 20
    name, host_if, ns_if = f"cyrayns{n}", f"cyv{n}a", f"cyv{n}b"
    host_ip, ns_ip = f"10.213.{n}.1", f"10.213.{n}.2"
    steps = [
        ("ip", "netns", "add", name),
        ("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if),
        ("ip", "link", "set", ns_if, "netns", name),
        ("ip", "addr", "add", f"{host_ip}/24", "dev", host_if),
        ("ip", "link", "set", host_if, "up"),
        ("ip", "netns", "exec", name, "ip", "addr", "add", f"{ns_ip}/24", "dev", ns_if),
        ("ip", "netns", "exec", name, "ip", "link", "set", ns_if, "up"),
        ("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"),
    ]
    try:
        for step in steps:
            done = _run(*step)
            assert done.returncode == 0, f"{' '.join(step)}: {done.stderr}"
        yield name, host_ip, ns_ip
    finally:
        _run("ip", "link", "del", host_if)  # removes its peer too
        _run("ip", "netns", "del", name)


# Runs inside the namespace: a raylet joining the head, alive while this process lives.
JOIN_NODE = textwrap.dedent("""
    import sys
    from cyray._private.node import LocalNode
    gcs_address, ip, token, store = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    node = LocalNode({"CPU": 1, "memory": 10**9, "inside": 1}, node_ip_address=ip, head=False,
                     gcs_address=gcs_address, auth_token=token, object_store_memory=store)
    node.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        node.kill_all()
        node.remove_session_dir()
""")


def test_node_in_another_namespace_runs_tasks_and_moves_objects(namespace):
    name, host_ip, ns_ip = namespace
    if ray.is_initialized():
        ray.shutdown()
    head = LocalNode({"CPU": 1, "memory": 10**9}, node_ip_address=host_ip,
                     object_store_memory=STORE)
    head.start()
    joiner = None
    try:
        joiner = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", JOIN_NODE, head.gcs_address,
             ns_ip, head.auth_token, str(STORE)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert joiner.stdout.readline().strip() == "ready"
        ray.init(address=head.gcs_address, _node_ip_address=host_ip, _token=head.auth_token)
        addresses = {n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
        assert addresses == {host_ip, ns_ip}

        @ray.remote(resources={"inside": 1})
        def inside_make(n):
            return np.full(n, 3, dtype=np.uint8), ray.get_runtime_context().get_node_id()

        @ray.remote(resources={"inside": 1})
        def inside_sum(array):
            return int(array.sum())

        ref = inside_make.remote(100 * MIB)
        start = time.monotonic()
        array, node_id = ray.get(ref, timeout=120)  # pulled out of the namespace
        assert node_id != head.node_id.hex()
        assert array.nbytes == 100 * MIB and int(array[-1]) == 3
        outgoing = ray.put(np.ones(100 * MIB, dtype=np.uint8))  # pulled into it
        assert ray.get(inside_sum.remote(outgoing), timeout=120) == 100 * MIB
        assert time.monotonic() - start < 60
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if joiner is not None:
            joiner.stdin.close()
            try:
                joiner.wait(15)
            except subprocess.TimeoutExpired:
                joiner.kill()
                joiner.wait()
        head.kill_all()
        head.remove_session_dir()
