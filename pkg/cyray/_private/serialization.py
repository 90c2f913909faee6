"""Serialization of values and errors as cyray stores them.

A value is (data, metadata, nested_refs):
- metadata b"P": data is a cloudpickle (protocol 5) of the value;
- metadata b"P5": data frames a pickle plus out-of-band buffers (numpy arrays and
  other buffer-protocol objects, 64-byte aligned), read back without copying;
- metadata b"E<n>": an error object of rpc ErrorType n; for task exceptions the
  data is a serialized RayTaskError, otherwise a UTF-8 message.
nested_refs are the ObjectRefs pickled inside the value.

Values are pickled by `_ValuePickler`, cloudpickle's pickler plus the reducers that
`register_reducer` (util.register_serializer) installed in this process.
"""

import collections
import functools
import io
import pickle
import struct

import cloudpickle

from cyray import exceptions
from cyray._private import actor_death
from cyray._raylet import NestedRefRecorder

METADATA_PICKLE = b"P"
METADATA_PICKLE5 = b"P5"
ALIGNMENT = 64


# How an error object of each rpc::ErrorType (its data a UTF-8 message) becomes an
# exception; TASK_EXECUTION_EXCEPTION objects hold a pickled RayTaskError instead.
_ERROR_FACTORIES = {
    "WORKER_DIED": exceptions.WorkerCrashedError,
    # Its message is the actor's death cause, as the GCS wrote it (see actor_death).
    "ACTOR_DIED": actor_death.actor_died_error,
    "ACTOR_UNAVAILABLE": lambda message: exceptions.ActorUnavailableError(message, None),
    "OBJECT_LOST": exceptions.ObjectLostError,
    "OWNER_DIED": exceptions.OwnerDiedError,
    "TASK_CANCELLED": lambda message: exceptions.TaskCancelledError(error_message=message),
    "TASK_UNSCHEDULABLE_ERROR": exceptions.TaskUnschedulableError,
    # Both are raised when this process's raylet cannot be reached.
    "RAYLET_DIED": exceptions.LocalRayletDiedError,
    "LOCAL_RAYLET_DIED": exceptions.LocalRayletDiedError,
    "SYSTEM_ERROR": exceptions.RaySystemError,
    "ACTOR_UNSCHEDULABLE_ERROR": exceptions.ActorUnschedulableError,
    "OBJECT_FETCH_TIMED_OUT": exceptions.ObjectFetchTimedOutError,
    "OBJECT_RECONSTRUCTION_FAILED": lambda message: exceptions.ObjectReconstructionFailedError(
        message, "OBJECT_RECONSTRUCTION_FAILED", message),
}


@functools.lru_cache(maxsize=None)
def _error_types():
    """(TASK_EXECUTION_EXCEPTION's number, {number: factory}), from the generated
    rpc::ErrorType enum (imported on first use: most processes never see an error)."""
    from cyray.protobuf import common_pb2

    value = common_pb2.ErrorType.Value
    return (value("TASK_EXECUTION_EXCEPTION"),
            {value(name): factory for name, factory in _ERROR_FACTORIES.items()})


class DeserializationError(exceptions.RaySystemError):
    pass


# type -> reducer (obj -> (callable, args)) registered in this process; looked up before
# cloudpickle's own table.
_custom_reducers = {}


class _ValuePickler(cloudpickle.CloudPickler):
    dispatch_table = collections.ChainMap(_custom_reducers, cloudpickle.CloudPickler.dispatch_table)


def register_reducer(cls, reducer):
    """Pickles instances of exactly `cls` as `reducer(obj)` returns them, in this process
    (replacing any reducer registered for `cls` before)."""
    _custom_reducers[cls] = reducer


def deregister_reducer(cls):
    """Drops the reducer registered for `cls`, if any."""
    _custom_reducers.pop(cls, None)


def dumps(value, buffer_callback=None):
    """The pickle (protocol 5) of `value` as values are stored; registered reducers apply."""
    out = io.BytesIO()
    _ValuePickler(out, protocol=5, buffer_callback=buffer_callback).dump(value)
    return out.getvalue()


