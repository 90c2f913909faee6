"""get_runtime_context(): what the current driver or task is."""

from cyray._private.worker import global_worker


class RuntimeContext:
    def __init__(self, worker):
        self._worker = worker

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
        self._worker.check_connected()
        task_id = self._worker.current_task_id
        return task_id.hex() if task_id is not None else None

    def get_actor_id(self):
        """The running actor's ID in hex; None outside an actor."""
        self._worker.check_connected()
        actor_id = self._worker.core_worker.get_current_actor_id()
        return actor_id.hex() if actor_id is not None else None

    @property
    def gcs_address(self):
        return self._worker.gcs_address

    def get_assigned_resources(self):
        return {name: float(len(ids)) for name, ids in self._worker.current_resource_ids.items()}

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
        return self._worker.current_task_id

    def get(self):
        return {"job_id": self.job_id, "node_id": self.node_id, "task_id": self.task_id,
                "namespace": self.namespace}


def get_runtime_context():
    return RuntimeContext(global_worker)
