"""The GCS server: storage and job counter in-process, then the services in a real process."""

import asyncio
import os
import signal
import subprocess
import sys
import time

import grpc
import pytest

from cyray.gcs.server import JobInfoService
from cyray.gcs.storage import InMemoryStorage
from cyray.protobuf import gcs_service_pb2 as gcs_pb2
from cyray.protobuf import gcs_service_pb2_grpc as gcs_grpc

pytestmark = pytest.mark.timeout(60)

PORT_FILE_TIMEOUT_S = 20.0
RPC_TIMEOUT_S = 10.0
ALIVE = gcs_pb2.GcsNodeInfo.ALIVE
DEAD = gcs_pb2.GcsNodeInfo.DEAD


# ---- InMemoryStorage (no process) ----


def test_storage_put_get_delete():
    storage = InMemoryStorage()
    assert storage.get("t", b"k") is None
    assert storage.put("t", b"k", b"v1") is True
    assert storage.get("t", b"k") == b"v1"
    assert storage.put("t", b"k", b"v2") is False
    assert storage.get("t", b"k") == b"v2"
    assert storage.put("t", b"k", b"v3", overwrite=False) is False
    assert storage.get("t", b"k") == b"v2"
    assert storage.delete("t", b"k") is True
    assert storage.delete("t", b"k") is False
    assert storage.get("t", b"k") is None
    assert storage.delete("missing-table", b"k") is False


def test_storage_keys_items_and_table_isolation():
    storage = InMemoryStorage()
    storage.put("a", b"fn:1", b"x")
    storage.put("a", b"fn:2", b"y")
    storage.put("a", b"cls:1", b"z")
    storage.put("b", b"fn:3", b"w")
    assert sorted(storage.keys("a")) == [b"cls:1", b"fn:1", b"fn:2"]
    assert sorted(storage.keys("a", b"fn:")) == [b"fn:1", b"fn:2"]
    assert storage.keys("a", b"nope") == []
    assert storage.keys("missing-table") == []
    assert sorted(storage.items("a")) == [(b"cls:1", b"z"), (b"fn:1", b"x"), (b"fn:2", b"y")]
    assert storage.items("b") == [(b"fn:3", b"w")]
    assert storage.items("missing-table") == []


def test_job_counter_is_kept_in_storage():
    storage = InMemoryStorage()

    def next_job_id(service):
        return asyncio.run(service.GetNextJobID(gcs_pb2.GetNextJobIDRequest(), None)).job_id

    first = JobInfoService(storage)
    assert [next_job_id(first), next_job_id(first)] == [1, 2]
    # A service restarted on the same storage continues where the old one stopped.
    assert next_job_id(JobInfoService(storage)) == 3


# ---- the server process ----


class GcsProcess:
    """One running `python -m cyray.gcs.server` and a channel to it."""

    def __init__(self, tmp_path, *extra_args):
        self.port_file = str(tmp_path / "gcs_port")
        self.log_path = tmp_path / "gcs.log"
        self.channel = None
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cyray.gcs.server", "--host", "127.0.0.1",
                 "--port", "0", "--port-file", self.port_file, *extra_args],
                stdout=log, stderr=subprocess.STDOUT,
            )

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_for_port(self):
        deadline = time.monotonic() + PORT_FILE_TIMEOUT_S
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                pytest.fail(f"gcs_server exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no port file after {PORT_FILE_TIMEOUT_S} s:\n{self.log()}")
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        grpc.channel_ready_future(self.channel).result(timeout=RPC_TIMEOUT_S)

    def stop(self):
        if self.channel is not None:
            self.channel.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_gcs(tmp_path):
    """Starts a GCS server (extra command-line arguments allowed); stops it after the test."""
    processes = []

    def start(*extra_args):
        directory = tmp_path / f"gcs{len(processes)}"
        directory.mkdir()
        gcs = GcsProcess(directory, *extra_args)
        processes.append(gcs)
        gcs.wait_for_port()
        return gcs

    try:
        yield start
    finally:
        for gcs in processes:
            gcs.stop()


@pytest.fixture
def gcs(start_gcs):
    return start_gcs()


def make_node(node_id, **resources):
    return gcs_pb2.GcsNodeInfo(
        node_id=node_id, node_manager_address="127.0.0.1", node_manager_port=4321,
        resources_total=resources,
    )


def nodes_by_id(stub):
    reply = stub.GetAllNodeInfo(gcs_pb2.GetAllNodeInfoRequest(), timeout=RPC_TIMEOUT_S)
    return {node.node_id: node for node in reply.node_info_list}


def test_port_file_is_complete_and_alone(gcs):
    assert 0 < gcs.port < 65536
    assert not os.path.exists(gcs.port_file + ".tmp")


