# Declarations of cyray's C++ common library (cpp/src/cyray/common) for Cython.
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from libcpp cimport bool as c_bool
from libcpp.map cimport map as c_map
from libcpp.string cimport string as c_string


cdef extern from "cyray/common/status.h" namespace "cyray" nogil:
    cdef enum CStatusCode "cyray::StatusCode":
        CStatusCode_OK "cyray::StatusCode::kOK"
        CStatusCode_Invalid "cyray::StatusCode::kInvalid"
        CStatusCode_KeyError "cyray::StatusCode::kKeyError"
        CStatusCode_NotFound "cyray::StatusCode::kNotFound"
        CStatusCode_IOError "cyray::StatusCode::kIOError"
        CStatusCode_TimedOut "cyray::StatusCode::kTimedOut"
        CStatusCode_Interrupted "cyray::StatusCode::kInterrupted"
        CStatusCode_Disconnected "cyray::StatusCode::kDisconnected"
        CStatusCode_ObjectStoreFull "cyray::StatusCode::kObjectStoreFull"
        CStatusCode_NotImplemented "cyray::StatusCode::kNotImplemented"
        CStatusCode_Unknown "cyray::StatusCode::kUnknown"

    cdef cppclass CStatus "cyray::Status":
        CStatus()
        CStatus(CStatusCode code, c_string message)
        c_bool ok()
        CStatusCode code()
        const c_string &message()
        c_string ToString()

        @staticmethod
        CStatus OK()

        @staticmethod
        CStatus Unknown(c_string message)

        @staticmethod
        CStatus Interrupted(c_string message)


cdef extern from "cyray/common/id.h" namespace "cyray" nogil:
    cdef cppclass CJobID "cyray::JobID":
        @staticmethod
        CJobID FromBinary(const c_string &binary)
        @staticmethod
        CJobID FromInt(uint32_t value)
        c_string Binary()
        uint32_t ToInt()

    cdef cppclass CActorID "cyray::ActorID":
        @staticmethod
        CActorID FromBinary(const c_string &binary)
        CJobID JobId()
        c_string Binary()

    cdef cppclass CTaskID "cyray::TaskID":
        @staticmethod
        CTaskID FromBinary(const c_string &binary)
        @staticmethod
        CTaskID ForDriverTask(const CJobID &job_id)
        @staticmethod
        CTaskID ForNormalTask(const CJobID &job_id, const CTaskID &parent, uint64_t counter)
        CJobID JobId()
        CActorID ActorId()
        c_string Binary()

    cdef cppclass CObjectID "cyray::ObjectID":
        @staticmethod
        CObjectID FromBinary(const c_string &binary)
        @staticmethod
        CObjectID FromIndex(const CTaskID &task_id, uint32_t index)
        CTaskID TaskId()
        uint32_t ObjectIndex()
        c_string Binary()

    cdef cppclass CNodeID "cyray::NodeID":
        @staticmethod
        CNodeID FromRandom()
        c_string Binary()

    cdef cppclass CWorkerID "cyray::WorkerID":
        @staticmethod
        CWorkerID FromRandom()
        c_string Binary()

    cdef cppclass CPlacementGroupID "cyray::PlacementGroupID":
        @staticmethod
        CPlacementGroupID FromBinary(const c_string &binary)
        @staticmethod
        CPlacementGroupID Of(const CJobID &job_id)
        CJobID JobId()
        c_string Binary()

    c_string BytesToHex(const uint8_t *data, size_t size)
    void FillRandom(uint8_t *out, size_t size)


cdef extern from "cyray/common/config.h" namespace "cyray" nogil:
    cdef cppclass CKnobInfo "cyray::CyrayConfig::KnobInfo":
        c_string type
        c_string value
        c_string doc

    cdef cppclass CCyrayConfig "cyray::CyrayConfig":
        @staticmethod
        const CCyrayConfig &Instance()
        c_map[c_string, CKnobInfo] Describe()
        int64_t max_direct_call_object_size()
        int64_t get_check_signal_interval_ms()
