"""The dashboard's HTTP server: an aiohttp app that runs on the GCS's own event loop
(`start_dashboard` from `cyray.gcs.server.serve`), so no extra process is needed.

The token rule: bound to a loopback address (127.0.0.1, ::1, localhost) the dashboard
answers this machine without a token, but only to requests whose Host header names a
loopback address (a web page cannot reach it through DNS rebinding). Bound to any other
address, every request must carry the cluster token: `Authorization: Bearer <token>`, or
`?token=<token>` once, which sets an HttpOnly cookie for the next requests. Tokens are
compared in constant time. Anything else gets 401 and a message saying what to pass.
"""

from __future__ import annotations

import concurrent.futures
import hmac
import logging
import os
from dataclasses import dataclass
from typing import Optional, Union

from aiohttp import web

from cyray.dashboard import DEFAULT_PORT, LOOPBACK_HOSTS, dashboard_url, needs_token

logger = logging.getLogger("cyray.dashboard")

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
TOKEN_COOKIE = "cyray_dashboard_token"

GCS_ADDRESS = web.AppKey("gcs_address", str)
EXECUTOR = web.AppKey("executor", concurrent.futures.ThreadPoolExecutor)
TOKEN = web.AppKey("token", str)
REQUIRE_TOKEN = web.AppKey("require_token", bool)


def _given_token(request: web.Request):
    """(token, where it came from) of a request, or (None, None)."""
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip(), "header"
    if "token" in request.query:
        return request.query["token"], "query"
    cookie = request.cookies.get(TOKEN_COOKIE)
    if cookie:
        return cookie, "cookie"
    return None, None


def _host_is_loopback(request: web.Request) -> bool:
    host = request.host or ""
    if host.startswith("["):  # [::1]:8265
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host in LOOPBACK_HOSTS


@web.middleware
async def _guard(request: web.Request, handler):
    if not request.app[REQUIRE_TOKEN]:
        if not _host_is_loopback(request):
            return web.Response(status=403, text=(
                "403: this cyray dashboard serves this machine only; open it as "
                "http://127.0.0.1:<port>/ or http://localhost:<port>/\n"))
        return await handler(request)
    given, where = _given_token(request)
    expected = request.app[TOKEN].encode()
    if not given or not hmac.compare_digest(given.encode(), expected):
        logger.warning("dashboard: refused %s %s from %s (%s)", request.method, request.path,
                       request.remote, "wrong token" if given else "no token")
        return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"}, text=(
            "401: this cyray dashboard is reachable from the network and takes only requests "
            "that carry the cluster token: send 'Authorization: Bearer <token>', or open "
            "/?token=<token> once in a browser (it sets a cookie). The token is in the file "
            "auth_token of the head node's session directory, or in CYRAY_AUTH_TOKEN.\n"))
    if where == "query":
        if request.method == "GET" and request.path == "/":
            # Keep the token out of the address bar and the browser's history.
            query = {k: v for k, v in request.query.items() if k != "token"}
            response = web.HTTPSeeOther(request.rel_url.with_query(query))
        else:
            response = await handler(request)
        response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="Strict", path="/")
        if isinstance(response, web.HTTPException):
            raise response
        return response
    return await handler(request)


@web.middleware
async def _headers(request: web.Request, handler):
    try:
        response = await handler(request)
    except web.HTTPException as e:
        response = e
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if isinstance(response, web.HTTPException):
        raise response
    return response


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(os.path.join(STATIC_DIR, "index.html"))


def make_app(gcs_address: str, token: str, require_token: bool) -> web.Application:
    """The app: the page, its static files, the JSON API and /metrics."""
    from cyray.dashboard import api, metrics

    if require_token and not token:
        raise ValueError("a dashboard reachable from the network needs the cluster token, "
                         "and this GCS has none (CYRAY_AUTH_TOKEN)")
    app = web.Application(middlewares=[_headers, _guard])
    app[GCS_ADDRESS] = gcs_address
    app[TOKEN] = token
    app[REQUIRE_TOKEN] = require_token
    app[EXECUTOR] = concurrent.futures.ThreadPoolExecutor(
        max_workers=4, thread_name_prefix="dashboard")
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    api.add_routes(app)
    metrics.add_routes(app)

    async def close_executor(app):
        app[EXECUTOR].shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(close_executor)
    return app


@dataclass
class Dashboard:
    runner: web.AppRunner
    host: str
    port: int
    url: str

    async def stop(self) -> None:
        await self.runner.cleanup()


def parse_port(port: Union[str, int, None]) -> Optional[int]:
    """--dashboard-port: a port number (0: a free one), or "auto"/None: Ray's 8265 when
    it is free, else a free one."""
    if port is None or port == "auto":
        return None
    port = int(port)
    if not 0 <= port <= 65535:
        raise ValueError(f"dashboard port {port} is not in 0..65535")
    return port


async def start_dashboard(host: str, port: Union[str, int, None], gcs_address: str,
                          token: str, node_ip: str = "127.0.0.1") -> Dashboard:
    """Serves the dashboard on host:port (see `parse_port`) on the running event loop.
    Raises OSError when the port cannot be bound."""
    wanted = parse_port(port)
    app = make_app(gcs_address, token, needs_token(host))
    # Stopping waits at most 1 s for requests in flight: the GCS ends promptly.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    candidates = [DEFAULT_PORT, 0] if wanted is None else [wanted]
    for i, candidate in enumerate(candidates):
        site = web.TCPSite(runner, host, candidate)
        try:
            await site.start()
            break
        except OSError:
            if i == len(candidates) - 1:
                await runner.cleanup()
                raise
    bound = runner.addresses[-1][1]
    url = dashboard_url(host, bound, node_ip)
    logger.info("dashboard at http://%s/ (%s)", url, "cluster token required"
                if needs_token(host) else "this machine only")
    return Dashboard(runner, host, bound, url)
