"""The GCS server process: node, job and internal-KV services over grpc.aio.

    python -m cyray.gcs.server --port 0 --port-file PATH [--host 127.0.0.1]
        [--node-timeout-ms 10000] [--log-level info]
        [--dashboard-port P --dashboard-host H --dashboard-port-file PATH]

It binds the port (0 picks a free one), writes the bound port to PATH (atomically: PATH.tmp,
then rename) once it is serving, and serves until SIGTERM or SIGINT. With --dashboard-port
it also serves the dashboard (cyray.dashboard: page, JSON API, /metrics) on the same event
loop. Tables are kept in a `GcsStorage` as serialized protobufs, so a persistent storage
lets a restarted GCS carry on.
Every handler runs on the one event loop and makes only synchronous storage calls, so each
request sees and leaves the tables consistent without locks.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import signal
import sys
import time
from typing import Dict, List, Optional

import grpc
import grpc.aio

from cyray._private.config_knobs import knob
from cyray.gcs.actor_manager import ActorManager
from cyray.gcs.auth import TOKEN_ENV, ClusterTokenInterceptor, cluster_token
from cyray.gcs.storage import GcsStorage, InMemoryStorage
from cyray.gcs.task_events import TaskEventTable, add_task_info_service
from cyray.protobuf import gcs_service_pb2 as gcs_pb2
from cyray.protobuf import gcs_service_pb2_grpc as gcs_grpc

logger = logging.getLogger("cyray.gcs")

NODE_TABLE = "nodes"
JOB_TABLE = "jobs"
META_TABLE = "gcs_meta"
JOB_COUNTER_KEY = b"last_job_id"
KV_TABLE_PREFIX = "kv:"

ALIVE = gcs_pb2.GcsNodeInfo.ALIVE
DEAD = gcs_pb2.GcsNodeInfo.DEAD

# Worker deaths kept for list_workers (the oldest are forgotten first).
MAX_WORKER_FAILURES_KEPT = 10_000

# How long in-flight RPCs may finish after SIGTERM before the server cancels them.
SHUTDOWN_GRACE_S = 0.5


def now_ms() -> int:
    return int(time.time() * 1000)


class NodeInfoService(gcs_grpc.NodeInfoGcsServiceServicer):
    """Node registration, heartbeats and death. `monitor_heartbeats` runs as a background task."""

    def __init__(self, storage: GcsStorage, node_timeout_ms: int) -> None:
        self._storage = storage
        self._node_timeout_ms = node_timeout_ms
        # Set by serve(): called with each ReportWorkerFailureRequest.
        self.on_worker_failure = None
        # Set by serve(): called (as a task) with each node that died.
        self.on_node_dead = None
        # The cluster resource view the raylets schedule against: one entry per node,
        # each stamped with the view version of its last change.
        self._view: Dict[bytes, gcs_pb2.NodeResourceView] = {}
        self._view_version = 0
        self._view_changed = asyncio.Event()
        # The open SubscribeClusterView stream of each raylet (its liveness).
        self._subscriptions: Dict[bytes, object] = {}
        # Set when the server stops: streams ending then say nothing about their raylets.
        self.closing = False
        self._background = set()
        # Monotonic time of the last register/heartbeat of each node believed alive.
        self._last_seen: Dict[bytes, float] = {}
        # The latest worker deaths reported, for the state API's dead workers.
        self._worker_failures = collections.deque(maxlen=MAX_WORKER_FAILURES_KEPT)
        # (view version, worker id) of the latest deaths, sent in the view so every raylet
        # drops what a dead owner leased there.
        self._dead_workers = collections.deque(maxlen=MAX_WORKER_FAILURES_KEPT)
        # Nodes recovered from storage alive get a full timeout to send their next heartbeat.
        start = time.monotonic()
        for node in self._all_nodes():
            if node.state == ALIVE:
                self._last_seen[node.node_id] = start
            self._update_view(node)

    def _update_view(self, node: gcs_pb2.GcsNodeInfo, demands=None) -> None:
        """Brings the view entry of `node` up to date; a change gets the next version and
        wakes the subscribers."""
        entry = gcs_pb2.NodeResourceView(
            node_id=node.node_id, ip_address=node.node_manager_address,
            port=node.node_manager_port, total=node.resources_total,
            available=node.resources_available, labels=node.labels,
            alive=node.state == ALIVE)
        old = self._view.get(node.node_id)
        if demands is not None:
            entry.demands.extend(demands)
        elif old is not None:
            entry.demands.extend(old.demands)
        if old is not None:
            entry.version = old.version
            if entry == old:
                return
        entry.version = self._bump_view()
        self._view[node.node_id] = entry

    def _bump_view(self) -> int:
        """The next view version; wakes the subscribers, who send what is newer."""
        self._view_version += 1
        self._view_changed.set()
        self._view_changed = asyncio.Event()
        return self._view_version

    def _workers_dead_since(self, known: int) -> List[bytes]:
        dead = []
        for version, worker_id in reversed(self._dead_workers):
            if version <= known:
                break
            dead.append(worker_id)
        return dead

    def view_entries(self) -> List[gcs_pb2.NodeResourceView]:
        return list(self._view.values())

    def _load(self, node_id: bytes) -> Optional[gcs_pb2.GcsNodeInfo]:
        data = self._storage.get(NODE_TABLE, node_id)
        return None if data is None else gcs_pb2.GcsNodeInfo.FromString(data)

    def _save(self, node: gcs_pb2.GcsNodeInfo) -> None:
        self._storage.put(NODE_TABLE, node.node_id, node.SerializeToString())

    def _all_nodes(self) -> List[gcs_pb2.GcsNodeInfo]:
        return [gcs_pb2.GcsNodeInfo.FromString(v) for _, v in self._storage.items(NODE_TABLE)]

    def _mark_dead(self, node: gcs_pb2.GcsNodeInfo, reason: str, expected: bool = False) -> None:
        """`expected` when the node said it was leaving (UnregisterNode), as opposed to going
        silent or dropping its connection."""
        node.state = DEAD
        node.end_time_ms = now_ms()
        node.death_reason = reason
        node.resources_available.clear()
        self._save(node)
        self._last_seen.pop(node.node_id, None)
        self._update_view(node, demands=[])
        if self.on_node_dead is not None:
            task = asyncio.ensure_future(self.on_node_dead(node, expected))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def RegisterNode(self, request, context):
        node = gcs_pb2.GcsNodeInfo()
        node.CopyFrom(request.node_info)
        if not node.node_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "node_info.node_id is empty")
        node.state = ALIVE
        node.end_time_ms = 0
        node.death_reason = ""
        if node.start_time_ms == 0:
            node.start_time_ms = now_ms()
        if not node.resources_available:
            node.resources_available.update(node.resources_total)
        self._save(node)
        self._last_seen[node.node_id] = time.monotonic()
        self._update_view(node, demands=[])
        logger.info(
            "node %s registered at %s:%d, resources %s",
            node.node_id.hex(), node.node_manager_address, node.node_manager_port,
            dict(node.resources_total),
        )
        return gcs_pb2.RegisterNodeReply()

    async def UnregisterNode(self, request, context):
        node = self._load(request.node_id)
        if node is None:
            logger.warning("unregister of unknown node %s", request.node_id.hex())
        elif node.state == ALIVE:
            self._mark_dead(node, request.reason or "unregistered", expected=True)
            logger.info("node %s unregistered: %s", node.node_id.hex(), node.death_reason)
        return gcs_pb2.UnregisterNodeReply()

    async def GetAllNodeInfo(self, request, context):
        return gcs_pb2.GetAllNodeInfoReply(node_info_list=self._all_nodes())

    def alive_nodes(self) -> List[gcs_pb2.GcsNodeInfo]:
        return [n for n in self._all_nodes() if n.state == ALIVE]

    async def ReportWorkerFailure(self, request, context):
        self._worker_failures.append(gcs_pb2.WorkerFailureData(report=request,
                                                               time_ms=now_ms()))
        self._dead_workers.append((self._bump_view(), request.worker_id))
        if self.on_worker_failure is not None:
            await self.on_worker_failure(request)
        return gcs_pb2.ReportWorkerFailureReply()

    async def GetAllWorkerFailures(self, request, context):
        return gcs_pb2.GetAllWorkerFailuresReply(failures=list(self._worker_failures))

    async def ReportHeartbeat(self, request, context):
        node = self._load(request.node_id)
        if node is None or node.state == DEAD:
            return gcs_pb2.ReportHeartbeatReply(alive=False)
        self._last_seen[node.node_id] = time.monotonic()
        if dict(node.resources_available) != dict(request.resources_available):
            node.resources_available.clear()
            node.resources_available.update(request.resources_available)
            self._save(node)
        self._update_view(node, demands=request.demands)
        return gcs_pb2.ReportHeartbeatReply(alive=True)

    async def SubscribeClusterView(self, request, context):
        """Streams the view: every entry changed after request.known_version, then each
        batch of changes as it happens. A raylet keeps this stream open for its life, so the
        stream breaking (its process exited, its machine went away) marks the node dead at
        once; a hung raylet is caught by the health check instead."""
        known = request.known_version
        node_id = request.node_id
        subscription = object()
        if node_id:
            self._subscriptions[node_id] = subscription
        try:
            while True:
                changed = self._view_changed
                if self._view_version > known:
                    entries = sorted((e for e in self._view.values() if e.version > known),
                                     key=lambda e: e.version)
                    dead = self._workers_dead_since(known) if known else []
                    known = self._view_version
                    yield gcs_pb2.ClusterViewUpdate(nodes=entries, version=known,
                                                    dead_worker_ids=dead)
                    continue
                await changed.wait()
        finally:
            if node_id and self._subscriptions.get(node_id) is subscription:
                del self._subscriptions[node_id]
                node = self._load(node_id)
                if not self.closing and node is not None and node.state == ALIVE:
                    self._mark_dead(node, "its raylet's connection to the GCS closed (the raylet "
                                          "exited or its machine is unreachable)")
                    logger.warning("node %s marked dead: %s", node_id.hex(), node.death_reason)

    def mark_silent_nodes_dead(self) -> None:
        """Marks DEAD every alive node that has not been heard from for the node timeout."""
        deadline = time.monotonic() - self._node_timeout_ms / 1000.0
        silent = [node_id for node_id, seen in self._last_seen.items() if seen < deadline]
        for node_id in silent:
            node = self._load(node_id)
            if node is None or node.state == DEAD:
                self._last_seen.pop(node_id, None)
                continue
            self._mark_dead(node, f"no heartbeat for {self._node_timeout_ms} ms")
            logger.warning("node %s marked dead: %s", node_id.hex(), node.death_reason)

    async def monitor_heartbeats(self) -> None:
        period_s = min(1.0, max(0.01, self._node_timeout_ms / 4000.0))
        while True:
            await asyncio.sleep(period_s)
            try:
                self.mark_silent_nodes_dead()
            except Exception:
                logger.exception("heartbeat check failed")


class JobInfoService(gcs_grpc.JobInfoGcsServiceServicer):
    """Job ids and the job table."""

    def __init__(self, storage: GcsStorage) -> None:
        self._storage = storage

    def _load(self, job_id: bytes) -> Optional[gcs_pb2.JobTableData]:
        data = self._storage.get(JOB_TABLE, job_id)
        return None if data is None else gcs_pb2.JobTableData.FromString(data)

    def _save(self, job: gcs_pb2.JobTableData) -> None:
        self._storage.put(JOB_TABLE, job.job_id, job.SerializeToString())

    async def GetNextJobID(self, request, context):
        # The counter lives in storage so that a GCS restarted on persistent storage continues.
        last = self._storage.get(META_TABLE, JOB_COUNTER_KEY)
        job_id = (int(last) if last is not None else 0) + 1
        self._storage.put(META_TABLE, JOB_COUNTER_KEY, str(job_id).encode())
        return gcs_pb2.GetNextJobIDReply(job_id=job_id)

    async def AddJob(self, request, context):
        job = gcs_pb2.JobTableData()
        job.CopyFrom(request.data)
        if not job.job_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "data.job_id is empty")
        if job.start_time_ms == 0:
            job.start_time_ms = now_ms()
        self._save(job)
        logger.info("job %s added (driver pid %d)", job.job_id.hex(), job.driver_pid)
        return gcs_pb2.AddJobReply()

    async def MarkJobFinished(self, request, context):
        job = self._load(request.job_id)
        if job is None:
            logger.warning("finish of unknown job %s", request.job_id.hex())
        elif not job.is_dead:
            job.is_dead = True
            job.end_time_ms = now_ms()
            self._save(job)
            logger.info("job %s finished", job.job_id.hex())
        return gcs_pb2.MarkJobFinishedReply()

    async def GetAllJobInfo(self, request, context):
        jobs = [gcs_pb2.JobTableData.FromString(v) for _, v in self._storage.items(JOB_TABLE)]
        return gcs_pb2.GetAllJobInfoReply(job_info_list=jobs)


def kv_table(namespace: bytes) -> str:
    """The storage table of one KV namespace (latin-1 maps every byte string to a distinct str)."""
    return KV_TABLE_PREFIX + namespace.decode("latin-1")


# Namespaces whose records are code that workers run (exported functions and actor
# classes, job configs with their sys.path): each record is written once, so nothing
# that reaches the GCS can replace what a job exported.
WRITE_ONCE_NAMESPACES = frozenset({b"fun"})


class InternalKVService(gcs_grpc.InternalKVGcsServiceServicer):
    """The internal key-value store: one storage table per namespace."""

    def __init__(self, storage: GcsStorage) -> None:
        self._storage = storage

    @staticmethod
    async def _refuse(context, what: str, request) -> None:
        peer = context.peer() if hasattr(context, "peer") else "?"
        logger.warning("refused to %s %r in write-once namespace %r (peer %s)", what,
                       request.key, request.namespace, peer)
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, (
            f"the KV record {request.key!r} in namespace {request.namespace!r} holds exported "
            f"code and is written once: cannot {what} it"))

    async def InternalKVGet(self, request, context):
        value = self._storage.get(kv_table(request.namespace), request.key)
        if value is None:
            return gcs_pb2.InternalKVGetReply(found=False)
        return gcs_pb2.InternalKVGetReply(found=True, value=value)

    async def InternalKVPut(self, request, context):
        if request.namespace in WRITE_ONCE_NAMESPACES:
            table = kv_table(request.namespace)
            existing = self._storage.get(table, request.key)
            if existing is not None:
                if existing != request.value:
                    await self._refuse(context, "overwrite", request)
                return gcs_pb2.InternalKVPutReply(added=False)
            return gcs_pb2.InternalKVPutReply(
                added=self._storage.put(table, request.key, request.value, overwrite=False))
        added = self._storage.put(
            kv_table(request.namespace), request.key, request.value, overwrite=request.overwrite
        )
        return gcs_pb2.InternalKVPutReply(added=added)

    async def InternalKVDel(self, request, context):
        if request.namespace in WRITE_ONCE_NAMESPACES:
            await self._refuse(context, "delete", request)
        table = kv_table(request.namespace)
        if request.del_by_prefix:
            deleted = sum(self._storage.delete(table, key)
                          for key in self._storage.keys(table, request.key))
        else:
            deleted = int(self._storage.delete(table, request.key))
        return gcs_pb2.InternalKVDelReply(deleted_num=deleted)

    async def InternalKVExists(self, request, context):
        exists = self._storage.get(kv_table(request.namespace), request.key) is not None
        return gcs_pb2.InternalKVExistsReply(exists=exists)

    async def InternalKVKeys(self, request, context):
        keys = self._storage.keys(kv_table(request.namespace), request.prefix)
        return gcs_pb2.InternalKVKeysReply(results=keys)


def write_port_file(path: str, port: int) -> None:
    """Writes `port` to `path` so that a reader never sees a partial file."""
    tmp_path = path + ".tmp"
    with open(tmp_path, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp_path, path)


async def serve(args: argparse.Namespace, storage: GcsStorage) -> int:
    """Runs the server until SIGTERM or SIGINT; returns the process exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    # so_reuseport=0: a second GCS asking for a port in use must fail, not share it.
    # Messages up to max_grpc_message_size (cpp/src/cyray/common/config_def.h; the GCS
    # does not load the C++ extension, so it reads the same override itself).
    max_message = int(os.environ.get("CYRAY_max_grpc_message_size", 512 * 1024 * 1024))
    token = cluster_token()
    if not token:
        logger.warning("no cluster token (%s): this GCS accepts every call", TOKEN_ENV)
    server = grpc.aio.server(
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", max_message),
                 ("grpc.max_send_message_length", max_message)],
        interceptors=[ClusterTokenInterceptor(token)] if token else None)
    nodes = NodeInfoService(storage, args.node_timeout_ms)
    gcs_grpc.add_NodeInfoGcsServiceServicer_to_server(nodes, server)
    gcs_grpc.add_JobInfoGcsServiceServicer_to_server(JobInfoService(storage), server)
    gcs_grpc.add_InternalKVGcsServiceServicer_to_server(InternalKVService(storage), server)
    actors = ActorManager(nodes)
    nodes.on_worker_failure = actors.on_worker_failure
    nodes.on_node_dead = actors.on_node_dead
    gcs_grpc.add_ActorInfoGcsServiceServicer_to_server(actors, server)
    task_events = TaskEventTable(knob("task_events_max_num_task_in_gcs"))
    add_task_info_service(server, task_events)
    address = f"{args.host}:{args.port}"
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as e:
        logger.error("cannot bind %s: %s", address, e)
        return 1
    if port == 0:
        logger.error("cannot bind %s", address)
        return 1
    await server.start()
    monitor = asyncio.create_task(nodes.monitor_heartbeats())
    dashboard = None
    try:
        if getattr(args, "dashboard_port", None) is not None:
            dashboard = await start_dashboard(args, storage, port, token)
            if dashboard is None:
                return 1
        write_port_file(args.port_file, port)
        logger.info("GCS server listening on %s:%d", args.host, port)
        await stop.wait()
        logger.info("GCS server shutting down")
    finally:
        monitor.cancel()
        nodes.closing = True
        await actors.close()
        if dashboard is not None:
            await dashboard.stop()
        await server.stop(SHUTDOWN_GRACE_S)
    return 0


