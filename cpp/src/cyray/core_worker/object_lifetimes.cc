#include "cyray/core_worker/object_lifetimes.h"

namespace cyray::core {

void ObjectLifetimes::PinNested(const ObjectID &outer, const std::vector<ObjectRefInfo> &refs) {
  if (refs.empty()) return;
  std::vector<ObjectID> ids;
  for (const auto &ref : refs) {
    ObjectID id = ObjectID::FromBinary(ref.object_id);
    if (!refs_.Has(id)) continue;
    refs_.AddLocalReference(id);
    ids.push_back(id);
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto &pinned = nested_[outer];
  pinned.insert(pinned.end(), ids.begin(), ids.end());
}

void ObjectLifetimes::ReleaseNested(const ObjectID &outer) {
  std::vector<ObjectID> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = nested_.find(outer);
    if (it == nested_.end()) return;
    ids = std::move(it->second);
    nested_.erase(it);
  }
  for (const auto &id : ids) refs_.RemoveLocalReference(id);
}

void ObjectLifetimes::StoreIfReferenced(const ObjectID &id, const ObjectValuePtr &value,
                                        bool owned) {
  if (refs_.Has(id)) {
    if (owned) {
      // Refs this process owns inside a value it owns live as long as the value.
      std::vector<ObjectRefInfo> own;
      for (const auto &ref : value->nested_refs) {
        if (ref.owner_address == self_address_) own.push_back(ref);
      }
      PinNested(id, own);
    }
    store_.Put(id, value);
    // Released meanwhile: its out-of-scope handler may have run before the Put.
    if (refs_.Has(id)) return;
  }
  Free(id, owned, value);
}

void ObjectLifetimes::Free(const ObjectID &id, bool owned, const ObjectValuePtr &value) {
  store_.Delete(id);
  if (hooks_.on_released) hooks_.on_released(id);
  ReleaseNested(id);
  // The owner frees the shared-memory copy; borrowers only drop their marker.
  if (owned && value && value->in_plasma && hooks_.delete_shared_copy) {
    hooks_.delete_shared_copy(id);
  }
}

size_t ObjectLifetimes::NumContainers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return nested_.size();
}

}  // namespace cyray::core
