"""Resource accounting, worker reuse and limits, process titles and log forwarding."""

import collections
import os
import re
import time

import psutil
import pytest
from conftest import (
    has_prefixed_line,
    assert_tasks_still_run,
    is_alive,
    process_title,
    read_int_file,
    run_driver_script,
    wait_for,
    wait_until_gone,
)

import cyray as ray


def test_max_calls_replaces_worker(ray_start_shared):
    @ray.remote(max_calls=2)
    def whoami():
        return os.getpid()

    pids = [ray.get(whoami.remote(), timeout=60) for _ in range(6)]
    counts = collections.Counter(pids)
    assert len(counts) >= 3, pids
    assert max(counts.values()) <= 2, pids
    # A worker that reached max_calls exits.
    spent = []
    for pid, n in counts.items():
        if n == 2:
            try:
                spent.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
    survivors = wait_until_gone(spent, timeout=10)
    assert not survivors, f"workers past max_calls still run: {[p.pid for p in survivors]}"
    assert_tasks_still_run()


def test_num_cpus_2_tasks_run_one_at_a_time(ray_start_shared):
    @ray.remote(num_cpus=2)
    def interval():
        start = time.time()
        time.sleep(0.5)
        return start, time.time()

    spans = sorted(ray.get([interval.remote() for _ in range(3)], timeout=60))
    for (_, end), (next_start, _) in zip(spans, spans[1:]):
        assert next_start >= end, f"2-CPU tasks overlapped on a 2-CPU node: {spans}"


def test_num_cpus_1_tasks_run_concurrently(ray_start_shared, tmp_path):
    @ray.remote(num_cpus=1)
    def rendezvous(mine, other, timeout):
        open(mine, "w").close()
        deadline = time.time() + timeout
        while not os.path.exists(other):
            if time.time() > deadline:
                return False
            time.sleep(0.01)
        return True

    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    # Two 1-CPU tasks on 2 CPUs run at the same time, so each sees the other's file.
    assert ray.get([rendezvous.remote(a, b, 60), rendezvous.remote(b, a, 60)],
                   timeout=90) == [True, True]
    # Two 2-CPU tasks cannot: the first gives up waiting before the second starts.
    c, d = str(tmp_path / "c"), str(tmp_path / "d")
    big = rendezvous.options(num_cpus=2)
    met = ray.get([big.remote(c, d, 1.0), big.remote(d, c, 1.0)], timeout=90)
    assert sorted(met) == [False, True]


@pytest.mark.parametrize(
    "options,resource",
    [({"num_cpus": 3}, "CPU"), ({"resources": {"unobtainium": 1}}, "unobtainium")],
)
def test_infeasible_task_waits_with_a_warning(ray_start_shared, options, resource, capfd):
    """As Ray: a task no node can fit waits for one that can; the driver is told once."""
    @ray.remote
    def too_big():
        return "ran"

    ref = too_big.options(**options).remote()
    with pytest.raises(ray.exceptions.GetTimeoutError):
        ray.get(ref, timeout=1)
    err = capfd.readouterr().err
    assert "cannot be scheduled right now" in err and resource in err
    assert_tasks_still_run()