def test_kv_put_get_exists_overwrite(gcs):
    kv = gcs_grpc.InternalKVGcsServiceStub(gcs.channel)
    ns = b"session"
    assert not kv.InternalKVGet(gcs_pb2.InternalKVGetRequest(key=b"k", namespace=ns)).found
    assert not kv.InternalKVExists(gcs_pb2.InternalKVExistsRequest(key=b"k", namespace=ns)).exists

    put = kv.InternalKVPut(gcs_pb2.InternalKVPutRequest(
        key=b"k", value=b"v1", overwrite=True, namespace=ns))
    assert put.added
    reply = kv.InternalKVGet(gcs_pb2.InternalKVGetRequest(key=b"k", namespace=ns))
    assert reply.found and reply.value == b"v1"
    assert kv.InternalKVExists(gcs_pb2.InternalKVExistsRequest(key=b"k", namespace=ns)).exists

    put = kv.InternalKVPut(gcs_pb2.InternalKVPutRequest(
        key=b"k", value=b"v2", overwrite=False, namespace=ns))
    assert not put.added
    assert kv.InternalKVGet(gcs_pb2.InternalKVGetRequest(key=b"k", namespace=ns)).value == b"v1"

    put = kv.InternalKVPut(gcs_pb2.InternalKVPutRequest(
        key=b"k", value=b"v3", overwrite=True, namespace=ns))
    assert not put.added
    assert kv.InternalKVGet(gcs_pb2.InternalKVGetRequest(key=b"k", namespace=ns)).value == b"v3"

    # An empty value is still a value.
    kv.InternalKVPut(gcs_pb2.InternalKVPutRequest(key=b"empty", value=b"", namespace=ns))
    reply = kv.InternalKVGet(gcs_pb2.InternalKVGetRequest(key=b"empty", namespace=ns))
    assert reply.found and reply.value == b""


def test_exported_code_records_are_write_once(gcs):
    import grpc

    kv = gcs_grpc.InternalKVGcsServiceStub(gcs.channel)
    ns, key = b"fun", b"RemoteFunction:01000000:abcd"
    put = kv.InternalKVPut(gcs_pb2.InternalKVPutRequest(
        key=key, value=b"code", overwrite=False, namespace=ns))
    assert put.added
    # The same bytes again (another export of the same function) are fine.
    put = kv.InternalKVPut(gcs_pb2.InternalKVPutRequest(
        key=key, value=b"code", overwrite=True, namespace=ns))
    assert not put.added
    for request, call in (
            (gcs_pb2.InternalKVPutRequest(key=key, value=b"evil", overwrite=True, namespace=ns),
             kv.InternalKVPut),
            (gcs_pb2.InternalKVDelRequest(key=key, namespace=ns), kv.InternalKVDel)):
        with pytest.raises(grpc.RpcError) as info:
            call(request)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "written once" in info.value.details()
    assert kv.InternalKVGet(gcs_pb2.InternalKVGetRequest(key=key, namespace=ns)).value == b"code"


def test_kv_keys_and_delete_by_prefix(gcs):
    kv = gcs_grpc.InternalKVGcsServiceStub(gcs.channel)
    ns = b"session"
    for key in [b"fn:a", b"fn:b", b"fn:c", b"cls:a"]:
        kv.InternalKVPut(gcs_pb2.InternalKVPutRequest(key=key, value=b"x", namespace=ns))

    keys = kv.InternalKVKeys(gcs_pb2.InternalKVKeysRequest(prefix=b"fn:", namespace=ns)).results
    assert sorted(keys) == [b"fn:a", b"fn:b", b"fn:c"]
    keys = kv.InternalKVKeys(gcs_pb2.InternalKVKeysRequest(namespace=ns)).results
    assert sorted(keys) == [b"cls:a", b"fn:a", b"fn:b", b"fn:c"]

    reply = kv.InternalKVDel(gcs_pb2.InternalKVDelRequest(key=b"fn:a", namespace=ns))
    assert reply.deleted_num == 1
    reply = kv.InternalKVDel(gcs_pb2.InternalKVDelRequest(key=b"fn:a", namespace=ns))
    assert reply.deleted_num == 0
    reply = kv.InternalKVDel(gcs_pb2.InternalKVDelRequest(
        key=b"fn:", namespace=ns, del_by_prefix=True))
    assert reply.deleted_num == 2
    keys = kv.InternalKVKeys(gcs_pb2.InternalKVKeysRequest(namespace=ns)).results
    assert list(keys) == [b"cls:a"]


