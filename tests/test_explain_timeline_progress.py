"""cyray.util.explain, cyray.timeline, progress bars and typed failure causes in the
state API, against real clusters."""

import io
import json
import os
import signal
import textwrap

import pytest

import cyray
from cyray.util import explain, state
from cyray.util.progress import _PlainBar

from conftest import run_driver_script, wait_for


def _state_of(ref):
    task = state.get_task(ref.task_id().hex())
    return task and task.state


def test_explain_names_the_missing_resource_of_an_infeasible_task(ray_start_shared):
    @cyray.remote(resources={"explain_missing": 1})
    def needs_more():
        return 1

    ref = needs_more.remote()
    wait_for(lambda: _state_of(ref) == "PENDING_NODE_ASSIGNMENT", 10, message="pending")
    text = explain(ref)
    assert "needs_more" in text and "infeasible" in text
    assert "no alive node has explain_missing" in text
    assert "Add such a node" in text
    cyray.cancel(ref)


def test_explain_names_the_blocking_dependency_and_the_busy_lease(ray_start_shared, gate):
    @cyray.remote
    def downstream(x):
        return x

    blockers = [gate.task.remote(gate.path, i) for i in range(2)]  # both CPUs busy
    wait_for(lambda: _state_of(blockers[0]) == _state_of(blockers[1]) == "RUNNING", 10,
             message="both CPUs busy")
    # Another shape than the running ones: it can only wait for a lease of its own.
    blockers.append(gate.task.options(num_cpus=2).remote(gate.path, 2))
    after = downstream.remote(blockers[0])
    wait_for(lambda: _state_of(after) and
             _state_of(blockers[2]) == "PENDING_NODE_ASSIGNMENT", 10, message="states")
    text = explain(after)
    assert "downstream" in text and "PENDING_ARGS_AVAIL" in text
    assert "wait_for_gate" in text and "RUNNING" in text
    assert blockers[0].hex()[:16] in text
    lease = explain(blockers[2])
    assert "waits for a worker lease for {CPU: 2}" in lease and "0 of 2 CPU free" in lease
    running = explain(blockers[0])
    assert "has been running" in running and "cyray logs worker --pid" in running
    gate.open()
    cyray.get(after)
    done = wait_for(lambda: "now FINISHED" in (t := explain(after)) and t, 10,
                    message="finished")
    assert "The value is ready" in done
    with pytest.raises(ValueError, match="hex digits"):
        explain("not-an-id")


def test_a_task_blocked_in_get_or_wait_shows_it_and_runs_on(ray_start_shared, gate):
    @cyray.remote
    def outer_get(refs):
        return cyray.get(refs[0])

    @cyray.remote
    def outer_wait(refs):
        ready, _ = cyray.wait(refs)
        return len(ready)

    inner = gate.task.remote(gate.path, 7)
    blocked_get = outer_get.remote([inner])
    blocked_wait = outer_wait.remote([inner])
    wait_for(lambda: _state_of(blocked_get) == "RUNNING_IN_RAY_GET"
             and _state_of(blocked_wait) == "RUNNING_IN_RAY_WAIT", 15, message="blocked")
    assert "blocked in get()" in explain(blocked_get)
    assert "blocked in wait()" in explain(blocked_wait)
    gate.open()
    assert cyray.get([blocked_get, blocked_wait]) == [7, 1]
    wait_for(lambda: _state_of(blocked_get) == _state_of(blocked_wait) == "FINISHED", 10,
             message="finished")
    states = [e["state"] for e in state.list_tasks(
        filters=[("task_id", "=", blocked_get.task_id().hex())], detail=True)[0].events]
    assert states.index("RUNNING_IN_RAY_GET") < len(states) - 2
    assert states[-2:] == ["RUNNING", "FINISHED"]


