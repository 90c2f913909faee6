"""multiprocessing's Pool API over cyray actors (as ray.util.multiprocessing).

`TimeoutError` and `JoinableQueue` are the standard library's, as in Ray.
"""

from multiprocessing import JoinableQueue, TimeoutError

from cyray.util.multiprocessing.pool import AsyncResult, IMapIterator, Pool

__all__ = ["AsyncResult", "IMapIterator", "JoinableQueue", "Pool", "TimeoutError"]
