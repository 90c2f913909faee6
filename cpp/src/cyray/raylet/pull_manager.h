// PullManager: makes objects present in this node's store by pulling them
// from other nodes. For each object it asks the owner where the copies are,
// then fetches the object from one holder in chunks (several in flight) into
// a local allocation that is sealed, marked secondary and reported to the
// owner when complete. Concurrent requests for one object share one pull; a
// holder that fails is replaced by the next; when the owner knows no copy yet
// (the object is being made or rebuilt) it asks again until the deadline.
// Not thread-safe: the raylet's main thread (the seams post their callbacks
// there).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cyray/common/id.h"
#include "cyray/common/status.h"
#include "cyray/protobuf/core_worker.pb.h"
#include "cyray/protobuf/node_manager.pb.h"
#include "cyray/raylet/cluster_view.h"

namespace cyray::raylet {

// One chunk as a holder sent it. `copy_to` copies the chunk's `size` bytes
// to a destination straight from the transport's receive buffers, so a chunk
// takes one user-space copy on this side.
struct FetchedChunk {
  bool found = false;
  // Sizes of the whole object (data then metadata, contiguous in the store).
  uint64_t data_size = 0;
  uint64_t metadata_size = 0;
  uint64_t size = 0;
  std::function<void(uint8_t *dest)> copy_to;
};

// The remote calls a pull makes (a seam for fakes). Callbacks run on the
// caller's thread.
class ObjectTransferInterface {
 public:
  virtual ~ObjectTransferInterface() = default;
  virtual void GetObjectLocations(
      const rpc::Address &owner, const ObjectID &id,
      std::function<void(const Status &, const rpc::GetObjectLocationsReply &)> callback) = 0;
  // `raylet` is "host:port"; the call fails after `timeout_ms`.
  virtual void FetchObjectChunk(
      const std::string &raylet, const ObjectID &id, uint64_t offset, uint64_t length,
      int64_t timeout_ms, std::function<void(const Status &, const FetchedChunk &)> callback) = 0;
  virtual void AddObjectLocation(const rpc::Address &owner, const ObjectID &id,
                                 std::function<void(bool kept)> callback) = 0;
};

// This node's store, as a pull uses it (a seam for fakes).
class PullTargetInterface {
 public:
  virtual ~PullTargetInterface() = default;
  virtual bool ContainsSealed(const ObjectID &id) = 0;
  // Reserves room; *dest points at data_size + metadata_size writable bytes.
  virtual Status Create(const ObjectID &id, uint64_t data_size, uint64_t metadata_size,
                        uint8_t **dest) = 0;
  // Seals the object and marks it a secondary copy.
  virtual Status Seal(const ObjectID &id) = 0;
  // Drops an object (unsealed, or sealed but no longer wanted).
  virtual void Delete(const ObjectID &id) = 0;
};

struct PullResult {
  bool ok = false;
  bool lost = false;
  std::string message;
  // No holder could give a copy before the pull's deadline.
  bool timed_out = false;
  // Lost, and its owner's attempt to rebuild it failed.
  bool reconstruction_failed = false;
  // Its owner is gone (its node died, or its process no longer answers), and
  // the object with it.
  bool owner_died = false;
};

class PullManager {
 public:
  using Callback = std::function<void(const PullResult &)>;
  // Runs a callback on the main thread after a delay in ms.
  using ScheduleAfter = std::function<void(int64_t, std::function<void()>)>;
  using Clock = std::function<int64_t()>;

  PullManager(const ClusterView &view, ObjectTransferInterface &transfer,
              PullTargetInterface &store, ScheduleAfter schedule_after, Clock now_ms,
              uint64_t chunk_size, int max_chunks_in_flight);

  // Calls back once the object is sealed here, or the pull failed (lost, owner
  // gone, deadline passed).
  void Pull(const ObjectID &id, const rpc::Address &owner, int64_t timeout_ms, Callback callback);
  // A node died: pulls from it move on to other holders.
  void OnNodeRemoved(const NodeID &node);
  // Ends every pull as failed (the raylet is stopping).
  void FailAll(const std::string &why);

  size_t NumActive() const { return pulls_.size(); }
  std::vector<ObjectID> ActivePulls() const {
    std::vector<ObjectID> ids;
    for (const auto &[id, pull] : pulls_) ids.push_back(id);
    return ids;
  }

 private:
  struct ActivePull {
    ObjectID id;
    rpc::Address owner;
    int64_t deadline_ms = 0;
    std::vector<Callback> callbacks;
    // Holders to try, in order; `source` indexes the one in use.
    std::vector<NodeID> holders;
    size_t source = 0;
    // Bumped per holder tried, so late chunk replies of an abandoned attempt are ignored.
    uint64_t attempt = 0;
    bool created = false;
    uint8_t *dest = nullptr;
    uint64_t total_size = 0;
    uint64_t next_offset = 0;
    uint64_t received = 0;
    int in_flight = 0;
  };
  using PullPtr = std::shared_ptr<ActivePull>;

  void AskOwner(const PullPtr &pull);
  void TryNextHolder(const PullPtr &pull, const std::string &why);
  void RequestChunks(const PullPtr &pull);
  void OnChunk(const PullPtr &pull, uint64_t attempt, uint64_t offset, const Status &status,
               const FetchedChunk &chunk);
  void Retry(const PullPtr &pull, const std::string &why);
  void Finish(const PullPtr &pull, PullResult result);

  const ClusterView &view_;
  ObjectTransferInterface &transfer_;
  PullTargetInterface &store_;
  ScheduleAfter schedule_after_;
  Clock now_ms_;
  uint64_t chunk_size_;
  int max_chunks_in_flight_;
  std::unordered_map<ObjectID, PullPtr> pulls_;
};

}  // namespace cyray::raylet