def test_kv_namespaces_are_isolated(gcs):
    kv = gcs_grpc.InternalKVGcsServiceStub(gcs.channel)
    kv.InternalKVPut(gcs_pb2.InternalKVPutRequest(key=b"k", value=b"one", namespace=b"ns1"))
    kv.InternalKVPut(gcs_pb2.InternalKVPutRequest(key=b"k", value=b"two", namespace=b"ns2"))
    kv.InternalKVPut(gcs_pb2.InternalKVPutRequest(key=b"only1", value=b"x", namespace=b"ns1"))

    assert kv.InternalKVGet(gcs_pb2.InternalKVGetRequest(key=b"k", namespace=b"ns1")).value \
        == b"one"
    assert kv.InternalKVGet(gcs_pb2.InternalKVGetRequest(key=b"k", namespace=b"ns2")).value \
        == b"two"
    assert not kv.InternalKVGet(gcs_pb2.InternalKVGetRequest(key=b"k")).found
    assert not kv.InternalKVExists(
        gcs_pb2.InternalKVExistsRequest(key=b"only1", namespace=b"ns2")).exists
    assert list(kv.InternalKVKeys(gcs_pb2.InternalKVKeysRequest(namespace=b"ns2")).results) \
        == [b"k"]

    reply = kv.InternalKVDel(gcs_pb2.InternalKVDelRequest(
        key=b"", namespace=b"ns1", del_by_prefix=True))
    assert reply.deleted_num == 2
    assert kv.InternalKVGet(gcs_pb2.InternalKVGetRequest(key=b"k", namespace=b"ns2")).found


def test_job_ids_increase_and_jobs_finish(gcs):
    jobs = gcs_grpc.JobInfoGcsServiceStub(gcs.channel)
    ids = [jobs.GetNextJobID(gcs_pb2.GetNextJobIDRequest()).job_id for _ in range(3)]
    assert ids == [1, 2, 3]

    job_id = ids[0].to_bytes(4, "little")
    jobs.AddJob(gcs_pb2.AddJobRequest(data=gcs_pb2.JobTableData(
        job_id=job_id, driver_pid=1234, namespace="demo", entrypoint="python demo.py")))
    [job] = jobs.GetAllJobInfo(gcs_pb2.GetAllJobInfoRequest()).job_info_list
    assert job.job_id == job_id and job.driver_pid == 1234 and job.namespace == "demo"
    assert not job.is_dead and job.start_time_ms > 0 and job.end_time_ms == 0

    jobs.MarkJobFinished(gcs_pb2.MarkJobFinishedRequest(job_id=job_id))
    [job] = jobs.GetAllJobInfo(gcs_pb2.GetAllJobInfoRequest()).job_info_list
    assert job.is_dead and job.end_time_ms >= job.start_time_ms


def test_node_register_heartbeat_and_unregister(gcs):
    nodes = gcs_grpc.NodeInfoGcsServiceStub(gcs.channel)
    node_id = os.urandom(28)
    nodes.RegisterNode(gcs_pb2.RegisterNodeRequest(node_info=make_node(node_id, CPU=4.0)))

    node = nodes_by_id(nodes)[node_id]
    assert node.state == ALIVE and node.start_time_ms > 0
    assert dict(node.resources_total) == {"CPU": 4.0}
    assert dict(node.resources_available) == {"CPU": 4.0}

    reply = nodes.ReportHeartbeat(gcs_pb2.ReportHeartbeatRequest(
        node_id=node_id, resources_available={"CPU": 1.5}))
    assert reply.alive
    assert dict(nodes_by_id(nodes)[node_id].resources_available) == {"CPU": 1.5}

    unknown = nodes.ReportHeartbeat(gcs_pb2.ReportHeartbeatRequest(node_id=os.urandom(28)))
    assert not unknown.alive

    nodes.UnregisterNode(gcs_pb2.UnregisterNodeRequest(node_id=node_id, reason="shutdown"))
    node = nodes_by_id(nodes)[node_id]
    assert node.state == DEAD and node.death_reason == "shutdown"
    assert node.end_time_ms >= node.start_time_ms
    assert not nodes.ReportHeartbeat(gcs_pb2.ReportHeartbeatRequest(node_id=node_id)).alive


def test_silent_node_is_marked_dead(start_gcs):
    gcs = start_gcs("--node-timeout-ms", "300")
    nodes = gcs_grpc.NodeInfoGcsServiceStub(gcs.channel)
    silent_id, beating_id = os.urandom(28), os.urandom(28)
    nodes.RegisterNode(gcs_pb2.RegisterNodeRequest(node_info=make_node(silent_id, CPU=1.0)))
    nodes.RegisterNode(gcs_pb2.RegisterNodeRequest(node_info=make_node(beating_id, CPU=1.0)))

    deadline = time.monotonic() + 10.0
    while nodes_by_id(nodes)[silent_id].state == ALIVE:
        assert time.monotonic() < deadline, "silent node still alive after 10 s"
        reply = nodes.ReportHeartbeat(gcs_pb2.ReportHeartbeatRequest(
            node_id=beating_id, resources_available={"CPU": 1.0}))
        assert reply.alive
        time.sleep(0.05)

    by_id = nodes_by_id(nodes)
    assert by_id[silent_id].state == DEAD
    assert by_id[silent_id].death_reason == "no heartbeat for 300 ms"
    assert by_id[beating_id].state == ALIVE
    assert not nodes.ReportHeartbeat(gcs_pb2.ReportHeartbeatRequest(node_id=silent_id)).alive


def test_sigterm_exits_cleanly(gcs):
    gcs.channel.close()
    gcs.channel = None
    gcs.proc.send_signal(signal.SIGTERM)
    assert gcs.proc.wait(timeout=5) == 0, gcs.log()
