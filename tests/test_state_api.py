"""The state API (cyray.util.state) and the task events behind it, against real clusters.

Task events reach the GCS about once a second (task_events_report_interval_ms), so each
check waits for the rows it expects."""

import json
import os
import textwrap

import numpy as np
import pytest

import cyray
from cyray.util import state
from cyray.util.state.source import StateSource

from conftest import run_driver_script, wait_for


def _tasks_named(name, **kwargs):
    return [t for t in state.list_tasks(limit=None, **kwargs) if t.name == name]


def _ended(name, count, **kwargs):
    """The `count` attempts of tasks named `name`, once all have ended."""
    def ended():
        tasks = _tasks_named(name, **kwargs)
        done = len(tasks) == count and all(t.state in ("FINISHED", "FAILED") for t in tasks)
        return done and tasks
    return wait_for(ended, 15, message=f"{count} ended {name} tasks")


def test_tasks_move_through_their_states_and_failures_carry_the_error(ray_start_shared):
    @cyray.remote
    def state_ok(x):
        return x

    @cyray.remote
    def state_boom():
        raise ValueError("boom from state_boom")

    cyray.get([state_ok.remote(i) for i in range(3)])
    with pytest.raises(ValueError):
        cyray.get(state_boom.remote())
    ok = _ended("state_ok", 3, detail=True)
    for task in ok:
        assert task.state == "FINISHED"
        assert task.type == "NORMAL_TASK"
        assert task.func_or_class_name.endswith("state_ok")
        assert task.worker_pid and task.node_id and task.worker_id
        states = [e["state"] for e in task.events]
        assert states[0] == "PENDING_ARGS_AVAIL"
        assert states.index("RUNNING") < states.index("FINISHED")
        assert task.creation_time_ms <= task.start_time_ms <= task.end_time_ms
        assert task.required_resources == {"CPU": 1.0}
    failed = _ended("state_boom", 1, detail=True)
    assert failed[0].state == "FAILED"
    assert failed[0].error_type == "TASK_EXECUTION_EXCEPTION"
    assert "boom from state_boom" in failed[0].error_message
    assert "Traceback" in failed[0].error_message
    # Without detail, the detail columns are left empty, as Ray.
    plain = _tasks_named("state_boom")[0]
    assert plain.error_message is None and plain.events is None and plain.state == "FAILED"


def test_filters_limit_and_get_task(ray_start_shared):
    @cyray.remote
    def state_filtered(x):
        return x

    refs = [state_filtered.remote(i) for i in range(4)]
    cyray.get(refs)
    _ended("state_filtered", 4)
    finished = state.list_tasks(filters=[("name", "=", "state_filtered"),
                                         ("state", "=", "finished")])
    assert len(finished) == 4
    assert state.list_tasks(filters=[("name", "=", "state_filtered"),
                                     ("state", "!=", "FINISHED")]) == []
    assert len(state.list_tasks(filters=[("name", "=", "state_filtered")], limit=2)) == 2
    one = state.get_task(refs[0].task_id().hex())
    assert one.name == "state_filtered" and one.state == "FINISHED"
    assert state.get_task(refs[1]).task_id == refs[1].task_id().hex()
    assert state.get_task("00" * 24) is None
    with pytest.raises(state.RayStateApiException, match="filter column"):
        state.list_tasks(filters=[("no_such_column", "=", 1)])
    with pytest.raises(state.RayStateApiException, match="predicate"):
        state.list_tasks(filters=[("state", ">", 1)])


def test_retries_are_attempts_and_disabled_tasks_are_not_recorded(ray_start_shared, tmp_path):
    marker = str(tmp_path / "attempted")

    @cyray.remote(max_retries=1, retry_exceptions=True)
    def state_flaky(path):
        if not os.path.exists(path):
            open(path, "w").close()
            raise RuntimeError("first attempt fails")
        return "ok"

    @cyray.remote
    def state_hidden():
        return 1

    assert cyray.get(state_flaky.remote(marker)) == "ok"
    cyray.get(state_hidden.options(enable_task_events=False).remote())
    attempts = _ended("state_flaky", 2)
    by_attempt = {t.attempt_number: t for t in attempts}
    assert by_attempt[0].state == "FAILED" and by_attempt[1].state == "FINISHED"
    assert by_attempt[0].func_or_class_name == by_attempt[1].func_or_class_name
    assert state.get_task(attempts[0].task_id).attempt_number == 1
    assert _tasks_named("state_hidden") == []


