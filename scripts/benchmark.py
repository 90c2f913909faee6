"""Benchmarks of cyray's core paths, side by side with Ray and multiprocessing.

Each round runs every system once, one after the other, each in a fresh process with a fresh
cluster: cyray, then Ray (`--compare-ray`), then multiprocessing (`--compare-mp`). The table
shows each system's median over the rounds, so noise on a busy machine hits all of them
alike; read the numbers as ratios. cyray and Ray run the same code with `num_cpus=2`.

    python scripts/benchmark.py [--repeat 3] [--compare-ray [--ray-python PATH]]
                                [--compare-mp] [--only TEXT] [--scale] [--json]

Ray is never a dependency of cyray: it runs under the interpreter of its own virtual
environment (`--ray-python`, else $CYRAY_BENCH_RAY_PYTHON, else /work/rayenv/bin/python),
which is given this file and prints one round's results.

multiprocessing (`Pool(2)`) stands in where it has an equivalent: a round trip is
`pool.apply(f)` in a loop, a batch `apply_async` x N then `get`, a chain `pool.apply(f, (r,))`
in a loop, waiting one at a time `imap_unordered`. It has no objects (put/get), no actors and
no nested tasks: "-".

The scale rows (`--scale`: 100,000 tasks, one task with 10,000 ObjectRef arguments, 1,000
actors) take minutes and much memory, since 1,000 actors are 1,000 worker processes; the
actors row stops early when the machine's available memory runs low. `--scale-divisor N`
shrinks the three sizes for a quick try.
"""

import argparse
import gc
import importlib
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, NamedTuple, Optional

DEFAULT_RAY_PYTHON = "/work/rayenv/bin/python"
MARK = "@@benchmark "  # starts the worker's result lines; any other output is not ours
SYSTEMS = ("cyray", "ray", "mp")


class Unavailable(Exception):
    """The workload cannot run under this interpreter (say numpy is missing): not a failure."""


def _psutil():
    # Imported late: Ray's environment has psutil only inside Ray (on sys.path after `import ray`).
    import psutil

    return psutil


def _noop(*_args):
    return None


def _inc(x):
    return x + 1


def _rate(count, run):
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


class PeakRss:
    """Peak RSS of this process (or of it and all its descendants, `tree=True`), sampled by a
    thread while the `with` block runs; `memory_low` turns true when the machine's available
    memory falls under 20% (at least 3 GB). Only the sampling thread writes the fields."""

    def __init__(self, tree, interval):
        self.tree = tree
        self.interval = interval
        self.peak_bytes = 0
        self.memory_low = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss")
        psutil = _psutil()
        self._process = psutil.Process()
        self._min_available = max(3e9, 0.2 * psutil.virtual_memory().total)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self):
        self._sample()
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self):
        total, _ = _rss(self._process, self.tree)
        self.peak_bytes = max(self.peak_bytes, total)
        if _psutil().virtual_memory().available < self._min_available:
            self.memory_low = True


def _rss(process, tree):
    """(bytes of RSS, number of processes) of `process`, with its descendants when `tree`."""
    psutil = _psutil()
    procs = [process] + (process.children(recursive=True) if tree else [])
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total, len(procs)


# Workloads. Those taking `ray` run unchanged on cyray and on Ray; `mp_*` take the Pool.
# Each returns its row's value, or a tuple of values for a workload with several rows.

def idle_memory(_target):
    """RSS of this process and all its descendants, 2 s after the first result."""
    time.sleep(2.0)
    total, count = _rss(_psutil().Process(), tree=True)
    return total / 1e6, float(count)


def task_round_trip(ray, n=1000):
    noop = ray.remote(_noop)
    ray.get(noop.remote())

    def run():
        for _ in range(n):
            ray.get(noop.remote())

    return _rate(n, run)


def mp_task_round_trip(pool, n=1000):
    pool.apply(_noop)

    def run():
        for _ in range(n):
            pool.apply(_noop)

    return _rate(n, run)


def task_batch(ray, n=1000):
    noop = ray.remote(_noop)
    ray.get([noop.remote() for _ in range(100)])
    return _rate(n, lambda: ray.get([noop.remote() for _ in range(n)]))


