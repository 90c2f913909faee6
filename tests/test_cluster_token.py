"""Every gRPC server of a cluster (GCS, raylet, core workers) refuses calls that lack the
cluster token, before any handler runs; cyray's own processes and second drivers on the
same machine carry it without any extra step."""

import os
import random
import socket
import struct
import subprocess
import sys

import grpc
import psutil
import pytest

import cyray as ray
from cyray.protobuf import common_pb2
from cyray.protobuf import core_worker_pb2 as cw_pb2
from cyray.protobuf import core_worker_pb2_grpc as cw_grpc
from cyray.protobuf import gcs_service_pb2 as gcs_pb2
from cyray.protobuf import gcs_service_pb2_grpc as gcs_grpc
from cyray.protobuf import node_manager_pb2 as nm_pb2
from cyray.protobuf import node_manager_pb2_grpc as nm_grpc


def _addresses():
    """GCS, raylet and driver core worker addresses of the running cluster."""
    from cyray._private.worker import global_worker

    gcs = global_worker.gcs_address
    nodes = gcs_grpc.NodeInfoGcsServiceStub(grpc.insecure_channel(gcs)).GetAllNodeInfo(
        gcs_pb2.GetAllNodeInfoRequest(), metadata=_good(), timeout=10).node_info_list
    raylet = f"{nodes[0].node_manager_address}:{nodes[0].node_manager_port}"
    worker = common_pb2.Address.FromString(global_worker.core_worker.address())
    return gcs, raylet, f"{worker.ip_address}:{worker.port}"


def _token():
    from cyray._private.node import AUTH_TOKEN_FILE
    from cyray._private.worker import global_worker

    with open(os.path.join(global_worker.node.session_dir, AUTH_TOKEN_FILE)) as f:
        return f.read().strip()


def _good():
    return (("cyray-token", _token()),)


def _calls(gcs, raylet, worker):
    """One call of each service: (name, callable taking metadata)."""
    def channel(address):
        return grpc.insecure_channel(address)

    node_info = gcs_grpc.NodeInfoGcsServiceStub(channel(gcs))
    kv = gcs_grpc.InternalKVGcsServiceStub(channel(gcs))
    jobs = gcs_grpc.JobInfoGcsServiceStub(channel(gcs))
    actors = gcs_grpc.ActorInfoGcsServiceStub(channel(gcs))
    node_manager = nm_grpc.NodeManagerServiceStub(channel(raylet))
    core_worker = cw_grpc.CoreWorkerServiceStub(channel(worker))
    return [
        ("GCS GetAllNodeInfo", lambda md: node_info.GetAllNodeInfo(
            gcs_pb2.GetAllNodeInfoRequest(), metadata=md, timeout=10)),
        ("GCS InternalKVKeys", lambda md: kv.InternalKVKeys(
            gcs_pb2.InternalKVKeysRequest(namespace=b"fun"), metadata=md, timeout=10)),
        ("GCS GetAllJobInfo", lambda md: jobs.GetAllJobInfo(
            gcs_pb2.GetAllJobInfoRequest(), metadata=md, timeout=10)),
        ("GCS GetActorInfo", lambda md: actors.GetActorInfo(
            gcs_pb2.GetActorInfoRequest(actor_id=b"x" * 16), metadata=md, timeout=10)),
        ("raylet GetWorkerFailureCause", lambda md: node_manager.GetWorkerFailureCause(
            nm_pb2.GetWorkerFailureCauseRequest(worker_id=b"x" * 28), metadata=md, timeout=10)),
        ("core worker GetObjectStatus", lambda md: core_worker.GetObjectStatus(
            cw_pb2.GetObjectStatusRequest(object_id=b"x" * 28), metadata=md, timeout=10)),
    ]


def test_calls_without_the_token_are_unauthenticated(ray_start_shared):
    for name, call in _calls(*_addresses()):
        for metadata in ((), (("cyray-token", "wrong"),), (("cyray-token", ""),)):
            with pytest.raises(grpc.RpcError) as info:
                call(metadata)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
        call(_good())  # the same call with the token is served