def test_actors_and_their_calls(ray_start_shared):
    @cyray.remote
    class StateCounter:
        def bump(self):
            return os.getpid()

    @cyray.remote(enable_task_events=False)
    class StateQuiet:
        def hello(self):
            return 1

    counter = StateCounter.options(name="state_counter").remote()
    pid = cyray.get(counter.bump.remote())
    quiet = StateQuiet.remote()
    cyray.get(quiet.hello.remote())
    actor = wait_for(lambda: state.get_actor(counter._actor_id.hex()), 10, message="actor")
    assert actor.class_name == "StateCounter" and actor.state == "ALIVE"
    assert actor.name == "state_counter" and actor.pid == pid
    assert actor.required_resources == {} and actor.start_time_ms
    calls = _ended("StateCounter.bump", 1)
    assert calls[0].type == "ACTOR_TASK" and calls[0].actor_id == counter._actor_id.hex()
    assert calls[0].worker_pid == pid
    creation = wait_for(lambda: [t for t in state.list_tasks(limit=None)
                                 if t.type == "ACTOR_CREATION_TASK" and t.state == "FINISHED"
                                 and t.actor_id == counter._actor_id.hex()], 10,
                        message="the creation task")
    assert creation[0].state == "FINISHED"
    assert _tasks_named("StateQuiet.hello") == []
    cyray.kill(counter)
    dead = wait_for(lambda: (a := state.get_actor(counter._actor_id.hex())).state == "DEAD"
                    and a, 10, message="actor dead")
    assert dead.death_cause["error_type"] == "ACTOR_DIED" and dead.end_time_ms
    summary = state.summarize_actors()["cluster"]
    assert summary["summary"]["StateCounter"]["state_counts"]["DEAD"] >= 1
    cyray.kill(quiet)


def test_summary_counts_tasks_by_name_and_state(ray_start_shared):
    @cyray.remote
    def state_summed(fail):
        if fail:
            raise KeyError("x")
        return 1

    refs = [state_summed.remote(i == 0) for i in range(5)]
    cyray.wait(refs, num_returns=5)

    def counts():
        entry = state.summarize_tasks()["cluster"]["summary"].get("state_summed")
        return entry and entry["state_counts"]

    assert wait_for(lambda: counts() == {"FINISHED": 4, "FAILED": 1} and counts(), 10,
                    message="summary") == {"FINISHED": 4, "FAILED": 1}
    summary = state.summarize_tasks()["cluster"]
    assert summary["summary"]["state_summed"]["type"] == "NORMAL_TASK"
    assert summary["total_tasks"] >= 5 and summary["summary_by"] == "func_name"


def test_nodes_jobs_workers_and_objects(ray_start_shared):
    @cyray.remote
    def state_big():
        return np.ones(300_000)

    big = state_big.remote()
    cyray.get(big)
    small = cyray.put("small")
    nodes = state.list_nodes()
    assert len(nodes) == 1 and nodes[0].state == "ALIVE" and nodes[0].is_head_node
    assert nodes[0].resources_total["CPU"] == 2
    assert state.get_node(nodes[0].node_id).node_ip == nodes[0].node_ip
    jobs = state.list_jobs()
    me = [j for j in jobs if j.driver_info["pid"] == str(os.getpid())]
    assert me and me[0].status == "RUNNING" and me[0].type == "DRIVER"
    workers = state.list_workers(limit=None)
    drivers = [w for w in workers if w.worker_type == "DRIVER" and w.pid == os.getpid()]
    assert drivers and drivers[0].is_alive
    assert any(w.worker_type == "WORKER" for w in workers)
    objects = {o.object_id: o for o in state.list_objects(limit=None, detail=True)}
    assert objects[big.hex()].object_size >= 300_000 * 8
    assert objects[big.hex()].reference_type == "LOCAL_REFERENCE"
    assert objects[big.hex()].type == "DRIVER" and objects[big.hex()].pid == os.getpid()
    assert 0 < objects[small.hex()].object_size < 1000
    assert state.get_objects(small.hex())[0].object_id == small.hex()
    totals = state.summarize_objects()["cluster"]
    assert totals["total_objects"] >= 2 and totals["total_size_mb"] > 2


