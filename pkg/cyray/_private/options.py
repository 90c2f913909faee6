"""The options of remote functions (`@remote(...)`, `f.options(...)`) and of actors
(`@remote` on a class, `Cls.options(...)`), as one table each: every option's default and
its check.

A check raises TypeError or ValueError naming the option and saying what it accepts (as
Ray's ray_option_utils), or NotImplementedError naming a Ray option whose value cyray
cannot honour yet. None is accepted for every option and means its default. No option is
accepted and then ignored."""

import numbers
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


def _check_non_negative_number(option, value, what="a number"):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"The option '{option}' takes {what}, got {type(value).__name__} "
                        f"{value!r}.")
    if value < 0:
        raise ValueError(f"The option '{option}' must be >= 0, got {value}.")


def check_resource_amount(option, value):
    _check_non_negative_number(option, value)
    if value > 1 and value != int(value):
        raise ValueError(f"The option '{option}' must be a whole number when above 1, "
                         f"got {value}.")


def _check_memory(option, value):
    """Bytes of memory: any number >= 0 (rounded down to whole bytes, as Ray)."""
    _check_non_negative_number(option, value, "a number of bytes")


def _integer_at_least(minimum, meaning=""):
    def check(option, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"The option '{option}' takes an integer, got "
                            f"{type(value).__name__} {value!r}.")
        if value < minimum:
            raise ValueError(f"The option '{option}' must be >= {minimum}{meaning}, "
                             f"got {value}.")

    return check


def _check_max_pending_calls(option, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"The option '{option}' takes an integer, got {type(value).__name__} "
                        f"{value!r}.")
    if value != -1 and value <= 0:
        raise ValueError(f"The option '{option}' takes -1 (no limit) or a positive integer, "
                         f"got {value}.")


def _check_string(option, value):
    if not isinstance(value, str):
        raise TypeError(f"The option '{option}' takes a string, got {type(value).__name__} "
                        f"{value!r}.")


def _check_bool(option, value):
    if not isinstance(value, bool):
        raise TypeError(f"The option '{option}' takes True or False, got "
                        f"{type(value).__name__} {value!r}.")


def _check_num_returns(option, value):
    if value in ("dynamic", "streaming"):
        raise NotImplementedError(
            f"num_returns={value!r} (generator tasks) is not supported yet by cyray; "
            "return a list instead, or a fixed number of values.")
    _integer_at_least(0)(option, value)


def _check_retry_exceptions(option, value):
    if isinstance(value, bool):
        return
    if isinstance(value, (list, tuple)) and all(
            isinstance(t, type) and issubclass(t, BaseException) for t in value):
        return
    raise TypeError("The option 'retry_exceptions' takes True/False or a list of exception "
                    f"types, got {value!r}.")


def _check_resources(option, value):
    if not isinstance(value, dict):
        raise TypeError(f"The option 'resources' takes a dict, got {type(value).__name__}.")
    for name, amount in value.items():
        if not isinstance(name, str):
            raise TypeError(f"Resource names in 'resources' must be strings, got {name!r}.")
        if name in ("CPU", "GPU"):
            raise ValueError(
                f"Use the 'num_cpus' and 'num_gpus' keywords instead of '{name}' in "
                "'resources'.")
        check_resource_amount(f"resources[{name!r}]", amount)


def _check_scheduling_strategy(option, value):
    from cyray.util.scheduling_strategies import (SCHEDULING_STRATEGY_CLASSES,
                                                  PlacementGroupSchedulingStrategy)

    if isinstance(value, PlacementGroupSchedulingStrategy):
        raise NotImplementedError(
            "scheduling_strategy=PlacementGroupSchedulingStrategy(...) is not supported yet "
            "by cyray (placement groups).")
    if isinstance(value, SCHEDULING_STRATEGY_CLASSES):
        return
    if not isinstance(value, str):
        raise TypeError(
            f"The option 'scheduling_strategy' takes None, 'DEFAULT', 'SPREAD' or a scheduling "
            f"strategy from cyray.util.scheduling_strategies, got {type(value).__name__} "
            f"{value!r}.")
    if value not in ("DEFAULT", "SPREAD"):
        raise ValueError(f"Invalid scheduling_strategy value {value!r}. Valid values are "
                         "'DEFAULT', 'SPREAD' and the classes of "
                         "cyray.util.scheduling_strategies.")


