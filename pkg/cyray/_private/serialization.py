"""Serialization of values and errors as cyray stores them.

A value is (data, metadata, nested_refs):
- metadata b"P": data is a cloudpickle (protocol 5) of the value;
- metadata b"P5": data frames a pickle plus out-of-band buffers (numpy arrays and
  other buffer-protocol objects, 64-byte aligned), read back without copying;
- metadata b"E<n>": an error object of rpc ErrorType n; for task exceptions the
  data is a serialized RayTaskError, otherwise a UTF-8 message.
nested_refs are the ObjectRefs pickled inside the value.
"""

import pickle
import struct

import cloudpickle

from cyray import exceptions
from cyray._raylet import NestedRefRecorder

METADATA_PICKLE = b"P"
METADATA_PICKLE5 = b"P5"
ALIGNMENT = 64

# rpc::ErrorType numbers (cpp/src/cyray/protobuf/common.proto).
WORKER_DIED = 1
ACTOR_DIED = 2
OBJECT_LOST = 3
TASK_EXECUTION_EXCEPTION = 4
TASK_CANCELLED = 5
TASK_UNSCHEDULABLE_ERROR = 6
OWNER_DIED = 7
RAYLET_DIED = 8
SYSTEM_ERROR = 9

_ERROR_CLASSES = {
    WORKER_DIED: exceptions.WorkerCrashedError,
    ACTOR_DIED: exceptions.RayActorError,
    OBJECT_LOST: exceptions.ObjectLostError,
    TASK_CANCELLED: exceptions.TaskCancelledError,
    TASK_UNSCHEDULABLE_ERROR: exceptions.TaskUnschedulableError,
    OWNER_DIED: exceptions.OwnerDiedError,
    RAYLET_DIED: exceptions.LocalRayletDiedError,
    SYSTEM_ERROR: exceptions.RaySystemError,
}


class DeserializationError(exceptions.RaySystemError):
    pass


def serialize(value):
    """(data, metadata, nested_refs) of `value`; TypeError if it cannot be pickled."""
    payload, raws, metadata, nested = serialize_parts(value)
    if not raws:
        return payload, metadata, nested
    return _frame(payload, raws), metadata, nested


def serialize_parts(value):
    """(payload, out-of-band buffers, metadata, nested_refs), before framing."""
    buffers = []
    with NestedRefRecorder() as nested:
        try:
            payload = cloudpickle.dumps(value, protocol=5, buffer_callback=buffers.append)
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
    if error_type == TASK_EXECUTION_EXCEPTION:
        return pickle.loads(data)
    cls = _ERROR_CLASSES.get(error_type, exceptions.RaySystemError)
    return cls(data.decode("utf-8", "replace"))


def deserialize_or_raise(data, metadata):
    value = deserialize(data, metadata)
    if is_error(metadata):
        if isinstance(value, exceptions.RayTaskError):
            raise value.as_instanceof_cause()
        raise value
    return value


def serialize_error(error):
    """(data, metadata) of an exception raised by a task (a RayTaskError)."""
    try:
        data = cloudpickle.dumps(error, protocol=5)
    except Exception:
        # The cause itself cannot be pickled: keep its type name and message.
        fallback = exceptions.RayTaskError(
            error.function_name, error.traceback_str,
            exceptions.RayError(f"{type(error.cause).__name__}: {error.cause}"),
            error.proctitle, error.pid, error.ip)
        data = cloudpickle.dumps(fallback, protocol=5)
    return data, b"E%d" % TASK_EXECUTION_EXCEPTION
