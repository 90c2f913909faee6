"""The options of remote functions (`@remote(...)`, `f.options(...)`) and of actors
(`@remote` on a class, `Cls.options(...)`), as one table each: every option's default and
its check.

A check raises TypeError or ValueError with Ray's message (ray_option_utils: "The type of
keyword 'num_cpus' must be ..., but received type ...", "The keyword 'max_retries' only
accepts ..."), or NotImplementedError naming a Ray option whose value cyray cannot honour
yet. None is accepted for every option and means its default. No option is
accepted and then ignored."""

import warnings
from dataclasses import dataclass
from typing import Any, Callable

# What Ray adds to a task's demand for `accelerator_type=T`: a sliver of the resource
# "accelerator_type:T", which only nodes with that accelerator have.
ACCELERATOR_TYPE_PREFIX = "accelerator_type:"
ACCELERATOR_TYPE_DEMAND = 0.001


@dataclass(frozen=True)
class Option:
    """One option: `check(name, value)` raises for a bad (non-None) value."""

    check: Callable[[str, Any], None]
    default: Any = None


# ---- checks ----------------------------------------------------------------------------

_NONE = type(None)
# The smallest fraction of a resource Ray's scheduler represents.
RESOURCE_PRECISION = 0.0001


def _check_type(option, value, types):
    """Ray's type error, naming the types as Ray does (None among them where it is)."""
    if not isinstance(value, types):
        raise TypeError(f"The type of keyword '{option}' must be {types}, but received type "
                        f"{type(value)}")


def _typed(*types):
    def check(option, value):
        _check_type(option, value, types if len(types) > 1 else types[0])

    return check


def _check_quantity(name, value):
    if value < 0:
        raise ValueError(f"The quantity of resource {name} cannot be negative")
    if isinstance(value, float) and value != 0 and int(value / RESOURCE_PRECISION) == 0:
        raise ValueError(f"The precision of the fractional quantity of resource {name} "
                         f"cannot go beyond {RESOURCE_PRECISION}")


def check_resource_amount(option, value):
    """A number of CPUs or of a custom resource, as Ray checks it."""
    _check_type(option, value, (float, int, _NONE))
    _check_quantity(option, value)


def _check_gpus(option, value):
    check_resource_amount(option, value)
    if value > 1 and value != int(value):
        # GPUs are handed out by index; a fraction is only a share of one GPU.
        raise ValueError(f"The quantity of resource {option} must be a whole number when "
                         f"above 1 (cyray gives a task whole GPUs or a share of one), got "
                         f"{value}.")


def _check_memory(option, value):
    """Bytes of memory: any number >= 0 (rounded down to whole bytes, as Ray)."""
    check_resource_amount(option, value)


def _counting(infinite=True, minimum=0):
    """Ray's counting options: None, 0 or a positive integer, and -1 for "no limit"
    where `infinite`; `minimum` 1 where cyray cannot take 0."""

    def check(option, value):
        _check_type(option, value, (int, _NONE))
        if (infinite and value == -1) or value >= minimum:
            return
        if infinite:
            raise ValueError(f"The keyword '{option}' only accepts None, 0, -1 or a positive "
                             "integer, where -1 represents infinity.")
        if minimum == 0:
            raise ValueError(f"The keyword '{option}' only accepts None, 0 or a positive "
                             "integer.")
        raise ValueError(f"The keyword '{option}' only accepts None or a positive integer "
                         f"(cyray cannot take {value}).")

    return check


def _check_string(option, value):
    _check_type(option, value, (str, _NONE))


def _check_bool(option, value):
    _check_type(option, value, bool)


def _check_num_returns(option, value):
    _check_type(option, value, (int, str, _NONE))
    if value in ("dynamic", "streaming"):
        return
    if isinstance(value, str) or value < 0:
        raise ValueError(
            "Default None. When None is passed, The default value is 1 for a task and actor "
            "task, and 'streaming' for generator tasks and generator actor tasks. The keyword "
            "'num_returns' only accepts None, a non-negative integer, 'streaming' (for "
            "generators), or 'dynamic'. 'dynamic' flag will be deprecated in the future, and "
            "it is recommended to use 'streaming' instead.")


def check_generator_backpressure(option, value):
    """Ray's _generator_backpressure_num_objects: an int other than 0 (<= -1: none)."""
    _check_type(option, value, (int, _NONE))
    if value == 0:
        raise ValueError(
            "_generator_backpressure_num_objects=0 is not allowed. Use a value > 0. If the "
            "value is equal to 1, the behavior is identical to Python generator (generator 1 "
            "object whenever `next` is called). Use -1 to disable this feature. ")


