"""cyray demo: a parallel Monte Carlo estimate of pi on a local cluster.

Starts a cluster (gcs_server, raylet, workers), fans out sampling tasks, then a
second wave that takes the first wave's ObjectRefs as arguments, and prints the
estimate with its timing.

    scripts/run.sh [--samples 20000000] [--tasks 40] [--num-cpus N]
"""

import argparse
import math
import os
import time

import cyray as ray


@ray.remote
def sample(num_samples, seed):
    import random

    rng = random.Random(seed)
    inside = 0
    for _ in range(num_samples):
        x, y = rng.random(), rng.random()
        inside += x * x + y * y <= 1.0
    return inside


@ray.remote
def add(*counts):
    return sum(counts)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=4_000_000)
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count())
    args = parser.parse_args()

    t0 = time.perf_counter()
    info = ray.init(num_cpus=args.num_cpus)
    t1 = time.perf_counter()
    per_task = args.samples // args.tasks
    counts = [sample.remote(per_task, seed) for seed in range(args.tasks)]
    # Reduce in a tree of tasks: ObjectRefs as arguments, resolved by cyray.
    while len(counts) > 1:
        counts = [add.remote(*counts[i:i + 8]) for i in range(0, len(counts), 8)]
    inside = ray.get(counts[0])
    t2 = time.perf_counter()
    estimate = 4.0 * inside / (per_task * args.tasks)
    print(f"cyray {ray.__version__}: node {info['node_id'][:12]}, "
          f"{ray.cluster_resources().get('CPU', 0):.0f} CPUs")
    print(f"pi ~= {estimate:.6f} (error {abs(estimate - math.pi):.2e}) from "
          f"{per_task * args.tasks:,} samples in {args.tasks} tasks")
    print(f"init {t1 - t0:.2f} s, compute {t2 - t1:.2f} s "
          f"({per_task * args.tasks / (t2 - t1) / 1e6:.1f} M samples/s)")
    ray.shutdown()


if __name__ == "__main__":
    main()