def test_call_sites_are_recorded_when_asked(tmp_path):
    run = run_driver_script(tmp_path, textwrap.dedent("""
        import os
        os.environ["CYRAY_record_ref_creation_sites"] = "1"
        import json, cyray
        from cyray.util import state
        cyray.init(num_cpus=1)
        ref = cyray.put(123)
        rows = state.get_objects(ref.hex())
        print(json.dumps([r.call_site for r in rows]))
        cyray.shutdown()
    """), timeout=60)
    assert run.returncode == 0, run.stderr
    sites = json.loads(run.stdout.strip().splitlines()[-1])
    assert sites and sites[0].startswith("(put object) ") and "driver.py:7" in sites[0]


def test_logs_of_an_actor_can_be_listed_and_read(ray_start_shared):
    @cyray.remote
    class StateLogger:
        def say(self, text):
            print(text, flush=True)
            return os.getpid()

    speaker = StateLogger.remote()
    cyray.get(speaker.say.remote("state-log-marker-1234"))
    logs = state.list_logs()
    assert "raylet" in logs and logs["worker_out"]
    lines = wait_for(lambda: [line for line in state.get_log(actor_id=speaker._actor_id.hex())
                              if "state-log-marker-1234" in line], 10, message="the line")
    assert len(lines) == 1 and lines[0].endswith("state-log-marker-1234")
    assert list(state.get_log(actor_id=speaker._actor_id.hex(), tail=1)) == lines
    cyray.kill(speaker)


def test_the_task_event_tables_stay_bounded(tmp_path):
    """100,000 tasks through a 500-event process buffer and a 2,000-attempt GCS table:
    both stay within their bounds and say how much they dropped."""
    run = run_driver_script(tmp_path, textwrap.dedent("""
        import os
        os.environ["CYRAY_task_events_max_buffer_size"] = "500"
        os.environ["CYRAY_task_events_max_num_task_in_gcs"] = "2000"
        import json, resource, time, cyray
        from cyray.util.state.source import StateSource
        cyray.init(num_cpus=2)
        @cyray.remote
        def tiny(x):
            return x
        cyray.get([tiny.remote(i) for i in range(2000)])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(49):
            cyray.get([tiny.remote(i) for i in range(2000)])
        grew_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        time.sleep(1.5)
        with StateSource() as source:
            reply = source.task_events()
        print(json.dumps([len(reply.events), reply.num_dropped_on_workers, reply.num_evicted,
                          grew_kb]))
        cyray.shutdown()
    """), timeout=240)
    assert run.returncode == 0, run.stderr
    kept, dropped, evicted, grew_kb = json.loads(run.stdout.strip().splitlines()[-1])
    assert 0 < kept <= 2000
    assert dropped > 0  # the processes' 500-event buffers overflowed between flushes
    assert evicted > 0
    # Nothing grows with the number of tasks run (each batch's refs are gone).
    assert grew_kb < 100 * 1024, f"the driver grew by {grew_kb} KiB over 98,000 tasks"


def test_a_two_node_cluster_lists_both_nodes_and_where_tasks_ran():
    from cyray.cluster_utils import Cluster

    if cyray.is_initialized():
        cyray.shutdown()  # the module's shared cluster
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1, resources={"state_side": 1})
        cluster.wait_for_nodes()
        cluster.connect()

        @cyray.remote(resources={"state_side": 1})
        def state_on_side():
            return cyray.get_runtime_context().get_node_id()

        node_id = cyray.get(state_on_side.remote())
        nodes = state.list_nodes()
        assert len(nodes) == 2 and {n.state for n in nodes} == {"ALIVE"}
        task = _ended("state_on_side", 1)[0]
        assert task.node_id == node_id
        with StateSource() as source:
            assert len(source.all_node_stats()) == 2
        workers = state.list_workers(limit=None)
        assert {w.node_id for w in workers} == {n.node_id for n in nodes}

        @cyray.remote(resources={"state_side": 1})
        class StateHolder:
            def __init__(self):
                self.ref = cyray.put(b"x" * 200_000)

            def held(self):
                return self.ref.hex()

        holder = StateHolder.remote()
        held = cyray.get(holder.held.remote())
        # The side node's raylet gathers its worker's reference table.
        rows = state.get_objects(held)
        assert rows and rows[0].node_id == node_id and rows[0].type == "WORKER"
        assert rows[0].object_size >= 200_000
    finally:
        cyray.shutdown()
        cluster.shutdown()
