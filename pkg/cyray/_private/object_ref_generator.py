"""What `.remote()` of a generator returns, as Ray's: ObjectRefGenerator (streaming, the
default) and DynamicObjectRefGenerator (num_returns="dynamic").

The items live with the caller's core worker, which holds each one until it is taken
(GeneratorStreams in C++); these classes only walk them."""

_NOT_PICKLABLE = ("You cannot return or pass a generator to other task. Serializing a "
                  "ObjectRefGenerator is not allowed.")


class ObjectRefGenerator:
    """The ObjectRefs of a generator task's items, each as soon as it is yielded:
    `for ref in gen` or `async for ref in gen`. An exception the generator raised is
    its last item (getting that ref raises it); then iteration stops."""

    def __init__(self, generator_ref, worker):
        self._generator_ref = generator_ref
        self._task_id = generator_ref.task_id().binary()
        self.worker = worker
        self._core_worker = worker.core_worker

    # -- iteration --

    def __iter__(self):
        return self

    def __next__(self):
        return self._next_sync()

    def _next_sync(self, timeout_s=None):
        """The next item's ObjectRef; StopIteration at the end. With `timeout_s`,
        GetTimeoutError when it is not yielded in time."""
        timeout_ms = -1 if timeout_s is None else max(0, int(timeout_s * 1000))
        ref = self._core_worker.generator_next(self._task_id, timeout_ms)
        if ref is None:
            raise StopIteration
        return ref

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self._next_async()

    async def _next_async(self, timeout_s=None):
        import asyncio
        import threading

        core_worker, task_id = self._core_worker, self._task_id
        if not core_worker.generator_next_ready(task_id):
            # A thread of the loop's executor waits until an item is ready without
            # taking it, so an awaiting task that is cancelled loses no item.
            given_up = threading.Event()

            def wait_ready():
                import time

                deadline = None if timeout_s is None else time.monotonic() + timeout_s
                while not core_worker.generator_next_ready(task_id) and not given_up.is_set():
                    if deadline is not None and time.monotonic() >= deadline:
                        return
                    time.sleep(0.002)

            try:
                await asyncio.get_running_loop().run_in_executor(None, wait_ready)
            finally:
                given_up.set()
        ref = core_worker.generator_next(task_id, 0)
        if ref is None:
            raise StopAsyncIteration
        return ref

    # -- state --

    def completed(self):
        """The task's own return: ready once the task ended (None; its error when the
        task failed for a reason other than the generator raising)."""
        return self._generator_ref

    def is_finished(self):
        """True once the task ended and every item was taken."""
        return self._core_worker.generator_is_finished(self._task_id)

    def next_ready(self):
        """True when next() would return at once with a yielded item."""
        return (self._core_worker.generator_next_ready(self._task_id)
                and not self._core_worker.generator_is_finished(self._task_id))

    # -- what Python generators have and this one refuses, as Ray --

    def send(self, value):
        raise NotImplementedError("`gen.send` is not supported.")

    def throw(self, *args):
        raise NotImplementedError("`gen.throw` is not supported.")

    def close(self):
        raise NotImplementedError("`gen.close` is not supported.")

    async def asend(self, value):
        raise NotImplementedError("`gen.asend` is not supported.")

    async def athrow(self, *args):
        raise NotImplementedError("`gen.athrow` is not supported.")

    async def aclose(self):
        raise NotImplementedError("`gen.aclose` is not supported.")

    def __reduce__(self):
        raise TypeError(_NOT_PICKLABLE)

    def __del__(self):
        # Items not taken are let go of (the task itself runs to its end).
        core_worker = self._core_worker
        if core_worker is not None and self.worker.core_worker is core_worker:
            try:
                core_worker.drop_generator(self._task_id)
            except Exception:  # noqa: S110 - interpreter shutdown
                pass

    def __repr__(self):
        return f"<cyray.ObjectRefGenerator object at {hex(id(self))}>"


ObjectRefGenerator.__module__ = "cyray"


class DynamicObjectRefGenerator:
    """The value of a num_returns="dynamic" task: the ObjectRefs of its items, taken
    once by iterating (as Ray's)."""

    def __init__(self, refs):
        self._refs = list(refs)

    @classmethod
    def _from_item_ids(cls, item_ids, owner_address):
        """Built where the task ran: only the items' IDs travel (their owner, the
        caller, holds them through this value's return)."""
        generator = cls.__new__(cls)
        generator._refs = None
        generator._item_ids = list(item_ids)
        generator._owner_address = owner_address
        return generator

    def __iter__(self):
        while self._refs:
            yield self._refs.pop(0)

    def __len__(self):
        return len(self._refs)

    def __reduce__(self):
        if self._refs is None:
            return _dynamic_from_ids, (self._item_ids, self._owner_address)
        return DynamicObjectRefGenerator, (self._refs,)


def _dynamic_from_ids(item_ids, owner_address):
    from cyray._raylet import ObjectRef

    return DynamicObjectRefGenerator([ObjectRef(i, owner_address) for i in item_ids])
