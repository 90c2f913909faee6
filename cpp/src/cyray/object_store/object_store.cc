#include "cyray/object_store/object_store.h"

namespace cyray::object_store {

Status ObjectStore::Create(const ObjectID &id, size_t data_size, size_t metadata_size,
                           ClientId client, ObjectLocation *location) {
  if (objects_.count(id)) return Status::Invalid("object " + id.Hex() + " already exists");
  size_t total = data_size + metadata_size;
  if (total > allocator_.capacity()) {
    return Status::ObjectStoreFull("object " + id.Hex() + " needs " + std::to_string(total) +
                                   " bytes, more than the whole object store (" +
                                   std::to_string(allocator_.capacity()) +
                                   " bytes); start cyray with a larger object_store_memory");
  }
  auto offset = AllocateSpilling(total, id);
  if (!offset) {
    return Status::ObjectStoreFull(
        "no room for object " + id.Hex() + " of " + std::to_string(total) +
        " bytes: " + std::to_string(allocator_.used()) + " of " +
        std::to_string(allocator_.capacity()) + " bytes in use, largest free range " +
        std::to_string(allocator_.LargestFreeRange()) + " bytes");
  }
  Entry entry;
  entry.location = ObjectLocation{*offset, data_size, metadata_size};
  entry.creator = client;
  entry.last_used = ++clock_;
  objects_.emplace(id, entry);
  client_objects_[client].insert(id);
  *location = entry.location;
  return Status::OK();
}

Status ObjectStore::Seal(const ObjectID &id, ClientId client) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return Status::NotFound("object " + id.Hex() + " does not exist");
  if (it->second.sealed) return Status::Invalid("object " + id.Hex() + " is already sealed");
  if (it->second.creator != client) {
    return Status::Invalid("object " + id.Hex() + " can only be sealed by its creator");
  }
  it->second.sealed = true;
  client_objects_[client].erase(id);
  if (on_sealed_) on_sealed_(id);
  return Status::OK();
}

ObjectStore::GetResult ObjectStore::Get(const ObjectID &id, ClientId client,
                                        ObjectLocation *location) {
  auto it = objects_.find(id);
  if (it == objects_.end() || it->second.delete_pending) return GetResult::kMissing;
  if (!it->second.sealed) return GetResult::kNotSealed;
  if (it->second.spilled && !Restore(it->second, id).ok()) return GetResult::kMissing;
  it->second.last_used = ++clock_;
  it->second.readers[client]++;
  client_objects_[client].insert(id);
  *location = it->second.location;
  return GetResult::kFound;
}

void ObjectStore::Release(const ObjectID &id, ClientId client) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  auto reader = it->second.readers.find(client);
  if (reader == it->second.readers.end()) return;
  if (--reader->second == 0) {
    it->second.readers.erase(reader);
    client_objects_[client].erase(id);
  }
  if (it->second.delete_pending && it->second.readers.empty()) Free(it);
}

void ObjectStore::Delete(const ObjectID &id) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  if (it->second.readers.empty()) {
    Free(it);
  } else {
    it->second.delete_pending = true;
  }
}

void ObjectStore::DisconnectClient(ClientId client) {
  auto held = client_objects_.find(client);
  if (held == client_objects_.end()) return;
  std::unordered_set<ObjectID> ids = std::move(held->second);
  client_objects_.erase(held);
  for (const ObjectID &id : ids) {
    auto it = objects_.find(id);
    if (it == objects_.end()) continue;
    if (!it->second.sealed && it->second.creator == client) {
      Free(it);  // half-written: never visible to anyone
      continue;
    }
    it->second.readers.erase(client);
    if (it->second.delete_pending && it->second.readers.empty()) Free(it);
  }
}

std::optional<size_t> ObjectStore::AllocateSpilling(size_t size, const ObjectID &keep) {
  while (true) {
    if (auto offset = allocator_.Allocate(size)) return offset;
    if (!EvictOneSecondary(keep) && !SpillOne(keep)) return std::nullopt;
  }
}

void ObjectStore::MarkSecondary(const ObjectID &id) {
  auto it = objects_.find(id);
  if (it != objects_.end()) it->second.secondary = true;
}

bool ObjectStore::EvictOneSecondary(const ObjectID &keep) {
  auto victim = objects_.end();
  for (auto it = objects_.begin(); it != objects_.end(); ++it) {
    const Entry &entry = it->second;
    if (it->first == keep || !entry.secondary || !entry.sealed || entry.spilled ||
        !entry.readers.empty()) {
      continue;
    }
    if (victim == objects_.end() || entry.last_used < victim->second.last_used) victim = it;
  }
  if (victim == objects_.end()) return false;
  Free(victim);
  return true;
}

bool ObjectStore::SpillOne(const ObjectID &keep) {
  if (spill_ == nullptr || base_ == nullptr) return false;
  ObjectID victim;
  Entry *best = nullptr;
  for (auto &[id, entry] : objects_) {
    if (id == keep || !entry.sealed || entry.spilled || !entry.readers.empty()) continue;
    if (best == nullptr || entry.last_used < best->last_used) {
      best = &entry;
      victim = id;
    }
  }
  if (best == nullptr) return false;
  size_t size = best->location.data_size + best->location.metadata_size;
  if (!spill_->Write(victim, base_ + best->location.offset, size).ok()) return false;
  allocator_.Free(best->location.offset);
  best->spilled = true;
  spilled_bytes_ += size;
  return true;
}

Status ObjectStore::Restore(Entry &entry, const ObjectID &id) {
  size_t size = entry.location.data_size + entry.location.metadata_size;
  auto offset = AllocateSpilling(size, id);
  if (!offset) {
    return Status::ObjectStoreFull("no room to restore spilled object " + id.Hex());
  }
  Status s = spill_->Read(id, base_ + *offset, size);
  if (!s.ok()) {
    allocator_.Free(*offset);
    return s;
  }
  spill_->Remove(id);
  entry.location.offset = *offset;
  entry.spilled = false;
  spilled_bytes_ -= size;
  return Status::OK();
}

void ObjectStore::Free(std::unordered_map<ObjectID, Entry>::iterator it) {
  if (it->second.spilled) {
    spill_->Remove(it->first);
    spilled_bytes_ -= it->second.location.data_size + it->second.location.metadata_size;
    for (const auto &[client, count] : it->second.readers) {
      client_objects_[client].erase(it->first);
    }
    objects_.erase(it);
    return;
  }
  allocator_.Free(it->second.location.offset);
  for (const auto &[client, count] : it->second.readers) client_objects_[client].erase(it->first);
  objects_.erase(it);
}

StoreStats ObjectStore::Stats() const {
  StoreStats stats;
  stats.capacity = allocator_.capacity();
  stats.used = allocator_.used();
  stats.num_objects = objects_.size();
  for (const auto &[id, entry] : objects_) {
    stats.num_unsealed += entry.sealed ? 0 : 1;
    stats.num_spilled += entry.spilled ? 1 : 0;
  }
  stats.spilled_bytes = spilled_bytes_;
  return stats;
}

}  // namespace cyray::object_store
