"""cyray.timeline(): every task and actor call as a Chrome trace event (load the file in
Perfetto or chrome://tracing). One complete ("X") event per task attempt that ran
(process = node, thread = worker, name = task name; the task's states are in its args),
and within it one per phase of the run, named as Ray names them
(task:deserialize_arguments, task:execute, task:store_outputs)."""

from __future__ import annotations

import json
from typing import List, Optional

# Chrome trace colours: finished calls in the default palette, failures stand out.
_COLOUR = {"FINISHED": "thread_state_running", "FAILED": "terrible"}


def timeline_events(address: Optional[str] = None) -> List[dict]:
    from cyray.util.state import list_nodes, list_tasks

    ips = {node.node_id: node.node_ip for node in list_nodes(address, limit=None)}
    events = []
    for task in list_tasks(address, limit=None, detail=True, raise_on_missing_output=False):
        if task.start_time_ms is None or task.end_time_ms is None:
            continue  # not run, or still running
        node = f"Node:{ips.get(task.node_id, '?')}:{(task.node_id or '')[:8]}"
        tid = f"worker:{(task.worker_id or '')[:8]} pid={task.worker_pid}"
        for phase in (task.profiling_data or {}).get("events", []):
            events.append({
                "cat": phase["event_name"], "name": phase["event_name"], "pid": node,
                "tid": tid, "ts": phase["start_time"] * 1000,
                "dur": max(0.001, (phase["end_time"] - phase["start_time"]) * 1000),
                "ph": "X", "args": {"task_id": task.task_id, "name": task.name}})
        events.append({
            "cat": task.type.lower(),
            "name": task.name,
            "pid": node,
            "tid": tid,
            "ts": task.start_time_ms * 1000,
            "dur": max(1, (task.end_time_ms - task.start_time_ms) * 1000),
            "ph": "X",
            "cname": _COLOUR.get(task.state, "generic_work"),
            "args": {"task_id": task.task_id, "attempt_number": task.attempt_number,
                     "state": task.state, "func_or_class_name": task.func_or_class_name,
                     "actor_id": task.actor_id, "error_type": task.error_type,
                     "events": task.events},
        })
    events.sort(key=lambda e: e["ts"])
    return events


def timeline(filename: Optional[str] = None, address: Optional[str] = None):
    """As Ray's ray.timeline: the events, or None after writing them to `filename`."""
    events = timeline_events(address)
    if filename is None:
        return events
    with open(filename, "w") as f:
        json.dump(events, f)
    return None
