"""The GCS's task event table (cyray.gcs.task_events) on its own: batches kept as bytes
and merged on read, one row per task attempt, bounded with counted evictions."""

from cyray.gcs.task_events import TaskEventTable
from cyray.protobuf import common_pb2
from cyray.protobuf import gcs_service_pb2 as gcs_pb2


def _batch(*events, dropped=0, reporter=b"w" * 28):
    request = gcs_pb2.AddTaskEventDataRequest(num_dropped=dropped, reporter_worker_id=reporter,
                                              reporter_node_id=b"n" * 28)
    for task_id, attempt, status, name in events:
        entry = request.events.add(task_id=task_id, attempt_number=attempt, job_id=b"j001")
        entry.state_updates.add(status=status, timestamp_ns=attempt * 10 + status)
        if name:
            entry.task_info.name = name
    return request.SerializeToString()


def test_batches_merge_into_one_row_per_attempt_on_read():
    table = TaskEventTable(merge_after_bytes=1 << 30)
    table.add_serialized(_batch((b"a", 0, common_pb2.PENDING_ARGS_AVAIL, "f")))
    table.add_serialized(_batch((b"a", 0, common_pb2.RUNNING, None),
                                (b"a", 1, common_pb2.RUNNING, None), dropped=3))
    assert table._attempts == {}  # nothing parsed until someone reads
    reply = table.query(gcs_pb2.GetTaskEventsRequest())
    rows = {(e.task_id, e.attempt_number): e for e in reply.events}
    assert [u.status for u in rows[(b"a", 0)].state_updates] == [
        common_pb2.PENDING_ARGS_AVAIL, common_pb2.RUNNING]
    # What does not change between attempts comes with each of them.
    assert rows[(b"a", 1)].task_info.name == "f"
    assert rows[(b"a", 0)].task_info.owner_worker_id == b"w" * 28
    assert reply.num_dropped_on_workers == 3


def test_limit_returns_the_newest_and_filters_apply():
    table = TaskEventTable()
    for i in range(5):
        table.add_serialized(_batch((bytes([i]), 0, common_pb2.FINISHED, f"t{i}")))
    reply = table.query(gcs_pb2.GetTaskEventsRequest(limit=2))
    assert [e.task_info.name for e in reply.events] == ["t3", "t4"]
    assert reply.num_truncated == 3
    reply = table.query(gcs_pb2.GetTaskEventsRequest(task_ids=[bytes([1])]))
    assert [e.task_info.name for e in reply.events] == ["t1"]
    assert table.query(gcs_pb2.GetTaskEventsRequest(job_id=b"other")).events == []


def test_the_table_is_bounded_and_counts_what_it_evicted():
    table = TaskEventTable(max_num_tasks=3, merge_after_bytes=200)
    for i in range(10):
        table.add_serialized(_batch((bytes([i]), 0, common_pb2.FINISHED, f"t{i}")))
    assert len(table) == 3
    reply = table.query(gcs_pb2.GetTaskEventsRequest())
    assert [e.task_info.name for e in reply.events] == ["t7", "t8", "t9"]
    assert reply.num_evicted == 7
    assert len(table._info) == 3  # evicted tasks' info goes with them
