"""Progress over many refs (beyond Ray): `for ref in cyray.util.progress(refs): ...`
yields each ref as it becomes ready, in completion order, with a progress bar;
`cyray.get(refs, progress=True)` and `cyray.wait(refs, ..., progress=True)` show the same
bar while they wait. The bar is tqdm's when tqdm is installed, else a plain line on
stderr."""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, Optional

# How long one round of waiting lasts before the bar is updated with what is ready.
_POLL_S = 0.1


class _PlainBar:
    """A one-line bar: redrawn in place on a terminal, else a line per 10%."""

    def __init__(self, total: int, desc: str, stream=None):
        self.total, self.desc, self.n = total, desc, 0
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_draw = 0.0
        self._last_decile = -1

    def _line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        pct = 100.0 * self.n / self.total if self.total else 100.0
        eta = f", {(self.total - self.n) / rate:.0f} s left" if rate and self.n < self.total \
            else ""
        return f"{self.desc}: {self.n}/{self.total} ({pct:.0f}%) {rate:.1f}/s{eta}"

    def update(self, k: int) -> None:
        self.n += k
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw >= 0.2 or self.n >= self.total:
                self.stream.write("\r" + self._line())
                self.stream.flush()
                self._last_draw = now
        else:
            decile = int(10 * self.n / self.total) if self.total else 10
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(self._line() + "\n")
                self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r" + self._line() + "\n")
            self.stream.flush()


def _make_bar(total: int, desc: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _PlainBar(total, desc)
    return tqdm(total=total, desc=desc, unit="ref")


def progress(refs: Iterable, *, desc: str = "Waiting for refs",
             timeout: Optional[float] = None) -> Iterator:
    """Yields each of `refs` once it is ready (its value can be got without waiting), in
    the order they become ready, drawing a progress bar. With `timeout` (seconds),
    raises GetTimeoutError when some are still not ready then."""
    from cyray._private.worker import wait
    from cyray.exceptions import GetTimeoutError

    pending = list(refs)
    deadline = None if timeout is None else time.monotonic() + timeout
    bar = _make_bar(len(pending), desc)
    try:
        while pending:
            step = _POLL_S
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GetTimeoutError(f"{len(pending)} of the refs were not ready within "
                                          f"{timeout} s")
                step = min(step, left)
            # Everything ready so far, after at most one poll interval.
            ready, pending = wait(pending, num_returns=len(pending), timeout=step)
            if ready:
                bar.update(len(ready))
                yield from ready
    finally:
        bar.close()
