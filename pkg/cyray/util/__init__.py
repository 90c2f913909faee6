"""cyray.util: helpers built on the core API (as ray.util)."""

import socket

from cyray.util import scheduling_strategies
from cyray.util.actor_pool import ActorPool
from cyray.util.check_serialize import inspect_serializability
from cyray.util.helpers import as_completed, map_unordered
from cyray.util.progress import progress
from cyray.util.serialization import deregister_serializer, register_serializer

__all__ = [
    "ActorPool",
    "as_completed",
    "deregister_serializer",
    "explain",
    "get_node_ip_address",
    "inspect_serializability",
    "list_named_actors",
    "map_unordered",
    "progress",
    "register_serializer",
    "scheduling_strategies",
]


def explain(ref, address=None):
    """One paragraph on why `ref` (an ObjectRef, or an object or task ID in hex) is not
    ready, and what to do (see cyray.util.explainer). Imported on first use: it needs
    Python gRPC, which a worker that never explains should not load."""
    from cyray.util.explainer import explain as explain_ref

    return explain_ref(ref, address)


def list_named_actors(all_namespaces=False):
    """The names of the named actors that are not dead (detached or not, pending creation
    included) in this job's namespace; with all_namespaces=True, those of every namespace
    as dicts {"name": ..., "namespace": ...}. Starts cyray if needed, as Ray does."""
    from cyray._private.worker import _auto_init, global_worker
    from cyray.gcs import client

    _auto_init()
    actors = client.list_named_actors(global_worker, bool(all_namespaces))
    if all_namespaces:
        return [{"name": name, "namespace": namespace} for namespace, name in actors]
    return [name for _, name in actors]


def get_node_ip_address(address="8.8.8.8:53"):
    """The IP address of this node: the one the cluster's processes here bind when
    connected; otherwise the address this machine would reach `address` ("host:port")
    from (no packet is sent), or 127.0.0.1 if it has no route there."""
    from cyray._private.worker import global_worker

    if global_worker.connected and global_worker.node_ip_address:
        return global_worker.node_ip_address
    host, port = address.rsplit(":", 1)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, int(port)))
            return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
