"""multiprocessing.Pool's API over cyray actors (as ray.util.multiprocessing.Pool).

A Pool owns `processes` actors (`_PoolActor`). Work goes to them in chunks: one actor
call runs a list of (args, kwargs) and returns one entry per item, the item's value or a
`_ItemFailure` holding what it raised, so one failing item does not hide the others.
`map`-like calls submit every chunk at once, round-robin over the actors, and return an
`AsyncResult` whose thread collects the chunks; `imap`/`imap_unordered` keep one chunk in
flight per actor and submit the next as results are taken.
"""

import collections
import itertools
import logging
import os
import threading
from multiprocessing import TimeoutError

import cyray
from cyray.exceptions import RayError

logger = logging.getLogger(__name__)

# Read when the Pool starts cyray itself and no ray_address is given: "host:port" of a
# cluster to join, or "local" for a new local one.
ADDRESS_ENV_VARS = ("CYRAY_ADDRESS", "RAY_ADDRESS")
# How often a result thread checks that cyray is still up while it waits.
_POLL_S = 0.2


class _ItemFailure:
    """What one item of a chunk raised, carried back in place of its value."""

    def __init__(self, error):
        self.error = error


class _PoolActor:
    """One process of a Pool (made an actor in Pool._new_actor)."""

    def __init__(self, initializer=None, initargs=None):
        if initializer is not None:
            initializer(*(initargs or ()))

    def ping(self):
        return None

    def run_chunk(self, func, chunk):
        results = []
        for args, kwargs in chunk:
            try:
                results.append(func(*args, **kwargs))
            except Exception as e:
                results.append(_ItemFailure(e))
        return results


def _fetch_chunk(ref, size):
    """The entries of a finished chunk; if the call itself failed (its actor died, or a
    value could not be serialized), that error for each of its `size` items."""
    try:
        return cyray.get(ref)
    except RayError as e:
        return [_ItemFailure(e)] * size


class AsyncResult:
    """The pending result of `apply_async`, `map_async` or `starmap_async` (as
    multiprocessing.pool.AsyncResult). Not made directly."""

    def __init__(self, chunks, single, callback=None, error_callback=None):
        # chunks: [(ref, number of items)] in submission order.
        self._chunks = chunks
        self._single = single
        self._callback = callback
        self._error_callback = error_callback
        self._entries = None
        self._failure = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True,
                                        name="cyray-pool-result")
        self._thread.start()

    def _collect(self):
        by_ref = {ref: (index, size) for index, (ref, size) in enumerate(self._chunks)}
        fetched = [None] * len(self._chunks)
        pending = list(by_ref)
        try:
            while pending:
                if not cyray.is_initialized():
                    raise RuntimeError("cyray was shut down before the pool's results came")
                ready, pending = cyray.wait(pending, num_returns=1, timeout=_POLL_S)
                for ref in ready:
                    index, size = by_ref[ref]
                    fetched[index] = _fetch_chunk(ref, size)
                    if self._failure is None:
                        self._failure = next(
                            (e for e in fetched[index] if isinstance(e, _ItemFailure)), None)
                        if self._failure is not None and self._error_callback is not None:
                            self._error_callback(self._failure.error)
            self._entries = [entry for chunk in fetched for entry in chunk]
            if self._failure is None and self._callback is not None:
                self._callback(self._entries[0] if self._single else list(self._entries))
        except BaseException as e:  # noqa: B036 - reported by get()
            if self._failure is None:
                self._failure = _ItemFailure(e)
        finally:
            self._done.set()

    def ready(self):
        """Whether the call has finished."""
        return self._done.is_set()

    def successful(self):
        """Whether the call finished without raising; ValueError if it has not finished."""
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._failure is None

    def wait(self, timeout=None):
        """Waits until the result is ready or `timeout` seconds have passed."""
        self._done.wait(timeout)

    def get(self, timeout=None):
        """The result (a list for the map calls). Raises what the function raised (the
        first failed item's error), or multiprocessing.TimeoutError if the result is not
        ready within `timeout` seconds."""
        if not self._done.wait(timeout):
            raise TimeoutError
        if self._failure is not None:
            raise self._failure.error
        return self._entries[0] if self._single else list(self._entries)


