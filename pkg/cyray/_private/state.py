"""Cluster state from the GCS: nodes() and resource totals."""

from cyray._private.worker import global_worker


def _node_infos():
    from cyray.protobuf import gcs_service_pb2

    global_worker.check_connected()
    infos = []
    for raw in global_worker.core_worker.get_all_node_info():
        info = gcs_service_pb2.GcsNodeInfo()
        info.ParseFromString(raw)
        infos.append(info)
    return infos


def nodes():
    """Every node the GCS knows, alive or dead, as dicts shaped like Ray's."""
    out = []
    for info in _node_infos():
        alive = info.state == info.ALIVE
        out.append({
            "NodeID": info.node_id.hex(),
            "Alive": alive,
            "NodeManagerAddress": info.node_manager_address,
            "NodeManagerHostname": info.node_manager_hostname or info.node_name,
            "NodeManagerPort": info.node_manager_port,
            "RayletSocketName": info.raylet_socket_name,
            # The store is served over the raylet's socket.
            "ObjectStoreSocketName": info.raylet_socket_name,
            "NodeName": info.node_name,
            "Resources": dict(info.resources_total) if alive else {},
            "Labels": dict(info.labels),
            "alive": alive,
            "IsHeadNode": info.is_head_node,
            "DeathReason": info.death_reason,
            "DeathReasonMessage": info.death_reason,
        })
    return out


def _sum(field):
    total = {}
    for info in _node_infos():
        if info.state != info.ALIVE:
            continue
        for name, amount in getattr(info, field).items():
            total[name] = total.get(name, 0) + amount
    return total


def cluster_resources():
    return _sum("resources_total")


def available_resources():
    """Resources free now, as last reported by each raylet (about every 0.5 s)."""
    return {k: v for k, v in _sum("resources_available").items() if v > 0}


def object_store_stats():
    """This node's shared-memory object store: capacity_bytes, used_bytes,
    num_objects, spilled_bytes (objects moved to disk to make room)."""
    global_worker.check_connected()
    return global_worker.core_worker.object_store_stats()