def mp_task_batch(pool, n=1000):
    pool.apply(_noop)

    def run():
        for result in [pool.apply_async(_noop) for _ in range(n)]:
            result.get()

    return _rate(n, run)


def chain(ray, n=1000):
    inc = ray.remote(_inc)
    ray.get(inc.remote(0))

    def run():
        ref = inc.remote(0)
        for _ in range(n - 1):
            ref = inc.remote(ref)
        assert ray.get(ref) == n

    return _rate(n, run)


def mp_chain(pool, n=1000):
    pool.apply(_inc, (0,))

    def run():
        value = pool.apply(_inc, (0,))
        for _ in range(n - 1):
            value = pool.apply(_inc, (value,))
        assert value == n

    return _rate(n, run)


def wait_one_at_a_time(ray, n=1000):
    noop = ray.remote(_noop)
    ray.get([noop.remote() for _ in range(100)])

    def run():
        rest = [noop.remote() for _ in range(n)]
        while rest:
            _, rest = ray.wait(rest, num_returns=1)

    return _rate(1, run)


def mp_wait_one_at_a_time(pool, n=1000):
    pool.apply(_noop)

    def run():
        for _ in pool.imap_unordered(_noop, range(n)):
            pass

    return _rate(1, run)


def nested(ray, parents=100, children=10):
    leaf = ray.remote(_noop)

    @ray.remote
    def parent():
        return len(ray.get([leaf.remote() for _ in range(children)]))

    ray.get([parent.remote() for _ in range(10)])

    def run():
        assert ray.get([parent.remote() for _ in range(parents)]) == [children] * parents

    return _rate(parents, run)


def _make_actor(ray, asynchronous):
    if asynchronous:
        @ray.remote
        class Async:
            async def noop(self):
                return None

        return Async.remote()

    @ray.remote
    class Sync:
        def noop(self):
            return None

    return Sync.remote()


def _actor_round_trip(ray, asynchronous, n=1000):
    actor = _make_actor(ray, asynchronous)
    ray.get(actor.noop.remote())

    def run():
        for _ in range(n):
            ray.get(actor.noop.remote())

    return _rate(n, run)


def _actor_batch(ray, asynchronous, n=1000):
    actor = _make_actor(ray, asynchronous)
    ray.get(actor.noop.remote())
    return _rate(n, lambda: ray.get([actor.noop.remote() for _ in range(n)]))


def put_small(ray, n=5000):
    return _rate(n, lambda: [ray.put(i) for i in range(n)])


def get_small(ray, n=5000):
    refs = [ray.put(i) for i in range(n)]
    return _rate(n, lambda: [ray.get(ref) for ref in refs])


def _array_100mb():
    try:
        import numpy as np
    except ImportError:
        raise Unavailable("numpy is not installed for this interpreter")
    return np.ones(100 * 1024 * 1024, dtype=np.uint8)


def put_large(ray):
    array = _array_100mb()
    start = time.perf_counter()
    ref = ray.put(array)
    seconds = time.perf_counter() - start
    del ref
    gc.collect()
    return array.nbytes / 1e9 / seconds


def get_large(ray):
    ref = ray.put(_array_100mb())
    start = time.perf_counter()
    value = ray.get(ref)
    seconds = time.perf_counter() - start
    return value.nbytes / 1e9 / seconds


def scale_tasks(ray, n):
    """Seconds to submit n trivial tasks and gather them, and the driver's peak RSS (MB)."""
    noop = ray.remote(_noop)
    ray.get([noop.remote() for _ in range(100)])
    with PeakRss(tree=False, interval=0.05) as peak:
        start = time.perf_counter()
        ray.get([noop.remote() for _ in range(n)])
        seconds = time.perf_counter() - start
    return seconds, peak.peak_bytes / 1e6


def mp_scale_tasks(pool, n):
    pool.apply(_noop)
    with PeakRss(tree=False, interval=0.05) as peak:
        start = time.perf_counter()
        for result in [pool.apply_async(_noop) for _ in range(n)]:
            result.get()
        seconds = time.perf_counter() - start
    return seconds, peak.peak_bytes / 1e6


