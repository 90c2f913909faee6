"""The rows the state API returns: dataclasses with Ray's field names (`detail=True`
fields are filled only when asked for detail, as in Ray)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional

# Ray's filter predicates.
SUPPORTED_PREDICATES = ("=", "!=")


def _detail(default=None):
    return field(default=default, metadata={"detail": True})


class StateSchema:
    """Base of the row classes: Ray's column helpers, and dict-style access."""

    @classmethod
    def list_columns(cls, detail: bool = True) -> List[str]:
        return [f.name for f in fields(cls) if detail or not f.metadata.get("detail")]

    @classmethod
    def filterable_columns(cls) -> List[str]:
        return cls.list_columns(detail=False)

    def asdict(self) -> Dict[str, Any]:
        return asdict(self)

    def __getitem__(self, key):
        return getattr(self, key)

    def get(self, key, default=None):
        return getattr(self, key, default)


@dataclass
class TaskState(StateSchema):
    task_id: str
    attempt_number: int
    name: str
    state: str
    job_id: str
    actor_id: Optional[str]
    type: str
    func_or_class_name: str
    parent_task_id: str
    node_id: Optional[str]
    worker_id: Optional[str]
    worker_pid: Optional[int]
    error_type: Optional[str]
    language: Optional[str] = _detail()
    required_resources: Optional[dict] = _detail()
    runtime_env_info: Optional[dict] = _detail()
    placement_group_id: Optional[str] = _detail()
    events: Optional[List[dict]] = _detail()
    profiling_data: Optional[dict] = _detail()
    creation_time_ms: Optional[int] = _detail()
    start_time_ms: Optional[int] = _detail()
    end_time_ms: Optional[int] = _detail()
    task_log_info: Optional[dict] = _detail()
    error_message: Optional[str] = _detail()
    is_debugger_paused: Optional[bool] = _detail()
    call_site: Optional[str] = _detail()
    label_selector: Optional[dict] = _detail()


@dataclass
class ActorState(StateSchema):
    actor_id: str
    class_name: str
    state: str
    job_id: str
    name: Optional[str]
    node_id: Optional[str]
    pid: Optional[int]
    ray_namespace: Optional[str]
    serialized_runtime_env: Optional[str] = _detail()
    required_resources: Optional[dict] = _detail()
    death_cause: Optional[dict] = _detail()
    is_detached: Optional[bool] = _detail()
    placement_group_id: Optional[str] = _detail()
    repr_name: Optional[str] = _detail()
    num_restarts: Optional[int] = _detail()
    num_restarts_due_to_lineage_reconstruction: Optional[int] = _detail()
    call_site: Optional[str] = _detail()
    label_selector: Optional[dict] = _detail()
    start_time_ms: Optional[int] = _detail()
    end_time_ms: Optional[int] = _detail()


@dataclass
class ObjectState(StateSchema):
    object_id: str
    object_size: int
    task_status: str
    attempt_number: int
    reference_type: str
    call_site: str
    type: str
    pid: int
    ip: str
    node_id: Optional[str] = _detail()
    owned: Optional[bool] = _detail()


@dataclass
class NodeState(StateSchema):
    node_id: str
    node_ip: str
    is_head_node: bool
    state: str
    state_message: Optional[str]
    node_name: str
    resources_total: dict
    labels: dict
    start_time_ms: Optional[int] = _detail()
    end_time_ms: Optional[int] = _detail()


@dataclass
class WorkerState(StateSchema):
    worker_id: str
    is_alive: bool
    worker_type: str
    exit_type: Optional[str]
    node_id: str
    ip: str
    pid: Optional[int]
    exit_detail: Optional[str] = _detail()
    worker_launch_time_ms: Optional[int] = _detail()
    worker_launched_time_ms: Optional[int] = _detail()
    start_time_ms: Optional[int] = _detail()
    end_time_ms: Optional[int] = _detail()
    debugger_port: Optional[int] = _detail()
    num_paused_threads: Optional[int] = _detail()


@dataclass
class JobState(StateSchema):
    job_id: str
    type: str
    status: str
    entrypoint: str
    submission_id: Optional[str] = None
    message: Optional[str] = None
    error_type: Optional[str] = None
    start_time: Optional[int] = None
    end_time: Optional[int] = None
    metadata: Optional[dict] = None
    runtime_env: Optional[dict] = None
    driver_info: Optional[dict] = None
    driver_node_id: Optional[str] = None
    driver_exit_code: Optional[int] = None
    namespace: Optional[str] = None


@dataclass
class PlacementGroupState(StateSchema):
    placement_group_id: str
    name: str
    creator_job_id: str
    state: str
    bundles: Optional[List[dict]] = _detail()
    is_detached: Optional[bool] = _detail()
    stats: Optional[dict] = _detail()
