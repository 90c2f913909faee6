"""A fetch from a holder that is alive but never answers (its raylet is stopped with
SIGSTOP) ends: at object_pull_timeout_ms with Ray's ObjectFetchTimedOutError, or earlier
at the get's own timeout with GetTimeoutError."""

import signal
import time

import numpy as np
import pytest

import cyray as ray
from cyray.cluster_utils import Cluster

STORE = 200 * 1024 * 1024


@pytest.fixture
def stopped_holder():
    """A two-node cluster with a pull timeout of 2 s, and a ref to an object held only by
    the second node, whose raylet is stopped (SIGCONT at teardown, then shutdown)."""
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": STORE,
        "_system_config": {"object_pull_timeout_ms": 2000,
                           "health_check_failure_threshold": 1000}})
    far = None
    try:
        far = cluster.add_node(num_cpus=1, resources={"far": 1}, object_store_memory=STORE)
        cluster.connect()

        @ray.remote(resources={"far": 1})
        def make():
            return np.ones(1_000_000)

        ref = make.remote()
        ready, _ = ray.wait([ref], fetch_local=False, timeout=30)
        assert ready
        far.raylet_process.send_signal(signal.SIGSTOP)
        yield ref
    finally:
        if far is not None:
            far.raylet_process.send_signal(signal.SIGCONT)
        cluster.shutdown()


def test_pull_timeout_raises_object_fetch_timed_out(stopped_holder):
    start = time.monotonic()
    with pytest.raises(ray.exceptions.ObjectFetchTimedOutError, match="timed out"):
        ray.get(stopped_holder, timeout=30)
    assert time.monotonic() - start < 15


def test_get_timeout_bounds_the_pull(stopped_holder):
    start = time.monotonic()
    with pytest.raises(ray.exceptions.GetTimeoutError):
        ray.get(stopped_holder, timeout=0.5)
    assert time.monotonic() - start < 1.5
