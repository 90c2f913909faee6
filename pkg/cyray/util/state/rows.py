"""From the cluster's protobufs to the state API's rows (common.py), field by field."""

from __future__ import annotations

from typing import Dict, List, Optional

from cyray._private import actor_death
from cyray.protobuf import common_pb2
from cyray.protobuf import gcs_service_pb2 as gcs_pb2
from cyray.util.state.common import (ActorState, JobState, NodeState, ObjectState, TaskState,
                                     WorkerState)

_TASK_STATUS = common_pb2.TaskStatus
_TERMINAL = (_TASK_STATUS.Value("FINISHED"), _TASK_STATUS.Value("FAILED"))
_RUNNING = _TASK_STATUS.Value("RUNNING")
_SUBMITTED_TO_WORKER = _TASK_STATUS.Value("SUBMITTED_TO_WORKER")
_FAILED = _TASK_STATUS.Value("FAILED")


def _hex(raw: bytes) -> Optional[str]:
    return raw.hex() if raw else None


def _ms(ns: int) -> int:
    return ns // 1_000_000


_RUNNING_STATES = (_RUNNING, _TASK_STATUS.Value("RUNNING_IN_RAY_GET"),
                   _TASK_STATUS.Value("RUNNING_IN_RAY_WAIT"))


def task_status(updates) -> int:
    """A task attempt's state: its end when it ended (a failure wins over a finish
    reported alongside it); while running, the worker's latest (it moves between
    RUNNING and blocked in get/wait, all on the worker's clock); before that, the
    furthest state the owner saw (owner and worker clocks may differ)."""
    statuses = [u.status for u in updates]
    if _FAILED in statuses:
        return _FAILED
    if _TERMINAL[0] in statuses:
        return _TERMINAL[0]
    running = [u for u in updates if u.status in _RUNNING_STATES]
    if running:
        return max(running, key=lambda u: u.timestamp_ns).status
    return max(statuses, default=0)


def task_row(events: gcs_pb2.TaskEvents) -> TaskState:
    info = events.task_info
    updates = sorted(events.state_updates, key=lambda u: u.timestamp_ns)
    status = task_status(updates)
    where = next((u for u in updates if u.status == _RUNNING), None) or next(
        (u for u in updates if u.status == _SUBMITTED_TO_WORKER), None)
    failure = next((u for u in updates if u.status == _FAILED and u.error_message), None) or \
        next((u for u in updates if u.status == _FAILED), None)
    first = {}
    for u in updates:
        first.setdefault(u.status, u.timestamp_ns)
    end = next((first[s] for s in (_FAILED, _TERMINAL[0]) if s in first), None)
    return TaskState(
        task_id=events.task_id.hex(),
        attempt_number=events.attempt_number,
        name=info.name or info.func_or_class_name.rsplit(".", 1)[-1],
        state=_TASK_STATUS.Name(status),
        job_id=events.job_id.hex(),
        actor_id=_hex(info.actor_id),
        type=common_pb2.TaskType.Name(info.type),
        func_or_class_name=info.func_or_class_name,
        parent_task_id=info.parent_task_id.hex(),
        node_id=_hex(where.node_id) if where else None,
        worker_id=_hex(where.worker_id) if where else None,
        worker_pid=(where.worker_pid or None) if where else None,
        error_type=common_pb2.ErrorType.Name(failure.error_type) if failure else None,
        language="PYTHON",
        required_resources=dict(info.required_resources),
        runtime_env_info=None,
        placement_group_id=None,
        events=[{"state": _TASK_STATUS.Name(u.status), "created_ms": _ms(u.timestamp_ns)}
                for u in updates],
        profiling_data=_profiling(updates, first.get(_RUNNING), where),
        creation_time_ms=_ms(updates[0].timestamp_ns) if updates else None,
        start_time_ms=_ms(first[_RUNNING]) if _RUNNING in first else None,
        end_time_ms=_ms(end) if end else None,
        task_log_info=None,
        error_message=failure.error_message if failure else None,
        is_debugger_paused=False,
        call_site=None,
        label_selector=None,
    )


def _profiling(updates, running_ns, where) -> Optional[dict]:
    """Where a run's time went (worker side), as Ray's profiling_data: its phases with
    start and end in ms since the epoch."""
    end = next((u for u in updates if u.HasField("profile")), None)
    if end is None or running_ns is None:
        return None
    p = end.profile
    marks = [("task:deserialize_arguments", running_ns, p.args_deserialized_ns),
             ("task:execute", p.args_deserialized_ns, p.executed_ns),
             ("task:store_outputs", p.executed_ns, p.outputs_stored_ns)]
    return {"component_type": "worker",
            "component_id": where.worker_id.hex() if where else None,
            "events": [{"event_name": name, "start_time": start / 1e6, "end_time": stop / 1e6}
                       for name, start, stop in marks if start and stop]}


