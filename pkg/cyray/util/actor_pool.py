"""ActorPool: spreads work over a fixed set of actors (as ray.util.ActorPool)."""

import cyray


class ActorPool:
    """Runs `fn(actor, value)` on whichever actor is free.

        pool = ActorPool([A.remote(), A.remote()])
        list(pool.map(lambda a, v: a.double.remote(v), [1, 2, 3]))
    """

    def __init__(self, actors):
        self._idle = list(actors)
        self._future_to_actor = {}
        self._index_to_future = {}
        self._next_task_index = 0
        self._next_return_index = 0
        self._pending_submits = []

    def map(self, fn, values):
        """Results in the order of `values`."""
        for v in values:
            self.submit(fn, v)
        while self.has_next():
            yield self.get_next()

    def map_unordered(self, fn, values):
        """Results as they finish."""
        for v in values:
            self.submit(fn, v)
        while self.has_next():
            yield self.get_next_unordered()

    def submit(self, fn, value):
        if self._idle:
            actor = self._idle.pop()
            future = fn(actor, value)
            self._future_to_actor[future] = (self._next_task_index, actor)
            self._index_to_future[self._next_task_index] = future
            self._next_task_index += 1
        else:
            self._pending_submits.append((fn, value))

    def has_next(self):
        return bool(self._future_to_actor) or bool(self._pending_submits)

    def has_free(self):
        return bool(self._idle) and not self._pending_submits

    def _return_actor(self, actor):
        self._idle.append(actor)
        if self._pending_submits:
            self.submit(*self._pending_submits.pop(0))

    def get_next(self, timeout=None):
        """The next result in submission order."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        future = self._index_to_future[self._next_return_index]
        result = cyray.get(future, timeout=timeout)
        del self._index_to_future[self._next_return_index]
        self._next_return_index += 1
        _, actor = self._future_to_actor.pop(future)
        self._return_actor(actor)
        return result

    def get_next_unordered(self, timeout=None):
        """The next result to finish."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        ready, _ = cyray.wait(list(self._future_to_actor), num_returns=1, timeout=timeout)
        if not ready:
            raise TimeoutError("Timed out waiting for result")
        future = ready[0]
        index, actor = self._future_to_actor.pop(future)
        del self._index_to_future[index]
        self._next_return_index = max(self._next_return_index, index + 1)
        self._return_actor(actor)
        return cyray.get(future)

    def push(self, actor):
        """Adds an actor to the pool."""
        self._return_actor(actor)

    def pop_idle(self):
        return self._idle.pop() if self.has_free() else None
