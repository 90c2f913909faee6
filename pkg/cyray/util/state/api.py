"""The state API: Ray's `ray.util.state` functions over a cyray cluster.

    from cyray.util.state import list_tasks
    list_tasks(filters=[("state", "=", "RUNNING")])

Tasks come from the GCS's task event table (filled by every process's task events, so
a task shows up within task_events_report_interval_ms of a change), actors, nodes, jobs
and dead workers from the GCS's tables, alive workers from each raylet, and objects from
the reference table of every driver and worker, gathered by their raylets.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from dataclasses import fields
from typing import Dict, Iterator, List, Optional, Tuple, Union

from cyray.util.state import rows
from cyray.util.state.common import (SUPPORTED_PREDICATES, ActorState, JobState, NodeState,
                                     ObjectState, PlacementGroupState, TaskState, WorkerState)
from cyray.util.state.exception import RayStateApiException
from cyray.util.state.source import DEFAULT_TIMEOUT_S, StateSource

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 100
Filter = Tuple[str, str, Union[str, bool, int, float]]


def _apply(items, schema, filters: Optional[List[Filter]], limit: int, detail: bool,
           raise_on_missing_output: bool, what: str):
    """Ray's filtering (=, != on the non-detail columns, strings compared without case
    for enum-like values), limit and detail trimming."""
    columns = schema.filterable_columns()
    for key, predicate, _ in filters or []:
        if key not in columns:
            raise RayStateApiException(
                f"Given filter column {key} is not supported. Enter filters with one of these "
                f"columns: {columns}")
        if predicate not in SUPPORTED_PREDICATES:
            raise RayStateApiException(
                f"Unsupported filter predicate {predicate!r}: use one of "
                f"{list(SUPPORTED_PREDICATES)}")

    def matches(item):
        for key, predicate, value in filters or []:
            have = getattr(item, key)
            equal = _equal(have, value)
            if (predicate == "=") != equal:
                return False
        return True

    selected = [item for item in items if matches(item)]
    if limit is not None and limit >= 0 and len(selected) > limit:
        message = (f"{len(selected) - limit} {what} were left out: only {limit} are returned "
                   f"(limit={limit}). Raise `limit` or narrow the query with `filters`.")
        if raise_on_missing_output:
            logger.warning(message)
        selected = selected[:limit]
    if not detail:
        detail_names = [f.name for f in fields(schema) if f.metadata.get("detail")]
        for item in selected:
            for name in detail_names:
                setattr(item, name, None)
    return selected


def _equal(have, want) -> bool:
    if isinstance(have, bool) or isinstance(want, bool):
        return str(have).lower() == str(want).lower()
    if have is None:
        return str(want).lower() in ("none", "")
    have, want = str(have), str(want)
    return have == want or (have.isupper() and have == want.upper())


def _source(address, timeout) -> StateSource:
    return StateSource(address, timeout or DEFAULT_TIMEOUT_S)


def _raw_tasks(source: StateSource, task_ids=()) -> List[TaskState]:
    reply = source.task_events(task_ids=[bytes.fromhex(t) for t in task_ids])
    if reply.num_dropped_on_workers or reply.num_evicted:
        logger.debug("task events: %d dropped by processes, %d evicted by the GCS",
                     reply.num_dropped_on_workers, reply.num_evicted)
    return [rows.task_row(events) for events in reply.events]


# ---- list_* ----------------------------------------------------------------------------

def list_tasks(address: Optional[str] = None, filters: Optional[List[Filter]] = None,
               limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_TIMEOUT_S,
               detail: bool = False, raise_on_missing_output: bool = True,
               _explain: bool = False) -> List[TaskState]:
    with _source(address, timeout) as source:
        items = _raw_tasks(source)
    return _apply(items, TaskState, filters, limit, detail, raise_on_missing_output, "tasks")


def list_actors(address: Optional[str] = None, filters: Optional[List[Filter]] = None,
                limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_TIMEOUT_S,
                detail: bool = False, raise_on_missing_output: bool = True,
                _explain: bool = False) -> List[ActorState]:
    with _source(address, timeout) as source:
        items = [rows.actor_row(actor) for actor in source.actors()]
    return _apply(items, ActorState, filters, limit, detail, raise_on_missing_output, "actors")


def list_nodes(address: Optional[str] = None, filters: Optional[List[Filter]] = None,
               limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_TIMEOUT_S,
               detail: bool = False, raise_on_missing_output: bool = True,
               _explain: bool = False) -> List[NodeState]:
    with _source(address, timeout) as source:
        items = [rows.node_row(node) for node in source.nodes()]
    return _apply(items, NodeState, filters, limit, detail, raise_on_missing_output, "nodes")


def list_jobs(address: Optional[str] = None, filters: Optional[List[Filter]] = None,
              limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_TIMEOUT_S,
              detail: bool = False, raise_on_missing_output: bool = True,
              _explain: bool = False) -> List[JobState]:
    with _source(address, timeout) as source:
        items = [rows.job_row(job) for job in source.jobs()]
    return _apply(items, JobState, filters, limit, detail, raise_on_missing_output, "jobs")


def list_workers(address: Optional[str] = None, filters: Optional[List[Filter]] = None,
                 limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_TIMEOUT_S,
                 detail: bool = False, raise_on_missing_output: bool = True,
                 _explain: bool = False) -> List[WorkerState]:
    with _source(address, timeout) as source:
        nodes = source.nodes()
        ips = {node.node_id: node.node_manager_address for node in nodes}
        items = [rows.alive_worker_row(node, worker)
                 for node, stats in source.all_node_stats() for worker in stats.workers
                 if worker.pid]
        alive = {item.worker_id for item in items}
        items += [rows.dead_worker_row(failure, ips) for failure in source.worker_failures()
                  if failure.report.worker_id.hex() not in alive]
    return _apply(items, WorkerState, filters, limit, detail, raise_on_missing_output,
                  "workers")


def list_objects(address: Optional[str] = None, filters: Optional[List[Filter]] = None,
                 limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_TIMEOUT_S,
                 detail: bool = False, raise_on_missing_output: bool = True,
                 _explain: bool = False) -> List[ObjectState]:
    with _source(address, timeout) as source:
        stats = [(node, reply) for node, node_stats in source.all_core_worker_stats()
                 for reply in node_stats.core_worker_stats]
        pending = {rows.task_id_of(ref.object_id) for _, reply in stats
                   for ref in reply.object_refs if not ref.ready}
        task_states = {}
        if pending:
            for events in source.task_events(task_ids=sorted(pending)).events:
                task_states[events.task_id] = rows.task_row(events).state
        items = [row for node, reply in stats
                 for row in rows.object_rows(node, reply, task_states)]
    return _apply(items, ObjectState, filters, limit, detail, raise_on_missing_output,
                  "objects")


def list_placement_groups(address: Optional[str] = None,
                          filters: Optional[List[Filter]] = None, limit: int = DEFAULT_LIMIT,
                          timeout: int = DEFAULT_TIMEOUT_S, detail: bool = False,
                          raise_on_missing_output: bool = True,
                          _explain: bool = False) -> List[PlacementGroupState]:
    """Always empty: cyray has no placement groups yet (creating one raises)."""
    _source(address, timeout).close()
    return _apply([], PlacementGroupState, filters, limit, detail, raise_on_missing_output,
                  "placement groups")


# ---- get_* -----------------------------------------------------------------------------

def _id_hex(id) -> str:
    """The hex of an ID given as hex, bytes or an ID object (ValueError otherwise)."""
    if hasattr(id, "hex") and not isinstance(id, (str, bytes)):
        return id.hex()
    if isinstance(id, bytes):
        return id.hex()
    try:
        bytes.fromhex(id)
    except (TypeError, ValueError):
        raise ValueError(f"{id!r} is not an ID: pass it in hex, as list_* prints it") from None
    return id


def get_task(id, address: Optional[str] = None, timeout: int = DEFAULT_TIMEOUT_S,
             _explain: bool = False) -> Optional[TaskState]:
    """The task's latest attempt (`id` is its hex ID, or an ObjectRef it returns)."""
    if hasattr(id, "task_id") and not isinstance(id, str):
        task_id = id.task_id().hex()
    else:
        task_id = _id_hex(id)
    with _source(address, timeout) as source:
        items = _raw_tasks(source, [task_id])
    return max(items, key=lambda t: t.attempt_number) if items else None