def scale_args(ray, n):
    """Seconds for one task with n ObjectRef arguments (small values put first) to return."""
    count = ray.remote(lambda *args: len(args))
    ray.get(count.remote())
    refs = [ray.put(i) for i in range(n)]
    start = time.perf_counter()
    assert ray.get(count.remote(*refs)) == n
    return time.perf_counter() - start


def scale_actors(ray, n):
    """Seconds to create n actors (num_cpus=0) and call each once, and the peak RSS (MB) of
    the driver and all its descendants meanwhile."""

    @ray.remote(num_cpus=0)
    class Pinger:
        def ping(self):
            return None

    with PeakRss(tree=True, interval=0.5) as peak:
        start = time.perf_counter()
        actors = [Pinger.remote() for _ in range(n)]
        pending = [actor.ping.remote() for actor in actors]
        while pending:
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
            if peak.memory_low:
                raise MemoryError(f"stopped with {n - len(pending)} of {n} actors answered: "
                                  "the machine's available memory fell under 20%")
        seconds = time.perf_counter() - start
    return seconds, peak.peak_bytes / 1e6


class Workload(NamedTuple):
    key: str
    rows: tuple  # (row name, unit) for each value the functions return, in order
    on_ray: Optional[Callable]  # (cyray or ray module) -> value(s); None: not run there
    on_mp: Optional[Callable]  # (multiprocessing.Pool) -> value(s); None: no equivalent
    scale: bool = False


def _measured_at_start(_target):
    raise AssertionError("the worker measures init() itself")