def check_retry_exceptions(option, value):
    _check_type(option, value, (bool, list, tuple))
    if isinstance(value, bool) or all(
            isinstance(t, type) and issubclass(t, Exception) for t in value):
        return
    raise ValueError("retry_exceptions must be either a boolean or a list of exceptions")


def _check_resources(option, value):
    _check_type(option, value, (dict, _NONE))
    if "CPU" in value or "GPU" in value:
        raise ValueError("Use the 'num_cpus' and 'num_gpus' keyword instead of 'CPU' and "
                         "'GPU' in 'resources' keyword")
    for name, amount in value.items():
        if not isinstance(name, str):
            raise TypeError(f"Resource names in 'resources' must be strings, got {name!r}.")
        _check_type(f"resources[{name!r}]", amount, (float, int))
        _check_quantity(name, amount)


_INVALID_STRATEGY = ('Invalid scheduling_strategy value {}. Valid values are ["DEFAULT" | '
                     '"SPREAD" | PlacementGroupSchedulingStrategy | '
                     'NodeAffinitySchedulingStrategy]')


def _check_scheduling_strategy(option, value):
    from cyray.util.scheduling_strategies import (SCHEDULING_STRATEGY_CLASSES,
                                                  PlacementGroupSchedulingStrategy)

    _check_type(option, value, (_NONE, str, *SCHEDULING_STRATEGY_CLASSES))
    if isinstance(value, PlacementGroupSchedulingStrategy):
        raise NotImplementedError(
            "scheduling_strategy=PlacementGroupSchedulingStrategy(...) is not supported yet "
            "by cyray (placement groups).")
    if isinstance(value, str) and value not in ("DEFAULT", "SPREAD"):
        # Ray says so at .remote(); cyray as soon as it is given.
        raise ValueError(_INVALID_STRATEGY.format(value))


def check_label_selector(option, value):
    from cyray._private.scheduling import check_label_selector as check

    _check_type(option, value, (dict, _NONE))
    check(option, value)


def _check_lifetime(option, value):
    _check_type(option, value, (str, _NONE))
    if value not in ("detached", "non_detached"):
        raise ValueError("actor `lifetime` argument must be one of 'detached', "
                         "'non_detached' and 'None'.")


def _check_concurrency_groups(option, value):
    _check_type(option, value, (list, dict, _NONE))
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v > 0
            for k, v in value.items()):
        raise TypeError("The option 'concurrency_groups' takes a dict of group name to a "
                        f"positive int, got {value!r}.")


def _not_supported(what, accepted=(), types=None):
    """A Ray option cyray cannot honour: only its default (None) or `accepted` values."""

    def check(option, value):
        if types is not None:
            _check_type(option, value, types)
        if value in accepted or (isinstance(value, dict) and not value):
            return
        raise NotImplementedError(f"The option '{option}' is not supported yet by cyray "
                                  f"({what}); got {value!r}.")

    return check


def _check_actor_object_store_memory(option, value):
    _counting(infinite=False)(option, value)
    warnings.warn(
        "Setting 'object_store_memory' for actors is deprecated since it doesn't actually "
        "reserve the required object store memory (in Ray as in cyray).",
        DeprecationWarning, stacklevel=4)


def _check_task_object_store_memory(option, value):
    _check_type(option, value, (int, _NONE))
    raise ValueError("Setting 'object_store_memory' is not implemented for tasks")


# ---- the tables ------------------------------------------------------------------------

# Same order as Ray's, so "Valid ones are [...]" reads the same.
_COMMON_OPTIONS = {
    "label_selector": Option(check_label_selector),
    "fallback_strategy": Option(_not_supported("fallback scheduling strategies",
                                               types=(list, _NONE))),
    "accelerator_type": Option(_check_string),
    "memory": Option(_check_memory),
    "name": Option(_check_string),
    "num_cpus": Option(check_resource_amount),
    "num_gpus": Option(_check_gpus, 0),
    "placement_group": Option(_not_supported("placement groups", ("default",)), "default"),
    "placement_group_bundle_index": Option(_not_supported("placement groups", (-1,), int), -1),
    "placement_group_capture_child_tasks": Option(
        _not_supported("placement groups", (False,), (bool, _NONE))),
    "resources": Option(_check_resources),
    "runtime_env": Option(_not_supported("runtime environments", types=(dict, _NONE))),
    "scheduling_strategy": Option(_check_scheduling_strategy),
    # False: the state API, timeline and explain do not see it.
    "enable_task_events": Option(_check_bool, True),
    "_labels": Option(_not_supported("labels on tasks and actors", types=(dict, _NONE))),
}