def test_a_long_get_logs_why_once(tmp_path):
    run = run_driver_script(tmp_path, textwrap.dedent("""
        import os
        os.environ["CYRAY_get_explain_after_s"] = "1.5"
        import cyray
        cyray.init(num_cpus=1)

        @cyray.remote(resources={"never_there": 1})
        def stuck():
            return 1

        ref = stuck.remote()
        try:
            cyray.get(ref, timeout=4)
        except cyray.exceptions.GetTimeoutError:
            print("TIMED OUT")
        cyray.shutdown()
    """), timeout=60)
    assert run.returncode == 0, run.stderr
    assert "TIMED OUT" in run.stdout
    lines = [line for line in run.stderr.splitlines() if "get() has waited" in line]
    assert len(lines) == 1, run.stderr
    assert "no alive node has never_there" in lines[0]


def test_timeline_has_one_complete_event_per_task(ray_start_shared, tmp_path):
    @cyray.remote
    def traced(x):
        return x

    @cyray.remote
    class Traced:
        def call(self):
            return 1

    cyray.get([traced.remote(i) for i in range(5)])
    actor = Traced.remote()
    cyray.get(actor.call.remote())

    def events():
        out = [e for e in cyray.timeline() if e["name"] in ("traced", "Traced.call")]
        return len(out) == 6 and out

    got = wait_for(events, 15, message="6 timeline events")
    assert all(e["ph"] == "X" and e["dur"] > 0 and e["ts"] > 0 for e in got)
    assert len({e["args"]["task_id"] for e in got}) == 6
    assert all(e["pid"].startswith("Node:") and e["tid"].startswith("worker:") for e in got)
    phases = [e for e in cyray.timeline() if e["name"] == "task:execute"
              and e["args"]["task_id"] in {g["args"]["task_id"] for g in got}]
    assert len(phases) == 6 and all(p["dur"] > 0 for p in phases)
    path = tmp_path / "trace.json"
    assert cyray.timeline(str(path)) is None
    loaded = json.loads(path.read_text())
    assert {e["args"]["task_id"] for e in got} <= {e["args"]["task_id"] for e in loaded}
    cyray.kill(actor)


def test_progress_yields_refs_as_they_finish(ray_start_shared):
    @cyray.remote
    def numbered(i):
        return i

    refs = [numbered.remote(i) for i in range(40)]
    seen = list(cyray.util.progress(refs, desc="numbers"))
    assert sorted(r.hex() for r in seen) == sorted(r.hex() for r in refs)
    assert sum(cyray.get(refs, progress=True)) == sum(range(40))
    ready, not_ready = cyray.wait(refs, num_returns=30, progress=True)
    assert len(ready) == 30 and len(not_ready) == 10


def test_progress_times_out_and_the_plain_bar_reports(ray_start_shared, gate):
    blocked = gate.task.remote(gate.path, 1)
    with pytest.raises(cyray.exceptions.GetTimeoutError):
        list(cyray.util.progress([blocked], timeout=0.3))
    gate.open()
    out = io.StringIO()
    bar = _PlainBar(4, "things", stream=out)
    for _ in range(4):
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("things: 1/4 (25%)") and lines[-1].startswith("things: 4/4 (100%)")


def test_a_killed_worker_shows_its_cause_in_the_state_api(ray_start_shared, gate):
    @cyray.remote(max_retries=0)
    def doomed(path):
        import time

        open(path, "w").write(str(os.getpid()))
        time.sleep(60)

    pid_file = gate.path + ".pid"
    ref = doomed.remote(pid_file)
    pid = int(wait_for(lambda: os.path.exists(pid_file) and open(pid_file).read(), 10,
                       message="the task's pid"))
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(cyray.exceptions.WorkerCrashedError):
        cyray.get(ref)
    task = wait_for(lambda: (t := state.get_task(ref.task_id().hex())) and t.state == "FAILED"
                    and t, 10, message="failed task")
    task = state.list_tasks(filters=[("task_id", "=", task.task_id)], detail=True)[0]
    assert task.error_type == "WORKER_DIED"
    assert "SIGKILL" in task.error_message
    dead = wait_for(lambda: [w for w in state.list_workers(limit=None, detail=True)
                             if not w.is_alive and w.exit_detail and str(pid) in w.exit_detail],
                    10, message="the dead worker")
    assert dead[0].exit_type == "SYSTEM_ERROR" and "SIGKILL" in dead[0].exit_detail
