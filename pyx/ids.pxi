# Python classes for cyray's IDs. The binary layouts and derivations live in
# C++ (cyray/common/id.h); these classes hold the bytes and delegate to it.
import binascii


cdef int _check_id_bytes(binary, size_t size) except -1:
    """Ray's messages, which programs may match on."""
    if not isinstance(binary, bytes):
        raise TypeError(f"Unsupported type: {type(binary)}, expected bytes (from_hex() takes "
                        "a hex string)")
    if <size_t>len(binary) != size:
        raise ValueError(f"ID string needs to have length {size}, got {len(binary)}")
    return 0


cdef class BaseID:
    """A fixed-size binary identifier, printed as hex; nil is all 0xff bytes."""
    cdef bytes _binary
    cdef Py_hash_t _hash

    _SIZE = 0

    def __init__(self, binary):
        _check_id_bytes(binary, type(self)._SIZE)
        self._binary = binary
        self._hash = hash(binary)

    @classmethod
    def size(cls):
        return cls._SIZE

    @classmethod
    def nil(cls):
        return cls(b"\xff" * cls._SIZE)

    @classmethod
    def from_hex(cls, hex_id):
        if isinstance(hex_id, bytes):
            hex_id = hex_id.decode()
        try:
            raw = binascii.unhexlify(hex_id)
        except (binascii.Error, ValueError) as e:
            raise ValueError(f"{cls.__name__}.from_hex: {hex_id!r} is not hex ({e})") from None
        return cls(raw)

    @classmethod
    def from_binary(cls, id_bytes):
        return cls(id_bytes)

    @classmethod
    def from_random(cls):
        cdef bytearray buf = bytearray(cls._SIZE)
        cdef uint8_t *ptr = <uint8_t *>(<char *>buf)
        FillRandom(ptr, cls._SIZE)
        return cls(bytes(buf))

    def binary(self):
        return self._binary

    def hex(self):
        return self._binary.hex()

    def is_nil(self):
        return self._binary == b"\xff" * type(self)._SIZE

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return type(self) is type(other) and self._binary == (<BaseID>other)._binary

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return f"{type(self).__name__}({self.hex()})"

    def __reduce__(self):
        return type(self), (self._binary,)


cdef class UniqueID(BaseID):
    _SIZE = 28


cdef class NodeID(BaseID):
    _SIZE = 28


cdef class WorkerID(BaseID):
    _SIZE = 28


cdef class JobID(BaseID):
    _SIZE = 4

    @classmethod
    def from_int(cls, int value):
        if value < 0 or value >= 2 ** 32:
            raise ValueError(f"JobID.from_int: {value} is outside 0..2**32-1")
        return cls(CJobID.FromInt(value).Binary())

    def int(self):
        return CJobID.FromBinary(self._binary).ToInt()


cdef class ActorID(BaseID):
    _SIZE = 16

    def job_id(self):
        return JobID(CActorID.FromBinary(self._binary).JobId().Binary())


cdef class TaskID(BaseID):
    _SIZE = 24

    @classmethod
    def for_driver_task(cls, JobID job_id):
        return cls(CTaskID.ForDriverTask(CJobID.FromBinary(job_id._binary)).Binary())

    @classmethod
    def for_normal_task(cls, JobID job_id, TaskID parent_task_id, uint64_t counter):
        return cls(CTaskID.ForNormalTask(
            CJobID.FromBinary(job_id._binary),
            CTaskID.FromBinary(parent_task_id._binary), counter).Binary())

    def job_id(self):
        return JobID(CTaskID.FromBinary(self._binary).JobId().Binary())

    def actor_id(self):
        return ActorID(CTaskID.FromBinary(self._binary).ActorId().Binary())


cdef class ObjectID(BaseID):
    _SIZE = 28

    @classmethod
    def from_index(cls, TaskID task_id, uint32_t index):
        return cls(CObjectID.FromIndex(CTaskID.FromBinary(task_id._binary), index).Binary())

    def task_id(self):
        return TaskID(CObjectID.FromBinary(self._binary).TaskId().Binary())

    def index(self):
        return CObjectID.FromBinary(self._binary).ObjectIndex()


cdef class PlacementGroupID(BaseID):
    _SIZE = 18

    @classmethod
    def of(cls, JobID job_id):
        return cls(CPlacementGroupID.Of(CJobID.FromBinary(job_id._binary)).Binary())

    def job_id(self):
        return JobID(CPlacementGroupID.FromBinary(self._binary).JobId().Binary())