def workloads(scale_divisor=1):
    tasks, args, actors = (n // scale_divisor for n in (100_000, 10_000, 1_000))
    return [
        Workload("init", (("init() to first result", "s"),),
                 _measured_at_start, _measured_at_start),
        Workload("idle", (("idle memory, all processes", "MB RSS"),
                          ("idle processes", "processes")), idle_memory, idle_memory),
        Workload("task_round_trip", (("task round trip (submit+get, loop)", "tasks/s"),),
                 task_round_trip, mp_task_round_trip),
        Workload("task_batch", (("1000 tasks submitted, then fetched", "tasks/s"),),
                 task_batch, mp_task_batch),
        Workload("chain", (("chain: r = f.remote(r) x1000, get last", "tasks/s"),),
                 chain, mp_chain),
        Workload("wait", (("wait on 1000 refs, one at a time", "rounds/s"),),
                 wait_one_at_a_time, mp_wait_one_at_a_time),
        Workload("nested", (("nested: 100 parents x 10 child tasks", "parents/s"),),
                 nested, None),
        Workload("actor_round_trip", (("actor call + get, in a loop", "calls/s"),),
                 lambda ray: _actor_round_trip(ray, False), None),
        Workload("actor_batch", (("1000 actor calls, then all fetched", "calls/s"),),
                 lambda ray: _actor_batch(ray, False), None),
        Workload("async_actor_round_trip", (("async actor call + get, in a loop", "calls/s"),),
                 lambda ray: _actor_round_trip(ray, True), None),
        Workload("async_actor_batch", (("1000 async actor calls, then fetched", "calls/s"),),
                 lambda ray: _actor_batch(ray, True), None),
        Workload("put_small", (("put of a small object", "puts/s"),), put_small, None),
        Workload("get_small", (("get of a small object", "gets/s"),), get_small, None),
        Workload("put_large", (("put of a 100 MB array", "GB/s"),), put_large, None),
        Workload("get_large", (("get of a 100 MB array", "GB/s"),), get_large, None),
        Workload("scale_tasks", ((f"{tasks:,} tasks submitted, then gathered", "s"),
                                 (f"{tasks:,} tasks: driver peak RSS", "MB")),
                 lambda ray: scale_tasks(ray, tasks),
                 lambda pool: mp_scale_tasks(pool, tasks), scale=True),
        Workload("scale_args", ((f"one task with {args:,} ObjectRef arguments", "s"),),
                 lambda ray: scale_args(ray, args), None, scale=True),
        Workload("scale_actors", ((f"{actors:,} actors created, each called once", "s"),
                                  (f"{actors:,} actors: peak RSS, all processes", "MB")),
                 lambda ray: scale_actors(ray, actors), None, scale=True),
    ]


# The worker: one system, one round, in a fresh process. It prints MARK + JSON lines:
# {"event": "started", "version"}, then per workload {"event": "start", "key"} and one of
# {"event": "done", "key", "values"}, {"event": "unavailable" | "error", "key", "reason"}.

def _emit(**message):
    print(MARK + json.dumps(message), flush=True)


def _start(system):
    """Starts the system; returns what the workloads take, its version, and how to stop it."""
    if system == "mp":
        import multiprocessing

        pool = multiprocessing.get_context("fork").Pool(2)
        pool.apply(_noop)

        def stop():
            pool.close()
            pool.join()

        return pool, platform.python_version(), stop
    ray = importlib.import_module(system)
    ray.init(num_cpus=2, **({"include_dashboard": False} if system == "ray" else {}))
    ray.get(ray.remote(_noop).remote())
    return ray, ray.__version__, ray.shutdown


def run_worker(system, keys, scale_divisor):
    by_key = {w.key: w for w in workloads(scale_divisor)}
    start = time.perf_counter()
    target, version, stop = _start(system)
    init_seconds = time.perf_counter() - start
    _emit(event="started", version=version)
    try:
        for key in keys:
            _emit(event="start", key=key)
            try:
                if key == "init":
                    values = init_seconds
                else:
                    values = (by_key[key].on_mp if system == "mp" else by_key[key].on_ray)(target)
                values = values if isinstance(values, tuple) else (values,)
                _emit(event="done", key=key, values=values)
            except Unavailable as e:
                _emit(event="unavailable", key=key, reason=str(e))
            except Exception as e:  # report and go on: one failure should not hide the rest
                _emit(event="error", key=key, reason=f"{type(e).__name__}: {e}")
    finally:
        stop()


# The driver: starts the workers round by round and reports the medians.

def _interpreter_env(python):
    """The environment for a worker under `python`: its own virtualenv, not ours."""
    if python == sys.executable:
        return None
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.path.dirname(python) + os.pathsep + env.get("PATH", "")
    env["RAY_USAGE_STATS_ENABLED"] = "0"  # no usage report over the network during a benchmark
    return env


def ray_interpreter(path):
    """Ray's version under `path`, or None after saying on stderr why Ray cannot run."""
    if not path:
        print(f"no Ray interpreter: pass --ray-python or set CYRAY_BENCH_RAY_PYTHON "
              f"({DEFAULT_RAY_PYTHON} does not exist); going on without Ray", file=sys.stderr)
        return None
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        print(f"Ray interpreter {path} does not exist; going on without Ray", file=sys.stderr)
        return None
    try:
        out = subprocess.run([path, "-c", "import ray; print(ray.__version__)"],
                             capture_output=True, text=True, timeout=120,
                             env=_interpreter_env(path))
    except subprocess.TimeoutExpired:
        print(f"{path} took over 120 s to import ray; going on without Ray", file=sys.stderr)
        return None
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        print(f"{path} cannot import ray ({last}); going on without Ray", file=sys.stderr)
        return None
    return out.stdout.strip()


def _read_lines(stream, lines):
    for line in stream:
        lines.put(line)
    lines.put(None)


def _end_session(proc, wait_seconds):
    """Waits for the worker to exit (kills it after `wait_seconds`), then for the processes
    it left in its session (cluster daemons, workers) to go; kills those still there after
    10 s and returns how many."""
    psutil = _psutil()
    try:
        proc.wait(timeout=wait_seconds)
    except subprocess.TimeoutExpired:
        try:
            tree = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            tree = []
        proc.kill()
        proc.wait()
        for p in tree:
            try:
                p.kill()
            except psutil.Error:
                pass

    def in_session():
        procs = []
        for p in psutil.process_iter():
            try:
                if os.getsid(p.pid) == proc.pid and p.status() != psutil.STATUS_ZOMBIE:
                    procs.append(p)
            except (OSError, psutil.Error):
                pass
        return procs

    deadline = time.monotonic() + 10
    while in_session() and time.monotonic() < deadline:
        time.sleep(0.2)
    left = in_session()
    for p in left:
        try:
            p.kill()
        except psutil.Error:
            pass
    return len(left)


def run_worker_process(system, python, keys, args, timeout_of):
    """Runs `keys` on `system` in one worker process; returns ({key: outcome}, version, notes)
    where an outcome is ("done", values) or ("unavailable" | "error", reason). A key that
    hangs past its timeout fails and ends the process: the caller runs the rest anew."""
    cmd = [python, os.path.abspath(__file__), "--worker", system, "--keys", ",".join(keys),
           "--scale-divisor", str(args.scale_divisor)]
    outcomes, version, notes = {}, None, []
    running = None
    with tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=stderr, text=True, env=_interpreter_env(python),
                                start_new_session=True)
        lines = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines))
        reader.start()
        timeout = args.timeout
        deadline = time.monotonic() + timeout
        hung = ended = False
        try:
            while True:
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    hung = True
                    break
                if line is None:
                    ended = True
                    break
                if not line.startswith(MARK):
                    continue
                message = json.loads(line[len(MARK):])
                event, key = message["event"], message.get("key")
                if event == "started":
                    version = message["version"]
                elif event == "start":
                    running = key
                    timeout = timeout_of(key)
                elif event == "done":
                    outcomes[key] = ("done", message["values"])
                else:
                    outcomes[key] = (event, message["reason"])
                if event != "start":
                    running = None
                    timeout = args.timeout
                deadline = time.monotonic() + timeout
        finally:
            left = _end_session(proc, args.timeout if ended else 0)
            reader.join()
        stderr.seek(0)
        last = (stderr.read().strip().splitlines() or [""])[-1]
    if left:
        notes.append(f"{left} processes of {system} were still running 10 s after its worker "
                     "ended; killed them")
    if hung:
        reason = f"timed out after {timeout:.0f} s"
    else:
        reason = f"worker exited with code {proc.returncode}" + (f": {last}" if last else "")
    missing = [key for key in keys if key not in outcomes]
    if running is not None:
        outcomes[running] = ("error", reason)  # the caller runs the rest in a new worker
    elif version is None:  # it never started: nothing can run
        outcomes.update({key: ("error", f"start-up failed: {reason}") for key in keys})
    elif missing:
        outcomes.update({key: ("error", reason) for key in missing})
    elif hung or proc.returncode != 0:
        notes.append(f"{system}'s worker, after its last workload: {reason}")
    return outcomes, version, notes


