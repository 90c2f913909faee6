"""Where the state API's data comes from: the GCS (tasks, actors, nodes, jobs, dead
workers) and each alive raylet (its workers, waiting leases, store, log files and, for
objects, the reference tables it gathers from its workers and drivers). Plain gRPC calls
carrying the cluster token; usable from a driver or from the CLI without init().
"""

from __future__ import annotations

import concurrent.futures
from typing import Dict, List, Optional, Tuple

import grpc

from cyray.gcs.auth import TOKEN_KEY
from cyray.protobuf import gcs_service_pb2 as gcs_pb2
from cyray.protobuf import gcs_service_pb2_grpc as gcs_grpc
from cyray.protobuf import node_manager_pb2 as nm_pb2
from cyray.protobuf import node_manager_pb2_grpc as nm_grpc

DEFAULT_TIMEOUT_S = 30


class StateSource:
    """Calls to one cluster. `address` is the GCS's host:port, or None / "auto": the
    cluster this process is connected to, else the one this machine started last."""

    def __init__(self, address: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT_S):
        from cyray._private.node import find_auth_token, resolve_address
        from cyray._private.worker import global_worker

        token = None
        if address in (None, "auto") and global_worker.connected:
            address = global_worker.gcs_address
            from cyray.gcs.client import _cluster_token

            token = _cluster_token(global_worker)
        self.address = resolve_address(address or "auto")
        self.token = token or find_auth_token(self.address)
        self.timeout = timeout
        self._channels: Dict[str, grpc.Channel] = {}

    # ---- plumbing -------------------------------------------------------------------

    def _metadata(self):
        return ((TOKEN_KEY, self.token),) if self.token else ()

    def _channel(self, address: str) -> grpc.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.insecure_channel(address, options=[
                ("grpc.enable_http_proxy", 0), ("grpc.max_receive_message_length", -1)])
            self._channels[address] = channel
        return channel

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request, timeout=None):
        try:
            return method(request, metadata=self._metadata(), timeout=timeout or self.timeout)
        except grpc.RpcError as e:
            from cyray.util.state.exception import RayStateApiException

            raise RayStateApiException(
                f"The cluster at {self.address} did not answer {type(request).__name__[:-7]}: "
                f"{e.code().name}: {e.details()}") from None

    def _gcs(self, stub_class):
        return stub_class(self._channel(self.address))

    # ---- the GCS --------------------------------------------------------------------

    def task_events(self, job_id: bytes = b"", task_ids=(), limit: int = 0):
        return self._call(self._gcs(gcs_grpc.TaskInfoGcsServiceStub).GetTaskEvents,
                          gcs_pb2.GetTaskEventsRequest(job_id=job_id, task_ids=list(task_ids),
                                                       limit=limit))

    def actors(self) -> List[gcs_pb2.ActorTableData]:
        return list(self._call(self._gcs(gcs_grpc.ActorInfoGcsServiceStub).GetAllActorInfo,
                               gcs_pb2.GetAllActorInfoRequest()).actor_table_data)

    def nodes(self) -> List[gcs_pb2.GcsNodeInfo]:
        return list(self._call(self._gcs(gcs_grpc.NodeInfoGcsServiceStub).GetAllNodeInfo,
                               gcs_pb2.GetAllNodeInfoRequest()).node_info_list)

    def jobs(self) -> List[gcs_pb2.JobTableData]:
        return list(self._call(self._gcs(gcs_grpc.JobInfoGcsServiceStub).GetAllJobInfo,
                               gcs_pb2.GetAllJobInfoRequest()).job_info_list)

    def worker_failures(self) -> List[gcs_pb2.WorkerFailureData]:
        return list(self._call(self._gcs(gcs_grpc.NodeInfoGcsServiceStub).GetAllWorkerFailures,
                               gcs_pb2.GetAllWorkerFailuresRequest()).failures)

    def kill_actor(self, actor_id: bytes, force: bool, no_restart: bool) -> None:
        self._call(self._gcs(gcs_grpc.ActorInfoGcsServiceStub).KillActor,
                   gcs_pb2.KillActorRequest(actor_id=actor_id, force_kill=force,
                                            no_restart=no_restart))

    # ---- raylets and core workers ---------------------------------------------------

    @staticmethod
    def raylet_address(node: gcs_pb2.GcsNodeInfo) -> str:
        return f"{node.node_manager_address}:{node.node_manager_port}"

    def _raylet(self, node):
        return nm_grpc.NodeManagerServiceStub(self._channel(self.raylet_address(node)))

    def node_stats(self, node) -> nm_pb2.GetNodeStatsReply:
        return self._call(self._raylet(node).GetNodeStats, nm_pb2.GetNodeStatsRequest())

    def all_node_stats(self) -> List[Tuple[gcs_pb2.GcsNodeInfo, nm_pb2.GetNodeStatsReply]]:
        """(node, its stats) of every alive node that answers, asked in parallel."""
        alive = [n for n in self.nodes() if n.state == gcs_pb2.GcsNodeInfo.ALIVE]
        return [(node, stats) for node, stats in zip(alive, self._parallel(self.node_stats, alive))
                if stats is not None]

    def list_logs(self, node) -> List[nm_pb2.LogFileInfo]:
        return list(self._call(self._raylet(node).ListLogs, nm_pb2.ListLogsRequest()).files)

    def read_log(self, node, name: str, offset: int, max_bytes: int = 0):
        return self._call(self._raylet(node).ReadLog,
                          nm_pb2.ReadLogRequest(name=name, offset=offset, max_bytes=max_bytes))

    def _parallel(self, fn, items):
        """fn(item) for each item, concurrently; None where it failed."""
        if not items:
            return []

        def safe(item):
            try:
                return fn(item)
            except Exception:
                return None

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
            return list(pool.map(safe, items))

    def all_core_worker_stats(self):
        """[(node, its raylet's stats)] of every alive node that answers, each with the
        reference tables of its registered workers and drivers (`core_worker_stats`),
        which the raylet gathers from them."""
        alive = [n for n in self.nodes() if n.state == gcs_pb2.GcsNodeInfo.ALIVE]
        request = nm_pb2.GetNodeStatsRequest(include_memory_info=True)
        replies = self._parallel(
            lambda node: self._call(self._raylet(node).GetNodeStats, request), alive)
        return [(node, reply) for node, reply in zip(alive, replies) if reply is not None]
