# Generator tasks, the executing side: each item the generator yields goes to the
# caller (the items' owner) as soon as it is made, through
# CoreWorker::ReportGeneratorItem; the task's one return marks the end. An
# exception the generator raises becomes its last item (as Ray), unless the task
# runs again for it (retry_exceptions), when it fails the attempt instead.
import itertools


class _GeneratorSpec:
    """What the execution of a generator task needs to know about it."""
    __slots__ = ("task_id", "dynamic", "backpressure", "caller_address",
                 "retry_exceptions", "allowlist", "max_retries", "attempt_number")


cdef object _generator_spec(const CTaskExecutionSpec &spec):
    generator = _GeneratorSpec()
    generator.task_id = spec.task_id
    generator.dynamic = spec.returns_dynamic
    generator.backpressure = spec.generator_backpressure_num_objects
    generator.caller_address = spec.caller_address
    generator.retry_exceptions = spec.retry_exceptions
    generator.allowlist = spec.serialized_retry_exception_allowlist
    generator.max_retries = spec.max_retries
    generator.attempt_number = spec.attempt_number
    return generator


class _GeneratorEnd:
    """What a generator task's execution returns: how many items it reported, and
    the value of its one return (None; the items' listing when dynamic)."""
    __slots__ = ("num_items", "value")

    def __init__(self, num_items, value):
        self.num_items = num_items
        self.value = value


def _runs_again_for(generator, exc):
    """Whether the task is retried for `exc` (then it is not reported as an item)."""
    if not generator.retry_exceptions:
        return False
    if 0 <= generator.max_retries <= generator.attempt_number:
        return False
    return not generator.allowlist or isinstance(exc, tuple(pickle.loads(generator.allowlist)))


def _error_item(worker, str name, str title, exc):
    data, metadata = worker.serialization.serialize_error(_task_error(worker, name, title, exc))
    return (data, metadata, [])


def _generator_end(generator, int64_t num_items):
    if not generator.dynamic:
        return _GeneratorEnd(num_items, None)
    from cyray._private.object_ref_generator import DynamicObjectRefGenerator

    item_ids = [GeneratorItemId(generator.task_id, i) for i in range(num_items)]
    return _GeneratorEnd(num_items, DynamicObjectRefGenerator._from_item_ids(
        item_ids, generator.caller_address))


def _drive_generator(worker, generator, gen, str name, str title):
    """Reports each item of a (sync) generator in order; returns a _GeneratorEnd."""
    core = worker.core_worker
    serialize = worker.serialization.serialize
    cdef int64_t index = 0
    try:
        try:
            for value in gen:
                core.report_generator_item(generator.task_id, index, serialize(value))
                index += 1
        except Exception as exc:
            if _runs_again_for(generator, exc):
                raise
            core.report_generator_item(generator.task_id, index,
                                       _error_item(worker, name, title, exc))
            index += 1
    finally:
        # Also when the task fails (a retried exception, a cancel): the items
        # reported so far reach the owner before the task's end does.
        _flush_quietly(core, generator.task_id, sys.exc_info()[0] is not None)
    return _generator_end(generator, index)


def _flush_quietly(core, bytes task_id, bint failing):
    """Waits for the owner to acknowledge the reported items; while another error
    propagates, a failed flush must not replace it."""
    try:
        core.flush_generator_items(task_id)
    except Exception:
        if not failing:
            raise


def _call_and_drive_generator(worker, generator, function, args, kwargs, str name, str title):
    """A normal generator task: calls the function and drives what it returns."""
    gen = function(*args, **kwargs)
    if not inspect.isgenerator(gen):
        raise TypeError(f"{name} was called as a generator task but returned "
                        f"{type(gen).__name__}, not a generator.")
    return _drive_generator(worker, generator, gen, name, title)


def _async_generator_driver(worker, generator, str name, str title):
    """For an async actor's generator method: drives the async generator it returns
    on the actor's loop. Reports that may wait (backpressure) and the final flush
    run on the loop's executor, so the loop serves other calls meanwhile."""
    core = worker.core_worker
    serialize = worker.serialization.serialize
    blocking = generator.backpressure > 0

    async def drive(agen):
        import asyncio

        loop = asyncio.get_running_loop()

        async def report(index, item):
            if blocking:  # may wait for the consumer: not on the loop
                await loop.run_in_executor(None, core.report_generator_item,
                                           generator.task_id, index, item)
            else:
                core.report_generator_item(generator.task_id, index, item)

        index = 0
        failing = True
        try:
            try:
                if not inspect.isasyncgen(agen):  # a sync generator method, async actor
                    agen = _as_async(agen)
                async for value in agen:
                    await report(index, serialize(value))
                    index += 1
            except Exception as exc:
                if _runs_again_for(generator, exc):
                    raise
                await report(index, _error_item(worker, name, title, exc))
                index += 1
            failing = False
        finally:
            await loop.run_in_executor(None, _flush_quietly, core, generator.task_id,
                                       failing)
        return _generator_end(generator, index)

    return drive


async def _as_async(gen):
    for value in gen:
        yield value


def _first_items(gen, uint64_t num_returns):
    """A generator function called with a fixed num_returns: its first items are the
    returns (as Ray; later yields are never reached)."""
    items = list(itertools.islice(gen, num_returns))
    if len(items) < num_returns:
        raise ValueError(f"Task returned {len(items)} objects, but num_returns={num_returns}.")
    return items[0] if num_returns == 1 else tuple(items)