class IMapIterator:
    """Results of `imap` (in order) or `imap_unordered` (as they finish). `next(timeout)`
    raises multiprocessing.TimeoutError if no result comes within `timeout` seconds."""

    def __init__(self, pool, func, iterable, chunksize, ordered):
        self._pool = pool
        self._func_ref = cyray.put(func)
        self._items = iter(iterable)
        self._chunksize = chunksize
        self._ordered = ordered
        self._exhausted = False
        self._next_chunk = 0  # index given to the next chunk submitted
        self._next_to_yield = 0  # ordered: index of the chunk whose items come next
        self._in_flight = {}  # ref -> (chunk index, actor index, number of items)
        self._busy_actors = set()
        self._finished = {}  # ordered: chunk index -> entries, until their turn
        self._ready = collections.deque()
        self._fill()

    def __iter__(self):
        return self

    def __next__(self):
        return self.next()

    def next(self, timeout=None):
        while not self._ready:
            if not self._in_flight and self._exhausted and not self._finished:
                raise StopIteration
            self._take_finished(timeout)
        entry = self._ready.popleft()
        if isinstance(entry, _ItemFailure):
            raise entry.error
        return entry

    def _fill(self):
        """Submits chunks to idle actors until each has one or the input runs out."""
        for actor_index in range(self._pool._num_actors()):
            if self._exhausted:
                return
            if actor_index in self._busy_actors:
                continue
            chunk = [((item,), {}) for item in itertools.islice(self._items, self._chunksize)]
            if len(chunk) < self._chunksize:
                self._exhausted = True
            if chunk:
                ref = self._pool._run_chunk(actor_index, self._func_ref, chunk)
                self._in_flight[ref] = (self._next_chunk, actor_index, len(chunk))
                self._busy_actors.add(actor_index)
                self._next_chunk += 1

    def _take_finished(self, timeout):
        """Waits for a chunk to finish (TimeoutError after `timeout` s), moves what may be
        yielded now to the ready queue and keeps the actors busy."""
        if self._in_flight:
            ready, _ = cyray.wait(list(self._in_flight), num_returns=1, timeout=timeout)
            if not ready:
                raise TimeoutError
            for ref in ready:
                index, actor_index, size = self._in_flight.pop(ref)
                self._busy_actors.discard(actor_index)
                entries = _fetch_chunk(ref, size)
                if self._ordered:
                    self._finished[index] = entries
                else:
                    self._ready.extend(entries)
            self._fill()
        while self._next_to_yield in self._finished:
            self._ready.extend(self._finished.pop(self._next_to_yield))
            self._next_to_yield += 1


