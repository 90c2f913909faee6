// ObjectDirectory: for the shared-memory objects this process owns, the nodes
// whose stores hold a copy (the owner is the object directory, as in Ray's
// ownership design). The primary copy is recorded when the object is made;
// raylets that pull a copy add themselves. When a node dies its copies go,
// and an object left with none is lost. Thread-safe.
#pragma once

#include <functional>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "cyray/common/id.h"

namespace cyray::core {

class ObjectDirectory {
 public:
  enum class State { kUnknown, kPresent, kLost, kReconstructing, kReconstructionFailed };

  // The object was made with its primary copy on `node`.
  void AddPrimary(const ObjectID &id, const NodeID &node);
  // A raylet pulled a copy; false when the object is unknown (freed).
  bool AddCopy(const ObjectID &id, const NodeID &node);
  // The object is freed: returns the nodes that held copies.
  std::vector<NodeID> Remove(const ObjectID &id);
  State Locations(const ObjectID &id, std::vector<NodeID> *nodes) const;
  // `node` died: forgets its copies. Objects left with none become
  // kReconstructing when `can_rebuild` says so (decided under the lock, so
  // nobody sees them lost meanwhile), else kLost; returns them.
  struct Removal {
    std::vector<ObjectID> lost;
    std::vector<ObjectID> rebuilding;
  };
  Removal RemoveNode(const NodeID &node,
                     const std::function<bool(const ObjectID &)> &can_rebuild = nullptr);
  // A lost object's task runs again; its new copy comes through AddPrimary.
  void MarkReconstructing(const ObjectID &id);
  // Rebuilding failed: the object is lost for good (kReconstructionFailed).
  void MarkLost(const ObjectID &id);

  size_t size() const;

 private:
  struct Entry {
    std::set<NodeID> nodes;
    State state = State::kPresent;
  };
  mutable std::mutex mu_;
  std::unordered_map<ObjectID, Entry> objects_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cyray::core
