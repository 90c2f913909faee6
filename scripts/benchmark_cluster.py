"""Multi-node benchmarks on this machine, with `cluster_utils.Cluster` (several raylets):

- the rate of pulling a 1 GiB object made on one node to another (the first pull touches
  fresh shared-memory pages; later pulls reuse them, so both are shown);
- 1,000 trivial tasks submitted then gathered, on one node with 2 CPUs and on two nodes with
  1 CPU each.

The same code runs on Ray when it is importable (`--compare-ray`, Ray installed in another
virtual environment and run with its interpreter); medians of --repeat runs.

    python scripts/benchmark_cluster.py [--repeat 3] [--compare-ray]
"""

import argparse
import importlib
import statistics
import sys
import time

GIB = 1 << 30
STORE = 1300 << 20


def _tasks_per_second(ray, repeat, n=1000):
    @ray.remote
    def noop():
        return None

    ray.get([noop.remote() for _ in range(200)])  # workers up
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        ray.get([noop.remote() for _ in range(n)])
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)


def _transfer(ray, node_id, repeat):
    import numpy as np

    from_other = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(node_id, soft=False)

    @ray.remote(scheduling_strategy=from_other)
    def make():
        return np.ones(GIB, dtype=np.uint8)

    rates = []
    for _ in range(repeat + 1):
        ref = make.remote()
        ray.wait([ref], fetch_local=False)
        start = time.perf_counter()
        value = ray.get(ref)
        rates.append(GIB / (time.perf_counter() - start) / 1e9)
        del value, ref
    return rates[0], statistics.median(rates[1:])


def run(module_name, repeat):
    ray = importlib.import_module(module_name)
    importlib.import_module(f"{module_name}.util.scheduling_strategies")
    cluster_utils = importlib.import_module(f"{module_name}.cluster_utils")
    results = {}
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "object_store_memory": STORE})
    try:
        cluster.connect()
        results["1,000 tasks, one node x 2 CPUs (tasks/s)"] = _tasks_per_second(ray, repeat)
    finally:
        ray.shutdown()
        cluster.shutdown()
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": STORE})
    try:
        other = cluster.add_node(num_cpus=1, object_store_memory=STORE)
        cluster.wait_for_nodes()
        cluster.connect()
        results["1,000 tasks, two nodes x 1 CPU (tasks/s)"] = _tasks_per_second(ray, repeat)
        cold, warm = _transfer(ray, other.node_id if isinstance(other.node_id, str)
                               else other.node_id.hex(), repeat)
        results["1 GiB object to another node, first (GB/s)"] = cold
        results["1 GiB object to another node, again (GB/s)"] = warm
    finally:
        ray.shutdown()
        cluster.shutdown()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare-ray", action="store_true")
    args = parser.parse_args()
    modules = ["cyray"]
    if args.compare_ray:
        try:
            importlib.import_module("ray")
            modules.append("ray")
        except ImportError:
            print("ray is not installed here: showing cyray only", file=sys.stderr)
    results = {name: run(name, args.repeat) for name in modules}
    print(f"{'workload':48} " + " ".join(f"{name:>10}" for name in modules))
    for workload in results["cyray"]:
        cells = " ".join(f"{results[name].get(workload, float('nan')):10.2f}" for name in modules)
        print(f"{workload:48} {cells}")


if __name__ == "__main__":
    main()
