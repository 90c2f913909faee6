"""The `cyray` CLI's observability commands (list, get, summary, memory, logs, timeline,
status -v, stack, kill-actor), run as subprocesses against the module's shared cluster."""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from conftest import wait_for

import cyray as ray

pytestmark = pytest.mark.timeout(120)


def cli(*args, timeout=60, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "cyray.scripts.cli", *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


@pytest.fixture
def address(ray_start_shared):
    from cyray._private.worker import global_worker

    return global_worker.gcs_address


def run(address, *args, **kwargs):
    """`cyray <args> --address <address>`; fails the test if it exits non-zero."""
    done = cli(*args, "--address", address, **kwargs)
    assert done.returncode == 0, f"cyray {' '.join(args)}: {done.stderr}"
    return done.stdout


def listed(address, resource, *args):
    return json.loads(run(address, "list", resource, "--format", "json", "--limit", "10000",
                          *args))


def assert_one_line_error(done, *words):
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_list_tasks_formats_filters_and_get(address):
    @ray.remote
    def cli_ok(x):
        return x

    @ray.remote
    def cli_fails():
        raise ValueError("cli-boom")

    assert ray.get([cli_ok.remote(i) for i in range(2)]) == [0, 1]
    failed = cli_fails.remote()
    with pytest.raises(ValueError):
        ray.get(failed)

    def states():
        rows = listed(address, "tasks")
        names = [(r["name"], r["state"]) for r in rows]
        if names.count(("cli_ok", "FINISHED")) == 2 and ("cli_fails", "FAILED") in names:
            return rows
        return None

    rows = wait_for(states, 20, interval=0.3, message="the tasks' events in the GCS")
    # The default output: a table with the count, names and states.
    table = run(address, "list", "tasks", "--limit", "10000")
    assert "Total:" in table
    assert re.search(r"cli_ok\s+FINISHED", table) and re.search(r"cli_fails\s+FAILED", table)
    assert "TASK_ID" in table and "ERROR_TYPE" in table
    # YAML parses back to the same rows as JSON.
    again = yaml.safe_load(run(address, "list", "tasks", "--format", "yaml", "--limit",
                               "10000"))
    mine = {(r["task_id"], r["state"]) for r in rows if r["name"].startswith("cli_")}
    assert mine <= {(r["task_id"], r["state"]) for r in again}
    # Filters: an enum value without case, and !=.
    only_failed = listed(address, "tasks", "--filter", "state=failed", "--filter",
                         "name=cli_fails")
    assert [(r["name"], r["state"], r["error_type"]) for r in only_failed] == [
        ("cli_fails", "FAILED", "TASK_EXECUTION_EXCEPTION")]
    assert all(r["name"] != "cli_ok" for r in listed(address, "tasks", "-f", "name!=cli_ok"))
    # --limit keeps that many rows and says on stderr that others were left out.
    limited = cli("list", "tasks", "--limit", "1", "--format", "json", "--address", address)
    assert limited.returncode == 0 and len(json.loads(limited.stdout)) == 1
    assert "left out" in limited.stderr
    # get: the row with its detail columns (YAML by default).
    got = yaml.safe_load(run(address, "get", "tasks", failed.task_id().hex()))
    assert got[0]["state"] == "FAILED" and "cli-boom" in got[0]["error_message"]
    assert got[0]["end_time_ms"] >= got[0]["start_time_ms"] > 0


def test_get_and_kill_actor(address, actors):
    @ray.remote
    class CliActor:
        def ping(self):
            return "pong"

    actor = CliActor.remote()
    actors.append(actor)
    assert ray.get(actor.ping.remote()) == "pong"
    actor_id = actor._actor_id.hex()
    got = yaml.safe_load(run(address, "get", "actors", actor_id))
    assert got[0]["class_name"] == "CliActor" and got[0]["state"] == "ALIVE"
    assert "num_restarts" in got[0]  # a detail column
    as_json = json.loads(run(address, "get", "actors", actor_id, "--format", "json"))
    assert as_json[0]["actor_id"] == actor_id

    killed = run(address, "kill-actor", actor_id)
    assert actor_id in killed
    wait_for(lambda: listed(address, "actors", "--filter", f"actor_id={actor_id}")[0]["state"]
             == "DEAD", 20, interval=0.3, message="the killed actor DEAD")
    unknown = cli("kill-actor", "ab" * 16, "--address", address)
    assert_one_line_error(unknown, "no actor with ID", "cyray list actors")


def test_summary_tasks(address):
    @ray.remote
    def cli_summed():
        return 1

    assert ray.get([cli_summed.remote() for _ in range(3)]) == [1, 1, 1]

    def counted():
        data = json.loads(run(address, "summary", "tasks", "--format", "json"))
        entry = data["cluster"]["summary"].get("cli_summed")
        return entry if entry and entry["state_counts"].get("FINISHED") == 3 else None

    entry = wait_for(counted, 20, interval=0.3, message="3 finished cli_summed tasks")
    assert entry["type"] == "NORMAL_TASK"
    text = run(address, "summary", "tasks")
    assert "Table (group by func_name)" in text and "total_tasks:" in text
    assert re.search(r"cli_summed\s+FINISHED: 3\s+NORMAL_TASK", text), text
    assert yaml.safe_load(run(address, "summary", "actors", "--format", "yaml"))["cluster"]


def test_memory_shows_a_put_object_and_the_stores(address):
    ref = ray.put(b"m" * 2_000_000)
    text = run(address, "memory")
    line = next((ln for ln in text.splitlines() if ref.hex() in ln), None)
    assert line is not None, text
    size = int(re.search(r"(\d+) B", line).group(1))
    assert 2_000_000 <= size < 2_100_000, line
    assert "LOCAL_REFERENCE" in line and str(os.getpid()) in line
    assert "--- Summary for node address: " in text
    assert "--- Aggregate object store stats across all nodes ---" in text
    assert re.search(r"Plasma memory usage [\d.]+ MiB of [\d.]+ MiB", text), text
    assert "Spilled" in text
    in_mb = run(address, "memory", "--units", "MB", "--group-by", "STACK_TRACE",
                "--sort-by", "PID", "--no-format")
    assert "--- Summary for stack trace: " in in_mb
    assert re.search(rf"\| 2\.\d+ MB \| LOCAL_REFERENCE \| {ref.hex()}", in_mb), in_mb
    stats = run(address, "memory", "--stats-only")
    assert "Aggregate object store stats" in stats and ref.hex() not in stats
    del ref


def test_logs_list_and_actor_output(address, actors, tmp_path):
    @ray.remote
    class Talker:
        def say(self, text):
            print(text, flush=True)
            return os.getpid()

    marker = f"cli-log-marker-{os.getpid()}"
    actor = Talker.remote()
    actors.append(actor)
    call = actor.say.remote(marker)
    pid = ray.get(call)
    listing = run(address, "logs")
    assert "raylet.out" in listing and "worker_out:" in listing
    assert "raylet.out" not in run(address, "logs", "worker-*")
    actor_id = actor._actor_id.hex()

    def actor_log():
        text = run(address, "logs", "actor", "--id", actor_id)
        return text if marker in text else None

    wait_for(actor_log, 20, interval=0.3, message="the actor's line in its log")
    assert marker in run(address, "logs", "worker", "--pid", str(pid), "--tail", "5")
    assert marker in run(address, "logs", "task", "--id", call.task_id().hex())
    assert marker not in run(address, "logs", "actor", "--id", actor_id, "--err")
    # --follow prints what the actor prints later, until it is stopped.
    followed = tmp_path / "followed.out"
    with open(followed, "w") as out:
        follower = subprocess.Popen(
            [sys.executable, "-m", "cyray.scripts.cli", "logs", "actor", "--id", actor_id,
             "--follow", "--address", address], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: marker in followed.read_text(), 20, interval=0.1,
                 message="the followed log's first lines")
        ray.get(actor.say.remote(marker + "-later"))
        wait_for(lambda: marker + "-later" in followed.read_text(), 20, interval=0.1,
                 message="a line printed after following started")
    finally:
        follower.terminate()
        follower.wait(10)
    # A file name prints that file.
    run(address, "logs", "raylet.out", "--tail", "3")
    missing = cli("logs", "no-such-file.log", "--address", address)
    assert_one_line_error(missing, "no log file matches")


def test_timeline_writes_one_event_per_finished_task(address, tmp_path):
    @ray.remote
    def cli_traced(x):
        return x

    ray.get([cli_traced.remote(i) for i in range(3)])
    wait_for(lambda: len(listed(address, "tasks", "--filter", "name=cli_traced",
                                "--filter", "state=FINISHED")) == 3, 20, interval=0.3,
             message="3 finished cli_traced tasks")
    out = run(address, "timeline", cwd=str(tmp_path))
    files = list(tmp_path.glob("timeline-*.json"))
    assert len(files) == 1 and str(files[0]) in out
    assert "perfetto" in out.lower() and "chrome://tracing" in out
    events = json.loads(files[0].read_text())
    traced = [e for e in events if e["name"] == "cli_traced"]
    assert len(traced) == 3 and all(e["ph"] == "X" and e["dur"] > 0 for e in traced)
    chosen = tmp_path / "trace.json"
    run(address, "timeline", "--output", str(chosen))
    assert len([e for e in json.loads(chosen.read_text()) if e["name"] == "cli_traced"]) == 3


def test_status_verbose_shows_an_infeasible_request(address):
    @ray.remote(resources={"cli_no_such_resource": 1})
    def never():
        return 1

    ref = never.remote()
    try:
        def shown():
            text = run(address, "status", "-v")
            infeasible = text.split("Infeasible:", 1)[-1]
            return text if "cli_no_such_resource" in infeasible else None

        text = wait_for(shown, 20, interval=0.3, message="the infeasible request in status")
        assert "Pending Demands:" in text and "ALIVE" in text
        assert re.search(r"\{'CPU': 1\.0, 'cli_no_such_resource': 1\.0\}: 1\+ pending "
                         r"tasks/actors \(never\)", text), text
    finally:
        ray.cancel(ref)
    # Cancelling the task withdraws its lease request from the raylet.
    wait_for(lambda: "cli_no_such_resource" not in run(address, "status", "-v"), 10,
             interval=0.3, message="the cancelled request to leave status")


def test_explain_says_why_a_task_waits(address):
    @ray.remote(resources={"cli_explain_missing": 1})
    def cli_waits():
        return 1

    ref = cli_waits.remote()
    wait_for(lambda: "PENDING_NODE_ASSIGNMENT" in run(address, "explain", ref.hex()), 15,
             message="the task's events")
    text = " ".join(run(address, "explain", ref.hex()).split())
    assert "cli_waits" in text and "no alive node has cli_explain_missing" in text
    assert_one_line_error(cli("explain", "zz", "--address", address), "hex digits")
    ray.cancel(ref)


def test_stack(address, tmp_path):
    # Without py-spy: a clear message saying how to install it.
    bare = tmp_path / "bare"
    bare.mkdir()
    env = dict(os.environ, PATH=str(bare))
    missing = cli("stack", "--address", address, env=env)
    assert_one_line_error(missing, "py-spy is not installed", "pip install py-spy")
    # With a py-spy (a stand-in here): one dump per worker and driver of this machine.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "py-spy").write_text('#!/bin/sh\necho "FAKE-PY-SPY $@"\n')
    (fake / "py-spy").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}{os.pathsep}{os.environ.get('PATH', '')}")
    out = run(address, "stack", env=env)
    assert f"FAKE-PY-SPY dump --pid {os.getpid()}" in out  # this test's driver
    workers = [w["pid"] for w in listed(address, "workers", "--filter", "is_alive=true",
                                        "--filter", "worker_type=WORKER")]
    assert any(f"--pid {pid}" in out for pid in workers), out
    assert "raylet pid" in out