def run_round(system, python, keys, args, timeout_of):
    """One round of `system`: all `keys`, in as few fresh worker processes as hangs allow."""
    outcomes, version, notes = {}, None, []
    pending = list(keys)
    while pending:
        done, started_version, more_notes = run_worker_process(
            system, python, pending, args, timeout_of)
        outcomes.update(done)
        version = version or started_version
        notes += more_notes
        pending = [key for key in pending if key not in outcomes]
    return outcomes, version, notes


def _format(value):
    if value == int(value) and value < 1000:
        return str(int(value))
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def summarize(chosen, systems, outcomes, repeat):
    """Rows of medians (one per workload row) and the notes on what did not run."""
    rows, notes = [], []
    for w in chosen:
        for index, (name, unit) in enumerate(w.rows):
            row = {"workload": name, "unit": unit}
            for system in systems:
                runs = outcomes[system].get(w.key)
                if runs is None:
                    continue  # no equivalent there
                values = [r[1][index] for r in runs if r[0] == "done"]
                row[system] = {"median": statistics.median(values) if values else None,
                               "values": values,
                               "unavailable": any(r[0] == "unavailable" for r in runs)}
            for other in ("ray", "mp"):
                a, b = row.get("cyray", {}).get("median"), row.get(other, {}).get("median")
                if a is not None and b:
                    row[f"cyray/{other}"] = a / b
            rows.append(row)
        for system in systems:
            reasons = {}
            for kind, detail in outcomes[system].get(w.key, []):
                if kind != "done":
                    reasons[(kind, detail)] = reasons.get((kind, detail), 0) + 1
            for (kind, detail), count in reasons.items():
                what = "unavailable" if kind == "unavailable" else "failed"
                notes.append(f"{system}, {w.rows[0][0]}: {what} in {count} of {repeat} "
                             f"rounds: {detail}")
    return rows, notes