def get_actor(id: str, address: Optional[str] = None, timeout: int = DEFAULT_TIMEOUT_S,
              _explain: bool = False) -> Optional[ActorState]:
    found = list_actors(address, [("actor_id", "=", _id_hex(id))], limit=1, timeout=timeout,
                        detail=True)
    return found[0] if found else None


def get_node(id: str, address: Optional[str] = None, timeout: int = DEFAULT_TIMEOUT_S,
             _explain: bool = False) -> Optional[NodeState]:
    found = list_nodes(address, [("node_id", "=", id)], limit=1, timeout=timeout, detail=True)
    return found[0] if found else None


def get_worker(id: str, address: Optional[str] = None, timeout: int = DEFAULT_TIMEOUT_S,
               _explain: bool = False) -> Optional[WorkerState]:
    found = list_workers(address, [("worker_id", "=", id)], limit=1, timeout=timeout,
                         detail=True)
    return found[0] if found else None


def get_job(id: str, address: Optional[str] = None, timeout: int = DEFAULT_TIMEOUT_S,
            _explain: bool = False) -> Optional[JobState]:
    found = list_jobs(address, [("job_id", "=", id)], limit=1, timeout=timeout, detail=True)
    return found[0] if found else None


def get_objects(id: str, address: Optional[str] = None, timeout: int = DEFAULT_TIMEOUT_S,
                _explain: bool = False) -> List[ObjectState]:
    """Every process's reference to the object (one row each)."""
    return list_objects(address, [("object_id", "=", _id_hex(id))], limit=10_000,
                        timeout=timeout, detail=True)