TASK_OPTIONS = {
    **_COMMON_OPTIONS,
    "max_calls": Option(_counting(infinite=False), 0),
    "max_retries": Option(_counting(), 3),
    "num_cpus": Option(check_resource_amount, 1),
    # None: 1, or "streaming" for a generator function (resolved at .remote()).
    "num_returns": Option(_check_num_returns),
    "_generator_backpressure_num_objects": Option(check_generator_backpressure),
    "object_store_memory": Option(_check_task_object_store_memory),
    "retry_exceptions": Option(check_retry_exceptions, False),
}

ACTOR_OPTIONS = {
    **_COMMON_OPTIONS,
    "concurrency_groups": Option(_check_concurrency_groups),
    "lifetime": Option(_check_lifetime),
    "max_concurrency": Option(_counting(infinite=False, minimum=1)),
    "max_restarts": Option(_counting(), 0),
    "max_task_retries": Option(_counting(), 0),
    # 0 and -1: no limit (as Ray).
    "max_pending_calls": Option(_counting(), -1),
    "namespace": Option(_check_string),
    "get_if_exists": Option(_check_bool, False),
    # None: True for async and threaded actors (they cannot run calls in order).
    "allow_out_of_order_execution": Option(_check_bool),
    "enable_tensor_transport": Option(
        _not_supported("tensor transport", (False,), (bool, _NONE))),
    # Actors hold no CPU once placed unless they ask (as Ray); see resource_demand.
    "num_cpus": Option(check_resource_amount),
    "object_store_memory": Option(_check_actor_object_store_memory),
}

TASK_DEFAULTS = {name: option.default for name, option in TASK_OPTIONS.items()}


def _validate(options, table, what):
    for key, value in options.items():
        option = table.get(key)
        if option is None:
            raise ValueError(f"Invalid option keyword {key} for {what}. Valid ones are "
                             f"{list(table)}.")
        if value is not None:
            option.check(key, value)


def validate_task_options(options, in_options=False):
    """Raises for an unknown option or a bad value; `in_options` for `.options()`, which
    cannot change max_calls (as in Ray: it belongs to the function's workers)."""
    _validate(options, TASK_OPTIONS, "remote functions")
    if in_options and "max_calls" in options:
        raise ValueError("Setting 'max_calls' is not supported in '.options()'.")


def validate_actor_options(options, in_options=False):
    """Raises for an unknown actor option or a bad value; `in_options` for `.options()`,
    which cannot change the concurrency groups (as in Ray: they belong to the class)."""
    _validate(options, ACTOR_OPTIONS, "actors")
    if in_options and "concurrency_groups" in options:
        raise ValueError("Setting 'concurrency_groups' is not supported in '.options()'.")
    if options.get("get_if_exists") and not options.get("name"):
        raise ValueError("The actor name must be specified to use `get_if_exists`.")


def task_options_with_defaults(options):
    """The options of a task: the defaults, overridden by the given non-None values."""
    return {**TASK_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}


def resource_demand(options, default_cpus=1):
    """The resources a task (default 1 CPU) or an actor (default 0 CPU once
    placed, as in Ray) with `options` asks of a node."""
    cpus = options.get("num_cpus")
    demand = {"CPU": default_cpus if cpus is None else cpus}
    if options.get("num_gpus"):
        demand["GPU"] = options["num_gpus"]
    if options.get("memory"):
        demand["memory"] = int(options["memory"])
    if options.get("accelerator_type"):
        demand[ACCELERATOR_TYPE_PREFIX + options["accelerator_type"]] = ACCELERATOR_TYPE_DEMAND
    for name, amount in (options.get("resources") or {}).items():
        demand[name] = amount
    return {k: float(v) for k, v in demand.items() if v}


def actor_placement_demand(options, demand):
    """What a node must have free to place an actor, as Ray: an actor that asks
    for no resources at all holds none while it runs but needs 1 CPU to be
    placed; otherwise its demand."""
    unspecified = all(options.get(key) is None
                      for key in ("num_cpus", "num_gpus", "resources", "memory",
                                  "accelerator_type"))
    return {"CPU": 1.0, **demand} if unspecified else dict(demand)
