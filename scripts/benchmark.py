"""Benchmarks of cyray's core paths, printed as a table; the same workloads run
on Ray too when it is installed (`--compare-ray`). Numbers are medians of
--repeat runs; read them as ratios on a busy machine.

    python scripts/benchmark.py [--repeat 3] [--compare-ray] [--only NAME]
"""

import argparse
import gc
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

import psutil


def _median_rate(fn, repeat):
    rates = []
    for _ in range(repeat):
        count, seconds = fn()
        rates.append(count / seconds)
    return statistics.median(rates)


def bench_task_round_trip(ray, repeat):
    @ray.remote
    def noop():
        return None

    ray.get(noop.remote())

    def run(n=1000):
        t = time.perf_counter()
        for _ in range(n):
            ray.get(noop.remote())
        return n, time.perf_counter() - t

    return _median_rate(run, repeat), "tasks/s"


def bench_task_batch(ray, repeat):
    @ray.remote
    def noop():
        return None

    ray.get([noop.remote() for _ in range(100)])

    def run(n=1000):
        t = time.perf_counter()
        ray.get([noop.remote() for _ in range(n)])
        return n, time.perf_counter() - t

    return _median_rate(run, repeat), "tasks/s"


def _make_actors(ray):
    @ray.remote
    class Sync:
        def noop(self):
            return None

    @ray.remote
    class Async:
        async def noop(self):
            return None

    return Sync.remote(), Async.remote()


def _actor_round_trip(ray, repeat, actor):
    ray.get(actor.noop.remote())

    def run(n=1000):
        t = time.perf_counter()
        for _ in range(n):
            ray.get(actor.noop.remote())
        return n, time.perf_counter() - t

    return _median_rate(run, repeat), "calls/s"


def _actor_batch(ray, repeat, actor):
    ray.get(actor.noop.remote())

    def run(n=1000):
        t = time.perf_counter()
        ray.get([actor.noop.remote() for _ in range(n)])
        return n, time.perf_counter() - t

    return _median_rate(run, repeat), "calls/s"


def bench_actor_round_trip(ray, repeat):
    return _actor_round_trip(ray, repeat, _make_actors(ray)[0])


def bench_actor_batch(ray, repeat):
    return _actor_batch(ray, repeat, _make_actors(ray)[0])


def bench_async_actor_round_trip(ray, repeat):
    return _actor_round_trip(ray, repeat, _make_actors(ray)[1])


def bench_async_actor_batch(ray, repeat):
    return _actor_batch(ray, repeat, _make_actors(ray)[1])


def bench_put_small(ray, repeat):
    def run(n=5000):
        t = time.perf_counter()
        for i in range(n):
            ray.put(i)
        return n, time.perf_counter() - t

    return _median_rate(run, repeat), "puts/s"


def bench_get_small(ray, repeat):
    refs = [ray.put(i) for i in range(5000)]

    def run():
        t = time.perf_counter()
        for ref in refs:
            ray.get(ref)
        return len(refs), time.perf_counter() - t

    return _median_rate(run, repeat), "gets/s"


def bench_put_large(ray, repeat):
    try:
        import numpy as np
    except ImportError:
        return None, "GB/s (numpy missing)"
    array = np.ones(100 * 1024 * 1024, dtype=np.uint8)

    def run():
        t = time.perf_counter()
        ref = ray.put(array)
        seconds = time.perf_counter() - t
        del ref
        gc.collect()
        return array.nbytes / 1e9, seconds

    return _median_rate(run, repeat), "GB/s"


def bench_get_large(ray, repeat):
    try:
        import numpy as np
    except ImportError:
        return None, "GB/s (numpy missing)"
    ref = ray.put(np.ones(100 * 1024 * 1024, dtype=np.uint8))

    def run():
        t = time.perf_counter()
        value = ray.get(ref)
        seconds = time.perf_counter() - t
        del value
        return 0.1048576, seconds

    return _median_rate(run, repeat), "GB/s"


def bench_init_to_first_result(module_name, repeat):
    """Time from `init()` to the first task result, in a fresh interpreter."""
    code = (
        "import time; t=time.perf_counter(); import {m} as ray; ray.init(num_cpus=2);"
        "f=ray.remote(lambda: 1); ray.get(f.remote());"
        "print(time.perf_counter()-t); ray.shutdown()").format(m=module_name)
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0:
            return None, f"s (failed: {out.stderr.strip().splitlines()[-1:]})"
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times), "s"


def idle_cluster_memory(ray):
    """RSS of every process of the cluster (and this driver) after it settles."""
    time.sleep(2.0)
    me = psutil.Process()
    procs = [me] + me.children(recursive=True)
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 1e6, f"MB RSS in {len(procs)} processes"


BENCHMARKS = [
    ("task round trip (submit+get, loop)", bench_task_round_trip),
    ("1000 tasks submitted, then fetched", bench_task_batch),
    ("actor call + get, in a loop", bench_actor_round_trip),
    ("1000 actor calls, then all fetched", bench_actor_batch),
    ("async actor call + get, in a loop", bench_async_actor_round_trip),
    ("1000 async actor calls, then fetched", bench_async_actor_batch),
    ("put of a small object", bench_put_small),
    ("get of a small object", bench_get_small),
    ("put of a 100 MB array", bench_put_large),
    ("get of a 100 MB array", bench_get_large),
]


def run_suite(module_name, repeat, only):
    ray = importlib.import_module(module_name)
    ray.init(num_cpus=2, **({"include_dashboard": False} if module_name == "ray" else {}))
    results = {}
    try:
        memory = idle_cluster_memory(ray)
        for name, fn in BENCHMARKS:
            if only and only not in name:
                continue
            try:
                results[name] = fn(ray, repeat)
            except Exception as e:  # report and go on: one failure should not hide the rest
                results[name] = (None, f"failed: {type(e).__name__}: {e}")
        results["idle cluster memory"] = memory
    finally:
        ray.shutdown()
    if not only or "init" in only:
        results["init() to first result"] = bench_init_to_first_result(module_name, repeat)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare-ray", action="store_true",
                        help="also run the workloads on Ray (if importable)")
    parser.add_argument("--only", default="", help="run benchmarks whose name contains this")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    suites = {"cyray": run_suite("cyray", args.repeat, args.only)}
    if args.compare_ray:
        try:
            importlib.import_module("ray")
            suites["ray"] = run_suite("ray", args.repeat, args.only)
        except ImportError:
            print("ray is not installed: showing cyray only", file=sys.stderr)
    if args.json:
        print(json.dumps(suites, indent=2))
        return
    print(f"{'workload':42} " + " ".join(f"{name:>14}" for name in suites) + "  unit")
    for workload, (_, unit) in suites["cyray"].items():
        cells = []
        for name in suites:
            value = suites[name].get(workload, (None, ""))[0]
            cells.append(f"{value:14.3f}" if isinstance(value, float) and value < 10
                         else f"{value:14.0f}" if value is not None else f"{'-':>14}")
        print(f"{workload:42} " + " ".join(cells) + f"  {unit}")
    print(f"\n{os.cpu_count()} CPUs; medians of {args.repeat} runs")


if __name__ == "__main__":
    main()
