// ObjectLifetimes: the one authority over when this process's copies of an
// object go. Values arrive (task returns, values fetched from owners) through
// StoreIfReferenced, which keeps a value only while the reference counter
// still has its object and otherwise frees every copy at once, so no copy
// outlives the last reference, whichever comes first. Refs nested inside an
// object stay referenced here for as long as that object does (PinNested /
// ReleaseNested: nested reference counting).
//
// Thread-safe: any thread may call any method. It calls out (hooks, the
// memory store, the reference counter) without holding its own lock.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "cyray/common/id.h"
#include "cyray/core_worker/common.h"
#include "cyray/core_worker/memory_store.h"
#include "cyray/core_worker/reference_counter.h"

namespace cyray::core {

class ObjectLifetimes {
 public:
  struct Hooks {
    // Deletes the node's shared-memory copy of an object this process owns.
    std::function<void(const ObjectID &)> delete_shared_copy;
    // This process let go of the object (those waiting for that hear now).
    std::function<void(const ObjectID &)> on_released;
  };

  ObjectLifetimes(ReferenceCounter &refs, MemoryStore &store, Hooks hooks)
      : refs_(refs), store_(store), hooks_(std::move(hooks)) {}

  // This process's serialized address: refs whose owner it names are ours.
  // Set once, before values arrive.
  void SetSelfAddress(std::string address) { self_address_ = std::move(address); }

  // Stores the value of an object this process owns (`owned`) or borrows if
  // it is still referenced; otherwise frees every copy at once.
  void StoreIfReferenced(const ObjectID &id, const ObjectValuePtr &value, bool owned);
  // Drops every copy of an unreferenced object and what it kept alive
  // (idempotent); `value` is what the memory store held, if anything.
  void Free(const ObjectID &id, bool owned, const ObjectValuePtr &value);
  // The refs inside the value of `outer` stay referenced until ReleaseNested.
  // Only refs this process knows (owns or borrows) can be kept from here.
  void PinNested(const ObjectID &outer, const std::vector<ObjectRefInfo> &refs);
  void ReleaseNested(const ObjectID &outer);
  // Objects whose nested refs are pinned (for tests and introspection).
  size_t NumContainers() const;

 private:
  ReferenceCounter &refs_;
  MemoryStore &store_;
  Hooks hooks_;
  std::string self_address_;
  mutable std::mutex mu_;
  std::unordered_map<ObjectID, std::vector<ObjectID>> nested_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cyray::core