# Values that hold no refs and pickle the same with the C pickler as with cloudpickle's
# (which is slower to set up per call): most task returns and arguments.
_PLAIN_TYPES = frozenset({type(None), bool, int, float, str, bytes})


def serialize(value):
    """(data, metadata, nested_refs) of `value`; TypeError if it cannot be pickled."""
    payload, raws, metadata, nested = serialize_parts(value)
    if not raws:
        return payload, metadata, nested
    return _frame(payload, raws), metadata, nested


def serialize_parts(value):
    """(payload, out-of-band buffers, metadata, nested_refs), before framing."""
    if type(value) in _PLAIN_TYPES and type(value) not in _custom_reducers:
        return pickle.dumps(value, protocol=5), [], METADATA_PICKLE, []
    buffers = []
    with NestedRefRecorder() as nested:
        try:
            payload = dumps(value, buffer_callback=buffers.append)
        except Exception as e:
            raise TypeError(
                f"Could not serialize {type(value).__name__} object {_short_repr(value)}: "
                f"{type(e).__name__}: {e}. Pass only values that pickle can serialize "
                "(no locks, sockets, open files or generators).") from e
    if not buffers:
        return payload, [], METADATA_PICKLE, nested
    return payload, [b.raw() for b in buffers], METADATA_PICKLE5, nested


def frame_layout(payload, raws):
    """(total size, [(offset, part)]) of the framed value, to write it in place."""
    header = struct.pack(f"<IQ{len(raws)}Q", len(raws), len(payload), *[r.nbytes for r in raws])
    parts = [(0, header), (len(header), payload)]
    offset = len(header) + len(payload)
    for raw in raws:
        offset += -offset % ALIGNMENT
        parts.append((offset, raw))
        offset += raw.nbytes
    return offset, parts


def _short_repr(value, limit=80):
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


def _frame(payload, raws):
    header = struct.pack(f"<IQ{len(raws)}Q", len(raws), len(payload), *[r.nbytes for r in raws])
    parts = [header, payload]
    offset = len(header) + len(payload)
    for raw in raws:
        pad = -offset % ALIGNMENT
        parts.append(b"\0" * pad)
        parts.append(raw)
        offset += pad + raw.nbytes
    return b"".join(parts)


def _unframe(data):
    view = memoryview(data)
    count, payload_len = struct.unpack_from("<IQ", view, 0)
    lens = struct.unpack_from(f"<{count}Q", view, 12)
    offset = 12 + 8 * count
    payload = view[offset:offset + payload_len]
    offset += payload_len
    buffers = []
    for n in lens:
        offset += -offset % ALIGNMENT
        buffers.append(view[offset:offset + n])
        offset += n
    return payload, buffers


def is_error(metadata):
    return metadata[:1] == b"E"


def deserialize(data, metadata):
    """The value stored as (data, metadata); an error object becomes an exception
    instance (returned, not raised: see `deserialize_or_raise`)."""
    if metadata == METADATA_PICKLE:
        return pickle.loads(data)
    if metadata == METADATA_PICKLE5:
        payload, buffers = _unframe(data)
        return pickle.loads(payload, buffers=buffers)
    if is_error(metadata):
        return _error_from(data, int(metadata[1:]))
    raise DeserializationError(f"unknown object metadata {metadata!r}")


def _error_from(data, error_type):
    task_execution_exception, factories = _error_types()
    if error_type == task_execution_exception:
        return pickle.loads(data)
    factory = factories.get(error_type, exceptions.RaySystemError)
    return factory(bytes(data).decode("utf-8", "replace"))


def deserialize_or_raise(data, metadata):
    value = deserialize(data, metadata)
    if is_error(metadata):
        if isinstance(value, exceptions.RayTaskError):
            raise value.as_instanceof_cause()
        raise value
    return value


def serialize_error(error):
    """(data, metadata) of an exception raised by a task (a RayTaskError). Its cause is
    pickled apart (see RayTaskError), so this does not fail on an unpicklable cause."""
    data = cloudpickle.dumps(error, protocol=5)
    return data, b"E%d" % _error_types()[0]
