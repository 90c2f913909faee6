"""Custom serializers for a class (as ray.util.serialization).

A registration holds in the process that makes it, as in Ray: values pickled there
carry the deserializer (pickled with them, so it must itself be serializable), so any
process reads them back without registering anything; a worker that pickles such
values itself (in a return, a put) must register the serializer too.
"""

from cyray._private import serialization

__all__ = ["deregister_serializer", "register_serializer"]


def register_serializer(cls, *, serializer, deserializer):
    """Serialize instances of `cls` (exactly that type, not subclasses) as
    `serializer(obj)` and rebuild them with `deserializer(serialized)`. Replaces any
    serializer registered for `cls` in this process before."""
    if not isinstance(cls, type):
        raise TypeError(f"register_serializer() takes a class, got {cls!r}")
    for name, function in (("serializer", serializer), ("deserializer", deserializer)):
        if not callable(function):
            raise TypeError(f"register_serializer(): {name} must be callable, got {function!r}")

    def reduce(obj):
        return deserializer, (serializer(obj),)

    serialization.register_reducer(cls, reduce)


def deregister_serializer(cls):
    """Drops the serializer registered for `cls` in this process (nothing if none)."""
    serialization.deregister_reducer(cls)