def print_table(rows, systems, repeat):
    ratios = [f"cyray/{s}" for s in ("ray", "mp") if s in systems]
    print(f"{'workload':44}" + "".join(f"{s:>11}" for s in systems + ratios) + "  unit")
    for row in rows:
        cells = []
        for system in systems:
            result = row.get(system)
            if result is None:
                cells.append("-")
            elif result["median"] is None:
                cells.append("n/a" if result["unavailable"] else "fail")
            else:
                partial = "" if len(result["values"]) == repeat else "*"
                cells.append(_format(result["median"]) + partial)
        cells += [f"{row[r]:.2f}" if r in row else "-" for r in ratios]
        print(f"{row['workload']:44}" + "".join(f"{c:>11}" for c in cells) + f"  {row['unit']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--compare-ray", action="store_true",
                        help="also run every workload on Ray, under --ray-python")
    parser.add_argument("--ray-python", default=os.environ.get("CYRAY_BENCH_RAY_PYTHON") or (
        DEFAULT_RAY_PYTHON if os.path.exists(DEFAULT_RAY_PYTHON) else None),
        help="interpreter of Ray's environment (default $CYRAY_BENCH_RAY_PYTHON, "
             f"else {DEFAULT_RAY_PYTHON})")
    parser.add_argument("--compare-mp", action="store_true",
                        help="also run the workloads that have an equivalent on "
                             "multiprocessing.Pool(2)")
    parser.add_argument("--only", default="", help="run the rows whose name contains this")
    parser.add_argument("--scale", action="store_true",
                        help="add the scale rows (minutes, and gigabytes for 1,000 actors)")
    parser.add_argument("--scale-divisor", type=int, default=1,
                        help="divide the scale rows' sizes by this, for a quick try")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds a start-up, workload or shutdown may take (default 300)")
    parser.add_argument("--scale-timeout", type=float, default=1800,
                        help="seconds a scale workload may take (default 1800)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--keys", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, args.keys.split(","), args.scale_divisor)
        return

    chosen = [w for w in workloads(args.scale_divisor) if (args.scale or not w.scale)
              and any(args.only in name for name, _ in w.rows)]
    if not chosen:
        parser.error(f"no row matches --only {args.only!r}"
                     + ("" if args.scale else " (scale rows need --scale)"))
    interpreters = {"cyray": sys.executable}
    versions = {}
    if args.compare_ray:
        version = ray_interpreter(args.ray_python)
        if version:
            interpreters["ray"], versions["ray"] = args.ray_python, version
    if args.compare_mp:
        interpreters["mp"], versions["mp"] = sys.executable, platform.python_version()
    systems = list(interpreters)
    scale_keys = {w.key for w in chosen if w.scale}
    timeout_of = lambda key: args.scale_timeout if key in scale_keys else args.timeout
    outcomes = {system: {} for system in systems}
    notes = []
    for round_number in range(1, args.repeat + 1):
        for system in systems:
            keys = [w.key for w in chosen if (w.on_mp if system == "mp" else w.on_ray)]
            if not keys:
                continue
            start = time.perf_counter()
            done, version, round_notes = run_round(
                system, interpreters[system], keys, args, timeout_of)
            versions[system] = version or versions.get(system)
            notes += round_notes
            for key, outcome in done.items():
                outcomes[system].setdefault(key, []).append(outcome)
            print(f"round {round_number}/{args.repeat}: {system} took "
                  f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
    rows, row_notes = summarize(chosen, systems, outcomes, args.repeat)
    notes = row_notes + sorted(set(notes))
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "rounds": args.repeat, "versions": versions,
                          "ray_python": interpreters.get("ray"), "rows": rows, "notes": notes},
                         indent=2))
        return
    print_table(rows, systems, args.repeat)
    names = {"cyray": "cyray {}", "ray": "Ray {} (" + interpreters.get("ray", "") + ")",
             "mp": "multiprocessing Pool(2) on Python {}"}
    print(f"\n{os.cpu_count()} CPUs; medians of {args.repeat} interleaved rounds (each round: "
          + ", then ".join(systems) + ", each in a fresh process); "
          + "; ".join(names[s].format(versions.get(s) or "?") for s in systems) + ".")
    if len(systems) > 1:
        print("cyray/x is cyray's median over x's: above 1 is better for rates (/s), "
              "worse for s and MB. '-': no equivalent; '*': not every round succeeded.")
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