def actor_row(actor: gcs_pb2.ActorTableData) -> ActorState:
    dead = actor.state == gcs_pb2.ActorTableData.DEAD
    return ActorState(
        actor_id=actor.actor_id.hex(),
        # The class's own name, as task names show it ("Counter", not "f.<locals>.Counter").
        class_name=actor.class_name.rsplit(".", 1)[-1],
        state=gcs_pb2.ActorTableData.ActorState.Name(actor.state),
        job_id=actor.job_id.hex(),
        name=actor.name,
        node_id=_hex(actor.address.node_id),
        pid=actor.pid or None,
        ray_namespace=actor.ray_namespace,
        serialized_runtime_env="{}",
        required_resources=dict(actor.required_resources),
        # The GCS records a type only for deaths other than plain ACTOR_DIED.
        death_cause={"error_type": common_pb2.ErrorType.Name(
            actor.death_error_type or common_pb2.ACTOR_DIED),
            # Ray's error_message: the cause without its header lines (class, ID, pid, IP).
            "message": actor_death.message(actor.death_cause)} if dead else None,
        is_detached=actor.is_detached,
        placement_group_id=None,
        repr_name="",
        num_restarts=actor.num_restarts,
        num_restarts_due_to_lineage_reconstruction=0,
        call_site=None,
        label_selector=None,
        start_time_ms=actor.start_time_ms or None,
        end_time_ms=actor.end_time_ms or None,
    )


def node_row(node: gcs_pb2.GcsNodeInfo) -> NodeState:
    return NodeState(
        node_id=node.node_id.hex(),
        node_ip=node.node_manager_address,
        is_head_node=node.is_head_node,
        state=gcs_pb2.GcsNodeInfo.State.Name(node.state),
        state_message=node.death_reason or None,
        node_name=node.node_name,
        resources_total=dict(node.resources_total),
        labels=dict(node.labels),
        start_time_ms=node.start_time_ms or None,
        end_time_ms=node.end_time_ms or None,
    )


def job_row(job: gcs_pb2.JobTableData) -> JobState:
    return JobState(
        job_id=job.job_id.hex(),
        type="DRIVER",
        # A driver's job ends when it disconnects; how it exited is not recorded.
        status="SUCCEEDED" if job.is_dead else "RUNNING",
        entrypoint=job.entrypoint,
        start_time=job.start_time_ms or None,
        end_time=job.end_time_ms or None,
        driver_info={"id": job.driver_address.worker_id.hex(),
                     "node_ip_address": job.driver_address.ip_address,
                     "pid": str(job.driver_pid)},
        driver_node_id=_hex(job.driver_address.node_id),
        namespace=job.namespace,
    )


def alive_worker_row(node, worker) -> WorkerState:
    return WorkerState(
        worker_id=worker.worker_id.hex(), is_alive=True,
        worker_type="DRIVER" if worker.is_driver else "WORKER", exit_type=None,
        node_id=node.node_id.hex(), ip=worker.ip_address or node.node_manager_address,
        pid=worker.pid or None)


def dead_worker_row(failure: gcs_pb2.WorkerFailureData, ips: Dict[bytes, str]) -> WorkerState:
    report = failure.report
    return WorkerState(
        worker_id=report.worker_id.hex(), is_alive=False,
        worker_type="DRIVER" if report.is_driver else "WORKER",
        exit_type="INTENDED_USER_EXIT" if report.intentional else "SYSTEM_ERROR",
        node_id=report.node_id.hex(), ip=ips.get(report.node_id, ""), pid=None,
        exit_detail=report.message, end_time_ms=failure.time_ms)


def reference_type(ref) -> str:
    """Ray's reference types, from the counts of one process's reference table."""
    if ref.local_refs > 0:
        return "LOCAL_REFERENCE"
    if ref.submitted_task_refs > 0:
        return "USED_BY_PENDING_TASK"
    return "PINNED_IN_MEMORY"


def object_rows(node, reply, task_states: Dict[bytes, str]) -> List[ObjectState]:
    rows = []
    for ref in reply.object_refs:
        if ref.ready:
            status = "FINISHED"
        else:
            status = task_states.get(task_id_of(ref.object_id), "PENDING_NODE_ASSIGNMENT")
        rows.append(ObjectState(
            object_id=ref.object_id.hex(), object_size=ref.object_size,
            task_status=status, attempt_number=0, reference_type=reference_type(ref),
            call_site=ref.call_site or "disabled",
            type="DRIVER" if reply.is_driver else "WORKER", pid=reply.pid,
            ip=reply.ip_address, node_id=node.node_id.hex(), owned=ref.owned))
    return rows


def task_id_of(object_id: bytes) -> bytes:
    """The task that makes an object: its ID's first 24 bytes (common/id.h)."""
    return object_id[:24]
