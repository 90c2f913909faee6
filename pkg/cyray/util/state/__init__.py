"""Ray's state API (`ray.util.state`) for cyray: what the cluster's tasks, actors,
objects, nodes, workers and jobs are doing. See api.py."""

from cyray.util.state.api import (get_actor, get_job, get_log, get_node, get_objects,
                                  get_placement_group, get_task, get_worker, list_actors,
                                  list_jobs, list_logs, list_nodes, list_objects,
                                  list_placement_groups, list_tasks, list_workers,
                                  summarize_actors, summarize_objects, summarize_tasks)
from cyray.util.state.common import (ActorState, JobState, NodeState, ObjectState,
                                     PlacementGroupState, TaskState, WorkerState)
from cyray.util.state.exception import RayStateApiException

__all__ = [
    "get_actor", "get_job", "get_log", "get_node", "get_objects", "get_placement_group",
    "get_task", "get_worker", "list_actors", "list_jobs", "list_logs", "list_nodes",
    "list_objects", "list_placement_groups", "list_tasks", "list_workers", "summarize_actors",
    "summarize_objects", "summarize_tasks", "ActorState", "JobState", "NodeState",
    "ObjectState", "PlacementGroupState", "TaskState", "WorkerState", "RayStateApiException",
]
