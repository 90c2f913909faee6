// Identifiers with Ray's binary layouts. Every ID is a fixed number of bytes,
// printed as lower-case hex; "nil" is all 0xff bytes.
//
//   JobID              4 bytes
//   ActorID           16 = 12 unique + JobID
//   TaskID            24 =  8 unique + ActorID
//   ObjectID          28 = TaskID + 4-byte index (returns 1..n, then puts)
//   NodeID, WorkerID  28 unique bytes
//   PlacementGroupID  18 = 14 unique + JobID
//
// Value types; immutable after construction; safe to share between threads.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

namespace cyray {

// Fills `out` with `size` random bytes from a per-thread generator seeded from
// the OS.
void FillRandom(uint8_t *out, size_t size);
// A 64-bit hash of `size` bytes (FNV-1a, then a finalizer mix).
uint64_t HashBytes(const void *data, size_t size);

template <typename Derived, size_t N>
class BaseID {
 public:
  static constexpr size_t kSize = N;

  BaseID() { bytes_.fill(0xff); }

  static Derived Nil() { return Derived(); }
  static Derived FromRandom() {
    Derived id;
    FillRandom(id.bytes_.data(), N);
    return id;
  }
  // `binary` must hold exactly kSize bytes; otherwise Nil is returned.
  static Derived FromBinary(std::string_view binary) {
    Derived id;
    if (binary.size() == N) std::memcpy(id.bytes_.data(), binary.data(), N);
    return id;
  }
  // `hex` must hold 2*kSize hex digits; otherwise Nil is returned.
  static Derived FromHex(const std::string &hex);
  static bool IsValidBinary(const std::string &binary) { return binary.size() == N; }

  bool IsNil() const {
    for (uint8_t b : bytes_) {
      if (b != 0xff) return false;
    }
    return true;
  }
  std::string Binary() const {
    return std::string(reinterpret_cast<const char *>(bytes_.data()), N);
  }
  std::string Hex() const;
  const uint8_t *Data() const { return bytes_.data(); }
  // For hash tables only (IDs derive from HashBytes, which must not change):
  // eight bytes at a time, several times faster than HashBytes' byte loop on
  // the lookups that wait, get and reference counting do for every ID.
  size_t Hash() const {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ N;
    size_t i = 0;
    for (; i + 8 <= N; i += 8) {
      uint64_t word;
      std::memcpy(&word, bytes_.data() + i, 8);
      h = (h ^ word) * 0xff51afd7ed558ccdULL;
      h ^= h >> 32;
    }
    if (i < N) {
      uint64_t tail = 0;
      std::memcpy(&tail, bytes_.data() + i, N - i);
      h = (h ^ tail) * 0xc4ceb9fe1a85ec53ULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return static_cast<size_t>(h);
  }

  bool operator==(const BaseID &other) const { return bytes_ == other.bytes_; }
  bool operator!=(const BaseID &other) const { return bytes_ != other.bytes_; }
  bool operator<(const BaseID &other) const { return bytes_ < other.bytes_; }

 protected:
  uint8_t *MutableData() { return bytes_.data(); }
  std::array<uint8_t, N> bytes_;
};

std::string BytesToHex(const uint8_t *data, size_t size);
// Returns false when `hex` is not exactly 2*size hex digits.
bool HexToBytes(const std::string &hex, uint8_t *out, size_t size);

template <typename Derived, size_t N>
std::string BaseID<Derived, N>::Hex() const {
  return BytesToHex(bytes_.data(), N);
}

template <typename Derived, size_t N>
Derived BaseID<Derived, N>::FromHex(const std::string &hex) {
  Derived id;
  if (!HexToBytes(hex, id.MutableData(), N)) return Derived();
  return id;
}

class UniqueID : public BaseID<UniqueID, 28> {};
class NodeID : public BaseID<NodeID, 28> {};
class WorkerID : public BaseID<WorkerID, 28> {};

class JobID : public BaseID<JobID, 4> {
 public:
  static JobID FromInt(uint32_t value);
  uint32_t ToInt() const;
};

class ActorID : public BaseID<ActorID, 16> {
 public:
  static constexpr size_t kUniqueBytes = 12;
  // An actor ID whose unique part is nil but which still names its job; used
  // as the "actor" part of normal task IDs.
  static ActorID NilFromJob(const JobID &job_id);
  // A fresh actor ID derived from the creating task and its counter.
  static ActorID Of(const JobID &job_id, const class TaskID &parent_task_id,
                    uint64_t parent_task_counter);
  JobID JobId() const;
};

class TaskID : public BaseID<TaskID, 24> {
 public:
  static constexpr size_t kUniqueBytes = 8;
  // The pseudo-task that a driver's top-level calls belong to.
  static TaskID ForDriverTask(const JobID &job_id);
  // The n-th task submitted by `parent_task_id` (deterministic, so a retried
  // parent creates the same children).
  static TaskID ForNormalTask(const JobID &job_id, const TaskID &parent_task_id,
                              uint64_t parent_task_counter);
  static TaskID ForActorCreationTask(const ActorID &actor_id);
  static TaskID ForActorTask(const JobID &job_id, const TaskID &parent_task_id,
                             uint64_t parent_task_counter, const ActorID &actor_id);
  ActorID ActorId() const;
  JobID JobId() const;
};

class ObjectID : public BaseID<ObjectID, 28> {
 public:
  static constexpr size_t kIndexBytes = 4;
  // Return `index` (1-based) of `task_id`; puts use indices after the returns.
  static ObjectID FromIndex(const TaskID &task_id, uint32_t index);
  TaskID TaskId() const;
  uint32_t ObjectIndex() const;
};

class PlacementGroupID : public BaseID<PlacementGroupID, 18> {
 public:
  static PlacementGroupID Of(const JobID &job_id);
  JobID JobId() const;
};

template <typename T>
struct IDHasher {
  size_t operator()(const T &id) const { return id.Hash(); }
};

}  // namespace cyray

namespace std {
#define CYRAY_DEFINE_ID_HASH(T)                                         \
  template <>                                                           \
  struct hash<::cyray::T> {                                             \
    size_t operator()(const ::cyray::T &id) const { return id.Hash(); } \
  };
CYRAY_DEFINE_ID_HASH(UniqueID)
CYRAY_DEFINE_ID_HASH(NodeID)
CYRAY_DEFINE_ID_HASH(WorkerID)
CYRAY_DEFINE_ID_HASH(JobID)
CYRAY_DEFINE_ID_HASH(ActorID)
CYRAY_DEFINE_ID_HASH(TaskID)
CYRAY_DEFINE_ID_HASH(ObjectID)
CYRAY_DEFINE_ID_HASH(PlacementGroupID)
#undef CYRAY_DEFINE_ID_HASH
}  // namespace std
