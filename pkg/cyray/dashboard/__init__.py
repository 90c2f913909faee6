"""The cyray dashboard: a web page, a JSON API and Prometheus /metrics, served over HTTP
by the GCS process itself (aiohttp on the GCS's event loop) when the head is started with
`include_dashboard=True` / `cyray start --head --include-dashboard`. Off by default.

- server.py: the aiohttp app, the token rule, start/stop on the GCS's loop
- api.py: the JSON API (the state API's rows, as dicts)
- metrics.py: /metrics in Prometheus text format
- static/: the page (plain HTML, JS and CSS; no build step, nothing from a CDN)
"""

# Ray's default dashboard port; taken only when free unless asked for explicitly.
DEFAULT_PORT = 8265
# Where the GCS records the dashboard's address ("host:port") in its internal KV
# (Ray's namespace and key), so that drivers joining the cluster can report it.
KV_NAMESPACE = b"dashboard"
KV_URL_KEY = b"webui:url"
# Addresses that serve this machine only: no token needed there.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def needs_token(host: str) -> bool:
    """Whether a dashboard bound to `host` asks every request for the cluster token:
    anything but 127.0.0.1, ::1 and localhost (0.0.0.0 and 127.0.0.2 included)."""
    return host not in LOOPBACK_HOSTS


def dashboard_url(host: str, port: int, node_ip: str = "127.0.0.1") -> str:
    """"host:port" (no scheme, as Ray's dashboard_url) of a dashboard bound to `host`;
    a wildcard address is reported as the node's own address."""
    if host in ("", "0.0.0.0", "::"):
        host = node_ip
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
