"""get_runtime_context(): what the current driver, task or actor is, as Ray's
RuntimeContext. Everything about the running task is read from the C++ core's
execution context (per executor thread; coroutines carry a snapshot), never
from process-wide fields."""

import os

from cyray._private.worker import WORKER_MODE, global_worker


class RuntimeContext:
    def __init__(self, worker):
        self._worker = worker

    def _context(self):
        self._worker.check_connected()
        return self._worker.task_context()

    def get(self):
        """A dict of the job, node, namespace and (in a task) task and actor IDs."""
        self._worker.check_connected()
        out = {"job_id": self.job_id, "node_id": self.node_id, "namespace": self.namespace}
        if self._worker.mode == WORKER_MODE:
            context = self._context()
            if context is not None:
                out["task_id"] = context.task_id
            if self._worker.actor is not None:
                out["actor_id"] = self._worker.core_worker.get_current_actor_id()
        return out

    def get_job_id(self):
        self._worker.check_connected()
        return self._worker.core_worker.get_job_id().hex()

    def get_node_id(self):
        self._worker.check_connected()
        return self._worker.core_worker.get_node_id().hex()

    def get_worker_id(self):
        self._worker.check_connected()
        return self._worker.core_worker.get_worker_id().hex()

    def get_task_id(self):
        """The running task's ID in hex; None in a driver."""
        context = self._context()
        return context.task_id.hex() if context is not None else None

    def is_canceled(self):
        """Whether cancel() was called for the running task or actor call (a sync actor
        method is not interrupted: it may check this and stop); False in a driver."""
        context = self._context()
        if context is None:
            return False
        return self._worker.core_worker.is_task_cancelled(context.task_id.binary())

    def get_task_name(self):
        """The running task's name (an actor call's is "Class.method"); None in a driver."""
        context = self._context()
        return context.name if context is not None else None

    def get_task_function_name(self):
        return self.get_task_name()

    def get_actor_id(self):
        """The running actor's ID in hex; None outside an actor."""
        self._worker.check_connected()
        actor_id = self._worker.core_worker.get_current_actor_id()
        return actor_id.hex() if actor_id is not None else None

    def get_actor_name(self):
        """The name the current actor was given ("" when unnamed); None outside an actor."""
        self._worker.check_connected()
        if self._worker.actor is None:
            return None
        return self._worker.actor_name

    @property
    def current_actor(self):
        """A handle to the actor this code runs in (raises outside an actor, as Ray)."""
        from cyray.actor import ActorHandle, _method_meta

        worker = self._worker
        worker.check_connected()
        actor_id = worker.core_worker.get_current_actor_id()
        if actor_id is None or worker.actor is None:
            raise RuntimeError("This method is only available in an actor.")
        worker.core_worker.add_actor_handle(actor_id)
        return ActorHandle(actor_id, worker.actor_module, worker.actor_class_name,
                           _method_meta(type(worker.actor)))

    @property
    def was_current_actor_reconstructed(self):
        """Whether this actor was restarted after a failure."""
        self._worker.check_connected()
        if self._worker.actor is None:
            raise AssertionError("This method should't be called inside Ray tasks.")
        return self._worker.actor_reconstructed

    def get_assigned_resources(self):
        """The resources held by the running task or actor, e.g. {"CPU": 1.0}."""
        context = self._context()
        if context is None:
            return {}
        return {name: amount for name, amount in context.resource_amounts.items() if amount > 0}

    def get_accelerator_ids(self):
        """{"GPU": ["0", ...]}: the accelerator IDs held by the running task or actor."""
        self._worker.check_connected()
        return {"GPU": [str(i) for i in self._worker.gpu_ids()]}

    def get_resource_ids(self):
        """The same as get_accelerator_ids() (Ray's older name)."""
        return self.get_accelerator_ids()

    def _node_info(self):
        """This process's node as the GCS records it."""
        from cyray._private.state import _node_infos

        self._worker.check_connected()
        node_id = self._worker.core_worker.get_node_id().binary()
        for info in _node_infos():
            if info.node_id == node_id:
                return info
        raise RuntimeError(f"The GCS does not know this process's node {node_id.hex()}.")

    def get_node_labels(self):
        """The labels of this process's node, e.g. {"ray.io/node-id": "..."}."""
        return dict(self._node_info().labels)

    def get_session_name(self):
        """The name of the cluster's session ("session_<date>_<pid>_..."), the same in
        every process of the cluster."""
        if not self._worker.connected:
            raise RuntimeError(
                "Session name is not available because cyray has not been initialized.")
        return os.path.basename(self._node_info().session_dir.rstrip("/"))

    def get_temp_dir(self):
        """The directory holding this node's session directory."""
        if not self._worker.connected:
            raise AssertionError(
                "Temp directory is not available because cyray has not been initialized.")
        return os.path.dirname(self._node_info().session_dir.rstrip("/"))

    def get_placement_group_id(self):
        """The placement group of the running task in hex; None (cyray has no placement
        groups yet)."""
        return None

    @property
    def current_placement_group_id(self):
        """The running task's PlacementGroupID: nil (cyray has no placement groups yet)."""
        from cyray._raylet import PlacementGroupID

        return PlacementGroupID.nil()

    def get_runtime_env_string(self):
        return "{}"

    @property
    def runtime_env(self):
        return {}

    @property
    def should_capture_child_tasks_in_placement_group(self):
        return False

    @property
    def gcs_address(self):
        return self._worker.gcs_address

    @property
    def namespace(self):
        return self._worker.namespace

    @property
    def job_id(self):
        return self._worker.core_worker.get_job_id()

    @property
    def node_id(self):
        return self._worker.core_worker.get_node_id()

    @property
    def task_id(self):
        context = self._context()
        return context.task_id if context is not None else None

    @property
    def actor_id(self):
        self._worker.check_connected()
        return self._worker.core_worker.get_current_actor_id()


def get_runtime_context():
    return RuntimeContext(global_worker)
