"""The dashboard's JSON API: the state API (cyray.util.state) over HTTP, so the page and
the CLI see one shape. Lists answer {"result": [row, ...], "total": N}, each row exactly
a state API row's `.asdict()`; summaries answer what summarize_* return.

    GET /api/cluster                      nodes (rows + live resources and store), totals
    GET /api/nodes | /api/jobs | /api/actors | /api/workers
    GET /api/tasks?state=RUNNING&limit=100&detail=1   newest first (+ "state_counts")
    GET /api/tasks/summary | /api/actors/summary | /api/objects/summary
    GET /api/objects?limit=1000
    GET /api/logs?node_id=HEX             log files of a node (the head by default)
    GET /api/logs/file?node_id=HEX&filename=NAME&tail=1000
    GET /api/timeline[?download=1]        Chrome trace events (cyray.timeline())

The state API is blocking gRPC: each request runs it on the dashboard's thread pool,
against the GCS's own address, so the GCS's event loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Dict, Optional

from aiohttp import web

from cyray.dashboard.server import EXECUTOR, GCS_ADDRESS
from cyray.util import state
from cyray.util.state import rows
from cyray.util.state.common import TaskState
from cyray.util.state.exception import RayStateApiException
from cyray.util.state.source import StateSource

logger = logging.getLogger("cyray.dashboard")

TIMEOUT_S = 10
MAX_LIMIT = 100_000
_dumps = functools.partial(json.dumps, default=str)


class BadRequest(ValueError):
    """A request parameter the API cannot take (answered with 400)."""


def _int_param(request: web.Request, name: str, default: Optional[int],
               upper: int = MAX_LIMIT) -> Optional[int]:
    text = request.query.get(name)
    if text in (None, ""):
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {text!r}")
    if not 0 <= value <= upper:
        raise BadRequest(f"{name} must be in 0..{upper}")
    return value


def _flag(request: web.Request, name: str, default: bool) -> bool:
    text = request.query.get(name)
    if text is None:
        return default
    return text.lower() not in ("0", "false", "no", "")


def _endpoint(fn):
    """A handler that computes its answer with `fn(request, address)` in the thread pool
    and answers JSON: 400 for bad parameters, 503 when the cluster does not answer."""

    @functools.wraps(fn)
    async def handler(request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                request.app[EXECUTOR], fn, request, request.app[GCS_ADDRESS])
        except BadRequest as e:
            return web.json_response({"error": str(e)}, status=400, dumps=_dumps)
        except (RayStateApiException, ConnectionError) as e:
            return web.json_response({"error": str(e)}, status=503, dumps=_dumps)
        except Exception as e:
            logger.exception("dashboard: %s failed", request.path)
            return web.json_response({"error": f"{type(e).__name__}: {e}"}, status=500,
                                     dumps=_dumps)
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(result, dumps=_dumps)

    return handler


def _listing(items, limit: Optional[int] = None) -> Dict:
    total = len(items)
    if limit is not None:
        items = items[:limit]
    return {"result": [item.asdict() for item in items], "total": total}


# ---- the cluster -----------------------------------------------------------------------

def cluster_snapshot(address: str) -> Dict:
    """Every node's row, with the live resources and object store of the alive ones
    (their raylets' stats), and the cluster's totals over alive nodes."""
    with StateSource(address, TIMEOUT_S) as source:
        nodes = source.nodes()
        stats = {node.node_id: reply for node, reply in source.all_node_stats()}
    out, total, available = [], {}, {}
    for node in sorted(nodes, key=lambda n: (not n.is_head_node, n.state, n.node_id)):
        row = rows.node_row(node).asdict()
        reply = stats.get(node.node_id)
        alive = node.state == node.ALIVE
        row["resources_available"] = dict(
            reply.resources_available if reply else node.resources_available) if alive else {}
        if reply:
            row["resources_total"] = dict(reply.resources_total) or row["resources_total"]
        row["object_store"] = {
            "capacity_bytes": reply.store_capacity_bytes, "used_bytes": reply.store_used_bytes,
            "num_objects": reply.store_num_objects, "spilled_bytes": reply.spilled_bytes,
        } if reply else None
        row["num_workers"] = sum(1 for w in reply.workers if not w.is_driver) if reply else None
        row["num_drivers"] = sum(1 for w in reply.workers if w.is_driver) if reply else None
        row["num_queued_leases"] = len(reply.queued_leases) if reply else None
        if alive:
            for name, amount in row["resources_total"].items():
                total[name] = total.get(name, 0) + amount
            for name, amount in row["resources_available"].items():
                available[name] = available.get(name, 0) + amount
        out.append(row)
    return {"gcs_address": address, "nodes": out, "resources_total": total,
            "resources_available": available}


@_endpoint
def _cluster(request, address):
    return cluster_snapshot(address)


@_endpoint
def _nodes(request, address):
    return _listing(state.list_nodes(address, limit=None, timeout=TIMEOUT_S, detail=True))


@_endpoint
def _jobs(request, address):
    return _listing(state.list_jobs(address, limit=None, timeout=TIMEOUT_S, detail=True))


@_endpoint
def _workers(request, address):
    return _listing(state.list_workers(address, limit=None, timeout=TIMEOUT_S, detail=True,
                                       raise_on_missing_output=False),
                    _int_param(request, "limit", 1000))


# ---- actors, tasks, objects ------------------------------------------------------------

@_endpoint
def _actors(request, address):
    items = state.list_actors(address, limit=None, timeout=TIMEOUT_S, detail=True,
                              raise_on_missing_output=False)
    items.sort(key=lambda a: a.start_time_ms or 0, reverse=True)
    return _listing(items, _int_param(request, "limit", 1000))


@_endpoint
def _tasks(request, address):
    """Task attempts, newest first; `state` filters, `detail=0` leaves out the detail
    columns (times, events, error message), as the state API without detail. Also
    "state_counts": every attempt's state counted (the filter aside), so the page needs
    no second pass over the task table."""
    limit = _int_param(request, "limit", 100)
    wanted = (request.query.get("state") or "").upper()
    items = state.list_tasks(address, limit=None, timeout=TIMEOUT_S, detail=True,
                             raise_on_missing_output=False)
    counts: Dict[str, int] = {}
    for item in items:
        counts[item.state] = counts.get(item.state, 0) + 1
    if wanted:
        items = [item for item in items if item.state == wanted]
    items.sort(key=lambda t: (t.creation_time_ms or 0, t.attempt_number), reverse=True)
    answer = _listing(items, limit)
    answer["state_counts"] = counts
    if not _flag(request, "detail", True):
        keep = set(TaskState.list_columns(detail=False))
        answer["result"] = [{k: (v if k in keep else None) for k, v in row.items()}
                            for row in answer["result"]]
    return answer


@_endpoint
def _objects(request, address):
    items = state.list_objects(address, limit=None, timeout=TIMEOUT_S, detail=True,
                               raise_on_missing_output=False)
    items.sort(key=lambda o: o.object_size, reverse=True)
    return _listing(items, _int_param(request, "limit", 1000))


@_endpoint
def _tasks_summary(request, address):
    return state.summarize_tasks(address, timeout=TIMEOUT_S)


@_endpoint
def _actors_summary(request, address):
    return state.summarize_actors(address, timeout=TIMEOUT_S)


@_endpoint
def _objects_summary(request, address):
    return state.summarize_objects(address, timeout=TIMEOUT_S)


# ---- logs and the timeline -------------------------------------------------------------

def _node_param(request) -> Optional[str]:
    node_id = request.query.get("node_id") or None
    if node_id is not None and not all(c in "0123456789abcdef" for c in node_id.lower()):
        raise BadRequest("node_id must be a node's hex ID")
    return node_id


@_endpoint
def _logs(request, address):
    node_id = _node_param(request)
    return {"node_id": node_id, "result": state.list_logs(address, node_id=node_id,
                                                          timeout=TIMEOUT_S)}


@_endpoint
def _log_file(request, address):
    node_id = _node_param(request)
    filename = request.query.get("filename", "")
    if not filename or "/" in filename or "\\" in filename or filename.startswith("."):
        raise BadRequest("filename must be the name of a file from /api/logs")
    tail = _int_param(request, "tail", 1000, upper=100_000)
    lines = list(state.get_log(address, node_id=node_id, filename=filename, tail=tail,
                               timeout=TIMEOUT_S, errors="replace"))
    return {"node_id": node_id, "filename": filename, "lines": lines}


@_endpoint
def _timeline(request, address):
    from cyray._private.timeline import timeline_events

    events = timeline_events(address)
    if _flag(request, "download", False):
        return web.Response(body=_dumps(events).encode(), content_type="application/json",
                            headers={"Content-Disposition":
                                     'attachment; filename="cyray-timeline.json"'})
    return events


def add_routes(app: web.Application) -> None:
    for path, handler in [
        ("/api/cluster", _cluster), ("/api/nodes", _nodes), ("/api/jobs", _jobs),
        ("/api/workers", _workers), ("/api/actors", _actors),
        ("/api/actors/summary", _actors_summary), ("/api/tasks", _tasks),
        ("/api/tasks/summary", _tasks_summary), ("/api/objects", _objects),
        ("/api/objects/summary", _objects_summary), ("/api/logs", _logs),
        ("/api/logs/file", _log_file), ("/api/timeline", _timeline),
    ]:
        app.router.add_get(path, handler)
