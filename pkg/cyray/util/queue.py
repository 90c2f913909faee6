"""A FIFO queue shared between processes, held by an async actor (as ray.util.queue).

`Queue` is a handle: it pickles into tasks and actors, and every copy talks to the same
`_QueueActor`, whose asyncio.Queue does the blocking. Blocking calls wait inside the
actor (an async actor runs many calls at once), so a `get` that waits for an item does
not stop a `put` from another process.
"""

import asyncio
import queue
from collections.abc import Iterable

import cyray

__all__ = ["Empty", "Full", "Queue"]


class Empty(queue.Empty):
    """Raised by a non-blocking or timed-out get on an empty queue."""


class Full(queue.Full):
    """Raised by a non-blocking or timed-out put on a full queue."""


def _check_timeout(timeout):
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")


class Queue:
    """A first-in, first-out queue backed by an actor.

    Args:
        maxsize: the most items the queue holds; 0 (the default) for no bound.
        actor_options: options for the queue's actor, passed to `.options()` (for
            example `{"num_cpus": 1}` or a `name`).
    """

    def __init__(self, maxsize=0, actor_options=None):
        self.maxsize = maxsize
        self.actor = cyray.remote(_QueueActor).options(**(actor_options or {})).remote(maxsize)

    def __len__(self):
        return self.size()

    def size(self):
        """The number of items in the queue."""
        return cyray.get(self.actor.qsize.remote())

    def qsize(self):
        """The number of items in the queue."""
        return self.size()

    def empty(self):
        """Whether the queue holds no item."""
        return cyray.get(self.actor.empty.remote())

    def full(self):
        """Whether the queue holds `maxsize` items (never, when unbounded)."""
        return cyray.get(self.actor.full.remote())

    def put(self, item, block=True, timeout=None):
        """Adds `item`. If the queue is full: with `block`, waits up to `timeout` seconds
        (None: for ever) for room, then raises Full; without, raises Full at once.
        ValueError if `timeout` is negative."""
        if not block:
            _raise_local(cyray.get, self.actor.put_nowait.remote(item))
            return
        _check_timeout(timeout)
        _raise_local(cyray.get, self.actor.put.remote(item, timeout))

    async def put_async(self, item, block=True, timeout=None):
        """`put` for asyncio code: awaits instead of blocking the thread."""
        if not block:
            await _raise_local_async(self.actor.put_nowait.remote(item))
            return
        _check_timeout(timeout)
        await _raise_local_async(self.actor.put.remote(item, timeout))

    def get(self, block=True, timeout=None):
        """Removes and returns the first item. If the queue is empty: with `block`, waits
        up to `timeout` seconds (None: for ever) for one, then raises Empty; without,
        raises Empty at once. ValueError if `timeout` is negative."""
        if not block:
            return _raise_local(cyray.get, self.actor.get_nowait.remote())
        _check_timeout(timeout)
        return _raise_local(cyray.get, self.actor.get.remote(timeout))

    async def get_async(self, block=True, timeout=None):
        """`get` for asyncio code: awaits instead of blocking the thread."""
        if not block:
            return await _raise_local_async(self.actor.get_nowait.remote())
        _check_timeout(timeout)
        return await _raise_local_async(self.actor.get.remote(timeout))

    def put_nowait(self, item):
        """put(item, block=False)."""
        return self.put(item, block=False)

    def put_nowait_batch(self, items):
        """Adds every item of `items` in order, or none of them: Full if they do not all
        fit. TypeError if `items` is not iterable."""
        if not isinstance(items, Iterable):
            raise TypeError("Argument 'items' must be an Iterable")
        _raise_local(cyray.get, self.actor.put_nowait_batch.remote(list(items)))

    def get_nowait(self):
        """get(block=False)."""
        return self.get(block=False)

    def get_nowait_batch(self, num_items):
        """Removes and returns the first `num_items` items as a list, or none: Empty if the
        queue holds fewer. TypeError if `num_items` is not an int, ValueError if negative."""
        if not isinstance(num_items, int):
            raise TypeError("Argument 'num_items' must be an int")
        if num_items < 0:
            raise ValueError("'num_items' must be nonnegative")
        return _raise_local(cyray.get, self.actor.get_nowait_batch.remote(num_items))

    def shutdown(self, force=False, grace_period_s=5):
        """Ends the queue's actor, releasing its resources. `force` kills it at once;
        otherwise it is asked to exit and killed if it has not within `grace_period_s`
        seconds. Any handle of this queue fails afterwards."""
        if self.actor is not None:
            if force:
                cyray.kill(self.actor, no_restart=True)
            else:
                done = self.actor.__ray_terminate__.remote()
                _, pending = cyray.wait([done], timeout=grace_period_s)
                if pending:
                    cyray.kill(self.actor, no_restart=True)
        self.actor = None


def _local_error(error):
    """The plain Empty/Full for an error the queue actor raised (a RayTaskError that is
    also an Empty or Full), or None for any other error."""
    for kind in (Empty, Full):
        if isinstance(error, kind):
            return kind(*_cause_args(error))
    return None


def _cause_args(error):
    cause = getattr(error, "cause", None)
    return cause.args if cause is not None else error.args


def _raise_local(get, ref):
    try:
        return get(ref)
    except (Empty, Full) as e:
        raise _local_error(e) from None


async def _raise_local_async(ref):
    try:
        return await ref
    except (Empty, Full) as e:
        raise _local_error(e) from None


class _QueueActor:
    """The state behind a Queue; runs as an async actor (see Queue.__init__)."""

    def __init__(self, maxsize):
        self.maxsize = maxsize
        self.queue = asyncio.Queue(maxsize)

    def qsize(self):
        return self.queue.qsize()

    def empty(self):
        return self.queue.empty()

    def full(self):
        return self.queue.full()

    async def put(self, item, timeout=None):
        try:
            await asyncio.wait_for(self.queue.put(item), timeout)
        except asyncio.TimeoutError:
            raise Full from None

    async def get(self, timeout=None):
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            raise Empty from None

    def put_nowait(self, item):
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            raise Full from None

    def put_nowait_batch(self, items):
        if self.maxsize > 0 and len(items) + self.queue.qsize() > self.maxsize:
            raise Full(f"Cannot add {len(items)} items to queue of size "
                       f"{self.queue.qsize()} and maxsize {self.maxsize}.")
        for item in items:
            self.queue.put_nowait(item)

    def get_nowait(self):
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            raise Empty from None

    def get_nowait_batch(self, num_items):
        if num_items > self.queue.qsize():
            raise Empty(f"Cannot get {num_items} items from queue of size "
                        f"{self.queue.qsize()}.")
        return [self.queue.get_nowait() for _ in range(num_items)]
