// ObjectStore: the table of objects in a node's shared-memory region and their
// life cycle: Create (room reserved for the creating client) -> the client
// writes -> Seal (immutable, visible to readers) -> Get/Release by readers ->
// Delete (space freed once no reader holds it). An object whose creator
// disconnects before sealing is aborted: never visible, its space freed.
// When a new object does not fit, sealed objects that no reader holds are
// spilled (least recently used first) to a SpillStorageInterface and restored
// transparently by the next Get; before any is spilled, idle secondary copies
// (pulled from another node, which still has the primary) are evicted. Waiting for an object to be
// sealed is the caller's business (see `on_sealed`). Not thread-safe: owned by the raylet's main
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "cyray/common/id.h"
#include "cyray/common/status.h"
#include "cyray/object_store/allocator.h"
#include "cyray/object_store/spill_storage.h"

namespace cyray::object_store {

using ClientId = uint64_t;

struct ObjectLocation {
  size_t offset = 0;
  size_t data_size = 0;
  size_t metadata_size = 0;
};

struct StoreStats {
  size_t capacity = 0;
  size_t used = 0;
  size_t num_objects = 0;
  size_t num_unsealed = 0;
  size_t num_spilled = 0;
  size_t spilled_bytes = 0;
};

class ObjectStore {
 public:
  enum class GetResult { kFound, kNotSealed, kMissing };

  // `base` is the region the allocator's offsets point into; with no
  // `spill`, a full store refuses new objects.
  ObjectStore(Allocator &allocator, uint8_t *base = nullptr, SpillStorageInterface *spill = nullptr)
      : allocator_(allocator), base_(base), spill_(spill) {}

  // The region and spill storage, when known only after construction.
  void SetRegion(uint8_t *base, SpillStorageInterface *spill) {
    base_ = base;
    spill_ = spill;
  }

  // Called once per object when it is sealed.
  void set_on_sealed(std::function<void(const ObjectID &)> callback) {
    on_sealed_ = std::move(callback);
  }

  // Reserves data_size + metadata_size bytes for `client` to write. Fails with
  // Invalid if the object exists, ObjectStoreFull if there is no room (the
  // message says how much is needed, free and in total).
  Status Create(const ObjectID &id, size_t data_size, size_t metadata_size, ClientId client,
                ObjectLocation *location);
  // Makes the object immutable and visible; only its creator may seal it.
  Status Seal(const ObjectID &id, ClientId client);
  // A sealed object: counts a reference by `client` and gives its location.
  GetResult Get(const ObjectID &id, ClientId client, ObjectLocation *location);
  // Drops one reference of `client` taken by Get.
  void Release(const ObjectID &id, ClientId client);
  // Frees the object now, or when its last reader releases it.
  void Delete(const ObjectID &id);
  // The object is a copy of one whose primary lives on another node: under
  // memory pressure it is evicted (dropped) rather than spilled.
  void MarkSecondary(const ObjectID &id);
  // Releases everything `client` holds and aborts the objects it was writing.
  void DisconnectClient(ClientId client);

  bool Contains(const ObjectID &id) const { return objects_.count(id) > 0; }
  StoreStats Stats() const;

 private:
  struct Entry {
    ObjectLocation location;
    bool sealed = false;
    bool delete_pending = false;
    bool spilled = false;
    bool secondary = false;
    uint64_t last_used = 0;
    ClientId creator = 0;
    // Readers and how many references each holds.
    std::unordered_map<ClientId, int> readers;
  };
  void Free(std::unordered_map<ObjectID, Entry>::iterator it);
  // Allocates `size` bytes, spilling idle objects (never `keep`) as needed.
  std::optional<size_t> AllocateSpilling(size_t size, const ObjectID &keep);
  // Spills the least recently used idle object; false when there is none.
  bool SpillOne(const ObjectID &keep);
  // Drops the least recently used idle secondary copy; false when there is none.
  bool EvictOneSecondary(const ObjectID &keep);
  Status Restore(Entry &entry, const ObjectID &id);

  Allocator &allocator_;
  uint8_t *base_;
  SpillStorageInterface *spill_;
  uint64_t clock_ = 0;
  size_t spilled_bytes_ = 0;
  std::unordered_map<ObjectID, Entry> objects_;
  std::unordered_map<ClientId, std::unordered_set<ObjectID>> client_objects_;
  std::function<void(const ObjectID &)> on_sealed_;
};

}  // namespace cyray::object_store
