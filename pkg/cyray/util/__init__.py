"""cyray.util: helpers built on the core API (as ray.util)."""

from cyray.util import scheduling_strategies
from cyray.util.actor_pool import ActorPool

__all__ = ["ActorPool", "scheduling_strategies"]
