"""Ray's top-level names in cyray, and the RuntimeContext members Ray has."""

import os
import pickle

import pytest

import cyray

# Ray 2.60's ray.__all__ that cyray has (cancel, timeline and the generator classes come
# with their own work; Ray's subpackages autoscaler, data, workflow, widgets, internal and
# _config and its LoggingConfig are not in cyray).
RAY_NAMES = [
    "ActorClassID", "ActorID", "ClientBuilder", "FunctionID", "JobID", "Language",
    "NodeID", "ObjectID", "ObjectRef", "PlacementGroupID", "SCRIPT_MODE", "TaskID",
    "UniqueID", "WORKER_MODE", "WorkerID", "__version__", "actor", "available_resources",
    "client", "cluster_resources", "cpp_function", "get", "get_actor", "get_gpu_ids",
    "get_runtime_context", "init", "is_initialized", "java_actor_class", "java_function",
    "kill", "method", "nodes", "put", "remote", "shutdown", "util", "wait",
]


def test_rays_names_are_exported():
    missing = [name for name in RAY_NAMES if name not in cyray.__all__]
    assert not missing
    for name in cyray.__all__:
        assert hasattr(cyray, name), name


def test_modes_as_ray():
    assert (cyray.SCRIPT_MODE, cyray.WORKER_MODE) == (0, 1)


@pytest.mark.parametrize("cls", ["FunctionID", "ActorClassID", "ClusterID"])
def test_unique_id_types(cls):
    id_type = getattr(cyray, cls)
    assert issubclass(id_type, cyray.UniqueID) and id_type.size() == 28
    one = id_type.from_random()
    assert id_type(one.binary()) == one and len(one.hex()) == 56
    assert pickle.loads(pickle.dumps(one)) == one
    assert id_type.nil().is_nil() and repr(id_type.nil()).startswith(f"{cls}(")


def test_language():
    assert [cyray.Language.PYTHON.value(), cyray.Language.JAVA.value(),
            cyray.Language.CPP.value()] == [0, 1, 2]
    assert str(cyray.Language.JAVA) == "JAVA" and cyray.Language.PYTHON != cyray.Language.CPP
    assert pickle.loads(pickle.dumps(cyray.Language.CPP)) == cyray.Language.CPP


@pytest.mark.parametrize("call", [
    lambda: cyray.java_function("io.Example", "f"),
    lambda: cyray.java_actor_class("io.Example"),
    lambda: cyray.cpp_function("f"),
])
def test_cross_language_calls_say_they_are_not_supported(call):
    with pytest.raises(NotImplementedError, match="cross-language"):
        call()


def test_ray_client_says_it_is_not_supported():
    with pytest.raises(NotImplementedError, match="Ray Client"):
        cyray.client("ray://localhost:10001")
    with pytest.raises(NotImplementedError, match="cyray.init\\(address="):
        cyray.ClientBuilder()


def test_runtime_context_has_rays_members():
    ray_members = [
        "actor_id", "current_actor", "current_placement_group_id", "gcs_address", "get",
        "get_accelerator_ids", "get_actor_id", "get_actor_name", "get_assigned_resources",
        "get_job_id", "get_node_id", "get_node_labels", "get_placement_group_id",
        "get_resource_ids", "get_runtime_env_string", "get_session_name",
        "get_task_function_name", "get_task_id", "get_task_name", "get_temp_dir",
        "get_worker_id", "job_id", "namespace", "node_id", "runtime_env",
        "should_capture_child_tasks_in_placement_group", "task_id",
        "was_current_actor_reconstructed"]
    from cyray.runtime_context import RuntimeContext

    assert [m for m in ray_members if not hasattr(RuntimeContext, m)] == []


def test_runtime_context_node_and_session(ray_start_shared):
    ray = ray_start_shared
    context = ray.get_runtime_context()
    session = context.get_session_name()
    assert session.startswith("session_")
    assert os.path.isdir(os.path.join(context.get_temp_dir(), session))
    assert context.get_node_labels()["ray.io/node-id"] == context.get_node_id()
    assert context.get_resource_ids() == context.get_accelerator_ids()
    assert context.current_placement_group_id.is_nil()
    assert context.get_placement_group_id() is None
    assert context.get_runtime_env_string() == "{}" and context.runtime_env == {}
    assert context.should_capture_child_tasks_in_placement_group is False

    @ray.remote
    def in_task():
        c = ray.get_runtime_context()
        return c.get_session_name(), c.get_node_labels(), c.get_job_id(), c.namespace

    assert ray.get(in_task.remote()) == (session, context.get_node_labels(),
                                         context.get_job_id(), context.namespace)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"no_such_option": 1}, RuntimeError, "Unknown keyword argument\\(s\\): no_such_option"),
    ({"local_mode": True}, RuntimeError, "`local_mode` is no longer supported"),
    ({"namespace": ""}, ValueError, '"" is not a valid namespace'),
    ({"namespace": 1}, TypeError, "namespace must be None or a string."),
    ({"_system_config": 1}, TypeError, "The _system_config must be a dict."),
    ({"address": "ray://head:10001"}, NotImplementedError, "Ray Client"),
    ({"dashboard_port": 8265}, ValueError, "include_dashboard"),
])
def test_init_refuses_as_ray(kwargs, error, message):
    if cyray.is_initialized():
        cyray.shutdown()
    with pytest.raises(error, match=message):
        cyray.init(**kwargs)
    assert not cyray.is_initialized()


def test_init_takes_labels_and_node_name(ray_start_with_info):
    ray, _ = ray_start_with_info
    ray.shutdown()
    ray.init(num_cpus=1, labels={"zone": "a"}, _node_name="node-one", dashboard_port=None)
    assert ray.get_runtime_context().get_node_labels()["zone"] == "a"
    assert ray.nodes()[0]["NodeName"] == "node-one"
