"""The cluster token on the GCS side: a server interceptor that refuses, before any
handler runs, every call that lacks the token (UNAUTHENTICATED, and a log line naming
the peer), and the metadata the GCS's own calls to raylets and workers carry. The
token comes from the process that started the GCS (CYRAY_AUTH_TOKEN)."""

import hmac
import logging
import os

import grpc
import grpc.aio

# The metadata key, as in the C++ side (cpp/src/cyray/rpc/grpc_util.h).
TOKEN_KEY = "cyray-token"
TOKEN_ENV = "CYRAY_AUTH_TOKEN"

logger = logging.getLogger("cyray.gcs")


def cluster_token():
    return os.environ.get(TOKEN_ENV, "")


def call_metadata():
    """The metadata every call of this process to another cyray process carries."""
    token = cluster_token()
    return ((TOKEN_KEY, token),) if token else ()


def _refusal(handler):
    """A handler of the same shape as `handler` that refuses the call."""

    async def refuse(request_or_iterator, context):
        logger.warning("refused a call without the cluster token from %s", context.peer())
        await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                            "this cyray server takes only calls that carry the cluster token")

    if handler is None or (not handler.request_streaming and not handler.response_streaming):
        return grpc.unary_unary_rpc_method_handler(refuse)
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse)
    return grpc.unary_stream_rpc_method_handler(refuse)


class ClusterTokenInterceptor(grpc.aio.ServerInterceptor):
    """Lets through only calls whose metadata carries `token` (constant-time compare)."""

    def __init__(self, token):
        self._token = token.encode()

    async def intercept_service(self, continuation, handler_call_details):
        for key, value in handler_call_details.invocation_metadata or ():
            if key == TOKEN_KEY:
                given = value.encode() if isinstance(value, str) else value
                if hmac.compare_digest(given, self._token):
                    return await continuation(handler_call_details)
                break
        return _refusal(await continuation(handler_call_details))


class ClusterTokenClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Adds the cluster token to every unary call of a channel."""

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        metadata = tuple(client_call_details.metadata or ()) + call_metadata()
        details = client_call_details._replace(metadata=metadata)
        return await continuation(details, request)


def client_interceptors():
    """Interceptors for this process's channels to other cyray processes."""
    return [ClusterTokenClientInterceptor()] if cluster_token() else None
