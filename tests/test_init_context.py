"""What cyray.init() takes and returns, as ray.init: a RayContext (a context manager),
options it refuses (dashboard options without include_dashboard=True, unknown keywords,
bad logging levels), and logging_level reaching the processes it starts."""

import logging
import os

import pytest
from conftest import cyray_processes, describe, wait_until_gone

import cyray as ray
from cyray._private.ray_context import BaseContext, RayContext


@pytest.fixture
def no_cluster():
    """No cluster before the test; none left after it."""
    if ray.is_initialized():
        ray.shutdown()
    level = logging.getLogger("cyray").level
    yield
    if ray.is_initialized():
        ray.shutdown()
    logging.getLogger("cyray").setLevel(level)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"dashboard_port": 0}, ValueError, "include_dashboard=True"),
    ({"include_dashboard": "yes"}, TypeError, "include_dashboard"),
    ({"logging_level": "loud"}, ValueError, "loud"),
    ({"logging_level": 2.5}, TypeError, "logging_level"),
    # A keyword of Ray's that cyray cannot honour; an unknown one (Ray's RuntimeError).
    ({"_temp_dir": "/tmp/x"}, NotImplementedError, "_temp_dir"),
    ({"num_cpu": 1}, RuntimeError, "num_cpu"),
])
def test_refused_init_options_start_nothing(no_cluster, kwargs, error, match):
    with pytest.raises(error, match=match):
        ray.init(num_cpus=1, **kwargs)
    assert not ray.is_initialized()
    assert not cyray_processes()


def test_connecting_takes_no_node_sizes(no_cluster):
    for kwargs in ({"memory": 10**9}, {"object_store_memory": 10**8}):
        with pytest.raises(ValueError, match="existing cluster"):
            ray.init(address="127.0.0.1:1", **kwargs)


def test_init_returns_a_context_that_shuts_down_on_exit(no_cluster):
    with ray.init(num_cpus=1, include_dashboard=False) as ctx:
        assert isinstance(ctx, RayContext) and isinstance(ctx, BaseContext)
        assert ray.is_initialized()
        assert ctx.dashboard_url is None
        assert ctx.address_info["address"] == ctx.address_info["gcs_address"]
        with pytest.warns(DeprecationWarning):
            assert ctx["address"] == ctx.address_info["address"]
        assert ctx.address_info["node_id"] == ray.get_runtime_context().get_node_id()
        assert ctx.python_version.count(".") == 2 and ctx.ray_version == ray.__version__
        # Already connected: the same connection's context.
        again = ray.init(ignore_reinit_error=True)
        assert isinstance(again, RayContext)
        assert again.address_info == ctx.address_info
        started = cyray_processes()
        assert started
    assert not ray.is_initialized()
    left = wait_until_gone(started, 10)
    assert not left, describe(left)


def test_disconnect_shuts_down(no_cluster):
    ctx = ray.init(num_cpus=1)
    ctx.disconnect()
    assert not ray.is_initialized()


def test_logging_level_sets_the_logger_and_the_started_processes(no_cluster):
    ray.init(num_cpus=1, logging_level="warning")
    assert logging.getLogger("cyray").level == logging.WARNING
    raylets = [p for p in cyray_processes() if "raylet" in " ".join(p.cmdline())]
    assert raylets
    assert raylets[0].environ().get("CYRAY_log_level") == "warning"
    gcs = [p for p in cyray_processes() if "cyray.gcs.server" in " ".join(p.cmdline())]
    assert "--log-level=warning" in gcs[0].cmdline()
    ray.shutdown()

    ray.init(num_cpus=1, logging_level=logging.DEBUG)
    assert logging.getLogger("cyray").level == logging.DEBUG
    raylets = [p for p in cyray_processes() if "raylet" in " ".join(p.cmdline())]
    assert raylets[0].environ().get("CYRAY_log_level") == "debug"


def test_default_logging_level_leaves_the_environment_alone(no_cluster, monkeypatch):
    monkeypatch.setenv("CYRAY_log_level", "error")
    ray.init(num_cpus=1)
    assert logging.getLogger("cyray").level == logging.INFO
    raylets = [p for p in cyray_processes() if "raylet" in " ".join(p.cmdline())]
    assert raylets[0].environ().get("CYRAY_log_level") == "error"
    assert os.environ["CYRAY_log_level"] == "error"


def test_memory_is_detected_or_given(no_cluster):
    ray.init(num_cpus=1)
    detected = ray.cluster_resources()["memory"]
    assert detected > 0
    ray.shutdown()
    ray.init(num_cpus=1, memory=2 * 10**9, object_store_memory=100 * 2**20)
    resources = ray.cluster_resources()
    assert resources["memory"] == 2 * 10**9
    assert resources["object_store_memory"] == 100 * 2**20
    ray.shutdown()
    ray.init(num_cpus=1, _memory=10**9)  # Ray's spelling
    assert ray.cluster_resources()["memory"] == 10**9
