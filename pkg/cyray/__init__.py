"""cyray: a distributed task and actor runtime that speaks Ray Core's API.

    import cyray as ray
"""

__version__ = "0.1.0"

from cyray import exceptions  # noqa: E402
from cyray._raylet import (  # noqa: E402
    ActorID,
    JobID,
    NodeID,
    ObjectID,
    PlacementGroupID,
    TaskID,
    UniqueID,
    WorkerID,
)

__all__ = [
    "__version__",
    "exceptions",
    "ActorID",
    "JobID",
    "NodeID",
    "ObjectID",
    "PlacementGroupID",
    "TaskID",
    "UniqueID",
    "WorkerID",
]
