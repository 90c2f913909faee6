"""Fixtures and helpers for the cluster tests.

Cluster fixtures (each yields the `cyray` module, used as `ray` in the tests):

- `ray_start_shared`: a 2-CPU cluster started once per test module and reused; most tests
  use it. If a function-scoped fixture of the same module shut it down in between, it is
  started again on the next use.
- `ray_start`: a fresh 2-CPU cluster for one test.
- `ray_start_gpus`: a fresh cluster with 2 CPUs, 2 (pretend) GPUs and `{"custom": 2}`.
- `ray_start_with_info`: a fresh 2-CPU cluster yielded as `(cyray, info)`, `info` being what
  `cyray.init()` returned (its "gcs_address" lets a driver subprocess join the cluster).

`actors` is a list for the actor handles a test makes; they are killed at teardown.

Remote functions must be defined inside test functions (or inside fixtures/helpers, at call
time), never at module level of a test file: cloudpickle pickles module-level functions by
reference, and a worker cannot import `test_*` modules or this `conftest` unless the driver's
sys.path reaches it. Local functions are pickled by value. The plain helpers below are for the
driver side only.
"""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

import cyray

# Command-line markers of the processes that a `cyray.init()` starts. A worker changes its
# title to `cyray::<task>` / `cyray::IDLE` (setproctitle), so titles count as well.
CYRAY_CMDLINE_PATTERNS = ("cyray.gcs.server", "cyray/core/raylet", "cyray.workers.default_worker")
CYRAY_TITLE_PREFIX = "cyray::"

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ---------------------------------------------------------------------------------------------
# Cluster fixtures


def _shutdown_if_initialized():
    if cyray.is_initialized():
        cyray.shutdown()


@pytest.fixture
def ray_start():
    """A fresh local cluster with 2 CPUs for one test."""
    _shutdown_if_initialized()  # the module's shared cluster, if it is up
    cyray.init(num_cpus=2)
    try:
        yield cyray
    finally:
        cyray.shutdown()


@pytest.fixture(scope="module")
def _shared_cluster_owner():
    """Shuts the shared cluster down at the end of the module."""
    yield
    _shutdown_if_initialized()


@pytest.fixture
def ray_start_shared(_shared_cluster_owner):
    """A 2-CPU cluster shared by the tests of one module (started on first use)."""
    if not cyray.is_initialized():
        cyray.init(num_cpus=2)
    yield cyray


@pytest.fixture
def ray_start_gpus():
    """A fresh cluster with 2 CPUs, 2 GPUs (no real devices needed) and 2 of "custom"."""
    _shutdown_if_initialized()
    cyray.init(num_cpus=2, num_gpus=2, resources={"custom": 2})
    try:
        yield cyray
    finally:
        cyray.shutdown()


@pytest.fixture
def ray_start_with_info():
    """A fresh 2-CPU cluster for one test, yielded as `(cyray, info)` with `info` what
    `cyray.init()` returned (a RayContext, as Ray's): `info.address_info["gcs_address"]` is
    the address a second driver passes to `cyray.init(address=...)` to join this cluster."""
    _shutdown_if_initialized()
    info = cyray.init(num_cpus=2)
    try:
        yield cyray, info
    finally:
        cyray.shutdown()


@pytest.fixture
def actors():
    """A list to which a test appends the actor handles it makes; each is killed (errors
    ignored) at teardown, so no actor outlives its test on a shared cluster. Request it
    after the cluster fixture so that it is torn down first."""
    handles = []
    yield handles
    if cyray.is_initialized():
        for handle in handles:
            try:
                cyray.kill(handle)
            except Exception:
                pass


class Gate:
    """A file-based gate: tasks started with `gate.task` block until the driver opens it.

    Keeps "slow" tasks deterministic and short: the gate is opened at teardown, so no task
    outlives its test holding a CPU of the shared cluster."""

    def __init__(self, path):
        self.path = str(path)

        @cyray.remote
        def wait_for_gate(path, value, timeout=60.0):
            deadline = time.time() + timeout
            while not os.path.exists(path):
                if time.time() > deadline:
                    raise TimeoutError(f"gate {path} was never opened")
                time.sleep(0.01)
            return value

        self.task = wait_for_gate

    def open(self):
        with open(self.path, "w"):
            pass


@pytest.fixture
def gate(tmp_path):
    g = Gate(tmp_path / "gate-open")
    try:
        yield g
    finally:
        g.open()


# ---------------------------------------------------------------------------------------------
# Processes


def cmdline_of(proc):
    """The command line of a process joined by spaces ("" if it is gone)."""
    try:
        return " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""


def is_cyray_cmdline(cmdline):
    return cmdline.startswith(CYRAY_TITLE_PREFIX) or any(
        pattern in cmdline for pattern in CYRAY_CMDLINE_PATTERNS
    )


def cyray_processes(root=None):
    """Live cyray processes (GCS server, raylet, workers) descending from `root`.

    `root` defaults to the current process: `cyray.init()` starts the GCS server and the
    raylet as children of the driver, and the raylet starts the workers."""
    root = root if root is not None else psutil.Process()
    found = []
    for proc in root.children(recursive=True):
        if is_alive(proc) and is_cyray_cmdline(cmdline_of(proc)):
            found.append(proc)
    return found


