"""A cluster of several nodes on this machine, for tests: `Cluster`, as Ray's
`ray.cluster_utils.Cluster`.

Every node is a real raylet process with its own shared-memory store, Unix socket, session
dir and workers, on 127.0.0.1; the first node added is the head and also runs the GCS
server. Nodes end with the process that made them (their raylets watch its pid), and
`Cluster.shutdown()` (also run at exit) ends them sooner.

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    node = cluster.add_node(num_cpus=2, resources={"ssd": 1}, labels={"zone": "a"})
    cluster.connect()                 # cyray.init(address=cluster.address): the head's raylet
    cluster.remove_node(node, allow_graceful=False)   # SIGKILL: a crashed node
    cluster.wait_for_nodes()
    cluster.shutdown()
"""

import atexit
import collections
import signal
import time

import cyray
from cyray._private.node import LocalNode, stop_processes

# The node_args that add_node() takes, as Ray's test cluster names them.
NODE_ARGS = ("num_cpus", "num_gpus", "resources", "memory", "object_store_memory", "labels",
             "node_name", "node_ip_address", "_system_config")
# A test cluster's node is small whatever the machine has (Ray's test cluster defaults).
NODE_DEFAULTS = {"num_cpus": 1, "num_gpus": 0, "object_store_memory": 150 * 1024 * 1024}
# How long a node's processes have to exit after SIGTERM before they are SIGKILLed.
GRACEFUL_STOP_TIMEOUT_S = 5.0

# One process of a node, shaped like Ray's (tests read `.process`, a subprocess.Popen).
ProcessInfo = collections.namedtuple("ProcessInfo", ["process"])


def _descendants(popen):
    """psutil.Process objects of the processes below `popen` (a running subprocess.Popen)."""
    import psutil

    if popen is None or popen.poll() is not None:
        return []
    try:
        return psutil.Process(popen.pid).children(recursive=True)
    except psutil.Error:
        return []


def _end_survivors(procs, grace_s=2.0):
    """Waits up to `grace_s` for the psutil processes of `procs` to exit, then SIGKILLs
    those still running (psutil checks that a pid still names the process it was recorded
    as); returns the killed ones."""
    import psutil

    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    killed = []
    for proc in alive:
        try:
            proc.kill()
            killed.append(proc)
        except psutil.Error:
            pass
    return killed


class ClusterNode:
    """One node of a `Cluster`, with the attributes of Ray's node objects that tests use.
    `address` is the cluster's GCS address, as in Ray."""

    def __init__(self, local_node):
        self.local_node = local_node
        self.node_id = local_node.node_id.hex()
        # Ray's older name for the node id.
        self.unique_id = self.node_id
        self.node_ip_address = local_node.node_ip_address
        self.head = local_node.head
        self.gcs_address = local_node.gcs_address
        self.address = local_node.gcs_address
        self.session_dir = local_node.session_dir
        self.raylet_socket_name = local_node.raylet_socket
        # The store is served over the raylet's socket.
        self.plasma_store_socket_name = local_node.raylet_socket
        self.resources = dict(local_node.resources)
        self.labels = dict(local_node.labels)
        self.node_name = local_node.node_name or local_node.node_ip_address
        self.raylet_process = local_node.raylet_process
        self.gcs_process = local_node.gcs_process
        # Workers of this node recorded when it was stopped, ended at Cluster.shutdown() if
        # they outlive their raylet.
        self._workers_at_stop = []

    @property
    def all_processes(self):
        """{"raylet": [ProcessInfo], "gcs_server": [ProcessInfo] (head only)}."""
        out = {"raylet": [ProcessInfo(self.raylet_process)]}
        if self.gcs_process is not None:
            out["gcs_server"] = [ProcessInfo(self.gcs_process)]
        return out

    def _processes(self):
        return [p for p in (self.raylet_process, self.gcs_process) if p is not None]

    def is_head(self):
        return self.head

    def all_processes_alive(self):
        return all(p.poll() is None for p in self._processes())

    def any_processes_alive(self):
        return any(p.poll() is None for p in self._processes())

    def _record_workers(self):
        """Remembers the processes below the raylet (its workers) before it is stopped."""
        self._workers_at_stop = _descendants(self.raylet_process)

    def _stop(self, graceful):
        """SIGTERM (graceful: the raylet ends its workers and leaves the GCS) or SIGKILL (a
        crash: its workers die with it); waits for the processes to exit."""
        self._record_workers()
        stop_processes(self._processes(), GRACEFUL_STOP_TIMEOUT_S,
                       signal.SIGTERM if graceful else signal.SIGKILL)

    def _end_leftovers(self):
        """Ends the workers that outlived this node's raylet; returns those it had to kill."""
        leftovers, self._workers_at_stop = self._workers_at_stop, []
        return _end_survivors(leftovers)

    def __repr__(self):
        kind = "head" if self.head else "worker"
        return f"ClusterNode({kind}, node_id={self.node_id[:12]}, {self.raylet_socket_name})"


