"""RemoteFunction: what `@cyray.remote` makes of a function."""

import inspect
import warnings

import cloudpickle

from cyray._private import call_site, serialization
from cyray._private.function_manager import FunctionDescriptor
from cyray._private.worker import _auto_init, global_worker
from cyray._private.options import (
    resource_demand,
    task_options_with_defaults,
    validate_task_options,
)
from cyray._private.object_ref_generator import ObjectRefGenerator
from cyray._raylet import (
    GENERATOR_DYNAMIC,
    GENERATOR_NONE,
    GENERATOR_STREAMING,
    ObjectRef,
)

_KEYWORD_METADATA = b"KW"


class RemoteFunction:
    """A function run as tasks in the cluster: `f.remote(*args)` returns ObjectRefs."""

    def __init__(self, function, options):
        if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
            raise ValueError(
                "'async def' functions cannot be remote functions; use an async actor.")
        validate_task_options(options)
        self._is_generator = (inspect.isgeneratorfunction(function)
                              or inspect.isasyncgenfunction(function))
        _check_generator_options(options, self._is_generator, stacklevel=5)
        self._function = function
        self._function_name = f"{function.__module__}.{function.__qualname__}"
        self._options = task_options_with_defaults(options)
        # Options are fixed per function (and per .options() copy): so is the demand.
        self._demand = resource_demand(self._options)
        self._signature = _signature_of(function)
        self._positional = _positional_range(self._signature)
        self._strategy = _encoded_strategy_or_none(self._options)
        self._pickled = None
        self._submit_options = None  # _encode_submit_options of the decorator's options
        self._descriptor = None
        self.__doc__ = function.__doc__
        self.__name__ = function.__name__
        self.__qualname__ = function.__qualname__
        self.__module__ = function.__module__
        self.__wrapped__ = function

    def __call__(self, *args, **kwargs):
        raise TypeError(
            f"Remote functions cannot be called directly. Instead of running "
            f"'{self.__name__}()', try '{self.__name__}.remote()'.")

    def options(self, **options):
        """A copy of this function with some options changed, as in Ray."""
        validate_task_options(options, in_options=True)
        _check_generator_options(options, self._is_generator)
        merged = task_options_with_defaults({**self._options, **options})
        demand = resource_demand(merged)
        strategy = _encoded_strategy_or_none(merged)
        parent = self

        class FunctionWithOptions:
            def remote(self, *args, **kwargs):
                return parent._remote(args, kwargs, merged, demand, strategy)

            def __call__(self, *args, **kwargs):
                return parent(*args, **kwargs)

        return FunctionWithOptions()

    def remote(self, *args, **kwargs):
        return self._remote(args, kwargs, self._options, self._demand, self._strategy)

    def bind(self, *args, **kwargs):
        raise NotImplementedError("bind(): Ray's DAG API (ray.dag, compiled graphs) is not "
                                  "supported by cyray; call .remote() instead.")

    def _export(self, worker):
        if self._pickled is None:
            try:
                self._pickled = cloudpickle.dumps(self._function, protocol=5)
            except Exception as e:
                raise TypeError(
                    f"Could not serialize the function {self._function_name}: "
                    f"{type(e).__name__}: {e}. Remote functions must be picklable; check the "
                    "globals and closure variables they use.") from e
            self._descriptor = FunctionDescriptor.for_function(self._function, self._pickled)
        worker.function_actor_manager.export(
            worker.current_job_id, self._descriptor, self._pickled, self._options["max_calls"])
        return self._descriptor

    def _remote(self, args, kwargs, options, demand, strategy):
        positional = self._positional
        if self._signature is not None and (
                kwargs or positional is None
                or not positional[0] <= len(args) <= positional[1]):
            # Plain positional calls that fit are checked above without bind (~6 us).
            try:
                self._signature.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{self._function_name}.remote(): {e}") from None
        _auto_init()
        worker = global_worker
        descriptor = self._export(worker)
        task_args = _task_args(worker, args, kwargs, self._function_name)
        if options is self._options and strategy is not None:
            # The decorator's options: the same for every call, made once.
            if self._submit_options is None:
                self._submit_options = self._encode_submit_options(options, demand, strategy)
            submit_options = self._submit_options
        else:
            submit_options = self._encode_submit_options(options, demand, strategy)
        num_returns, mode, name, after_args = submit_options
        refs = worker.core_worker.submit_task(descriptor.as_tuple(), name, task_args, *after_args)
        if call_site.RECORDING:
            call_site.record(worker.core_worker, refs, "task call")
        if mode == GENERATOR_STREAMING:
            return ObjectRefGenerator(refs[0], worker)
        if num_returns == 1:
            return refs[0]
        return refs


    def _encode_submit_options(self, options, demand, strategy):
        """(num_returns, generator mode, name, submit_task's arguments after the call's
        own) for `options`; the first two are what _remote reads back."""
        retry = options["retry_exceptions"]
        allowlist = b""
        if isinstance(retry, (list, tuple)):
            allowlist = cloudpickle.dumps(tuple(retry))
        num_returns, mode = generator_mode(options["num_returns"], self._is_generator)
        backpressure = options["_generator_backpressure_num_objects"]
        if strategy is None:  # raises the strategy's error
            strategy = encode_scheduling_strategy(options["scheduling_strategy"],
                                                  options.get("label_selector"))
        return num_returns, mode, options["name"] or self.__name__, (
            num_returns, demand, options["max_retries"], bool(retry), allowlist,
            options["max_calls"] or 0, strategy, mode, -1 if backpressure is None else backpressure,
            options["enable_task_events"] is not False)