def test_process_title(ray_start_shared, tmp_path):
    pid_file = str(tmp_path / "pid")
    release = str(tmp_path / "release")

    @ray.remote
    def title_probe_task(path, release_path):
        with open(path + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(path + ".tmp", path)
        deadline = time.time() + 60
        while not os.path.exists(release_path) and time.time() < deadline:
            time.sleep(0.01)
        return os.getpid()

    ref = title_probe_task.remote(pid_file, release)
    try:
        pid = read_int_file(pid_file, timeout=60)
        title = process_title(pid)
        assert title.startswith("cyray::title_probe_task"), title
        assert " ".join(psutil.Process(pid).cmdline()).startswith("cyray::title_probe_task")
    finally:
        open(release, "w").close()
    assert ray.get(ref, timeout=60) == pid

    def title_is_idle():
        try:
            return process_title(pid).startswith("cyray::IDLE")
        except OSError:  # the worker exited: the wait below fails with a clear message
            return False

    wait_for(title_is_idle, 10, message=f"worker {pid} to stay alive titled cyray::IDLE")
    assert is_alive(psutil.Process(pid))


def test_process_title_is_idle_after_a_burst_of_tasks(ray_start_shared):
    # Tasks queued behind one another skip the idle title in between (two syscalls per
    # task); the worker still ends titled idle once its queue is empty.
    @ray.remote
    def title_burst_task():
        return os.getpid()

    pids = set(ray.get([title_burst_task.remote() for _ in range(300)], timeout=60))

    def all_idle():
        try:
            return all(process_title(pid).startswith("cyray::IDLE") for pid in pids)
        except OSError:
            return False

    wait_for(all_idle, 10, message=f"workers {sorted(pids)} to be titled cyray::IDLE")


# A driver that prints from tasks, then gives the log forwarding time to deliver.
PRINT_DRIVER = """
import os
import sys
import time

import cyray as ray

ray.init(num_cpus=1{extra})


@ray.remote
def chatty_task(tag):
    print("stdout-marker", tag, flush=True)
    print("stderr-marker", tag, file=sys.stderr, flush=True)
    return os.getpid()


pid = ray.get(chatty_task.remote("X1"))
print("TASK_PID", pid, flush=True)
time.sleep(2)
ray.shutdown()
print("DRIVER_DONE", flush=True)
"""


def test_task_output_reaches_driver(tmp_path):
    run = run_driver_script(tmp_path, PRINT_DRIVER.format(extra=""))
    assert run.returncode == 0, run.stderr
    out, err = run.stdout, run.stderr
    assert "DRIVER_DONE" in out, err
    pid = int(re.search(r"TASK_PID (\d+)", out).group(1))
    assert pid != run.pid
    assert has_prefixed_line(out, "chatty_task", pid, "stdout-marker X1"), out
    assert has_prefixed_line(err, "chatty_task", pid, "stderr-marker X1"), err


def test_log_to_driver_false(tmp_path):
    run = run_driver_script(tmp_path, PRINT_DRIVER.format(extra=", log_to_driver=False"))
    assert run.returncode == 0, run.stderr
    out, err = run.stdout, run.stderr
    assert "DRIVER_DONE" in out, err
    assert re.search(r"TASK_PID \d+", out), out
    assert "stdout-marker" not in out
    assert "stderr-marker" not in err
    assert "stdout-marker" not in err and "stderr-marker" not in out


def test_gpu_task_sees_one_gpu(ray_start_gpus):
    assert ray.cluster_resources()["GPU"] == 2
    assert ray.cluster_resources()["custom"] == 2

    @ray.remote(num_gpus=1)
    def gpu_info():
        return ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")

    @ray.remote
    def cpu_only():
        return ray.get_gpu_ids()

    ids, visible = ray.get(gpu_info.remote(), timeout=60)
    assert len(ids) == 1
    assert int(ids[0]) in (0, 1)
    assert visible == str(ids[0])
    assert ray.get(cpu_only.remote(), timeout=60) == []


def test_concurrent_gpu_tasks_get_different_gpus(ray_start_gpus, tmp_path):
    @ray.remote(num_gpus=1)
    def gpu_rendezvous(mine, other):
        open(mine, "w").close()
        deadline = time.time() + 60
        while not os.path.exists(other):
            if time.time() > deadline:
                return None
            time.sleep(0.01)
        return ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")

    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    first, second = ray.get([gpu_rendezvous.remote(a, b), gpu_rendezvous.remote(b, a)],
                            timeout=90)
    assert first is not None and second is not None, "the two GPU tasks did not overlap"
    assert len(first[0]) == 1 and len(second[0]) == 1
    assert first[0] != second[0]
    assert {first[1], second[1]} == {"0", "1"}


def test_custom_resource(ray_start_gpus):
    @ray.remote(resources={"custom": 1})
    def uses_custom():
        return "custom ok"

    assert ray.get([uses_custom.remote() for _ in range(4)], timeout=60) == ["custom ok"] * 4
    needs_both = uses_custom.options(resources={"custom": 2}, num_gpus=2)
    assert ray.get(needs_both.remote(), timeout=60) == "custom ok"
    wait_for(lambda: ray.available_resources().get("custom", 0) == 2, 15,
             message="the custom resource to be given back")
