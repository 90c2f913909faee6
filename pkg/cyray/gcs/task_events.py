"""The GCS's task event table: what the state API, the timeline and `explain` read.

Every core worker sends its tasks' state changes in batches (AddTaskEventData), one
entry per task attempt per batch: the owner's (submitted, waiting for a lease, pushed to
a worker, failed) and the executing worker's (running, finished or failed).

Ingesting costs the GCS next to nothing: a batch is kept as the bytes it arrived as
(the handler is registered without a deserializer) and parsed and merged only when
someone reads the table, or when unread batches pass MERGE_AFTER_BYTES. A busy cluster
that nobody observes thus pays no Python work per task in the GCS. The table is bounded
(task_events_max_num_task_in_gcs attempts): the oldest attempts are evicted first and
counted, as are the events the workers dropped, so a reader can say how complete its
answer is.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Tuple

import grpc

from cyray.protobuf import gcs_service_pb2 as gcs_pb2

DEFAULT_MAX_NUM_TASKS = 100_000
# Unread batches are merged once they hold this many bytes (a few hundred thousand
# events), which bounds the memory they take.
MERGE_AFTER_BYTES = 64 << 20
SERVICE = "cyray.rpc.TaskInfoGcsService"


class TaskEventTable:
    """Task events by (task id, attempt), oldest attempt first. Not thread-safe: the GCS
    touches it from its one event loop."""

    def __init__(self, max_num_tasks: int = DEFAULT_MAX_NUM_TASKS,
                 merge_after_bytes: int = MERGE_AFTER_BYTES) -> None:
        self.max_num_tasks = max(1, max_num_tasks)
        self.merge_after_bytes = merge_after_bytes
        # Batches not merged yet, as received.
        self._unread: List[bytes] = []
        self._unread_bytes = 0
        # The parts (TaskEvents of different batches) of each attempt.
        self._attempts: "OrderedDict[Tuple[bytes, int], list]" = OrderedDict()
        # What does not change between attempts, by task id (sent once, by the owner),
        # and the attempts each task has in the table.
        self._info: Dict[bytes, gcs_pb2.TaskInfoEntry] = {}
        self._attempts_of: Dict[bytes, int] = {}
        self.num_dropped_on_workers = 0
        self.num_evicted = 0

    def __len__(self) -> int:
        self._merge()
        return len(self._attempts)

    def add_serialized(self, data: bytes) -> None:
        """A serialized AddTaskEventDataRequest, kept for the next read."""
        self._unread.append(data)
        self._unread_bytes += len(data)
        if self._unread_bytes > self.merge_after_bytes:
            self._merge()

    def add(self, request: gcs_pb2.AddTaskEventDataRequest) -> None:
        self.add_serialized(request.SerializeToString())

    def _merge(self) -> None:
        unread, self._unread, self._unread_bytes = self._unread, [], 0
        attempts, info, counts = self._attempts, self._info, self._attempts_of
        for data in unread:
            request = gcs_pb2.AddTaskEventDataRequest.FromString(data)
            self.num_dropped_on_workers += request.num_dropped
            for events in request.events:
                task_id = events.task_id
                key = (task_id, events.attempt_number)
                parts = attempts.get(key)
                if parts is None:
                    attempts[key] = [events]
                    counts[task_id] = counts.get(task_id, 0) + 1
                else:
                    parts.append(events)
                if task_id not in info and events.HasField("task_info"):
                    entry = events.task_info
                    if not entry.owner_worker_id:
                        entry.owner_worker_id = request.reporter_worker_id
                        entry.owner_node_id = request.reporter_node_id
                    info[task_id] = entry
        while len(attempts) > self.max_num_tasks:
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
        self._merge()
        wanted = set(request.task_ids)
        if wanted:
            keys = [key for key in self._attempts if key[0] in wanted]
        else:
            keys = list(self._attempts)
        matched = []
        for key in reversed(keys):
            parts = self._attempts[key]
            if request.job_id and parts[0].job_id != request.job_id:
                continue
            matched.append((key, parts))
            if 0 < request.limit < len(matched):
                break
        kept = matched[:request.limit] if request.limit > 0 else matched
        reply = gcs_pb2.GetTaskEventsReply(num_dropped_on_workers=self.num_dropped_on_workers,
                                           num_evicted=self.num_evicted)
        for (task_id, attempt), parts in reversed(kept):
            out = reply.events.add(task_id=task_id, attempt_number=attempt,
                                   job_id=parts[0].job_id)
            for part in parts:
                out.state_updates.extend(part.state_updates)
            info = self._info.get(task_id)
            if info is not None:
                out.task_info.CopyFrom(info)
        if request.limit > 0:
            reply.num_truncated = max(0, sum(
                1 for key in keys
                if not request.job_id or self._attempts[key][0].job_id == request.job_id)
                - len(kept))
        return reply


def add_task_info_service(server, table: TaskEventTable) -> None:
    """Registers TaskInfoGcsService on `server`: AddTaskEventData takes its request as
    raw bytes (no parsing on arrival), GetTaskEvents as usual."""

    async def add_task_event_data(data: bytes, context) -> gcs_pb2.AddTaskEventDataReply:
        table.add_serialized(data)
        return gcs_pb2.AddTaskEventDataReply()

    async def get_task_events(request, context) -> gcs_pb2.GetTaskEventsReply:
        return table.query(request)

    handlers = {
        "AddTaskEventData": grpc.unary_unary_rpc_method_handler(
            add_task_event_data, request_deserializer=None,
            response_serializer=gcs_pb2.AddTaskEventDataReply.SerializeToString),
        "GetTaskEvents": grpc.unary_unary_rpc_method_handler(
            get_task_events, request_deserializer=gcs_pb2.GetTaskEventsRequest.FromString,
            response_serializer=gcs_pb2.GetTaskEventsReply.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
