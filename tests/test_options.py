"""No silent options: every option of tasks, actors, put and wait either does what Ray does
or is refused naming it. The checks run when the function or class is decorated or given
options (no cluster needed); the tests at the end run tasks on the shared cluster."""

import pytest
from conftest import assert_tasks_still_run

import cyray as ray
from cyray._private.options import resource_demand
from cyray.util.scheduling_strategies import (
    In,
    NodeAffinitySchedulingStrategy,
    NotIn,
    NodeLabelSchedulingStrategy,
    PlacementGroupSchedulingStrategy,
)


def a_function():
    return 1


class AClass:
    def ping(self):
        return "pong"


def task_with(**options):
    return ray.remote(**options)(a_function)


def actor_with(**options):
    return ray.remote(**options)(AClass)


@pytest.fixture(params=["task", "actor"])
def decorate(request):
    """Applies options both ways Ray takes them: in @remote(...) and in .options(...)."""
    make = task_with if request.param == "task" else actor_with
    bare = ray.remote(a_function) if request.param == "task" else ray.remote(AClass)

    def apply(**options):
        make(**options)
        bare.options(**options)

    return apply


# ---- values refused ----------------------------------------------------------------------


@pytest.mark.parametrize("value", [3, b"A100", ["A100"]])
def test_accelerator_type_takes_a_string(decorate, value):
    with pytest.raises(TypeError, match="accelerator_type"):
        decorate(accelerator_type=value)


@pytest.mark.parametrize("value", [object(), 3, {"node": "x"}])
def test_scheduling_strategy_of_a_wrong_type(decorate, value):
    with pytest.raises(TypeError, match="scheduling_strategy"):
        decorate(scheduling_strategy=value)


def test_scheduling_strategy_unknown_name(decorate):
    with pytest.raises(ValueError, match="SPREADING"):
        decorate(scheduling_strategy="SPREADING")


def test_placement_group_strategy_is_not_supported_yet(decorate):
    strategy = PlacementGroupSchedulingStrategy(None, placement_group_bundle_index=0)
    with pytest.raises(NotImplementedError, match="PlacementGroupSchedulingStrategy"):
        decorate(scheduling_strategy=strategy)


@pytest.mark.parametrize("strategy", [
    NodeAffinitySchedulingStrategy("ab" * 28, soft=False),
    NodeLabelSchedulingStrategy({"region": In("us")}, soft={"zone": NotIn("a")}),
], ids=lambda s: type(s).__name__)
def test_scheduling_strategy_classes_are_accepted(decorate, strategy):
    decorate(scheduling_strategy=strategy)


def test_label_strategy_conditions_must_be_operators():
    with pytest.raises(ValueError, match="In"):
        NodeLabelSchedulingStrategy({"region": "us"})
    with pytest.raises(ValueError, match="label values"):
        In()


@pytest.mark.parametrize("selector", [["a"], {"a": 1}, {"": "x"}, {"a": "!"}])
def test_label_selector_of_a_wrong_shape(decorate, selector):
    with pytest.raises(TypeError, match="label_selector"):
        decorate(label_selector=selector)


def test_scheduling_strategy_classes_are_built_as_rays():
    soft = NodeAffinitySchedulingStrategy(node_id="ab" * 28, soft=True, _spill_on_unavailable=True)
    assert (soft.node_id, soft.soft, soft._spill_on_unavailable, soft._fail_on_unavailable) == \
        ("ab" * 28, True, True, False)
    pg = PlacementGroupSchedulingStrategy("pg")
    assert (pg.placement_group_bundle_index, pg.placement_group_capture_child_tasks) == (-1, None)
    with pytest.raises(TypeError):
        NodeLabelSchedulingStrategy({"a": "b"}, {"c": "d"})  # soft is keyword-only


@pytest.mark.parametrize("option,value", [
    ("runtime_env", {"pip": ["requests"]}),
    ("placement_group", object()),
    ("placement_group_bundle_index", 0),
    ("placement_group_capture_child_tasks", True),
])
def test_ray_options_cyray_cannot_honour_are_named(decorate, option, value):
    with pytest.raises(NotImplementedError, match=option):
        decorate(**{option: value})


@pytest.mark.parametrize("value,error", [(-2, ValueError), ("3", TypeError),
                                         (1.5, TypeError)])
def test_max_pending_calls_is_minus_one_zero_or_positive(value, error):
    with pytest.raises(error, match="max_pending_calls"):
        actor_with(max_pending_calls=value)
    with pytest.raises(error, match="max_pending_calls"):
        ray.remote(AClass).options(max_pending_calls=value)


def test_max_pending_calls_accepts_ray_values():
    for value in (-1, 0, 1, 100, None):  # -1 and 0: no limit, as Ray
        actor_with(max_pending_calls=value)