def test_unauthenticated_calls_cannot_run_tasks_or_kill(ray_start_shared):
    gcs, raylet, _ = _addresses()
    actors = gcs_grpc.ActorInfoGcsServiceStub(grpc.insecure_channel(gcs))
    with pytest.raises(grpc.RpcError) as info:
        actors.KillActor(gcs_pb2.KillActorRequest(), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    leases = nm_grpc.NodeManagerServiceStub(grpc.insecure_channel(raylet))
    with pytest.raises(grpc.RpcError) as info:
        leases.RequestWorkerLease(nm_pb2.RequestWorkerLeaseRequest(), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_random_payloads_with_the_token_hurt_nothing(ray_start_shared):
    rng = random.Random(7)
    gcs, raylet, worker = _addresses()
    methods = [(gcs, "/cyray.rpc.NodeInfoGcsService/RegisterNode"),
               (gcs, "/cyray.rpc.InternalKVGcsService/InternalKVPut"),
               (gcs, "/cyray.rpc.ActorInfoGcsService/CreateActor"),
               (raylet, "/cyray.rpc.NodeManagerService/ReturnWorker"),
               (raylet, "/cyray.rpc.NodeManagerService/GetWorkerFailureCause"),
               (worker, "/cyray.rpc.CoreWorkerService/GetObjectStatus"),
               (worker, "/cyray.rpc.CoreWorkerService/AddBorrower")]
    for _ in range(150):
        address, method = rng.choice(methods)
        call = grpc.insecure_channel(address).unary_unary(method)
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        try:
            call(payload, metadata=_good(), timeout=2)
        except grpc.RpcError:
            pass

    @ray.remote
    def still_fine(x):
        return x + 1

    assert ray.get([still_fine.remote(i) for i in range(5)], timeout=60) == [1, 2, 3, 4, 5]


def _frame(frame_type, body):
    return struct.pack("<II", frame_type, len(body)) + body


def _read_frame(sock):
    """One task channel frame (type, body), or None once the worker closed."""
    data = b""
    while len(data) < 8:
        chunk = sock.recv(8 - len(data))
        if not chunk:
            return None
        data += chunk
    frame_type, length = struct.unpack("<II", data)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    return frame_type, body


def _task_channel_port(pid):
    """The listening port of worker `pid` that speaks the task channel."""
    ports = [c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp")
             if c.status == psutil.CONN_LISTEN]
    for port in ports:
        # The other port is gRPC's, which does not answer this: a short wait.
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(_frame(1, b"wrong"))
            try:
                answer = _read_frame(sock)
            except (socket.timeout, ConnectionError):
                answer = None
        if answer is not None and answer[0] == 2:
            return port, answer[1]
    raise AssertionError(f"no task channel among the ports {ports} of worker {pid}")


def test_the_task_channel_refuses_callers_without_the_token(ray_start_shared):
    @ray.remote
    class Counter:
        def __init__(self):
            self.n = 0

        def pid(self):
            return os.getpid()

        def bump(self):
            self.n += 1
            return self.n

    counter = Counter.remote()
    pid = ray.get(counter.pid.remote(), timeout=60)
    port, refusal = _task_channel_port(pid)
    assert b"cluster token" in refusal
    # Without the token a push is not even read; with it, a malformed push is
    # answered with an error and the worker serves on.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_frame(3, struct.pack("<Q", 1) + b"\x0a\xff\xff"))
        sock.sendall(_frame(1, _token().encode()))
        answer = _read_frame(sock)
        assert answer is not None and answer[0] == 2
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_frame(1, _token().encode()))
        sock.sendall(_frame(3, struct.pack("<Q", 42) + b"\x0a\xff\xff"))
        frame_type, body = _read_frame(sock)
        assert frame_type == 4
        call_id, ok = struct.unpack("<QB", body[:9])
        assert (call_id, ok) == (42, 0)
        assert b"could not parse" in body
    assert ray.get(counter.bump.remote(), timeout=60) == 1


def test_second_driver_and_status_find_the_token_without_help(ray_start_shared, tmp_path):
    from cyray._private.worker import global_worker

    script = tmp_path / "driver.py"
    script.write_text(
        "import cyray as ray\n"
        f"ray.init(address={global_worker.gcs_address!r})\n"
        "print('joined', ray.get(ray.put(41)) + 1)\n"
        "ray.shutdown()\n")
    env = {k: v for k, v in os.environ.items() if k != "CYRAY_AUTH_TOKEN"}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, env=env)
    assert "joined 42" in out.stdout, out.stderr
    # With a wrong token given explicitly, a clear error instead.
    env["CYRAY_AUTH_TOKEN"] = "wrong"
    out = subprocess.run([sys.executable, "-m", "cyray.scripts.cli", "status", "--address",
                          global_worker.gcs_address], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode != 0
    assert "token" in (out.stdout + out.stderr).lower()