class Pool:
    """A pool of actor processes running functions in parallel (as multiprocessing.Pool).

    Args:
        processes: how many actors; default: the number of CPUs of the cluster. ValueError
            if not positive or more than the cluster's CPUs.
        initializer: called as `initializer(*initargs)` in each actor when it starts.
        initargs: arguments of `initializer`.
        maxtasksperchild: after this many calls (chunks) an actor is replaced by a new one;
            None: never.
        context: accepted for multiprocessing's API and ignored, as Ray does (a warning is
            logged): cyray starts its own processes.
        ray_address: if cyray is not initialized yet, the cluster to join ("host:port", or
            "local" for a new local cluster); default: $CYRAY_ADDRESS or $RAY_ADDRESS, else a
            new local cluster with `processes` CPUs.
        ray_remote_args: options for the actors, as `.options()` takes them (default: as
            Ray, `num_cpus=0`).
    """

    def __init__(self, processes=None, initializer=None, initargs=None, maxtasksperchild=None,
                 context=None, ray_address=None, ray_remote_args=None):
        self._closed = False
        self._initializer = initializer
        self._initargs = initargs
        self._maxtasksperchild = maxtasksperchild or None
        self._actor_class = cyray.remote(_PoolActor).options(
            **{"num_cpus": 0, **(ray_remote_args or {})})
        self._stopping = []  # refs of __ray_terminate__ calls sent to retired actors
        self._next_actor = 0
        if context is not None:
            logger.warning("The 'context' argument is not supported by cyray's Pool and is "
                           "ignored: cyray starts and initializes the worker processes.")
        processes = self._start_cyray(processes, ray_address)
        self._actors = [self._new_actor() for _ in range(processes)]
        cyray.get([actor.ping.remote() for actor, _ in self._actors])

    @staticmethod
    def _start_cyray(processes, ray_address):
        if not cyray.is_initialized():
            if ray_address is None:
                ray_address = next(
                    (os.environ[name] for name in ADDRESS_ENV_VARS if os.environ.get(name)), None)
            if ray_address is None or ray_address == "local":
                cyray.init(num_cpus=processes)
            else:
                cyray.init(address=ray_address)
        cpus = int(cyray.cluster_resources().get("CPU", 0))
        if processes is None:
            processes = cpus
        if processes <= 0:
            raise ValueError("Processes in the pool must be >0.")
        if processes > cpus:
            raise ValueError(f"Tried to start a pool with {processes} processes on an existing "
                             f"ray cluster, but there are only {cpus} CPUs in the ray cluster.")
        return processes

    def _new_actor(self):
        """[actor handle, number of calls sent to it]."""
        return [self._actor_class.remote(self._initializer, self._initargs), 0]

    def _num_actors(self):
        return len(self._actors)

    def _run_chunk(self, actor_index, func, chunk):
        entry = self._actors[actor_index]
        ref = entry[0].run_chunk.remote(func, chunk)
        entry[1] += 1
        if self._maxtasksperchild is not None and entry[1] >= self._maxtasksperchild:
            self._retire(entry[0])
            self._actors[actor_index] = self._new_actor()
        return ref

    def _retire(self, actor):
        # Runs after the calls already sent to the actor, which then exits.
        self._stopping.append(actor.__ray_terminate__.remote())

    def _check_running(self):
        if self._closed:
            raise ValueError("Pool not running")

    def _chunks_of(self, func, iterable, chunksize, star):
        items = list(iterable)
        if chunksize is None:
            chunksize, extra = divmod(len(items), len(self._actors) * 4)
            chunksize += bool(extra)
        elif chunksize < 1:
            raise ValueError(f"chunksize must be a positive integer, got {chunksize!r}")
        func_ref = cyray.put(func)
        chunks = []
        for start in range(0, len(items), max(chunksize, 1)):
            chunk = [(tuple(args) if star else (args,), {})
                     for args in items[start:start + chunksize]]
            actor_index = len(chunks) % len(self._actors)
            chunks.append((self._run_chunk(actor_index, func_ref, chunk), len(chunk)))
        return chunks

    def apply(self, func, args=None, kwargs=None, *, kwds=None):
        """func(*args, **kwargs) in one of the actors; returns its result. (`kwargs` is
        Ray's name for multiprocessing's `kwds`; either may be given.)"""
        return self.apply_async(func, args, kwargs, kwds=kwds).get()

    def apply_async(self, func, args=None, kwargs=None, callback=None, error_callback=None, *,
                    kwds=None):
        """func(*args, **kwargs) in one of the actors; returns an AsyncResult. `callback`
        gets the result, `error_callback` the exception, in a thread of this process."""
        self._check_running()
        if kwds is not None:
            if kwargs is not None:
                raise TypeError("apply_async() takes kwargs or kwds, not both")
            kwargs = kwds
        actor_index = self._next_actor
        self._next_actor = (self._next_actor + 1) % len(self._actors)
        ref = self._run_chunk(actor_index, func, [(tuple(args or ()), dict(kwargs or {}))])
        return AsyncResult([(ref, 1)], True, callback, error_callback)

    def map(self, func, iterable, chunksize=None):
        """[func(x) for x in iterable], computed by the actors in chunks of `chunksize`."""
        return self.map_async(func, iterable, chunksize).get()

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """`map` returning an AsyncResult; `callback` gets the list of results if no item
        failed, `error_callback` the first exception otherwise."""
        self._check_running()
        return AsyncResult(self._chunks_of(func, iterable, chunksize, star=False), False,
                           callback, error_callback)

    def starmap(self, func, iterable, chunksize=None):
        """[func(*args) for args in iterable]."""
        return self.starmap_async(func, iterable, chunksize).get()

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """`starmap` returning an AsyncResult (callbacks as in map_async)."""
        self._check_running()
        return AsyncResult(self._chunks_of(func, iterable, chunksize, star=True), False,
                           callback, error_callback)

    def imap(self, func, iterable, chunksize=1):
        """An iterator over func(x) for x in iterable, in order; the input is read lazily,
        one chunk in flight per actor."""
        return self._imap(func, iterable, chunksize, ordered=True)

    def imap_unordered(self, func, iterable, chunksize=1):
        """`imap` yielding results as they finish."""
        return self._imap(func, iterable, chunksize, ordered=False)

    def _imap(self, func, iterable, chunksize, ordered):
        self._check_running()
        if chunksize is None:
            chunksize = 1
        if chunksize < 1:
            raise ValueError(f"chunksize must be a positive integer, got {chunksize!r}")
        return IMapIterator(self, func, iterable, chunksize, ordered)

    def close(self):
        """Accepts no more work; the actors exit once the work already given is done."""
        if self._closed:
            return
        self._closed = True
        for actor, _ in self._actors:
            self._retire(actor)

    def terminate(self):
        """Accepts no more work and kills the actors now (pending results fail)."""
        self.close()
        for actor, _ in self._actors:
            try:
                cyray.kill(actor)
            except Exception as e:  # already gone
                logger.debug("killing a pool actor: %s", e)

    def join(self):
        """Waits for the actors of a closed pool to exit; ValueError if it is running."""
        if not self._closed:
            raise ValueError("Pool is still running")
        if self._stopping:
            cyray.wait(self._stopping, num_returns=len(self._stopping))
            self._stopping = []

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.terminate()

    def __reduce__(self):
        raise NotImplementedError("pool objects cannot be passed between processes or pickled")
