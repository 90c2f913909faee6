"""The raylet's Unix socket trusts only registered clients: before registering, a client
gets neither the object store's file descriptor nor any object operation; malformed
messages (sizes that overflow, ids of the wrong length) close only that connection."""

import random
import socket
import struct
import time

import numpy as np
import pytest

import cyray as ray
from cyray._private.state import object_store_stats
from cyray.protobuf import local_protocol_pb2 as lp

MB = 1024 * 1024


def _frame(message_type, body=b""):
    return struct.pack("<II", message_type, len(body)) + body


def _send_and_read(path, data, timeout=5):
    """Sends `data` on a fresh connection; returns what came back before it closed."""
    received = b""
    ancillary = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall(data)
        s.settimeout(timeout)
        try:
            while True:
                chunk, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(4))
                ancillary.extend(anc)
                if not chunk:
                    break
                received += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return received, ancillary


def _raylet_socket():
    from cyray._private.worker import global_worker

    return global_worker.node.raylet_socket


def test_unregistered_client_gets_no_store_and_cannot_delete(ray_start_shared):
    path = _raylet_socket()
    big = ray.put(np.ones(8 * MB, dtype=np.uint8))
    before = object_store_stats()["num_objects"]
    # The store's fd, asked for without a token (and with a made-up one).
    for body in (b"", lp.PlasmaConnectRequest(plasma_token=b"x" * 16).SerializeToString()):
        received, ancillary = _send_and_read(path, _frame(lp.PLASMA_CONNECT_REQUEST, body))
        assert received == b"" and ancillary == [], "no reply, no file descriptor"
    # Deleting the driver's object by id, unregistered.
    delete = lp.PlasmaDelete(object_ids=[big.binary()]).SerializeToString()
    _send_and_read(path, _frame(lp.PLASMA_DELETE, delete))
    received, _ = _send_and_read(path, _frame(lp.PLASMA_STATS_REQUEST))
    assert received == b""
    assert object_store_stats()["num_objects"] == before
    assert ray.get(big).sum() == 8 * MB


def test_malformed_requests_close_only_that_connection(ray_start_shared):
    path = _raylet_socket()
    huge = 1 << 63
    create = lp.PlasmaCreateRequest(object_id=b"\x01" * 28, data_size=huge,
                                    metadata_size=huge).SerializeToString()
    short_id = lp.PlasmaCreateRequest(object_id=b"x", data_size=1).SerializeToString()
    for data in (_frame(lp.PLASMA_CREATE_REQUEST, create),
                 _frame(lp.PLASMA_CREATE_REQUEST, short_id),
                 _frame(lp.REGISTER_CLIENT_REQUEST, b"\xff\xff\xff"), _frame(999)):
        received, _ = _send_and_read(path, data)
        assert received == b""

    @ray.remote
    def still_fine():
        return "ok"

    assert ray.get(still_fine.remote(), timeout=30) == "ok"


def test_random_messages_do_not_hurt_the_raylet(ray_start_shared):
    path = _raylet_socket()
    rng = random.Random(42)
    deadline = time.time() + 20
    for i in range(300):
        if time.time() > deadline:
            break
        message_type = rng.choice(list(range(0, 25)) + [rng.randrange(1 << 32)])
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        data = _frame(message_type, body) if i % 3 else bytes(
            rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        _send_and_read(path, data, timeout=0.5)

    @ray.remote
    def still_fine(x):
        return x * 2

    assert ray.get([still_fine.remote(i) for i in range(10)], timeout=60) == [
        2 * i for i in range(10)]
    assert ray.get(ray.put(np.ones(2 * MB, dtype=np.uint8))).sum() == 2 * MB


def test_exported_function_cannot_be_replaced_through_the_kv(ray_start_shared, tmp_path):
    import pickle

    from cyray._private.function_manager import KV_NAMESPACE, function_key
    from cyray._private.worker import global_worker

    marker = tmp_path / "injected"

    @ray.remote
    def honest():
        return "honest"

    assert ray.get(honest.remote(), timeout=30) == "honest"
    descriptor = honest._descriptor
    key = function_key(global_worker.current_job_id, descriptor.function_id)
    original = global_worker.core_worker.kv_get(KV_NAMESPACE, key)
    record = pickle.loads(original)

    def evil():
        open(str(marker), "w").close()
        return "evil"

    import cloudpickle

    record["function"] = cloudpickle.dumps(evil)
    with pytest.raises(ray.exceptions.RaySystemError, match="written once"):
        global_worker.core_worker.kv_put(KV_NAMESPACE, key, pickle.dumps(record), True)
    # What workers load is still what was exported.
    assert global_worker.core_worker.kv_get(KV_NAMESPACE, key) == original
    assert ray.get(honest.remote(), timeout=30) == "honest"
    assert not marker.exists()
