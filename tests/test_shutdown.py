"""No process outlives its cluster: after shutdown, driver exit, or the driver being killed."""

import json
import os
import signal

from conftest import (
    DriverRun,
    cmdline_of,
    cyray_processes,
    describe,
    kill_processes,
    parse_tagged_json,
    processes_from_records,
    run_driver_script,
    wait_until_gone,
)

import cyray as ray


def test_shutdown_stops_all_processes():
    if ray.is_initialized():
        ray.shutdown()
    procs = []
    try:
        ray.init(num_cpus=2)

        @ray.remote
        def worker_pid():
            return os.getpid()

        worker_pids = set(ray.get([worker_pid.remote() for _ in range(4)], timeout=60))
        procs = cyray_processes()
        cmdlines = [cmdline_of(p) for p in procs]
        assert any("gcs" in c for c in cmdlines), f"no GCS server among {describe(procs)}"
        assert any("raylet" in c for c in cmdlines), f"no raylet among {describe(procs)}"
        assert worker_pids <= {p.pid for p in procs}, (worker_pids, describe(procs))

        ray.shutdown()
        assert not ray.is_initialized()
        survivors = wait_until_gone(procs, timeout=5)
        assert not survivors, f"still running 5 s after shutdown: {describe(survivors)}"
        # Nor any process started after the snapshot above (a prestarted worker, say).
        late = cyray_processes()
        assert not late, f"cyray processes left after shutdown: {describe(late)}"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        kill_processes(procs + cyray_processes())


def test_shutdown_is_idempotent_and_init_works_again():
    if ray.is_initialized():
        ray.shutdown()
    try:
        ray.shutdown()  # not initialized: a no-op
        for round_number in range(2):
            ray.init(num_cpus=2)

            @ray.remote
            def plus(x, y):
                return x + y

            assert ray.get(plus.remote(round_number, 1), timeout=60) == round_number + 1
            assert ray.cluster_resources()["CPU"] == 2
            ray.shutdown()
            ray.shutdown()
            assert not ray.is_initialized()
    finally:
        if ray.is_initialized():
            ray.shutdown()


# Prints the driver's worker pid and every process below the driver, then `{tail}`.
CLUSTER_DRIVER = """
import json
import os
import time

import psutil

import cyray as ray

ray.init(num_cpus=1)


@ray.remote
def worker_pid():
    return os.getpid()


pid = ray.get(worker_pid.remote())
print("WORKER_PID", pid, flush=True)
kids = psutil.Process().children(recursive=True)
print("CLUSTER_PIDS", json.dumps([[p.pid, p.create_time()] for p in kids]), flush=True)
{tail}
"""


def _check_records(records, worker_pid):
    pids = [pid for pid, _ in records]
    assert worker_pid in pids, (worker_pid, pids)
    # At least the GCS server, the raylet and one worker.
    assert len(pids) >= 3, pids


def test_driver_exit_without_shutdown(tmp_path):
    run = run_driver_script(tmp_path, CLUSTER_DRIVER.format(tail="# exits, no ray.shutdown()"))
    procs = []
    try:
        assert run.returncode == 0, run.stderr
        records = parse_tagged_json(run.stdout, "CLUSTER_PIDS")
        worker_pid = parse_tagged_json(run.stdout, "WORKER_PID")
        _check_records(records, worker_pid)
        procs = processes_from_records(records)
        survivors = wait_until_gone(procs, timeout=10)
        assert not survivors, f"alive 10 s after the driver exited: {describe(survivors)}"
    finally:
        kill_processes(procs)


def _kill_driver_and_check_cluster_ends(tmp_path, source, alive_check):
    """Runs `source` (a CLUSTER_DRIVER that sleeps), checks its cluster's processes with
    `alive_check(procs, records)`, SIGKILLs the driver, and asserts every process ends."""
    run = DriverRun(tmp_path, source)
    procs = []
    try:
        records = json.loads(run.read_tagged_line("CLUSTER_PIDS", timeout=90))
        _check_records(records, parse_tagged_json(run.stdout, "WORKER_PID"))
        procs = processes_from_records(records)
        alive_check(procs, records)
        run.popen.send_signal(signal.SIGKILL)
        run.popen.wait(timeout=10)
        survivors = wait_until_gone(procs, timeout=15)
        assert not survivors, f"alive 15 s after the driver was killed: {describe(survivors)}"
    finally:
        run.stop()
        kill_processes(procs)


def test_driver_killed_with_sigkill(tmp_path):
    def still_running(procs, records):
        assert len(procs) >= 3, f"cluster processes exited while the driver ran: {records}"

    _kill_driver_and_check_cluster_ends(
        tmp_path, CLUSTER_DRIVER.format(tail="time.sleep(300)"), still_running)


CTRL_C_DRIVER = """
import json
import time

import psutil

import cyray as ray

ray.init(num_cpus=1)


@ray.remote
def forever():
    time.sleep(600)


ref = forever.remote()
pids = [[p.pid, p.create_time()] for p in psutil.Process().children(recursive=True)]
print("PIDS", json.dumps(pids), flush=True)
try:
    ray.get(ref)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
ray.shutdown()
print("SHUT_DOWN", flush=True)
"""


def test_ctrl_c_interrupts_get_and_shutdown_still_cleans_up(tmp_path):
    import time

    run = DriverRun(tmp_path, CTRL_C_DRIVER)
    procs = []
    try:
        procs = processes_from_records(json.loads(run.read_tagged_line("PIDS", timeout=60)))
        time.sleep(0.5)
        run.popen.send_signal(signal.SIGINT)
        run.wait(timeout=30)
        assert "INTERRUPTED" in run.stdout, run.stderr
        assert "SHUT_DOWN" in run.stdout, run.stderr
        assert not wait_until_gone(procs, 15), "processes outlived shutdown after Ctrl-C"
    finally:
        run.stop()
        for proc in procs:
            try:
                proc.kill()
            except Exception:
                pass


def test_cluster_started_from_a_thread_outlives_the_thread_not_the_driver(tmp_path):
    # The GCS and raylet follow the driver process, not the thread that started them.
    source = CLUSTER_DRIVER.replace(
        "ray.init(num_cpus=1)",
        "import threading\n"
        "starter = threading.Thread(target=lambda: ray.init(num_cpus=1))\n"
        "starter.start()\nstarter.join()\ntime.sleep(2)  # the starting thread is gone")

    def none_ended(procs, records):
        assert len(procs) == len(records), "a cluster process ended with its starting thread"

    _kill_driver_and_check_cluster_ends(
        tmp_path, source.format(tail="time.sleep(300)"), none_ended)


def test_shutdown_with_tasks_running_neither_retries_nor_blames_workers(tmp_path):
    # Shutting down ends the connections to workers still running tasks: that is not a
    # worker dying, so nothing is retried or reported as one.
    run = run_driver_script(tmp_path, """
        import time
        import cyray as ray

        ray.init(num_cpus=2)

        @ray.remote(max_retries=3)
        def long_task():
            time.sleep(60)

        refs = [long_task.remote() for _ in range(2)]
        time.sleep(2)  # both running
        ray.shutdown()
        print("SHUT_DOWN")
    """)
    assert run.returncode == 0, run.stderr
    assert "SHUT_DOWN" in run.stdout
    for text in ("retrying task", "died unexpectedly"):
        assert text not in run.stderr, run.stderr