def check_label_selector(option, value):
    from cyray._private.scheduling import check_label_selector as check

    check(option, value)


def _check_lifetime(option, value):
    if value not in ("detached", "non_detached"):
        raise ValueError("The option 'lifetime' must be 'detached', 'non_detached' or None, "
                         f"got {value!r}.")


def _check_concurrency_groups(option, value):
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v > 0
            for k, v in value.items()):
        raise TypeError("The option 'concurrency_groups' takes a dict of group name to a "
                        f"positive int, got {value!r}.")


def _not_supported(what, accepted=()):
    """A Ray option cyray cannot honour: only its default (None) or `accepted` values."""

    def check(option, value):
        if value in accepted or (isinstance(value, dict) and not value):
            return
        raise NotImplementedError(f"The option '{option}' is not supported yet by cyray "
                                  f"({what}); got {value!r}.")

    return check


# ---- the tables ------------------------------------------------------------------------

_COMMON_OPTIONS = {
    "num_gpus": Option(check_resource_amount, 0),
    "memory": Option(_check_memory),
    "resources": Option(_check_resources),
    "accelerator_type": Option(_check_string),
    "name": Option(_check_string),
    "scheduling_strategy": Option(_check_scheduling_strategy),
    "label_selector": Option(check_label_selector),
    "runtime_env": Option(_not_supported("runtime environments")),
    # Ray's deprecated spellings of PlacementGroupSchedulingStrategy.
    "placement_group": Option(_not_supported("placement groups", ("default",)), "default"),
    "placement_group_bundle_index": Option(_not_supported("placement groups", (-1,)), -1),
    "placement_group_capture_child_tasks": Option(
        _not_supported("placement groups", (False,))),
}

TASK_OPTIONS = {
    **_COMMON_OPTIONS,
    "num_cpus": Option(check_resource_amount, 1),
    "num_returns": Option(_check_num_returns, 1),
    "max_calls": Option(_integer_at_least(0), 0),
    "max_retries": Option(_integer_at_least(-1, " (-1: retry forever)"), 3),
    "retry_exceptions": Option(_check_retry_exceptions, False),
}

ACTOR_OPTIONS = {
    **_COMMON_OPTIONS,
    # Actors hold no CPU once placed unless they ask (as Ray); see resource_demand.
    "num_cpus": Option(check_resource_amount),
    "max_restarts": Option(_integer_at_least(-1, " (-1: restart forever)"), 0),
    "max_task_retries": Option(_integer_at_least(-1, " (-1: retry forever)"), 0),
    "max_pending_calls": Option(_check_max_pending_calls, -1),
    "max_concurrency": Option(_integer_at_least(1)),
    "concurrency_groups": Option(_check_concurrency_groups),
    "namespace": Option(_check_string),
    "lifetime": Option(_check_lifetime),
    "get_if_exists": Option(_check_bool, False),
}

TASK_DEFAULTS = {name: option.default for name, option in TASK_OPTIONS.items()}


def _validate(options, table, what):
    for key, value in options.items():
        option = table.get(key)
        if option is None:
            raise ValueError(f"Invalid option keyword '{key}' for {what}. Valid ones are "
                             f"{sorted(table)}.")
        if value is not None:
            option.check(key, value)


def validate_task_options(options, in_options=False):
    """Raises for an unknown option or a bad value; `in_options` for `.options()`, which
    cannot change max_calls (as in Ray: it belongs to the function's workers)."""
    _validate(options, TASK_OPTIONS, "remote functions")
    if in_options and "max_calls" in options:
        raise ValueError("Setting 'max_calls' is not supported in '.options()'; pass it to "
                         "@cyray.remote(max_calls=...).")


def validate_actor_options(options):
    """Raises for an unknown actor option or a bad value."""
    _validate(options, ACTOR_OPTIONS, "actors")
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