def generator_mode(num_returns, is_generator):
    """(num_returns to submit, how the generator reports) for a num_returns option:
    None means 1, or "streaming" for a generator (as Ray)."""
    if num_returns is None:
        num_returns = "streaming" if is_generator else 1
    if num_returns == "streaming":
        return 1, GENERATOR_STREAMING
    if num_returns == "dynamic":
        return 1, GENERATOR_DYNAMIC
    return num_returns, GENERATOR_NONE


def _check_generator_options(options, is_generator, stacklevel=3):
    num_returns = options.get("num_returns")
    if num_returns in ("streaming", "dynamic") and not is_generator:
        raise ValueError(
            f"num_returns={num_returns!r} can only be used with generator functions "
            "(functions that use 'yield'). The decorated function is not a generator "
            "function.")
    if num_returns == "dynamic":
        warnings.warn("num_returns='dynamic' is deprecated and will be removed in a future "
                      "release. Use num_returns='streaming' instead.", DeprecationWarning,
                      stacklevel=stacklevel)


def encode_scheduling_strategy(strategy, label_selector):
    from cyray._private.scheduling import encode_scheduling_strategy as encode

    return encode(strategy, label_selector)


def _encoded_strategy_or_none(options):
    """The options' scheduling strategy, encoded once; None when it does not encode (the
    call then encodes it and raises the error)."""
    try:
        return encode_scheduling_strategy(options["scheduling_strategy"],
                                          options.get("label_selector"))
    except Exception:
        return None


def _positional_range(signature):
    """(fewest, most) positional arguments a call without keywords may pass, when that
    alone decides whether the call binds; None when it does not (a keyword-only parameter
    without a default) or the signature is unknown."""
    if signature is None:
        return None
    fewest, most = 0, 0
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            most += 1
            if parameter.default is parameter.empty:
                fewest = most
        elif parameter.kind == parameter.VAR_POSITIONAL:
            most = float("inf")
        elif parameter.kind == parameter.KEYWORD_ONLY and parameter.default is parameter.empty:
            return None
    return fewest, most


def _signature_of(function):
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


def _task_args(worker, args, kwargs, function_name):
    """The arguments of a call as the core worker takes them: positional values,
    then keyword values followed by their names."""
    task_args = [_task_arg(worker, value, function_name) for value in args]
    if kwargs:
        task_args.extend(_task_arg(worker, value, function_name) for value in kwargs.values())
        task_args.append((cloudpickle.dumps(tuple(kwargs)), _KEYWORD_METADATA, []))
    return task_args


def _task_arg(worker, value, function_name):
    if type(value) is ObjectRef:
        return value
    try:
        # Above the inline limit: put in the object store, passed by reference.
        return worker.serialize_or_store(value)
    except TypeError as e:
        raise TypeError(
            f"Could not serialize the argument {serialization._short_repr(value)} for a task "
            f"of {function_name}: {e.__cause__ or e}") from e