def test_bad_input_gives_one_clear_line(address):
    assert_one_line_error(cli("list", "widgets", "--address", address),
                          "unknown resource 'widgets'", "tasks")
    assert_one_line_error(cli("list", "tasks", "--filter", "state", "--address", address),
                          "bad filter", "key=value")
    assert_one_line_error(cli("list", "tasks", "--filter", "colour=red", "--address", address),
                          "unknown filter column 'colour'", "task_id")
    assert_one_line_error(cli("list", "tasks", "--format", "xml", "--address", address),
                          "--format")
    assert_one_line_error(cli("get", "tasks", "not-hex", "--address", address), "not an ID")
    assert_one_line_error(cli("get", "actors", "cd" * 16, "--address", address),
                          "no actor with ID")
    assert_one_line_error(cli("summary", "nodes", "--address", address),
                          "unknown resource 'nodes'")
    assert_one_line_error(cli("logs", "actor", "--address", address), "needs --id")
    # No cluster at that address.
    assert_one_line_error(cli("list", "actors", "--address", "127.0.0.1:1"),
                          "no running cyray cluster found at 127.0.0.1:1")
    assert_one_line_error(cli("memory", "--address", "not-an-address"), "HOST:PORT")
    assert_one_line_error(cli("start", "--address", address, "--include-dashboard"),
                          "--include-dashboard goes with --head")
