"""The GCS's task event table: what the state API, the timeline and `explain` read.

Every core worker sends its tasks' state changes in batches (AddTaskEventData), one
entry per task attempt per batch: the owner's (submitted, waiting for a lease, pushed to
a worker, failed) and the executing worker's (running, finished or failed). Entries of
one attempt are merged here. The table is bounded (task_events_max_num_task_in_gcs
attempts): the oldest attempts are evicted first and counted, as are the events the
workers dropped, so a reader can say how complete its answer is.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Tuple

from cyray.protobuf import gcs_service_pb2 as gcs_pb2
from cyray.protobuf import gcs_service_pb2_grpc as gcs_grpc

DEFAULT_MAX_NUM_TASKS = 100_000


class TaskEventTable:
    """Merged task events, by (task id, attempt), oldest first. Not thread-safe: the GCS
    touches it from its one event loop."""

    def __init__(self, max_num_tasks: int = DEFAULT_MAX_NUM_TASKS) -> None:
        self.max_num_tasks = max(1, max_num_tasks)
        self._attempts: "OrderedDict[Tuple[bytes, int], gcs_pb2.TaskEvents]" = OrderedDict()
        # What does not change between attempts, by task id (sent once, by the owner).
        self._info: Dict[bytes, gcs_pb2.TaskInfoEntry] = {}
        self._attempts_of: Dict[bytes, int] = {}
        self.num_dropped_on_workers = 0
        self.num_evicted = 0

    def __len__(self) -> int:
        return len(self._attempts)

    def add(self, request: gcs_pb2.AddTaskEventDataRequest) -> None:
        self.num_dropped_on_workers += request.num_dropped
        for events in request.events:
            key = (events.task_id, events.attempt_number)
            if events.HasField("task_info") and events.task_id not in self._info:
                self._info[events.task_id] = events.task_info
            entry = self._attempts.get(key)
            if entry is None:
                entry = gcs_pb2.TaskEvents(task_id=events.task_id,
                                           attempt_number=events.attempt_number,
                                           job_id=events.job_id)
                self._attempts[key] = entry
                self._attempts_of[events.task_id] = self._attempts_of.get(events.task_id, 0) + 1
            entry.state_updates.extend(events.state_updates)
        while len(self._attempts) > self.max_num_tasks:
            self._evict_oldest()

    def _evict_oldest(self) -> None:
        (task_id, _), _ = self._attempts.popitem(last=False)
        self.num_evicted += 1
        left = self._attempts_of[task_id] - 1
        if left:
            self._attempts_of[task_id] = left
        else:
            del self._attempts_of[task_id]
            self._info.pop(task_id, None)

    def query(self, request: gcs_pb2.GetTaskEventsRequest) -> gcs_pb2.GetTaskEventsReply:
        """The attempts that match, oldest first; with a limit, the newest `limit`."""
        reply = gcs_pb2.GetTaskEventsReply(num_dropped_on_workers=self.num_dropped_on_workers,
                                           num_evicted=self.num_evicted)
        wanted = set(request.task_ids)
        matched = []
        for (task_id, _), entry in reversed(self._attempts.items()):
            if request.job_id and entry.job_id != request.job_id:
                continue
            if wanted and task_id not in wanted:
                continue
            matched.append(entry)
        kept = matched[:request.limit] if request.limit > 0 else matched
        for entry in reversed(kept):
            out = reply.events.add()
            out.CopyFrom(entry)
            info = self._info.get(entry.task_id)
            if info is not None:
                out.task_info.CopyFrom(info)
        reply.num_truncated = len(matched) - len(kept)
        return reply


class TaskInfoService(gcs_grpc.TaskInfoGcsServiceServicer):
    def __init__(self, table: TaskEventTable) -> None:
        self.table = table

    async def AddTaskEventData(self, request, context):
        self.table.add(request)
        return gcs_pb2.AddTaskEventDataReply()

    async def GetTaskEvents(self, request, context):
        return self.table.query(request)
