"""What `cyray.init()` returns: a RayContext, as Ray's ray._private.worker.RayContext.

It describes the connection (`address_info`: the GCS address, session dir, node id, ...),
still answers `ctx["address"]` like the dict older Ray versions returned (with Ray's
deprecation warning), and ends the connection when used as a context manager:

    with cyray.init() as ctx:
        ...                      # cyray.shutdown() runs on leaving the block
"""

import sys
import warnings
from abc import ABCMeta, abstractmethod
from collections.abc import Mapping

_warned = set()


def _warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, DeprecationWarning, stacklevel=3)


class BaseContext(metaclass=ABCMeta):
    """Base of the contexts `init()` returns (as Ray's, which also has a client one)."""

    @abstractmethod
    def disconnect(self):
        """Ends this driver's connection (`cyray.shutdown()`)."""

    @abstractmethod
    def __enter__(self):
        pass

    @abstractmethod
    def __exit__(self, *exc):
        pass


class RayContext(BaseContext, Mapping):
    """The connection of a driver to its cluster."""

    def __init__(self, address_info):
        import cyray

        # cyray has no dashboard yet (init(include_dashboard=True) is refused).
        self.dashboard_url = None
        self.python_version = "{}.{}.{}".format(*sys.version_info[:3])
        self.ray_version = cyray.__version__
        self.ray_commit = getattr(cyray, "__commit__", None)
        self.protocol_version = None
        self.address_info = address_info

    def __getitem__(self, key):
        _warn_once("getitem", f'Accessing values through ctx["{key}"] is deprecated. Use '
                              f'ctx.address_info["{key}"] instead.')
        return self.address_info[key]

    def __len__(self):
        _warn_once("len", "len(ctx) is deprecated. Use len(ctx.address_info) instead.")
        return len(self.address_info)

    def __iter__(self):
        _warn_once("iter", "iter(ctx) is deprecated. Use iter(ctx.address_info) instead.")
        return iter(self.address_info)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.disconnect()

    def disconnect(self):
        from cyray._private.worker import shutdown

        shutdown()

    def __repr__(self):
        return (f"RayContext(dashboard_url={self.dashboard_url!r}, "
                f"python_version={self.python_version!r}, ray_version={self.ray_version!r}, "
                f"address_info={self.address_info!r})")
