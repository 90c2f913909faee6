"""Why is this ObjectRef not ready? `cyray.util.explain(ref)` (and `cyray explain ID`)
answers in one paragraph: which task makes it, its state, what it waits for and what to
do about it. Built from the task events in the GCS, the raylets' queues and resources,
and the actor and node tables; nothing on the task path.

A `get` that has waited longer than get_explain_after_s logs this explanation once.
"""

from __future__ import annotations

import time
from typing import Dict, List, Optional

from cyray._private import actor_death
from cyray.protobuf import common_pb2
from cyray.protobuf import gcs_service_pb2 as gcs_pb2
from cyray.util.state import rows
from cyray.util.state.source import StateSource

_PENDING_ARGS = common_pb2.TaskStatus.Value("PENDING_ARGS_AVAIL")
_PENDING_NODE = common_pb2.TaskStatus.Value("PENDING_NODE_ASSIGNMENT")


def _fmt_amount(name: str, amount: float) -> str:
    if name in ("memory", "object_store_memory"):
        return f"{amount / 2**30:.1f} GiB"
    return f"{amount:g}"


def _fmt_resources(shape: Dict[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {_fmt_amount(k, v)}" for k, v in sorted(shape.items())) + "}"


def _short(hex_id: Optional[str]) -> str:
    return (hex_id or "?")[:12]


def _own_worker_id() -> bytes:
    """This process's worker ID, or b"" when it is not connected (the CLI)."""
    from cyray._private.worker import global_worker

    try:
        return global_worker.core_worker.get_worker_id().binary()
    except Exception:
        return b""


class _Explainer:
    def __init__(self, source: StateSource):
        self.source = source
        self._nodes = None
        self._stats = None

    def nodes(self) -> List[gcs_pb2.GcsNodeInfo]:
        if self._nodes is None:
            self._nodes = self.source.nodes()
        return self._nodes

    def node_stats(self):
        if self._stats is None:
            self._stats = self.source.all_node_stats()
        return self._stats

    def node_name(self, node_id_hex: Optional[str]) -> str:
        for node in self.nodes():
            if node.node_id.hex() == node_id_hex:
                return f"{node.node_manager_address} ({_short(node_id_hex)})"
        return _short(node_id_hex)

    def latest_attempt(self, task_id: bytes):
        events = self.source.task_events(task_ids=[task_id]).events
        return max(events, key=lambda e: e.attempt_number) if events else None

    # ---- the parts of the paragraph ---------------------------------------------------

    def owner_problem(self, owner_address: bytes) -> Optional[str]:
        if not owner_address:
            return None
        owner = common_pb2.Address.FromString(owner_address)
        if owner.worker_id == _own_worker_id():
            return None  # the process asking owns it: alive, whatever its node's record says
        for node in self.nodes():
            if node.node_id == owner.node_id and node.state == node.DEAD:
                return (f"Its owner (the process that created the ref, worker "
                        f"{_short(owner.worker_id.hex())}) was on node "
                        f"{node.node_manager_address}, which died ({node.death_reason}): "
                        "the object cannot be made or found any more (OwnerDiedError).")
        for failure in self.source.worker_failures():
            if failure.report.worker_id == owner.worker_id:
                return (f"Its owner (worker {_short(owner.worker_id.hex())}) died: "
                        f"{failure.report.message or 'no cause recorded'}. The object cannot "
                        "be made or found any more (OwnerDiedError).")
        return None

    def waiting_arguments(self, events) -> str:
        deps = list(events.task_info.dependencies)
        blocking = []
        for dep in deps:
            upstream = self.latest_attempt(rows.task_id_of(dep))
            if upstream is None:
                continue
            row = rows.task_row(upstream)
            if row.state == "FINISHED":
                continue
            where = f" on node {self.node_name(row.node_id)}" if row.node_id else ""
            blocking.append(f"argument {dep.hex()[:16]}… made by task {row.name} "
                            f"(task {_short(row.task_id)}, {row.state}{where})")
        if not blocking:
            return ("It waits for its arguments to be resolved; they are ready or made by "
                    "tasks whose events have not arrived yet.")
        text = "It waits for " + "; ".join(blocking[:3])
        if len(blocking) > 3:
            text += f"; and {len(blocking) - 3} more arguments"
        return text + ". Explain those refs to see what holds them up."

    def waiting_lease(self, row) -> str:
        shape = {k: v for k, v in (row.required_resources or {}).items() if v > 0}
        stats = self.node_stats()
        fits = [(node, s) for node, s in stats
                if all(s.resources_total.get(k, 0) >= v for k, v in shape.items())]
        if not fits:
            have = {}
            for _, s in stats:
                for k, v in s.resources_total.items():
                    if not k.startswith("node:"):
                        have[k] = have.get(k, 0) + v
            missing = [k for k, v in shape.items()
                       if not any(s.resources_total.get(k, 0) >= v for _, s in stats)]
            return (f"It needs {_fmt_resources(shape)}, and no alive node has "
                    f"{' or '.join(missing) or 'all of it at once'} (the cluster has "
                    f"{_fmt_resources(have)}): it is infeasible and waits until a node that "
                    "fits joins. Add such a node (cyray start --resources / "
                    "Cluster.add_node) or ask for less.")
        parts = []
        for node, s in fits:
            free = ", ".join(f"{s.resources_available.get(k, 0):g} of "
                             f"{s.resources_total.get(k, 0):g} {k}" for k in sorted(shape))
            queued = [q for q in s.queued_leases if dict(q.shape) == shape or
                      {k: v for k, v in q.shape.items() if v > 0} == shape]
            ahead = sum(1 + q.backlog_size for q in queued)
            parts.append(f"node {node.node_manager_address} has {free} free"
                         + (f" and {ahead} tasks of this shape (this one among them) wait "
                            "for a lease there" if ahead else ""))
        return (f"It waits for a worker lease for {_fmt_resources(shape)}: "
                + "; ".join(parts) + ". It runs when one of them frees up (earlier tasks "
                "finish); add nodes or CPUs to run more at once.")

    def actor_problem(self, actor_id_hex: str) -> Optional[str]:
        for actor in self.source.actors():
            if actor.actor_id.hex() != actor_id_hex:
                continue
            state = gcs_pb2.ActorTableData.ActorState.Name(actor.state)
            if state == "ALIVE":
                return None
            if state == "DEAD":
                return (f"Its actor {actor.class_name} is DEAD: "
                        f"{actor_death.message(actor.death_cause)}")
            return (f"Its actor {actor.class_name} is {state}: the call is sent once the "
                    "actor is alive (see `cyray get actors " + actor_id_hex + "`).")
        return None

    def explain_task(self, events, object_hex: str) -> str:
        row = rows.task_row(events)
        name = f"task {row.name} (task {_short(row.task_id)}, attempt {row.attempt_number})"
        head = f"ObjectRef {object_hex[:16]}… is made by {name}, now {row.state}."
        state = row.state
        status = common_pb2.TaskStatus.Value(state)
        if state == "FINISHED":
            pulls = [node for node, s in self.node_stats()
                     if bytes.fromhex(object_hex) in s.pulls_in_progress]
            if pulls:
                return head + (" Its value is being transferred to node "
                               f"{pulls[0].node_manager_address}.")
            return head + " The value is ready (a get returns it at once)."
        if state == "FAILED":
            message = (row.error_message or "").strip().splitlines()
            return head + (f" It failed with {row.error_type}"
                           + (f": {message[-1]}" if message else "") + ".")
        if status == _PENDING_ARGS:
            return head + " " + self.waiting_arguments(events)
        if row.actor_id and row.type == "ACTOR_TASK":
            problem = self.actor_problem(row.actor_id)
            if problem:
                return head + " " + problem
        if status == _PENDING_NODE:
            return head + " " + self.waiting_lease(row)
        where = f"node {self.node_name(row.node_id)}, worker pid {row.worker_pid}"
        if state == "SUBMITTED_TO_WORKER":
            busy = ("its actor runs earlier calls first" if row.type == "ACTOR_TASK"
                    else "the worker runs the tasks pushed to it before this one")
            return head + f" It was sent to {where}; {busy}."
        if state.startswith("RUNNING"):
            started = row.events and next(
                (e["created_ms"] for e in row.events if e["state"] == "RUNNING"), None)
            took = f" for {time.time() - started / 1000:.1f} s" if started else ""
            blocked = ""
            if state != "RUNNING":
                blocked = (f" It is blocked in {'get' if state.endswith('GET') else 'wait'}() "
                           "on objects other tasks make: explain the refs it waits for.")
            return head + (f" It has been running{took} on {where}.{blocked} See what it "
                           f"does with `cyray stack` or its output with `cyray logs worker "
                           f"--pid {row.worker_pid}`.")
        return head


def explain(ref, address: Optional[str] = None) -> str:
    """One paragraph on why `ref` (an ObjectRef, or an object or task ID in hex) is not
    ready, and what to do."""
    owner_address = b""
    if hasattr(ref, "binary") and hasattr(ref, "owner_address"):
        object_id = ref.binary()
        owner_address = ref.owner_address() or b""
    else:
        try:
            object_id = bytes.fromhex(str(ref))
        except ValueError:
            object_id = b""
        if len(object_id) not in (24, 28):
            raise ValueError(f"explain() takes an ObjectRef, or an object (56 hex digits) or "
                             f"task ID (48 hex digits); got {ref!r}")
    object_hex = object_id.hex()
    with StateSource(address) as source:
        explainer = _Explainer(source)
        owner = explainer.owner_problem(owner_address)
        if owner:
            return f"ObjectRef {object_hex[:16]}…: {owner}"
        events = explainer.latest_attempt(object_id[:24])
        if events is None:
            return (f"ObjectRef {object_hex[:16]}…: no task that makes it is known to the "
                    "cluster. It was made by put() (then it is ready while its owner lives), "
                    "or its task's events have not reached the GCS yet (they are sent about "
                    "once a second), or the task was submitted with enable_task_events=False.")
        return explainer.explain_task(events, object_hex)