async def start_dashboard(args: argparse.Namespace, storage: GcsStorage, port: int, token):
    """The dashboard (cyray.dashboard) on this loop; its port goes to
    --dashboard-port-file and its address to the KV (for joining drivers). None (and a
    log line) when it cannot start."""
    from cyray.dashboard import KV_NAMESPACE, KV_URL_KEY
    from cyray.dashboard.server import start_dashboard as start

    own_host = "127.0.0.1" if args.host in ("", "0.0.0.0", "::") else args.host
    try:
        dashboard = await start(args.dashboard_host, args.dashboard_port,
                                f"{own_host}:{port}", token, node_ip=own_host)
    except (OSError, ValueError) as e:
        logger.error("cannot start the dashboard on %s port %s: %s", args.dashboard_host,
                     args.dashboard_port, e)
        return None
    storage.put(kv_table(KV_NAMESPACE), KV_URL_KEY, dashboard.url.encode())
    write_port_file(args.dashboard_port_file or os.path.join(
        os.path.dirname(os.path.abspath(args.port_file)), "dashboard_port"), dashboard.port)
    return dashboard


def default_node_timeout_ms() -> int:
    """How long a node may stay silent: the health_check_period_ms config knob times
    health_check_failure_threshold (each overridable by CYRAY_<name>)."""
    return knob("health_check_period_ms") * knob("health_check_failure_threshold")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cyray.gcs.server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--port-file", required=True, help="file to write the bound port to")
    parser.add_argument("--node-timeout-ms", type=int, default=None,
                        help="mark a node dead after this long without a heartbeat "
                             "(default: health_check_period_ms x health_check_failure_threshold)")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error", "critical"])
    parser.add_argument("--parent-pid", type=int, default=0,
                        help="exit when this process (the driver that started us) dies")
    parser.add_argument("--dashboard-port", default=None,
                        help="serve the dashboard (off unless given) on this port: 0 picks a "
                             "free one, 'auto' takes 8265 when free, else a free one")
    parser.add_argument("--dashboard-host", default="127.0.0.1",
                        help="address the dashboard binds (any but 127.0.0.1, ::1 and "
                             "localhost makes every request carry the cluster token)")
    parser.add_argument("--dashboard-port-file", default=None,
                        help="file to write the dashboard's port to (default: dashboard_port "
                             "next to --port-file)")
    args = parser.parse_args(argv)
    if args.node_timeout_ms is None:
        args.node_timeout_ms = default_node_timeout_ms()
    if args.node_timeout_ms <= 0:
        parser.error("--node-timeout-ms must be positive")
    if args.dashboard_port is not None:
        from cyray.dashboard.server import parse_port

        try:
            parse_port(args.dashboard_port)
        except ValueError:
            parser.error("--dashboard-port takes a port number or 'auto'")
    return args


def die_with_parent(parent_pid: int) -> None:
    """SIGTERM to this process when process `parent_pid` exits. A pidfd follows the process,
    whereas prctl's PDEATHSIG follows the thread that started us (a driver's init() from a
    thread that later ends would take the GCS with it); PDEATHSIG stays as the fallback."""
    import select
    import signal
    import threading

    try:
        pidfd = os.pidfd_open(parent_pid)
    except (AttributeError, OSError):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        pidfd = None
    if os.getppid() != parent_pid:
        sys.exit(f"gcs_server: parent process {parent_pid} is gone")
    if pidfd is None:
        return

    def wait_for_exit():
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.poll()
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait_for_exit, name="parent-watch", daemon=True).start()


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.parent_pid:
        die_with_parent(args.parent_pid)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s gcs_server %(process)d: %(message)s",
    )
    return asyncio.run(serve(args, InMemoryStorage()))


if __name__ == "__main__":
    sys.exit(main())
