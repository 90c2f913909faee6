"""Validation of the options of remote functions (`@remote(...)`, `.options()`),
with errors that name the option and say what it accepts."""

import numbers

TASK_DEFAULTS = {
    "num_returns": 1,
    "num_cpus": 1,
    "num_gpus": 0,
    "memory": None,
    "resources": None,
    "max_calls": 0,
    "max_retries": 3,
    "retry_exceptions": False,
    "name": None,
    "accelerator_type": None,
    "runtime_env": None,
    "scheduling_strategy": None,
}


def check_resource_amount(option, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"The option '{option}' takes a number, got {type(value).__name__} "
                        f"{value!r}.")
    if value < 0:
        raise ValueError(f"The option '{option}' must be >= 0, got {value}.")
    if value > 1 and value != int(value):
        raise ValueError(f"The option '{option}' must be a whole number when above 1, "
                         f"got {value}.")


def _check_int(option, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"The option '{option}' takes an integer, got {type(value).__name__} "
                        f"{value!r}.")
    if value < minimum:
        raise ValueError(f"The option '{option}' must be >= {minimum}, got {value}.")


def validate_task_options(options):
    """Raises ValueError/TypeError for unknown options or bad values."""
    for key, value in options.items():
        if key not in TASK_DEFAULTS:
            raise ValueError(
                f"Invalid option keyword '{key}' for remote functions. Valid ones are "
                f"{sorted(TASK_DEFAULTS)}.")
        if value is None:
            continue
        if key in ("num_cpus", "num_gpus", "memory"):
            check_resource_amount(key, value)
        elif key == "num_returns":
            _check_int(key, value, 0)
        elif key == "max_calls":
            _check_int(key, value, 0)
        elif key == "max_retries":
            _check_int(key, value, -1)
        elif key == "retry_exceptions":
            _check_retry_exceptions(value)
        elif key == "resources":
            _check_resources(value)
        elif key == "name":
            if not isinstance(value, str):
                raise TypeError(f"The option 'name' takes a string, got {type(value).__name__}.")
        elif key == "runtime_env" and value:
            raise NotImplementedError("cyray does not support runtime_env yet")
        elif key == "scheduling_strategy" and value not in ("DEFAULT", "SPREAD"):
            raise NotImplementedError(
                f"scheduling_strategy={value!r} is not supported yet; use 'DEFAULT'")


def _check_retry_exceptions(value):
    if isinstance(value, bool):
        return
    if isinstance(value, (list, tuple)) and all(
            isinstance(t, type) and issubclass(t, BaseException) for t in value):
        return
    raise TypeError("The option 'retry_exceptions' takes True/False or a list of exception "
                    f"types, got {value!r}.")


def _check_resources(value):
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


def resource_demand(options, default_cpus=1):
    """The resources a task (default 1 CPU) or an actor (default 0 CPU once
    placed, as in Ray) with `options` asks of a node."""
    cpus = options.get("num_cpus")
    demand = {"CPU": default_cpus if cpus is None else cpus}
    if options.get("num_gpus"):
        demand["GPU"] = options["num_gpus"]
    if options.get("memory"):
        demand["memory"] = options["memory"]
    for name, amount in (options.get("resources") or {}).items():
        demand[name] = amount
    return {k: float(v) for k, v in demand.items() if v}


ACTOR_OPTIONS = {
    "num_cpus", "num_gpus", "memory", "resources", "max_restarts", "max_task_retries",
    "max_concurrency", "name", "namespace", "lifetime", "get_if_exists", "concurrency_groups",
    "scheduling_strategy", "runtime_env", "accelerator_type", "max_pending_calls",
}


def validate_actor_options(options):
    """Raises ValueError/TypeError for unknown actor options or bad values."""
    for key, value in options.items():
        if key not in ACTOR_OPTIONS:
            raise ValueError(f"Invalid option keyword '{key}' for actors. Valid ones are "
                             f"{sorted(ACTOR_OPTIONS)}.")
        if value is None:
            continue
        if key in ("num_cpus", "num_gpus", "memory"):
            check_resource_amount(key, value)
        elif key in ("max_restarts", "max_task_retries"):
            _check_int(key, value, -1)
        elif key == "max_concurrency":
            _check_int(key, value, 1)
        elif key == "resources":
            _check_resources(value)
        elif key in ("name", "namespace"):
            if not isinstance(value, str):
                raise TypeError(f"The option '{key}' takes a string, got {type(value).__name__}.")
        elif key == "lifetime" and value not in ("detached", "non_detached"):
            raise ValueError("The option 'lifetime' must be 'detached', 'non_detached' or None, "
                             f"got {value!r}.")
        elif key == "concurrency_groups":
            if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, int) and v > 0 for k, v in value.items()):
                raise TypeError("The option 'concurrency_groups' takes a dict of group name to a "
                                f"positive int, got {value!r}.")
        elif key == "runtime_env" and value:
            raise NotImplementedError("cyray does not support runtime_env yet")
