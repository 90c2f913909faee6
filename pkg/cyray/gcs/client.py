"""Blocking calls from a driver or worker to the GCS over Python gRPC, for GCS services
the C++ core worker does not expose to Python yet (see list_named_actors). Each call
opens a short-lived channel and carries the cluster token, as the core worker's do."""

import grpc

from cyray.gcs.auth import TOKEN_KEY
from cyray.protobuf import gcs_service_pb2 as gcs_pb2
from cyray.protobuf import gcs_service_pb2_grpc as gcs_grpc

CALL_TIMEOUT_S = 30.0


def _cluster_token(worker):
    """The token this process's calls carry: the one of the cluster this driver started,
    else $CYRAY_AUTH_TOKEN (always set in workers) or this machine's session files."""
    if getattr(worker, "auth_token", None):
        return worker.auth_token
    if worker.node is not None:
        return worker.node.auth_token
    from cyray._private.node import find_auth_token

    return find_auth_token(worker.gcs_address)


def list_named_actors(worker, all_namespaces):
    """[(namespace, name)] of the named actors not dead: all, or those of the worker's
    namespace."""
    token = _cluster_token(worker)
    metadata = ((TOKEN_KEY, token),) if token else ()
    request = gcs_pb2.ListNamedActorsRequest(all_namespaces=all_namespaces,
                                             ray_namespace=worker.namespace or "")
    with grpc.insecure_channel(worker.gcs_address,
                               options=[("grpc.enable_http_proxy", 0)]) as channel:
        reply = gcs_grpc.ActorInfoGcsServiceStub(channel).ListNamedActors(
            request, metadata=metadata, timeout=CALL_TIMEOUT_S)
    return [(info.ray_namespace, info.name) for info in reply.named_actors_list]
