"""Failures inside tasks: application exceptions, retries, and workers that die."""

import os
import signal
import time

import pytest
from conftest import assert_tasks_still_run, count_lines, is_descendant, read_int_file, wait_for

import cyray as ray


def test_exception_is_task_error_and_cause(ray_start_shared):
    @ray.remote
    def raise_value_error(x):
        def helper_that_raises(v):
            raise ValueError(f"bad value {v}")

        helper_that_raises(x)

    ref = raise_value_error.remote(7)
    with pytest.raises(ValueError) as info:
        ray.get(ref)
    err = info.value
    assert isinstance(err, ray.exceptions.RayTaskError)
    assert isinstance(err, ray.exceptions.RayError)
    assert isinstance(err.cause, ValueError)
    text = str(err)
    assert "raise_value_error" in text  # the task's name
    assert "helper_that_raises" in text  # a frame of the remote traceback
    assert "bad value 7" in text  # the original message
    # The same error again on a second get, catchable as RayTaskError.
    with pytest.raises(ray.exceptions.RayTaskError, match="bad value 7"):
        ray.get(ref)
    # In a list, the first failing ref raises.
    with pytest.raises(ValueError):
        ray.get([ray.put(1), ref])


def test_custom_exception_type(ray_start_shared):
    @ray.remote
    def raise_custom():
        class MyError(Exception):
            pass

        raise MyError("custom marker")

    with pytest.raises(ray.exceptions.RayTaskError, match="custom marker") as info:
        ray.get(raise_custom.remote())
    assert type(info.value.cause).__name__ == "MyError"


def test_error_propagates_through_dependent_tasks(ray_start_shared, tmp_path):
    ran = str(tmp_path / "consumer-ran")

    @ray.remote
    def fail():
        raise ValueError("root cause marker")

    @ray.remote
    def consume(x, marker):
        with open(marker, "a") as f:
            f.write("ran\n")
        return x

    downstream = consume.remote(consume.remote(fail.remote(), ran), ran)
    with pytest.raises(ray.exceptions.RayTaskError, match="root cause marker"):
        ray.get(downstream)
    # A task whose argument failed does not run its body.
    assert count_lines(ran) == 0


def test_error_on_every_return(ray_start_shared):
    @ray.remote(num_returns=2)
    def fail_two():
        raise ValueError("both returns fail")

    a, b = fail_two.remote()
    for ref in (a, b):
        with pytest.raises(ValueError, match="both returns fail") as info:
            ray.get(ref)
        assert isinstance(info.value, ray.exceptions.RayTaskError)


def test_retry_exceptions_true(ray_start_shared, tmp_path):
    attempts = str(tmp_path / "attempts")

    @ray.remote(max_retries=2, retry_exceptions=True)
    def flaky(path):
        with open(path, "a") as f:
            f.write(f"{os.getpid()}\n")
        with open(path) as f:
            n = len(f.readlines())
        if n <= 2:
            raise ValueError(f"attempt {n} fails")
        return n

    assert ray.get(flaky.remote(attempts), timeout=60) == 3
    assert count_lines(attempts) == 3


def test_retry_exceptions_gives_up_after_max_retries(ray_start_shared, tmp_path):
    attempts = str(tmp_path / "attempts")

    @ray.remote(max_retries=2, retry_exceptions=True)
    def always_fails(path):
        with open(path, "a") as f:
            f.write("x\n")
        raise ValueError("still failing")

    with pytest.raises(ValueError, match="still failing"):
        ray.get(always_fails.remote(attempts), timeout=60)
    assert count_lines(attempts) == 3  # the first attempt and 2 retries


def test_retry_exceptions_list(ray_start_shared, tmp_path):
    value_attempts = str(tmp_path / "value")
    key_attempts = str(tmp_path / "key")

    @ray.remote(max_retries=3, retry_exceptions=[ValueError])
    def fail_once_with(path, exc_name):
        with open(path, "a") as f:
            f.write("x\n")
        with open(path) as f:
            n = len(f.readlines())
        if n == 1:
            raise {"ValueError": ValueError, "KeyError": KeyError}[exc_name]("first attempt")
        return n

    # ValueError is listed: retried, the second attempt succeeds.
    assert ray.get(fail_once_with.remote(value_attempts, "ValueError"), timeout=60) == 2
    assert count_lines(value_attempts) == 2
    # KeyError is not: the first failure is final.
    with pytest.raises(KeyError):
        ray.get(fail_once_with.remote(key_attempts, "KeyError"), timeout=60)
    assert count_lines(key_attempts) == 1