def get_placement_group(id: str, address: Optional[str] = None,
                        timeout: int = DEFAULT_TIMEOUT_S,
                        _explain: bool = False) -> Optional[PlacementGroupState]:
    return None


# ---- summarize_* -----------------------------------------------------------------------

def summarize_tasks(address: Optional[str] = None, timeout: int = DEFAULT_TIMEOUT_S,
                    raise_on_missing_output: bool = True, _explain: bool = False) -> Dict:
    """Tasks by name with their counts per state, and totals (Ray's shape)."""
    tasks = list_tasks(address, limit=None, timeout=timeout, raise_on_missing_output=False)
    summary = {}
    totals = {"NORMAL_TASK": 0, "ACTOR_TASK": 0, "ACTOR_CREATION_TASK": 0}
    for task in tasks:
        key = task.name or task.func_or_class_name
        entry = summary.setdefault(key, {"func_or_class_name": key, "type": task.type,
                                         "state_counts": {}})
        entry["state_counts"][task.state] = entry["state_counts"].get(task.state, 0) + 1
        if task.type in totals:
            totals[task.type] += 1
    return {"cluster": {"summary": summary, "total_tasks": totals["NORMAL_TASK"],
                        "total_actor_tasks": totals["ACTOR_TASK"],
                        "total_actor_scheduled": totals["ACTOR_CREATION_TASK"],
                        "summary_by": "func_name"}}


def summarize_actors(address: Optional[str] = None, timeout: int = DEFAULT_TIMEOUT_S,
                     raise_on_missing_output: bool = True, _explain: bool = False) -> Dict:
    actors = list_actors(address, limit=None, timeout=timeout, raise_on_missing_output=False)
    summary = {}
    for actor in actors:
        entry = summary.setdefault(actor.class_name,
                                   {"class_name": actor.class_name, "state_counts": {}})
        entry["state_counts"][actor.state] = entry["state_counts"].get(actor.state, 0) + 1
    return {"cluster": {"summary": summary, "total_actors": len(actors), "summary_by": "class"}}


def summarize_objects(address: Optional[str] = None, timeout: int = DEFAULT_TIMEOUT_S,
                      raise_on_missing_output: bool = True, _explain: bool = False) -> Dict:
    """Objects by call site, with their sizes, counts and reference types (Ray's shape)."""
    objects = list_objects(address, limit=None, timeout=timeout, raise_on_missing_output=False,
                           detail=True)
    summary = {}
    total_size = 0
    for obj in objects:
        entry = summary.setdefault(obj.call_site, {
            "total_objects": 0, "total_size_mb": 0.0, "total_num_workers": 0,
            "total_num_nodes": 0, "task_state_counts": {}, "ref_type_counts": {},
            "_workers": set(), "_nodes": set()})
        entry["total_objects"] += 1
        size = max(obj.object_size, 0)
        total_size += size
        entry["total_size_mb"] += size / 1024 ** 2
        entry["task_state_counts"][obj.task_status] = \
            entry["task_state_counts"].get(obj.task_status, 0) + 1
        entry["ref_type_counts"][obj.reference_type] = \
            entry["ref_type_counts"].get(obj.reference_type, 0) + 1
        entry["_workers"].add(obj.pid)
        entry["_nodes"].add(obj.ip)
    for entry in summary.values():
        entry["total_num_workers"] = len(entry.pop("_workers"))
        entry["total_num_nodes"] = len(entry.pop("_nodes"))
    return {"cluster": {"summary": summary, "total_objects": len(objects),
                        "total_size_mb": total_size / 1024 ** 2, "callsite_enabled": any(
                            obj.call_site != "disabled" for obj in objects),
                        "summary_by": "callsite"}}


# ---- logs ------------------------------------------------------------------------------

def _log_category(name: str) -> str:
    if name.startswith("worker-"):
        return "worker_err" if name.endswith(".err") else "worker_out"
    for prefix in ("raylet", "gcs_server", "dashboard", "driver"):
        if name.startswith(prefix):
            return prefix
    return "internal"


