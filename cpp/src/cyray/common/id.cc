#include "cyray/common/id.h"

#include <random>

namespace cyray {
namespace {

// Writes the 8-byte little-endian form of `value` into `out` (up to `size` bytes).
void PutHash(uint64_t value, uint8_t *out, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    out[i] = static_cast<uint8_t>(value >> (8 * (i % 8)));
    if (i % 8 == 7) value = HashBytes(&value, sizeof(value));
  }
}

uint64_t HashParent(const TaskID &parent, uint64_t counter, uint8_t salt) {
  std::string buf = parent.Binary();
  buf.append(reinterpret_cast<const char *>(&counter), sizeof(counter));
  buf.push_back(static_cast<char>(salt));
  return HashBytes(buf.data(), buf.size());
}

}  // namespace

void FillRandom(uint8_t *out, size_t size) {
  thread_local std::mt19937_64 gen([] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }());
  for (size_t i = 0; i < size; i += 8) {
    uint64_t r = gen();
    for (size_t j = 0; j < 8 && i + j < size; ++j) out[i + j] = static_cast<uint8_t>(r >> (8 * j));
  }
}

uint64_t HashBytes(const void *data, size_t size) {
  const auto *p = static_cast<const uint8_t *>(data);
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  // splitmix64 finalizer: spreads FNV's weak low bits.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

std::string BytesToHex(const uint8_t *data, size_t size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

bool HexToBytes(const std::string &hex, uint8_t *out, size_t size) {
  if (hex.size() != size * 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < size; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return true;
}

JobID JobID::FromInt(uint32_t value) {
  JobID id;
  std::memcpy(id.MutableData(), &value, kSize);
  return id;
}

uint32_t JobID::ToInt() const {
  uint32_t value;
  std::memcpy(&value, Data(), kSize);
  return value;
}

ActorID ActorID::NilFromJob(const JobID &job_id) {
  ActorID id;
  std::memcpy(id.MutableData() + kUniqueBytes, job_id.Data(), JobID::kSize);
  return id;
}

ActorID ActorID::Of(const JobID &job_id, const TaskID &parent_task_id,
                    uint64_t parent_task_counter) {
  ActorID id;
  PutHash(HashParent(parent_task_id, parent_task_counter, 'A'), id.MutableData(), kUniqueBytes);
  std::memcpy(id.MutableData() + kUniqueBytes, job_id.Data(), JobID::kSize);
  return id;
}

JobID ActorID::JobId() const {
  return JobID::FromBinary(Binary().substr(kUniqueBytes, JobID::kSize));
}

TaskID TaskID::ForDriverTask(const JobID &job_id) {
  TaskID id;
  std::memset(id.MutableData(), 0, kUniqueBytes);
  ActorID actor = ActorID::NilFromJob(job_id);
  std::memcpy(id.MutableData() + kUniqueBytes, actor.Data(), ActorID::kSize);
  return id;
}

TaskID TaskID::ForNormalTask(const JobID &job_id, const TaskID &parent_task_id,
                             uint64_t parent_task_counter) {
  TaskID id;
  PutHash(HashParent(parent_task_id, parent_task_counter, 'T'), id.MutableData(), kUniqueBytes);
  ActorID actor = ActorID::NilFromJob(job_id);
  std::memcpy(id.MutableData() + kUniqueBytes, actor.Data(), ActorID::kSize);
  return id;
}

TaskID TaskID::ForActorCreationTask(const ActorID &actor_id) {
  TaskID id;
  std::memset(id.MutableData(), 0, kUniqueBytes);
  std::memcpy(id.MutableData() + kUniqueBytes, actor_id.Data(), ActorID::kSize);
  return id;
}

TaskID TaskID::ForActorTask(const JobID &job_id, const TaskID &parent_task_id,
                            uint64_t parent_task_counter, const ActorID &actor_id) {
  (void)job_id;
  TaskID id;
  PutHash(HashParent(parent_task_id, parent_task_counter, 'a'), id.MutableData(), kUniqueBytes);
  std::memcpy(id.MutableData() + kUniqueBytes, actor_id.Data(), ActorID::kSize);
  return id;
}

ActorID TaskID::ActorId() const {
  return ActorID::FromBinary(Binary().substr(kUniqueBytes, ActorID::kSize));
}

JobID TaskID::JobId() const { return ActorId().JobId(); }

ObjectID ObjectID::FromIndex(const TaskID &task_id, uint32_t index) {
  ObjectID id;
  std::memcpy(id.MutableData(), task_id.Data(), TaskID::kSize);
  std::memcpy(id.MutableData() + TaskID::kSize, &index, kIndexBytes);
  return id;
}

TaskID ObjectID::TaskId() const { return TaskID::FromBinary(Binary().substr(0, TaskID::kSize)); }

uint32_t ObjectID::ObjectIndex() const {
  uint32_t index;
  std::memcpy(&index, Data() + TaskID::kSize, kIndexBytes);
  return index;
}

PlacementGroupID PlacementGroupID::Of(const JobID &job_id) {
  PlacementGroupID id;
  FillRandom(id.MutableData(), kSize - JobID::kSize);
  std::memcpy(id.MutableData() + kSize - JobID::kSize, job_id.Data(), JobID::kSize);
  return id;
}

JobID PlacementGroupID::JobId() const {
  return JobID::FromBinary(Binary().substr(kSize - JobID::kSize, JobID::kSize));
}

}  // namespace cyray