def test_application_errors_not_retried_by_default(ray_start_shared, tmp_path):
    attempts = str(tmp_path / "attempts")

    @ray.remote(max_retries=3)  # retries cover worker failures, not exceptions
    def fail_once(path):
        with open(path, "a") as f:
            f.write("x\n")
        raise ValueError("not retried")

    with pytest.raises(ValueError, match="not retried"):
        ray.get(fail_once.remote(attempts), timeout=60)
    assert count_lines(attempts) == 1

    @ray.remote
    def fail_default(path):
        with open(path, "a") as f:
            f.write("x\n")
        raise ValueError("not retried either")

    with pytest.raises(ValueError):
        ray.get(fail_default.remote(attempts), timeout=60)
    assert count_lines(attempts) == 2


def test_worker_exit_is_retried(ray_start_shared, tmp_path):
    attempts = str(tmp_path / "attempts")

    @ray.remote  # max_retries defaults to 3
    def die_first_time(path):
        with open(path, "a") as f:
            f.write(f"{os.getpid()}\n")
        with open(path) as f:
            n = len(f.readlines())
        if n == 1:
            os._exit(1)
        return os.getpid()

    pid = ray.get(die_first_time.remote(attempts), timeout=90)
    with open(attempts) as f:
        pids = [int(line) for line in f if line.strip()]
    assert len(pids) == 2
    assert pids[1] == pid
    assert pids[0] != pids[1]  # the retry ran in a new worker
    assert_tasks_still_run()


def test_worker_exit_without_retries(ray_start_shared, tmp_path):
    attempts = str(tmp_path / "attempts")

    @ray.remote(max_retries=0)
    def always_die(path):
        with open(path, "a") as f:
            f.write("x\n")
        os._exit(3)

    with pytest.raises(ray.exceptions.WorkerCrashedError) as info:
        ray.get(always_die.remote(attempts), timeout=90)
    # The error names how the worker ended, as the raylet reaped it.
    assert "exited with code 3" in str(info.value)
    assert count_lines(attempts) == 1
    assert_tasks_still_run()


def test_worker_killed_by_sigkill(ray_start_shared, tmp_path):
    pid_file = str(tmp_path / "pid")

    @ray.remote(max_retries=0)
    def sleep_long(path):
        with open(path + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(path + ".tmp", path)
        time.sleep(120)
        return "not killed"

    ref = sleep_long.remote(pid_file)
    pid = read_int_file(pid_file, timeout=60)
    assert pid != os.getpid()
    assert is_descendant(pid), "the task's worker should be a process of this test's cluster"
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ray.exceptions.WorkerCrashedError) as info:
        ray.get(ref, timeout=60)
    assert f"worker pid {pid} was killed by signal 9 (SIGKILL)" in str(info.value)
    assert "killed by the runtime" not in str(info.value)
    assert_tasks_still_run()


def test_crashing_worker_names_the_signal(ray_start_shared):
    @ray.remote(max_retries=0)
    def crash():
        import ctypes

        ctypes.string_at(0)  # SIGSEGV

    with pytest.raises(ray.exceptions.WorkerCrashedError) as info:
        ray.get(crash.remote(), timeout=60)
    assert "SIGSEGV" in str(info.value)


def test_actor_death_names_the_exit(ray_start_shared):
    @ray.remote
    class Quitter:
        def quit(self, code):
            os._exit(code)

        def ping(self):
            return "pong"

    actor = Quitter.remote()
    assert ray.get(actor.ping.remote(), timeout=60) == "pong"
    ref = actor.quit.remote(7)
    with pytest.raises(ray.exceptions.RayActorError) as info:
        ray.get(ref, timeout=60)
    assert "exited with code 7" in str(info.value)


def test_cluster_healthy_after_failures(ray_start_shared):
    @ray.remote
    def square(x):
        return x * x

    assert ray.get([square.remote(i) for i in range(50)], timeout=60) == [
        i * i for i in range(50)
    ]
    # Crashed workers and failed tasks leaked no CPU.
    wait_for(lambda: ray.available_resources().get("CPU", 0) == 2, 15,
             message="both CPUs to be available again")