def _pick_node(source: StateSource, node_id: Optional[str], node_ip: Optional[str]):
    alive = [n for n in source.nodes() if n.state == n.ALIVE]
    if node_id:
        alive = [n for n in alive if n.node_id.hex() == node_id]
    elif node_ip:
        alive = [n for n in alive if n.node_manager_address == node_ip]
    else:
        head = [n for n in alive if n.is_head_node]
        alive = head or alive
    if not alive:
        raise RayStateApiException(
            f"No alive node {'with ID ' + node_id if node_id else 'at ' + str(node_ip)}: "
            "see `cyray list nodes`.")
    return alive[0]


def list_logs(address: Optional[str] = None, node_id: Optional[str] = None,
              node_ip: Optional[str] = None, glob_filter: Optional[str] = None,
              timeout: int = DEFAULT_TIMEOUT_S) -> Dict[str, List[str]]:
    """The log files of a node (the head node by default), grouped as Ray groups them."""
    with _source(address, timeout) as source:
        node = _pick_node(source, node_id, node_ip)
        files = source.list_logs(node)
    out: Dict[str, List[str]] = {}
    for info in sorted(files, key=lambda f: f.name):
        if glob_filter and not fnmatch.fnmatch(info.name, glob_filter):
            continue
        out.setdefault(_log_category(info.name), []).append(info.name)
    return out


def _find_log_of_pid(source: StateSource, node, pid: int, suffix: str) -> str:
    for info in source.list_logs(node):
        if info.pid == pid and info.name.endswith("." + suffix):
            return info.name
    raise RayStateApiException(f"No .{suffix} log of process {pid} on node "
                               f"{node.node_id.hex()}: it may not be a worker of that node.")


def get_log(address: Optional[str] = None, node_id: Optional[str] = None,
            node_ip: Optional[str] = None, filename: Optional[str] = None,
            actor_id: Optional[str] = None, task_id: Optional[str] = None,
            pid: Optional[int] = None, follow: bool = False, tail: int = -1,
            timeout: int = DEFAULT_TIMEOUT_S, suffix: str = "out",
            encoding: Optional[str] = "utf-8", errors: Optional[str] = "strict",
            submission_id: Optional[str] = None, attempt_number: int = 0,
            _interval: Optional[float] = None,
            filter_ansi_code: bool = False) -> Iterator[str]:
    """Yields the lines of one log file: named, or the one of an actor's, a task's or a
    process's worker. `tail=N` starts N lines from the end; `follow` keeps reading."""
    if submission_id is not None:
        raise NotImplementedError("cyray has no job submission: pass filename, actor_id, "
                                  "task_id or pid instead of submission_id.")
    if suffix not in ("out", "err"):
        raise ValueError(f"suffix must be 'out' or 'err', not {suffix!r}")
    source = _source(address, timeout)
    try:
        node = None
        if actor_id:
            actor = next((a for a in source.actors() if a.actor_id.hex() == actor_id), None)
            if actor is None or not actor.pid:
                raise RayStateApiException(f"Actor {actor_id} has no worker process (yet).")
            node_id, pid = actor.address.node_id.hex(), actor.pid
        elif task_id:
            attempts = [t for t in _raw_tasks(source, [task_id])
                        if t.attempt_number == attempt_number]
            if not attempts or not attempts[0].worker_pid:
                raise RayStateApiException(
                    f"Task {task_id} (attempt {attempt_number}) has not run on a worker.")
            node_id, pid = attempts[0].node_id, attempts[0].worker_pid
        node = _pick_node(source, node_id, node_ip)
        if pid is not None:
            filename = _find_log_of_pid(source, node, int(pid), suffix)
        if not filename:
            raise ValueError("get_log needs filename, actor_id, task_id or pid.")
        yield from _read_lines(source, node, filename, follow, tail, encoding, errors,
                               _interval or 0.5)
    finally:
        source.close()


def _read_lines(source, node, filename, follow, tail, encoding, errors, interval):
    chunk = 1 << 20
    offset = 0
    if tail is not None and tail >= 0:
        # Enough of the end to hold `tail` lines (log lines are short).
        reply = source.read_log(node, filename, -max(chunk, 0))
        if not reply.found:
            raise RayStateApiException(f"No log file {filename} on node {node.node_id.hex()}.")
        lines = reply.data.decode(encoding or "utf-8", errors or "strict").splitlines()
        yield from lines[len(lines) - tail:] if tail else []
        offset = reply.start + len(reply.data)
    pending = b""
    while True:
        reply = source.read_log(node, filename, offset, chunk)
        if not reply.found:
            raise RayStateApiException(f"No log file {filename} on node {node.node_id.hex()}.")
        offset = reply.start + len(reply.data)
        pending += reply.data
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode(encoding or "utf-8", errors or "strict")
        if offset < reply.size:
            continue
        if not follow:
            if pending:
                yield pending.decode(encoding or "utf-8", errors or "strict")
            return
        time.sleep(interval)