def test_max_pending_calls_is_an_actor_option():
    with pytest.raises(ValueError, match="max_pending_calls"):
        task_with(max_pending_calls=2)


def test_actor_get_if_exists_needs_a_name():
    with pytest.raises(ValueError, match="get_if_exists"):
        ray.remote(AClass).options(get_if_exists=True)


def test_max_calls_cannot_change_in_options():
    with pytest.raises(ValueError, match="max_calls"):
        ray.remote(a_function).options(max_calls=2)


def test_generator_num_returns_need_a_generator_function():
    for value in ("dynamic", "streaming"):
        with pytest.raises(ValueError, match="can only be used with generator functions"):
            task_with(num_returns=value)


@pytest.mark.parametrize("value", [-1, "x", [1]])
def test_memory_takes_bytes(decorate, value):
    with pytest.raises((TypeError, ValueError), match="memory"):
        decorate(memory=value)


def test_unknown_option_is_named(decorate):
    with pytest.raises(ValueError, match="num_cpu"):
        decorate(num_cpu=1)


# ---- values that mean something ------------------------------------------------------------


def test_none_means_the_default():
    f = ray.remote(num_returns=2)(a_function).options(num_returns=None, max_retries=None)
    assert f is not None
    assert resource_demand({"num_cpus": None}) == {"CPU": 1.0}


def test_accelerator_type_becomes_a_resource_as_in_ray():
    demand = resource_demand({"accelerator_type": "A100", "num_gpus": 1})
    assert demand == {"CPU": 1.0, "GPU": 1.0, "accelerator_type:A100": 0.001}
    assert resource_demand({"accelerator_type": "T4"}, default_cpus=0) == \
        {"accelerator_type:T4": 0.001}


def test_memory_becomes_a_resource_in_whole_bytes():
    assert resource_demand({"memory": 1.5e9}) == {"CPU": 1.0, "memory": 1.5e9}
    assert resource_demand({"memory": 100.7}) == {"CPU": 1.0, "memory": 100.0}


def test_valid_strategies_are_accepted(decorate):
    for value in (None, "DEFAULT", "SPREAD"):
        decorate(scheduling_strategy=value)


# ---- on a cluster ------------------------------------------------------------------------


def test_task_with_memory_runs(ray_start_shared):
    assert ray.cluster_resources()["memory"] > 0
    assert ray.cluster_resources()["object_store_memory"] > 0

    @ray.remote(memory=50 * 1024 * 1024)
    def small():
        return "ran"

    assert ray.get(small.remote(), timeout=60) == "ran"
    assert ray.get(small.options(memory=10**6).remote(), timeout=60) == "ran"


def test_more_memory_than_the_node_has_waits(ray_start_shared):
    """As in Ray: a request no node can fit waits for a node that can (with a warning)."""
    @ray.remote
    def huge():
        return "ran"

    too_much = int(ray.cluster_resources()["memory"] * 2)
    with pytest.raises(ray.exceptions.GetTimeoutError):
        ray.get(huge.options(memory=too_much).remote(), timeout=1)
    assert_tasks_still_run()


def test_accelerator_type_no_node_has_waits(ray_start_shared):
    @ray.remote(accelerator_type="A100")
    def on_a100():
        return "ran"

    with pytest.raises(ray.exceptions.GetTimeoutError):
        ray.get(on_a100.remote(), timeout=1)
    assert_tasks_still_run()


def make_pinger():
    # Defined at call time: a worker cannot import this test module (see conftest).
    @ray.remote
    class Pinger:
        def ping(self):
            return "pong"

    return Pinger


def test_spread_strategy_runs(ray_start_shared, actors):
    @ray.remote(scheduling_strategy="SPREAD")
    def spread(x):
        return x

    assert ray.get([spread.remote(i) for i in range(4)], timeout=60) == [0, 1, 2, 3]
    handle = make_pinger().options(scheduling_strategy="DEFAULT").remote()
    actors.append(handle)
    assert ray.get(handle.ping.remote(), timeout=60) == "pong"


def test_put_owner_is_refused(ray_start_shared, actors):
    handle = make_pinger().remote()
    actors.append(handle)
    with pytest.raises(NotImplementedError, match="ownership"):
        ray.put(1, _owner=handle)
    with pytest.raises(TypeError, match="_owner"):
        ray.put(1, _owner="not an actor")
    assert ray.get(ray.put(2, _owner=None)) == 2


def test_wait_fetch_local(ray_start_shared):
    refs = [ray.put(i) for i in range(3)]
    with pytest.raises(TypeError, match="fetch_local"):
        ray.wait(refs, fetch_local="x")
    with pytest.raises(TypeError, match="fetch_local"):
        ray.wait(refs, fetch_local=None)
    for fetch_local in (True, False):
        ready, rest = ray.wait(refs, num_returns=3, timeout=30, fetch_local=fetch_local)
        assert ready == refs and rest == []
