"""Where a running cluster's dashboard is: the GCS records its "host:port" in its
internal KV when it starts one; drivers and the CLI read it from there."""

from __future__ import annotations

from typing import Optional

from cyray.dashboard import KV_NAMESPACE, KV_URL_KEY


def cluster_dashboard_url(gcs_address: str, token: Optional[str],
                          timeout: float = 10.0) -> Optional[str]:
    """The dashboard's "host:port" of the cluster at `gcs_address`, or None when it runs
    none. Raises ConnectionError when the GCS does not answer."""
    import grpc

    from cyray.gcs.auth import TOKEN_KEY
    from cyray.protobuf import gcs_service_pb2 as gcs_pb2
    from cyray.protobuf import gcs_service_pb2_grpc as gcs_grpc

    with grpc.insecure_channel(gcs_address, options=[("grpc.enable_http_proxy", 0)]) as channel:
        stub = gcs_grpc.InternalKVGcsServiceStub(channel)
        try:
            reply = stub.InternalKVGet(
                gcs_pb2.InternalKVGetRequest(namespace=KV_NAMESPACE, key=KV_URL_KEY),
                metadata=((TOKEN_KEY, token),) if token else (), timeout=timeout)
        except grpc.RpcError as e:
            raise ConnectionError(f"the GCS at {gcs_address} did not answer: "
                                  f"{e.code().name}: {e.details()}") from None
    return reply.value.decode() if reply.found else None