class Cluster:
    """Several nodes on this machine that form one cluster (see the module doc)."""

    def __init__(self, initialize_head=False, connect=False, head_node_args=None,
                 shutdown_at_exit=True):
        if connect and not initialize_head:
            raise ValueError("Cluster(connect=True) needs initialize_head=True: a driver "
                             "connects through the head node")
        self.head_node = None
        # A set, as in Ray.
        self.worker_nodes = set()
        self.connected = False
        # Every node ever added, and those removed: wait_for_nodes() waits for them to be
        # gone from the GCS's alive nodes.
        self._all_added = []
        self._removed = []
        # The head's _system_config as environment for the processes of every node.
        self._system_config = None
        self._gcs_client = None
        if shutdown_at_exit:
            atexit.register(self.shutdown)
        if initialize_head:
            self.add_node(**(head_node_args or {}))
        if connect:
            self.connect()

    @property
    def address(self):
        """The GCS address "host:port" (None while there is no head node)."""
        return self.head_node.address if self.head_node is not None else None

    @property
    def gcs_address(self):
        return self.address

    def list_all_nodes(self):
        """The head node (if any), then the other nodes."""
        nodes = list(self.worker_nodes)
        return [self.head_node] + nodes if self.head_node is not None else nodes

    def remaining_processes_alive(self):
        """True while every process of every node added and not removed runs (as Ray)."""
        return all(node.all_processes_alive() for node in self.list_all_nodes())

    def add_node(self, wait=True, **node_args):
        """Starts a node (the head when there is none) and returns its ClusterNode; with
        `wait`, returns once the GCS lists every node of the cluster alive."""
        from cyray._private.worker import _node_resources
        from cyray._raylet import set_cluster_token

        unknown = sorted(set(node_args) - set(NODE_ARGS))
        if unknown:
            raise TypeError(f"Cluster.add_node() got unexpected keyword arguments {unknown}; "
                            f"it takes {list(NODE_ARGS)}")
        args = {**NODE_DEFAULTS, **node_args}
        head = self.head_node is None
        if "_system_config" in node_args and not head:
            raise ValueError("_system_config is for the head node only (head_node_args); "
                             "it applies to every node of the cluster")
        system_config = args.get("_system_config") if head else self._system_config
        resources = _node_resources(args["num_cpus"], args["num_gpus"], args.get("resources"),
                                    args.get("memory"), args["object_store_memory"])
        local = LocalNode(
            resources, node_ip_address=args.get("node_ip_address", "127.0.0.1"), head=head,
            gcs_address=None if head else self.head_node.gcs_address,
            object_store_memory=args["object_store_memory"],
            auth_token=None if head else self.head_node.local_node.auth_token,
            labels=args.get("labels"), node_name=args.get("node_name"),
            system_config=system_config)
        if head:
            # This process's calls to the GCS (wait_for_nodes, connect) carry the token.
            set_cluster_token(local.auth_token)
            self._gcs_client = None
            self._system_config = system_config
        local.start()
        node = ClusterNode(local)
        self._all_added.append(node)
        if head:
            self.head_node = node
        else:
            self.worker_nodes.add(node)
        if wait:
            self.wait_for_nodes()
        return node

    def remove_node(self, node, allow_graceful=True):
        """Ends a node's processes: SIGTERM and a wait (allow_graceful), or SIGKILL, as a
        node that crashes. Removing the head also ends the GCS server."""
        if node is self.head_node:
            self.head_node = None
            self._gcs_client = None
        elif node in self.worker_nodes:
            self.worker_nodes.remove(node)
        else:
            raise ValueError(f"{node!r} is not a node of this cluster")
        node._stop(graceful=allow_graceful)
        self._removed.append(node)

    def _alive_node_ids(self):
        from cyray._raylet import GcsClient
        from cyray.protobuf import gcs_service_pb2

        if self._gcs_client is None:
            self._gcs_client = GcsClient(self.address)
        alive = set()
        for raw in self._gcs_client.get_all_node_info():
            info = gcs_service_pb2.GcsNodeInfo()
            info.ParseFromString(raw)
            if info.state == info.ALIVE:
                alive.add(info.node_id.hex())
        return alive

    def wait_for_nodes(self, timeout=30):
        """Waits until the GCS lists every node of the cluster alive and no removed node
        alive; TimeoutError after `timeout` seconds."""
        if self.head_node is None:
            return  # no GCS to ask
        deadline = time.monotonic() + timeout
        while True:
            alive = self._alive_node_ids()
            missing = [n for n in self.list_all_nodes() if n.node_id not in alive]
            lingering = [n for n in self._removed if n.node_id in alive]
            if not missing and not lingering:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Cluster.wait_for_nodes: after {timeout} s, nodes not alive in the GCS: "
                    f"{missing}; removed nodes still alive there: {lingering}")
            time.sleep(0.1)

    def connect(self, namespace=None, **init_kwargs):
        """Connects this process as a driver to the head node (cyray.init(address=...))."""
        if self.head_node is None:
            raise RuntimeError("Cluster.connect(): the cluster has no head node; add one "
                               "first (add_node or initialize_head=True)")
        info = cyray.init(address=self.address, namespace=namespace,
                          _token=self.head_node.local_node.auth_token, **init_kwargs)
        self.connected = True
        return info

    def shutdown(self):
        """Disconnects this process's driver if it is connected to this cluster, then ends
        every node: the raylets together (each ends its workers), then the GCS server."""
        from cyray._private.worker import global_worker

        if self.address is not None and cyray.is_initialized() and \
                global_worker.gcs_address == self.address:
            cyray.shutdown()
        self.connected = False
        nodes = self.list_all_nodes()
        for node in nodes:
            node._record_workers()
        # The raylets first (a stopping raylet unregisters from the GCS), then the GCS.
        stop_processes([n.raylet_process for n in nodes], GRACEFUL_STOP_TIMEOUT_S)
        stop_processes([n.gcs_process for n in nodes], GRACEFUL_STOP_TIMEOUT_S)
        self.head_node = None
        self.worker_nodes = set()
        self._gcs_client = None
        self._removed.extend(nodes)
        killed = []
        for node in self._all_added:
            killed += node._end_leftovers()
            node.local_node.remove_session_dir()
        if killed:
            import logging

            logging.getLogger(__name__).warning(
                "Cluster.shutdown: %d worker process(es) outlived their raylet and were "
                "killed: %s", len(killed), [p.pid for p in killed])
