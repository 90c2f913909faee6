"""Iterating over results as they finish (as ray.util.helpers)."""

import cyray

__all__ = ["as_completed", "map_unordered"]

DEFAULT_CHUNK_SIZE = 10
DEFAULT_BACKPRESSURE_SIZE = 100


def _check_wait_args(chunk_size, wait_kwargs):
    if chunk_size < 1:
        raise ValueError("`chunk_size` must be >= 1")
    if "num_returns" in wait_kwargs:
        raise ValueError("Use the `chunk_size` argument instead of `num_returns`.")


def _next_batch(refs, chunk_size, yield_obj_refs, wait_kwargs):
    """(ready values or refs, refs still pending) after one cyray.wait."""
    ready, pending = cyray.wait(refs, num_returns=min(chunk_size, len(refs)), **wait_kwargs)
    return (ready if yield_obj_refs else cyray.get(ready)), pending


def as_completed(refs, *, chunk_size=DEFAULT_CHUNK_SIZE, yield_obj_refs=False, **kwargs):
    """Yields the values of `refs` (or the refs, with yield_obj_refs=True) in batches of
    up to `chunk_size` as they become ready, each batch in submission order. Other
    keyword arguments (`timeout`, `fetch_local`) go to each cyray.wait; a wait that
    times out yields nothing and the next one starts."""
    _check_wait_args(chunk_size, kwargs)
    pending = list(refs)
    while pending:
        batch, pending = _next_batch(pending, chunk_size, yield_obj_refs, kwargs)
        yield from batch


def map_unordered(fn, items, *, backpressure_size=DEFAULT_BACKPRESSURE_SIZE,
                  chunk_size=DEFAULT_CHUNK_SIZE, yield_obj_refs=False, **kwargs):
    """Calls the remote function `fn` on each item and yields the results as they finish,
    with at most `backpressure_size` calls pending (None: no bound); `chunk_size` and the
    other arguments as in as_completed."""
    if backpressure_size is None:
        backpressure_size = float("inf")
    elif backpressure_size <= 0:
        raise ValueError("backpressure_size must be positive.")
    _check_wait_args(chunk_size, kwargs)
    pending = []
    for item in items:
        pending.append(fn.remote(item))
        if len(pending) >= backpressure_size:
            batch, pending = _next_batch(pending, chunk_size, yield_obj_refs, kwargs)
            yield from batch
    yield from as_completed(pending, chunk_size=chunk_size, yield_obj_refs=yield_obj_refs,
                            **kwargs)