def is_alive(proc):
    """True if `proc` (a psutil.Process) still runs; zombies count as gone."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def process_or_none(pid):
    """psutil.Process for `pid`, or None if no such process runs (zombies count as gone)."""
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None
    return proc if is_alive(proc) else None


def pid_gone_within(pid, timeout):
    """True if process `pid` has exited (or exits within `timeout` seconds)."""
    proc = process_or_none(pid)
    return proc is None or not wait_until_gone([proc], timeout)


def describe(procs):
    return "; ".join(f"pid={p.pid} {cmdline_of(p)!r}" for p in procs)


def wait_until_gone(procs, timeout):
    """Polls until every process in `procs` has exited; returns the survivors."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if is_alive(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def kill_processes(procs):
    """SIGKILLs the processes of `procs` that still run (cleanup after a failed test)."""
    for proc in procs:
        if is_alive(proc):
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass


def process_records(procs):
    """JSON-able identities of processes: [pid, create_time] pairs (immune to pid reuse)."""
    return [[p.pid, p.create_time()] for p in procs]


def processes_from_records(records):
    """psutil.Process objects for `process_records` output; exited ones are left out."""
    procs = []
    for pid, create_time in records:
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        if abs(proc.create_time() - create_time) < 0.01:
            procs.append(proc)
    return procs


def process_title(pid):
    """The title of a process as `ps` shows it: /proc/<pid>/cmdline, NULs as spaces."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        raw = f.read()
    return raw.replace(b"\x00", b" ").decode(errors="replace").strip()


def is_descendant(pid):
    return any(p.pid == pid for p in psutil.Process().children(recursive=True))


# ---------------------------------------------------------------------------------------------
# Polling


def wait_for(predicate, timeout, interval=0.05, message="condition"):
    """Polls `predicate` until it returns a truthy value, which is returned; fails the test
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def read_int_file(path, timeout):
    """Waits for a file holding an integer (written atomically by a task) and returns it."""

    def read():
        try:
            with open(path) as f:
                text = f.read().strip()
        except FileNotFoundError:
            return None
        return int(text) if text else None

    return wait_for(read, timeout, message=f"file {path}")


def count_lines(path):
    try:
        with open(path) as f:
            return len([line for line in f if line.strip()])
    except FileNotFoundError:
        return 0


def assert_tasks_still_run(timeout=60):
    """Runs a few trivial tasks on the current cluster and checks their results."""

    @cyray.remote
    def double(x):
        return 2 * x

    assert cyray.get([double.remote(i) for i in range(4)], timeout=timeout) == [0, 2, 4, 6]


# ---------------------------------------------------------------------------------------------
# Driver scripts run in a subprocess


def strip_ansi(text):
    return _ANSI_ESCAPE.sub("", text)


def driver_env():
    """The environment for a driver subprocess: a fresh local cluster, unbuffered output."""
    env = dict(os.environ)
    for key in ("RAY_ADDRESS", "CYRAY_ADDRESS"):
        env.pop(key, None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_driver_script(tmp_path, source, name="driver.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


class DriverRun:
    """A driver subprocess whose stdout and stderr go to files in tmp_path (not pipes, which
    the cluster processes it starts could inherit and hold open after it exits)."""

    def __init__(self, tmp_path, source, name="driver"):
        script = write_driver_script(tmp_path, source, name=f"{name}.py")
        self.stdout_path = tmp_path / f"{name}.stdout"
        self.stderr_path = tmp_path / f"{name}.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, str(script)],
                cwd=str(tmp_path),
                env=driver_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    @property
    def pid(self):
        return self.popen.pid

    @property
    def returncode(self):
        return self.popen.returncode

    @property
    def stdout(self):
        return strip_ansi(self.stdout_path.read_text(errors="replace"))

    @property
    def stderr(self):
        return strip_ansi(self.stderr_path.read_text(errors="replace"))

    def wait(self, timeout):
        """Waits for the driver to exit; kills it and fails the test if it overruns."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"driver did not exit within {timeout} s\nstdout:\n{self.stdout}\n"
                        f"stderr:\n{self.stderr}")

    def stop(self):
        """Kills the driver if it still runs and reaps it (for finally blocks)."""
        if self.popen.poll() is None:
            self.popen.kill()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def read_tagged_line(self, tag, timeout):
        """Polls stdout until a line starting with `tag` appears; returns the rest of it.
        Fails the test on timeout or if the driver exits first."""
        deadline = time.monotonic() + timeout
        while True:
            exited = self.popen.poll() is not None
            for line in self.stdout.splitlines():
                line = line.strip()
                if line.startswith(tag):
                    return line[len(tag):].strip()
            if exited:
                pytest.fail(f"driver exited ({self.returncode}) before printing {tag!r}\n"
                            f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}")
            if time.monotonic() > deadline:
                pytest.fail(f"driver printed no {tag!r} line within {timeout} s\n"
                            f"stderr:\n{self.stderr}")
            time.sleep(0.05)


def run_driver_script(tmp_path, source, timeout=120):
    """Runs `source` (dedented) as `python driver.py` in tmp_path until it exits; returns the
    DriverRun (returncode, stdout, stderr)."""
    run = DriverRun(tmp_path, source)
    try:
        run.wait(timeout)
    finally:
        run.stop()
    return run


def has_prefixed_line(text, name, pid, message):
    """Whether `text` has a worker line as Ray prints it in the driver:
    "(name pid=1234) message", possibly with ", ip=..." after the pid."""
    pattern = rf"\({re.escape(name)} pid={pid}(?:, ip=[^)]*)?\)\s+{re.escape(message)}"
    return re.search(pattern, text) is not None


def parse_tagged_json(stdout, tag):
    """The JSON value after `tag` on the first stdout line that starts with it."""
    for line in strip_ansi(stdout).splitlines():
        line = line.strip()
        if line.startswith(tag):
            return json.loads(line[len(tag):])
    raise AssertionError(f"no {tag!r} line in driver output:\n{stdout}")
